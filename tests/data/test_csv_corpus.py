"""An adversarial corpus of CSV inputs: every row is a file (its bytes, or a kind of path
such as a FIFO or /dev/zero), the command run on it, and a fragment of the one-line
message expected. Each case must end with exit code 2, one line on stderr, no
traceback, nothing on stdout, no output file written and an existing model untouched.

The rows that fail while reading or encoding the data (``layer == "data"``) are also
replayed through ``read_csv`` + ``TabularEncoder`` to check the ``DataError`` itself.
Run one family with ``pytest tests/data/test_csv_corpus.py -k binary``.
"""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass

import pytest

from chainrule.cli.main import main
from chainrule.data import DataError, TabularEncoder, read_csv

HEADER = "a,b,y\n"


def rows(n: int = 12, start: int = 0) -> str:
    """Valid rows: a number, a colour, a yes/no label."""
    return "".join(
        f"{i * 0.5},{('red', 'blue')[i % 2]},{('no', 'yes')[(i // 2) % 2]}\n"
        for i in range(start, start + n)
    )


def with_row(line: str, at: int = 3, header: str = HEADER) -> str:
    """A valid file whose data row ``at`` (0-based; file row at + 2) is ``line``."""
    lines = rows().splitlines()
    lines[at] = line
    return header + "\n".join(lines) + "\n"


GOOD = HEADER + rows()
WIDE = 20_000  # columns of the wide cases


def wide(bad_cell: str = "1") -> str:
    """WIDE columns f0…, the last one (the target) 0/1; ``bad_cell`` in the last row's
    second-to-last column."""
    names = ",".join(f"f{j}" for j in range(WIDE))
    body = "".join(",".join(["1"] * (WIDE - 1) + [str(i % 2)]) + "\n" for i in range(11))
    return f"{names}\n{body}" + ",".join(["1"] * (WIDE - 2) + [bad_cell, "1"]) + "\n"


def safetensors_bytes() -> bytes:
    header = b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    return len(header).to_bytes(8, "little") + header + b"\x00\x00\x80?"


@dataclass(frozen=True)
class Case:
    content: str | bytes  # the file, or "<fifo>", "<dev/zero>", "<dir>", ... (see _make)
    fragment: str  # expected in the one-line message
    command: str = "train"  # train, evaluate or predict
    args: tuple[str, ...] = ()
    layer: str = "data"  # "data": a DataError from read_csv/TabularEncoder; "cli": later


