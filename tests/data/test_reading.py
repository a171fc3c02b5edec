"""Reading through Apache Arrow: every format gives the strict reader's table, the
strict messages survive, and DataFrames and Arrow tables are read by column name."""

from __future__ import annotations

import gzip
import subprocess
import sys

import numpy as np
import pytest

from chainrule.data import DataError, TabularEncoder, from_frame, read_csv, read_table, reading

pa = pytest.importorskip("pyarrow")

TEXT = (
    "age,colour,when,y\n"
    "31,red,2024-01-05,yes\n"
    "45, blue,2024-02-29,no\n"
    '52,"red",2023-12-31,yes\n'
    "28,green,2024-03-01,no\n"
)


def encoded(table, **options):
    encoder = TabularEncoder("y", **options).fit(table)
    return encoder, encoder.transform(table), encoder.encode_target(table)


def test_the_arrow_reader_encodes_as_the_strict_reader(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(TEXT)
    fast, strict = read_table(path), read_csv(path)
    assert isinstance(fast.columns["age"], np.ndarray)  # parsed by Arrow
    assert isinstance(strict.columns["age"], list)
    e1, x1, y1 = encoded(fast)
    e2, x2, y2 = encoded(strict)
    assert e1.to_dict() == e2.to_dict()
    assert e1.output_names == ["age", "colour=blue", "colour=green", "colour=red",
                               "when=2023-12-31",
                               "when=2024-01-05", "when=2024-02-29", "when=2024-03-01"]  # fmt: skip
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, [1, 0, 1, 0])
    np.testing.assert_array_equal(y1, y2)


@pytest.mark.parametrize("kind", ["csv.gz", "tsv", "parquet", "feather", "arrow"])
def test_every_format_reads_the_same_columns(tmp_path, kind):
    import pyarrow.csv as pacsv
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    source = tmp_path / "d.csv"
    source.write_text(TEXT.replace(" blue", "blue"))
    path = tmp_path / f"d.{kind}"
    if kind == "csv.gz":
        path.write_bytes(gzip.compress(source.read_bytes()))
    elif kind == "tsv":
        path.write_text(source.read_text().replace(",", "\t").replace('"', ""))
    else:
        arrow = pacsv.read_csv(str(source))
        if kind == "parquet":
            pq.write_table(arrow, str(path))
        else:
            feather.write_feather(arrow, str(path))
    _, x, y = encoded(read_table(path))
    _, x0, y0 = encoded(read_csv(source))
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)


def test_format_overrides_the_extension(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text(TEXT.replace(",", "\t"))
    assert read_table(path, "tsv").names == ["age", "colour", "when", "y"]
    with pytest.raises(DataError, match="separated by tab"):
        read_table(path)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("31,red,2024-01-05,yes\nabc,red,2024-01-05,no\n" + "1,red,2024-01-05,no\n" * 3,
         "row 3, column 'age': 'abc' is not a number"),
        ("31,red,2024-01-05,yes\n\n\ninf,red,2024-01-05,no\n" + "1,red,2024-01-05,no\n" * 3,
         "row 5, column 'age': 'inf' is not a finite number"),
        ('31,"red\nwine",2024-01-05,yes\n1e999,red,x,no\n' + "1,red,2024-01-05,no\n" * 3,
         "row 4, column 'age': '1e999' overflows"),
        ("31,red,2024-01-05,yes\n1,red,x\n", "row 3, column 'y': the row has 3 fields"),
    ],
)  # fmt: skip
def test_fast_path_errors_name_the_line_of_the_file(tmp_path, body, fragment):
    path = tmp_path / "d.csv"
    path.write_text("age,colour,when,y\n" + body)
    with pytest.raises(DataError, match=fragment.replace("(", r"\(")):
        encoded(read_table(path))


def test_a_pandas_index_column_is_dropped_with_a_note(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1.5, 2.5, 3.5], "y": ["u", "v", "u"]})
    path = tmp_path / "d.csv"
    frame.to_csv(path)
    for table in (read_table(path), read_csv(path)):
        assert table.names == ["a", "y"]
        assert any("row index" in note for note in table.notes)


