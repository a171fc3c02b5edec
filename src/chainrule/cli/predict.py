"""``chainrule predict`` and ``chainrule evaluate``: use a trained model on a CSV file."""

from __future__ import annotations

import argparse
import csv
import io
import sys
import textwrap

import numpy as np

from ..data import read_table
from ..io import ModelFormatError, atomic_write, load
from ..pipeline import Pipeline
from .errors import plan_outputs
from .options import (
    DataOptions,
    add_data_arguments,
    check_text_options,
    decimal_option,
    delimiter_option,
)
from .parsers import add_command
from .training import (
    evaluate_features,
    format_confusion,
    format_metrics,
    network_inputs,
    network_outputs,
    softmax,
)

# Predictions are made as Pipeline.predict makes them (its batches of rows), so the
# CSV holds the very numbers the Python API gives.
PREDICT_BATCH = 256

PREDICT_EXAMPLES = textwrap.dedent(
    """\
    examples:
      chainrule predict model.safetensors new.csv                  # CSV to stdout
      chainrule predict model.safetensors new.csv --out preds.csv --proba
      chainrule predict model.safetensors new.parquet --strict-categories
      chainrule predict model.safetensors new.txt --format csv --na-values 'n/a'

    Columns are matched by name: the columns the model was trained on must be
    present (in any order); other columns, the target among them, are ignored with a
    note. Output: one row per input row, column 'prediction' (the class label or the
    value), and with --proba one probability column per class, p(<class>); the --id
    column of training comes first when the file has it. Missing values are filled as
    learned in training; a category not seen in training is encoded as 'infrequent'
    or all zeros, with a warning counting the rows (--strict-categories: an error).
    """
)
EVALUATE_EXAMPLES = textwrap.dedent(
    """\
    examples:
      chainrule evaluate model.safetensors test.csv
      chainrule evaluate model.safetensors test.parquet --strict-categories

    The CSV must contain the target column the model was trained on. Prints accuracy,
    cross-entropy, macro F1 and the confusion matrix for a classifier; R², RMSE and
    MAE for a regression model.
    """
)


PREDICT_HELP = "predict with a trained model on a CSV file"
PREDICT_DESCRIPTION = "Predict the target for every row of a CSV file."
EVALUATE_HELP = "metrics and confusion matrix of a trained model on a CSV file"
EVALUATE_DESCRIPTION = "Evaluate a trained model on labelled rows of a CSV file."


def _add_model_and_data(parser: argparse.ArgumentParser, data_help: str) -> None:
    parser.add_argument("model", metavar="MODEL", help="a model file written by chainrule train")
    parser.add_argument("data", metavar="DATA.csv", help=data_help)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(
        subparsers, "predict", PREDICT_HELP, PREDICT_DESCRIPTION, PREDICT_EXAMPLES, predict_command
    )
    _add_model_and_data(parser, "rows to predict")
    parser.add_argument("--out", metavar="PREDS.csv", help="write here instead of stdout")
    parser.add_argument("--proba", action="store_true", help="add class probabilities")
    add_data_arguments(parser, training=False)
    return parser


def add_evaluate_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(
        subparsers,
        "evaluate",
        EVALUATE_HELP,
        EVALUATE_DESCRIPTION,
        EVALUATE_EXAMPLES,
        evaluate_command,
    )
    _add_model_and_data(parser, "rows with the target column")
    add_data_arguments(parser, training=False)
    return parser


def load_pipeline(path: str) -> Pipeline:
    """A trained pipeline, or ModelFormatError for any other file."""
    found = load(path)
    if not isinstance(found, Pipeline):
        raise ModelFormatError(
            f"{path}: holds a {type(found).__name__}, not a model trained by chainrule train "
            "(use chainrule info to see what it is)"
        )
    return found


