"""The playground's data: 2-D toy sets, a small uploaded CSV file, and the seed presets' rows.

Every set is a ``Dataset`` of float64 arrays: ``x`` (N, features) and ``y`` (N, outputs),
split into train and test rows. Toy sets are labelled 0/1 (two classes) and drawn from
``numpy.random.default_rng(seed)``: the same seed, noise and size give the same points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.csv import parse_csv_bytes
from ..data.errors import DataError
from ..data.tabular import TabularEncoder

TOY_SETS = ("circle", "xor", "gauss", "spiral")
MAX_TOY_POINTS = 2_000
# An upload is a lesson-sized table read in memory on every change: 1 MB is thousands of
# rows, far more than the page can draw, and a larger one is refused before parsing.
MAX_UPLOAD_BYTES = 1_000_000
MAX_UPLOAD_ROWS = 5_000
MAX_UPLOAD_FEATURES = 32


@dataclass
class Dataset:
    """Rows to train on. ``task`` is "classification" (y holds 0/1 per output column)
    or "regression"; ``names`` the input columns; ``source`` what made it, for the page."""

    x_train: np.ndarray  # (N_train, features)
    y_train: np.ndarray  # (N_train, outputs)
    x_test: np.ndarray  # (N_test, features); may have 0 rows
    y_test: np.ndarray
    task: str
    names: list[str]
    source: str

    @property
    def features(self) -> int:
        return self.x_train.shape[1]

    @property
    def outputs(self) -> int:
        return self.y_train.shape[1]


def split(
    x: np.ndarray, y: np.ndarray, train_ratio: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle, then the first ``train_ratio`` of the rows for training (at least one)."""
    order = rng.permutation(len(x))
    cut = min(len(x), max(1, round(train_ratio * len(x))))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def _circle(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Class 1 inside a disc of radius 2, class 0 on a ring from 3 to 5 (points in ±6)."""
    inner = n // 2
    radius = np.concatenate([rng.uniform(0, 2, inner), rng.uniform(3, 5, n - inner)])
    angle = rng.uniform(0, 2 * np.pi, n)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    y = np.concatenate([np.ones(inner), np.zeros(n - inner)])
    return x + rng.normal(0, noise * 2, x.shape), y


def _xor(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Class 1 where the two coordinates have the same sign (TensorFlow Playground's XOR)."""
    x = rng.uniform(-5, 5, (n, 2))
    x += np.where(x > 0, 0.3, -0.3)  # a small gap at the axes
    y = (x[:, 0] * x[:, 1] > 0).astype(np.float64)
    return x + rng.normal(0, noise * 2, x.shape), y


def _gauss(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian clouds around (2, 2) (class 1) and (−2, −2) (class 0)."""
    half = n // 2
    spread = 0.5 + 3 * noise
    x = np.concatenate(
        [rng.normal(2, spread, (half, 2)), rng.normal(-2, spread, (n - half, 2))], axis=0
    )
    return x, np.concatenate([np.ones(half), np.zeros(n - half)])


def _spiral(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals of radius up to 5."""
    half = n // 2
    parts, labels = [], []
    for label, count, turn in ((1.0, half, 0.0), (0.0, n - half, np.pi)):
        t = np.linspace(0, 1, count, endpoint=False)
        r = 5 * t
        angle = 1.75 * t * 2 * np.pi + turn
        parts.append(np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1))
        labels.append(np.full(count, label))
    x = np.concatenate(parts, axis=0)
    return x + rng.normal(0, noise * 1.5, x.shape), np.concatenate(labels)


_MAKERS = {"circle": _circle, "xor": _xor, "gauss": _gauss, "spiral": _spiral}


def toy(
    kind: str, *, n: int = 500, noise: float = 0.1, train_ratio: float = 0.5, seed: int = 0
) -> Dataset:
    """One of TOY_SETS: ``n`` points in the square ±6, ``noise`` in [0, 1] (a fraction of
    the sets' scale), ``train_ratio`` in (0, 1]. Raises ValueError naming a bad argument."""
    if kind not in _MAKERS:
        raise ValueError(f"data set expected one of {', '.join(TOY_SETS)}, got {kind!r}")
    if not isinstance(n, int) or isinstance(n, bool) or not 4 <= n <= MAX_TOY_POINTS:
        raise ValueError(f"points expected an integer from 4 to {MAX_TOY_POINTS}, got {n!r}")
    noise = _fraction(noise, "noise", 0.0, 1.0)
    train_ratio = _fraction(train_ratio, "train ratio", 0.05, 1.0)
    rng = np.random.default_rng(seed)
    x, y = _MAKERS[kind](n, noise, rng)
    x_train, y_train, x_test, y_test = split(x, y[:, None], train_ratio, rng)
    return Dataset(x_train, y_train, x_test, y_test, "classification", ["x₁", "x₂"], kind)


def _fraction(value: object, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} expected a number from {low} to {high}, got {value!r}")
    if not low <= float(value) <= high:
        raise ValueError(f"{name} expected a number from {low} to {high}, got {value}")
    return float(value)


def from_csv(
    name: str, raw: bytes, *, target: str | None = None, train_ratio: float = 0.8, seed: int = 0
) -> Dataset:
    """An uploaded CSV file, parsed by the CLI's strict reader and encoded like
    ``chainrule train`` does (numbers, categories one-hot, the target as classes or
    values). ``target`` defaults to the last column. Two classes train on one output
    (0/1); more classes on one output per class (one-hot rows). Regression targets
    are standardized. Raises ``DataError`` (a ValueError) naming file, row and column."""
    if len(raw) > MAX_UPLOAD_BYTES:
        raise DataError(
            f"{name}: {len(raw):,} bytes is more than the playground's {MAX_UPLOAD_BYTES:,}-byte "
            "limit for uploads; use `chainrule train` for larger files"
        )
    table = parse_csv_bytes(name, raw)
    if len(table) > MAX_UPLOAD_ROWS:
        raise DataError(
            f"{name}: {len(table):,} rows; the playground takes at most {MAX_UPLOAD_ROWS:,}"
        )
    target = table.names[-1] if target is None else target
    if target not in table.names:
        raise DataError(f"{name}: no column {target!r}; columns: {', '.join(table.names)}")
    if len(table.names) < 2:
        raise DataError(f"{name}: expected feature columns and a target column, got one column")
    encoder = TabularEncoder(target)
    table, _ = encoder.training_rows(table)
    encoder.fit(table)
    x = encoder.transform(table)
    labels = encoder.encode_target(table)
    if x.shape[1] > MAX_UPLOAD_FEATURES:
        raise DataError(
            f"{name}: {x.shape[1]} input columns after encoding; the playground draws at most "
            f"{MAX_UPLOAD_FEATURES}"
        )
    x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    if encoder.task == "classification":
        classes = len(encoder.classes or [])
        labels = labels.astype(np.int64)
        y = labels[:, None].astype(np.float64) if classes <= 2 else np.eye(classes)[labels]
        task = "classification"
    else:
        y = ((labels - labels.mean()) / (labels.std() or 1.0))[:, None]
        task = "regression"
    rng = np.random.default_rng(seed)
    x_train, y_train, x_test, y_test = split(
        x, y, _fraction(train_ratio, "train ratio", 0.05, 1), rng
    )
    return Dataset(x_train, y_train, x_test, y_test, task, encoder.output_names, name)
