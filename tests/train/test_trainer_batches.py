"""``Trainer.fit_batches`` (a stream of batches per epoch) and the distributed switches,
in one process: the stream trains what ``fit`` trains on the same batches, and
synchronised batch norm over a world of one is plain batch norm."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.train import History
from chainrule.train.loop import use_distributed
from chainrule.train.trainer import Trainer


def _model(seed: int) -> nn.Sequential:
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 3))
    for p in model.parameters():
        p.data[...] = rng.normal(scale=0.5, size=p.data.shape)
    return model


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    return x, (x[:, 0] > x[:, 1]).astype(np.int64) + (x[:, 2] > 0.5)


def _trainer(model: nn.Module) -> Trainer:
    opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return Trainer(model, opt, F.cross_entropy, kind="argmax", batch_size=8, shuffle=False)


def test_a_stream_of_batches_trains_what_fit_trains_on_the_same_batches():
    x, y = _data()
    by_fit, by_stream = _model(1), _model(1)
    fitted = _trainer(by_fit).fit(x, y, epochs=3)
    seen: list[int] = []

    def batches(epoch: int):
        seen.append(epoch)
        for start in range(0, len(x), 8):
            yield x[start : start + 8], y[start : start + 8]

    streamed = _trainer(by_stream).fit_batches(batches, epochs=3, steps=5)
    assert seen == [1, 2, 3]
    assert isinstance(streamed, History)
    np.testing.assert_array_equal(streamed["loss"], fitted["loss"])
    for (name, a), (_, b) in zip(
        by_fit.state_dict().items(), by_stream.state_dict().items(), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=name)


def test_an_empty_stream_trains_nothing():
    model = _model(2)
    before = [p.data.copy() for p in model.parameters()]
    history = _trainer(model).fit_batches(lambda epoch: iter(()), epochs=2)
    assert history["loss"] == [0.0, 0.0]
    for p, old in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.data, old)


def test_synchronised_batch_norm_in_one_process_is_batch_norm():
    x = np.random.default_rng(0).normal(loc=3.0, size=(6, 5))
    plain, synced = nn.BatchNorm1d(5, dtype=np.float64), nn.BatchNorm1d(5, dtype=np.float64)
    synced.sync_stats = True
    a, b = cr.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    g = np.random.default_rng(1).normal(size=(6, 5))
    (plain(a) * cr.tensor(g)).sum().backward()
    (synced(b) * cr.tensor(g)).sum().backward()
    np.testing.assert_allclose(b.grad, a.grad, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(synced.weight.grad, plain.weight.grad, rtol=1e-12)
    np.testing.assert_allclose(synced.running_var.data, plain.running_var.data, rtol=1e-12)
    synced.eval()  # eval: the running statistics, no collective
    plain.eval()
    np.testing.assert_allclose(synced(cr.tensor(x)).data, plain(cr.tensor(x)).data)


def test_synchronised_batch_norm_passes_gradcheck():
    x = cr.tensor(np.random.default_rng(3).normal(size=(5, 3, 2)), requires_grad=True)
    layer = nn.BatchNorm1d(3, dtype=np.float64)
    layer.sync_stats = True
    w = cr.tensor(np.random.default_rng(4).normal(size=(5, 3, 2)))
    assert cr.gradcheck(lambda t: (layer(t) * w).sum(), [x])


@pytest.mark.parametrize("flag", [None, False])
def test_distributed_is_off_outside_mpi(monkeypatch, flag):
    for name in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert use_distributed(flag) is False
