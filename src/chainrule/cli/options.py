"""The training options of ``chainrule train`` (and ``demo``): defaults, checks, config files.

Precedence: a flag on the command line, then the ``--config`` TOML file, then the
default. Every option is checked here so a bad value is a one-line usage error.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .._regular_file import read_regular_file
from ..data.reading import check_delimiter, format_of
from .errors import UsageError

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "elu", "gelu")
TASKS = ("auto", "classification", "regression")
# mlp: Linear layers of --hidden sizes. cnn: the input row is a square image, side × side
# pixels row by row (64 columns -> 1×8×8), through two 3×3 convolutions (16 and 32
# channels, ReLU, a 2×2 max pool after the first) and then the --hidden Linear layers.
ARCHS = ("mlp", "cnn")
CNN_CHANNELS = (16, 32)
MAX_LAYER_SIZE = 1_000_000
# The most weights and biases a network may have: 50 million float32 parameters are 200 MB,
# and Adam keeps two more copies plus a gradient. Checked from the input width, the hidden
# sizes and the output width before anything is allocated, so "--hidden 1000000,1000000"
# (10¹² weights, 3.6 TiB) is a one-line error rather than a MemoryError.
MAX_PARAMETERS = 50_000_000
# Early stopping's patience when --early-stopping is not given and rows are held out for
# validation: the best epoch's weights are kept, as an honest default should.
AUTO_PATIENCE = 10
# The CLI's learning rate per --optimizer when --lr is not given: the library's default
# (torch.optim's) for each, except plain SGD, whose library default is 1e-3 (torch's
# SGD has none): 0.01 here, as the SGD variants had from the first CLI on.
DEFAULT_LR = {
    "sgd": 0.01,
    "momentum": 0.01,
    "nesterov": 0.01,
    "adagrad": 0.01,
    "rmsprop": 0.01,
    "adadelta": 1.0,
    "adam": 0.001,
    "adamw": 0.001,
}


@dataclass
class TrainOptions:
    """Everything that decides the numbers a training run produces (the fingerprint)."""

    task: str = "auto"
    arch: str = "mlp"
    hidden: list[int] = field(default_factory=lambda: [64, 32])
    activation: str = "relu"
    dropout: float = 0.0
    batchnorm: bool = False
    optimizer: str = "adam"
    lr: float | None = None  # None: DEFAULT_LR[optimizer]
    momentum: float | None = None
    weight_decay: float = 0.0
    l1: float = 0.0
    batch_size: int = 32
    epochs: int = 50
    val_split: float = 0.2
    early_stopping: int | None = None
    augment: str | None = None
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_hidden(text: Any) -> list[int]:
    """``"64,32"`` -> [64, 32]; ``""`` or ``"none"`` -> [] (a linear model)."""
    if isinstance(text, list):
        items = text
    else:
        text = str(text).strip()
        items = [] if text.lower() in ("", "none", "0") else text.split(",")
    sizes = []
    for item in items:
        try:
            size = int(str(item).strip())
        except ValueError:
            raise UsageError(
                f"--hidden expected comma-separated layer sizes like 64,32, got {text!r}"
            ) from None
        if not 1 <= size <= MAX_LAYER_SIZE:
            raise UsageError(f"--hidden sizes must be between 1 and {MAX_LAYER_SIZE}, got {size}")
        sizes.append(size)
    return sizes


def count_parameters(inputs: int, hidden: list[int], outputs: int, batchnorm: bool) -> int:
    """Weights and biases of inputs -> hidden... -> outputs (BatchNorm1d adds 2 per unit)."""
    widths = [inputs, *hidden, outputs]
    total = sum((a + 1) * b for a, b in itertools.pairwise(widths))
    return total + (2 * sum(hidden) if batchnorm else 0)


def image_side(inputs: int) -> int:
    """The side of the square image ``inputs`` columns make, or a UsageError (--arch cnn)."""
    side = math.isqrt(inputs)
    if side * side != inputs or side < 2:
        raise UsageError(
            f"--arch cnn expects a square number of numeric input columns (an image of "
            f"side × side pixels, row by row, such as 64 for 8×8), got {inputs} columns"
        )
    return side


def count_cnn_parameters(inputs: int, options: TrainOptions, outputs: int) -> int:
    """Weights and biases of the --arch cnn network for ``inputs`` = side² columns."""
    side = image_side(inputs)
    first, second = CNN_CHANNELS
    convs = (9 * 1 + 1) * first + (9 * first + 1) * second
    flat = second * (side // 2) ** 2
    return convs + count_parameters(flat, options.hidden, outputs, options.batchnorm)


def check_parameter_count(inputs: int, outputs: int, options: TrainOptions) -> int:
    """The network's parameter count, or a UsageError when it is above MAX_PARAMETERS."""
    if options.arch == "cnn":
        total = count_cnn_parameters(inputs, options, outputs)
        if total > MAX_PARAMETERS:
            raise UsageError(
                f"--arch cnn on {inputs} columns has {total:,} parameters, more than the "
                f"limit of {MAX_PARAMETERS:,}; use a smaller image or smaller --hidden"
            )
        return total
    total = count_parameters(inputs, options.hidden, outputs, options.batchnorm)
    if total > MAX_PARAMETERS:
        shape = "-".join(str(w) for w in [inputs, *options.hidden, outputs])
        raise UsageError(
            f"--hidden {','.join(map(str, options.hidden)) or 'none'}: a {shape} network has "
            f"{total:,} parameters, more than the limit of {MAX_PARAMETERS:,}; "
            "use smaller hidden layers"
        )
    return total


