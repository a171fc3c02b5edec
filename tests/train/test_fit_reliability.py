"""fit on degenerate data, batch norm's one-row batches, and steps that overflow."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.train import Callback, TrainingDivergedError
from chainrule.train.loop import batch_bounds


def small():
    return nn.Sequential(nn.Linear(2, 3, generator=0), nn.Tanh(), nn.Linear(3, 2, generator=1))


@pytest.mark.parametrize(
    "x, y, fragment",
    [
        (
            np.zeros((0, 2), np.float32),
            np.zeros(0, np.int64),
            "at least one sample in x, got shape (0, 2)",
        ),
        (np.ones((3, 2), np.float32), np.array([0, 1]), "got x (3, 2) and y (2,)"),
        (
            np.array([[1.0, np.nan]], np.float32),
            np.array([0]),
            "non-finite x value at index (0, 1)",
        ),
        (
            np.array([[1.0, np.inf]], np.float32),
            np.array([0]),
            "non-finite x value at index (0, 1)",
        ),
    ],
)
def test_bad_training_data_is_a_clear_value_error(x, y, fragment):
    model = small()
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError) as caught:
        cr.fit(model, x, y, loss="cross_entropy", optimizer=optimizer, verbose=0)
    assert fragment in str(caught.value)


def test_empty_validation_data_is_a_clear_value_error():
    model = small()
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
    x, y = np.ones((4, 2), np.float32), np.array([0, 1, 0, 1])
    empty = (np.zeros((0, 2), np.float32), np.zeros(0, np.int64))
    with pytest.raises(
        ValueError, match=r"at least one sample in validation x, got shape \(0, 2\)"
    ):
        cr.fit(model, x, y, loss="cross_entropy", optimizer=optimizer, validation_data=empty)


@pytest.mark.parametrize(
    "n, batch_size, batch_norm, expected",
    [
        (33, 32, True, [(0, 33)]),
        (33, 32, False, [(0, 32), (32, 33)]),
        (41, 8, True, [(0, 8), (8, 16), (16, 24), (24, 32), (32, 41)]),
        (40, 8, True, [(0, 8), (8, 16), (16, 24), (24, 32), (32, 40)]),
        (1, 32, True, [(0, 1)]),
        (5, 2, True, [(0, 2), (2, 5)]),
    ],
)
def test_batch_bounds_merge_a_last_single_row_only_with_batch_norm(
    n, batch_size, batch_norm, expected
):
    assert batch_bounds(n, batch_size, batch_norm) == expected


class BatchSizes(Callback):
    def __init__(self, model):
        self.sizes = []
        original = model.forward

        def spy(x):
            self.sizes.append(x.shape[0])
            return original(x)

        model.forward = spy


def test_batch_norm_never_trains_on_one_row():
    model = nn.Sequential(
        nn.Linear(2, 4, generator=0), nn.BatchNorm1d(4), nn.Linear(4, 2, generator=1)
    )
    spy = BatchSizes(model)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(33, 2)).astype(np.float32), rng.integers(0, 2, 33)
    history = cr.fit(
        model,
        x,
        y,
        loss="cross_entropy",
        optimizer=cr.optim.SGD(model.parameters(), lr=0.1),
        epochs=2,
        batch_size=32,
        verbose=0,
        compile=False,  # the spy sees Python calls of forward; a compiled step replays
    )
    assert spy.sizes == [33, 33]
    assert np.all(np.isfinite(history["loss"]))
    with pytest.raises(ValueError, match="batch norm on a single sample"):
        cr.fit(
            model, x[:1], y[:1], loss="cross_entropy", optimizer=cr.optim.SGD(model.parameters())
        )


def test_an_overflowing_step_is_undone_and_named():
    model = nn.Sequential(nn.Linear(2, 2, generator=0))
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 2)).astype(np.float32) * 1000, rng.integers(0, 2, 16)
    cr.fit(model, x, y, loss="cross_entropy", optimizer=optimizer, batch_size=16, verbose=0)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    state = optimizer.state_dict()
    assert state["state"]  # momentum buffers exist: they must be restored too
    for group in optimizer.param_groups:
        group["lr"] = 1e38
    with pytest.raises(TrainingDivergedError) as caught:
        cr.fit(model, x, y, loss="cross_entropy", optimizer=optimizer, batch_size=16, verbose=0)
    error = caught.value
    assert "epoch 1, batch 1: the optimizer step overflowed and made '0.weight' non-finite" in str(
        error
    )
    assert "no parameter was updated" not in str(error)
    assert (error.epoch, error.batch, error.tensor) == (1, 1, "0.weight")
    for key, value in model.state_dict().items():
        assert value.tobytes() == before[key].tobytes(), key
    after = optimizer.state_dict()["state"]
    assert sorted(after) == sorted(state["state"])
    for index, entries in state["state"].items():
        for name, value in entries.items():
            assert np.array_equal(after[index][name], value), (index, name)


def test_the_first_step_overflowing_leaves_no_optimizer_state():
    model = nn.Sequential(nn.Linear(2, 2, generator=0))
    optimizer = cr.optim.SGD(model.parameters(), lr=1e38, momentum=0.9)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    x, y = np.full((4, 2), 1000.0, np.float32), np.array([0, 1, 0, 1])
    with pytest.raises(TrainingDivergedError, match="step overflowed"):
        cr.fit(model, x, y, loss="cross_entropy", optimizer=optimizer, verbose=0)
    assert optimizer.state_dict()["state"] == {}
    for key, value in model.state_dict().items():
        assert value.tobytes() == before[key].tobytes()


def test_large_finite_parameters_are_not_a_divergence():
    model = nn.Sequential(nn.Linear(2, 1, generator=0, dtype=np.float64))
    model[0].weight.data[:] = 1e307  # their sum overflows; each value is finite
    optimizer = cr.optim.SGD(model.parameters(), lr=0.0)
    cr.fit(model, np.zeros((2, 2)), np.zeros((2, 1)), loss="mse", optimizer=optimizer, verbose=0)
    assert np.all(model[0].weight.data == 1e307)