C = Case
# The strict rules of missing values (``--impute none``): a gap is an error naming the cell.
STRICT = ("--impute", "none")
CORPUS: dict[str, Case] = {
    # -- structure ------------------------------------------------------------------
    "structure/empty": C("", "the file is empty"),
    "structure/only_newlines": C("\n" * 1000, "the file is empty"),
    "structure/only_whitespace": C("   \n\t\n \r\n", "the file is empty"),
    "structure/header_only": C(HEADER, "has a header row but no data rows"),
    "structure/header_then_whitespace_lines": C(
        HEADER + "   \n\t\n\n", "has a header row but no data rows"
    ),
    "structure/header_only_target_missing": C("a,b\n", "has a header row but no data rows"),
    "structure/target_missing": C(
        "a,b\n" + "1,red\n" * 12, "no column 'y' to use as the target; the columns are a, b"
    ),
    "structure/no_features": C("y\n" + "yes\nno\n" * 6, "no feature columns besides the target"),
    "structure/too_few_rows": C(HEADER + rows(3), "too few rows to train: 3", layer="cli"),
    "structure/short_row": C(with_row("1.0,red"), "row 5, column 'y': the row has 2 fields"),
    "structure/long_row": C(with_row("1.0,red,yes,7"), "row 5, column 4: the row has 4 fields"),
    "structure/only_commas": C(with_row(",,"), "row 5, column 'a': an empty cell", args=STRICT),
    "structure/trailing_comma_header": C("a,b,y,\n" + rows(), "row 1, column 4: empty column name"),
    "structure/duplicate_names": C(
        "a,a,y\n" + rows(), "duplicate column name 'a' (columns 1 and 2)"
    ),
    "structure/duplicate_after_strip": C(
        "a, a ,y\n" + rows(), "duplicate column name 'a' (columns 1 and 2)"
    ),
    "structure/semicolons": C(GOOD.replace(",", ";"), "separated by ';'"),
    "structure/tabs": C(GOOD.replace(",", "\t"), "separated by tab"),
    "structure/crlf_ragged_row": C(
        with_row("1.0,red").replace("\n", "\r\n"), "row 5, column 'y': the row has 2 fields"
    ),
    "structure/bom_then_empty_cell": C(
        b"\xef\xbb\xbf" + with_row(",red,yes").encode(),
        "row 5, column 'a': an empty cell",
        args=STRICT,
    ),
    "structure/blank_lines_keep_row_numbers": C(
        HEADER + "\n\n" + rows(2) + "x,red,yes\n" + rows(10), "row 6, column 'a': 'x' is not"
    ),
    # -- quoting --------------------------------------------------------------------
    "quotes/unbalanced": C(GOOD + '1,"red,yes\n', "row 14: malformed CSV (unexpected end of data)"),
    "quotes/text_after_closing_quote": C(with_row('1,"red"x,yes'), "row 5: malformed CSV ("),
    "quotes/field_over_csv_limit": C(
        with_row('1,"' + "r" * 200_000 + '",yes'), "malformed CSV (field larger than"
    ),
    # -- cells ----------------------------------------------------------------------
    "cells/empty": C(with_row(",red,yes"), "row 5, column 'a': an empty cell", args=STRICT),
    "cells/blank": C(with_row("   ,red,yes"), "row 5, column 'a': an empty cell", args=STRICT),
    **{
        f"cells/missing_{name}": C(
            with_row(f"{cell},red,yes"), f"row 5, column 'a': a missing value {cell!r}", args=STRICT
        )
        for name, cell in [
            ("NA", "NA"),
            ("n_a", "N/A"),
            ("null", "null"),
            ("None", "None"),
            ("question", "?"),
            ("hash_na", "#N/A"),
        ]
    },
    "cells/text_in_numbers": C(with_row("abc,red,yes"), "row 5, column 'a': 'abc' is not a number"),
    "cells/hex": C(with_row("0x10,red,yes"), "row 5, column 'a': '0x10' is not a number"),
    "cells/underscore_digits": C(
        with_row("1_000,red,yes"), "row 5, column 'a': '1_000' is not a number"
    ),
    "cells/arabic_digits": C(with_row("١٢,red,yes"), "row 5, column 'a': '١٢' is not a number"),
    "cells/fullwidth_digit": C(with_row("１,red,yes"), "row 5, column 'a': '１' is not a number"),
    **{
        f"cells/nan_{i}": C(
            with_row(f"{cell},red,yes"), f"row 5, column 'a': a missing value {cell!r}", args=STRICT
        )
        for i, cell in enumerate(["nan", "NaN", "NAN", "-nan", "+nan", "+NaN"])
    },
    **{
        f"cells/inf_{i}": C(
            with_row(f"{cell},red,yes"), f"row 5, column 'a': {cell!r} is not a finite number"
        )
        for i, cell in enumerate(["inf", "-inf", "+inf", "INF", "Infinity", "-Infinity"])
    },
    "cells/overflow_1e309": C(with_row("1e309,red,yes"), "row 5, column 'a': '1e309' overflows"),
    "cells/overflow_negative": C(
        with_row("-1.8e308,red,yes"), "row 5, column 'a': '-1.8e308' overflows"
    ),
    "cells/too_many_categories": C(
        HEADER + "".join(f"1,name{i},{('no', 'yes')[i % 2]}\n" for i in range(120)),
        "column 'b' has 120 distinct text values",
        args=("--strict-categories",),
    ),
    # -- target ---------------------------------------------------------------------
    "target/unknown": C(GOOD, "no column 'nope' to use as the target", args=("--target", "nope")),
    "target/single_class": C(
        HEADER + "".join(f"{i},red,yes\n" for i in range(12)), "has a single class 'yes'"
    ),
    "target/single_numeric_class_written_two_ways": C(
        HEADER + "".join(f"{i},red,{('1', '1.0')[i % 2]}\n" for i in range(12)),
        "has a single class '1'",
    ),
    "target/empty": C(with_row("1,red,"), "row 5, column 'y': an empty cell", args=STRICT),
    "target/nan": C(with_row("1,red,nan"), "row 5, column 'y': a missing value 'nan'", args=STRICT),
    "target/regression_text": C(
        GOOD, "row 2, column 'y': 'no' is not a number", args=("--task", "regression")
    ),
    "target/regression_inf": C(
        HEADER + "".join(f"{i},red,{i}.5\n" for i in range(11)) + "1,red,-inf\n",
        "row 13, column 'y': '-inf' is not a finite number",
    ),
    "target/regression_1e309": C(
        HEADER + "".join(f"{i},red,{i}.5\n" for i in range(11)) + "1,red,1e309\n",
        "row 13, column 'y': '1e309' overflows",
    ),
    # -- encodings ------------------------------------------------------------------
    "encoding/utf16_bom": C(GOOD.encode("utf-16"), "the file is UTF-16 text; save it as UTF-8"),
    "encoding/utf16_le_no_bom": C(
        GOOD.encode("utf-16-le"), "or UTF-16 text without a byte-order mark"
    ),
    "encoding/utf16_be_no_bom": C(
        GOOD.encode("utf-16-be"), "or UTF-16 text without a byte-order mark"
    ),
    "encoding/utf32": C(GOOD.encode("utf-32"), "the file is UTF-32 text"),
    "encoding/latin1": C(
        HEADER.encode() + "1,rouge foncé,yes\n".encode("latin-1") + rows().encode(),
        "row 2: invalid UTF-8",
    ),
    "encoding/invalid_utf8_in_header": C(b"a,\xff,y\n" + rows().encode(), "row 1: invalid UTF-8"),
    "encoding/cp1252_quote": C(GOOD.encode() + b"1,\x93red\x94,yes\n", "row 14: invalid UTF-8"),
    # -- binary ---------------------------------------------------------------------
    "binary/nul_first_byte": C(b"\x00" * 64, "row 1: a NUL byte at byte 0"),
    "binary/nul_in_row": C(with_row("1,r\x00d,yes").encode(), "row 5: a NUL byte at byte"),
    "binary/nul_after_first_kilobytes": C(
        (HEADER + rows(600) + "1,r\x00d,yes\n").encode(), "row 602: a NUL byte at byte"
    ),
    "binary/garbage": C(bytes(range(256)) * 4, "row 1: a NUL byte at byte 0"),
    **{
        f"binary/{name}": C(data, f"this is a binary file (looks like {looks}")
        for name, data, looks in [
            ("zip", b"PK\x03\x04" + b"\x14" * 40, "a zip archive"),
            ("xlsx", b"PK\x03\x04\x14\x00\x06\x00[Content_Types].xml", "an Excel .xlsx workbook"),
            (
                "ods",
                b"PK\x03\x04\x14\x00mimetypeapplication/vnd.oasis.opendocument.spreadsheet",
                "an OpenDocument",
            ),
            ("gzip", b"\x1f\x8b\x08\x00" + b"a,b,y\n" * 4, "gzip-compressed data"),
            ("bzip2", b"BZh91AY&SY", "bzip2-compressed data"),
            ("xz", b"\xfd7zXZ\x00\x00\x04", "xz-compressed data"),
            ("parquet", b"PAR1\x15\x04\x15", "a Parquet file"),
            ("png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image"),
            ("jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF", "a JPEG image"),
            ("pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "a PDF document"),
            ("npy", b"\x93NUMPY\x01\x00v\x00{'descr': '<f8'", "a NumPy .npy array"),
            ("pickle", b"\x80\x04\x95\x10\x00\x00\x00", "a Python pickle"),
            ("sqlite", b"SQLite format 3\x00\x10\x00", "an SQLite database"),
            ("elf", b"\x7fELF\x02\x01\x01\x00", "an executable program"),
            ("xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "an old Excel .xls"),
            ("hdf5", b"\x89HDF\r\n\x1a\n\x00", "an HDF5 file"),
            ("safetensors", safetensors_bytes(), "a safetensors model file"),
        ]
    },
    # -- not regular files ----------------------------------------------------------
    "path/fifo": C("<fifo>", "is a FIFO (named pipe), not a CSV file"),
    "path/dev_zero": C("<dev/zero>", "is a character device, not a CSV file"),
    "path/dev_null": C("<dev/null>", "is a character device, not a CSV file"),
    "path/symlink_to_dev_zero": C("<link:/dev/zero>", "is a character device, not a CSV file"),
    "path/directory": C("<dir>", "is a directory, not a CSV file"),
    "path/missing": C("<missing>", "no such file"),
    "path/evaluate_fifo": C("<fifo>", "is a FIFO (named pipe)", command="evaluate"),
    "path/evaluate_dev_zero": C("<dev/zero>", "is a character device", command="evaluate"),
    "path/predict_fifo": C("<fifo>", "is a FIFO (named pipe)", command="predict"),
    "path/predict_dev_zero": C("<dev/zero>", "is a character device", command="predict"),
    "path/predict_directory": C("<dir>", "is a directory", command="predict"),
    "path/predict_zip": C(b"PK\x03\x04" * 8, "looks like a zip archive", command="predict"),
    # -- size and shape -------------------------------------------------------------
    "size/wide_target_missing": C(wide(), "the columns are f0, f1, f2", args=("--target", "nope")),
    "size/wide_bad_cell": C(
        wide("zz"), "row 13, column 'f19998': 'zz' is not a number", args=("--target", "f19999")
    ),
    # -- evaluate / predict on data that does not match the model ---------------------
    "model/evaluate_unseen_class": C(
        with_row("1,red,maybe"),
        "row 5, column 'y': class 'maybe' was not seen in training",
        command="evaluate",
        layer="cli",
    ),
    "model/evaluate_no_target": C(
        "a,b\n1,red\n",
        "no target column 'y' to evaluate against",
        command="evaluate",
        layer="cli",
    ),
    "model/predict_missing_column": C(
        "a,y\n1,yes\n",
        "missing column 'b' that the model was trained on",
        command="predict",
        layer="cli",
    ),
    "model/predict_unknown_category": C(
        "a,b\n1,green\n",
        "row 2, column 'b': unknown category 'green'",
        command="predict",
        args=("--strict-categories",),
        layer="cli",
    ),
    "model/predict_value_beyond_float32": C(
        "a,b\n1e300,red\n", "row 2, column 'a': the value is", command="predict", layer="cli"
    ),
}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A model trained on GOOD, for the evaluate and predict cases."""
    folder = tmp_path_factory.mktemp("model")
    data = folder / "good.csv"
    data.write_text(GOOD)
    path = folder / "model.safetensors"
    code = main(["train", str(data), "--target", "y", "--out", str(path), "--epochs", "1",
                 "--quiet", "--hidden", "4"])  # fmt: skip
    assert code == 0
    return path


def _make(case: Case, folder) -> str:
    """Create the input of a case in ``folder``; returns the path to give the command."""
    path = folder / "data.csv"
    content = case.content
    if content == "<fifo>":
        os.mkfifo(path)
    elif content == "<dir>":
        path.mkdir()
    elif content == "<missing>":
        pass
    elif content in ("<dev/zero>", "<dev/null>"):
        return content[1:-1].replace("dev/", "/dev/")
    elif isinstance(content, str) and content.startswith("<link:"):
        os.symlink(content[len("<link:") : -1], path)
    else:
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


def _command(case: Case, data: str, model: str, out: str) -> list[str]:
    if case.command == "train":
        return ["train", data, "--target", "y", "--out", out, "--epochs", "1", *case.args]
    if case.command == "evaluate":
        return ["evaluate", model, data, *case.args]
    return ["predict", model, data, "--out", out, *case.args]


def _watchdog(path: str) -> threading.Timer:
    """If the command blocks on a FIFO, a writer unblocks it after 10 s (so the test
    fails instead of hanging the suite)."""

    def unblock() -> None:
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            os.close(descriptor)
        except OSError:
            pass

    timer = threading.Timer(10.0, unblock)
    timer.daemon = True
    timer.start()
    return timer


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_case_is_one_line_exit_2_and_writes_nothing(name, tmp_path, model_file, capsys):
    case = CORPUS[name]
    folder = tmp_path / "work"
    folder.mkdir()
    model = folder / "model.safetensors"
    shutil.copyfile(model_file, model)
    before = model.read_bytes()
    data = _make(case, folder)
    listing = sorted(os.listdir(folder))
    out = str(folder / ("preds.csv" if case.command == "predict" else "model.safetensors"))
    timer = _watchdog(data) if case.content == "<fifo>" else None
    try:
        code = main(_command(case, data, str(model), out))
    finally:
        if timer is not None:
            timer.cancel()
    captured = capsys.readouterr()
    err = captured.err
    assert code == 2, err
    assert err.startswith("chainrule: error: ") and err.count("\n") == 1, err[:2000]
    assert "Traceback" not in err
    assert case.fragment in err, err[:2000]
    assert len(err) < 2000, "a one-line message stays short"
    if case.command == "train" or case.layer == "data":
        assert data in err  # the file is named
    assert captured.out == ""
    assert model.read_bytes() == before  # the existing model is untouched
    assert sorted(os.listdir(folder)) == listing  # no output, no temporary file


DATA_CASES = sorted(
    name for name, case in CORPUS.items() if case.layer == "data" and case.command == "train"
)


@pytest.mark.parametrize("name", DATA_CASES)
def test_corpus_case_raises_data_error_from_the_library(name, tmp_path):
    case = CORPUS[name]
    data = _make(case, tmp_path)
    target = case.args[case.args.index("--target") + 1] if "--target" in case.args else "y"
    task = case.args[case.args.index("--task") + 1] if "--task" in case.args else "auto"
    with pytest.raises(DataError) as raised:
        table = read_csv(data)
        encoder = TabularEncoder(target, task).fit(table)
        encoder.transform(table)
        encoder.encode_target(table)
    message = str(raised.value)
    assert case.fragment in message and "\n" not in message, message[:2000]


def test_corpus_is_large_and_covers_every_family():
    families = {name.split("/")[0] for name in CORPUS}
    assert len(CORPUS) >= 50
    assert families >= {"structure", "quotes", "cells", "target", "encoding", "binary", "path"}


def test_a_file_over_the_size_limit_is_refused_before_reading(tmp_path, monkeypatch):
    import chainrule.data.csv as csv_module

    path = tmp_path / "big.csv"
    path.write_text(GOOD)
    monkeypatch.setattr(csv_module, "MAX_BYTES", 100)
    reads = []
    monkeypatch.setattr(csv_module, "read_regular_file", lambda *a, **k: reads.append(a))
    with pytest.raises(DataError, match=f"{len(GOOD)} bytes is larger than the 100-byte limit"):
        read_csv(path)
    assert reads == []


def test_a_file_growing_past_the_limit_is_capped_on_bytes_read(tmp_path, monkeypatch):
    import chainrule.data.csv as csv_module

    path = tmp_path / "grows.csv"
    path.write_text(GOOD)
    monkeypatch.setattr(csv_module, "MAX_BYTES", len(GOOD) - 1)
    monkeypatch.setattr(csv_module, "_peek", lambda name: (b"", 0))  # st_size said 0
    with pytest.raises(DataError, match=f"larger than the {len(GOOD) - 1}-byte limit"):
        read_csv(path)
