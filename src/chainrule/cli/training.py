"""The training run behind ``chainrule train`` and ``chainrule demo``.

One function, ``run``, from encoded arrays to a written ``Pipeline``: split,
standardize, build the network, train with progress (checkpointing after every
epoch when asked, resuming from a checkpoint bit for bit), and only at the very end
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

from .. import nn, optim
from .._version import __version__
from ..data import DataError, StandardScaler, TabularEncoder, parse_augment
from ..io import Checkpoint, ModelFormatError, load, save, sweep_temporary_files
from ..io.atomic import atomic_group
from ..io.checkpoint import to_json
from ..pipeline import Pipeline
from ..train import Callback, EarlyStopping, History, fit
from ..train import metrics as M
from .errors import UsageError, check_output
from .options import TrainOptions, check_parameter_count

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


def fingerprint_data(x: np.ndarray, y: np.ndarray, encoder: TabularEncoder) -> str:
    """SHA-256 of the encoded data and its encoding: what a checkpoint must match."""
    digest = hashlib.sha256()
    digest.update(json.dumps(encoder.to_dict(), sort_keys=True).encode())
    for array in (x, y):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def build_model(
    inputs: int, outputs: int, options: TrainOptions, rng: np.random.Generator
) -> nn.Sequential:
    """inputs -> [Linear, (BatchNorm1d), activation, (Dropout)] × hidden -> Linear(outputs)."""
    layers: list[Any] = []
    width = inputs
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
    params = list(model.parameters())
    kwargs: dict[str, Any] = {"weight_decay": options.weight_decay}
    if options.lr is not None:
        kwargs["lr"] = options.lr
    name = options.optimizer
    if name in ("sgd", "momentum", "nesterov"):
        kwargs.setdefault("lr", 0.01)
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


def _dropouts(model: nn.Module) -> list[Any]:
    return [m for m in model.modules() if isinstance(m, nn.Dropout)]


def _history_from(saved: dict[str, Any]) -> History:
    history = History()
    for index, epoch in enumerate(saved.get("epoch", [])):
        logs = {
            k: (float("nan") if v[index] is None else v[index]) for k, v in saved["history"].items()
        }
        history.record(epoch, logs)
    history.stopped_epoch = saved.get("stopped_epoch")
    return history


def _merge(first: History, second: History) -> History:
    merged = History()
    for history in (first, second):
        for index, epoch in enumerate(history.epoch):
            merged.record(epoch, {k: v[index] for k, v in history.history.items()})
    merged.stopped_epoch = second.stopped_epoch or first.stopped_epoch
    return merged


class _CheckpointWriter(Callback):
    """After every epoch: model, optimizer, generators, early stopping, history -> file."""

    def __init__(self, path: str, run: _Run) -> None:
        self.path, self.run = path, run

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        run = self.run
        history = _merge(run.previous, self.trainer.history)
        finished = self.trainer.stop_training or epoch == run.options.epochs
        stopping = run.early_stopping.state_dict() if run.early_stopping else None
        tensors = {}
        if stopping is not None:
            best = stopping.pop("best_weights") or {}
            tensors = {f"best.{k}": v for k, v in best.items()}
            stopping["has_best_weights"] = bool(best)
        state = {
            "epoch": epoch,
            "finished": finished,
            "stopped_epoch": epoch if self.trainer.stop_training else None,
            "rng": run.rng.bit_generator.state,
            "dropout": [m.generator.bit_generator.state for m in _dropouts(run.model)],
            "early_stopping": stopping,
            "history": history.to_dict(),
            "fingerprint": run.fingerprint,
        }
        checkpoint = Checkpoint.capture(run.model, run.optimizer, None, state, tensors)
        save(checkpoint, self.path)


@dataclass
class _Run:
    options: TrainOptions
    model: nn.Sequential
    optimizer: Any
    rng: np.random.Generator
    early_stopping: EarlyStopping | None
    previous: History
    fingerprint: dict[str, Any]


def _differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    found = []
    if saved.get("data") != current["data"]:
        found.append("the data (its contents or encoding changed)")
    saved_options = saved.get("options", {})
    for key, value in current["options"].items():
        if saved_options.get(key) != value:
            found.append(f"{key} ({saved_options.get(key)!r} in the checkpoint, {value!r} now)")
    if saved.get("target") != current["target"]:
        found.append(
            f"target ({saved.get('target')!r} in the checkpoint, {current['target']!r} now)"
        )
    return found


def _restore(path: str, run: _Run) -> tuple[int, bool]:
    """Load a checkpoint into the run; returns (epochs done, whether training had ended)."""
    checkpoint = load(path)
    if not isinstance(checkpoint, Checkpoint):
        raise ModelFormatError(f"{path}: is a {type(checkpoint).__name__} file, not a checkpoint")
    state = checkpoint.state
    differences = _differences(state.get("fingerprint", {}), run.fingerprint)
    if differences:
        raise UsageError(
            f"{path}: checkpoint does not match this run; differs in: " + "; ".join(differences)
        )
    try:
        run.model.load_state_dict(checkpoint.model.state_dict())
        run.optimizer.load_state_dict(checkpoint.optimizer_state)
        run.rng.bit_generator.state = state["rng"]
        dropouts = _dropouts(run.model)
        if len(dropouts) != len(state["dropout"]):
            raise ValueError("dropout layers differ")
        for module, saved in zip(dropouts, state["dropout"], strict=True):
            generator = np.random.default_rng()
            generator.bit_generator.state = saved
            module.generator = generator
        if run.early_stopping is not None:
            stopping = dict(state["early_stopping"])
            best = {
                k[len("best.") :]: v for k, v in checkpoint.tensors.items() if k.startswith("best.")
            }
            stopping["best_weights"] = best if stopping.pop("has_best_weights") else None
            run.early_stopping.load_state_dict(stopping)
        run.previous = _history_from(state["history"])
        return int(state["epoch"]), bool(state["finished"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFormatError(f"{path}: checkpoint state is incomplete ({error})") from None


def check_standardized(
    standardized: np.ndarray, names: list[str], where: Callable[[int, str], str]
) -> None:
    """Raise a DataError naming row and column if a standardized value does not fit the
    network's float32 inputs: a value far outside the training rows' range (1e308 when
    they were near 1) would become inf and stop the network with a traceback."""
    limit = float(np.finfo(np.float32).max)
    bad = ~(np.abs(standardized) <= limit)
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"{where(row, names[column])}: the value is {standardized[row, column]:.3g} "
            f"standard deviations from the training rows' mean, beyond the {limit:.3g} "
            "that the network's float32 inputs hold"
        )


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
) -> tuple[Pipeline, History, dict[str, float]]:
    """Train on encoded ``x`` (N, F) and ``y`` (N,) and write the outputs; see the module doc."""
    if len(x) < MIN_ROWS:
        raise UsageError(f"{source}: too few rows to train: {len(x)} (at least {MIN_ROWS})")
    check_output(outputs.model, "--out")
    for path in (outputs.history, outputs.plot):
        check_output(path, "--out (beside it)")
    if checkpoint or resume:
        check_output(checkpoint or resume, "--checkpoint" if checkpoint else "--resume")
    classification = encoder.task == "classification"
    train_index, val_index = split(len(x), options.val_split, options.seed)
    scaler = StandardScaler().fit(x[train_index])
    standardized = scaler.transform(x)
    check_standardized(
        standardized, encoder.output_names, lambda i, c: f"{source}: data row {i + 1}, column {c!r}"
    )
    features = standardized.astype(np.float32)
    target_mean, target_scale = 0.0, 1.0
    if classification:
        targets = y.astype(np.int64)
    else:
        # The scaler's statistics stay finite for targets up to ±1.8e308 (y.std() overflows).
        target_scaler = StandardScaler().fit(y[train_index, None])
        target_mean = float(target_scaler.mean_[0])
        target_scale = float(target_scaler.scale_[0])
        targets = target_scaler.transform(y[:, None])[:, 0].astype(np.float32)
    rng = np.random.default_rng(options.seed)
    outputs_n = len(encoder.classes or []) if classification else 1
    check_parameter_count(features.shape[1], outputs_n, options)  # before any allocation
    model = build_model(features.shape[1], outputs_n, options, rng)
    optimizer = build_optimizer(model, options)
    has_val = len(val_index) > 0
    stopping = (
        EarlyStopping(monitor="val_loss" if has_val else "loss", patience=options.early_stopping)
        if options.early_stopping
        else None
    )
    fingerprint = {
        "data": fingerprint_data(x, y, encoder),
        "target": encoder.target,
        "options": options.as_dict(),
    }
    state = _Run(options, model, optimizer, rng, stopping, History(), fingerprint)
    done, finished = 0, False
    if resume:
        done, finished = _restore(resume, state)
    callbacks: list[Callback] = [stopping] if stopping else []
    checkpoint = checkpoint or resume
    if checkpoint:
        sweep_temporary_files(checkpoint)
        callbacks.append(_CheckpointWriter(checkpoint, state))
    for path in (outputs.model, outputs.history, outputs.plot):
        sweep_temporary_files(path)
    validation = (features[val_index], targets[val_index]) if has_val else None
    augment = parse_augment(options.augment) if options.augment else None
    if augment is not None:
        try:  # image transforms need 8×8 rows: say so now, not mid-training
            augment(features[:2], np.random.default_rng(0))
        except (TypeError, ValueError) as error:
            raise UsageError(f"--augment {options.augment}: {error}") from None
    if finished:
        history = state.previous
        if stopping is not None and stopping.best_weights is not None:
            model.load_state_dict(stopping.best_weights)
        model.eval()
    else:
        if verbose and done:
            print(f"Resuming from {resume} after epoch {done}", file=sys.stderr)
        new = fit(
            model,
            features[train_index],
            targets[train_index],
            loss="cross_entropy" if classification else "mse",
            optimizer=optimizer,
            epochs=options.epochs,
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
        history = _merge(state.previous, new)
    pipeline = Pipeline(model, encoder, scaler, target_mean, target_scale)
    evaluated = val_index if has_val else train_index
    final = evaluate_pipeline(pipeline, x[evaluated], y[evaluated])
    pipeline.provenance = {
        "library_version": __version__,
        "source": os.path.basename(source),
        "data_sha256": fingerprint["data"],
        "rows": {"train": len(train_index), "validation": len(val_index)},
        "options": options.as_dict(),
        "epochs_trained": history.epoch[-1] if history.epoch else 0,
        "stopped_epoch": history.stopped_epoch,
        "final_metrics": {
            ("validation_" if has_val else "train_") + k: v
            for k, v in final.items()
            if k not in CONFUSION_KEYS
        },
    }
    write_outputs(pipeline, history, outputs)
    return pipeline, history, final


# A confusion matrix is printed up to this many classes; beyond, the most frequent
# confusions are listed instead (a 10,000-class matrix is 10⁸ numbers, 600 MB of text).
MATRIX_CLASSES = 20
TOP_CONFUSIONS = 10
CONFUSION_KEYS = ("confusion_matrix", "top_confusions")
_CHUNK_CELLS = 1 << 22  # probabilities computed this many (row, class) cells at a time


def _class_probabilities(pipeline: Pipeline, x: np.ndarray, y: np.ndarray):
    """Predicted class indices (N,) and the probability of the true class (N,), computed
    in chunks of rows when N × classes is large, so memory stays bounded."""
    n, k = len(x), len(pipeline.classes or [])
    rows = n if n * k <= _CHUNK_CELLS else max(1, _CHUNK_CELLS // max(k, 1))
    predicted = np.empty(n, dtype=np.int64)
    picked = np.empty(n, dtype=np.float64)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        probabilities = pipeline.predict_proba(x[start:stop])
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
    if pipeline.task == "classification":
        k = len(pipeline.classes or [])
        predicted, picked = _class_probabilities(pipeline, x, y)
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
    predicted = pipeline.decision_function(x)[:, 0].astype(np.float64)
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
    plotting = importlib.util.find_spec("matplotlib") is not None
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
