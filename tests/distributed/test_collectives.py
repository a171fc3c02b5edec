"""The collectives under a real ``mpiexec -n 2``: sums, broadcasts, the collective guard."""

from __future__ import annotations

import json
import subprocess
import sys

import mpi_helpers as _mpi
import numpy as np
import pytest


def test_import_chainrule_starts_no_mpi():
    code = (
        "import sys, chainrule, chainrule.distributed as d; "
        "print(d.world_size(), d.rank(), d.is_main(), d.is_distributed(), "
        "sorted(m for m in ('mpi4py', 'dask', 'pyarrow.dataset') if m in sys.modules))"
    )
    env = _mpi.environment()
    for name in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.split("[")[0].split() == ["1", "0", "True", "False"]
    assert done.stdout.strip().endswith("[]")


def test_without_mpi_the_collectives_are_the_identity():
    from chainrule import distributed as d

    grads = np.arange(5.0)
    assert d.allreduce_(grads) is grads
    np.testing.assert_array_equal(grads, np.arange(5.0))
    np.testing.assert_array_equal(d.allreduce_scalars(2.5, 3), [2.5, 3.0])
    np.testing.assert_array_equal(d.allreduce_with_scalars_([grads], 1.5), [1.5])
    with pytest.raises(ValueError, match="C-contiguous"):
        d.allreduce_with_scalars_([np.arange(6.0).reshape(2, 3)[:, 1]], 1.0)
    assert d.all_finite(True) and not d.all_finite(False)
    assert d.broadcast_object({"a": [1, 2]}) == {"a": [1, 2]}


def test_launcher_detection_reads_the_environment():
    from chainrule.distributed import launched_under_mpi

    assert launched_under_mpi({"PMI_RANK": "0", "PMI_SIZE": "2"})
    assert launched_under_mpi({"OMPI_COMM_WORLD_SIZE": "4"})
    assert launched_under_mpi({"MPI_LOCALRANKID": "1"})
    assert not launched_under_mpi({"PATH": "/usr/bin"})


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        ([1.0, 2.0], TypeError, "NumPy array"),
        (np.arange(6.0).reshape(2, 3)[:, 1], ValueError, "C-contiguous"),
        (np.array(["a"]), TypeError, "numbers"),
    ],
)
def test_allreduce_refuses_what_is_not_a_flat_buffer(bad, error, message):
    from chainrule.distributed import allreduce_

    with pytest.raises(error, match=message):
        allreduce_(bad)


COLLECTIVES = """
    import json, sys
    import numpy as np
    from chainrule import distributed as d

    d.abort_on_error()
    r, n = d.rank(), d.world_size()
    grads = np.full(7, r + 1.0)
    d.allreduce_(grads)
    mean = np.full(3, 2.0 * (r + 1), dtype=np.float32)
    d.allreduce_(mean, average=True)
    sums = d.allreduce_scalars(1.5 * (r + 1), 10 + r, 0.0)
    pair = [np.full(5, r + 1.0), np.full(2, 10.0 * (r + 1), dtype=np.float32)]
    riding = d.allreduce_with_scalars_(pair, 0.25 * (r + 1), -r)
    weights = np.full(4, float(r))
    d.broadcast_array_(weights)
    meta = d.broadcast_object({"classes": ["a", "b"], "from": r} if r == 0 else None)
    ok = d.all_finite(r != 1)
    import chainrule.nn as nn
    layer = nn.Linear(3, 2, generator=np.random.default_rng(r))  # different on each rank
    d.broadcast_parameters(layer)  # a Module: one Bcast per parameter
    rank0 = nn.Linear(3, 2, generator=np.random.default_rng(0))
    same = all(np.array_equal(p.data, q.data)
               for p, q in zip(layer.parameters(), rank0.parameters()))
    with open(f"{sys.argv[1]}/{r}.json", "w") as out:
        json.dump({"rank": r, "size": n, "main": d.is_main(), "dist": d.is_distributed(),
                      "grads": grads.tolist(), "mean": mean.tolist(), "sums": sums.tolist(),
                      "pair": [a.tolist() for a in pair], "riding": riding.tolist(),
                      "weights": weights.tolist(), "meta": meta, "ok": ok, "same": same}, out)
"""


def test_allreduce_and_broadcast_over_two_ranks(tmp_path):
    done = _mpi.run(_mpi.write(tmp_path, COLLECTIVES), 2, str(tmp_path), timeout=60)
    assert done.returncode == 0, done.stderr
    results = [json.loads((tmp_path / f"{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in results] == [0, 1]
    assert [r["main"] for r in results] == [True, False]
    for result in results:
        assert result["size"] == 2 and result["dist"] is True
        assert result["grads"] == [3.0] * 7  # 1 + 2
        assert result["mean"] == [3.0] * 3  # (2 + 4) / 2
        assert result["sums"] == [4.5, 21.0, 0.0]
        assert result["pair"] == [[3.0] * 5, [30.0] * 2]  # both buffers summed in place
        assert result["riding"] == [0.75, -1.0]  # and the scalars beside them
        assert result["weights"] == [0.0] * 4  # rank 0's values
        assert result["meta"] == {"classes": ["a", "b"], "from": 0}
        assert result["ok"] is False  # rank 1 saw a non-finite value: nobody steps
        assert result["same"] is True  # the module's parameters are rank 0's


MISMATCH = """
    import numpy as np
    from chainrule import distributed as d

    d.abort_on_error()
    d.broadcast_array_(np.zeros(3 + d.rank()))
"""


def test_broadcast_of_different_shapes_names_both(tmp_path):
    done = _mpi.run(_mpi.write(tmp_path, MISMATCH), 2, timeout=60)
    assert done.returncode != 0
    assert "expected rank 1 to hold an array like rank 0's (shape (3,)" in done.stderr
