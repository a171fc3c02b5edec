"""Reading cost of ``chainrule train``: one epoch on a 200k-row × 22-column CSV, against
``pandas.read_csv`` of the same file, each in a fresh process (imports included, as a
user pays them), wall time and peak memory (ru_maxrss).

chainrule runs with ``--no-refit`` (one epoch means one pass over the rows; the default
refit would train a second network) and writes its model, history and loss-curve PNG
(matplotlib's import is part of the cost). Target (issue 12): wall ≤ 4× pandas', peak
memory ≤ 2× pandas'. Run:

    python benchmarks/bench_read.py [--rows 200000] [--columns 22] [--repeat 3]

It prints one line per contender and the ratios; ``--scaling`` also times 1/4, 1/2
and all of the rows, to show that the cost grows linearly.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

_MEASURE = """
import json, resource, sys, time
start = time.perf_counter()
{body}
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"wall": wall, "rss_mb": peak}}))
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


def measure(body: str) -> dict[str, float]:
    code = _MEASURE.format(body=body)
    env = dict(os.environ)
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"benchmark process failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def best(body: str, repeat: int) -> dict[str, float]:
    runs = [measure(body) for _ in range(repeat)]
    return {"wall": min(r["wall"] for r in runs), "rss_mb": min(r["rss_mb"] for r in runs)}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--columns", type=int, default=22)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--scaling", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        sizes = [args.rows // 4, args.rows // 2, args.rows] if args.scaling else [args.rows]
        for rows in sizes:
            path = os.path.join(folder, f"data{rows}.csv")
            make_csv(path, rows, args.columns)
            out = os.path.join(folder, "model.safetensors")
            size = os.path.getsize(path) / 1e6
            print(f"{rows} rows × {args.columns} columns, {size:.1f} MB")
            results = {}
            for name, body in contenders(path, out, args.batch_size).items():
                results[name] = best(body, args.repeat)
                r = results[name]
                print(f"  {name:40s} {r['wall']:7.2f} s  {r['rss_mb']:7.0f} MB")
            base, ours = list(results.values())
            print(
                f"  ratio: wall {ours['wall'] / base['wall']:.2f}× (target ≤ 4×), "
                f"peak memory {ours['rss_mb'] / base['rss_mb']:.2f}× (target ≤ 2×)"
            )


if __name__ == "__main__":
    main()