def test_an_unnamed_first_column_of_text_is_still_an_error(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(",a,y\nx,1,u\nz,2,v\n")
    for reader in (read_table, read_csv):
        with pytest.raises(DataError, match="row 1, column 1: empty column name"):
            reader(path)


def test_gzip_is_decompressed_within_the_size_limit(tmp_path, monkeypatch):
    path = tmp_path / "d.csv.gz"
    path.write_bytes(gzip.compress(b"a,y\n" + b"1,2\n" * 10_000))
    monkeypatch.setattr(reading.strict, "MAX_BYTES", 1000)
    with pytest.raises(DataError, match="decompresses to more than the 1000-byte limit"):
        read_table(path)


def test_a_gz_name_on_plain_text_is_refused(tmp_path):
    path = tmp_path / "d.csv.gz"
    path.write_text(TEXT)
    with pytest.raises(DataError, match="not gzip-compressed"):
        read_table(path)


def test_a_parquet_name_on_csv_text_is_refused(tmp_path):
    path = tmp_path / "d.parquet"
    path.write_text(TEXT)
    with pytest.raises(DataError, match="not a parquet file"):
        read_table(path)


def test_a_fifo_named_parquet_is_refused(tmp_path):
    import os

    path = tmp_path / "d.parquet"
    os.mkfifo(path)
    with pytest.raises(DataError, match="FIFO"):
        read_table(path)


def test_without_pyarrow_csv_uses_the_strict_reader_with_a_note(tmp_path, monkeypatch):
    path = tmp_path / "d.csv"
    path.write_text(TEXT)
    monkeypatch.setattr(reading, "_pyarrow", lambda: None)
    table = read_table(path)
    assert isinstance(table.columns["age"], list)
    assert "pyarrow is not installed" in table.notes[0]
    with pytest.raises(DataError, match=r"needs pyarrow \(pip install 'chainrule\[data\]'\)"):
        read_table(tmp_path / "d.parquet")


def test_dataframes_and_arrow_tables_keep_column_names():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {"age": [31.0, None, 52.0, 28.0], "colour": ["red", "blue", None, "red"], "y": list("abab")}
    )
    for obj in (frame, pa.Table.from_pandas(frame)):
        table = from_frame(obj)
        assert table.names == ["age", "colour", "y"]
        encoder = TabularEncoder("y", impute="median").fit(table)
        x = encoder.transform(table)
        assert encoder.output_names == ["age", "age:missing", "colour=blue", "colour=red",
                                        "colour=missing"]  # fmt: skip
        np.testing.assert_array_equal(x[:, 0], [31.0, 31.0, 52.0, 28.0])  # median of 3
        np.testing.assert_array_equal(x[:, 1], [0, 1, 0, 0])
        np.testing.assert_array_equal(x[2, 2:], [0, 0, 1])


def test_import_chainrule_does_not_import_pyarrow_or_pandas():
    code = (
        "import sys, chainrule, chainrule.data, chainrule.cli.main;"
        "print(sorted(m for m in ('pyarrow', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


NUMBER_CASES = [
    (
        lambda: pa.chunked_array([pa.array([1, None, 3], pa.int8()), pa.array([4, 5], pa.int8())]),
        [1, np.nan, 3, 4, 5],
    ),
    (
        lambda: pa.array([1.5, None, 2.5, None, 7.0], pa.float32()).slice(1),
        [np.nan, 2.5, np.nan, 7],
    ),
    (lambda: pa.chunked_array([pa.array([2**40, None], pa.uint64())]), [2.0**40, np.nan]),
    (lambda: pa.chunked_array([], pa.float64()), []),
    (lambda: pa.array([None] * 20, pa.int32()).slice(3, 5), [np.nan] * 5),
    (lambda: pa.array([0.25, -1e300, 3.0], pa.float64()).slice(1, 2), [-1e300, 3.0]),
]


@pytest.mark.parametrize("make, expected", NUMBER_CASES)
def test_number_columns_read_from_buffers(make, expected):
    got = reading._numbers(make())
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, np.array(expected, dtype=np.float64))


