"""``cr.fit`` / ``evaluate`` / ``predict`` on DataFrames and Arrow tables."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.data.reading import frame_matrix
from chainrule.train import evaluate, fit, predict

pa = pytest.importorskip("pyarrow")


def data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0]], dtype=float)
    y = rng.integers(0, 3, n)
    return centers[y] + rng.standard_normal((n, 4)), y


def train(x, y):
    model = nn.Sequential(nn.Linear(4, 8, generator=0), nn.ReLU(), nn.Linear(8, 3, generator=1))
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    fit(
        model, x, y, loss="cross_entropy", optimizer=opt, epochs=3, batch_size=16, verbose=0, seed=0
    )
    return model


def as_frames(x, y, kind):
    names = ["a", "b", "c", "d"]
    if kind == "arrow":
        return pa.table({n: x[:, j] for j, n in enumerate(names)}), pa.chunked_array([y])
    if kind == "pandas":
        pd = pytest.importorskip("pandas")
        return pd.DataFrame(x, columns=names), pd.Series(y)
    pl = pytest.importorskip("polars")
    return pl.DataFrame({n: x[:, j] for j, n in enumerate(names)}), pl.Series(y)


@pytest.mark.parametrize("kind", ["arrow", "pandas", "polars"])
def test_fit_on_a_frame_trains_exactly_as_on_the_array(kind):
    x, y = data()
    frame, target = as_frames(x, y, kind)
    from_array = train(x.astype(np.float32), y)
    from_frame = train(frame, target)
    for (name, a), (_, b) in zip(
        from_array.state_dict().items(), from_frame.state_dict().items(), strict=True
    ):
        assert b.dtype == np.float32, name
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(predict(from_frame, frame), predict(from_array, x))
    got = evaluate(from_frame, frame, target, loss="cross_entropy")
    assert got["loss"] == evaluate(from_array, x, y, loss="cross_entropy")["loss"]


def test_frame_matrix_keeps_names_order_and_dtype():
    table = pa.table({"z": [1, 2, 3], "a": [0.5, 1.5, 2.5]})
    matrix, names = frame_matrix(table, dtype=np.float32)
    assert names == ["z", "a"]
    assert matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix, [[1, 0.5], [2, 1.5], [3, 2.5]])


def test_fit_refuses_text_columns_by_name_and_points_to_pipeline():
    table = pa.table({"a": [1.0, 2.0], "city": ["Oslo", "Rome"], "b": [3.0, 4.0]})
    model = nn.Sequential(nn.Linear(3, 1, generator=0))
    with pytest.raises(ValueError, match=r"non-numeric column\(s\): 'city'") as caught:
        fit(
            model,
            table,
            np.array([1.0, 2.0]),
            loss="mse",
            optimizer=cr.optim.SGD(model.parameters(), lr=0.1),
            epochs=1,
            verbose=0,
        )
    assert "cr.Pipeline" in str(caught.value) and "chainrule train" in str(caught.value)


def test_fit_on_a_frame_with_a_missing_cell_says_non_finite():
    table = pa.table({"a": [1.0, None, 3.0]})
    model = nn.Sequential(nn.Linear(1, 1, generator=0))
    with pytest.raises(ValueError, match="non-finite x value at index"):
        fit(
            model,
            table,
            np.array([1.0, 2.0, 3.0]),
            loss="mse",
            optimizer=cr.optim.SGD(model.parameters(), lr=0.1),
            epochs=1,
            verbose=0,
        )


def test_fit_one_column_target_frame_is_a_vector():
    x, y = data(n=60)
    model = train(pa.table({n: x[:, j] for j, n in enumerate("abcd")}), pa.table({"y": y}))
    assert predict(model, x).shape == (60, 3)
