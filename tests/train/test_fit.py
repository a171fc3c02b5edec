"""The training loop: it learns, records, stops at the best point and never applies NaN."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.train import (
    Callback,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    TrainingDivergedError,
    evaluate,
    fit,
    predict,
)


def blobs(n=240, seed=0, dtype=np.float32):
    """Three well-separated Gaussian classes in 4 dimensions."""
    rng = np.random.default_rng(seed)
    centers = np.array([[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0]], dtype=float)
    y = rng.integers(0, 3, n)
    x = centers[y] + rng.standard_normal((n, 4))
    return x.astype(dtype), y


def classifier(seed=0, dropout=0.0):
    layers = [nn.Linear(4, 16, generator=seed), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout, generator=seed))
    layers.append(nn.Linear(16, 3, generator=seed + 1))
    return nn.Sequential(*layers)


def snapshot(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def test_fit_learns_separable_classes_and_records_history():
    x, y = blobs()
    model = classifier()
    history = fit(
        model,
        x,
        y,
        loss="cross_entropy",
        optimizer=cr.optim.Adam(model.parameters(), lr=0.01),
        epochs=15,
        batch_size=16,
        validation_split=0.25,
        metrics=["accuracy"],
        seed=0,
        verbose=0,
    )
    assert len(history) == 15
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
    assert history["loss"][-1] < history["loss"][0] / 4
    assert history["val_accuracy"][-1] >= 0.95
    assert history["lr"] == [0.01] * 15
    scores = evaluate(model, x, y, loss="cross_entropy", metrics=["accuracy"])
    assert scores["accuracy"] >= 0.95
    outputs = predict(model, x[:5])
    assert outputs.shape == (5, 3) and outputs.dtype == np.float32


def test_regression_with_one_dimensional_targets():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 3)).astype(np.float32)
    y = x @ np.array([1.5, -2.0, 0.5], dtype=np.float32) + 0.3
    model = nn.Linear(3, 1, generator=0)
    history = fit(
        model,
        x,
        y,
        loss="mse",
        optimizer=cr.optim.SGD(model.parameters(), lr=0.1),
        epochs=30,
        batch_size=20,
        metrics=["r2", "mae"],
        seed=0,
        verbose=0,
    )
    assert history["loss"][-1] < 1e-4
    assert history["r2"][-1] > 0.999
    np.testing.assert_allclose(model.weight.data, [[1.5, -2.0, 0.5]], atol=1e-2)
    np.testing.assert_allclose(model.bias.data, [0.3], atol=1e-2)


def test_same_seed_gives_identical_weights_with_dropout_and_shuffling():
    x, y = blobs()
    results = []
    for _ in range(2):
        model = classifier(dropout=0.3)
        fit(
            model,
            x,
            y,
            loss="cross_entropy",
            optimizer=cr.optim.SGD(model.parameters(), lr=0.05),
            epochs=3,
            batch_size=32,
            seed=7,
            verbose=0,
        )
        results.append(snapshot(model))
    for key in results[0]:
        np.testing.assert_array_equal(results[0][key], results[1][key])


def test_nan_loss_raises_before_any_update_and_names_epoch_and_batch():
    x, y = blobs(n=64)
    model = classifier()
    calls = {"n": 0}

    def poisoned(output, target):
        calls["n"] += 1
        loss = F.cross_entropy(output, target)
        return loss * float("nan") if calls["n"] == 3 else loss

    before = {}

    class Snap(Callback):
        def on_batch_end(self, batch, logs):
            before.update(snapshot(self.trainer.model))

    with pytest.raises(TrainingDivergedError) as info:
        fit(
            model,
            x,
            y,
            loss=poisoned,
            optimizer=cr.optim.SGD(model.parameters(), lr=0.1),
            epochs=2,
            batch_size=16,
            callbacks=[Snap()],
            shuffle=False,
            verbose=0,
            compile=False,  # the loss counts its Python calls: a compiled step traces once
        )
    error = info.value
    assert (error.epoch, error.batch, error.tensor) == (1, 3, "loss")
    assert "epoch 1, batch 3" in str(error)
    after = snapshot(model)
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])


def test_nan_gradient_names_the_first_parameter_and_changes_nothing():
    x, y = blobs(n=32)
    model = classifier()
    start = snapshot(model)

    def poisoned(output, target):
        # Finite value, NaN gradient: d sqrt(u)/du is infinite at u = 0 and |.|' is 0 there.
        kink = cr.sqrt(cr.abs(output - cr.Tensor(output.data.copy()))).sum()
        return F.cross_entropy(output, target) + 0.0 * kink

    expected = r"epoch 1, batch 1: the gradient of '0.weight'"
    with pytest.raises(TrainingDivergedError, match=expected), np.errstate(all="ignore"):
        fit(
            model,
            x,
            y,
            loss=poisoned,
            optimizer=cr.optim.Adam(model.parameters()),
            epochs=1,
            batch_size=16,
            verbose=0,
        )
    for key, value in snapshot(model).items():
        np.testing.assert_array_equal(value, start[key])


class Snapshots(Callback):
    def __init__(self):
        self.states = {}

    def on_epoch_end(self, epoch, logs):
        self.states[epoch] = snapshot(self.trainer.model)


def test_early_stopping_restores_the_best_weights():
    x, y = blobs(n=120, seed=3)
    model = classifier()
    snaps = Snapshots()
    stopper = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    # A learning rate far too high makes the validation loss bounce, so it stops early.
    history = fit(
        model,
        x,
        y,
        loss="cross_entropy",
        optimizer=cr.optim.SGD(model.parameters(), lr=3.0, momentum=0.9),
        epochs=40,
        batch_size=8,
        validation_split=0.3,
        callbacks=[snaps, stopper],
        seed=1,
        verbose=0,
    )
    assert history.stopped_epoch is not None and len(history) < 40
    best_epoch = int(np.argmin(history["val_loss"])) + 1
    assert stopper.best_epoch == best_epoch
    assert stopper.best == pytest.approx(min(history["val_loss"]))
    for key, value in snapshot(model).items():
        np.testing.assert_array_equal(value, snaps.states[best_epoch][key])


def test_early_stopping_on_val_loss_without_validation_is_a_clear_error():
    x, y = blobs(n=32)
    model = classifier()
    with pytest.raises(ValueError, match="no validation data"):
        fit(
            model,
            x,
            y,
            loss="cross_entropy",
            optimizer=cr.optim.SGD(model.parameters(), lr=0.1),
            callbacks=[EarlyStopping()],
            verbose=0,
        )


def test_l1_shrinks_weights_towards_zero():
    x, y = blobs()
    sums = []
    for l1 in (0.0, 0.05):
        model = classifier()
        fit(
            model,
            x,
            y,
            loss="cross_entropy",
            optimizer=cr.optim.SGD(model.parameters(), lr=0.05),
            epochs=10,
            batch_size=16,
            l1=l1,
            seed=0,
            verbose=0,
        )
        sums.append(sum(np.abs(p.data).sum() for n, p in model.named_parameters() if "weight" in n))
    assert sums[1] < 0.7 * sums[0]


def test_augmentation_is_applied_to_training_batches_only():
    x, y = blobs(n=48)
    seen = []

    def noise(batch, rng):
        seen.append(batch.shape)
        return batch + rng.normal(0, 0.01, batch.shape).astype(batch.dtype)

    model = classifier()
    fit(
        model,
        x,
        y,
        loss="cross_entropy",
        optimizer=cr.optim.SGD(model.parameters(), lr=0.1),
        epochs=2,
        batch_size=16,
        validation_split=0.25,
        augment=noise,
        seed=0,
        verbose=0,
    )
    assert len(seen) == 2 * 3  # 36 training samples in batches of 16, two epochs
    assert all(shape[1] == 4 for shape in seen)


def test_learning_rate_schedule_function_and_scheduler_object():
    x, y = blobs(n=32)
    model = classifier()
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
    history = fit(
        model,
        x,
        y,
        loss="cross_entropy",
        optimizer=optimizer,
        epochs=4,
        callbacks=[LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5**epoch)],
        verbose=0,
    )
    assert history["lr"] == pytest.approx([0.1, 0.05, 0.025, 0.0125])
    model = classifier()
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
    scheduler = cr.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.1)
    history = fit(
        model,
        x,
        y,
        loss="cross_entropy",
        optimizer=optimizer,
        epochs=5,
        callbacks=[LearningRateScheduler(scheduler)],
        verbose=0,
    )
    assert history["lr"] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001])


def test_progress_prints_one_line_per_epoch_when_not_a_terminal(capsys):
    x, y = blobs(n=32)
    model = classifier()
    fit(
        model,
        x,
        y,
        loss="cross_entropy",
        optimizer=cr.optim.SGD(model.parameters(), lr=0.1),
        epochs=3,
        metrics=["accuracy"],
        verbose=1,
    )
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 3
    assert lines[0].startswith("epoch 1/3") and "loss=" in lines[0] and "accuracy=" in lines[0]
    fit(
        model,
        x,
        y,
        loss="cross_entropy",
        optimizer=cr.optim.SGD(model.parameters(), lr=0.1),
        epochs=2,
        verbose=0,
    )
    assert capsys.readouterr().err == ""


def test_progress_bar_on_a_terminal_shows_epoch_loss_and_metrics():
    pytest.importorskip("tqdm")
    from chainrule.train.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    progress = Progress(epochs=2, batches=4, verbose=1, stream=stream)
    progress.epoch_begin(1)
    for batch in range(1, 5):
        progress.batch_end(batch, 0.5)
    progress.epoch_end(1, {"loss": 0.25, "val_accuracy": 0.75})
    text = stream.getvalue()
    assert "epoch 1/2" in text and "4/4" in text and "val_accuracy=0.75" in text


def test_history_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    x, y = blobs(n=64)
    model = classifier()
    history = fit(
        model,
        x,
        y,
        loss="cross_entropy",
        optimizer=cr.optim.SGD(model.parameters(), lr=0.1),
        epochs=3,
        validation_split=0.25,
        metrics=["accuracy"],
        verbose=0,
    )
    path = history.plot(tmp_path / "curves.png")
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert history.to_dict()["epoch"] == [1, 2, 3]


def test_model_checkpoint_saves_best_only_and_loads_back(tmp_path):
    pytest.importorskip("safetensors")
    from chainrule.io import load_state

    x, y = blobs(n=96)
    model = classifier()
    path = tmp_path / "best.safetensors"
    checkpoint = ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    history = fit(
        model,
        x,
        y,
        loss="cross_entropy",
        optimizer=cr.optim.Adam(model.parameters(), lr=0.01),
        epochs=5,
        validation_split=0.25,
        callbacks=[checkpoint],
        seed=0,
        verbose=0,
    )
    tensors, metadata = load_state(path)
    best = int(np.argmin(history["val_loss"])) + 1
    assert metadata["epoch"] == best
    assert set(tensors) == set(model.state_dict())
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_failed_checkpoint_write_keeps_the_previous_file(tmp_path, monkeypatch):
    pytest.importorskip("safetensors")
    from chainrule.io import save_state

    path = tmp_path / "model.safetensors"
    save_state(path, {"w": np.ones(3, np.float32)}, {"epoch": 1})
    good = path.read_bytes()
    import chainrule.io.atomic as atomic

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        save_state(path, {"w": np.zeros(3, np.float32)}, {"epoch": 2})
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_bad_arguments_are_clear_errors():
    x, y = blobs(n=32)
    model = classifier()
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="unknown loss 'crossentropy'"):
        fit(model, x, y, loss="crossentropy", optimizer=optimizer, verbose=0)
    with pytest.raises(ValueError, match="as many targets as samples"):
        fit(model, x, y[:-1], loss="cross_entropy", optimizer=optimizer, verbose=0)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"non-finite x value at index \(3, 1\)"):
        fit(model, bad, y, loss="cross_entropy", optimizer=optimizer, verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        fit(model, x, y, loss="cross_entropy", optimizer=optimizer, validation_split=1.5, verbose=0)


def test_fit_on_digits_reaches_97_percent_test_accuracy():
    datasets = pytest.importorskip("sklearn.datasets")
    from chainrule.data import StandardScaler, train_test_split

    digits = datasets.load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data.astype(np.float32),
        digits.target,
        test_size=0.2,
        stratify=digits.target,
        seed=0,
    )
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    gen = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Linear(64, 128, generator=gen),
        nn.ReLU(),
        nn.Linear(128, 64, generator=gen),
        nn.ReLU(),
        nn.Linear(64, 10, generator=gen),
    )
    fit(
        model,
        x_train,
        y_train,
        loss="cross_entropy",
        optimizer=cr.optim.Adam(model.parameters(), lr=1e-3),
        epochs=20,
        batch_size=32,
        seed=0,
        verbose=0,
    )
    accuracy = evaluate(model, x_test, y_test, loss="cross_entropy", metrics=["accuracy"])[
        "accuracy"
    ]
    assert accuracy >= 0.97
    assert math.isfinite(accuracy)


def test_history_plot_never_imports_pyplot_and_is_thread_safe(tmp_path):
    # Regression: plot() imported matplotlib.pyplot (about a second of every
    # `chainrule train`) and went through its global figure registry.
    pytest.importorskip("matplotlib")
    import subprocess
    import sys
    import threading

    code = (
        "import sys\n"
        "from chainrule.train.history import History\n"
        "h = History()\n"
        "h.record(1, {'loss': 1.0, 'val_loss': 1.5, 'lr': 0.1})\n"
        "h.record(2, {'loss': 0.5, 'val_loss': 0.75, 'lr': 0.05})\n"
        f"h.plot({str(tmp_path / 'one.png')!r})\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"

    from chainrule.train.history import History

    history = History()
    history.record(1, {"loss": 1.0, "accuracy": 0.5, "lr": 0.1})
    history.record(2, {"loss": 0.5, "accuracy": 0.75, "lr": 0.1})
    errors: list[BaseException] = []

    def draw(i: int) -> None:
        try:
            history.plot(tmp_path / f"t{i}.png")
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=draw, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for i in range(4):
        raw = (tmp_path / f"t{i}.png").read_bytes()
        assert raw[:8] == b"\x89PNG\r\n\x1a\n"
        # PNG IHDR: width, height big-endian; 3 panels of 4.5 x 3.6 inches at 110 dpi
        assert int.from_bytes(raw[16:20], "big") == round(3 * 4.5 * 110)
        assert int.from_bytes(raw[20:24], "big") == round(3.6 * 110)


def _blobs(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.int64)


def test_optimizer_by_name_is_the_class_with_its_defaults():
    x, y = _blobs()

    def model():
        cr.manual_seed(0)
        return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))

    by_name, by_object = model(), model()
    fit(by_name, x, y, loss="cross_entropy", optimizer="adam", epochs=3, seed=1, verbose=0)
    opt = cr.optim.Adam(by_object.parameters())
    fit(by_object, x, y, loss="cross_entropy", optimizer=opt, epochs=3, seed=1, verbose=0)
    for p, q in zip(by_name.parameters(), by_object.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize(
    ("optimizer", "error", "message"),
    [
        ("adamx", ValueError, "expected an optimizer name, one of"),
        (3, TypeError, "a chainrule.optim optimizer or a name such as 'adam', got int"),
        (
            lambda: cr.optim.SGD(nn.Linear(3, 2).parameters(), lr=0.1),
            ValueError,
            "holds 2 parameters, none of them the model's \\(4\\): build it over model.parameters",
        ),
    ],
)
def test_an_optimizer_that_would_train_nothing_is_refused(optimizer, error, message):
    x, y = _blobs()
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    before = [p.data.copy() for p in model.parameters()]
    optimizer = optimizer() if callable(optimizer) else optimizer
    with pytest.raises(error, match=message):
        fit(model, x, y, loss="cross_entropy", optimizer=optimizer, epochs=1, verbose=0)
    for p, old in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.data, old)


def test_features_of_text_or_objects_are_a_type_error_naming_the_dtype():
    _, y = _blobs(4)
    model = nn.Sequential(nn.Linear(2, 2))
    for x in (np.array([[1, "a"]] * 4, dtype=object), np.array([["1", "2"]] * 4)):
        with pytest.raises(TypeError, match="fit expected numbers in x, got an array of dtype"):
            fit(model, x, y, loss="cross_entropy", optimizer="sgd", epochs=1, verbose=0)