def _number(name: str, value: Any, kind: type, low: float, high: float, *, open_low=False) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise UsageError(f"--{name} expected a {kind.__name__}, got {value!r}") from None
    if (
        isinstance(value, bool)
        or not (low < number if open_low else low <= number)
        or number > high
    ):
        bound = "(" if open_low else "["
        raise UsageError(f"--{name} expected a value in {bound}{low}, {high}], got {value!r}")
    return number


def check(options: TrainOptions) -> TrainOptions:
    """Validate and normalize every option (raises UsageError naming the flag)."""
    o = options
    if o.task not in TASKS:
        raise UsageError(f"--task expected one of {', '.join(TASKS)}, got {o.task!r}")
    o.hidden = parse_hidden(o.hidden)
    if o.arch not in ARCHS:
        raise UsageError(f"--arch expected one of {', '.join(ARCHS)}, got {o.arch!r}")
    if o.activation not in ACTIVATIONS:
        raise UsageError(
            f"--activation expected one of {', '.join(ACTIVATIONS)}, got {o.activation!r}"
        )
    if o.optimizer not in OPTIMIZERS:
        raise UsageError(
            f"--optimizer expected one of {', '.join(OPTIMIZERS)}, got {o.optimizer!r}"
        )
    o.dropout = _number("dropout", o.dropout, float, 0.0, 0.95)
    o.batchnorm = bool(o.batchnorm)
    if o.lr is not None:
        o.lr = _number("lr", o.lr, float, 0.0, 100.0, open_low=True)
    if o.momentum is not None:
        o.momentum = _number("momentum", o.momentum, float, 0.0, 0.999)
    o.weight_decay = _number("weight-decay", o.weight_decay, float, 0.0, 10.0)
    o.l1 = _number("l1", o.l1, float, 0.0, 10.0)
    o.batch_size = _number("batch-size", o.batch_size, int, 1, 10_000_000)
    o.epochs = _number("epochs", o.epochs, int, 1, 1_000_000)
    o.val_split = _number("val-split", o.val_split, float, 0.0, 0.9)
    if o.early_stopping is not None:
        o.early_stopping = _number("early-stopping", o.early_stopping, int, 0, 1_000_000)
    o.seed = _number("seed", o.seed, int, 0, 2**63 - 1)
    if o.batchnorm and o.batch_size == 1:
        raise UsageError(
            "--batchnorm needs --batch-size of at least 2: batch norm normalizes each "
            "feature by its mean and variance over the batch, and one row has no variance"
        )
    if o.augment is not None:
        from ..data import parse_augment

        try:
            parse_augment(o.augment)
        except (TypeError, ValueError) as error:
            raise UsageError(f"--augment: {error}") from None
    return o


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The training flags; their defaults are None so a config file can fill them in."""
    defaults = TrainOptions()
    group = parser.add_argument_group("model and training")
    group.add_argument(
        "--task",
        choices=TASKS,
        help="what to predict (default: auto — text or "
        "few integer values: classification; other numbers: regression)",
    )
    group.add_argument(
        "--arch",
        choices=ARCHS,
        help="network kind (default: mlp). cnn: the numeric columns are a square image, "
        "side × side pixels row by row (64 columns -> 1×8×8), fed to two 3×3 "
        "convolutions (16, 32 channels, ReLU, 2×2 max pool) before the --hidden layers",
    )
    group.add_argument(
        "--hidden",
        metavar="SIZES",
        help=f"hidden layer sizes, comma-separated (default: "
        f"{','.join(map(str, defaults.hidden))}; 'none' for a linear model); each at most "
        f"{MAX_LAYER_SIZE:,}, and the whole network (inputs, hidden and outputs) at most "
        f"{MAX_PARAMETERS:,} parameters",
    )
    group.add_argument(
        "--activation", choices=ACTIVATIONS, help="hidden activation (default: relu)"
    )
    group.add_argument(
        "--dropout",
        type=float,
        metavar="P",
        help="dropout probability after each hidden layer (default: 0)",
    )
    group.add_argument(
        "--batchnorm",
        action="store_true",
        default=None,
        help="batch normalization after each hidden linear layer",
    )
    group.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        help="momentum = SGD with momentum 0.9, nesterov = SGD with Nesterov "
        "momentum (default: adam)",
    )
    group.add_argument(
        "--lr",
        type=float,
        help="learning rate (default per optimizer: adam, adamw 0.001; sgd, momentum, "
        "nesterov 0.01 (the library's SGD default is 0.001); adagrad, rmsprop 0.01; "
        "adadelta 1.0)",
    )
    group.add_argument(
        "--momentum",
        type=float,
        help="momentum for momentum/nesterov/rmsprop (default 0.9 for the SGD "
        "variants, 0 for rmsprop)",
    )
    group.add_argument(
        "--weight-decay",
        type=float,
        metavar="W",
        help="L2 weight decay, decoupled for adamw (default: 0)",
    )
    group.add_argument(
        "--l1",
        type=float,
        metavar="LAMBDA",
        help="L1 penalty λ·Σ|w| on weight matrices (default: 0)",
    )
    group.add_argument("--batch-size", type=int, metavar="N", help="mini-batch size (default: 32)")
    group.add_argument("--epochs", type=int, metavar="N", help="epochs (default: 50)")
    group.add_argument(
        "--val-split",
        type=float,
        metavar="F",
        help="fraction held out for validation, 0 for none (default: 0.2)",
    )
    group.add_argument(
        "--early-stopping",
        type=int,
        metavar="PATIENCE",
        help="stop after PATIENCE epochs without a better validation loss and "
        f"keep the best weights (default: {AUTO_PATIENCE} when there is a validation split; "
        "0 turns it off)",
    )
    group.add_argument(
        "--augment",
        metavar="SPEC",
        help="training-batch augmentation, e.g. noise:0.05 (default: none)",
    )
    group.add_argument(
        "--seed",
        type=int,
        help="seed for the split, initialization, shuffling, dropout and augmentation (default: 0)",
    )
    group.add_argument(
        "--config",
        metavar="RUN.toml",
        help="read options from a TOML file (keys are the flag names: "
        "hidden = [64, 32], lr = 0.001, ...); flags given on the command line win",
    )


def _read_toml(path: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ImportError as error:
            raise UsageError("--config needs the tomli package on Python 3.10") from error
    if not os.path.lexists(path):
        raise UsageError(f"{path}: no such config file")
    content = read_regular_file(
        path, what="a TOML config file", error=UsageError, max_bytes=MAX_CONFIG_BYTES
    )
    try:
        return tomllib.loads(content.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: not a valid TOML file ({error})") from None


MAX_CONFIG_BYTES = 1 << 20
# The TOML type each config key must have: TOML has real booleans and integers, so a
# config is held to them (``epochs = 1.7`` or ``batchnorm = "no"`` is a mistake, not
# something to round or to read as true).
CONFIG_TYPES: dict[str, str] = {
    "task": "string",
    "arch": "string",
    "hidden": "list of integers",
    "activation": "string",
    "dropout": "number",
    "batchnorm": "boolean",
    "optimizer": "string",
    "lr": "number",
    "momentum": "number",
    "weight_decay": "number",
    "l1": "number",
    "batch_size": "integer",
    "epochs": "integer",
    "val_split": "number",
    "early_stopping": "integer",
    "augment": "string",
    "seed": "integer",
    "target": "string",
    "out": "string",
    "checkpoint": "string",
    "data": "string",
    # how the data file is read and encoded (DataOptions), and the refit choice
    "format": "string",
    "delimiter": "string",
    "decimal": "string",
    "impute": "string",
    "na_values": "list of strings",
    "drop": "list of strings",
    "columns": "list of strings",
    "id": "string",
    "max_categories": "integer",
    "strict_categories": "boolean",
    "test_split": "number",
    "cv": "integer",
    "refit": "boolean",
    "no_refit": "boolean",
}
# Config keys that are not TrainOptions fields: handed back to the command as ``extra``.
EXTRA_KEYS = frozenset(CONFIG_TYPES) - {f.name for f in fields(TrainOptions)}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _has_type(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return _is_int(value)
    if kind == "number":  # TOML ints are fine where a float is expected; inf and nan are not
        return _is_int(value) or (isinstance(value, float) and math.isfinite(value))
    if kind == "list of strings":
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    return isinstance(value, list) and all(_is_int(item) for item in value)


def check_config_value(path: str, key: str, value: Any) -> None:
    """Raise UsageError unless ``value`` has the TOML type ``CONFIG_TYPES`` gives ``key``."""
    kind = CONFIG_TYPES[key]
    if not _has_type(value, kind):
        shown = repr(value) if not isinstance(value, str) else f'"{value}"'
        raise UsageError(
            f"{path}: {key} expected a TOML {kind}, got {shown} ({type(value).__name__})"
        )


def from_arguments(args: argparse.Namespace, **overrides: Any) -> tuple[TrainOptions, dict]:
    """Options from flags, the config file and defaults; also the config's other keys."""
    options = TrainOptions(**overrides)
    names = {f.name for f in fields(TrainOptions)}
    config: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    if getattr(args, "config", None):
        for key, value in _read_toml(args.config).items():
            name = key.replace("-", "_")
            if name in CONFIG_TYPES:
                check_config_value(args.config, name, value)
            if name in names:
                config[name] = value
            elif name in EXTRA_KEYS:
                extra[name] = value
            else:
                raise UsageError(
                    f"{args.config}: unknown option {key!r} (known: "
                    f"{', '.join(sorted(names | EXTRA_KEYS))})"
                )
    if "refit" in extra and "no_refit" in extra and extra["refit"] == extra["no_refit"]:
        raise UsageError(
            f"{args.config}: refit = {str(extra['refit']).lower()} and no_refit = "
            f"{str(extra['no_refit']).lower()} contradict each other; give one"
        )
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            setattr(options, name, value)
        elif name in config:
            setattr(options, name, config[name])
    return check(options), extra


