"""Reading CSV files strictly: every problem is a ``DataError`` naming file, row and column.

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
from dataclasses import dataclass, field

from .errors import DataError

MISSING = frozenset({"", "na", "n/a", "nan", "-nan", "null", "none", "?", "#n/a"})
_OTHER_DELIMITERS = (";", "\t", "|")
# Files larger than this are almost certainly not what a CPU MLP trainer should
# read into memory as text; refusing early beats a long wait and a MemoryError.
MAX_BYTES = 2_000_000_000


@dataclass
class Table:
    """A CSV file as text columns: ``columns[name]`` is the list of its cells.

    ``rows[i]`` is the file row (line number) of the i-th record, for messages.
    """

    path: str
    names: list[str]
    columns: dict[str, list[str]]
    rows: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def where(self, index: int, column: str | None = None) -> str:
        """``'data.csv: row 7, column 'age''`` for the i-th record."""
        text = f"{self.path}: row {self.rows[index]}"
        return text + (f", column {column!r}" if column is not None else "")


def _read_bytes(path: str) -> bytes:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read it ({error.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise DataError(f"{path}: is a directory, not a CSV file")
    if info.st_size > MAX_BYTES:
        raise DataError(f"{path}: {info.st_size} bytes is larger than the {MAX_BYTES}-byte limit")
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise DataError(f"{path}: cannot read it ({error.strerror})") from None


def _decode(path: str, raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # a UTF-16 byte-order mark
        raise DataError(f"{path}: the file is UTF-16 text; save it as UTF-8 CSV")
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
    """Read a CSV file into a ``Table`` of text cells, or raise a one-line ``DataError``."""
    name = os.fspath(path)
    text = _decode(name, _read_bytes(name))
    if not text.strip():
        raise DataError(f"{name}: the file is empty (a header row and data rows are needed)")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    columns: list[list[str]] = []
    rows: list[int] = []
    try:
        for record in reader:
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # a blank line
            row = reader.line_num
            if header is None:
                header = _check_header(name, record, row)
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
    return Table(name, header, dict(zip(header, columns, strict=True)), rows)


def _check_header(path: str, record: list[str], row: int) -> list[str]:
    names = [cell.strip() for cell in record]
    if len(names) == 1:
        for delimiter in _OTHER_DELIMITERS:
            if delimiter in names[0]:
                shown = "tab" if delimiter == "\t" else repr(delimiter)
                raise DataError(
                    f"{path}: row {row}: a single column {names[0]!r}; the file seems to be "
                    f"separated by {shown}, but chainrule reads comma-separated files"
                )
    seen: dict[str, int] = {}
    for position, cell in enumerate(names, start=1):
        if not cell:
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


def is_missing(cell: str) -> bool:
    """Whether a (stripped) cell counts as a missing value."""
    return cell.lower() in MISSING
