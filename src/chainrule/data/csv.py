"""Reading CSV files strictly: every problem is a ``DataError`` naming file, row and column.

Only regular files are read (a FIFO, a device or a folder is refused before a byte is
read), at most ``MAX_BYTES`` of them, and the first kilobytes are checked for binary
content (NUL bytes, UTF-16, or the magic bytes of zip, gzip, Parquet, PNG, safetensors…).

Rules: comma-separated, UTF-8 (a byte-order mark is accepted), a header row of
distinct non-empty names, every row as long as the header, no missing cells (empty,
``NA``, ``nan``, ``null``, ``?``). Rows are numbered as lines of the file: the header
is row 1. Blank lines are skipped. This module only splits text into named columns;
``chainrule.data.tabular`` turns the columns into numbers.
"""

from __future__ import annotations

import csv
import io
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._regular_file import read_regular_file
from .errors import DataError

MISSING = frozenset({"", "na", "n/a", "nan", "-nan", "null", "none", "?", "#n/a"})
_OTHER_DELIMITERS = (";", "\t", "|", ",")
# Files larger than this are almost certainly not what a CPU MLP trainer should
# read into memory as text; refusing early beats a long wait and a MemoryError.
MAX_BYTES = 2_000_000_000


@dataclass
class Table:
    """A data file as named columns.

    ``columns[name]`` is a list of text cells (the strict reader), or, from the Arrow
    reader and DataFrames, a float64 array (NaN where a cell is missing) or a
    ``Coded`` text column. ``rows[i]`` is the file row (line number) of the i-th
    record, for messages; a fast reader leaves it empty and gives ``strict``, which
    re-reads the file with the strict reader when a message needs a row or the
    text of a cell as it was written (only on the error path). ``notes`` are
    one-line remarks for the user (a dropped index column, a slower reader).
    """

    path: str
    names: list[str]
    columns: dict[str, Any]
    rows: list[int] = field(default_factory=list)
    length: int | None = None
    strict: Callable[[], Table] | None = None
    positions: Any = None  # original record indices after ``take``
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows) if self.length is None else self.length

    def _original(self, index: int) -> int:
        return int(self.positions[index]) if self.positions is not None else index

    def _strict_table(self) -> Table | None:
        if self.strict is None:
            return None
        cached = self.__dict__.get("_strict_cache")
        if cached is None:
            cached = self.strict()
            self.__dict__["_strict_cache"] = cached
        return cached

    def row(self, index: int) -> int | None:
        """The file row (line number) of the i-th record, if known."""
        if self.rows:
            return self.rows[index]
        strict = self._strict_table()
        if strict is not None and strict.rows:
            return strict.rows[self._original(index)]
        return None

    def cell(self, index: int, column: str) -> str:
        """The i-th record's cell of ``column`` as text, as written in the file."""
        values = self.columns[column]
        if isinstance(values, list):
            return values[index]
        strict = self._strict_table()
        if strict is not None and isinstance(strict.columns.get(column), list):
            return strict.columns[column][self._original(index)]
        return _as_text(values, index)

    def where(self, index: int, column: str | None = None) -> str:
        """``'data.csv: row 7, column 'age''`` for the i-th record."""
        row = self.row(index)
        if row is None:
            text = f"{self.path}: data row {self._original(index) + 1}"
        else:
            text = f"{self.path}: row {row}"
        return text + (f", column {column!r}" if column is not None else "")

    def take(self, indices: Any) -> Table:
        """The records at ``indices`` (an integer array), messages still naming file rows."""
        import numpy as np

        indices = np.asarray(indices, dtype=np.int64)
        columns: dict[str, Any] = {}
        for name, values in self.columns.items():
            if isinstance(values, list):
                columns[name] = [values[i] for i in indices]
            elif isinstance(values, Coded):
                columns[name] = Coded(values.codes[indices], values.values)
            else:
                columns[name] = values[indices]
        rows = [self.rows[i] for i in indices] if self.rows else []
        base = self.positions[indices] if self.positions is not None else indices
        return Table(
            self.path,
            list(self.names),
            columns,
            rows,
            None if rows else len(indices),
            self.strict,
            None if rows else base,
            list(self.notes),
        )

    def select(self, names: list[str]) -> Table:
        """The same records with only the columns ``names`` (in that order)."""
        table = Table(
            self.path,
            list(names),
            {n: self.columns[n] for n in names},
            self.rows,
            self.length,
            self.strict,
            self.positions,
            list(self.notes),
        )
        if "_strict_cache" in self.__dict__:
            table.__dict__["_strict_cache"] = self.__dict__["_strict_cache"]
        return table


@dataclass
class Coded:
    """A text column as codes into its distinct values: ``values[codes[i]]`` is cell i,
    code -1 a missing cell (a null of the file format)."""

    codes: Any  # (N,) integer array
    values: list[str]

    def __len__(self) -> int:
        return len(self.codes)

    def cells(self) -> list[str | None]:
        return [None if c < 0 else self.values[c] for c in self.codes.tolist()]


