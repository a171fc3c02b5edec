"""Reading tabular files fast, through Apache Arrow, with the strict reader's messages.

``read_table(path)`` reads ``.csv``, ``.csv.gz``, ``.tsv`` (``.tsv.gz``), ``.parquet``
and ``.feather``/``.arrow`` (Arrow IPC) files, chosen by extension or ``format=``.
CSV is parsed by ``pyarrow.csv`` (multi-threaded C++): numeric columns become float64
arrays, text columns ``Coded`` columns (codes into their distinct values). Whenever
Arrow reports a problem, or something needs the strict rules (a header to check, a
cell longer than the strict reader allows), the bytes go through the strict reader
(``chainrule.data.csv``), whose one-line message names file, row and column. The
adversarial guarantees are the strict reader's: regular files only, at most
``MAX_BYTES`` read (and decompressed), binary content refused from its first bytes.

Without pyarrow, CSV files are read by the strict reader (slower; a note says so);
Parquet and Feather files need it (``pip install 'chainrule[data]'``).

``from_frame(obj)`` turns a pandas or polars DataFrame, an Arrow table or a mapping of
columns into the same ``Table``, column names kept.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .._regular_file import read_regular_file
from . import csv as strict
from .csv import MISSING, Coded, Table
from .errors import DataError

FORMATS = ("csv", "tsv", "parquet", "feather")
_SUFFIXES = (
    (".csv.gz", "csv", True),
    (".tsv.gz", "tsv", True),
    (".csv", "csv", False),
    (".tsv", "tsv", False),
    (".tab", "tsv", False),
    (".parquet", "parquet", False),
    (".pq", "parquet", False),
    (".feather", "feather", False),
    (".arrow", "feather", False),
    (".ipc", "feather", False),
)
SLOW_NOTE = (
    "read with the pure-Python reader (pyarrow is not installed; "
    "pip install 'chainrule[data]' reads large files much faster)"
)
# The strict reader's csv module refuses a field longer than this; so does the fast path.
FIELD_LIMIT = 131072


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError:
        return None
    return pyarrow


def format_of(path: str, format: str | None = None) -> tuple[str, bool]:
    """(format, gzip-compressed) of ``path``: from ``format`` or the file's extension
    (CSV when neither says: ``data.txt`` is read as comma-separated text)."""
    lower = path.lower()
    gz = lower.endswith(".gz")
    if format is not None:
        if format not in FORMATS:
            raise DataError(f"--format expected one of {', '.join(FORMATS)}, got {format!r}")
        return format, gz and format in ("csv", "tsv")
    for suffix, found, compressed in _SUFFIXES:
        if lower.endswith(suffix):
            return found, compressed
    return "csv", False


def na_spellings(na_values: Iterable[str] | None) -> frozenset[str]:
    """The lower-case cells that count as missing (``MISSING`` unless given)."""
    if na_values is None:
        return MISSING
    return frozenset(v.strip().lower() for v in na_values)


def read_table(
    path: str | os.PathLike,
    format: str | None = None,
    *,
    na_values: Iterable[str] | None = None,
    delimiter: str | None = None,
    decimal: str = ".",
) -> Table:
    """Read a data file into a ``Table``, or raise a one-line ``DataError``.

    ``na_values``: the cells (any case, after trimming) that count as missing in a
    text column; by default ``chainrule.data.csv.MISSING`` (empty, NA, nan, null, ?…).
    ``delimiter``: the character between a CSV file's cells (default ``,``, a tab for
    ``.tsv``), e.g. ``";"`` for the files of spreadsheets set to a decimal comma.
    ``decimal=","`` reads numbers written with a decimal comma (``3,5``, ``-0,25``,
    ``1.234,50`` and ``1 234,50`` with thousands grouped by dots or spaces): a text
    column whose every present cell is such a number becomes a number column.
    """
    name = os.fspath(path)
    kind, gz = format_of(name, format)
    if decimal not in (".", ","):
        raise ValueError(f"decimal expected '.' or ',', got {decimal!r}")
    if delimiter is not None:
        check_delimiter(delimiter)
    if (delimiter is not None or decimal != ".") and kind in ("parquet", "feather"):
        raise ValueError(
            f"delimiter and decimal apply to CSV and TSV files, not to {kind} ({name})"
        )
    if kind in ("parquet", "feather"):
        return _read_columnar(name, kind)
    raw = _read_compressed(name) if gz else strict._read_bytes(name)
    if delimiter is None:
        delimiter = "\t" if kind == "tsv" else ","
    missing = na_spellings(na_values)
    pa = _pyarrow()
    if pa is None:
        table = strict.parse_csv_bytes(name, raw, delimiter)
        table.notes.append(SLOW_NOTE)
    else:
        table = _read_csv_arrow(name, raw, delimiter, missing, gz, decimal)
    return _decimal_comma_numbers(table, missing) if decimal == "," else table


# A number written with a decimal comma: 3,5  -0,25  1.234,50  1 234,50  2,5e-3 (a group
# of thousands never starts with 0: 0.001 is no such number, and its column stays text)
_DECIMAL_COMMA = re.compile(
    r"[+-]?(?:[1-9]\d{0,2}(?:[.\u00a0\u202f ]\d{3})+|\d+)(?:,\d+)?(?:[eE][+-]?\d+)?"
    r"|[+-]?,\d+(?:[eE][+-]?\d+)?"
)


def _dotted_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return cell.isascii() and "_" not in cell


_THOUSANDS = str.maketrans({".": None, " ": None, "\u00a0": None, "\u202f": None, ",": "."})


def _decimal_comma_numbers(table: Table, missing: frozenset[str]) -> Table:
    """The table with each text column whose every present cell is a decimal-comma
    number rewritten in the dotted form the encoder reads as numbers."""
    for name, values in table.columns.items():
        if isinstance(values, np.ndarray):
            continue  # already numbers (Arrow read them with decimal_point=',')
        cells = values.values if isinstance(values, Coded) else values
        present = [c.strip() for c in cells if c is not None and c.strip().lower() not in missing]
        odd = next((c for c in present if not _DECIMAL_COMMA.fullmatch(c)), None)
        if odd is not None:
            if all(_dotted_number(c) for c in present):
                # Left as text, the encoder would read these cells as dotted numbers:
                # 1.250 would be 1.25 here and 1250 in a column without such a cell.
                raise DataError(
                    f"{table.path}: column {name!r}: {odd!r} is not a number written with "
                    "a decimal comma (decimal=',', --decimal ,), yet every cell of the "
                    "column is a number written with a decimal point; fix the cells or "
                    "read the file without the decimal comma"
                )
            continue
        if not present:
            continue

        def dotted(cell: Any) -> Any:
            if cell is None or cell.strip().lower() in missing:
                return cell
            return cell.strip().translate(_THOUSANDS)

        rewritten = [dotted(c) for c in cells]
        table.columns[name] = (
            Coded(values.codes, rewritten) if isinstance(values, Coded) else rewritten
        )
    return table


def check_delimiter(delimiter: str) -> str:
    """``delimiter`` if it can separate CSV cells (one character, not a quote, a line
    break or a space-like character that the reader trims), else ValueError."""
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ValueError(f"delimiter expected one character, got {delimiter!r}")
    if delimiter in '"\r\n' or (delimiter.isspace() and delimiter != "\t"):
        raise ValueError(
            f"delimiter expected a character that can separate cells (such as ',', ';', "
            f"'|' or a tab), got {delimiter!r}"
        )
    return delimiter


def _read_compressed(name: str) -> bytes:
    """The decompressed bytes of a gzip file, at most ``MAX_BYTES`` of them."""
    packed = read_regular_file(
        name, what="a gzip-compressed file", error=DataError, max_bytes=strict.MAX_BYTES
    )
    if not packed.startswith(b"\x1f\x8b"):
        raise DataError(f"{name}: the name ends in .gz but the file is not gzip-compressed")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        # Bounded: a small "zip bomb" must not expand to more than the limit in memory.
        raw = inflater.decompress(packed, strict.MAX_BYTES + 1)
    except zlib.error as error:
        raise DataError(f"{name}: damaged gzip data ({error})") from None
    if len(raw) > strict.MAX_BYTES or inflater.unconsumed_tail:
        raise DataError(f"{name}: decompresses to more than the {strict.MAX_BYTES}-byte limit")
    strict._refuse_binary(name, raw[: strict.SNIFF_BYTES])
    return raw


def _arrow_null_values(missing: frozenset[str]) -> list[str]:
    """Arrow matches null spellings exactly: give it the usual cases of each."""
    found: set[str] = set()
    for value in missing:
        found.update({value, value.upper(), value.title(), value.capitalize()})
    return sorted(found)


def _read_csv_arrow(
    name: str,
    raw: bytes,
    delimiter: str,
    missing: frozenset[str],
    gz: bool = False,
    decimal: str = ".",
) -> Table:
    """The Arrow fast path; any doubt sends the bytes through the strict reader."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    def fallback() -> Table:
        return strict.parse_csv_bytes(name, raw, delimiter)

    # (the blank test copies the bytes only when their start is blank)
    if raw.find(b"\x00") >= 0 or (not raw[:4096].strip() and not raw.strip()):
        return fallback()  # the strict reader names the NUL byte or the empty file
    quoted = b'"' in raw
    try:
        arrow = pacsv.read_csv(
            pa.py_buffer(raw),
            # A line break can only be inside a quoted cell: without quotes Arrow may
            # split the text at any line break, which is how it parses in parallel.
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=quoted),
            convert_options=pacsv.ConvertOptions(
                null_values=_arrow_null_values(missing),
                strings_can_be_null=True,
                # "true"/"false" stay text, as the strict reader has them
                true_values=["\x00true"],
                false_values=["\x00false"],
                decimal_point=decimal,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException, UnicodeDecodeError):
        return fallback()
    try:
        names = [n.strip() for n in arrow.column_names]
    except UnicodeDecodeError:
        return fallback()  # invalid UTF-8 in the header
    if (
        arrow.num_rows == 0
        or len(names) == 1
        or len(set(names)) != len(names)
        or not all(names[1:])
        or raw[:1] in (b"\n", b"\r")
    ):
        return fallback()  # the strict reader's header and shape messages
    if quoted and not _quoting_ok(raw, delimiter):
        return fallback()  # Arrow reads 'a,"b"c' leniently; the strict reader does not
    columns: dict[str, Any] = {}
    for column_name, column in zip(names, arrow.columns, strict=True):
        try:
            converted = _column(column)
        except (pa.ArrowException, UnicodeDecodeError, DataError):
            converted = None  # invalid UTF-8 in a text column: the strict reader names it
        if converted is None:
            return fallback()
        columns[column_name] = converted
    del arrow

    def reread() -> Table:
        # Messages only: the file is read again rather than its bytes kept in memory
        # for the whole run (they would double the reader's peak memory).
        again = _read_compressed(name) if gz else strict._read_bytes(name)
        return strict.parse_csv_bytes(name, again, delimiter)

    table = Table(name, names, columns, [], len(next(iter(columns.values()))), strict=reread)
    if names[0] == "":
        if not strict.is_row_index(columns[""]):
            return fallback()  # the strict reader's "empty column name"
        table = strict.drop_index(table)
    return table