IMPUTE_CHOICES = ("median", "mean", "most_frequent", "constant", "drop", "none")
FORMAT_CHOICES = ("csv", "tsv", "parquet", "feather")
DECIMAL_CHOICES = (".", ",")


@dataclass
class DataOptions:
    """How the data file is read and turned into features (stored in the model)."""

    format: str | None = None
    delimiter: str | None = None  # between a CSV file's cells (None: the format's own)
    decimal: str = "."  # a CSV file's decimal mark: "," reads 3,5 and 1.234,50 as numbers
    impute: str = "median"
    na_values: list[str] | None = None
    drop: list[str] = field(default_factory=list)
    columns: list[str] | None = None
    id: str | None = None
    max_categories: int | None = None
    strict_categories: bool = False
    test_split: float = 0.0
    cv: int = 0

    @property
    def imputer(self) -> str | None:
        """The encoder's ``impute``: None for ``--impute none`` (gaps are errors)."""
        return None if self.impute == "none" else self.impute


def _names(text: Any) -> list[str]:
    """``"a,b"`` or ``["a", "b"]`` (repeated flags) -> ["a", "b"]."""
    items = text if isinstance(text, list) else [text]
    found: list[str] = []
    for item in items:
        found.extend(part.strip() for part in str(item).split(",") if part.strip())
    return found


