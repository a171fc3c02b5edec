"""A corpus of malformed CSV files: each gives one line on stderr naming file, row and
column, exit code 2, no traceback, and leaves an existing model file untouched."""

from __future__ import annotations

import os

import pytest

from chainrule.cli.main import main

HEADER = "a,b,label\n"


def rows(n=12, start=0):
    """Valid rows: a number, a colour, a yes/no label."""
    return "".join(
        f"{i * 0.5},{('red', 'blue')[i % 2]},{('no', 'yes')[(i // 2) % 2]}\n"
        for i in range(start, start + n)
    )


def with_row(line, at=3):
    """A valid file whose data row ``at`` (0-based) is replaced by ``line``."""
    lines = rows().splitlines()
    lines[at] = line
    return HEADER + "\n".join(lines) + "\n"


GOOD = HEADER + rows()
# name -> (file content, extra CLI args, expected fragment of the message)
CORPUS: dict[str, tuple[str | bytes, list[str], str]] = {
    "empty": ("", [], "the file is empty"),
    "blank_lines": ("\n\n   \n", [], "the file is empty"),
    "header_only": (HEADER, [], "has a header row but no data rows"),
    "too_few_rows": (HEADER + rows(3), [], "too few rows to train: 3"),
    "short_row": (with_row("1.0,red"), [], "row 5, column 'label': the row has 2 fields"),
    "long_row": (with_row("1.0,red,yes,7"), [], "row 5, column 4: the row has 4 fields"),
    "empty_cell": (with_row(",red,yes"), ["--impute", "none"], "row 5, column 'a': an empty cell"),
    "blank_cell": (
        with_row("   ,red,yes"),
        ["--impute", "none"],
        "row 5, column 'a': an empty cell",
    ),
    "na_cell": (
        with_row("NA,red,yes"),
        ["--impute", "none"],
        "row 5, column 'a': a missing value 'NA'",
    ),
    "nan_cell": (
        with_row("nan,red,yes"),
        ["--impute", "none"],
        "row 5, column 'a': a missing value 'nan'",
    ),
    "null_cell": (
        with_row("1,null,yes"),
        ["--impute", "none"],
        "row 5, column 'b': a missing value 'null'",
    ),
    "question_cell": (
        with_row("?,red,yes"),
        ["--impute", "none"],
        "row 5, column 'a': a missing value '?'",
    ),
    "text_in_numbers": (with_row("abc,red,yes"), [], "row 5, column 'a': 'abc' is not a number"),
    "inf": (with_row("inf,red,yes"), [], "row 5, column 'a': 'inf' is not a finite number"),
    "minus_infinity": (
        with_row("-Infinity,red,yes"),
        [],
        "row 5, column 'a': '-Infinity' is not a finite number",
    ),
    "overflow": (with_row("1e999,red,yes"), [], "row 5, column 'a': '1e999' overflows"),
    "unknown_target": (
        GOOD,
        ["--target", "nope"],
        "no column 'nope' to use as the target; the columns are a, b, label",
    ),
    "duplicate_names": ("a,a,label\n" + rows(), [], "duplicate column name 'a' (columns 1 and 2)"),
    "empty_name": ("a,,label\n" + rows(), [], "row 1, column 2: empty column name"),
    "single_class": (
        HEADER + "".join(f"{i},red,yes\n" for i in range(12)),
        [],
        "column 'label' (the target) has a single class 'yes'",
    ),
    "semicolons": (GOOD.replace(",", ";"), [], "separated by ';'"),
    "tabs": (GOOD.replace(",", "\t"), [], "separated by tab"),
    "pipes": (GOOD.replace(",", "|"), [], "separated by '|'"),
    "invalid_utf8": (GOOD.encode() + b"1,r\xffd,yes\n", [], "row 14: invalid UTF-8 at byte"),
    "latin1": (
        HEADER.encode() + "1,rouge foncé,yes\n".encode("latin-1") + rows().encode(),
        [],
        "row 2: invalid UTF-8",
    ),
    "utf16": (GOOD.encode("utf-16"), [], "the file is UTF-16 text; save it as UTF-8 CSV"),
    "utf16_no_bom": (GOOD.encode("utf-16-le"), [], "binary file"),
    "binary_garbage": (bytes(range(256)) * 4, [], "row 1: a NUL byte at byte 0"),
    "unclosed_quote": (GOOD + '1,"red,yes\n', [], "row 14: malformed CSV (unexpected end of data)"),
    "no_features": ("label\n" + "yes\nno\n" * 6, [], "no feature columns besides the target"),
    "missing_target": (
        with_row("1,red,"),
        ["--impute", "none"],
        "row 5, column 'label': an empty cell",
    ),
    "regression_text": (
        with_row("1,red,abc"),
        ["--task", "regression"],
        "row 2, column 'label': 'no' is not a number",
    ),
    "too_many_categories": (
        HEADER + "".join(f"1,name{i},{('no', 'yes')[i % 2]}\n" for i in range(120)),
        ["--strict-categories"],
        "column 'b' has 120 distinct text values",
    ),
    "missing_file": (None, [], "no such file"),
    "directory": ("DIR", [], "is a directory, not a CSV file"),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_bad_csv_is_one_line_exit_2_and_keeps_the_model(name, tmp_path, capsys):
    content, extra, fragment = CORPUS[name]
    path = tmp_path / f"{name}.csv"
    if content == "DIR":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"the last good model")
    args = ["train", str(path), "--target", "label", "--out", str(model), "--epochs", "1"]
    code = main([*args, *extra])  # a later --target wins
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("chainrule: error: "), err
    assert "Traceback" not in err
    assert fragment in err, err
    assert str(path) in err
    assert model.read_bytes() == b"the last good model"
    assert sorted(os.listdir(tmp_path)) == sorted([path.name, "model.safetensors"]) or (
        content is None and os.listdir(tmp_path) == ["model.safetensors"]
    )


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 30


def test_debug_shows_the_traceback(tmp_path):
    from chainrule.data import DataError

    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataError):
        main(["--debug", "train", str(path), "--target", "label"])
