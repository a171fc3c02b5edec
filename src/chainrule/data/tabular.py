"""From a ``Table`` of columns to model inputs and targets, and back again.

``TabularEncoder.fit`` decides each feature column's kind — numeric when its cells
are numbers, a date when they are dates (ISO ``2024-03-01``, ``2024-03-01 10:30``,
``03/01/2024``…; encoded as year, month, day of week, day of year and days since
1970), categorical when they are text (one-hot encoded, categories in sorted order)
— and how the target is read: classes (mapped to 0..C−1) or values.

Strictness is the caller's choice. ``TabularEncoder(target)`` keeps the strict rules
(a missing cell, an unseen category or a text column of more than ``MAX_CATEGORIES``
values is a ``DataError`` naming file, row and column); ``impute=`` learns how to
fill gaps from the training rows (median, mean, most frequent or a constant for
numbers, plus a ``NAME:missing`` indicator column where a training column had gaps;
a ``missing`` category for text), ``strict_categories=False`` maps unseen categories
to the ``infrequent`` one or to all zeros (counted in ``warnings``), groups rare
categories into ``infrequent`` beyond ``max_categories``, and drops near-unique text
columns (names, identifiers) with a note. The encoder is plain JSON
(``to_dict``/``from_dict``) so it travels in model files.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .csv import MISSING, Coded, Table
from .errors import DataError

MAX_CATEGORIES = 100
AUTO_CLASSES = 20  # an integer target with at most this many values is taken as classes
LISTED = 20  # names shown in a message before "… and N more": a message stays one short line
IMPUTE = ("median", "mean", "most_frequent", "constant", "drop")
INFREQUENT = "infrequent"
# A text column whose distinct values are more than this share of its rows (and more
# than NEAR_UNIQUE_MIN of them) is an identifier or a name: it cannot generalize.
NEAR_UNIQUE_SHARE = 0.5
NEAR_UNIQUE_MIN = 20
DATE_PARTS = ("year", "month", "dayofweek", "dayofyear", "ordinal")
_DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y/%m/%d",
    "%m/%d/%Y",
    "%m/%d/%y",
    "%d.%m.%Y",
    "%d %b %Y",
    "%d-%b-%Y",
    "%d-%b-%y",
    "%b %d, %Y",
    "%Y-%m",
)


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


def _parses(cell: str) -> bool:
    try:
        _to_float(cell)
    except ValueError:
        return False
    return True


def _label(value: float) -> str:
    """One written form per number, so '1', '1.0', '01' and ' 1' are the same class."""
    if value == round(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _numeric_label(cell: str) -> str:
    return _label(float(cell))


def _class_order(labels: set[str]) -> list[str]:
    """Sorted class labels: numerically when they are all numbers (so '2' < '10')."""
    if all(_parses(label) for label in labels):
        return sorted(labels, key=lambda label: (float(label), label))
    return sorted(labels)


def _date(text: str) -> _dt.datetime | None:
    if not text or (not text[0].isdigit() and not text[:3].isalpha()):
        return None
    for form in _DATE_FORMATS:
        try:
            return _dt.datetime.strptime(text, form)
        except ValueError:
            continue
    return None


def _date_parts(when: _dt.datetime) -> list[float]:
    day = when.date()
    return [
        float(day.year),
        float(day.month),
        float(day.weekday()),
        float(day.timetuple().tm_yday),
        float((day - _dt.date(1970, 1, 1)).days),
    ]


@dataclass
class _View:
    """One column read for encoding: ``numbers`` (N,) float64 with NaN where missing
    when every present cell is a number, else ``coded`` text; ``missing`` (N,) bool."""

    numbers: np.ndarray | None
    coded: Coded | None
    missing: np.ndarray


def _coded(values: Any) -> Coded:
    if isinstance(values, Coded):
        return values
    from .reading import coded_from_cells

    return coded_from_cells(list(values))


def _view(table: Table, name: str, missing_set: frozenset[str]) -> _View:
    values = table.columns[name]
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        return _View(values, None, np.isnan(values))
    coded = _coded(values)
    codes = coded.codes
    flags = np.array([v.lower() in missing_set for v in coded.values] + [True], dtype=bool)
    missing = flags[codes]  # code -1 picks the last flag: a null is missing
    numbers = np.full(len(coded.values) + 1, np.nan)
    parsed = True
    for index, value in enumerate(coded.values):
        if flags[index]:
            continue
        try:
            numbers[index] = _to_float(value)
        except ValueError:
            parsed = False
            break
    if parsed and not missing.all():
        column = numbers[codes]
        return _View(column, coded, missing | np.isnan(column))
    return _View(None, coded, missing)


class TabularEncoder:
    """Column kinds, categories, imputation and target classes learned from a table.

    After ``fit``: ``features`` is a list of ``{"name", "kind", ...}`` (numeric:
    ``fill``, ``indicator``; categorical: ``categories``, ``missing_category``,
    ``infrequent``; date: ``fill`` per part, ``indicator``); ``output_names`` the
    encoded input columns (``color=red`` for one-hot ones, ``age:missing`` for
    indicators, ``day:year`` for date parts); ``task`` ``"classification"`` or
    ``"regression"``; ``classes`` the target labels; ``dropped`` the columns left out
    and why; ``warnings`` counts of what ``transform`` mapped (unseen categories,
    filled gaps) since the last ``reset_warnings``.
    """

    def __init__(
        self,
        target: str,
        task: str = "auto",
        *,
        impute: str | None = None,
        na_values: Sequence[str] | None = None,
        max_categories: int | None = None,
        strict_categories: bool = True,
        drop: Sequence[str] = (),
        columns: Sequence[str] | None = None,
        id_column: str | None = None,
    ) -> None:
        if task not in ("auto", "classification", "regression"):
            raise ValueError(f"task expected auto, classification or regression, got {task!r}")
        if impute is not None and impute not in IMPUTE:
            raise ValueError(f"impute expected one of {', '.join(IMPUTE)} or None, got {impute!r}")
        if max_categories is not None and max_categories < 2:
            raise ValueError(f"max_categories expected 2 or more, got {max_categories}")
        self.target, self.requested_task = target, task
        self.impute = impute
        self.na_values = None if na_values is None else [str(v) for v in na_values]
        self.max_categories = max_categories
        self.strict_categories = bool(strict_categories)
        self.drop, self.only = list(drop), None if columns is None else list(columns)
        self.id_column = id_column
        self.features: list[dict[str, Any]] = []
        self.dropped: list[dict[str, str]] = []
        self.task: str | None = None
        self.classes: list[str] | None = None
        self.warnings: dict[str, int] = {}

    @property
    def missing_set(self) -> frozenset[str]:
        if self.na_values is None:
            return MISSING
        return frozenset(v.strip().lower() for v in self.na_values)

    # ------------------------------------------------------------------ errors
    def _missing_error(self, table: Table, name: str, index: int) -> DataError:
        cell = table.cell(index, name)
        shown = "an empty cell" if not cell else f"a missing value {cell!r}"
        return DataError(
            f"{table.where(index, name)}: {shown} (missing values are not supported here; "
            "fill them in, drop the row, or let chainrule train --impute fill them)"
        )

    def _target_numbers(self, table: Table, view: _View) -> np.ndarray:
        """A regression target's values; a DataError names the first cell that is not a
        number, or not a finite one."""
        if view.numbers is None:
            index = _first_unparsed(view.coded)
            raise DataError(
                f"{table.where(index, self.target)}: "
                f"{table.cell(index, self.target)!r} is not a number"
            )
        self._check_finite(table, self.target, view.numbers)
        return view.numbers

    def _check_finite(self, table: Table, name: str, numbers: np.ndarray) -> None:
        bad = np.isinf(numbers)
        if bad.any():
            index = int(np.argmax(bad))
            cell = table.cell(index, name)
            if "inf" in cell.lower():
                raise DataError(f"{table.where(index, name)}: {cell!r} is not a finite number")
            raise DataError(f"{table.where(index, name)}: {cell!r} overflows a 64-bit float")

    def _not_numbers(self, table: Table, name: str, view: _View) -> DataError | None:
        """The error for a text column that is mostly numbers (a typo in a number column)."""
        coded = view.coded
        assert coded is not None
        present = ~view.missing
        parses = np.array([_parses(v) for v in coded.values] + [False], dtype=bool)
        per_row = parses[coded.codes] & present
        if per_row.sum() * 2 > present.sum():
            index = int(np.argmax(present & ~per_row))
            example = table.cell(int(np.argmax(per_row)), name)
            return DataError(
                f"{table.where(index, name)}: {table.cell(index, name)!r} is not a number "
                f"(the column holds numbers such as {example!r})"
            )
        return None

    # ----------------------------------------------------------------- fitting
    def training_rows(self, table: Table) -> tuple[Table, dict[str, int]]:
        """The rows to learn from: without a missing target (when imputing) and, for
        ``impute="drop"``, without any missing feature; also how many were dropped."""
        self._check_target_column(table)
        if self.impute is None:
            return table, {}
        keep = ~_view(table, self.target, self.missing_set).missing
        counts = {"missing_target": int((~keep).sum())}
        if self.impute == "drop":
            for name in self._feature_names(table):
                keep &= ~_view(table, name, self.missing_set).missing
            counts["missing_features"] = int(len(table) - keep.sum()) - counts["missing_target"]
        if keep.all():
            return table, counts
        return table.take(np.flatnonzero(keep)), counts

    def _check_target_column(self, table: Table) -> None:
        if self.target not in table.columns:
            raise DataError(
                f"{table.path}: no column {self.target!r} to use as the target; "
                f"the columns are {_listing(table.names)}"
            )

    def _feature_names(self, table: Table) -> list[str]:
        unknown = [n for n in [*self.drop, *(self.only or [])] if n not in table.columns]
        if self.id_column is not None and self.id_column not in table.columns:
            unknown.append(self.id_column)
        if unknown:
            raise DataError(
                f"{table.path}: no column {_listing([repr(u) for u in unknown])}; "
                f"the columns are {_listing(table.names)}"
            )
        skip = {self.target, self.id_column, *self.drop}
        chosen = self.only if self.only is not None else table.names
        return [n for n in chosen if n not in skip]

    def fit(self, table: Table) -> TabularEncoder:
        self._check_target_column(table)
        table, _ = self.training_rows(table)
        names = self._feature_names(table)
        self.dropped = [{"name": n, "why": "--drop"} for n in self.drop]
        if self.id_column is not None:
            self.dropped.append({"name": self.id_column, "why": "--id (carried into predictions)"})
        self.features = []
        for name in names:
            feature = self._fit_column(table, name)
            if feature is not None:
                self.features.append(feature)
        if not self.features:
            raise DataError(f"{table.path}: no feature columns besides the target {self.target!r}")
        self._fit_target(table)
        return self

    def _fit_column(self, table: Table, name: str) -> dict[str, Any] | None:
        view = _view(table, name, self.missing_set)
        gaps = bool(view.missing.any())
        if gaps and self.impute is None:
            raise self._missing_error(table, name, int(np.argmax(view.missing)))
        if view.missing.all():
            self.dropped.append({"name": name, "why": "every cell is missing"})
            return None
        if view.numbers is not None:
            self._check_finite(table, name, view.numbers)
            feature: dict[str, Any] = {"name": name, "kind": "numeric"}
            if self.impute is not None:
                present = view.numbers[~view.missing] if gaps else view.numbers
                feature["fill"] = _fill(present, self.impute)
                feature["indicator"] = gaps and self.impute != "drop"
            return feature
        error = self._not_numbers(table, name, view)
        if error is not None:
            raise error
        date = self._fit_date(table, name, view, gaps)
        if date is not None:
            return date
        return self._fit_categories(table, name, view, gaps)

    def _fit_date(self, table: Table, name: str, view: _View, gaps: bool) -> dict[str, Any] | None:
        if self.impute is None or view.coded is None:
            return None  # the strict rules keep text as categories, as before
        coded = view.coded
        present = np.unique(coded.codes[~view.missing])
        if len(present) < 2:
            return None
        parts = _date_matrix(coded, view.missing)
        if parts is None:
            return None
        fills = [_fill(parts[~view.missing, j], "median") for j in range(len(DATE_PARTS))]
        return {"name": name, "kind": "date", "fill": fills, "indicator": gaps}

    def _fit_categories(
        self, table: Table, name: str, view: _View, gaps: bool
    ) -> dict[str, Any] | None:
        coded = view.coded
        assert coded is not None
        present = ~view.missing
        counts = np.bincount(coded.codes[present], minlength=len(coded.values))
        seen = [(coded.values[i], int(c)) for i, c in enumerate(counts) if c > 0]
        limit = self.max_categories or MAX_CATEGORIES
        if self.strict_categories:
            if len(seen) > MAX_CATEGORIES:
                raise DataError(
                    f"{table.path}: column {name!r} has {len(seen)} distinct text values; "
                    f"a categorical column may have at most {MAX_CATEGORIES} (drop it, e.g. an "
                    "identifier, with --drop, or leave out --strict-categories to group rare "
                    "values)"
                )
        elif len(seen) > NEAR_UNIQUE_MIN and len(seen) > NEAR_UNIQUE_SHARE * present.sum():
            self.dropped.append(
                {
                    "name": name,
                    "why": f"near-unique text ({len(seen)} distinct values in "
                    f"{int(present.sum())} rows: a name or an identifier)",
                }
            )
            return None
        feature: dict[str, Any] = {"name": name, "kind": "categorical"}
        if not self.strict_categories and len(seen) > limit:
            # As scikit-learn's OneHotEncoder(max_categories=N): N−1 frequent + infrequent.
            seen.sort(key=lambda pair: (-pair[1], pair[0]))
            kept = sorted(v for v, _ in seen[: limit - 1])
            feature["infrequent"] = len(seen) - len(kept)
            categories = [*kept, _free(INFREQUENT, kept)]
        else:
            categories = sorted(v for v, _ in seen)
        if gaps and self.impute is not None:
            if self.impute == "most_frequent":
                feature["fill"] = max(seen, key=lambda pair: (pair[1], pair[0]))[0]
            elif self.impute != "drop":
                label = _free("missing", categories)
                categories = [*categories, label]
                feature["missing_category"] = label
        feature["categories"] = categories
        return feature

    def _fit_target(self, table: Table) -> None:
        view = _view(table, self.target, self.missing_set)
        if view.missing.any():  # only when strict: imputing dropped these rows
            raise self._missing_error(table, self.target, int(np.argmax(view.missing)))
        task = self.requested_task
        if task == "auto":
            if view.numbers is None:
                task = "classification"
            else:
                self._check_finite(table, self.target, view.numbers)
                values = view.numbers
                integral = bool(np.all(values == np.round(values)))
                task = (
                    "classification"
                    if integral and len(np.unique(values)) <= AUTO_CLASSES
                    else "regression"
                )
        if task == "regression":
            self._target_numbers(table, view)
            self.classes = None
        else:
            labels = set(_labels(view))
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
            name = feature["name"]
            if feature["kind"] == "numeric":
                names.append(name)
            elif feature["kind"] == "date":
                names.extend(f"{name}:{part}" for part in DATE_PARTS)
            else:
                names.extend(f"{name}={c}" for c in feature["categories"])
            if feature.get("indicator"):
                names.append(f"{name}:missing")
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
        used = set(wanted) | {self.id_column}
        return [n for n in table.names if n not in used and n != self.target]

    def reset_warnings(self) -> None:
        self.warnings = {}

    def _count(self, key: str, count: int) -> None:
        if count:
            self.warnings[key] = self.warnings.get(key, 0) + int(count)

    def transform(self, table: Table, dtype: Any = np.float64) -> np.ndarray:
        """Encoded features (N, len(output_names)): numbers (gaps filled), one-hot
        text, date parts, and a 0/1 indicator after each column that had gaps."""
        self.check_columns(table)
        if len(table) == 0:  # no cell to parse: an empty column reads as neither numbers nor text
            return np.empty((0, len(self.output_names)), dtype=dtype)
        pieces: list[tuple[int, np.ndarray, int]] = []  # (first column, values, one-hot width)
        at = 0
        for feature in self.features:
            view = _view(table, feature["name"], self.missing_set)
            kind = feature["kind"]
            if kind == "numeric":
                pieces.append((at, self._numeric(table, feature, view), 0))
                at += 1
            elif kind == "date":
                pieces.append((at, self._dates(table, feature, view), 0))
                at += len(DATE_PARTS)
            else:
                width = len(feature["categories"])
                pieces.append((at, self._one_hot(table, feature, view), width))
                at += width
            if feature.get("indicator"):
                pieces.append((at, view.missing, 0))
                at += 1
        return _assemble(pieces, len(table), at, dtype)

    def _numeric(self, table: Table, feature: dict[str, Any], view: _View) -> np.ndarray:
        name = feature["name"]
        if view.numbers is None:
            coded = view.coded
            assert coded is not None
            index = _first_unparsed(coded, view.missing)
            raise DataError(
                f"{table.where(index, name)}: {table.cell(index, name)!r} is not a number"
            )
        values = view.numbers
        self._check_finite(table, name, values)
        if view.missing.any():
            if "fill" not in feature:
                raise self._missing_error(table, name, int(np.argmax(view.missing)))
            self._count("filled", int(view.missing.sum()))
            values = np.where(view.missing, feature["fill"], values)
        return values

    def _dates(self, table: Table, feature: dict[str, Any], view: _View) -> np.ndarray:
        coded = view.coded if view.coded is not None else _numbers_as_text(view)
        parts = _date_matrix(coded, view.missing, lenient=True)
        assert parts is not None
        bad = np.isnan(parts[:, 0]) & ~view.missing
        if bad.any():
            index = int(np.argmax(bad))
            raise DataError(
                f"{table.where(index, feature['name'])}: {table.cell(index, feature['name'])!r} "
                "is not a date (the column holds dates)"
            )
        gaps = np.isnan(parts)
        if gaps.any():
            self._count("filled", int(view.missing.sum()))
            parts = np.where(gaps, np.asarray(feature["fill"])[None, :], parts)
        return parts

    def _one_hot(self, table: Table, feature: dict[str, Any], view: _View) -> np.ndarray:
        """Each row's category index (N,) int64, −1 for none (all zeros)."""
        name, categories = feature["name"], feature["categories"]
        coded = view.coded if view.coded is not None else _numbers_as_text(view)
        lookup = {c: k for k, c in enumerate(categories)}
        if view.missing.any() and "missing_category" not in feature and "fill" not in feature:
            if self.impute is None and self.strict_categories:
                raise self._missing_error(table, name, int(np.argmax(view.missing)))
        # Column of each distinct value (−1: none), then one fancy-indexed write.
        slot = np.full(len(coded.values) + 1, -1, dtype=np.int64)
        for index, value in enumerate(coded.values):
            slot[index] = lookup.get(value, -1)
        column = slot[coded.codes]
        missing = view.missing
        if "missing_category" in feature:
            column = np.where(missing, lookup[feature["missing_category"]], column)
        elif "fill" in feature:
            column = np.where(missing, lookup.get(feature["fill"], -1), column)
        else:
            column = np.where(missing, -1, column)
        unseen = (column < 0) & ~missing
        if unseen.any():
            if self.strict_categories:
                index = int(np.argmax(unseen))
                raise DataError(
                    f"{table.where(index, name)}: unknown category {table.cell(index, name)!r} "
                    f"(the model knows {_listing(categories)})"
                )
            self._count(f"unseen categories in {name!r}", int(unseen.sum()))
            if feature.get("infrequent"):
                column = np.where(unseen, len(categories) - 1, column)
        self._count("filled", int((missing & (column >= 0)).sum()))
        return column

    def encode_target(self, table: Table) -> np.ndarray:
        """Class indices (N,) int64, or values (N,) float64 for regression."""
        if self.target not in table.columns:
            raise DataError(
                f"{table.path}: no target column {self.target!r} to evaluate against; "
                f"the columns are {_listing(table.names)}"
            )
        view = _view(table, self.target, self.missing_set)
        if view.missing.any():
            raise self._missing_error(table, self.target, int(np.argmax(view.missing)))
        if self.task == "regression":
            return self._target_numbers(table, view).astype(np.float64)
        classes = self.classes or []
        lookup = {c: k for k, c in enumerate(classes)}
        # Numeric classes were stored in one written form: read these cells the same way.
        # (Models written before that stored the cells as they were, which still match.)
        numeric = all(_parses(c) and _numeric_label(c) == c for c in classes)
        coded = view.coded if view.coded is not None else _numbers_as_text(view)
        slot = np.full(len(coded.values) + 1, -1, dtype=np.int64)
        for index, value in enumerate(coded.values):
            label = value
            if value not in lookup and numeric and _parses(value):
                label = _numeric_label(value)
            slot[index] = lookup.get(label, -1)
        labels = slot[coded.codes]
        if (labels < 0).any():
            index = int(np.argmax(labels < 0))
            raise DataError(
                f"{table.where(index, self.target)}: class {table.cell(index, self.target)!r} "
                f"was not seen in training (classes: {_listing(classes)})"
            )
        return labels

    # ------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "target": self.target,
            "task": self.task,
            "classes": self.classes,
            "features": self.features,
        }
        # Written only when they differ from the strict defaults, so a model trained
        # with the strict rules has the same metadata as before these options existed.
        if self.impute is not None:
            state["impute"] = self.impute
        if self.na_values is not None:
            state["na_values"] = self.na_values
        if not self.strict_categories:
            state["strict_categories"] = False
        if self.max_categories is not None:
            state["max_categories"] = self.max_categories
        if self.dropped:
            state["dropped"] = self.dropped
        if self.id_column is not None:
            state["id_column"] = self.id_column
        return state

    @classmethod
    def from_dict(cls, state: object) -> TabularEncoder:
        """Rebuild from ``to_dict()``; raises ValueError for anything malformed."""
        if not isinstance(state, dict):
            raise ValueError("encoder state must be an object")
        impute = state.get("impute")
        if impute is not None and impute not in IMPUTE:
            raise ValueError(f"encoder impute must be one of {', '.join(IMPUTE)}, got {impute!r}")
        na_values = state.get("na_values")
        if na_values is not None:
            na_values = _texts(na_values, "na_values", allow_empty=True)
        strict = state.get("strict_categories", True)
        if not isinstance(strict, bool):
            raise ValueError(f"encoder strict_categories must be true or false, got {strict!r}")
        id_column = state.get("id_column")
        if id_column is not None:
            _text(id_column, "id_column")
        encoder = cls(
            _text(state.get("target"), "target"),
            impute=impute,
            na_values=na_values,
            strict_categories=strict,
            id_column=id_column,
        )
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
            _check_feature(feature)
        dropped = state.get("dropped", [])
        if not isinstance(dropped, list) or not all(
            isinstance(d, dict) and isinstance(d.get("name"), str) for d in dropped
        ):
            raise ValueError("encoder dropped must be a list of {name, why} objects")
        encoder.features, encoder.dropped = features, dropped
        return encoder


