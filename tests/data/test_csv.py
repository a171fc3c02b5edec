"""CSV reading and tabular encoding: kinds, categories, classes, and good messages."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.data import DataError, TabularEncoder, load_digits, read_csv
from chainrule.data.tabular import columns_table


def write(tmp_path, text, name="data.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return str(path)


def test_numeric_and_categorical_columns_and_classes(tmp_path):
    path = write(
        tmp_path, "age,color,label\n31,red,no\n45,blue,yes\n 22 , green ,no\n\n60,red,yes\n"
    )
    table = read_csv(path)
    assert table.names == ["age", "color", "label"]
    assert table.rows == [2, 3, 4, 6]  # blank line 5 skipped, rows are file lines
    encoder = TabularEncoder("label").fit(table)
    assert encoder.task == "classification"
    assert encoder.classes == ["no", "yes"]
    assert encoder.features == [
        {"name": "age", "kind": "numeric"},
        {"name": "color", "kind": "categorical", "categories": ["blue", "green", "red"]},
    ]
    x = encoder.transform(table)
    np.testing.assert_array_equal(x, [[31, 0, 0, 1], [45, 1, 0, 0], [22, 0, 1, 0], [60, 0, 0, 1]])
    np.testing.assert_array_equal(encoder.encode_target(table), [0, 1, 0, 1])
    assert encoder.output_names == ["age", "color=blue", "color=green", "color=red"]


def test_bom_is_accepted(tmp_path):
    path = write(tmp_path, "\ufeffa,b\n1,2\n3,4\n")
    assert read_csv(path).names == ["a", "b"]


def test_numeric_classes_sort_as_numbers_and_auto_task():
    table = columns_table({"x": [1, 2, 3, 4], "y": ["10", "2", "1", "2"]})
    assert TabularEncoder("y").fit(table).classes == ["1", "2", "10"]
    table = columns_table({"x": [1, 2, 3, 4], "y": [0.5, 1.25, 3, 4]})
    assert TabularEncoder("y").fit(table).task == "regression"
    assert TabularEncoder("y", "classification").fit(table).task == "classification"


def test_encoder_round_trips_through_dict():
    table = columns_table({"c": ["a", "b", "a"], "x": [1, 2, 3], "y": ["u", "v", "u"]})
    encoder = TabularEncoder("y").fit(table)
    again = TabularEncoder.from_dict(encoder.to_dict())
    np.testing.assert_array_equal(again.transform(table), encoder.transform(table))


def test_quoted_fields_with_commas_and_newlines(tmp_path):
    path = write(tmp_path, 'name,x,y\n"a, b",1,0\n"multi\nline",2,1\nc,3,0\n')
    table = read_csv(path)
    assert table.columns["name"] == ["a, b", "multi\nline", "c"]
    assert table.rows == [2, 4, 5]


@pytest.mark.parametrize(
    ("cells", "fragment"),
    [
        (["red,1", "blue,2", "purple,3"], "row 4, column 'c': unknown category 'purple'"),
        (["red,1", ",2", "red,3"], "row 3, column 'c': an empty cell"),
    ],
)
def test_prediction_data_errors(tmp_path, cells, fragment):
    train = write(tmp_path, "c,y\nred,a\nblue,b\nred,a\n", "train.csv")
    encoder = TabularEncoder("y").fit(read_csv(train))
    path = write(tmp_path, "c,x\n" + "\n".join(cells) + "\n", "new.csv")
    with pytest.raises(DataError, match=fragment):
        encoder.transform(read_csv(path))


def test_missing_prediction_column_is_named(tmp_path):
    train = write(tmp_path, "a,b,y\n1,2,u\n3,4,v\n", "train.csv")
    encoder = TabularEncoder("y").fit(read_csv(train))
    new = read_csv(write(tmp_path, "a,z\n1,2\n", "new.csv"))
    with pytest.raises(DataError, match="missing column 'b' that the model was trained on"):
        encoder.transform(new)
    assert encoder.check_columns(read_csv(write(tmp_path, "b,a,z\n1,2,3\n", "n2.csv"))) == ["z"]


def test_unseen_class_when_evaluating(tmp_path):
    encoder = TabularEncoder("y").fit(read_csv(write(tmp_path, "a,y\n1,u\n2,v\n", "t.csv")))
    table = read_csv(write(tmp_path, "a,y\n1,u\n2,w\n", "e.csv"))
    with pytest.raises(DataError, match=r"e.csv: row 3, column 'y': class 'w' was not seen"):
        encoder.encode_target(table)


def test_bundled_digits():
    x, y = load_digits()
    assert x.shape == (1797, 64) and x.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert x.min() == 0 and x.max() == 16
    np.testing.assert_array_equal(
        np.bincount(y), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    )


def test_bundled_digits_match_scikit_learn():
    sklearn = pytest.importorskip("sklearn.datasets")
    digits = sklearn.load_digits()
    x, y = load_digits(np.float64)
    np.testing.assert_array_equal(x, digits.data)
    np.testing.assert_array_equal(y, digits.target)
