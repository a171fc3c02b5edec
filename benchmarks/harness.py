"""Run each (workload, peer) pair in its own process and print a table of ratios.

A fresh process per pair keeps imports, allocator state and peak memory apart,
so the peak RSS reported is that peer's alone. Thread counts are pinned before
NumPy or PyTorch load, because absolute times on a shared machine drift and
only ratios measured side by side are meaningful.
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

THREADS = "2"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def peer_available(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it into this process."""
    if module == "chainrule":
        return True  # always benchmarked from this checkout's src/
    return importlib.util.find_spec(module) is not None


def run_isolated(
    module: str, workload: str, peer: str, timeout: float = 900, extra_args: tuple | list = ()
) -> dict[str, Any]:
    """Run ``python -m module --one workload peer`` and parse its JSON line."""
    env = dict(os.environ)
    for name in THREAD_VARIABLES:
        env[name] = THREADS
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.join(root, "src"), root, env.get("PYTHONPATH", "")]
    )
    done = subprocess.run(
        [sys.executable, "-m", module, "--one", workload, peer, *extra_args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def best_of_rounds(
    module: str,
    workload: str,
    peers: list[str],
    available: Callable[[str], bool],
    key: str,
    rounds: int,
    timeout: float = 900,
    extra_args: tuple | list = (),
) -> list[dict[str, Any]]:
    """Each peer's best row (highest ``key``) over ``rounds`` rounds, peers interleaved.

    Interleaving means a burst of load from elsewhere on a shared machine costs one
    round of every peer, not one peer's whole figure.
    """
    best: dict[str, dict[str, Any]] = {}
    for _ in range(max(1, rounds)):
        for peer in peers:
            if not available(peer):
                best[peer] = {"note": "not installed"}
                continue
            row = run_isolated(module, workload, peer, timeout=timeout, extra_args=extra_args)
            kept = best.get(peer)
            if kept is None or row.get(key, 0) > kept.get(key, 0):
                best[peer] = row
    rows = [{"peer": peer, **best[peer]} for peer in peers]
    ours = next((r for r in rows if r["peer"] == "cr"), {}).get(key)
    for row in rows:
        if key in row and ours:
            row["cr_speedup"] = ours / row[key]
    return rows


def measure(step: Callable[[], Any], steps: int, repeats: int = 3) -> float:
    """Best wall time of ``repeats`` runs of ``steps`` calls (after one warm-up call)."""
    step()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        best = min(best, time.perf_counter() - start)
    return best


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB.

    /proc's VmHWM starts afresh at exec; ru_maxrss would inherit the parent's peak.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_table(title: str, rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    print(f"\n{title}")
    header = " | ".join(f"{label:>14}" for _, label in columns)
    print(header)
    print("-" * len(header))
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row.get(key, "")
            cells.append(f"{value:>14.4g}" if isinstance(value, float) else f"{value!s:>14}")
        print(" | ".join(cells))
