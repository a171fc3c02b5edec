"""The allocator settings made at the first backward (autodiff/allocator.py): when they
apply, when not, and what they change (page faults per step, counted, not timed)."""

import subprocess
import sys

import pytest

# Not at import (reading a large CSV before training peaks lower without them); at the
# first backward.
PROBE = (
    "import chainrule as cr, chainrule.autodiff.allocator as a;"
    "before = a.attempted;"
    "w = cr.tensor([1.0, 2.0], requires_grad=True); (w * w).sum().backward();"
    "print('early' if before else a.tuned)"
)


def run_probe(env_extra: dict[str, str]) -> str:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.pop("CHAINRULE_MALLOC", None)
    env.update(env_extra)
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip()


def _is_glibc() -> bool:
    import ctypes

    try:
        return hasattr(ctypes.CDLL(None), "gnu_get_libc_version")
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux") or not _is_glibc(), reason="glibc only")
def test_set_at_the_first_backward_on_glibc():
    assert run_probe({}) == "True"


@pytest.mark.parametrize(
    "env",
    [
        {"CHAINRULE_MALLOC": "default"},
        {"MALLOC_TRIM_THRESHOLD_": "131072"},
        {"MALLOC_ARENA_MAX": "2"},
    ],
)
def test_left_alone_when_the_user_chose(env):
    assert run_probe(env) == "False"


@pytest.mark.skipif(not sys.platform.startswith("linux") or not _is_glibc(), reason="glibc only")
def test_a_training_step_stops_page_faulting():
    # The effect itself, counted (not timed): after a warm-up, repeated steps of a
    # 40-layer MLP reuse freed memory instead of faulting fresh pages in.
    code = (
        "import resource, numpy as np, chainrule as cr, chainrule.nn as nn;"
        "import chainrule.nn.functional as F;"
        "m = nn.Sequential(*[l for _ in range(40) for l in (nn.Linear(64, 64), nn.Tanh())]);"
        "opt = cr.optim.SGD(m.parameters(), lr=0.01);"
        "x = cr.tensor(np.ones((256, 64), np.float32));"
        "step = lambda: (opt.zero_grad(), F.mse_loss(m(x), x).backward(), opt.step());"
        "[step() for _ in range(5)];"
        "r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt;"
        "[step() for _ in range(20)];"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0)"
    )
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.pop("CHAINRULE_MALLOC", None)
    faults = int(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        ).stdout
    )
    assert faults < 200  # 20 steps; without the settings this is thousands