def add_data_arguments(parser: argparse.ArgumentParser, training: bool = True) -> None:
    """The flags that say how a data file is read (and, for training, encoded)."""
    group = parser.add_argument_group("data")
    group.add_argument(
        "--format",
        choices=FORMAT_CHOICES,
        help="the file's format (default: from its extension: .csv, .csv.gz, .tsv, "
        ".parquet, .feather/.arrow; anything else is read as CSV)",
    )
    group.add_argument(
        "--delimiter",
        metavar="CHAR",
        help="the character between a CSV file's cells (default: ',' or a tab for .tsv); "
        "e.g. --delimiter ';' for spreadsheets' semicolon CSVs, 'tab' for a tab",
    )
    group.add_argument(
        "--decimal",
        choices=DECIMAL_CHOICES,
        help="a CSV file's decimal mark (default: '.'); ',' reads 3,5 and 1.234,50 "
        "(thousands grouped by dots or spaces) as numbers",
    )
    group.add_argument(
        "--na-values",
        metavar="TEXT",
        action="append",
        help="cells that count as missing, comma-separated, any case (default: empty, NA, "
        "N/A, nan, null, none, ?, #N/A); e.g. --na-values '' keeps a category 'NA' "
        "(North America)",
    )
    group.add_argument(
        "--strict-categories",
        action="store_true",
        default=None,
        help="fail on a category not seen in training (default: map it to 'infrequent' or "
        "all zeros and count it in a warning)"
        + ("; when training, also refuse text columns of more than 100 values" if training else ""),
    )
    if not training:
        return
    group.add_argument(
        "--impute",
        choices=IMPUTE_CHOICES,
        help="fill missing values (learned on the training rows, kept in the model): "
        "median (default; plus a NAME:missing indicator column where a column had gaps, "
        "and a 'missing' category for text), mean, most_frequent, constant (0), drop "
        "(leave out training rows with gaps), none (a gap is an error)",
    )
    group.add_argument(
        "--drop", metavar="COL", action="append", help="leave out these columns (repeatable)"
    )
    group.add_argument(
        "--columns",
        metavar="COL",
        action="append",
        help="use only these feature columns, comma-separated (repeatable)",
    )
    group.add_argument(
        "--id",
        metavar="COL",
        help="an identifier column: never a feature, copied into predict's output",
    )
    group.add_argument(
        "--test-split",
        type=float,
        metavar="F",
        help="hold out this fraction of the rows (seeded) before anything is learned, "
        "and report the final model's metrics on it (default: 0)",
    )
    group.add_argument(
        "--cv",
        type=int,
        metavar="K",
        help="first score K-fold cross-validation (each fold learned from the others) and "
        "print the K scores and their mean ± sd; then train the model as usual",
    )
    group.add_argument(
        "--max-categories",
        type=int,
        metavar="N",
        help="at most N one-hot columns per text column: the N−1 most frequent values and "
        "an 'infrequent' one (default: 100)",
    )


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> Any:
    """A config value must be one of the flag's choices (argparse checks the flag's)."""
    if value is not None and value not in choices:
        raise UsageError(f"{name} expected one of {', '.join(choices)}, got {value!r}")
    return value