def _quoting_ok(raw: bytes, delimiter: str) -> bool:
    """Whether Python's strict csv module accepts the quoting (only for files with quotes:
    it costs a pass over the text)."""
    import csv
    import io

    try:
        text = raw.decode("utf-8-sig")
        for _ in csv.reader(io.StringIO(text, newline=""), strict=True, delimiter=delimiter):
            pass
    except (csv.Error, UnicodeDecodeError):
        return False
    return True


def _compute(name: str, column: Any) -> Any:
    """Arrow's compute function ``name`` on ``column``, called through the compiled
    ``pyarrow._compute``: importing ``pyarrow.compute`` builds a Python wrapper for
    each of its hundreds of functions (and imports pydoc), ~0.1 s of every read."""
    try:
        from pyarrow._compute import call_function
    except ImportError:  # pragma: no cover - a pyarrow without the compiled module
        from pyarrow.compute import call_function
    return call_function(name, [column])


def _column(column: Any, where: str = "") -> Any:
    """A float64 array for an Arrow number column, a ``Coded`` column for text; None
    when the strict reader must decide (a field over its length limit).

    ``where`` (``"data.parquet: column 'a'"``) names the column in the ``DataError``
    for a kind no table cell can be: lists, structs, maps, raw bytes that are no text.
    """
    import pyarrow as pa

    kind = column.type
    if pa.types.is_dictionary(kind):  # a categorical column: its values, decoded
        return _column(column.cast(kind.value_type), where)
    if pa.types.is_decimal(kind):
        column = column.cast(pa.float64())
        kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return _numbers(column)
    if pa.types.is_null(kind):
        return Coded(np.full(len(column), -1, dtype=np.int64), [])
    if pa.types.is_nested(kind):
        raise DataError(
            f"{where or 'a column'} holds {kind} values; a feature or target column "
            "must hold single numbers or text (flatten or drop it first)"
        )
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        import pyarrow.compute as pc

        try:
            column = pc.cast(column, pa.string())  # dates and times: their ISO text
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise DataError(
                f"{where or 'a column'} holds {kind} values that are not text; a feature "
                "or target column must hold single numbers or text"
            ) from None
    if len(column) and _over_field_limit(column):
        return None
    return _coded(column)


