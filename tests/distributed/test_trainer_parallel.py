"""The one Trainer, data-parallel under ``mpiexec -n 2``: ``cr.fit(distributed=True)``
and ``chainrule train`` give the model one process gives with the same global batch;
only rank 0 writes; a Parquet folder streams, sharded by rank."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mpi_helpers as _mpi
import numpy as np
import pytest

# cr.fit with batch norm (synchronised statistics), a validation split (reduced,
# identical metrics), accuracy (gathered predictions) and unequal local batches
# (80 training rows in batches of 25: 13/12 rows, and a last batch of 5: 3/2).
FIT = """
    import sys
    import numpy as np
    import chainrule as cr
    import chainrule.nn as nn
    from chainrule import distributed as d

    cr.set_default_dtype(np.float64)
    on = sys.argv[2] == "on"
    data = np.random.default_rng(7)
    x = data.normal(size=(100, 6))
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(np.int64) + (x[:, 3] > 1)
    model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.Tanh(), nn.Linear(16, 3))
    init = np.random.default_rng(100 + (d.rank() if on else 0))  # the broadcast fixes it
    for p in model.parameters():
        p.data[...] = init.normal(scale=0.4, size=p.data.shape)
    opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = cr.fit(model, x, y, loss="cross_entropy", optimizer=opt, epochs=6,
                     batch_size=25, validation_split=0.2, metrics=["accuracy"], seed=3,
                     verbose=0, distributed=on)
    flat = np.concatenate([p.data.ravel() for p in model.parameters()]
                          + [model[1].running_mean.data.ravel(), model[1].running_var.data.ravel()])
    keys = sorted(history.history)
    curves = np.array([history.history[k] for k in keys if k not in ("seconds",)])
    tag = d.rank() if on else 0
    np.save(f"{sys.argv[1]}/params{tag}.npy", flat, allow_pickle=False)
    np.save(f"{sys.argv[1]}/curves{tag}.npy", curves, allow_pickle=False)
