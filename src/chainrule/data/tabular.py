"""From a ``Table`` of text cells to model inputs and targets, and back again.

``TabularEncoder.fit`` decides each feature column's kind — numeric when its cells
are numbers, categorical when they are text (one-hot encoded, categories kept in
sorted order) — and how the target is read: classes (mapped to 0..C−1) or values.
The encoder is plain JSON (``to_dict``/``from_dict``) so it travels in model files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .csv import Table, is_missing
from .errors import DataError

MAX_CATEGORIES = 100
AUTO_CLASSES = 20  # an integer target with at most this many values is taken as classes
LISTED = 20  # names shown in a message before "… and N more": a message stays one short line


def _listing(names: Sequence[str], limit: int = LISTED) -> str:
    """``'a, b, c'``, or the first ``limit`` names and how many more (20,000 columns or
    10,000 classes must not make a one-line error megabytes long)."""
    shown = ", ".join(str(name) for name in names[:limit])
    if len(names) > limit:
        shown += f", … ({len(names) - limit} more, {len(names)} in all)"
    return shown


def _to_float(cell: str) -> float:
    """``float(cell)`` for the numbers a spreadsheet writes: Python's extras refused.

    Python also reads '1_000' and non-ASCII digits ('١٢'); a CSV cell like that is
    more likely a typo or text than a number, so it is not taken as one.
    """
    if "_" in cell or not cell.isascii():
        raise ValueError(cell)
    return float(cell)


def _number(table: Table, index: int, column: str, cell: str) -> float:
    """Parse one cell as a finite float, or raise a DataError naming where it is."""
    if is_missing(cell):
        shown = "an empty cell" if not cell else f"a missing value {cell!r}"
        raise DataError(
            f"{table.where(index, column)}: {shown} (missing values are not supported; "
            "fill them in or drop the row)"
        )
    try:
        value = _to_float(cell)
    except ValueError:
        raise DataError(f"{table.where(index, column)}: {cell!r} is not a number") from None
    if not math.isfinite(value):
        if math.isnan(value):  # '+nan', '+NaN': spellings MISSING does not list
            raise DataError(
                f"{table.where(index, column)}: a missing value {cell!r} (missing values are "
                "not supported; fill them in or drop the row)"
            )
        if "inf" in cell.lower():
            raise DataError(f"{table.where(index, column)}: {cell!r} is not a finite number")
        raise DataError(f"{table.where(index, column)}: {cell!r} overflows a 64-bit float")
    return value


def _check_present(table: Table, column: str) -> None:
    for index, cell in enumerate(table.columns[column]):
        if is_missing(cell):
            _number(table, index, column, cell)  # raises the missing-value message


def _parses(cell: str) -> bool:
    try:
        _to_float(cell)
    except ValueError:
        return False
    return True


def _numeric_label(cell: str) -> str:
    """One written form per number, so '1', '1.0', '01' and ' 1' are the same class."""
    value = float(cell)
    if value == round(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _class_labels(cells: list[str]) -> list[str]:
    """The target's labels, numbers in one written form when every cell is a number."""
    if all(_parses(cell) for cell in cells):
        return [_numeric_label(cell) for cell in cells]
    return list(cells)


def _class_order(labels: set[str]) -> list[str]:
    """Sorted class labels: numerically when they are all numbers (so '2' < '10')."""
    if all(_parses(label) for label in labels):
        return sorted(labels, key=lambda label: (float(label), label))
    return sorted(labels)