def _over_field_limit(column: Any) -> bool:
    """Whether a cell of an Arrow text column has more than FIELD_LIMIT characters.

    Read from the offsets buffers in NumPy (bytes, never fewer than characters); the
    characters are counted only when some cell has more bytes than the limit."""
    import pyarrow as pa

    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    longest = 0
    for chunk in chunks:
        if len(chunk) == 0 or chunk.buffers()[1] is None:
            continue
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(
            chunk.buffers()[1],
            dtype=width,
            count=len(chunk) + 1,
            offset=chunk.offset * np.dtype(width).itemsize,
        )
        longest = max(longest, int(np.diff(offsets).max()))
    if longest <= FIELD_LIMIT:
        return False
    lengths = _compute("utf8_length", column)
    return max((v for v in lengths.to_pylist() if v is not None), default=0) > FIELD_LIMIT


def _numbers(column: Any) -> np.ndarray:
    """An Arrow integer or float column (chunked or not) as float64 (N,), NaN for nulls."""
    return _from_buffers(column, np.float64, np.nan)


def _from_buffers(column: Any, out_dtype: Any, missing: Any) -> np.ndarray:
    """A primitive Arrow number column (chunked or not) as a NumPy (N,) ``out_dtype``
    array, ``missing`` where a cell is null.

    Read straight from the chunks' buffers: pyarrow's ``to_numpy`` and ``fill_null``
    import pandas when it is installed (about 0.2 s and 40 MB of a ``chainrule
    train`` run that never uses it)."""
    import pyarrow as pa

    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    kind = column.type
    code = "f" if pa.types.is_floating(kind) else "i" if pa.types.is_signed_integer(kind) else "u"
    dtype = np.dtype(f"{code}{kind.bit_width // 8}")
    out = np.empty(len(column), dtype=out_dtype)
    start = 0
    for chunk in chunks:
        n = len(chunk)
        part = out[start : start + n]
        start += n
        validity, data = chunk.buffers()[:2]
        if n == 0:
            continue
        if data is None or chunk.null_count == n:  # all missing: no values to read
            part[:] = missing
            continue
        offset = chunk.offset * dtype.itemsize
        part[:] = np.frombuffer(data, dtype=dtype, count=n, offset=offset)
        if chunk.null_count:
            bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
            part[bits[chunk.offset : chunk.offset + n] == 0] = missing
    return out


