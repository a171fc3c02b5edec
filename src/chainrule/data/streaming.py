"""Training data larger than memory: (x, y) batches streamed from Parquet files or a CSV.

``StreamingDataset(path, target)`` reads a folder of Parquet files or one Parquet file
through ``pyarrow.dataset`` (row group by row group), or one (large) CSV file through
``pyarrow.csv.open_csv`` (block by block), one Arrow record batch at a time, so memory
holds a few record batches and the shuffle buffer — never the whole data set:

- ``fit()`` makes **one streaming pass** and learns what ``chainrule.data`` learns from
  a table in memory, into the same objects: a ``TabularEncoder`` (column kinds,
  sorted categories, target classes, imputation values) and a ``StandardScaler`` for
  the encoded columns (and ``target_scaler`` for a regression target). The scaler's
  moments are exact (Chan et al.'s pairwise merge of count, mean and sum of squared
  deviations per record batch), and derived for the encoded columns without a second
  pass: a one-hot or indicator column with share p of ones has mean p and variance
  p(1 − p); a numeric column whose gaps are filled with f merges the present values'
  moments with those of the filled cells (all f, no spread).
- ``batches(batch_size, epoch=…)`` yields ``(x, y)`` NumPy batches, encoded and
  standardised by the fitted objects. Per epoch (seeded by ``seed`` and the epoch) the
  order of the pieces (files, or Parquet row groups) is shuffled and rows are mixed in
  a shuffle buffer of ``shuffle_buffer`` rows — the usual streaming compromise: rows
  more than a buffer apart in the files rarely meet in one batch.
- ``rank``/``world_size`` (data-parallel training): each rank reads a contiguous block
  of the Parquet row groups (``distributed.shard_bounds``), so it opens only its part
  of the data; a CSV has no row groups, so its record batches are dealt round-robin
  (every rank parses the file; convert large CSVs to Parquet for sharded reading).
  Statistics are fitted over *all* rows (rank 0 fits them and broadcasts
  ``state_dict()``; the others ``load_state_dict`` it).

Differences from ``TabularEncoder.fit`` on a table in memory, because one pass cannot
keep every value: imputation is ``None`` (strict), ``"mean"`` or ``"constant"`` (a median
or a most frequent number needs all values); text columns are categories (no date
detection). With those, the encoder equals ``TabularEncoder.fit`` on the whole table
(a test checks it).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import DataError
from .scaling import _FLOAT64_EPS, StandardScaler
from .tabular import (
    AUTO_CLASSES,
    MAX_CATEGORIES,
    TabularEncoder,
    _class_order,
    _free,
    _labels,
    _listing,
    _view,
)

__all__ = ["StreamingDataset"]

STREAMING_IMPUTE = (None, "mean", "constant")
_PARQUET_SUFFIXES = (".parquet", ".pq")


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "streaming data sets need pyarrow: pip install 'chainrule[data]'"
        ) from error


@dataclass
class _Moments:
    """Count, mean and sum of squared deviations, merged batch by batch (Chan et al.):
    exact up to rounding, stable where Σx² − (Σx)²/n is not."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, values: np.ndarray) -> None:
        n = len(values)
        if n == 0:
            return
        mean = float(values.mean())
        m2 = float(np.square(values - mean).sum())
        self.merge(n, mean, m2)

    def merge(self, n: int, mean: float, m2: float) -> None:
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.count * n / total
        self.count = total


@dataclass
class _Column:
    """What one pass learns about a feature column."""

    numeric: bool | None = None  # None until a batch with a present cell says
    moments: _Moments = field(default_factory=_Moments)
    counts: dict[str, int] = field(default_factory=dict)
    missing: int = 0


def _scale_or_one(mean: float, var: float, n: int) -> float:
    """The scale for a column: sqrt(var), or 1 when the column is constant up to
    rounding (scikit-learn's bound, as ``StandardScaler.fit``)."""
    bound = n * _FLOAT64_EPS * var + (n * mean * _FLOAT64_EPS) ** 2
    return 1.0 if var <= bound else math.sqrt(var)


