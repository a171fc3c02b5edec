"""Data-parallel training over ``mpiexec -n 2`` equals one process with the same global
batch; a failing or killed rank ends the whole job promptly with a non-zero exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mpi_helpers as _mpi
import numpy as np
import pytest

# The loop a user (or the Trainer) writes: each rank its part of every global batch,
# local mean loss × local_weight, one Allreduce of the flat gradient, the same step.
TRAIN = """
    import sys
    import numpy as np
    import chainrule as cr
    import chainrule.nn as nn
    import chainrule.nn.functional as F
    from chainrule import distributed as d

    d.abort_on_error()
    cr.set_default_dtype(np.float64)
    r, n = d.rank(), d.world_size()
    data = np.random.default_rng(7)
    x = data.normal(size=(96, 6))
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(np.int64) + (x[:, 3] > 1)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 12), nn.ReLU(),
                          nn.Linear(12, 3))
    init = np.random.default_rng(100 + r)  # different per rank: the broadcast fixes it
    for p in model.parameters():
        p.data[...] = init.normal(scale=0.4, size=p.data.shape)
    flat = nn.utils.flatten_parameters(model)
    d.broadcast_parameters(flat)
    opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, fused=True)
    order = np.random.default_rng(3)  # the same on every rank: the global batches
    batch_size, steps, losses = 24, 0, []
    while steps < 20:
        perm = order.permutation(len(x))
        for start in range(0, len(x), batch_size):
            batch = perm[start:start + batch_size]
            part = d.local_batch(batch, r, n)
            opt.zero_grad()
            loss = F.cross_entropy(model(cr.tensor(x[part])), y[part])
            (loss * d.local_weight(len(part), len(batch))).backward()
            d.allreduce_(flat.grad)
            total = d.allreduce_scalars(loss.item() * len(part))[0] / len(batch)
            assert d.all_finite(bool(np.isfinite(flat.grad).all()))
            opt.step()
            losses.append(total)
            steps += 1
            if steps == 20:
                break
    if d.is_main():
        np.save(sys.argv[1] + "/params.npy", flat.data.copy(), allow_pickle=False)
        np.save(sys.argv[1] + "/losses.npy", np.array(losses), allow_pickle=False)
    np.save(f"{sys.argv[1]}/params_rank{r}.npy", flat.data.copy(), allow_pickle=False)
"""


@pytest.mark.parametrize("processes", [2, 3])
def test_two_ranks_train_the_same_model_as_one_process(tmp_path, processes):
    script = _mpi.write(tmp_path, TRAIN)
    alone, together = tmp_path / "alone", tmp_path / "together"
    alone.mkdir()
    together.mkdir()
    done = _mpi.run(script, None, str(alone), timeout=120)
    assert done.returncode == 0, done.stderr
    done = _mpi.run(script, processes, str(together), timeout=120)
    assert done.returncode == 0, done.stderr
    one = np.load(alone / "params.npy")
    many = np.load(together / "params.npy")
    start = np.random.default_rng(100).normal(scale=0.4, size=6 * 16)
    assert not np.allclose(one[: 6 * 16], start)  # it trained
    np.testing.assert_allclose(many, one, rtol=0, atol=1e-10)
    np.testing.assert_allclose(
        np.load(together / "losses.npy"), np.load(alone / "losses.npy"), rtol=1e-12, atol=0
    )
    for r in range(1, processes):  # every rank holds the same model
        np.testing.assert_array_equal(np.load(together / f"params_rank{r}.npy"), many)


RAISES = """
    import sys, time
    import numpy as np
    from chainrule import distributed as d

    d.abort_on_error()
    if d.rank() == 1:
        time.sleep(0.5)
        raise RuntimeError("rank 1 failed on purpose")
    d.allreduce_(np.zeros(3))  # rank 0 waits here for ever unless the job is aborted
    print("rank 0 finished: must not happen")
"""

EXITS = """
    import sys, time
    import numpy as np
    from chainrule import distributed as d

    with d.abort_on_error():
        if d.rank() == 1:
            time.sleep(0.5)
            sys.exit("data.csv, row 3: a one-line error")
        d.allreduce_(np.zeros(3))
        print("rank 0 finished: must not happen")