class TabularEncoder:
    """Column kinds, categories and target classes learned from a training table.

    After ``fit``: ``features`` is a list of ``{"name", "kind", "categories"?}``;
    ``output_names`` the encoded input columns (``color=red`` for one-hot ones);
    ``task`` ``"classification"`` or ``"regression"``; ``classes`` the target labels.
    """

    def __init__(self, target: str, task: str = "auto") -> None:
        if task not in ("auto", "classification", "regression"):
            raise ValueError(f"task expected auto, classification or regression, got {task!r}")
        self.target, self.requested_task = target, task
        self.features: list[dict[str, Any]] = []
        self.task: str | None = None
        self.classes: list[str] | None = None

    # ----------------------------------------------------------------- fitting
    def fit(self, table: Table) -> TabularEncoder:
        if self.target not in table.columns:
            raise DataError(
                f"{table.path}: no column {self.target!r} to use as the target; "
                f"the columns are {_listing(table.names)}"
            )
        names = [n for n in table.names if n != self.target]
        if not names:
            raise DataError(f"{table.path}: no feature columns besides the target {self.target!r}")
        self.features = [self._fit_column(table, name) for name in names]
        self._fit_target(table)
        return self

    def _fit_column(self, table: Table, name: str) -> dict[str, Any]:
        cells = table.columns[name]
        _check_present(table, name)
        numeric = [_parses(cell) for cell in cells]
        if all(numeric):
            for index, cell in enumerate(cells):
                _number(table, index, name, cell)  # inf / overflow
            return {"name": name, "kind": "numeric"}
        if sum(numeric) * 2 > len(cells):
            index = numeric.index(False)
            example = cells[numeric.index(True)]
            raise DataError(
                f"{table.where(index, name)}: {cells[index]!r} is not a number "
                f"(the column holds numbers such as {example!r})"
            )
        categories = sorted(set(cells))
        if len(categories) > MAX_CATEGORIES:
            raise DataError(
                f"{table.path}: column {name!r} has {len(categories)} distinct text values; "
                f"a categorical column may have at most {MAX_CATEGORIES} (drop it, e.g. an "
                "identifier, or encode it as numbers)"
            )
        return {"name": name, "kind": "categorical", "categories": categories}

    def _fit_target(self, table: Table) -> None:
        cells = table.columns[self.target]
        _check_present(table, self.target)
        numeric = all(_parses(cell) for cell in cells)
        task = self.requested_task
        if task == "auto":
            if not numeric:
                task = "classification"
            else:
                values = [_number(table, i, self.target, c) for i, c in enumerate(cells)]
                integral = all(v == round(v) for v in values)
                task = (
                    "classification"
                    if integral and len(set(values)) <= AUTO_CLASSES
                    else "regression"
                )
        if task == "regression":
            for index, cell in enumerate(cells):
                _number(table, index, self.target, cell)
            self.classes = None
        else:
            labels = set(_class_labels(cells))
            if len(labels) < 2:
                raise DataError(
                    f"{table.path}: column {self.target!r} (the target) has a single class "
                    f"{next(iter(labels))!r}; classification needs at least two"
                )
            self.classes = _class_order(labels)
        self.task = task

    # --------------------------------------------------------------- encoding
    @property
    def output_names(self) -> list[str]:
        names = []
        for feature in self.features:
            if feature["kind"] == "numeric":
                names.append(feature["name"])
            else:
                names.extend(f"{feature['name']}={c}" for c in feature["categories"])
        return names

    def check_columns(self, table: Table) -> list[str]:
        """Raise if a feature column is missing; return the extra columns (ignored)."""
        wanted = [f["name"] for f in self.features]
        missing = [n for n in wanted if n not in table.columns]
        if missing:
            raise DataError(
                f"{table.path}: missing column{'s' if len(missing) > 1 else ''} "
                f"{_listing([repr(m) for m in missing])} that the model was trained on "
                f"(it needs {_listing(wanted)})"
            )
        # A set: membership in the list of wanted names made this O(columns²).
        used = set(wanted)
        return [n for n in table.names if n not in used and n != self.target]

    def transform(self, table: Table, dtype: Any = np.float64) -> np.ndarray:
        """Encoded features (N, len(output_names)): numbers as they are, one-hot for text."""
        self.check_columns(table)
        parts = []
        for feature in self.features:
            name, cells = feature["name"], table.columns[feature["name"]]
            if feature["kind"] == "numeric":
                values = [_number(table, i, name, cell) for i, cell in enumerate(cells)]
                parts.append(np.asarray(values, dtype=np.float64)[:, None])
                continue
            _check_present(table, name)
            lookup = {c: k for k, c in enumerate(feature["categories"])}
            block = np.zeros((len(cells), len(lookup)))
            for index, cell in enumerate(cells):
                if cell not in lookup:
                    raise DataError(
                        f"{table.where(index, name)}: unknown category {cell!r} (the model "
                        f"knows {', '.join(feature['categories'])})"
                    )
                block[index, lookup[cell]] = 1.0
            parts.append(block)
        return np.concatenate(parts, axis=1).astype(dtype)

    def encode_target(self, table: Table) -> np.ndarray:
        """Class indices (N,) int64, or values (N,) float64 for regression."""
        if self.target not in table.columns:
            raise DataError(
                f"{table.path}: no target column {self.target!r} to evaluate against; "
                f"the columns are {_listing(table.names)}"
            )
        cells = table.columns[self.target]
        if self.task == "regression":
            return np.asarray(
                [_number(table, i, self.target, c) for i, c in enumerate(cells)], dtype=np.float64
            )
        _check_present(table, self.target)
        classes = self.classes or []
        lookup = {c: k for k, c in enumerate(classes)}
        # Numeric classes were stored in one written form: read these cells the same way.
        # (Models written before that stored the cells as they were, which still match.)
        numeric = all(_parses(c) and _numeric_label(c) == c for c in classes)
        labels = []
        for index, cell in enumerate(cells):
            label = cell
            if cell not in lookup and numeric and _parses(cell):
                label = _numeric_label(cell)
            if label not in lookup:
                raise DataError(
                    f"{table.where(index, self.target)}: class {cell!r} was not seen in "
                    f"training (classes: {_listing(classes)})"
                )
            labels.append(lookup[label])
        return np.asarray(labels, dtype=np.int64)

    # ------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "task": self.task,
            "classes": self.classes,
            "features": self.features,
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> TabularEncoder:
        """Rebuild from ``to_dict()``; raises ValueError for anything malformed."""
        if not isinstance(state, dict):
            raise ValueError("encoder state must be an object")
        encoder = cls(_text(state.get("target"), "target"))
        task = state.get("task")
        if task not in ("classification", "regression"):
            raise ValueError(f"encoder task must be classification or regression, got {task!r}")
        encoder.task = task
        classes = state.get("classes")
        if task == "classification":
            encoder.classes = _texts(classes, "classes")
            if len(encoder.classes) < 2 or len(set(encoder.classes)) != len(encoder.classes):
                raise ValueError("encoder classes must be at least two distinct labels")
        features = state.get("features")
        if not isinstance(features, list) or not features:
            raise ValueError("encoder features must be a non-empty list")
        for feature in features:
            if not isinstance(feature, dict) or feature.get("kind") not in (
                "numeric",
                "categorical",
            ):
                raise ValueError(f"encoder feature {feature!r} is malformed")
            _text(feature.get("name"), "feature name")
            if feature["kind"] == "categorical":
                _texts(feature.get("categories"), "categories")
        encoder.features = features
        return encoder


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"encoder {what} must be a string, got {value!r}")
    return value


def _texts(values: Any, what: str) -> list[str]:
    if not isinstance(values, list) or not values:
        raise ValueError(f"encoder {what} must be a non-empty list of strings")
    return [_text(v, what) for v in values]


def columns_table(columns: dict[str, Sequence[Any]], path: str = "<columns>") -> Table:
    """A ``Table`` from Python columns (name -> values), for predicting from Python."""
    names = list(columns)
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns have different lengths: {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    cells = {name: [str(v).strip() for v in columns[name]] for name in names}
    return Table(path, names, cells, list(range(2, n + 2)))