_BLOCK_ROWS = 8192  # rows of the output written at a time: a block stays in the CPU cache


def _assemble(
    pieces: list[tuple[int, np.ndarray, int]], n: int, width: int, dtype: Any
) -> np.ndarray:
    """The (n, width) feature matrix from its pieces: a column (n,) or columns (n, k)
    placed from a first column on, or for a one-hot piece (width k > 0) each row's
    category index (n,), −1 for none.

    Filled block of rows by block of rows: writing whole columns of a row-major matrix
    one after another (as concatenating does) walks all of its memory once per column;
    a block of rows stays in the CPU cache, about twice as fast at 30 columns."""
    out = np.empty((n, width), dtype=dtype)
    for start in range(0, n, _BLOCK_ROWS):
        block = out[start : start + _BLOCK_ROWS]
        for at, values, categories in pieces:
            part = values[start : start + _BLOCK_ROWS]
            if categories:
                block[:, at : at + categories] = part[:, None] == np.arange(categories)
            elif part.ndim == 1:
                block[:, at] = part
            else:
                block[:, at : at + part.shape[1]] = part
    return out


def _check_feature(feature: Any) -> None:
    if not isinstance(feature, dict) or feature.get("kind") not in (
        "numeric",
        "categorical",
        "date",
    ):
        raise ValueError(f"encoder feature {feature!r} is malformed")
    _text(feature.get("name"), "feature name")
    if not isinstance(feature.get("indicator", False), bool):
        raise ValueError(f"encoder feature {feature['name']!r}: indicator must be true or false")
    kind = feature["kind"]
    if kind == "categorical":
        categories = _texts(feature.get("categories"), "categories")
        for key in ("missing_category", "fill"):
            if key in feature and feature[key] not in categories:
                raise ValueError(f"encoder feature {feature['name']!r}: {key} is not a category")
    elif kind == "numeric" and "fill" in feature:
        if not _finite(feature["fill"]):
            raise ValueError(f"encoder feature {feature['name']!r}: fill must be a finite number")
    elif kind == "date":
        fills = feature.get("fill")
        if not isinstance(fills, list) or len(fills) != len(DATE_PARTS):
            raise ValueError(f"encoder feature {feature['name']!r}: fill must list 5 numbers")
        if not all(_finite(v) for v in fills):
            raise ValueError(f"encoder feature {feature['name']!r}: fill must be finite numbers")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _fill(values: np.ndarray, strategy: str) -> float:
    """The value that fills a numeric column's gaps, learned from its present cells."""
    if strategy == "mean":  # divided first: the sum of values near 1e308 overflows
        return float(np.sum(values / len(values)))
    if strategy == "most_frequent":
        unique, counts = np.unique(values, return_counts=True)
        return float(unique[np.argmax(counts)])  # the smallest among ties, as scikit-learn
    if strategy == "constant":
        return 0.0
    # median (and drop, for gaps met when predicting), halves added: 1e308 + 1e308 is inf
    middle = sorted({(len(values) - 1) // 2, len(values) // 2})
    ordered = np.partition(values, middle)  # O(N), not a full sort
    low, high = ordered[middle[0]], ordered[middle[-1]]
    return float(low / 2 + high / 2)


def _free(label: str, taken: Sequence[str]) -> str:
    """``label``, or ``(label)`` when a real category already has that name."""
    while label in taken:
        label = f"({label})"
    return label


def _first_unparsed(coded: Coded | None, missing: np.ndarray | None = None) -> int:
    assert coded is not None
    parses = np.array([_parses(v) for v in coded.values] + [True], dtype=bool)
    bad = ~parses[coded.codes]
    if missing is not None:
        bad &= ~missing
    return int(np.argmax(bad))


def _numbers_as_text(view: _View) -> Coded:
    """A numeric column met where text was trained (a category '1' as the number 1)."""
    assert view.numbers is not None
    values = view.numbers
    unique, codes = np.unique(np.where(np.isnan(values), 0.0, values), return_inverse=True)
    labels = [_label(float(v)) for v in unique]
    codes = np.where(np.isnan(values), -1, codes.reshape(-1))
    return Coded(codes.astype(np.int64), labels)


def _labels(view: _View) -> list[str]:
    """The target's distinct labels, numbers in one written form."""
    if view.numbers is not None:
        return [_label(float(v)) for v in np.unique(view.numbers)]
    assert view.coded is not None
    used = np.unique(view.coded.codes)
    return [view.coded.values[i] for i in used if i >= 0]


def _date_matrix(coded: Coded, missing: np.ndarray, lenient: bool = False) -> np.ndarray | None:
    """(N, 5) date parts, NaN rows where missing; None when a present value is not a
    date (unless ``lenient``: then its row is NaN too)."""
    table = np.full((len(coded.values) + 1, len(DATE_PARTS)), np.nan)
    used = np.zeros(len(coded.values) + 1, dtype=bool)
    used[np.unique(coded.codes[~missing])] = True
    for index, value in enumerate(coded.values):
        if not used[index]:
            continue
        when = _date(value)
        if when is None:
            if not lenient:
                return None
            continue
        table[index] = _date_parts(when)
    parts = table[coded.codes]
    parts[missing] = np.nan
    return parts


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"encoder {what} must be a string, got {value!r}")
    return value


def _texts(values: Any, what: str, allow_empty: bool = False) -> list[str]:
    if not isinstance(values, list) or (not values and not allow_empty):
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
