"""``Trainer(step=...)``: a later Trainer over the same parts reuses the compiled step."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.autodiff.compile import Compiled
from chainrule.train import Trainer
from chainrule.train.trainer import StepObjective


def data(n=40):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    return x, (x[:, 0] - x[:, 2] > 0).astype(np.int64)


def network():
    return nn.Sequential(nn.Linear(4, 6, generator=0), nn.ReLU(), nn.Linear(6, 2, generator=1))


def run(model, optimizer, step=None, l1=0.0):
    trainer = Trainer(model, optimizer, F.cross_entropy, batch_size=16, l1=l1,
                      rng=np.random.default_rng(3), step=step)  # fmt: skip
    history = trainer.fit(*data(), epochs=3)
    return trainer, history


def test_a_reused_step_trains_as_a_fresh_one_without_tracing(monkeypatch):
    model = network()
    start = {k: v.copy() for k, v in model.state_dict().items()}
    optimizer = cr.optim.Adam(model.parameters(), lr=0.01)
    first, _ = run(model, optimizer)
    assert isinstance(first.step_fn.fn, StepObjective)
    traced = []
    real = Compiled._trace
    monkeypatch.setattr(Compiled, "_trace", lambda self, *a: traced.append(1) or real(self, *a))
    # the same parts again, from the same start: the same run, bit for bit, no trace
    for name, parameter in model.named_parameters():
        parameter.data[...] = start[name]
    optimizer.state.clear()
    second, history = run(model, optimizer, step=first.step_fn)
    assert second.step_fn is first.step_fn and not traced
    reference = network()
    _, expected = run(reference, cr.optim.Adam(reference.parameters(), lr=0.01))
    assert history.history["loss"] == expected.history["loss"]
    for (_, a), (_, b) in zip(model.named_parameters(), reference.named_parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("other", ["model", "optimizer", "l1"])
def test_a_step_of_other_parts_is_refused(other):
    model = network()
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
    first, _ = run(model, optimizer)
    if other == "model":
        model = network()
    elif other == "optimizer":
        optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="same model, optimizer, loss_fn and l1"):
        run(model, optimizer, step=first.step_fn, l1=0.1 if other == "l1" else 0.0)
