"""The training run behind ``chainrule train`` and ``chainrule demo``.

One function, ``run``, from encoded arrays to a written ``Pipeline``: split,
standardize, build the network and its callbacks, call ``fit`` (checkpointing and
resuming are ``train.checkpoint.TrainingCheckpoint``'s), and only at the very end
write the model, the history JSON and the loss-curve PNG, together and atomically — so
a failed or interrupted run never replaces an existing model file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import distributed as dist
from .. import nn, optim
from .._version import __version__
from ..data import DataError, StandardScaler, TabularEncoder, parse_augment
from ..io import Checkpoint, architecture, save, sweep_temporary_files
from ..io.atomic import atomic_group
from ..io.checkpoint import to_json
from ..pipeline import Pipeline
from ..train import Callback, EarlyStopping, History, fit, predict
from ..train import metrics as M
from ..train.checkpoint import TrainingCheckpoint, check_fingerprint, load_checkpoint
from ..train.errors import ResumeError
from ..train.evaluation import eval_block_rows
from .errors import UsageError, check_output
from .options import (
    AUTO_PATIENCE,
    CNN_CHANNELS,
    DEFAULT_LR,
    TrainOptions,
    check_parameter_count,
    image_side,
)

ACTIVATION_LAYERS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
}
MIN_ROWS = 10


@dataclass
class Outputs:
    """Where a run writes: the model, and beside it the history JSON and the curve PNG."""

    model: str
    history: str
    plot: str

    @classmethod
    def beside(cls, model_path: str) -> Outputs:
        stem = (
            model_path[: -len(".safetensors")]
            if model_path.endswith(".safetensors")
            else model_path
        )
        return cls(model_path, stem + ".history.json", stem + ".loss.png")

    def written(self) -> str:
        """The files ``write_outputs`` writes, for the closing "wrote …" line: the
        curve PNG only where matplotlib is installed (else it is not written)."""
        files = [self.model, self.history] + ([self.plot] if can_plot() else [])
        return ", ".join(files)


def can_plot() -> bool:
    """Whether matplotlib is installed (the loss-curve PNG needs it)."""
    return importlib.util.find_spec("matplotlib") is not None


def fingerprint_data(x: np.ndarray, y: np.ndarray, encoder: TabularEncoder) -> str:
    """SHA-256 of the encoded data and its encoding: what a checkpoint must match."""
    digest = hashlib.sha256()
    digest.update(json.dumps(encoder.to_dict(), sort_keys=True).encode())
    for array in (x, y):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.data.cast("B"))  # its bytes in place: no copy of x
    return digest.hexdigest()


def _cnn_front(inputs: int, rng: np.random.Generator) -> tuple[list[Any], int]:
    """Unflatten to 1×side×side, two 3×3 convolutions with ReLU, a 2×2 max pool, Flatten."""
    side = image_side(inputs)
    first, second = CNN_CHANNELS
    layers = [
        nn.Unflatten(1, (1, side, side)),
        nn.Conv2d(1, first, 3, padding=1, generator=rng),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(first, second, 3, padding=1, generator=rng),
        nn.ReLU(),
        nn.Flatten(),
    ]
    return layers, second * (side // 2) ** 2


def build_model(
    inputs: int, outputs: int, options: TrainOptions, rng: np.random.Generator
) -> nn.Sequential:
    """inputs -> [Linear, (BatchNorm1d), activation, (Dropout)] × hidden -> Linear(outputs).

    ``--arch cnn`` puts the convolutional front (``_cnn_front``) before the hidden layers.
    """
    layers: list[Any] = []
    width = inputs
    if options.arch == "cnn":
        layers, width = _cnn_front(inputs, rng)
    for size in options.hidden:
        layers.append(nn.Linear(width, size, generator=rng))
        if options.batchnorm:
            layers.append(nn.BatchNorm1d(size))
        layers.append(ACTIVATION_LAYERS[options.activation]())
        if options.dropout:
            layers.append(
                nn.Dropout(options.dropout, generator=np.random.default_rng(rng.integers(2**63)))
            )
        width = size
    layers.append(nn.Linear(width, outputs, generator=rng))
    return nn.Sequential(*layers)


def build_optimizer(model: nn.Module, options: TrainOptions) -> optim.Optimizer:
    """The ``--optimizer`` over the model's parameters; ``--lr`` or ``DEFAULT_LR``."""
    params = list(model.parameters())
    name = options.optimizer
    lr = options.lr if options.lr is not None else DEFAULT_LR[name]
    kwargs: dict[str, Any] = {"lr": lr, "weight_decay": options.weight_decay}
    if name in ("sgd", "momentum", "nesterov"):
        if name != "sgd":
            kwargs["momentum"] = 0.9 if options.momentum is None else options.momentum
            kwargs["nesterov"] = name == "nesterov"
        elif options.momentum is not None:
            kwargs["momentum"] = options.momentum
        return optim.SGD(params, **kwargs)
    if name == "rmsprop" and options.momentum is not None:
        kwargs["momentum"] = options.momentum
    cls = {
        "adagrad": optim.Adagrad,
        "rmsprop": optim.RMSprop,
        "adadelta": optim.Adadelta,
        "adam": optim.Adam,
        "adamw": optim.AdamW,
    }[name]
    return cls(params, **kwargs)


