"""Missing values, columns and categories in ``TabularEncoder``: what is learned from
the training rows, stored in the model metadata and applied to new rows."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.data import DataError, Table, TabularEncoder


def table(columns: dict[str, list[str]]) -> Table:
    n = len(next(iter(columns.values())))
    return Table("t.csv", list(columns), columns, list(range(2, n + 2)))


TRAIN = table(
    {
        "a": ["1", "", "3", "10", "NA"],
        "c": ["x", "y", "", "x", "x"],
        "y": ["u", "v", "u", "v", "u"],
    }
)


@pytest.mark.parametrize(
    ("strategy", "fill"),
    [("median", 3.0), ("mean", 14 / 3), ("most_frequent", 1.0), ("constant", 0.0)],
)
def test_numeric_gaps_are_filled_with_the_learned_value_and_flagged(strategy, fill):
    encoder = TabularEncoder("y", impute=strategy).fit(TRAIN)
    x = encoder.transform(TRAIN)
    column = encoder.output_names.index("a")
    np.testing.assert_allclose(x[:, column], [1, fill, 3, 10, fill])
    np.testing.assert_array_equal(x[:, encoder.output_names.index("a:missing")], [0, 1, 0, 0, 1])


def test_text_gaps_become_a_missing_category():
    encoder = TabularEncoder("y", impute="median").fit(TRAIN)
    assert encoder.output_names == ["a", "a:missing", "c=x", "c=y", "c=missing"]
    x = encoder.transform(TRAIN)
    np.testing.assert_array_equal(x[2, 2:], [0, 0, 1])


def test_most_frequent_fills_text_with_the_commonest_category():
    encoder = TabularEncoder("y", impute="most_frequent").fit(TRAIN)
    assert encoder.output_names == ["a", "a:missing", "c=x", "c=y"]
    np.testing.assert_array_equal(encoder.transform(TRAIN)[2, 2:], [1, 0])


def test_drop_leaves_out_training_rows_with_gaps():
    encoder = TabularEncoder("y", impute="drop", strict_categories=False)
    kept, counts = encoder.training_rows(TRAIN)
    assert counts == {"missing_target": 0, "missing_features": 3}
    assert [kept.where(i) for i in range(len(kept))] == ["t.csv: row 2", "t.csv: row 5"]
    encoder.fit(TRAIN)
    assert encoder.output_names == ["a", "c=x"]
    # At predict time a gap is filled (median of the kept rows), never dropped.
    np.testing.assert_allclose(encoder.transform(TRAIN)[:, 0], [1, 5.5, 3, 10, 5.5])


def test_rows_with_a_missing_target_are_dropped_and_counted():
    data = table({"a": [str(i) for i in range(6)], "y": ["u", "", "v", "?", "u", "v"]})
    encoder = TabularEncoder("y", impute="median")
    kept, counts = encoder.training_rows(data)
    assert counts == {"missing_target": 2}
    assert len(kept) == 4
    assert kept.where(1, "a") == "t.csv: row 4, column 'a'"


def test_na_values_can_keep_a_category_called_NA():
    data = table({"region": ["NA", "EU", "NA", ""], "y": ["u", "v", "u", "v"]})
    default = TabularEncoder("y", impute="median").fit(data)
    assert default.output_names == ["region=EU", "region=missing"]
    kept = TabularEncoder("y", impute="median", na_values=[""]).fit(data)
    assert kept.output_names == ["region=EU", "region=NA", "region=missing"]
    restored = TabularEncoder.from_dict(kept.to_dict())
    np.testing.assert_array_equal(restored.transform(data), kept.transform(data))


def test_strict_rules_stay_the_library_default():
    with pytest.raises(DataError, match="row 3, column 'a': an empty cell"):
        TabularEncoder("y").fit(TRAIN)


def test_unseen_categories_map_to_zeros_and_are_counted():
    encoder = TabularEncoder("y", impute="median", strict_categories=False).fit(TRAIN)
    new = table({"a": ["1", "2"], "c": ["x", "Atlantis"]})
    x = encoder.transform(new)
    np.testing.assert_array_equal(x[:, 2:], [[1, 0, 0], [0, 0, 0]])
    assert encoder.warnings == {"unseen categories in 'c'": 1}
    encoder.strict_categories = True
    with pytest.raises(DataError, match="row 3, column 'c': unknown category 'Atlantis'"):
        encoder.transform(new)


def test_max_categories_groups_rare_values_as_infrequent():
    cells = ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d", "e"]
    data = table({"c": cells, "y": ["u", "v"] * 7})
    encoder = TabularEncoder("y", max_categories=3, strict_categories=False).fit(data)
    assert encoder.output_names == ["c=a", "c=b", "c=infrequent"]
    x = encoder.transform(table({"c": ["b", "d", "zzz"]}))
    np.testing.assert_array_equal(x, [[0, 1, 0], [0, 0, 1], [0, 0, 1]])


def test_near_unique_text_is_dropped_and_said():
    data = table({"name": [f"n{i}" for i in range(40)], "a": ["1", "2"] * 20, "y": ["u", "v"] * 20})
    encoder = TabularEncoder("y", impute="median", strict_categories=False).fit(data)
    assert encoder.output_names == ["a"]
    assert encoder.dropped[0]["name"] == "name"
    assert "near-unique" in encoder.dropped[0]["why"]


def test_dates_become_numeric_parts():
    data = table({"d": ["2024-03-01", "2023-12-31", "", "03/01/2024"], "y": ["u", "v"] * 2})
    encoder = TabularEncoder("y", impute="median").fit(data)
    assert encoder.output_names == [
        "d:year", "d:month", "d:dayofweek", "d:dayofyear", "d:ordinal", "d:missing"
    ]  # fmt: skip
    x = encoder.transform(data)
    np.testing.assert_array_equal(x[0], [2024, 3, 4, 61, 19783, 0])  # a Friday
    np.testing.assert_array_equal(x[1], [2023, 12, 6, 365, 19722, 0])
    np.testing.assert_array_equal(x[3], x[0])
    np.testing.assert_array_equal(x[2], [2024, 3, 4, 61, 19783, 1])  # medians of 3 dates


def test_columns_drop_and_id_choose_the_features():
    data = table({"id": ["7", "8", "9"], "a": ["1", "2", "3"], "b": ["x", "y", "x"],
                  "y": ["u", "v", "u"]})  # fmt: skip
    assert TabularEncoder("y", drop=["b"], id_column="id").fit(data).output_names == ["a"]
    assert TabularEncoder("y", columns=["b"]).fit(data).output_names == ["b=x", "b=y"]
    with pytest.raises(DataError, match="no column 'zz'"):
        TabularEncoder("y", drop=["zz"]).fit(data)


def test_an_old_encoder_dict_still_loads_with_the_strict_rules():
    old = {"target": "y", "task": "classification", "classes": ["u", "v"],
           "features": [{"name": "a", "kind": "numeric"}]}  # fmt: skip
    encoder = TabularEncoder.from_dict(old)
    assert encoder.impute is None and encoder.strict_categories
    assert encoder.to_dict() == old
    with pytest.raises(DataError, match="row 3, column 'a': an empty cell"):
        encoder.transform(table({"a": ["1", ""]}))


@pytest.mark.parametrize(
    "feature",
    [
        {"name": "a", "kind": "numeric", "fill": "x"},
        {"name": "a", "kind": "numeric", "indicator": "yes"},
        {"name": "a", "kind": "date", "fill": [1, 2]},
        {"name": "c", "kind": "categorical", "categories": ["x"], "missing_category": "zz"},
    ],
)
def test_malformed_imputation_metadata_is_refused(feature):
    state = {"target": "y", "task": "regression", "features": [feature]}
    with pytest.raises(ValueError, match="encoder feature"):
        TabularEncoder.from_dict(state)


# -- the matrix filled block by block (issue 12: encoding cost) ------------------------
MIXED = table(
    {
        "a": ["1", "", "3", "10", "NA", "2.5", "7"],
        "d": ["2024-03-01", "2023-12-31", "", "03/01/2024", "2024-01-02", "", "2024-05-05"],
        "c": ["x", "y", "", "x", "z", "y", "x"],
        "y": ["u", "v", "u", "v", "u", "v", "u"],
    }
)
# Each row written out by hand: a, a:missing, 5 date parts, d:missing, c=x, c=y, c=z,
# c=missing. The median date parts of the 5 present dates; row 5's 'w' (predict) is unseen.
DATE_FILL = [2024, 3, 4, 61, 19783]
EXPECTED = [
    [1, 0, 2024, 3, 4, 61, 19783, 0, 1, 0, 0, 0],
    [3, 1, 2023, 12, 6, 365, 19722, 0, 0, 1, 0, 0],
    [3, 0, *DATE_FILL, 1, 0, 0, 0, 1],
    [10, 0, 2024, 3, 4, 61, 19783, 0, 1, 0, 0, 0],
    [3, 1, 2024, 1, 1, 2, 19724, 0, 0, 0, 1, 0],
    [2.5, 0, *DATE_FILL, 1, 0, 1, 0, 0],
    [7, 0, 2024, 5, 6, 126, 19848, 0, 1, 0, 0, 0],
]


@pytest.mark.parametrize("block", [1, 2, 3, 7, 8192])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_matrix_is_the_same_whatever_the_block_of_rows(monkeypatch, block, dtype):
    import chainrule.data.tabular as tabular

    monkeypatch.setattr(tabular, "_BLOCK_ROWS", block)
    encoder = TabularEncoder("y", impute="median").fit(MIXED)
    assert encoder.output_names == [
        "a", "a:missing", "d:year", "d:month", "d:dayofweek", "d:dayofyear", "d:ordinal",
        "d:missing", "c=x", "c=y", "c=z", "c=missing",
    ]  # fmt: skip
    x = encoder.transform(MIXED, dtype=dtype)
    assert x.dtype == dtype and x.flags.c_contiguous
    np.testing.assert_array_equal(x, np.array(EXPECTED, dtype=dtype))


def test_unseen_categories_are_all_zero_rows_in_any_block(monkeypatch):
    import chainrule.data.tabular as tabular

    monkeypatch.setattr(tabular, "_BLOCK_ROWS", 2)
    encoder = TabularEncoder("y", impute="median", strict_categories=False).fit(MIXED)
    new = table({"a": ["1", "2", "3"], "d": ["2024-03-01"] * 3, "c": ["w", "x", "q"],
                 "y": ["u", "v", "u"]})  # fmt: skip
    x = encoder.transform(new)
    np.testing.assert_array_equal(x[:, -4:], [[0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    assert encoder.warnings == {"unseen categories in 'c'": 2}


def test_transform_of_an_empty_table_is_zero_rows_of_every_feature():
    # Regression: a table with a header and no rows failed with numpy's "argmax of an
    # empty sequence" (an empty column reads as neither numbers nor text).
    rows = 40
    cells = {
        "when": [f"2024-01-0{i % 9 + 1}" for i in range(rows)],
        "x": [str(i) if i % 5 else "" for i in range(rows)],  # gaps: an indicator column
        "colour": ["red" if i % 3 else "blue" for i in range(rows)],
        "y": ["a" if i % 2 else "b" for i in range(rows)],
    }
    names = list(cells)
    encoder = TabularEncoder("y", impute="median").fit(
        Table("t.csv", names, cells, rows=list(range(2, rows + 2)))
    )
    full = encoder.transform(Table("t.csv", names, cells, rows=list(range(2, rows + 2))))
    empty = encoder.transform(Table("e.csv", names, {k: [] for k in names}, rows=[]))
    assert full.shape == (rows, len(encoder.output_names))
    assert empty.shape == (0, len(encoder.output_names)) and empty.dtype == np.float64
    assert len(encoder.output_names) > 4  # date parts, indicator and one-hot all counted