def delimiter_option(value: Any, format: str | None) -> str | None:
    """``--delimiter`` checked: one character (``tab`` or ``\\t`` name a tab), for CSV."""
    if value is None:
        return None
    text = {"tab": "\t", "\\t": "\t"}.get(str(value).lower(), str(value))
    try:
        check_delimiter(text)
    except ValueError as error:
        raise UsageError(f"--delimiter: {error}") from None
    if format in ("parquet", "feather"):
        raise UsageError(f"--delimiter applies to CSV and TSV files, not to --format {format}")
    return text


def check_text_options(data: DataOptions, path: str) -> None:
    """``--delimiter`` and ``--decimal ,`` read CSV and TSV files only: a UsageError for
    a Parquet or Feather file or folder (by ``--format`` or by its name)."""
    if data.delimiter is None and data.decimal == ".":
        return
    kind = data.format or ("parquet" if os.path.isdir(path) else format_of(path)[0])
    if kind in ("parquet", "feather"):
        flag = "--delimiter" if data.delimiter is not None else "--decimal"
        raise UsageError(f"{flag} applies to CSV and TSV files, not to {path} ({kind})")


def decimal_option(value: Any, format: str | None) -> str:
    """``--decimal`` checked: '.' (the default) or ',', for CSV."""
    mark = _choice("decimal", value, DECIMAL_CHOICES) or "."
    if mark != "." and format in ("parquet", "feather"):
        raise UsageError(f"--decimal applies to CSV and TSV files, not to --format {format}")
    return str(mark)