def file_digest(path: str) -> str:
    """SHA-256 of a data file's raw bytes: lets ``--resume`` refuse another file before
    parsing it (read as a regular file only, like the CSV reader)."""
    from .._regular_file import read_regular_file
    from ..data.csv import MAX_BYTES
    from ..data.errors import DataError

    content = read_regular_file(path, what="a CSV file", error=DataError, max_bytes=MAX_BYTES)
    return hashlib.sha256(content).hexdigest()


def check_resume(
    path: str, options: TrainOptions, target: str, file_sha256: str | None
) -> Checkpoint:
    """Refuse a checkpoint of another run before the data is parsed: the options, the
    target column and the data file's raw bytes must be those it was written with."""
    checkpoint = load_checkpoint(path)
    current: dict[str, Any] = {
        "target": target,
        "options": options.as_dict(),
        "file_sha256": file_sha256,
    }
    if processes() > 1:
        current["processes"] = processes()
    try:
        check_fingerprint(checkpoint, path, current)
    except ResumeError as error:
        raise UsageError(str(error)) from None
    return checkpoint


def check_standardized(
    standardized: np.ndarray, names: list[str], where: Callable[[int, str], str]
) -> None:
    """Raise a DataError naming row and column if a standardized value does not fit the
    network's float32 inputs: a value far outside the training rows' range (1e308 when
    they were near 1) would become inf and stop the network with a traceback."""
    found = _first_unfit(standardized)
    if found is not None:
        row, column = found
        raise _unfit_error(standardized[row, column], where(row, names[column]))


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _first_unfit(standardized: np.ndarray) -> tuple[int, int] | None:
    """(row, column) of the first value (in row order) beyond float32's range, or None."""
    bad = ~(np.abs(standardized) <= _FLOAT32_MAX)
    if not bad.any():
        return None
    row, column = (int(i) for i in np.argwhere(bad)[0])
    return row, column


def _unfit_error(value: float, where: str) -> DataError:
    return DataError(
        f"{where}: the value is {value:.3g} standard deviations from the training rows' "
        f"mean, beyond the {_FLOAT32_MAX:.3g} that the network's float32 inputs hold"
    )


def standardize_rows(
    scaler: StandardScaler,
    parts: list[tuple[np.ndarray, np.ndarray]],
    names: list[str],
    where: Callable[[int, str], str],
) -> list[np.ndarray]:
    """Each part ``(rows, index)`` — ``rows`` the rows ``x[index]`` of the encoded
    data, ``index`` sorted — standardized by ``scaler`` as float32 (N_part, F): the
    network's inputs, made once per row, with no float64 copy of all the rows. Raises
    ``check_standardized``'s DataError for the first value (in ``x``'s row order, over
    all the parts) that float32 cannot hold."""
    out: list[np.ndarray] = []
    unfit: list[tuple[int, int, float]] = []  # (row of x, column, value)
    for rows, index in parts:
        features = np.empty(rows.shape, dtype=np.float32)
        # A block of rows at a time: the float64 standardized copy never holds them all.
        for start in range(0, len(rows), _STANDARDIZE_ROWS):
            stop = start + _STANDARDIZE_ROWS
            standardized = scaler.transform(rows[start:stop])
            block = features[start:stop]
            with np.errstate(over="ignore"):  # a value beyond float32: found just below
                block[...] = standardized
            # One pass over the float32 block instead of |z| <= max on the float64 one: a
            # value beyond float32 became ±inf and NaN stays NaN (max and min propagate
            # it); one just past ±max may have been rounded to it. Then the exact test.
            if not (block.max() < _FLOAT32_MAX and block.min() > -_FLOAT32_MAX):
                found = _first_unfit(standardized)
                if found is not None:
                    row, column = found
                    unfit.append((int(index[start + row]), column, float(standardized[found])))
        out.append(features)
    if unfit:
        row, column, value = min(unfit)
        raise _unfit_error(value, where(row, names[column]))
    return out