def test_reading_a_numeric_csv_does_not_import_pandas(tmp_path):
    # Regression: ChunkedArray.to_numpy imported pandas (0.2 s, 40 MB per train run).
    path = tmp_path / "d.csv"
    path.write_text("a,b,c\n1,2.5,x\n,3.5,y\n4,,x\n")
    code = (
        "import sys\n"
        "from chainrule.data import read_table\n"
        f"t = read_table({str(path)!r})\n"
        "print(t.columns['a'].tolist(), t.columns['b'].tolist(), 'pandas' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1.0, nan, 4.0] [2.5, 3.5, nan] False"


# -- the fast path's shortcuts (issue 12: reading cost) ---------------------------------
def _text_column(cells, large=False, chunks=1, offset=0):
    kind = pa.large_string() if large else pa.string()
    array = pa.array([None, *cells], kind).slice(offset)
    if offset == 0:
        array = array.slice(1)
    if chunks == 1:
        return array
    step = max(1, len(array) // chunks)
    return pa.chunked_array(
        [array.slice(i, step) for i in range(0, len(array), step)] + [pa.array([], kind)], kind
    )


LIMIT = reading.FIELD_LIMIT
OVER_LIMIT_CASES = [
    ("short ascii", ["a", "bb", None, ""], {}, False),
    ("exactly the limit", ["x" * LIMIT, "y"], {}, False),
    ("one over the limit", ["y", "x" * (LIMIT + 1)], {}, True),
    # two bytes per character: more bytes than the limit, fewer characters
    ("multi-byte under", ["é" * (LIMIT // 2 + 10), "a"], {}, False),
    ("multi-byte over", ["é" * (LIMIT + 1)], {}, True),
    ("large_string chunked", ["a", "x" * (LIMIT + 1), "b"], {"large": True, "chunks": 3}, True),
    ("sliced past the long cell", ["x" * (LIMIT + 1), "a", "b"], {"offset": 2}, False),
    ("chunked short", ["a", "b", "c", "d"], {"chunks": 2}, False),
]


@pytest.mark.parametrize(
    "cells, options, expected",
    [case[1:] for case in OVER_LIMIT_CASES],
    ids=[case[0] for case in OVER_LIMIT_CASES],
)
def test_field_limit_is_checked_in_characters(cells, options, expected):
    column = _text_column(cells, **options)
    assert reading._over_field_limit(column) is expected


def test_a_long_multibyte_cell_stays_on_the_fast_path(tmp_path):
    cell = "é" * (LIMIT // 2 + 10)  # more bytes than the limit, fewer characters
    path = tmp_path / "d.csv"
    path.write_text(f"a,t,y\n1,{cell},0\n2,b,1\n3,{cell},0\n", encoding="utf-8")
    table = read_table(path)
    assert isinstance(table.columns["a"], np.ndarray)  # Arrow read it
    assert table.columns["t"].values == [cell, "b"]
    np.testing.assert_array_equal(table.columns["t"].codes, [0, 1, 0])


UNQUOTED = "age,colour,when,y\n" + "31,red,2024-01-05,yes\n45,blue,2024-02-29,no\n" * 3


@pytest.mark.parametrize(
    "text",
    [UNQUOTED, '"age",colour,when,y\n31,"red\nwine",2024-01-05,yes\n45,blue,2024-02-29,no\n'],
    ids=["unquoted: parsed in parallel", "a line break inside quotes"],
)
def test_quoted_and_unquoted_files_read_as_the_strict_reader(tmp_path, text):
    path = tmp_path / "d.csv"
    path.write_text(text)
    fast, strict = read_table(path), read_csv(path)
    assert isinstance(fast.columns["age"], np.ndarray)
    e1, x1, y1 = encoded(fast)
    e2, x2, y2 = encoded(strict)
    assert e1.to_dict() == e2.to_dict()
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)


def test_reading_text_columns_does_not_import_pyarrow_compute(tmp_path):
    # Regression: pyarrow.compute (its wrappers for every kernel, and pydoc) cost ~0.1 s
    # of each `chainrule train`; the kernels are called through pyarrow._compute.
    path = tmp_path / "d.csv"
    path.write_text("a,b,c\n1,x,u\n2,y,\n3,x,v\n")
    code = (
        "import sys\n"
        "from chainrule.data import read_table\n"
        f"t = read_table({str(path)!r})\n"
        "print(t.columns['b'].values, t.columns['c'].codes.tolist(), "
        "'pyarrow.compute' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['x', 'y'] [0, -1, 1] False"


@pytest.mark.parametrize(
    ("column", "fragment"),
    [
        (lambda: pa.array([[1.0, 2.0]] * 4), "holds list<element: double> values"),
        (lambda: pa.array([{"u": 1}] * 4), "holds struct<u: int64> values"),
        (lambda: pa.array([b"\xff\xfe"] * 4, pa.binary()), "holds binary values that are not text"),
    ],
)
def test_a_parquet_column_of_lists_structs_or_bytes_is_a_data_error(tmp_path, column, fragment):
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"a": column(), "y": [0, 1, 0, 1]}), path)
    with pytest.raises(DataError, match=f"nested.parquet: column 'a' {fragment}"):
        read_table(path)


def test_decimal_and_dictionary_columns_read_as_numbers_and_categories(tmp_path):
    from decimal import Decimal

    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "kinds.parquet"
    price = pa.array(
        [Decimal("1.25"), Decimal("2.50"), None, Decimal("-3.00")], pa.decimal128(5, 2)
    )
    colour = pa.array(["red", "blue", "red", None]).dictionary_encode()
    pq.write_table(pa.table({"price": price, "colour": colour, "y": [0, 1, 0, 1]}), path)
    table = read_table(path)
    np.testing.assert_array_equal(table.columns["price"], [1.25, 2.5, np.nan, -3.0])
    assert table.columns["colour"].cells() == ["red", "blue", "red", None]


SEMICOLONS = (
    "price;city;when;y\n"
    '"1.234,50";Paris;2024-01-05;yes\n'
    "15,25;Lyon;2024-02-05;no\n"
    "?;Paris;2024-03-01;yes\n"
    "-0,5;Nice;2024-03-09;no\n"
    "1 000;Lyon;2024-04-01;yes\n"
    ",75;Nice;2024-05-01;no\n"
)


@pytest.mark.parametrize("arrow", [True, False])
def test_semicolons_and_decimal_commas_read_as_numbers(tmp_path, monkeypatch, arrow):
    if not arrow:
        monkeypatch.setattr(reading, "_pyarrow", lambda: None)
    path = tmp_path / "eu.csv"
    path.write_text(SEMICOLONS)
    table = read_table(path, delimiter=";", decimal=",")
    assert table.names == ["price", "city", "when", "y"]
    _, x, _ = encoded(table, impute="median")
    # 1234.5, 15.25, (missing), -0.5, 1000, 0.75: the price column is a number column
    encoder = TabularEncoder("y", impute="median").fit(table)
    assert encoder.features[0]["kind"] == "numeric"
    prices = x[:, encoder.output_names.index("price")]
    np.testing.assert_allclose(np.delete(prices, 2), [1234.5, 15.25, -0.5, 1000.0, 0.75])
    # with the default decimal point the same cells are text, not numbers
    assert (
        TabularEncoder("y", impute="median")
        .fit(read_table(path, delimiter=";"))
        .features[0]["kind"]
        != "numeric"
    )


def test_decimal_commas_leave_a_column_of_other_text_alone(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("code;y\n1,5;a\nA-7;b\n2,25;a\n05.01.2024;b\n")
    table = read_table(path, delimiter=";", decimal=",")
    assert table.columns["code"].cells() == ["1,5", "A-7", "2,25", "05.01.2024"]
    # 0.001 is no number with a decimal comma (a group of thousands never starts with 0);
    # a column of numbers written with points is refused, not read as 1.5 here and 1500
    # in a column without such a cell
    path.write_text("dose;y\n0.001;a\n0.250;b\n1.500;a\n")
    with pytest.raises(DataError, match=r"column 'dose': '0\.001' is not a number written"):
        read_table(path, delimiter=";", decimal=",")


def test_a_semicolon_file_read_with_commas_names_the_delimiter_flag(tmp_path):
    path = tmp_path / "eu.csv"
    path.write_text(SEMICOLONS)
    with pytest.raises(DataError, match=r"separated by ';'.*\(give --delimiter ';'\)"):
        read_table(path)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"delimiter": ";;"}, "delimiter expected one character, got ';;'"),
        ({"delimiter": '"'}, "can separate cells"),
        ({"delimiter": "\n"}, "can separate cells"),
        ({"decimal": ";"}, "decimal expected '.' or ','"),
        ({"delimiter": ";", "format": "parquet"}, "apply to CSV and TSV files"),
    ],
)
def test_bad_delimiter_or_decimal_is_a_value_error(tmp_path, options, message):
    path = tmp_path / "d.csv"
    path.write_text("a,y\n1,2\n")
    with pytest.raises(ValueError, match=message):
        read_table(path, **options)
