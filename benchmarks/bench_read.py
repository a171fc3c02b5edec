"""Reading cost of ``chainrule train``: one epoch on a 200k-row × 22-column CSV, against
``pandas.read_csv`` of the same file, each in a fresh process (imports included, as a
user pays them), wall time and peak memory (``VmHWM``).

chainrule runs with ``--no-refit`` (one epoch means one pass over the rows; the default
refit would train a second network) and writes its model, history and loss-curve PNG
(matplotlib's import is part of the cost). Target (issue 12): wall ≤ 4× pandas', peak
memory ≤ 2× pandas'. Run from the repository root (the Python that runs it needs
pandas, pyarrow and matplotlib):

    python -m benchmarks.bench_read [--rows 200000] [--columns 22] [--rounds 3]

Each process is held to 2 CPUs and 2 BLAS threads (``--threads``), as the other
benchmarks' (``harness``); each line also gives its CPU time (all threads), a figure
that load from other processes disturbs much less than the wall time.
Imports are timed as an installed package pays them, from compiled bytecode: the
processes write theirs under a temporary ``PYTHONPYCACHEPREFIX`` (a session with
``PYTHONDONTWRITEBYTECODE`` would otherwise recompile chainrule's ~110 modules each
time, ~0.7 s that no user pays), after one untimed warm-up run of each contender. The
contenders then alternate over ``--rounds`` rounds (a burst of load from elsewhere costs
both, not one); each keeps its best round, and each round's own ratio is printed too.

``--scaling`` also times 1/4 and 1/2 of the rows and half and twice the columns, and
prints what each extra million cells costs beyond the smallest size: flat figures mean
the cost grows linearly in rows and in columns.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from benchmarks.harness import THREAD_VARIABLES, THREADS, _pin_cpus

_MEASURE = """
import json, time
start, cpu = time.perf_counter(), time.process_time()
{body}
wall, cpu = time.perf_counter() - start, time.process_time() - cpu
with open("/proc/self/status") as status:
    peak = next(int(l.split()[1]) / 1024 for l in status if l.startswith("VmHWM:"))