_STANDARDIZE_ROWS = 1 << 15


def processes() -> int:
    """How many MPI processes train together (1 unless launched under ``mpiexec -n N``)."""
    return dist.world_size() if dist.launched_under_mpi() else 1


def shared_scaler(rows: np.ndarray) -> StandardScaler:
    """A ``StandardScaler`` of ``rows`` (N, F): fitted on rank 0, and its statistics
    (``to_dict``, JSON) broadcast to the other ranks, which use them as they are: one
    set of statistics for the whole job (one process: simply fitted)."""
    if processes() == 1:
        return StandardScaler().fit(rows)
    fitted = StandardScaler().fit(rows).to_dict() if dist.is_main() else None
    return StandardScaler.from_dict(dist.broadcast_object(fitted))


def split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train / validation indices (validation empty for fraction 0)."""
    order = np.random.default_rng([seed, 1]).permutation(n)
    n_val = round(n * fraction)
    if fraction and (n_val < 1 or n - n_val < 2):
        raise UsageError(f"--val-split {fraction} leaves no validation or training rows of {n}")
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def run(
    x: np.ndarray,
    y: np.ndarray,
    encoder: TabularEncoder,
    options: TrainOptions,
    outputs: Outputs,
    *,
    source: str,
    checkpoint: str | None = None,
    resume: str | None = None,
    verbose: int = 1,
    file_sha256: str | None = None,
    resumed: Checkpoint | None = None,
    on_start: Callable[[], None] | None = None,
    refit: bool = False,
    write: bool = True,
) -> tuple[Pipeline, History, dict[str, float]]:
    """Train on encoded ``x`` (N, F) and ``y`` (N,) and write the outputs; see the module doc.

    ``file_sha256`` (the data file's raw bytes, ``file_digest``) goes into checkpoints;
    ``resumed`` is the checkpoint ``check_resume`` already read from ``resume``;
    ``on_start`` is called once every check has passed, just before training (the
    announcement of the task: an error before it stays a single line). With
    ``refit`` and a validation split, the validation metrics are those of the trained
    model (at its best epoch), and the model written is a fresh one trained on all the
    rows for that many epochs. ``write=False`` writes nothing (a cross-validation fold).
    """
    if len(x) < MIN_ROWS:
        raise UsageError(f"{source}: too few rows to train: {len(x)} (at least {MIN_ROWS})")
    world = processes()
    main = world == 1 or dist.is_main()  # only rank 0 writes files
    write = write and main
    if write:
        check_output(outputs.model, "--out")
        for path in (outputs.history, outputs.plot):
            check_output(path, "--out (beside it)")
    state_file = checkpoint or resume
    if state_file:
        check_output(state_file, "--checkpoint" if checkpoint else "--resume")
    classification = encoder.task == "classification"
    train_index, val_index = split(len(x), options.val_split, options.seed)
    x_train = x[train_index]  # gathered once: for the scaler, then standardized
    scaler = shared_scaler(x_train)
    features_train, features_val = standardize_rows(
        scaler,
        [(x_train, train_index), (x[val_index], val_index)],
        encoder.output_names,
        lambda i, c: f"{source}: data row {i + 1}, column {c!r}",
    )
    del x_train
    target_mean, target_scale = 0.0, 1.0
    if classification:
        targets = y.astype(np.int64)
    else:
        # The scaler's statistics stay finite for targets up to ±1.8e308 (y.std() overflows).
        target_scaler = shared_scaler(y[train_index, None])
        assert target_scaler.mean_ is not None and target_scaler.scale_ is not None  # fitted
        target_mean = float(target_scaler.mean_[0])
        target_scale = float(target_scaler.scale_[0])
        targets = target_scaler.transform(y[:, None])[:, 0].astype(np.float32)
    rng = np.random.default_rng(options.seed)
    outputs_n = len(encoder.classes or []) if classification else 1
    inputs = features_train.shape[1]
    check_parameter_count(inputs, outputs_n, options)  # before any allocation
    model = build_model(inputs, outputs_n, options, rng)
    optimizer = build_optimizer(model, options)
    has_val = len(val_index) > 0
    patience = options.early_stopping
    if patience is None and has_val:
        patience = AUTO_PATIENCE  # the default: keep the best validation epoch's weights
    stopping = (
        EarlyStopping(monitor="val_loss" if has_val else "loss", patience=patience)
        if patience
        else None
    )
    fingerprint: dict[str, Any] = {
        "data": fingerprint_data(x, y, encoder),
        "target": encoder.target,
        "options": options.as_dict(),
    }
    if file_sha256:
        fingerprint["file_sha256"] = file_sha256
    if world > 1:
        fingerprint["processes"] = world  # a resume must use the same mpiexec -n
    callbacks: list[Callback] = [stopping] if stopping else []
    writer = None
    if checkpoint or resume:
        writer = TrainingCheckpoint(
            checkpoint or resume,  # type: ignore[arg-type]
            model=model,
            optimizer=optimizer,
            rng=rng,
            epochs=options.epochs,
            fingerprint=fingerprint,
            early_stopping=stopping,
            writes=main,
        )
        callbacks.append(writer)
    done, finished = 0, False
    if resume and writer is not None:
        loaded = resumed if resumed is not None else load_checkpoint(resume)
        try:
            done, finished = writer.restore(loaded, resume)
        except ResumeError as error:
            raise UsageError(str(error)) from None
    if writer is not None and main:
        sweep_temporary_files(writer.path)
    for path in (outputs.model, outputs.history, outputs.plot) if write else ():
        sweep_temporary_files(path)
    validation = (features_val, targets[val_index]) if has_val else None
    augment = parse_augment(options.augment) if options.augment else None
    if augment is not None:
        try:  # image transforms need 8×8 rows: say so now, not mid-training
            augment(features_train[:2], np.random.default_rng(0))
        except (TypeError, ValueError) as error:
            raise UsageError(f"--augment {options.augment}: {error}") from None
    if on_start is not None:
        on_start()
    if verbose and done and not finished:
        print(f"Resuming from {resume} after epoch {done}", file=sys.stderr)
    # A finished checkpoint trains no further epochs (fit still ends the run: early
    # stopping puts back its best weights).
    history = fit(
        model,
        features_train,
        targets[train_index],
        loss="cross_entropy" if classification else "mse",
        optimizer=optimizer,
        epochs=done if finished else options.epochs,
        batch_size=options.batch_size,
        validation_data=validation,
        callbacks=callbacks,
        metrics=["accuracy"] if classification else [],
        l1=options.l1,
        augment=augment,
        seed=rng,
        verbose=verbose,
        initial_epoch=done,
    )
    if writer is not None:
        history = writer.merged(history)
    pipeline = Pipeline(model, encoder, scaler, target_mean, target_scale)
    # The standardized rows are what pipeline.transform would make of x[rows] again.
    if has_val:
        final = evaluate_features(pipeline, features_val, y[val_index])
    else:
        final = evaluate_features(pipeline, features_train, y[train_index])
    refitted = None
    if refit and has_val:
        chosen = (stopping.best_epoch if stopping is not None else None) or (
            history.epoch[-1] if history.epoch else options.epochs
        )
        features = np.empty((len(x), inputs), dtype=np.float32)  # every row, in file order
        features[train_index], features[val_index] = features_train, features_val
        del features_train, features_val, validation
        pipeline.model = _refit(features, targets, classification, outputs_n, options, chosen)
        refitted = {"epochs": int(chosen), "rows": len(features)}
    pipeline.provenance = {
        "library_version": __version__,
        "source": os.path.basename(source),
        "data_sha256": fingerprint["data"],
        "rows": {"train": len(train_index), "validation": len(val_index)},
        **({"processes": world} if world > 1 else {}),
        "options": options.as_dict(),
        "epochs_trained": history.epoch[-1] if history.epoch else 0,
        "stopped_epoch": history.stopped_epoch,
        **({"refit": refitted} if refitted else {}),
        "final_metrics": {
            ("validation_" if has_val else "train_") + k: v
            for k, v in final.items()
            if k not in CONFUSION_KEYS
        },
    }
    if write:
        write_outputs(pipeline, history, outputs)
    return pipeline, history, final


def _refit(
    features: np.ndarray,
    targets: np.ndarray,
    classification: bool,
    outputs: int,
    options: TrainOptions,
    epochs: int,
) -> nn.Sequential:
    """A fresh network trained on every row (training and validation) for ``epochs``
    epochs — the count early stopping chose — seeded apart from the first run."""
    rng = np.random.default_rng([options.seed, 3])
    model = build_model(features.shape[1], outputs, options, rng)
    augment = parse_augment(options.augment) if options.augment else None
    fit(
        model,
        features,
        targets,
        loss="cross_entropy" if classification else "mse",
        optimizer=build_optimizer(model, options),
        epochs=epochs,
        batch_size=options.batch_size,
        metrics=[],
        l1=options.l1,
        augment=augment,
        seed=rng,
        verbose=0,
    )
    model.eval()
    return model


# A confusion matrix is printed up to this many classes; beyond, the most frequent
# confusions are listed instead (a 10,000-class matrix is 10⁸ numbers, 600 MB of text).
MATRIX_CLASSES = 20
TOP_CONFUSIONS = 10
CONFUSION_KEYS = ("confusion_matrix", "top_confusions")
_CHUNK_CELLS = 1 << 22  # probabilities computed this many (row, class) cells at a time


def network_inputs(
    pipeline: Pipeline, x: np.ndarray, where: Callable[[int, str], str]
) -> np.ndarray:
    """``pipeline.transform`` of encoded ``x`` (N, F), made once: the standardized rows
    in the network's dtype, after ``check_standardized``'s test of every value."""
    standardized = pipeline.scaler.transform(x)
    check_standardized(standardized, pipeline.encoder.output_names, where)
    return standardized.astype(architecture.model_dtype(pipeline.model))


def network_outputs(
    pipeline: Pipeline, features: np.ndarray, batch_size: int | None = None
) -> np.ndarray:
    """The network's outputs (N, C) for standardized ``features`` (N, F) in its dtype,
    in ``batch_size`` rows at a time (default: large blocks, ``eval_block_rows``)."""
    rows = batch_size or eval_block_rows(pipeline.model, features.shape[1])
    return predict(pipeline.model, features, batch_size=rows)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise probabilities in float64, as ``Pipeline.predict_proba`` computes them."""
    logits = logits.astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def _class_probabilities(
    pipeline: Pipeline,
    x: np.ndarray,
    y: np.ndarray,
    proba: Callable[[np.ndarray], np.ndarray] | None = None,
):
    """Predicted class indices (N,) and the probability of the true class (N,), computed
    in chunks of rows when N × classes is large, so memory stays bounded. ``proba`` maps
    a chunk of ``x`` to probabilities (default ``pipeline.predict_proba``)."""
    proba = proba or pipeline.predict_proba
    n, k = len(x), len(pipeline.classes or [])
    rows = n if n * k <= _CHUNK_CELLS else max(1, _CHUNK_CELLS // max(k, 1))
    predicted = np.empty(n, dtype=np.int64)
    picked = np.empty(n, dtype=np.float64)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        probabilities = proba(x[start:stop])
        predicted[start:stop] = probabilities.argmax(axis=1)
        picked[start:stop] = probabilities[np.arange(stop - start), y[start:stop]]
    return predicted, picked


def _confusions(y: np.ndarray, predicted: np.ndarray, k: int) -> dict[str, Any]:
    """``confusion_matrix`` (K, K) as lists for at most MATRIX_CLASSES classes, else
    ``top_confusions``: up to TOP_CONFUSIONS [true, predicted, count] index triples of
    the most frequent errors — built from the non-zero cells only, O(N log N)."""
    classes = np.arange(k)
    if k <= MATRIX_CLASSES:
        return {"confusion_matrix": M.confusion_matrix(y, predicted, labels=classes).tolist()}
    rows, columns, counts = M.confusion_pairs(y, predicted, labels=classes)
    wrong = rows != columns
    rows, columns, counts = rows[wrong], columns[wrong], counts[wrong]
    order = np.lexsort((columns, rows, -counts))[:TOP_CONFUSIONS]
    top = [[int(rows[i]), int(columns[i]), int(counts[i])] for i in order]
    return {"top_confusions": top}


def evaluate_pipeline(pipeline: Pipeline, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Metrics on encoded features ``x`` and targets ``y`` (class indices or values).

    Time and memory grow linearly with the rows and the classes (never classes²)."""
    return evaluate_features(pipeline, pipeline.transform(x), y)


def evaluate_features(pipeline: Pipeline, features: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """``evaluate_pipeline`` for rows already standardized (``pipeline.transform(x)``)."""
    if pipeline.task == "classification":
        k = len(pipeline.classes or [])
        predicted, picked = _class_probabilities(
            pipeline, features, y, lambda rows: softmax(network_outputs(pipeline, rows))
        )
        return {
            "accuracy": float(M.accuracy(y, predicted)),
            "cross_entropy": float(-np.mean(np.log(np.maximum(picked, 1e-300)))),
            "macro_f1": float(M.f1_score(y, predicted, labels=np.arange(k), average="macro")),
            **_confusions(y, predicted, k),
        }
    # In standardized units, then scaled back: (y − ŷ)² of targets near 1e200 overflows.
    scaler = StandardScaler.from_dict(
        {
            "with_mean": True,
            "with_std": True,
            "n_features_in": 1,
            "mean": [pipeline.target_mean],
            "scale": [pipeline.target_scale],
        }
    )
    truth = scaler.transform(y[:, None].astype(np.float64))[:, 0]
    predicted = network_outputs(pipeline, features)[:, 0].astype(np.float64)
    scale = pipeline.target_scale
    return {
        "r2": float(M.r2_score(truth, predicted)),
        "rmse": float(scale * np.sqrt(M.mean_squared_error(truth, predicted))),
        "mae": float(scale * M.mean_absolute_error(truth, predicted)),
    }


def write_outputs(pipeline: Pipeline, history: History, outputs: Outputs) -> None:
    """Model, history JSON and curve PNG, landing together or not at all (PNG skipped
    without matplotlib, with a note): each goes to a temporary first, and only when all
    are written and fsynced are they renamed over the old files (``atomic_group``)."""
    check_output(outputs.model, "--out")
    for path in (outputs.history, outputs.plot):
        check_output(path, "--out (beside it)")
    document = json.dumps(to_json(history.to_dict()), indent=1, allow_nan=False)
    plotting = can_plot()
    with atomic_group() as group:
        save(pipeline, group.path(outputs.model))
        group.write_bytes(outputs.history, document.encode())
        if plotting:
            history.plot(group.path(outputs.plot, ".png"))  # the format comes from the suffix
    if not plotting:
        print(
            "chainrule: note: no loss-curve PNG (needs matplotlib: pip install 'chainrule[train]')",
            file=sys.stderr,
        )


def format_confusion(metrics: dict[str, Any], labels: list[str]) -> str | None:
    """The confusion part of ``evaluate_pipeline``'s metrics as text, or None (regression).

    Up to MATRIX_CLASSES classes: the matrix, rows true classes, columns predicted ones.
    More: the most frequent confusions, one ``true → predicted: count`` line each.
    """
    names = [str(label) for label in labels]
    if "top_confusions" in metrics:
        top = metrics["top_confusions"]
        lines = [
            f"most frequent confusions ({len(names)} classes, too many for a matrix; "
            "true → predicted: count)"
        ]
        lines += [f"  {names[t]} → {names[p]}: {count}" for t, p, count in top]
        if not top:
            lines.append("  none: every prediction is right")
        return "\n".join(lines)
    if "confusion_matrix" not in metrics:
        return None
    matrix = metrics["confusion_matrix"]
    width = max(max(len(n) for n in names), max(len(str(v)) for row in matrix for v in row), 3)
    head = " " * (width + 2) + " ".join(f"{n:>{width}}" for n in names)
    lines = ["confusion matrix (rows: true, columns: predicted)", head]
    for name, row in zip(names, matrix, strict=True):
        lines.append(f"{name:>{width}}  " + " ".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)


def _number(value: float) -> str:
    """Four decimals, or six significant digits for a value too large for that
    (an RMSE of 1e200 would otherwise print 200 digits)."""
    return f"{value:.4f}" if abs(value) < 1e9 else f"{value:.6g}"


def format_metrics(metrics: dict[str, Any], where: str) -> str:
    shown = ", ".join(f"{k} {_number(v)}" for k, v in metrics.items() if k not in CONFUSION_KEYS)
    return f"{where}: {shown}"
