"""fit(compile=True), the default, against fit(compile=False): same weights, same guards."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.train import Callback, TrainingDivergedError


def data(n: int = 70, dtype=np.float64):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 4)).astype(dtype)
    y = (x[:, 0] + x[:, 1] ** 2 > 0.5).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    return x, y


def network(dtype=np.float64):
    return nn.Sequential(
        nn.Linear(4, 16, generator=0, dtype=dtype),
        nn.BatchNorm1d(16, dtype=dtype),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(16, 3, generator=1, dtype=dtype),
    )


def train(compile: bool, dtype=np.float64, **options):
    x, y = data(dtype=dtype)
    model = network(dtype)
    optimizer = options.pop("optimizer", cr.optim.Adam)(model.parameters(), lr=0.01)
    history = cr.fit(
        model,
        x,
        y,
        loss="cross_entropy",
        optimizer=optimizer,
        epochs=3,
        batch_size=16,  # 70 rows: a last batch of 6 traces a second signature
        seed=5,
        verbose=0,
        compile=compile,
        **options,
    )
    return model, optimizer, history


def assert_same(a, b):
    (model_a, opt_a, hist_a), (model_b, opt_b, hist_b) = a, b
    for key, value in model_a.state_dict().items():
        np.testing.assert_array_equal(value, model_b.state_dict()[key], err_msg=key)
    state_a, state_b = opt_a.state_dict()["state"], opt_b.state_dict()["state"]
    assert state_a.keys() == state_b.keys()
    for index in state_a:
        for name, value in state_a[index].items():
            np.testing.assert_array_equal(value, state_b[index][name], err_msg=name)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        if key in hist_a.history:
            assert hist_a[key] == hist_b[key], key


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"l1": 1e-3, "clip_grad_norm": 0.5, "metrics": ["accuracy"], "validation_split": 0.2},
        {"optimizer": lambda ps, lr: cr.optim.SGD(ps, lr=lr, momentum=0.9, nesterov=True)},
        {"optimizer": lambda ps, lr: cr.optim.RMSprop(ps, lr=lr, weight_decay=1e-2)},
    ],
    ids=["adam", "l1-clip-metrics-validation", "sgd-nesterov", "rmsprop-wd"],
)
def test_compiled_fit_ends_with_eager_fits_weights_bit_for_bit(options):
    assert_same(train(True, **dict(options)), train(False, **dict(options)))


def test_float32_compiled_fit_is_bit_identical_too():
    compiled, eager = train(True, np.float32), train(False, np.float32)
    assert compiled[0][0].weight.dtype == np.float32
    assert_same(compiled, eager)


class Poison(Callback):
    """After batch 2 of epoch 1, put a NaN into the first weight; keep a snapshot."""

    def __init__(self):
        self.snapshot = None

    def on_batch_end(self, batch, logs):
        if self.trainer.epoch == 1 and batch == 2:
            model = self.trainer.model
            model[0].weight.data[0, 0] = np.nan
            self.snapshot = {k: np.array(v) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("compile", [True, False])
def test_a_nan_loss_raises_before_any_update(compile):
    x, y = data()
    model = network()
    poison = Poison()
    with pytest.raises(TrainingDivergedError) as caught:
        cr.fit(
            model,
            x,
            y,
            loss="cross_entropy",
            optimizer=cr.optim.Adam(model.parameters()),
            batch_size=16,
            callbacks=[poison],
            verbose=0,
            compile=compile,
        )
    assert (caught.value.epoch, caught.value.batch, caught.value.tensor) == (1, 3, "loss")
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked") or key.startswith("1.running"):
            continue  # the forward of batch 3 ran (as eager's does) before the check
        np.testing.assert_array_equal(value, poison.snapshot[key], err_msg=key)


@pytest.mark.parametrize("compile", [True, False])
def test_a_non_finite_gradient_with_a_finite_loss_is_named(compile):
    model = nn.Sequential(nn.Linear(2, 1, generator=0, dtype=np.float64))
    model[0].bias.data[...] = 0.0
    bias = model[0].bias

    def loss(output, target):  # √|b| has an infinite slope at b = 0: 0 · inf = NaN
        return F.mse_loss(output, target) + bias.abs().sqrt().sum()

    before = {k: np.array(v) for k, v in model.state_dict().items()}
    x, y = np.ones((4, 2)), np.ones((4, 1))
    with (
        np.errstate(divide="ignore", invalid="ignore"),
        pytest.raises(TrainingDivergedError) as caught,
    ):
        cr.fit(
            model,
            x,
            y,
            loss=loss,
            optimizer=cr.optim.SGD(model.parameters(), lr=0.1),
            verbose=0,
            compile=compile,
        )
    assert caught.value.tensor == "0.bias"
    assert "the gradient of '0.bias' is not finite" in str(caught.value)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


@pytest.mark.parametrize("compile", [True, False])
def test_an_overflowing_compiled_step_is_rolled_back(compile):
    model = nn.Sequential(nn.Linear(2, 2, generator=0))
    optimizer = cr.optim.Adam(model.parameters(), lr=0.1)
    x, y = np.random.default_rng(0).normal(size=(16, 2)).astype(np.float32), np.arange(16) % 2
    cr.fit(model, x, y, loss="cross_entropy", optimizer=optimizer, verbose=0, compile=compile)
    before = {k: np.array(v) for k, v in model.state_dict().items()}
    state = optimizer.state_dict()
    optimizer.param_groups[0]["lr"] = 1e39  # beyond float32: the update overflows
    with pytest.raises(TrainingDivergedError, match="step overflowed"):
        cr.fit(model, x, y, loss="cross_entropy", optimizer=optimizer, verbose=0, compile=compile)
    for key, value in model.state_dict().items():
        assert value.tobytes() == before[key].tobytes(), key
    after = optimizer.state_dict()["state"]
    for index, entries in state["state"].items():
        for name, value in entries.items():
            np.testing.assert_array_equal(after[index][name], value, err_msg=name)


def test_a_loss_that_reads_values_falls_back_to_eager():
    x, y = data()
    model = network()

    def loss(output, target):
        value = F.cross_entropy(output, target)
        return value * 2 if value.item() > 100 else value  # frozen if traced: refused

    history = cr.fit(
        model, x, y, loss=loss, optimizer=cr.optim.SGD(model.parameters()), verbose=0, seed=0
    )
    assert np.isfinite(history["loss"][0])


def test_compiled_fit_runs_python_forward_once_per_batch_shape():
    x, y = data()
    model = network()
    sizes = []
    original = model.forward

    def spy(inputs):
        sizes.append(inputs.shape[0])
        return original(inputs)

    model.forward = spy
    cr.fit(
        model,
        x,
        y,
        loss="cross_entropy",
        optimizer=cr.optim.Adam(model.parameters()),
        epochs=3,
        batch_size=16,
        verbose=0,
    )
    assert sizes == [16, 6]  # 3 epochs of 5 batches: two traces, 13 replays


class _RaiseLearningRate(Callback):
    """After batch 2, a learning rate beyond float32 and a copy of what must survive."""

    def __init__(self, model, optimizer):
        self.model, self.optimizer = model, optimizer

    def on_batch_end(self, batch, logs):
        if batch == 2:
            self.params = {k: np.array(v) for k, v in self.model.state_dict().items()}
            state = self.optimizer.state_dict()["state"]
            self.state = {i: {n: np.array(v) for n, v in e.items()} for i, e in state.items()}
            for group in self.optimizer.param_groups:
                group["lr"] = 1e39


@pytest.mark.parametrize("make", ["adam", "momentum"])
@pytest.mark.parametrize("compile", [True, False])
def test_an_overflow_in_a_later_step_undoes_it_parameters_state_and_step_count(compile, make):
    # The compiled step snapshots its flat buffers instead of each array: the undo
    # must still restore every parameter, every state array and Adam's step count.
    model = nn.Sequential(nn.Linear(2, 3, generator=0), nn.ReLU(), nn.Linear(3, 2, generator=1))
    if make == "adam":
        optimizer = cr.optim.Adam(model.parameters(), lr=0.1)
    else:
        optimizer = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 2)).astype(np.float32) * 100, np.arange(64) % 2
    spy = _RaiseLearningRate(model, optimizer)
    with pytest.raises(TrainingDivergedError, match="step overflowed") as caught:
        cr.fit(
            model,
            x,
            y,
            loss="cross_entropy",
            optimizer=optimizer,
            batch_size=16,
            shuffle=False,
            callbacks=[spy],
            verbose=0,
            compile=compile,
        )
    assert (caught.value.epoch, caught.value.batch) == (1, 3)
    for key, value in model.state_dict().items():
        assert value.tobytes() == spy.params[key].tobytes(), key
    after = optimizer.state_dict()["state"]
    assert sorted(after) == sorted(spy.state)
    for index, entries in spy.state.items():
        assert sorted(after[index]) == sorted(entries)
        for name, value in entries.items():
            assert np.array_equal(after[index][name], value), (index, name)
    if make == "adam":
        assert all(int(entries["step"]) == 2 for entries in after.values())