print(json.dumps({{"wall": wall, "cpu": cpu, "rss_mb": peak}}))
"""


def make_csv(path: str, rows: int, columns: int, seed: int = 0) -> None:
    """``columns`` columns: numbers, one text column of 12 values, a 0/1 target."""
    rng = np.random.default_rng(seed)
    numbers = rng.normal(size=(rows, columns - 2)).round(5)
    cities = np.array([f"city{i}" for i in range(12)])[rng.integers(0, 12, rows)]
    target = (numbers[:, 0] + numbers[:, 1] > 0).astype(int)
    header = [f"x{j}" for j in range(columns - 2)] + ["city", "y"]
    with open(path, "w") as handle:
        handle.write(",".join(header) + "\n")
        block = 50_000
        for start in range(0, rows, block):
            stop = min(start + block, rows)
            lines = [
                ",".join(map(str, numbers[i])) + f",{cities[i]},{target[i]}"
                for i in range(start, stop)
            ]
            handle.write("\n".join(lines) + "\n")


def environment(pycache: str, threads: int) -> dict[str, str]:
    """The children's variables: this checkout's src first, the threads, bytecode kept."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.path.join(root, "src") + os.pathsep + env.get("PYTHONPATH", "")
    for name in THREAD_VARIABLES:
        env[name] = str(threads)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def measure(body: str, env: dict[str, str]) -> dict[str, float]:
    """Wall seconds and peak MB of ``body`` in a fresh Python process."""
    code = _MEASURE.format(body=body)
    pin = _pin_cpus if hasattr(os, "sched_setaffinity") else None
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        preexec_fn=pin,
    )
    if done.returncode != 0:
        raise SystemExit(f"benchmark process failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def contenders(path: str, out: str, batch: int) -> dict[str, str]:
    train = (
        "from chainrule.cli.main import main\n"
        f"code = main(['train', {path!r}, '--target', 'y', '--epochs', '1', '--quiet', "
        f"'--batch-size', '{batch}', '--no-refit', '--out', {out!r}])\n"
        "assert code == 0"
    )
    return {
        "pandas.read_csv": f"import pandas\npandas.read_csv({path!r})",
        f"chainrule train, 1 epoch (batch {batch})": train,
    }


def compare(path: str, out: str, args: argparse.Namespace, env: dict[str, str]) -> dict:
    """Warm-up, then ``args.rounds`` interleaved rounds; each contender's best round."""
    bodies = contenders(path, out, args.batch_size)
    for body in bodies.values():
        measure(body, env)  # untimed: bytecode compiled, the file in the page cache
    best: dict[str, dict[str, float]] = {}
    for index in range(args.rounds):
        round_ = {name: measure(body, env) for name, body in bodies.items()}
        base, ours = round_.values()
        print(
            f"  round {index + 1}: pandas {base['wall']:.2f} s, chainrule {ours['wall']:.2f} s "
            f"({ours['wall'] / base['wall']:.2f}×; CPU {ours['cpu'] / base['cpu']:.2f}×), "
            f"load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        for name, result in round_.items():
            kept = best.setdefault(name, dict(result))
            for key in ("wall", "cpu", "rss_mb"):
                kept[key] = min(kept[key], result[key])
    for name, result in best.items():
        print(
            f"  {name:40s} {result['wall']:7.2f} s  (CPU {result['cpu']:5.2f} s)  "
            f"{result['rss_mb']:5.0f} MB"
        )
    base, ours = best.values()
    print(
        f"  best rounds: wall {ours['wall'] / base['wall']:.2f}× (target ≤ 4×), "
        f"peak memory {ours['rss_mb'] / base['rss_mb']:.2f}× (target ≤ 2×); "
        f"CPU time {ours['cpu'] / base['cpu']:.2f}×",
        flush=True,
    )
    return best


def sizes(args: argparse.Namespace) -> list[tuple[int, int]]:
    if not args.scaling:
        return [(args.rows, args.columns)]
    rows, columns = args.rows, args.columns
    by_rows = [(rows // 4, columns), (rows // 2, columns), (rows, columns)]
    by_columns = [(rows, max(3, columns // 2)), (rows, columns * 2)]
    return by_rows + by_columns


def print_scaling(results: dict[tuple[int, int], dict], rows: int, columns: int) -> None:
    """Seconds per extra million cells beyond the smallest size, by rows and by columns:
    wall, and CPU time (which load from other processes disturbs much less)."""
    print("scaling: seconds per extra million cells (rows × columns) beyond the smallest size")
    groups = {
        "rows": sorted(size for size in results if size[1] == columns),
        "columns": sorted((size for size in results if size[0] == rows), key=lambda s: s[1]),
    }
    for label, group in groups.items():
        first = group[0]
        for size in group[1:]:
            extra = (size[0] * size[1] - first[0] * first[1]) / 1e6
            costs = []
            for name, base in results[first].items():
                grown = results[size][name]
                costs.append(
                    f"{name.split(',')[0]} wall {(grown['wall'] - base['wall']) / extra:.3f}, "
                    f"CPU {(grown['cpu'] - base['cpu']) / extra:.3f}"
                )
            print(
                f"  by {label}: {first[0]}×{first[1]} -> {size[0]}×{size[1]}: " + "; ".join(costs)
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--columns", type=int, default=22)
    parser.add_argument("--rounds", "--repeat", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--scaling", action="store_true")
    parser.add_argument("--threads", type=int, default=THREADS, help="BLAS threads (2)")
    args = parser.parse_args()
    results: dict[tuple[int, int], dict] = {}
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs, {args.threads} threads")
    with tempfile.TemporaryDirectory() as folder:
        env = environment(os.path.join(folder, "pycache"), args.threads)
        for rows, columns in sizes(args):
            path = os.path.join(folder, f"data{rows}x{columns}.csv")
            make_csv(path, rows, columns)
            out = os.path.join(folder, "model.safetensors")
            size = os.path.getsize(path) / 1e6
            print(f"{rows} rows × {columns} columns, {size:.1f} MB", flush=True)
            results[(rows, columns)] = compare(path, out, args, env)
            os.remove(path)
    if args.scaling:
        print_scaling(results, args.rows, args.columns)


if __name__ == "__main__":
    main()