def _coded(column: Any) -> Coded:
    """Dictionary-encode an Arrow text column: (N,) codes, -1 for null, values trimmed."""
    import pyarrow as pa

    encoded = _compute("dictionary_encode", column)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks() if encoded.num_chunks != 1 else encoded.chunk(0)
        if isinstance(encoded, pa.ChunkedArray):  # no chunks at all
            return Coded(np.zeros(0, dtype=np.int64), [])
    indices = _from_buffers(encoded.indices, np.int64, -1)
    values = [str(v).strip() for v in encoded.dictionary.to_pylist()]
    return _merge_equal(indices, values)


def _merge_equal(codes: np.ndarray, values: list[str]) -> Coded:
    """Codes whose values became equal after trimming point to one value."""
    first: dict[str, int] = {}
    remap = np.empty(len(values) + 1, dtype=np.int64)
    kept: list[str] = []
    for index, value in enumerate(values):
        if value not in first:
            first[value] = len(kept)
            kept.append(value)
        remap[index] = first[value]
    remap[-1] = -1  # code -1 indexes the last slot: stays missing
    if len(kept) == len(values):
        return Coded(codes, values)
    return Coded(remap[codes], kept)


def coded_from_cells(cells: list[str]) -> Coded:
    """A ``Coded`` column from text cells (the strict reader's lists)."""
    lookup: dict[str, int] = {}
    codes = np.fromiter(
        (lookup.setdefault(c, len(lookup)) for c in cells), dtype=np.int64, count=len(cells)
    )
    return Coded(codes, list(lookup))


