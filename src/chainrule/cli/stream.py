"""``chainrule train DATA_DIR/ --target y``: training on data larger than memory.

A folder of Parquet files (or one file with ``--stream``) is read through
``data.StreamingDataset``: one streaming pass learns the encoder and the scalers, then
every epoch streams shuffled batches through the one ``Trainer`` (``fit_batches``), so
memory holds a few Arrow record batches and the shuffle buffer, never the data set.
Under ``mpiexec -n N`` rank 0 learns the statistics and broadcasts them; each rank
streams its own shard (its block of Parquet row groups) with a local batch of about
``--batch-size / N`` rows. Every row trains (no validation split, no refit); the model
file is the same kind as ``train``'s on a CSV, and only rank 0 writes it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import numpy as np

from .. import distributed as dist
from .._version import __version__
from ..data.streaming import STREAMING_IMPUTE, StreamingDataset
from ..pipeline import Pipeline
from ..train import Callback, EarlyStopping, History
from ..train.guard import DivergenceGuard
from ..train.loop import LOSSES
from ..train.progress import ProgressBar
from ..train.trainer import Trainer
from .errors import UsageError, check_output
from .options import DataOptions, TrainOptions, check_parameter_count
from .training import Outputs, build_model, build_optimizer, processes, write_outputs

__all__ = ["stream_train"]


def _impute(data: DataOptions) -> str | None:
    """The streaming imputation: one pass keeps no values for a median, so the default
    ``median`` becomes ``mean``; ``most_frequent`` and ``drop`` are refused."""
    impute = data.imputer
    if impute == "median":
        return "mean"
    if impute not in STREAMING_IMPUTE:
        raise UsageError(
            f"--impute {data.impute}: streaming training fills gaps with none, mean or "
            "constant (one pass keeps no values for the others)"
        )
    return impute


def _dataset(path: str, target: str, options: TrainOptions, data: DataOptions) -> StreamingDataset:
    """The dataset of this rank, its statistics fitted on rank 0 and broadcast."""
    world = processes()
    dataset = StreamingDataset(
        path,
        target,
        task=options.task,
        impute=_impute(data),
        na_values=data.na_values,
        drop=data.drop,
        columns=data.columns,
        seed=options.seed,
        rank=dist.rank() if world > 1 else 0,
        world_size=world,
        delimiter=data.delimiter,
        decimal=data.decimal,
    )
    if world == 1:
        return dataset.fit()
    state = dist.broadcast_object(dataset.fit().state_dict() if dist.is_main() else None)
    return dataset.load_state_dict(state)


def _batches(dataset: StreamingDataset, batch: int, classification: bool):
    """``epoch -> (x (b, F) float32, y)`` batches: class indices, or (b, 1) values."""

    def epoch_batches(epoch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for x, y in dataset.batches(batch, epoch=epoch):
            yield x, (y.astype(np.int64) if classification else y.astype(np.float32)[:, None])

    return epoch_batches


def stream_train(
    path: str,
    target: str,
    options: TrainOptions,
    data: DataOptions,
    outputs: Outputs,
    *,
    verbose: int,
) -> tuple[Pipeline, History]:
    """Train on the stream of ``path`` and (rank 0) write the outputs; see the module doc."""
    main = dist.is_main()
    if main:
        check_output(outputs.model, "--out")
        for name in (outputs.history, outputs.plot):
            check_output(name, "--out (beside it)")
    dataset = _dataset(path, target, options, data)
    encoder = dataset.encoder
    classification = encoder.task == "classification"
    outputs_n = len(encoder.classes or []) if classification else 1
    inputs = len(encoder.output_names)
    check_parameter_count(inputs, outputs_n, options)
    world = processes()
    if options.batch_size < world:
        raise UsageError(
            f"--batch-size {options.batch_size}: the global batch needs at least one row "
            f"for each of the {world} processes"
        )
    first, last = dist.shard_bounds(options.batch_size, dist.rank() if world > 1 else 0, world)
    rng = np.random.default_rng(options.seed)
    model = build_model(inputs, outputs_n, options, rng)
    optimizer = build_optimizer(model, options)
    loss_fn, kind = LOSSES["cross_entropy" if classification else "mse"]
    callbacks: list[Callback] = [History()]
    if verbose and main:
        callbacks.append(ProgressBar(verbose))
    callbacks.append(DivergenceGuard())
    if options.early_stopping:
        callbacks.append(EarlyStopping(monitor="loss", patience=options.early_stopping))
    trainer = Trainer(
        model,
        optimizer,
        loss_fn,
        kind=kind,
        callbacks=callbacks,
        batch_size=options.batch_size,
        rng=rng,
        distributed=world > 1,
    )
    if verbose and main:
        task = "classification" if classification else "regression"
        print(
            f"streaming {path}: {task} of {target!r}, {dataset.rows_seen} rows, "
            f"{inputs} inputs, {world} process(es)",
            flush=True,
        )
    steps = -(-int(dataset.rows_seen or 0) // options.batch_size)
    history = trainer.fit_batches(
        _batches(dataset, last - first, classification), epochs=options.epochs, steps=steps
    )
    target_mean, target_scale = 0.0, 1.0
    target_scaler = dataset.target_scaler
    if target_scaler is not None:
        assert target_scaler.mean_ is not None and target_scaler.scale_ is not None  # fitted
        target_mean = float(target_scaler.mean_[0])
        target_scale = float(target_scaler.scale_[0])
    assert dataset.scaler is not None  # StreamingDataset(scale=True) fitted one
    pipeline = Pipeline(model, encoder, dataset.scaler, target_mean, target_scale)
    pipeline.provenance = {
        "library_version": __version__,
        "source": os.path.basename(os.path.normpath(path)),
        "streamed": True,
        "rows": {"train": dataset.rows_seen, "validation": 0},
        "options": options.as_dict(),
        "epochs_trained": history.epoch[-1] if history.epoch else 0,
        "stopped_epoch": history.stopped_epoch,
        **({"processes": world} if world > 1 else {}),
        "final_metrics": {"train_loss": history.history["loss"][-1]},
    }
    if main:
        write_outputs(pipeline, history, outputs)
        print(f"wrote {outputs.written()}", file=sys.stdout)
    return pipeline, history