class StreamingDataset:
    """(x, y) batches from Parquet files or a CSV larger than memory; see the module doc.

    ``path``: a folder of ``.parquet`` files (read in sorted name order), one Parquet
    file, or one CSV file. ``target``: the target column. ``impute``: None, ``"mean"``
    or ``"constant"``. ``task``, ``na_values``, ``drop``, ``columns``: as
    ``TabularEncoder``. ``read_rows``: rows per Arrow record batch read.
    ``shuffle_buffer``: rows mixed before batches are drawn. ``dtype``: of ``x``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        target: str,
        *,
        task: str = "auto",
        impute: str | None = None,
        na_values: Sequence[str] | None = None,
        drop: Sequence[str] = (),
        columns: Sequence[str] | None = None,
        read_rows: int = 16384,
        shuffle_buffer: int = 65536,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        scale: bool = True,
        dtype: Any = np.float32,
        delimiter: str | None = None,
        decimal: str = ".",
    ) -> None:
        from .reading import check_delimiter

        if delimiter is not None:
            check_delimiter(delimiter)
        if decimal not in (".", ","):
            raise ValueError(f"StreamingDataset decimal expected '.' or ',', got {decimal!r}")
        if impute not in STREAMING_IMPUTE:
            raise ValueError(
                f"StreamingDataset impute expected None, 'mean' or 'constant' (one pass "
                f"cannot keep every value for a median), got {impute!r}"
            )
        for name, value in (("read_rows", read_rows), ("shuffle_buffer", shuffle_buffer)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"StreamingDataset {name} expected a positive int, got {value!r}")
        from ..distributed.shard import shard_bounds

        shard_bounds(0, rank, world_size)  # checks rank and world_size
        self.path = os.fspath(path)
        self.encoder = TabularEncoder(
            target, task, impute=impute, na_values=na_values, drop=drop, columns=columns
        )
        self.read_rows, self.shuffle_buffer, self.seed = read_rows, shuffle_buffer, seed
        self.rank, self.world_size = rank, world_size
        self.scale, self.dtype = scale, np.dtype(dtype)
        self.scaler: StandardScaler | None = None
        self.target_scaler: StandardScaler | None = None
        self.rows_seen: int | None = None
        self.delimiter, self.decimal = delimiter, decimal
        self._format, self._files = self._find_files()
        if self._format != "csv" and (delimiter is not None or decimal != "."):
            raise ValueError(f"{self.path}: delimiter and decimal apply to a CSV file, not Parquet")

    # ------------------------------------------------------------------ the files
    def _find_files(self) -> tuple[str, list[str]]:
        path = self.path
        if os.path.isdir(path):
            files = sorted(
                os.path.join(path, name)
                for name in os.listdir(path)
                if name.lower().endswith(_PARQUET_SUFFIXES)
                and os.path.isfile(os.path.join(path, name))
            )
            if not files:
                raise DataError(f"{path}: a folder with no .parquet files to stream")
            return "parquet", files
        if not os.path.isfile(path):
            raise DataError(f"{path}: expected a folder of Parquet files or a file, found none")
        lower = path.lower()
        if lower.endswith(_PARQUET_SUFFIXES):
            return "parquet", [path]
        if lower.endswith(".csv"):
            return "csv", [path]
        raise DataError(f"{path}: expected .parquet, .pq or .csv to stream, got {path!r}")

    def _pieces(self) -> list[Any]:
        """Every piece this dataset can read, in a fixed order: the Parquet row groups
        of each file (sorted names), or the CSV file as one piece."""
        _require_pyarrow()
        import pyarrow as pa

        try:
            return self._arrow_pieces()
        except (pa.ArrowInvalid, pa.ArrowException, OSError) as error:
            raise DataError(f"{self.path}: {_one_line(error)}") from None

    def _arrow_pieces(self) -> list[Any]:
        if self._format == "csv":
            return [
                _CsvPiece(self._files[0], self.encoder.missing_set, self.delimiter, self.decimal)
            ]
        import pyarrow.parquet as pq

        pieces: list[Any] = []
        names: list[str] | None = None
        for path in self._files:
            metadata = pq.read_metadata(path)
            found = metadata.schema.to_arrow_schema().names
            if names is None:
                names = found
            elif lacking := [name for name in names if name not in found]:
                raise DataError(
                    f"{path}: no column(s) {_listing(lacking)}, which {self._files[0]} has; "
                    "every Parquet file of a data set needs the same columns"
                )
            pieces.extend(
                _ParquetPiece(path, group, names) for group in range(metadata.num_row_groups)
            )
        return pieces

    def _record_batches(
        self, pieces: Sequence[Any], deal: tuple[int, int] | None = None
    ) -> Iterator[Any]:
        """Arrow record batches of ``pieces``; ``deal=(rank, size)`` keeps every size-th."""
        import pyarrow as pa

        index = 0
        for piece in pieces:
            batches = iter(piece.to_batches(batch_size=self.read_rows))
            while True:
                try:
                    batch = next(batches)
                except StopIteration:
                    break
                except (pa.ArrowInvalid, pa.ArrowException, OSError) as error:
                    # e.g. a CSV column typed from its first block that later holds text,
                    # or a CSV file gone since (it is opened at its first record batch)
                    where = getattr(piece, "path", self.path)
                    raise DataError(f"{where}: {_one_line(error)}") from None
                if batch.num_rows == 0:
                    continue
                if deal is None or index % deal[1] == deal[0]:
                    yield batch
                index += 1

    def _table(self, batch: Any) -> Any:
        from .reading import _decimal_comma_numbers, _from_arrow

        table = _from_arrow(batch, self.path)
        if self.decimal == ",":
            return _decimal_comma_numbers(table, self.encoder.missing_set)
        return table

    # ------------------------------------------------------------------ fitting
    def fit(self) -> StreamingDataset:
        """One pass over all rows (every rank's): the encoder and scalers; returns self."""
        encoder = self.encoder
        missing_set = encoder.missing_set
        stats: dict[str, _Column] = {}
        names: list[str] | None = None
        target = _Target()
        rows = 0
        for batch in self._record_batches(self._pieces()):
            table = self._table(batch)
            if names is None:
                encoder._check_target_column(table)
                names = encoder._feature_names(table)
                stats = {name: _Column() for name in names}
            rows += len(table)
            for name in names:
                self._learn_column(table, name, stats[name], missing_set)
            target.learn(table, encoder, missing_set)
        if names is None or rows == 0:
            raise DataError(f"{self.path}: no rows to learn from")
        self._build_encoder(stats, target, rows)
        self._build_scalers(stats, target, rows)
        self.rows_seen = rows
        return self

    def _learn_column(
        self, table: Any, name: str, column: _Column, missing_set: frozenset[str]
    ) -> None:
        view = _view(table, name, missing_set)
        gaps = int(view.missing.sum())
        column.missing += gaps
        if gaps == len(table):
            return  # all missing here: says nothing about the kind
        numeric = view.numbers is not None
        if column.numeric is None:
            column.numeric = numeric
        elif column.numeric != numeric:
            raise DataError(
                f"{self.path}: column {name!r} holds numbers in some record batches and text "
                "in others; a streamed column needs one kind (fix the cells, or write the "
                "column as text)"
            )
        if view.numbers is not None:
            numbers = view.numbers
            present = numbers[~view.missing] if gaps else numbers
            if not np.isfinite(present).all():
                index = int(np.argmax(~np.isfinite(numbers) & ~view.missing))
                raise DataError(
                    f"{table.where(index, name)}: {table.cell(index, name)!r} is not "
                    "a finite number"
                )
            column.moments.add(present)
            return
        coded = view.coded
        assert coded is not None  # a column without numbers is coded (_view)
        counts = np.bincount(coded.codes[~view.missing], minlength=len(coded.values))
        for code in np.flatnonzero(counts):
            value = coded.values[int(code)]
            column.counts[value] = column.counts.get(value, 0) + int(counts[code])

    def _build_encoder(self, stats: dict[str, _Column], target: _Target, rows: int) -> None:
        encoder = self.encoder
        encoder.features, encoder.dropped = [], [{"name": n, "why": "--drop"} for n in encoder.drop]
        for name, column in stats.items():
            if column.missing and encoder.impute is None:
                raise DataError(
                    f"{self.path}: column {name!r} has {column.missing} missing cells (missing "
                    "values are not supported here; stream with impute='mean' or 'constant')"
                )
            if column.numeric is None:
                encoder.dropped.append({"name": name, "why": "every cell is missing"})
                continue
            feature: dict[str, Any] = {"name": name}
            if column.numeric:
                feature["kind"] = "numeric"
                if encoder.impute is not None:
                    mean = column.moments.mean
                    feature["fill"] = float(mean) if encoder.impute == "mean" else 0.0
                    feature["indicator"] = column.missing > 0
            else:
                categories = sorted(column.counts)
                if len(categories) > MAX_CATEGORIES:
                    raise DataError(
                        f"{self.path}: column {name!r} has {len(categories)} distinct text "
                        f"values; a categorical column may have at most {MAX_CATEGORIES} "
                        "(drop it, e.g. an identifier)"
                    )
                feature["kind"] = "categorical"
                if column.missing:
                    label = _free("missing", categories)
                    categories = [*categories, label]
                    feature["missing_category"] = label
                feature["categories"] = categories
            encoder.features.append(feature)
        if not encoder.features:
            raise DataError(
                f"{self.path}: no feature columns besides the target {encoder.target!r}"
            )
        target.decide(encoder, self.path)

    def _build_scalers(self, stats: dict[str, _Column], target: _Target, rows: int) -> None:
        """The scaler of the encoded columns, from the one pass's moments and counts."""
        if not self.scale:
            return
        means: list[float] = []
        scales: list[float] = []
        variances: list[float] = []

        def add(mean: float, var: float) -> None:
            means.append(mean)
            variances.append(var)
            scales.append(_scale_or_one(mean, var, rows))

        def share(count: int) -> None:
            p = count / rows
            add(p, p * (1.0 - p))

        for feature in self.encoder.features:
            column = stats[feature["name"]]
            if feature["kind"] == "numeric":
                moments = _Moments(column.moments.count, column.moments.mean, column.moments.m2)
                if column.missing:
                    moments.merge(column.missing, float(feature["fill"]), 0.0)
                add(moments.mean, moments.m2 / moments.count)
                if feature.get("indicator"):
                    share(column.missing)
            else:
                for category in feature["categories"]:
                    if category == feature.get("missing_category"):
                        share(column.missing)
                    else:
                        share(column.counts.get(category, 0))
        self.scaler = StandardScaler.from_dict(
            {
                "with_mean": True,
                "with_std": True,
                "n_features_in": len(means),
                "n_samples_seen": rows,
                "mean": means,
                "var": variances,
                "scale": scales,
            }
        )
        if self.encoder.task == "regression":
            m = target.moments
            self.target_scaler = StandardScaler.from_dict(
                {
                    "with_mean": True,
                    "with_std": True,
                    "n_features_in": 1,
                    "n_samples_seen": m.count,
                    "mean": [m.mean],
                    "var": [m.m2 / m.count],
                    "scale": [_scale_or_one(m.mean, m.m2 / m.count, m.count)],
                }
            )

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """The fitted statistics as plain JSON values (to broadcast, or to store)."""
        self._check_fitted("state_dict")
        return {
            "encoder": self.encoder.to_dict(),
            "scaler": None if self.scaler is None else self.scaler.to_dict(),
            "target_scaler": None if self.target_scaler is None else self.target_scaler.to_dict(),
            "rows": self.rows_seen,
        }

    def load_state_dict(self, state: dict[str, Any]) -> StreamingDataset:
        """Take fitted statistics from ``state_dict()`` (e.g. rank 0's) instead of ``fit``."""
        self.encoder = TabularEncoder.from_dict(state["encoder"])
        self.scaler = None if state["scaler"] is None else StandardScaler.from_dict(state["scaler"])
        scaler = state.get("target_scaler")
        self.target_scaler = None if scaler is None else StandardScaler.from_dict(scaler)
        self.rows_seen = state.get("rows")
        return self

    def _check_fitted(self, method: str) -> None:
        if self.encoder.task is None:
            raise RuntimeError(
                f"StreamingDataset.{method} called before fit: call fit() or load_state_dict()"
            )

    # ------------------------------------------------------------------ batches
    def encode(self, table: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of one ``Table``: encoded, standardised, ``x`` in ``dtype``."""
        x = self.encoder.transform(table)
        if self.scaler is not None:
            x = self.scaler.transform(x)
        y = self.encoder.encode_target(table)
        if self.target_scaler is not None:
            y = self.target_scaler.transform(y[:, None])[:, 0]
        return x.astype(self.dtype, copy=False), y

    def _my_pieces(self, epoch: int, shuffle: bool) -> tuple[list[Any], tuple[int, int] | None]:
        pieces = self._pieces()
        deal = None
        if self._format == "parquet":
            from ..distributed.shard import shard_bounds

            start, stop = shard_bounds(len(pieces), self.rank, self.world_size)
            pieces = pieces[start:stop]
        elif self.world_size > 1:
            deal = (self.rank, self.world_size)
        if shuffle:
            order = np.random.default_rng([self.seed, epoch, self.rank, 1]).permutation(len(pieces))
            pieces = [pieces[i] for i in order]
        return pieces, deal

    def batches(
        self, batch_size: int, epoch: int = 0, shuffle: bool = True, drop_last: bool = False
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(x (b, F), y (b,))`` batches of this rank's rows for one epoch.

        Memory: one decoded record batch (``read_rows`` rows) and the shuffle buffer,
        one preallocated array of ``shuffle_buffer + batch_size + read_rows`` encoded
        rows (plus, when it is compacted, a copy of the rows it keeps). The last batch
        may be smaller unless ``drop_last``.
        """
        self._check_fitted("batches")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batches expected a positive int batch_size, got {batch_size!r}")
        rng = np.random.default_rng([self.seed, epoch, self.rank, 2]) if shuffle else None
        pieces, deal = self._my_pieces(epoch, shuffle)
        # Emptied (at least one batch) whenever it holds shuffle_buffer + batch_size rows,
        # it never has to hold more than that plus one record batch.
        full = self.shuffle_buffer + batch_size
        buffer = _Buffer(full + self.read_rows)
        for record_batch in self._record_batches(pieces, deal):
            buffer.append(*self.encode(self._table(record_batch)))
            if buffer.held < full:
                continue
            # Emit all but about half a buffer, in whole batches: what stays mixes with
            # the next record batches.
            out = (buffer.held - self.shuffle_buffer // 2) // batch_size * batch_size
            yield from buffer.take(out, batch_size, rng)
        yield from buffer.take(buffer.held, batch_size, rng, drop_last=drop_last)

    def __repr__(self) -> str:
        return (
            f"StreamingDataset({self.path!r}, target={self.encoder.target!r}, "
            f"{len(self._files)} {self._format} file(s), rank {self.rank}/{self.world_size})"
        )


def _one_line(error: BaseException) -> str:
    """Arrow's message without its repetitions: the part after the last 'Invalid: '
    (the parse error itself), on one line."""
    text = " ".join(str(error).split())
    return text.rsplit("Invalid: ", 1)[-1] or type(error).__name__


class _ParquetPiece:
    """One row group of a Parquet file, read a record batch at a time.

    Not ``pyarrow.dataset``: its scan decodes a whole row group at once, and pyarrow
    writes row groups of up to a million rows by default (a file of one 250 MiB row
    group took 620 MiB of peak RSS to stream). ``ParquetFile.iter_batches`` without
    pre-buffering, through a small buffered stream, decodes pages as the batches need
    them: memory is a page or two per column (pyarrow writes pages of 1 MiB, and a
    dictionary page of up to 1 MiB), whatever the row group's size."""

    def __init__(self, path: str, row_group: int, columns: list[str]) -> None:
        self.path, self.row_group, self.columns = path, row_group, columns

    def to_batches(self, batch_size: int) -> Iterator[Any]:
        """Record batches of at most ``batch_size`` rows, the columns in ``columns``'
        order."""
        import pyarrow.parquet as pq

        with pq.ParquetFile(self.path, pre_buffer=False, buffer_size=1 << 16) as file:
            yield from file.iter_batches(
                batch_size=batch_size, row_groups=[self.row_group], columns=self.columns
            )


class _CsvPiece:
    """A CSV file read as a stream of record batches, one 1 MiB block of text at a time.

    Not ``pyarrow.dataset``: its CSV scan decodes the whole file ahead of a slower
    consumer whatever ``batch_readahead`` says (a 600 MiB CSV reached 900 MiB of peak
    RSS while training), where ``pyarrow.csv.open_csv`` holds a few dozen blocks (about
    35 MiB) whatever the file's size. Column types come from the first block, as
    ``pyarrow.dataset``'s would."""

    def __init__(
        self, path: str, missing: frozenset[str], delimiter: str | None, decimal: str
    ) -> None:
        self.path, self.missing = path, missing
        self.delimiter, self.decimal = delimiter or ",", decimal

    def to_batches(self, batch_size: int) -> Iterator[Any]:
        """Record batches of at most ``batch_size`` rows (slices of a block: no copy)."""
        import pyarrow.csv as pacsv

        from .reading import _arrow_null_values

        reader = pacsv.open_csv(
            self.path,
            read_options=pacsv.ReadOptions(block_size=1 << 20),
            parse_options=pacsv.ParseOptions(delimiter=self.delimiter),
            convert_options=pacsv.ConvertOptions(
                decimal_point=self.decimal,
                null_values=_arrow_null_values(self.missing),
                strings_can_be_null=True,
                true_values=["\x00true"],
                false_values=["\x00false"],
            ),
        )
        with reader:
            for block in reader:
                for start in range(0, block.num_rows, batch_size):
                    yield block.slice(start, batch_size)


class _Buffer:
    """The shuffle buffer: ``capacity`` rows of x (and y), allocated at the first append;
    ``take`` hands out ``count`` rows drawn at random in batches and keeps the rest."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.held = capacity, 0
        self.x: np.ndarray | None = None
        self.y: np.ndarray | None = None

    def append(self, x: np.ndarray, y: np.ndarray) -> None:
        if self.x is None or self.y is None:
            self.x = np.empty((self.capacity, *x.shape[1:]), dtype=x.dtype)
            self.y = np.empty((self.capacity, *y.shape[1:]), dtype=y.dtype)
        stop = self.held + len(x)
        if stop > self.capacity:
            raise RuntimeError(f"shuffle buffer of {self.capacity} rows got {stop}")
        self.x[self.held : stop] = x
        self.y[self.held : stop] = y
        self.held = stop

    def take(
        self,
        count: int,
        batch_size: int,
        rng: np.random.Generator | None,
        drop_last: bool = False,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if self.held == 0 or count <= 0 or self.x is None or self.y is None:
            return
        x, y = self.x, self.y
        order = np.arange(self.held) if rng is None else rng.permutation(self.held)
        for start in range(0, count, batch_size):
            if drop_last and start + batch_size > count:
                break
            rows = order[start : min(start + batch_size, count)]
            yield x[rows], y[rows]  # fancy indexing: copies, the buffer moves on
        kept = order[count:]
        if rng is None:  # in order: the kept rows are a block, moved to the front
            x[: len(kept)] = x[count : self.held]
            y[: len(kept)] = y[count : self.held]
        else:
            x[: len(kept)] = x[kept]
            y[: len(kept)] = y[kept]
        self.held = len(kept)


class _Target:
    """What one pass learns about the target: labels (up to a limit) and moments."""

    def __init__(self) -> None:
        self.labels: set[str] = set()
        self.too_many = False
        self.numeric = True
        self.integral = True
        self.moments = _Moments()

    def learn(self, table: Any, encoder: TabularEncoder, missing_set: frozenset[str]) -> None:
        view = _view(table, encoder.target, missing_set)
        if view.missing.any():
            index = int(np.argmax(view.missing))
            raise encoder._missing_error(table, encoder.target, index)
        if view.numbers is None:
            self.numeric = False
        else:
            values = view.numbers
            if not np.isfinite(values).all():
                index = int(np.argmax(~np.isfinite(values)))
                raise DataError(
                    f"{table.where(index, encoder.target)}: "
                    f"{table.cell(index, encoder.target)!r} is not a finite number"
                )
            self.integral = self.integral and bool(np.all(values == np.round(values)))
            self.moments.add(values)
        if not self.too_many:
            self.labels.update(_labels(view))
            # Regression targets have a label per distinct value: stop keeping them.
            self.too_many = self.numeric and len(self.labels) > max(AUTO_CLASSES, 1000)

    def decide(self, encoder: TabularEncoder, path: str) -> None:
        task = encoder.requested_task
        if task == "auto":
            if not self.numeric:
                task = "classification"
            else:
                few = not self.too_many and len(self.labels) <= AUTO_CLASSES
                task = "classification" if self.integral and few else "regression"
        if task == "regression":
            if not self.numeric:
                raise DataError(f"{path}: the target {encoder.target!r} is not numbers")
            encoder.classes = None
        else:
            if self.too_many:
                raise DataError(
                    f"{path}: the target {encoder.target!r} has more than "
                    f"{max(AUTO_CLASSES, 1000)} distinct values for classification"
                )
            if len(self.labels) < 2:
                raise DataError(
                    f"{path}: column {encoder.target!r} (the target) has a single class "
                    f"{_listing(sorted(self.labels))}; classification needs at least two"
                )
            encoder.classes = _class_order(self.labels)
        encoder.task = task