"""


@pytest.mark.parametrize(
    ("code", "message"),
    [(RAISES, "rank 1 failed on purpose"), (EXITS, "data.csv, row 3: a one-line error")],
    ids=["raises", "sys-exit"],
)
def test_a_failing_rank_ends_the_whole_job(tmp_path, code, message):
    began = time.monotonic()
    done = _mpi.run(_mpi.write(tmp_path, code), 2, timeout=60)
    took = time.monotonic() - began
    assert done.returncode != 0
    assert message in done.stderr
    assert "must not happen" not in done.stdout
    assert took < 30, f"the job took {took:.1f} s to end"


KILLED = """
    import os, sys, time
    import numpy as np
    from chainrule import distributed as d

    d.abort_on_error()
    with open(f"{sys.argv[1]}/pid{d.rank()}", "w") as out:
        out.write(str(os.getpid()))
    while True:  # training: rank 1 is killed in the middle of it
        d.allreduce_(np.zeros(1000))
        time.sleep(0.01)
"""


def test_killing_a_rank_ends_the_whole_job(tmp_path):
    script = _mpi.write(tmp_path, KILLED)
    command = [_mpi.mpiexec(), "-n", "2", sys.executable, str(script), str(tmp_path)]
    job = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=_mpi.environment(),
        start_new_session=True,  # so a hang can be cleaned up as one group
    )
    try:
        pid_file = tmp_path / "pid1"
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pid_file.exists(), "rank 1 never started"
        time.sleep(0.3)
        began = time.monotonic()
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        code = job.wait(timeout=30)
        took = time.monotonic() - began
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
        job.stdout.close()
        job.stderr.close()
    assert code != 0
    assert took < 30
    survivor = int((tmp_path / "pid0").read_text())
    assert not _running(survivor)  # rank 0 is gone too, not left waiting


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie no one has reaped yet is not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    state = next((line for line in status.splitlines() if line.startswith("State:")), "")
    return "Z" not in state.split()[1:2]


SYNC_BN = """
    import sys
    import numpy as np
    from chainrule import distributed as d

    r, n = d.rank(), d.world_size()
    x = np.random.default_rng(5).normal(loc=1e4, scale=3.0, size=(37, 4))  # mean ≫ spread
    g = np.random.default_rng(6).normal(size=(37, 4))
    part = d.shard_rows(len(x), r, n)
    mean, var, count = d.sync_batch_stats(x[part])
    x_hat = (x[part] - mean) / np.sqrt(var + 1e-5)
    sum_g, sum_gx = d.sync_batch_norm_backward_sums(g[part], x_hat)
    np.save(f"{sys.argv[1]}/bn{r}.npy", np.concatenate([mean, var, [count], sum_g, sum_gx]),
            allow_pickle=False)
"""


def test_synchronised_batch_norm_statistics_are_the_global_batch_ones(tmp_path):
    done = _mpi.run(_mpi.write(tmp_path, SYNC_BN), 2, str(tmp_path), timeout=60)
    assert done.returncode == 0, done.stderr
    x = np.random.default_rng(5).normal(loc=1e4, scale=3.0, size=(37, 4))
    g = np.random.default_rng(6).normal(size=(37, 4))
    mean, var = x.mean(axis=0), x.var(axis=0)
    x_hat = (x - mean) / np.sqrt(var + 1e-5)
    expected = np.concatenate([mean, var, [37], g.sum(axis=0), (g * x_hat).sum(axis=0)])
    for r in (0, 1):
        # Σ g·x̂ sums terms of both signs: compared with an absolute tolerance.
        np.testing.assert_allclose(
            np.load(tmp_path / f"bn{r}.npy"), expected, rtol=1e-12, atol=1e-10
        )


def test_json_metadata_round_trips_without_pickle(tmp_path):
    code = """
        import json, sys
        from chainrule import distributed as d
        from chainrule.data import StandardScaler
        import numpy as np

        fitted = StandardScaler().fit(np.arange(12.0).reshape(4, 3))
        state = d.broadcast_object(fitted.to_dict() if d.is_main() else None)
        scaler = StandardScaler.from_dict(state)
        with open(f"{sys.argv[1]}/{d.rank()}.json", "w") as out:
            json.dump(scaler.to_dict(), out)
    """
    done = _mpi.run(_mpi.write(tmp_path, code), 2, str(tmp_path), timeout=60)
    assert done.returncode == 0, done.stderr
    states = [json.loads((tmp_path / f"{r}.json").read_text()) for r in (0, 1)]
    assert states[0] == states[1]
    assert states[1]["mean"] == [4.5, 5.5, 6.5]
