"""Run each (workload, peer) pair in its own process and print a table of ratios.

A fresh process per pair keeps imports, allocator state and peak memory apart,
so the peak RSS reported is that peer's alone. Thread counts (and the CPUs a
child may use) are pinned before NumPy, PyTorch or JAX load, because absolute
times on a shared machine drift and only ratios measured side by side are
meaningful.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

THREADS = 2
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# The ways chainrule itself is timed; every other peer's row gets one ratio per variant.
CR_VARIANTS = {"cr-eager": "eager", "cr-compile": "compile", "cr-fit": "fit"}
COMPILE_MISSING = "n/a (no cr.compile)"


def peer_available(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it into this process."""
    if module == "chainrule":
        return True  # always benchmarked from this checkout's src/
    return importlib.util.find_spec(module) is not None


def module_version(distribution: str) -> str:
    """The installed version of ``distribution``, or '' when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return ""


def _pin_cpus() -> None:
    # Runs in the child before exec: JAX sizes its thread pool from the CPUs it may use,
    # and no variable caps it, so the affinity mask is what holds every peer to 2 threads.
    allowed = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, allowed[:THREADS])


def run_isolated(
    module: str, workload: str, peer: str, timeout: float = 900, extra_args: tuple | list = ()
) -> dict[str, Any]:
    """Run ``python -m module --one workload peer`` and parse its JSON line."""
    env = dict(os.environ)
    for name in THREAD_VARIABLES:
        env[name] = str(THREADS)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.join(root, "src"), root, env.get("PYTHONPATH", "")]
    )
    pin = _pin_cpus if hasattr(os, "sched_setaffinity") else None
    try:
        done = subprocess.run(
            [sys.executable, "-m", module, "--one", workload, peer, *extra_args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
            preexec_fn=pin,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:g} s"}
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
    round of every peer, not one peer's whole figure. A peer that is missing, or that
    answers with a note instead of a figure (no ``cr.compile``), runs only once.
    """
    best: dict[str, dict[str, Any]] = {}
    for _ in range(max(1, rounds)):
        for peer in peers:
            kept = best.get(peer)
            if kept is not None and key not in kept:
                continue  # a note or an error: more rounds would not change it
            if not available(peer):
                best[peer] = {"note": "not installed"}
                continue
            row = run_isolated(module, workload, peer, timeout=timeout, extra_args=extra_args)
            if kept is None or row.get(key, 0) > kept.get(key, 0):
                best[peer] = row
    rows = [{"peer": peer, **best[peer]} for peer in peers]
    add_ratios(rows, key)
    return rows


def add_ratios(rows: list[dict[str, Any]], key: str) -> None:
    """Give every row ``ratio_<variant>`` = chainrule variant's ``key`` ÷ the row's ``key``.

    Above 1 means that way of running chainrule is faster than the row's peer.
    """
    ours = {r["peer"]: r[key] for r in rows if r["peer"] in CR_VARIANTS and r.get(key)}
    for row in rows:
        if not row.get(key):
            continue
        for peer, value in ours.items():
            row[f"ratio_{CR_VARIANTS[peer]}"] = value / row[key]


def measure(
    step: Callable[[], Any], steps: int, repeats: int = 3, finish: Callable[[], Any] | None = None
) -> float:
    """Best wall time of ``repeats`` runs of ``steps`` calls (after one warm-up call).

    ``finish`` runs before each clock stops: JAX dispatches asynchronously, so its
    last result must be waited for inside the timed region.
    """
    step()
    if finish is not None:
        finish()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        if finish is not None:
            finish()
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


def run_metadata(argv: list[str]) -> dict[str, Any]:
    """When, where and with what a run was made: stored next to its figures."""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python -m " + " ".join(argv),
        "load_average_start": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "versions": {
            name: module_version(name)
            for name in ("numpy", "torch", "jax", "scikit-learn", "micrograd")
            if module_version(name)
        },
    }


def _cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def print_table(title: str, rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    """Print ``rows`` under ``title``, one column per (key, label) that some row has."""
    print(f"\n{title}")
    shown = [(k, label) for k, label in columns if any(k in row for row in rows)]
    widths = [max([len(label)] + [len(_cell(r.get(k, ""))) for r in rows]) for k, label in shown]
    header = " | ".join(f"{label:>{w}}" for (_, label), w in zip(shown, widths, strict=True))
    print(header)
    print("-" * len(header))
    for row in rows:
        cells = [_cell(row.get(k, "")) for k, _ in shown]
        print(" | ".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))