def _as_text(values: Any, index: int) -> str:
    if isinstance(values, Coded):
        code = int(values.codes[index])
        return "" if code < 0 else values.values[code]
    value = values[index]
    if isinstance(value, float) and value != value:  # NaN: a missing cell
        return ""
    return str(value)


# What a file is when it starts with these bytes, for "this is X, not a CSV file".
# Checked on the first kilobytes, so a disk image or a model file is refused at once
# rather than after reading (and failing to decode) up to MAX_BYTES of it.
_MAGIC = (
    (b"PK\x03\x04", "a zip archive"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"\x1f\x8b", "gzip-compressed data; decompress it first"),
    (b"BZh", "bzip2-compressed data; decompress it first"),
    (b"\xfd7zXZ\x00", "xz-compressed data; decompress it first"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data; decompress it first"),
    (b"PAR1", "a Parquet file"),
    (b"ARROW1", "an Arrow/Feather file"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"\x93NUMPY", "a NumPy .npy array"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel .xls workbook: export it as CSV"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "an executable program"),
)
_PICKLE_PROTOCOLS = b"\x02\x03\x04\x05"
SNIFF_BYTES = 8192  # how much of the start is checked before the whole file is read


def _looks_like(head: bytes) -> str | None:
    """What binary format ``head`` (the first bytes of a file) is in, if a known one."""
    if head.startswith(b"PK\x03\x04"):  # spreadsheets are zip archives: name them
        if b"opendocument.spreadsheet" in head:
            return "an OpenDocument .ods spreadsheet: export it as CSV"
        if b"[Content_Types].xml" in head or b"xl/" in head:
            return "an Excel .xlsx workbook: export it as CSV"
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    # safetensors: an 8-byte little-endian header length, then the JSON header.
    if len(head) >= 10 and head[8:10] in (b'{"', b"{}", b"{ "):
        if 2 <= int.from_bytes(head[:8], "little") <= 100_000_000:
            return "a safetensors model file"
    if len(head) >= 2 and head[0] == 0x80 and head[1] in _PICKLE_PROTOCOLS:
        return "a Python pickle"
    return None


def _utf16_without_mark(head: bytes) -> bool:
    """ASCII text saved as UTF-16 without a byte-order mark: every other byte is NUL."""
    sample = head[: len(head) - len(head) % 2]
    if len(sample) < 4:
        return False
    for zeros, chars in ((sample[1::2], sample[0::2]), (sample[0::2], sample[1::2])):
        if not zeros.strip(b"\x00") and chars.count(b"\x00") == 0:
            return True
    return False


def _refuse_binary(path: str, head: bytes) -> None:
    """Raise a DataError if the start of a file shows it is not UTF-8 CSV text."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        raise DataError(f"{path}: the file is UTF-32 text; save it as UTF-8 CSV")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # a UTF-16 byte-order mark
        raise DataError(f"{path}: the file is UTF-16 text; save it as UTF-8 CSV")
    kind = _looks_like(head)
    if kind is not None:
        raise DataError(f"{path}: this is a binary file (looks like {kind}), not a CSV file")
    if _utf16_without_mark(head):
        raise DataError(
            f"{path}: a NUL byte at byte {head.index(0)}: this is a binary file, or UTF-16 text "
            "without a byte-order mark; save it as UTF-8 CSV"
        )
    nul = head.find(b"\x00")
    if nul >= 0:
        row = head.count(b"\n", 0, nul) + 1
        raise DataError(
            f"{path}: row {row}: a NUL byte at byte {nul}: this is a binary file, not CSV text"
        )


def _peek(path: str) -> tuple[bytes, int] | None:
    """The first SNIFF_BYTES of ``path`` and its size if it is a regular file, else None
    (the shared reader then says what is wrong with it). Non-blocking, so a FIFO cannot
    hang here."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            return None
        return os.read(descriptor, SNIFF_BYTES), info.st_size
    except OSError:
        return None
    finally:
        os.close(descriptor)


def _read_bytes(path: str) -> bytes:
    """The file's bytes: a regular file only, its start checked for binary content
    first, then read up to MAX_BYTES (counted on the bytes read: ``st_size`` only
    refuses a file early when it already says it is too large)."""
    peeked = _peek(path)
    if peeked is not None:
        head, size = peeked
        _refuse_binary(path, head)
        if size > MAX_BYTES:
            raise DataError(f"{path}: {size} bytes is larger than the {MAX_BYTES}-byte limit")
    return read_regular_file(path, what="a CSV file", error=DataError, max_bytes=MAX_BYTES)


def _decode(path: str, raw: bytes) -> str:
    _refuse_binary(path, raw[:SNIFF_BYTES])  # again: the file may have changed since
    nul = raw.find(b"\x00")
    if nul >= 0:
        row = raw.count(b"\n", 0, nul) + 1
        raise DataError(
            f"{path}: row {row}: a NUL byte at byte {nul}: this is a binary file, not CSV text"
        )
    try:
        # utf-8-sig drops a leading byte-order mark (Excel writes one).
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        row = raw.count(b"\n", 0, error.start) + 1
        raise DataError(
            f"{path}: row {row}: invalid UTF-8 at byte {error.start} (save the file as UTF-8 CSV)"
        ) from None


def read_csv(path: str | os.PathLike) -> Table:
    """Read a CSV file into a ``Table`` of text cells, or raise a one-line ``DataError``.

    This is the strict reader, pure Python; ``chainrule.data.read_table`` reads the
    same files faster through Apache Arrow and comes back here for precise messages.
    """
    name = os.fspath(path)
    return parse_csv_bytes(name, _read_bytes(name))


def parse_csv_bytes(name: str, raw: bytes, delimiter: str = ",") -> Table:
    """The strict reader on the bytes of a file named ``name`` (for messages)."""
    text = _decode(name, raw)
    if not text.strip():
        raise DataError(f"{name}: the file is empty (a header row and data rows are needed)")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True, delimiter=delimiter)
    header: list[str] | None = None
    columns: list[list[str]] = []
    rows: list[int] = []
    try:
        for record in reader:
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # a blank line
            row = reader.line_num
            if header is None:
                header = _check_header(name, record, row, delimiter, allow_index=True)
                header_row = row
                columns = [[] for _ in header]
                continue
            if len(record) != len(header):
                _ragged(name, header, record, row)
            for cells, cell in zip(columns, record, strict=True):
                cells.append(cell.strip())
            rows.append(row)
    except csv.Error as error:
        raise DataError(f"{name}: row {reader.line_num}: malformed CSV ({error})") from None
    assert header is not None  # the text is not blank, so there is a first record
    if not rows:
        raise DataError(f"{name}: has a header row but no data rows")
    table = Table(name, header, dict(zip(header, columns, strict=True)), rows)
    if header[0] == "":
        if not is_row_index(columns[0]):
            raise DataError(
                f"{name}: row {header_row}, column 1: empty column name (an unnamed first "
                "column is taken as a row index only when it holds distinct integers)"
            )
        table = drop_index(table)
    return table


INDEX_NOTE = "dropped the unnamed first column: a row index, as pandas' to_csv() writes it"


def is_row_index(cells: Any) -> bool:
    """Whether an unnamed first column holds distinct integers (pandas' to_csv index)."""
    import numpy as np

    if isinstance(cells, list):
        if not all(cell.isdigit() for cell in cells):
            return False
        values = np.array([int(cell) for cell in cells])
    elif isinstance(cells, np.ndarray) and cells.dtype.kind == "f":
        if np.isnan(cells).any() or not np.all(cells == np.round(cells)):
            return False
        values = cells
    else:
        return False
    return len(np.unique(values)) == len(values)


def drop_index(table: Table) -> Table:
    """The table without its unnamed first column, with a note saying so."""
    kept = table.select(table.names[1:])
    kept.notes.append(INDEX_NOTE)
    return kept


def _check_header(
    path: str, record: list[str], row: int, used: str = ",", allow_index: bool = False
) -> list[str]:
    names = [cell.strip() for cell in record]
    if len(names) == 1:
        for delimiter in _OTHER_DELIMITERS:
            if delimiter in names[0] and delimiter != used:
                shown = "tab" if delimiter == "\t" else repr(delimiter)
                expected = {"\t": "tab-separated", ",": "comma-separated"}.get(
                    used, f"{used!r}-separated"
                )
                raise DataError(
                    f"{path}: row {row}: a single column {names[0]!r}; the file seems to be "
                    f"separated by {shown}, but chainrule reads {expected} files here"
                    + (
                        " (name it .tsv or give --format tsv)"
                        if shown == "tab"
                        else f" (give --delimiter {shown})"
                    )
                )
    seen: dict[str, int] = {}
    for position, cell in enumerate(names, start=1):
        if not cell and not (allow_index and position == 1 and len(names) > 1):
            raise DataError(f"{path}: row {row}, column {position}: empty column name")
        if cell in seen:
            raise DataError(
                f"{path}: row {row}: duplicate column name {cell!r} "
                f"(columns {seen[cell]} and {position})"
            )
        seen[cell] = position
    return names


def _ragged(path: str, header: list[str], record: list[str], row: int) -> None:
    if len(record) < len(header):
        missing = header[len(record)]
        raise DataError(
            f"{path}: row {row}, column {missing!r}: the row has {len(record)} fields, "
            f"the header has {len(header)}"
        )
    raise DataError(
        f"{path}: row {row}, column {len(header) + 1}: the row has {len(record)} fields, "
        f"the header has {len(header)} (a stray delimiter?)"
    )


def is_missing(cell: str, missing: frozenset[str] = MISSING) -> bool:
    """Whether a (stripped) cell counts as a missing value (``missing``: lower-case)."""
    return cell.lower() in missing