def _read_columnar(name: str, kind: str) -> Table:
    pa = _pyarrow()
    if pa is None:
        raise DataError(
            f"{name}: reading {kind} files needs pyarrow (pip install 'chainrule[data]')"
        )
    raw = read_regular_file(
        name, what=f"a {kind} file", error=DataError, max_bytes=strict.MAX_BYTES
    )
    magic = b"PAR1" if kind == "parquet" else b"ARROW1"
    if not raw.startswith(magic):
        seen = strict._looks_like(raw[: strict.SNIFF_BYTES])
        raise DataError(
            f"{name}: not a {kind} file (it does not start with {magic!r}"
            + (f"; it looks like {seen}" if seen else "")
            + ")"
        )
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            arrow = pq.read_table(pa.BufferReader(raw))
        else:
            import pyarrow.feather as feather

            arrow = feather.read_table(pa.BufferReader(raw))
    except (pa.ArrowException, OSError, ValueError) as error:
        raise DataError(f"{name}: damaged {kind} file ({error})") from None
    return from_frame(arrow, path=name)


def from_frame(obj: Any, path: str = "<data frame>") -> Table:
    """A ``Table`` from a pandas or polars DataFrame, an Arrow table or a mapping of
    columns (name -> values): numbers as float64 arrays, the rest as text."""
    pa = _pyarrow()
    if pa is not None and isinstance(obj, pa.Table):
        return _from_arrow(obj, path)
    module = type(obj).__module__.split(".")[0]
    if module == "polars" and hasattr(obj, "to_arrow"):
        return _from_arrow(obj.to_arrow(), path)
    if module == "pandas" and hasattr(obj, "columns"):
        return _from_mapping({str(c): obj[c].to_numpy() for c in obj.columns}, path)
    if isinstance(obj, Mapping):
        return _from_mapping({str(k): v for k, v in obj.items()}, path)
    raise TypeError(
        "expected a pandas or polars DataFrame, a pyarrow Table or a mapping of columns, "
        f"got {type(obj).__name__}"
    )


def is_frame(obj: Any) -> bool:
    """Whether ``obj`` is a DataFrame or an Arrow table (not a plain array)."""
    module = type(obj).__module__.split(".")[0]
    if module in ("pandas", "polars") and hasattr(obj, "columns"):
        return True
    return module == "pyarrow" and hasattr(obj, "column_names")


def _from_arrow(arrow: Any, path: str) -> Table:
    names = [str(n) for n in arrow.column_names]
    columns = {}
    for name, column in zip(names, arrow.columns, strict=True):
        converted = _column(column, f"{path}: column {name!r}")
        columns[name] = converted if converted is not None else _coded(column)
    return Table(path, names, columns, [], arrow.num_rows)


def _from_mapping(mapping: dict[str, Any], path: str) -> Table:
    lengths = {len(v) for v in mapping.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns have different lengths: {sorted(lengths)}")
    columns: dict[str, Any] = {}
    for name, values in mapping.items():
        array = np.asarray(values)
        if array.dtype.kind in "iuf" and array.ndim == 1:
            columns[name] = array.astype(np.float64)
        elif array.dtype.kind == "b":
            columns[name] = coded_from_cells(["True" if v else "False" for v in array])
        else:
            cells = []
            for value in array.tolist() if array.ndim == 1 else list(values):
                if value is None or (isinstance(value, float) and value != value):
                    cells.append("")
                else:
                    cells.append(str(value).strip())
            columns[name] = coded_from_cells(cells)
    n = lengths.pop() if lengths else 0
    return Table(path, list(mapping), columns, [], n)


def frame_matrix(
    obj: Any, dtype: Any = np.float64, what: str = "x"
) -> tuple[np.ndarray, list[str]]:
    """An all-numeric DataFrame (pandas, polars) or Arrow table as a float array
    (N, n_columns) in ``dtype``, and its column names in order.

    Missing cells become NaN (the caller decides whether that is allowed). Text,
    category, boolean or date columns raise ``ValueError`` naming them: encoding those
    is ``cr.Pipeline``'s and ``chainrule train``'s job, not a silent cast's.
    """
    table = from_frame(obj)
    text = [name for name in table.names if not isinstance(table.columns[name], np.ndarray)]
    if text:
        listed = ", ".join(repr(n) for n in text[:8]) + (" ..." if len(text) > 8 else "")
        raise ValueError(
            f"{what} has {len(text)} non-numeric column(s): {listed}; expected numbers only. "
            "Encode them with cr.Pipeline.fit(frame, target=...) or the CLI "
            "(chainrule train data.csv --target ...), or drop them"
        )
    n = len(table)
    if not table.names:
        return np.empty((n, 0), dtype=dtype), []
    matrix = np.empty((n, len(table.names)), dtype=dtype)
    for j, name in enumerate(table.names):
        matrix[:, j] = table.columns[name]
    return matrix, list(table.names)
