"""Checkpoints and --resume: an interrupted run, resumed, ends bit-identical to an
uninterrupted one; a mismatched checkpoint is refused; models are never half-written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli.main import main
from chainrule.io import Checkpoint
from chainrule.train.checkpoint import TrainingCheckpoint

pytest.importorskip("safetensors")
SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "src")
# Every source of randomness: split, init, shuffling, dropout, augmentation; plus
# batch-norm buffers, momentum state and early-stopping state.
OPTIONS = [
    "--target",
    "label",
    "--hidden",
    "16,8",
    "--dropout",
    "0.2",
    "--batchnorm",
    "--augment",
    "noise:0.05",
    "--optimizer",
    "adam",
    "--early-stopping",
    "50",
    "--batch-size",
    "8",
    "--quiet",
]


def data_csv(path, n=60, seed=0):
    rng = np.random.default_rng(seed)
    lines = ["a,b,colour,label"]
    for _ in range(n):
        a, b = rng.normal(size=2)
        colour = rng.choice(["red", "blue"])
        lines.append(f"{a:.4f},{b:.4f},{colour},{'x' if a + b > 0 else 'o'}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def tensors(path):
    from safetensors.numpy import load_file

    return load_file(str(path))


def assert_bit_identical(first, second):
    a, b = tensors(first), tensors(second)
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].tobytes() == b[key].tobytes(), key


def test_interrupt_and_resume_is_bit_identical(tmp_path, monkeypatch, capsys):
    data = data_csv(tmp_path / "d.csv")
    full = tmp_path / "full.safetensors"
    assert (
        main(
            [
                "train",
                data,
                *OPTIONS,
                "--epochs",
                "6",
                "--out",
                str(full),
                "--checkpoint",
                str(tmp_path / "full.ckpt"),
            ]
        )
        == 0
    )

    original = TrainingCheckpoint.on_epoch_end

    def interrupt_after_third(self, epoch, logs):
        original(self, epoch, logs)
        if epoch == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(TrainingCheckpoint, "on_epoch_end", interrupt_after_third)
    resumed = tmp_path / "resumed.safetensors"
    resumed.write_bytes(b"previous model")
    checkpoint = tmp_path / "run.ckpt"
    assert (
        main(
            [
                "train",
                data,
                *OPTIONS,
                "--epochs",
                "6",
                "--out",
                str(resumed),
                "--checkpoint",
                str(checkpoint),
            ]
        )
        == 130
    )
    assert resumed.read_bytes() == b"previous model"  # an interrupted run writes no model
    saved = cr.load(checkpoint)
    assert isinstance(saved, Checkpoint) and saved.state["epoch"] == 3
    monkeypatch.setattr(TrainingCheckpoint, "on_epoch_end", original)

    assert (
        main(
            [
                "train",
                data,
                *OPTIONS,
                "--epochs",
                "6",
                "--out",
                str(resumed),
                "--resume",
                str(checkpoint),
            ]
        )
        == 0
    )
    assert_bit_identical(full, resumed)
    assert cr.load(checkpoint).state["epoch"] == 6
    history = cr.load(resumed).provenance
    assert history["epochs_trained"] == 6
    capsys.readouterr()

    # Resuming a finished checkpoint trains no further and writes the same model again.
    again = tmp_path / "again.safetensors"
    assert (
        main(
            [
                "train",
                data,
                *OPTIONS,
                "--epochs",
                "6",
                "--out",
                str(again),
                "--resume",
                str(checkpoint),
            ]
        )
        == 0
    )
    assert_bit_identical(full, again)


def test_mismatched_checkpoint_is_refused(tmp_path, capsys):
    data = data_csv(tmp_path / "d.csv", n=30)
    checkpoint = tmp_path / "run.ckpt"
    args = [
        "train",
        data,
        "--target",
        "label",
        "--epochs",
        "2",
        "--quiet",
        "--out",
        str(tmp_path / "m.safetensors"),
    ]
    assert main([*args, "--checkpoint", str(checkpoint)]) == 0
    capsys.readouterr()
    assert main([*args, "--resume", str(checkpoint), "--lr", "0.5", "--seed", "3"]) == 2
    err = capsys.readouterr().err
    assert (
        "checkpoint does not match this run; differs in: lr (None in the checkpoint, 0.5 now)"
        in err
    )
    assert "seed (0 in the checkpoint, 3 now)" in err
    other = data_csv(tmp_path / "other.csv", n=30, seed=5)
    assert main(["train", other, *args[2:], "--resume", str(checkpoint)]) == 2
    assert "differs in: the data" in capsys.readouterr().err
    model = tmp_path / "m.safetensors"
    assert main([*args, "--resume", str(model)]) == 2
    assert "the checkpoint and the model (--out) must be different" in capsys.readouterr().err
    copy = tmp_path / "copy.safetensors"
    copy.write_bytes(model.read_bytes())
    assert main([*args, "--resume", str(copy)]) == 2
    assert "is a Pipeline file, not a checkpoint" in capsys.readouterr().err


PIPE = {"capture_output": True, "text": True, "check": True}


def test_stale_temporary_files_are_swept(tmp_path, capsys):
    data = data_csv(tmp_path / "d.csv", n=30)
    # Temporaries carry their writer's pid; only those of dead processes are swept.
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], **PIPE)
    stale = tmp_path / f".run.ckpt.{int(finished.stdout)}.0123abcd.tmp"
    stale.write_bytes(b"half a checkpoint")
    assert (
        main(
            [
                "train",
                data,
                "--target",
                "label",
                "--epochs",
                "1",
                "--quiet",
                "--out",
                str(tmp_path / "m.safetensors"),
                "--checkpoint",
                str(tmp_path / "run.ckpt"),
            ]
        )
        == 0
    )
    assert not stale.exists()
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_sigkill_and_resume_is_bit_identical(tmp_path):
    """SIGKILL the command at a random point after its first checkpoint, resume it, and
    compare with an uninterrupted run bit for bit (one BLAS thread, same machine)."""
    data = data_csv(tmp_path / "d.csv", n=1000, seed=2)
    env = {
        **os.environ,
        "PYTHONPATH": SRC,
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    base = [sys.executable, "-m", "chainrule", "train", data, *OPTIONS, "--epochs", "12"]

    def command(out, *extra):
        return [*base, "--out", str(tmp_path / out), *extra]

    done = subprocess.run(command("full.safetensors"), env=env, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr

    checkpoint = tmp_path / "run.ckpt"
    killed = tmp_path / "killed.safetensors"
    killed.write_bytes(b"previous model")
    rng = np.random.default_rng()
    process = subprocess.Popen(
        command("killed.safetensors", "--checkpoint", str(checkpoint)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not checkpoint.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.005)
    time.sleep(float(rng.uniform(0, 0.3)))
    process.send_signal(signal.SIGKILL)
    process.wait()
    epoch = cr.load(checkpoint).state["epoch"]
    if process.returncode != -signal.SIGKILL or epoch >= 12:
        pytest.skip("the run finished before it could be killed (machine too fast)")
    assert killed.read_bytes() == b"previous model"

    done = subprocess.run(
        command("killed.safetensors", "--resume", str(checkpoint)),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    print(f"killed after epoch {epoch} of 12; resumed")
    assert_bit_identical(tmp_path / "full.safetensors", killed)
