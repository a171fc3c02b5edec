"""Running a script under ``mpiexec -n N`` for the tests: skips without mpi4py/mpiexec."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")


def mpiexec() -> str:
    pytest.importorskip("mpi4py", reason="needs the mpi extra (mpi4py)")
    from chainrule.distributed import mpiexec_path

    found = mpiexec_path()
    if found is None:
        pytest.skip("needs mpiexec (the mpi extra installs it next to python)")
    return found


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return env


def write(tmp_path: Path, code: str, name: str = "job.py") -> Path:
    script = tmp_path / name
    script.write_text(textwrap.dedent(code))
    return script


def run(
    script: Path, processes: int | None, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``mpiexec -n processes python script args`` (plain ``python`` when None)."""
    command = [sys.executable, str(script), *args]
    if processes is not None:
        command = [mpiexec(), "-n", str(processes), *command]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment(),
        stdin=subprocess.DEVNULL,
        check=False,
    )