def predict_command(args: argparse.Namespace) -> int:
    plan_outputs({"MODEL": args.model, "DATA.csv": args.data}, {"--out": args.out})
    pipeline = load_pipeline(args.model)
    table = read_data(pipeline, args)
    extra = pipeline.encoder.check_columns(table)
    if extra:
        print(
            f"chainrule: note: {args.data}: ignoring columns the model does not use: "
            + ", ".join(extra),
            file=sys.stderr,
        )
    if args.proba and pipeline.task != "classification":
        print("chainrule: note: --proba applies to classifiers only", file=sys.stderr)
    features = network_inputs(pipeline, encode(pipeline, table, args.data), table.where)
    outputs = network_outputs(pipeline, features, batch_size=PREDICT_BATCH)
    if pipeline.task == "classification":
        predicted = np.asarray(pipeline.classes)[outputs.argmax(axis=1)]
    else:
        predicted = outputs[:, 0].astype(np.float64) * pipeline.target_scale
        predicted += pipeline.target_mean
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    header = ["prediction"]
    columns: list[np.ndarray] = [predicted]
    id_column = pipeline.encoder.id_column
    if id_column is not None and id_column in table.columns:
        header.insert(0, id_column)
        columns.insert(0, np.asarray([table.cell(i, id_column) for i in range(len(table))]))
    if args.proba and pipeline.task == "classification":
        probabilities = softmax(outputs)
        header += [f"p({c})" for c in pipeline.classes or []]
        columns += list(probabilities.T)
    writer.writerow(header)
    for row in zip(*columns, strict=True):
        writer.writerow([_cell(v) for v in row])
    if args.out:
        with atomic_write(args.out) as handle:
            handle.write(text.getvalue().encode())
        print(f"wrote {len(predicted)} predictions to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text.getvalue())
    print_notes(table, args.data, pipeline)
    return 0


def _cell(value: object) -> str:
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def read_data(pipeline: Pipeline, args: argparse.Namespace):
    """The data file, read as the model's training data was (its missing-value spellings
    unless --na-values says otherwise); --strict-categories applies to this run."""
    na_values = pipeline.encoder.na_values
    if args.na_values is not None:
        na_values = [part.strip() for item in args.na_values for part in item.split(",")]
        pipeline.encoder.na_values = na_values
    if args.strict_categories:
        pipeline.encoder.strict_categories = True
    delimiter = delimiter_option(args.delimiter, args.format)
    decimal = decimal_option(args.decimal, args.format)
    check_text_options(DataOptions(args.format, delimiter, decimal), args.data)
    return read_table(
        args.data, args.format, na_values=na_values, delimiter=delimiter, decimal=decimal
    )


def print_notes(table, data: str, pipeline: Pipeline) -> None:
    """The reader's notes and the encoder's counts, once the command has succeeded (an
    error stays one line)."""
    for text in table.notes:
        print(f"chainrule: note: {data}: {text}", file=sys.stderr)
    for what, count in pipeline.encoder.warnings.items():
        if what == "filled":
            print(
                f"chainrule: note: {data}: filled {count} missing values as learned in training",
                file=sys.stderr,
            )
        else:
            print(
                f"chainrule: warning: {data}: {count} rows with {what}, encoded as "
                "'infrequent' or all zeros (--strict-categories to refuse them)",
                file=sys.stderr,
            )


def encode(pipeline: Pipeline, table, data: str) -> np.ndarray:
    """Encoded features; the encoder counts unseen categories and filled gaps."""
    pipeline.encoder.reset_warnings()
    return pipeline.encoder.transform(table)


def evaluate_command(args: argparse.Namespace) -> int:
    pipeline = load_pipeline(args.model)
    table = read_data(pipeline, args)
    features = network_inputs(pipeline, encode(pipeline, table, args.data), table.where)
    y = pipeline.encoder.encode_target(table)
    metrics = evaluate_features(pipeline, features, y)
    print(format_metrics(metrics, f"{args.data} ({len(y)} rows)"))
    confusion = format_confusion(metrics, pipeline.classes or [])
    if confusion:
        print(confusion)
    print_notes(table, args.data, pipeline)
    return 0
