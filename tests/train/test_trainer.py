"""The one Trainer: callbacks as parts, the cheap divergence guard, shared helpers, resume."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.data import DataLoader, TensorDataset
from chainrule.data.loader import batch_slices
from chainrule.optim.lr_scheduler import LRScheduler
from chainrule.train import (
    Callback,
    DivergenceGuard,
    EarlyStopping,
    History,
    LearningRateScheduler,
    Trainer,
    TrainingDivergedError,
    fit,
)
from chainrule.train import guard as guard_module
from chainrule.train import metrics as M
from chainrule.train.checkpoint import TrainingCheckpoint, load_checkpoint
from chainrule.train.errors import ResumeError
from chainrule.train.loop import _split


def data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.int64)


def network(seed=0, dropout=False):
    layers = [nn.Linear(4, 8, generator=seed), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(0.2, generator=seed + 5))
    return nn.Sequential(*layers, nn.Linear(8, 2, generator=seed + 1))


def weights(model):
    return {k: np.array(v) for k, v in model.state_dict().items()}


class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def on_batch_begin(self, batch, logs):
        self.calls.append(("begin", self.trainer.epoch, batch))

    def on_batch_end(self, batch, logs):
        self.calls.append(("end", self.trainer.epoch, batch))


def test_a_trainer_built_by_hand_runs_callbacks_in_keras_order():
    x, y = data()
    model = network()
    recorder = Recorder()
    trainer = Trainer(
        model,
        cr.optim.SGD(model.parameters(), lr=0.1),
        F.cross_entropy,
        callbacks=[recorder],
        batch_size=32,
        rng=np.random.default_rng(0),
    )
    history = trainer.fit(x, y, epochs=2)
    assert isinstance(history, History) and history is trainer.history
    assert history.epoch == [1, 2] and len(history["loss"]) == 2
    expected = [(hook, e, b) for e in (1, 2) for b in (1, 2, 3) for hook in ("begin", "end")]
    assert recorder.calls == expected
    assert trainer.begin_hooks == [recorder] and trainer.batch_hooks == [recorder]


def test_per_batch_hooks_cost_nothing_unless_overridden():
    model = network()
    plain = Callback()
    trainer = Trainer(model, cr.optim.SGD(model.parameters()), F.cross_entropy, callbacks=[plain])
    assert trainer.begin_hooks == [] and trainer.batch_hooks == []


class Plateau(LRScheduler):
    """A scheduler that steps on a metric without being named ReduceLROnPlateau."""

    needs_metric = True

    def __init__(self, optimizer):
        self.seen = []
        super().__init__(optimizer)
        self.seen.clear()  # the constructor's own first step

    def get_lr(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def step(self, metric=None):
        self.seen.append(metric)


def test_the_scheduler_says_whether_it_takes_the_monitored_value():
    x, y = data()
    model = network()
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
    schedule = Plateau(optimizer)
    history = fit(
        model,
        x,
        y,
        loss="cross_entropy",
        optimizer=optimizer,
        epochs=3,
        callbacks=[LearningRateScheduler(schedule, monitor="loss")],
        verbose=0,
        seed=0,
    )
    assert schedule.seen == history["loss"]
    assert cr.optim.lr_scheduler.ReduceLROnPlateau.needs_metric is True
    assert cr.optim.lr_scheduler.StepLR.needs_metric is False


@pytest.fixture
def copies(monkeypatch):
    """How many times the guard copied parameters and state before a step."""
    taken = []
    original = guard_module._Snapshot.take

    def counting(self, flat):
        taken.append(1)
        original(self, flat)

    monkeypatch.setattr(guard_module._Snapshot, "take", counting)
    return taken


@pytest.mark.parametrize("compile", [True, False])
@pytest.mark.parametrize(
    "make",
    [
        lambda p: cr.optim.Adam(p, lr=0.01),
        lambda p: cr.optim.AdamW(p, lr=0.01, amsgrad=True),
        lambda p: cr.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    ],
    ids=["adam", "adamw-amsgrad", "sgd-nesterov"],
)
def test_the_guard_copies_nothing_for_ordinary_sgd_and_adam_steps(copies, make, compile):
    x, y = data()
    model = network()
    fit(model, x, y, loss="cross_entropy", optimizer=make(model.parameters()), epochs=3,
        verbose=0, seed=0, compile=compile)  # fmt: skip
    assert copies == []


def test_the_guard_copies_each_step_of_an_optimizer_it_cannot_bound(copies):
    x, y = data()
    model = network()
    optimizer = cr.optim.RMSprop(model.parameters(), lr=0.01)
    fit(model, x, y, loss="cross_entropy", optimizer=optimizer, epochs=2, verbose=0, seed=0)
    assert len(copies) == 2 * 3  # 2 epochs of 3 batches


@pytest.mark.parametrize("make", ["adam", "sgd"])
def test_the_guards_bounds_stay_above_the_parameters_and_state(make):
    x, y = data()
    x = x * 50  # large gradients: the bounds grow fast
    model = network()
    if make == "adam":
        optimizer = cr.optim.Adam(model.parameters(), lr=0.5, weight_decay=0.1)
    else:
        optimizer = cr.optim.SGD(model.parameters(), lr=0.3, momentum=0.9, weight_decay=0.1)
    guard = DivergenceGuard()
    seen = []

    class Check(Callback):
        def on_epoch_end(self, epoch, logs):
            bounds = guard.headroom.bounds
            largest = max(float(np.abs(p.data).max()) for p in model.parameters())
            state = [v for s in optimizer.state.values() for v in s.values()]
            arrays = [v for v in state if isinstance(v, np.ndarray)]
            seen.append(bounds is not None)
            assert bounds[0] >= largest
            assert max(bounds[1:]) >= max(float(np.abs(a).max()) for a in arrays)

    trainer = Trainer(model, optimizer, F.cross_entropy, callbacks=[guard, Check()],
                      batch_size=16, rng=np.random.default_rng(0))  # fmt: skip
    trainer.fit(x, y, epochs=3)
    assert seen == [True, True, True]


def test_a_step_near_the_limit_is_copied_and_undone(copies):
    model = network()
    optimizer = cr.optim.SGD(model.parameters(), lr=1e38)
    x, y = data()
    before = weights(model)
    with pytest.raises(TrainingDivergedError, match="step overflowed"):
        fit(model, x * 1000, y, loss="cross_entropy", optimizer=optimizer, verbose=0)
    assert copies == [1]
    for key, value in weights(model).items():
        assert value.tobytes() == before[key].tobytes(), key


@pytest.mark.parametrize("compile", [True, False])
def test_fit_clips_with_nn_utils_clip_grad_norm(compile):
    x, y = data()
    model, manual = network(), network()
    optimizer = cr.optim.SGD(model.parameters(), lr=0.5)
    fit(model, x, y, loss="cross_entropy", optimizer=optimizer, epochs=2, batch_size=32,
        shuffle=False, clip_grad_norm=0.05, verbose=0, compile=compile)  # fmt: skip
    optimizer = cr.optim.SGD(manual.parameters(), lr=0.5)
    manual.train()
    for _ in range(2):
        for start, stop in batch_slices(len(x), 32):
            optimizer.zero_grad()
            F.cross_entropy(manual(cr.Tensor(x[start:stop])), cr.Tensor(y[start:stop])).backward()
            nn.utils.clip_grad_norm_(manual.parameters(), 0.05)
            optimizer.step()
    for key, value in weights(manual).items():
        assert value.tobytes() == weights(model)[key].tobytes(), key


@pytest.mark.parametrize(
    ("n", "size", "options", "expected"),
    [
        (10, 4, {}, [(0, 4), (4, 8), (8, 10)]),
        (10, 4, {"drop_last": True}, [(0, 4), (4, 8)]),
        (9, 4, {"merge_single": True}, [(0, 4), (4, 9)]),
        (9, 4, {}, [(0, 4), (4, 8), (8, 9)]),
        (1, 4, {"merge_single": True}, [(0, 1)]),
        (0, 4, {}, []),
    ],
)
def test_batch_slices_is_the_one_place_batches_are_cut(n, size, options, expected):
    assert batch_slices(n, size, **options) == expected


def test_dataloader_and_fit_draw_the_same_epoch_order():
    x, y = data(n=10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True, generator=3)
    batches = [yb.data for _, yb in loader]
    order = np.random.default_rng(3).permutation(10)
    assert [b.tolist() for b in batches] == [y[order[s:e]].tolist() for s, e in batch_slices(10, 4)]


def test_validation_split_draws_as_before_through_random_split():
    x, y = data(n=50)
    _, _, x_val, _ = _split(x, y, 0.2, np.random.default_rng(7))
    order = np.random.default_rng(7).permutation(50)  # the draw fit always made
    np.testing.assert_array_equal(x_val, x[order[:10]])


def test_precision_recall_f1_keep_their_names_and_signatures():
    for metric in (M.precision, M.recall, M.f1_score):
        assert M.get_metric(metric.__name__) is metric
        parameters = inspect.signature(metric).parameters
        assert list(parameters) == [
            "y_true", "y_pred", "average", "labels", "pos_label", "zero_division",
        ]  # fmt: skip
    assert M.recall([0, 1, 1, 1], [0, 1, 0, 1], average=None).tolist() == [1.0, 2 / 3]


def _resumable(tmp_path, epochs, stopping=True):
    model = network(dropout=True)
    optimizer = cr.optim.Adam(model.parameters(), lr=0.01)
    rng = np.random.default_rng(11)
    early = EarlyStopping(monitor="loss", patience=50) if stopping else None
    checkpoint = TrainingCheckpoint(
        str(tmp_path / "run.ckpt"),
        model=model,
        optimizer=optimizer,
        rng=rng,
        epochs=epochs,
        fingerprint={"target": "y", "options": {"lr": 0.01, "epochs": epochs}},
        early_stopping=early,
    )
    callbacks = [c for c in (early, checkpoint) if c is not None]
    return model, optimizer, rng, checkpoint, callbacks


def test_training_checkpoint_resumes_bit_for_bit_without_the_cli(tmp_path):
    x, y = data()
    whole_dir, part_dir = tmp_path / "whole", tmp_path / "part"
    whole_dir.mkdir(), part_dir.mkdir()
    model, optimizer, rng, _, callbacks = _resumable(whole_dir, 4)
    fit(model, x, y, loss="cross_entropy", optimizer=optimizer, epochs=4, seed=rng,
        callbacks=callbacks, verbose=0)  # fmt: skip
    expected = weights(model)

    model, optimizer, rng, _, callbacks = _resumable(part_dir, 2)
    fit(model, x, y, loss="cross_entropy", optimizer=optimizer, epochs=2, seed=rng,
        callbacks=callbacks, verbose=0)  # fmt: skip
    model, optimizer, rng, checkpoint, callbacks = _resumable(part_dir, 4)
    path = str(part_dir / "run.ckpt")
    with pytest.raises(ResumeError, match=r"differs in: lr \(0.01 in the checkpoint, 0.1 now\)"):
        TrainingCheckpoint(path, model=model, optimizer=optimizer, rng=rng, epochs=4,
                           fingerprint={"target": "y", "options": {"lr": 0.1}}).restore(
            load_checkpoint(path), path
        )  # fmt: skip
    done, finished = checkpoint.restore(load_checkpoint(path), path)
    assert (done, finished) == (2, False)
    history = fit(model, x, y, loss="cross_entropy", optimizer=optimizer, epochs=4, seed=rng,
                  callbacks=callbacks, verbose=0, initial_epoch=done)  # fmt: skip
    assert checkpoint.merged(history).epoch == [1, 2, 3, 4]
    for key, value in weights(model).items():
        assert value.tobytes() == expected[key].tobytes(), key


class HugeMomentum(Callback):
    """After batch 1, a momentum buffer near float32's limit: outside the guard's bounds."""

    def on_batch_end(self, batch, logs):
        if batch == 1:
            for entries in self.trainer.optimizer.state.values():
                entries["momentum_buffer"][...] = 3e38


@pytest.mark.parametrize("compile", [True, False])
def test_an_overflow_the_bounds_did_not_foresee_is_named_not_hidden(compile):
    x, y = data()
    model = network()
    optimizer = cr.optim.SGD(model.parameters(), lr=2.0, momentum=0.9)
    with pytest.raises(TrainingDivergedError, match="could not be undone") as caught:
        fit(model, x, y, loss="cross_entropy", optimizer=optimizer, callbacks=[HugeMomentum()],
            verbose=0, seed=0, compile=compile)  # fmt: skip
    assert (caught.value.epoch, caught.value.batch) == (1, 2)
    assert "optimizer step overflowed and made '0.weight' non-finite" in str(caught.value)