def data_options(args: argparse.Namespace, config: dict[str, Any] | None = None) -> DataOptions:
    """DataOptions from the flags, then the config file's keys (``from_arguments``'s
    extra), checked; a flag given on the command line wins."""
    config = config or {}

    def given(name: str) -> Any:
        value = getattr(args, name, None)
        return config.get(name) if value is None else value

    options = DataOptions()
    options.format = _choice("format", given("format"), FORMAT_CHOICES)
    options.delimiter = delimiter_option(given("delimiter"), options.format)
    options.decimal = decimal_option(given("decimal"), options.format)
    if given("impute") is not None:
        options.impute = _choice("impute", given("impute"), IMPUTE_CHOICES)
    na = given("na_values")
    if na is not None:
        # a flag's value is comma-separated; a config list item is one spelling as is
        na_flag = getattr(args, "na_values", None) is not None
        options.na_values = (
            [part.strip() for item in na for part in item.split(",")] if na_flag else list(na)
        )
    options.drop = _names(given("drop") or [])
    columns = given("columns")
    options.columns = _names(columns) if columns else None
    options.id = given("id")
    max_categories = given("max_categories")
    if max_categories is not None:
        options.max_categories = _number("max-categories", max_categories, int, 2, 100_000)
    options.strict_categories = bool(given("strict_categories"))
    test_split = given("test_split")
    if test_split is not None:
        options.test_split = _number("test-split", test_split, float, 0.0, 0.9)
    cv = given("cv")
    if cv is not None:
        options.cv = _number("cv", cv, int, 2, 100)
    return options
