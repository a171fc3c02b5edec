"""``chainrule train DATA.csv --target COLUMN``: train a network on a CSV file."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap

import numpy as np

from .. import distributed as dist
from ..data import TabularEncoder, read_table
from ..data.reading import SLOW_NOTE
from ..train.loop import use_distributed
from . import options as opts
from .errors import UsageError, plan_outputs, same_file
from .stream import stream_train
from .training import (
    MIN_ROWS,
    Outputs,
    check_resume,
    evaluate_pipeline,
    file_digest,
    format_confusion,
    format_metrics,
    run,
)

EXAMPLES = textwrap.dedent(
    """\
    examples:
      chainrule train iris.csv --target species
      chainrule train houses.csv --target price --hidden 128,64 --dropout 0.1 \\
          --optimizer adamw --weight-decay 0.01 --early-stopping 10 --out houses.safetensors
      chainrule train data.csv --target y --epochs 200 --checkpoint run.ckpt
      chainrule train data.csv --target y --epochs 200 --resume run.ckpt    # after a crash
      chainrule train data.csv --config run.toml
      chainrule train penguins.parquet --target species          # also .csv.gz .tsv .feather
      chainrule train sales.txt --format tsv --target revenue
      chainrule train cars.csv --target origin --impute mean     # or median most_frequent
                                                                 # constant drop none
      chainrule train world.csv --target y --na-values ''        # keep 'NA' (North America)
      chainrule train people.csv --target y --drop name,email --id customer_id
      chainrule train wide.csv --target y --columns age,income,city --max-categories 20
      chainrule train shop.csv --target y --strict-categories    # no grouping or dropping
      chainrule train cars.csv --target mpg --test-split 0.2     # report held-out rows
      chainrule train cars.csv --target mpg --no-refit           # keep the measured model
      chainrule train cars.csv --target origin --cv 5            # 5-fold scores, mean ± sd

    Missing values (empty, NA, N/A, nan, null, none, ?, #N/A, or --na-values) are filled
    with the training rows' median plus a NAME:missing indicator column, and text gaps
    become a 'missing' category (--impute changes it); rows with a missing target are
    left out, with a count. An unnamed first column of distinct integers (the index of
    pandas' to_csv) is dropped; so are near-unique text columns (names, identifiers)
    and columns with no values, each with a note. Text columns with more than
    --max-categories values (100) keep the most frequent and group the rest as
    'infrequent'. Date columns (2024-03-01, 2024-03-01 10:30, 03/01/2024, ...) become
    year, month, day of week, day of year and days since 1970. All of it is learned
    from the training rows, kept in the model, shown by chainrule info and applied by
    predict and evaluate.

    The CSV needs a header row; numeric columns are used as numbers, text columns are
    one-hot encoded, every feature is standardized (statistics of the training rows).
    Writes MODEL (default model.safetensors) with the preprocessing inside it, and
    beside it MODEL.history.json and MODEL.loss.png. With --checkpoint, a checkpoint is
    written atomically after every epoch; --resume continues from one (same data and
    options required) to the same final weights as an uninterrupted run. The model
    file is only written when training has finished.
    """
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train a network on a CSV file",
        description="Train a feedforward network on a CSV file and write a model file.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("data", metavar="DATA.csv", nargs="?", help="training data")
    parser.add_argument("--target", metavar="COLUMN", help="the column to predict (required)")
    opts.add_arguments(parser)
    opts.add_data_arguments(parser)
    files = parser.add_argument_group("files")
    files.add_argument("--out", metavar="MODEL", help="model file (default: model.safetensors)")
    files.add_argument("--checkpoint", metavar="PATH", help="write a checkpoint after each epoch")
    files.add_argument(
        "--resume", metavar="PATH", help="continue from a checkpoint (and keep checkpointing to it)"
    )
    parser.add_argument(
        "--no-refit",
        action="store_true",
        help="write the model trained on the training rows; by default, after choosing the "
        "epoch count on the validation rows, the model is trained again on all rows",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="train data-parallel over MPI (mpiexec -n N chainrule train …); detected "
        "automatically under mpiexec with more than one process, this flag insists",
    )
    parser.add_argument(
        "--stream",
        action="store_true",
        help="stream a Parquet or CSV file too large for memory in batches (a folder of "
        "Parquet files always streams)",
    )
    parser.set_defaults(handler=command)
    return parser


def command(args: argparse.Namespace) -> int:
    if use_distributed(True if args.distributed else None):
        # A rank that raises ends the whole job (MPI abort), never a hang; a one-line
        # error's non-zero exit is turned into an abort by cli.main.
        dist.abort_on_error()
    options, extra = opts.from_arguments(args)
    data = args.data or extra.get("data")
    target = args.target or extra.get("target")
    if not data:
        raise UsageError("train needs a DATA.csv file")
    if not target:
        raise UsageError("train needs --target COLUMN (the column to predict)")
    out = args.out if args.out is not None else extra.get("out", "model.safetensors")
    checkpoint = args.checkpoint if args.checkpoint is not None else extra.get("checkpoint")
    for flag, given in (("--out", out), ("--checkpoint", checkpoint), ("--resume", args.resume)):
        if given == "":
            raise UsageError(f"{flag}: expected a file name, got an empty one")
    for path in (checkpoint, args.resume):
        if path and same_file(path, out):
            raise UsageError(
                f"{path}: the checkpoint and the model (--out) must be different files"
            )
    if checkpoint and args.resume and same_file(checkpoint, args.resume):
        checkpoint = None  # resuming from a checkpoint goes on writing to it
    outputs = Outputs.beside(out)
    opts.check_text_options(opts.data_options(args, extra), str(data))
    if args.stream or _parquet_folder(str(data)):
        return streamed(args, options, extra, str(data), str(target), outputs, checkpoint)
    # Before any work: no output may be an input, another output, or unwritable.
    plan_outputs(
        {
            "DATA.csv": data,
            "--config": args.config,
            "--resume": args.resume if checkpoint else None,
        },
        {
            "--out": outputs.model,
            "--out (its history)": outputs.history,
            "--out (its loss curve)": outputs.plot,
            "--checkpoint" if checkpoint else "--resume": checkpoint or args.resume,
        },
    )
    # A checkpoint of another run is refused before the CSV is parsed: its options,
    # target and the data file's bytes are compared first.
    digest = file_digest(data) if args.resume or checkpoint else None
    resumed = check_resume(args.resume, options, str(target), digest) if args.resume else None
    data_options = opts.data_options(args, extra)
    table = read_table(
        data,
        data_options.format,
        na_values=data_options.na_values,
        delimiter=data_options.delimiter,
        decimal=data_options.decimal,
    )
    encoder = make_encoder(str(target), options.task, data_options)
    table, dropped_rows = encoder.training_rows(table)
    table, test_table = hold_out(table, data_options.test_split, options.seed)
    if data_options.cv:
        cross_validate(table, str(target), options, data_options, data, outputs)
    encoder = fit_encoder(encoder, table)
    test = None
    if test_table is not None:  # encoded now: a problem shows before any training
        test = (encoder.transform(test_table), encoder.encode_target(test_table))
        del test_table
    if len(table) < MIN_ROWS:  # before the announcement: an error stays one line
        raise UsageError(f"{data}: too few rows to train: {len(table)} (at least {MIN_ROWS})")
    main = dist.is_main()  # the other ranks of an MPI job print nothing
    classes = len(encoder.classes or [])
    if main and classes > 20 and classes * 2 > len(table):
        # It trains (in bounded time and memory), but is rarely what was meant.
        print(
            f"chainrule: note: {data}: the target {target!r} has {classes} classes for "
            f"{len(table)} rows, fewer than 2 rows per class; is it an identifier, or a "
            "number to predict (--task regression)?",
            file=sys.stderr,
        )
    x = encoder.transform(table)
    y = encoder.encode_target(table)
    notes, rows = table.notes, len(table)
    del table  # its columns are encoded in x: memory for training
    pipeline, _, final = run(
        x,
        y,
        encoder,
        options,
        outputs,
        source=data,
        checkpoint=checkpoint,
        resume=args.resume,
        verbose=0 if args.quiet or not main else 1,
        file_sha256=digest,
        resumed=resumed,
        on_start=None
        if args.quiet or not main
        else lambda: announce(data, notes, rows, encoder, dropped_rows),
        refit=not args.no_refit and extra.get("refit", not extra.get("no_refit", False)),
    )
    if main:
        report(pipeline, final, options, test, outputs, notes, data)
    return 0


def _parquet_folder(path: str) -> bool:
    """Whether ``path`` is a folder holding Parquet files (a data set to stream); another
    folder is refused by ``read_table`` as not a data file."""
    if not os.path.isdir(path):
        return False
    try:
        return any(name.lower().endswith((".parquet", ".pq")) for name in os.listdir(path))
    except OSError:
        return False


def streamed(args, options, extra, data: str, target: str, outputs: Outputs, checkpoint) -> int:
    """``train`` on a folder of Parquet files or ``--stream``: ``cli.stream``."""
    data_options = opts.data_options(args, extra)
    refused = {
        "--checkpoint": checkpoint,
        "--resume": args.resume,
        "--test-split": data_options.test_split,
        "--cv": data_options.cv,
    }
    for flag, given in refused.items():
        if given:
            raise UsageError(f"{flag} is not available when streaming ({data})")
    stream_train(data, target, options, data_options, outputs, verbose=0 if args.quiet else 1)
    return 0


def fit_encoder(encoder: TabularEncoder, table) -> TabularEncoder:
    """``encoder.fit(table)``; under MPI rank 0 fits it and the others take its state
    (``to_dict``, broadcast as JSON): one encoding for the whole job."""
    if not dist.is_distributed():
        return encoder.fit(table)
    state = dist.broadcast_object(encoder.fit(table).to_dict() if dist.is_main() else None)
    return encoder if dist.is_main() else TabularEncoder.from_dict(state)


def report(pipeline, final, options, test, outputs: Outputs, notes: list[str], data: str) -> None:
    """After training: the metrics, the confusion, the refit and test lines, the files."""
    where = "validation" if options.val_split else "training data"
    refit = pipeline.provenance.get("refit")
    print(format_metrics(final, f"{pipeline.task}, {where}"))
    confusion = format_confusion(final, pipeline.classes or [])
    if confusion:
        print(confusion)
    if refit:
        print(
            f"refit on all {refit['rows']} rows for {refit['epochs']} epochs (the best "
            "validation epoch); --no-refit keeps the model measured above"
        )
    if test is not None:
        scores = evaluate_pipeline(pipeline, *test)
        print(format_metrics(scores, f"test ({len(test[1])} held-out rows, never trained on)"))
        confusion = format_confusion(scores, pipeline.classes or [])
        if confusion:
            print(confusion)
    print(f"wrote {outputs.written()}")
    if SLOW_NOTE in notes:
        note(f"{data}: {SLOW_NOTE}")


def cross_validate(
    table, target: str, options: opts.TrainOptions, data_options: opts.DataOptions, data: str,
    outputs: Outputs,
) -> list[float]:  # fmt: skip
    """K seeded folds: on each, learn everything (imputation, categories, scaling, the
    network) from the other folds and score the fold; print the scores, mean ± sd."""
    k = data_options.cv
    order = np.random.default_rng([options.seed, 4]).permutation(len(table))
    folds = np.array_split(order, k)
    scores = []
    for index, fold in enumerate(folds):
        rest = np.sort(np.concatenate([f for j, f in enumerate(folds) if j != index]))
        train_table, held = table.take(rest), table.take(np.sort(fold))
        encoder = make_encoder(target, options.task, data_options).fit(train_table)
        pipeline, _, _ = run(
            encoder.transform(train_table),
            encoder.encode_target(train_table),
            encoder,
            options,
            outputs,
            source=data,
            verbose=0,
            write=False,
        )
        metrics = evaluate_pipeline(pipeline, encoder.transform(held), encoder.encode_target(held))
        scores.append(metrics["accuracy" if pipeline.task == "classification" else "r2"])
    name = "accuracy" if encoder.task == "classification" else "r2"
    shown = ", ".join(f"{v:.4f}" for v in scores)
    if dist.is_main():
        print(
            f"{k}-fold cross-validation: {name} {np.mean(scores):.4f} ± "
            f"{np.std(scores, ddof=1):.4f} ({shown})",
            flush=True,
        )
    return scores


def hold_out(table, fraction: float, seed: int):
    """(training rows, test rows or None): a seeded random ``fraction`` held out."""
    if not fraction:
        return table, None
    order = np.random.default_rng([seed, 2]).permutation(len(table))
    n_test = round(len(table) * fraction)
    if n_test < 1 or len(table) - n_test < MIN_ROWS:
        raise UsageError(f"--test-split {fraction} leaves no test rows or too few training rows")
    return table.take(np.sort(order[n_test:])), table.take(np.sort(order[:n_test]))


def make_encoder(target: str, task: str, data: opts.DataOptions) -> TabularEncoder:
    """The encoder the data flags describe."""
    return TabularEncoder(
        target,
        task,
        impute=data.imputer,
        na_values=data.na_values,
        max_categories=data.max_categories,
        strict_categories=data.strict_categories,
        drop=data.drop,
        columns=data.columns,
        id_column=data.id,
    )


def note(text: str) -> None:
    print(f"chainrule: note: {text}", file=sys.stderr)


def announce(
    data: str, notes: list[str], rows: int, encoder: TabularEncoder, dropped_rows: dict[str, int]
) -> None:
    """Before training: the notes of reading, what was dropped, and the task."""
    for text in notes:
        if text == SLOW_NOTE:
            continue  # said once the run has succeeded: an error stays one line
        note(f"{data}: {text}")
    if dropped_rows.get("missing_target"):
        note(f"{data}: dropped {dropped_rows['missing_target']} rows whose target is missing")
    if dropped_rows.get("missing_features"):
        note(
            f"{data}: dropped {dropped_rows['missing_features']} rows with missing values "
            "(--impute drop)"
        )
    for dropped in encoder.dropped:
        if not dropped["why"].startswith("--"):
            note(f"{data}: dropped column {dropped['name']!r}: {dropped['why']}")
    filled = [f["name"] for f in encoder.features if f.get("indicator")]
    categories = [f["name"] for f in encoder.features if f.get("missing_category")]
    if filled or categories:
        parts = [f"in {', '.join(filled)} are filled ({encoder.impute})"] if filled else []
        if categories:  # text: a category of its own, whatever --impute says for numbers
            parts.append(f"in {', '.join(categories)} become a category of their own")
        note(f"{data}: missing values {'; '.join(parts)}")
    if encoder.task == "classification":
        classes = encoder.classes or []
        shown = ", ".join(classes[:20]) + ("" if len(classes) <= 20 else ", …")
        task = f"classification of {encoder.target!r}, {len(classes)} classes: {shown}"
    else:
        task = f"regression of {encoder.target!r}"
    print(
        f"{task}; {rows} rows, {len(encoder.features)} columns "
        f"-> {len(encoder.output_names)} inputs",
        flush=True,
    )