"""


def test_fit_distributed_equals_one_process(tmp_path):
    script = _mpi.write(tmp_path, FIT)
    alone, together = tmp_path / "alone", tmp_path / "together"
    alone.mkdir()
    together.mkdir()
    done = _mpi.run(script, None, str(alone), "off", timeout=60)
    assert done.returncode == 0, done.stderr
    done = _mpi.run(script, 2, str(together), "on", timeout=60)
    assert done.returncode == 0, done.stderr
    one = np.load(alone / "params0.npy")
    assert not np.allclose(one[:96], np.random.default_rng(100).normal(scale=0.4, size=96))
    np.testing.assert_allclose(np.load(together / "params0.npy"), one, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(
        np.load(together / "params1.npy"), np.load(together / "params0.npy")
    )
    # loss, accuracy, lr, val_loss, val_accuracy per epoch: the same numbers
    np.testing.assert_allclose(
        np.load(together / "curves0.npy"), np.load(alone / "curves0.npy"), rtol=1e-10, atol=1e-12
    )


def _csv(path: Path) -> None:
    rng = np.random.default_rng(11)
    n = 120
    x = rng.normal(size=(n, 3))
    city = rng.choice(["oslo", "rome", "lima"], size=n)
    y = np.where(x[:, 0] + (city == "rome") - x[:, 2] * 0.5 > 0.2, "yes", "no")
    lines = ["a,b,c,city,y"]
    rows = zip(x, city, y, strict=True)
    lines += [f"{a:.6f},{b:.6f},{c:.6f},{t},{v}" for (a, b, c), t, v in rows]
    path.write_text("\n".join(lines) + "\n")


def _cli(cwd: Path, processes: int | None, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "chainrule", *args]
    if processes is not None:
        command = [_mpi.mpiexec(), "-n", str(processes), *command]
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env=_mpi.environment(),
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _weights(path: Path) -> dict[str, np.ndarray]:
    import chainrule as cr

    return {k: np.asarray(v) for k, v in cr.load(str(path)).model.state_dict().items()}


TRAIN = (
    "--target",
    "y",
    "--hidden",
    "12",
    "--epochs",
    "4",
    "--batch-size",
    "16",
    "--quiet",
    "--optimizer",
    "momentum",
    "--lr",
    "0.05",
    "--batchnorm",  # synchronised statistics
)


def test_cli_train_under_mpiexec_equals_one_process_and_rank_0_writes(tmp_path):
    alone, together = tmp_path / "alone", tmp_path / "together"
    alone.mkdir()
    together.mkdir()
    _csv(tmp_path / "data.csv")
    data = str(tmp_path / "data.csv")
    done = _cli(alone, None, "train", data, *TRAIN, "--out", "m.safetensors")
    assert done.returncode == 0, done.stderr
    done = _cli(
        together, 2, "train", data, *TRAIN, "--out", "m.safetensors", "--checkpoint", "run.ckpt"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("wrote m.safetensors") == 1  # rank 0 reports, and writes
    assert sorted(p.name for p in together.iterdir() if p.name != "m.loss.png") == [
        "m.history.json",
        "m.safetensors",
        "run.ckpt",
    ]
    one, two = _weights(alone / "m.safetensors"), _weights(together / "m.safetensors")
    assert one.keys() == two.keys()
    for key in one:  # float32: the same model up to float32 rounding
        np.testing.assert_allclose(two[key], one[key], rtol=1e-4, atol=2e-5, err_msg=key)
    info = _cli(together, None, "info", "m.safetensors")
    assert info.returncode == 0, info.stderr
    assert "processes: 2" in info.stdout
    assert "processes: " not in _cli(alone, None, "info", "m.safetensors").stdout
    # The checkpoint of 2 processes resumes with 2, not with 1.
    refused = _cli(together, None, "train", data, *TRAIN, "--resume", "run.ckpt")
    assert refused.returncode == 2
    assert "processes (2 in the checkpoint, 1 now" in refused.stderr


def test_a_cli_error_under_mpiexec_ends_the_job_with_one_line(tmp_path):
    _csv(tmp_path / "data.csv")
    done = _cli(tmp_path, 2, "train", str(tmp_path / "data.csv"), "--target", "nope")
    assert done.returncode != 0
    assert "chainrule: error:" in done.stderr and "'nope'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "model.safetensors").exists()


def test_cli_resume_under_mpiexec_with_the_same_processes(tmp_path):
    _csv(tmp_path / "data.csv")
    data = str(tmp_path / "data.csv")
    short = [a if a != "4" else "2" for a in TRAIN]
    done = _cli(tmp_path, 2, "train", data, *short, "--out", "a.safetensors", "--checkpoint", "c")
    assert done.returncode == 0, done.stderr
    done = _cli(tmp_path, 2, "train", data, *TRAIN, "--out", "b.safetensors", "--resume", "c")
    assert done.returncode == 0, done.stderr
    done = _cli(tmp_path, 2, "train", data, *TRAIN, "--out", "c.safetensors")
    assert done.returncode == 0, done.stderr
    resumed, straight = _weights(tmp_path / "b.safetensors"), _weights(tmp_path / "c.safetensors")
    for key in straight:
        np.testing.assert_array_equal(resumed[key], straight[key], err_msg=key)


def test_cli_streams_a_parquet_folder_sharded_over_two_ranks(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    folder = tmp_path / "parts"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for part in range(4):
        x = rng.normal(size=(150, 3))
        y = x[:, 0] * 2.0 - x[:, 1] + 0.1 * rng.normal(size=150)
        table = pa.table({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": y})
        pq.write_table(table, folder / f"part{part}.parquet", row_group_size=50)
    args = ("train", str(folder), "--target", "y", "--hidden", "8", "--epochs", "3")
    for processes, out in ((None, "one.safetensors"), (2, "two.safetensors")):
        done = _cli(tmp_path, processes, *args, "--batch-size", "20", "--out", out, "--quiet")
        assert done.returncode == 0, done.stderr
        assert done.stdout.count(f"wrote {out}") == 1
    import json

    for out, processes in (("one", None), ("two", 2)):
        history = json.loads((tmp_path / f"{out}.history.json").read_text())
        losses = history["history"]["loss"] if "history" in history else history["loss"]
        assert len(losses) == 3 and losses[-1] < losses[0]  # it learned
        info = _cli(tmp_path, None, "info", f"{out}.safetensors")
        assert info.returncode == 0, info.stderr
        assert '"streamed": true' in info.stdout
        assert ("processes: 2" in info.stdout) == (processes == 2)
