"""The Trainer's cheap epoch: hooks only where overridden, training mode set only when
lost, batch rows by ``take``; each shortcut must behave as the plain loop did."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.train import Callback, Trainer
from chainrule.train.trainer import _rows


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    return x, (x[:, 0] - x[:, 2] > 0).astype(np.int64)


def network(seed=0):
    return nn.Sequential(
        nn.Linear(4, 6, generator=seed),
        nn.ReLU(),
        nn.Dropout(0.3, generator=seed + 7),
        nn.Linear(6, 2, generator=seed + 1),
    )


def trainer_for(model, callbacks=(), batch_size=16):
    return Trainer(
        model,
        cr.optim.SGD(model.parameters(), lr=0.1),
        F.cross_entropy,
        callbacks=list(callbacks),
        batch_size=batch_size,
        rng=np.random.default_rng(3),
    )


class Modes(Callback):
    """Records every module's mode at each batch; puts the dropout layer in eval mode
    after each epoch (as a validation pass that forgot to switch back would)."""

    def __init__(self, model):
        self.model, self.seen = model, []

    def on_batch_begin(self, batch, logs):
        self.seen.append([m.training for m in self.model.modules()])

    def on_epoch_end(self, epoch, logs):
        self.model[2].eval()


def test_a_module_left_in_eval_mode_trains_again_at_the_next_epoch():
    x, y = data()
    model = network()
    modes = Modes(model)
    trainer_for(model, [modes]).fit(x, y, epochs=3)
    assert len(modes.seen) == 9  # 3 epochs of 3 batches
    assert all(all(flags) for flags in modes.seen)


class CountingTrain(nn.Sequential):
    """A model whose ``train`` does more than set flags: the Trainer must call it."""

    calls = 0

    def train(self, mode=True):
        type(self).calls += mode  # eval() at the end calls train(False)
        return super().train(mode)


def test_a_model_overriding_train_has_it_called_each_epoch():
    x, y = data()
    CountingTrain.calls = 0
    model = CountingTrain(nn.Linear(4, 2, generator=0))
    trainer_for(model).fit(x, y, epochs=4)
    assert CountingTrain.calls == 4


class Epochs(Callback):
    def __init__(self):
        self.calls = []

    def on_epoch_begin(self, epoch, logs):
        self.calls.append(("begin", epoch))

    def on_epoch_end(self, epoch, logs):
        self.calls.append(("end", epoch, sorted(logs)))


def test_epoch_hooks_of_callbacks_added_after_construction_run():
    x, y = data()
    model = network()
    trainer = trainer_for(model)
    late = Epochs()
    late.trainer = trainer
    trainer.callbacks.append(late)
    trainer.fit(x, y, epochs=2)
    keys = ["loss", "lr", "seconds"]
    assert late.calls == [("begin", 1), ("end", 1, keys), ("begin", 2), ("end", 2, keys)]
    assert late in trainer.epoch_begin_hooks and late in trainer.epoch_end_hooks
    assert trainer.history not in trainer.epoch_begin_hooks  # History has no begin hook


def test_plain_callbacks_are_not_called_at_epoch_ends():
    model = network()
    plain = Callback()
    trainer = trainer_for(model, [plain])
    trainer.fit(*data(), epochs=1)
    assert plain not in trainer.epoch_begin_hooks and plain not in trainer.epoch_end_hooks
    assert trainer.history in trainer.epoch_end_hooks


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.int64),
        np.arange(24, dtype=np.float32).reshape(12, 2),
        np.arange(72, dtype=np.float64).reshape(12, 3, 2),
        np.arange(24, dtype=np.float32).reshape(12, 2)[:, ::-1],  # not contiguous
        np.arange(24.0).reshape(12, 2).view(np.ma.MaskedArray),  # a subclass: its own []
    ],
)
def test_rows_equal_fancy_indexing(array):
    index = np.array([5, 0, 11, 3, 3, 7])
    taken = _rows(array, index)
    expected = array[index]
    assert type(taken) is type(expected)
    assert taken.dtype == expected.dtype and taken.shape == expected.shape
    np.testing.assert_array_equal(np.asarray(taken), np.asarray(expected))


def test_a_fit_is_the_same_with_the_shortcuts_as_step_by_step():
    """Two identical runs, one through ``fit``, one replaying its batches by hand with
    fancy indexing, train() each epoch and every callback: the same weights, bit for bit."""
    x, y = data(n=50)
    model_a, model_b = network(), network()
    trainer_for(model_a, batch_size=16).fit(x, y, epochs=3)
    opt = cr.optim.SGD(model_b.parameters(), lr=0.1)
    rng = np.random.default_rng(3)
    for _ in range(3):
        model_b.train()
        order = rng.permutation(len(x))
        for start in range(0, len(x), 16):
            index = order[start : start + 16]
            opt.zero_grad()
            F.cross_entropy(model_b(cr.Tensor(x[index])), cr.Tensor(y[index])).backward()
            opt.step()
    for (name, a), (_, b) in zip(
        model_a.state_dict().items(), model_b.state_dict().items(), strict=True
    ):
        np.testing.assert_array_equal(a, b, err_msg=name)
