"""Per-op eager overhead: forward per op, backward per node, optimizer step, W-tiny step.

Run from a checkout: ``PYTHONPATH=src python benchmarks/profile_eager.py``. Pass
``--src OTHER/src`` to time another checkout in the same process run (one column
each), so before/after numbers come from one machine at one moment::

    python benchmarks/profile_eager.py --src /old/src --src src

Each figure is the best of several timed loops (microseconds of the process's own CPU
time per call, with one BLAS thread), which filters out most of the noise of a shared
machine: time spent waiting for a core is not counted. Per op, a chain of 20 applications is
built (forward: µs per op) and backpropagated with a sum on top (backward: µs per
node, only ``backward()`` timed). The tensors have the W-tiny shapes (2x2 weights,
2x1 columns), so the figures are the engine's overhead plus NumPy's fixed cost.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

_WORKER = r'''
import json, sys, time
import numpy as np
import chainrule as cr
import chainrule.nn.functional as F

cr.set_default_dtype(np.float64)
N, REPEATS = int(sys.argv[1]), int(sys.argv[2])


def best(fn, n=N):
    times = []
    for _ in range(REPEATS):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        times.append((time.process_time() - t0) / n * 1e6)
    return min(times)


x = cr.tensor([[0.05], [0.10]])
W = cr.tensor([[0.15, 0.20], [0.25, 0.30]], requires_grad=True)
b = cr.tensor([[0.35], [0.35]], requires_grad=True)
c = cr.tensor([[0.35, 0.1]], requires_grad=True)  # (1, 2): broadcasts against (2, 1)
h = cr.tensor([[0.5], [0.6]], requires_grad=True)
t = cr.tensor([[0.01], [0.99]])

K = 20  # ops per chain: the fixed cost of a backward() call is spread over K nodes
steps = {
    "matmul": lambda y: W @ y,
    "add (broadcast)": lambda y: y + c,
    "sigmoid": lambda y: F.sigmoid(y),
    "sub": lambda y: t - y,
    "pow": lambda y: y**2,
    "mul by scalar": lambda y: 0.5 * y,
}


def best_backward(make, n=N):
    """Time only ``backward()`` of graphs built by ``make`` outside the timer."""
    times = []
    clock = time.process_time
    for _ in range(REPEATS):
        total = 0.0
        for _ in range(n):
            loss = make()
            t0 = clock()
            loss.backward()
            total += clock() - t0
        times.append(total / n * 1e6)
    return min(times)


results = {}
for name, step in steps.items():

    def chain(step=step):
        y = h
        for _ in range(K):
            y = step(y)
        return y

    forward = best(chain, N // K) / K
    # one sum on top makes the scalar backward() needs: K + 1 nodes in all
    backward = best_backward(lambda chain=chain: chain().sum(), N // K) / (K + 1)
    results[name] = (forward, backward)
    for p in (W, b, c, h):
        p.grad = None
results["sum (one node)"] = (best(lambda: h.sum()), best_backward(lambda: h.sum()))
h.grad = None

W1 = cr.tensor([[0.15, 0.20], [0.25, 0.30]], requires_grad=True)
b1 = cr.tensor([[0.35], [0.35]], requires_grad=True)
W2 = cr.tensor([[0.40, 0.45], [0.50, 0.55]], requires_grad=True)
b2 = cr.tensor([[0.60], [0.60]], requires_grad=True)
opt = cr.optim.SGD([W1, b1, W2, b2], lr=0.5)


def forward():
    h = F.sigmoid(W1 @ x + b1)
    o = F.sigmoid(W2 @ h + b2)
    return 0.5 * ((t - o) ** 2).sum()


def train_step():
    opt.zero_grad()
    E = forward()
    E.backward()
    opt.step()


E = forward()
E.backward()
results["W-tiny forward (10 ops)"] = (best(forward), None)
results["W-tiny backward"] = (best_backward(forward), None)
results["opt.step (SGD, 4 params)"] = (best(opt.step), None)
results["opt.zero_grad"] = (best(opt.zero_grad), None)
results["W-tiny step"] = (best(train_step), None)
for _ in range(2000):
    train_step()
results["W-tiny E after 2000+ steps"] = (float(forward().item()), None)

# The same with the parameters flattened (nn.utils.flatten_parameters): backward fills
# one flat gradient buffer and SGD updates all four parameters in one fused call.
try:
    from chainrule.nn.utils import flatten_parameters
except ImportError:  # a checkout from before flat parameters
    flatten_parameters = None
if flatten_parameters is not None:
    flatten_parameters([W1, b1, W2, b2])
    opt = cr.optim.SGD([W1, b1, W2, b2], lr=0.5)
    E = forward()
    E.backward()
    results["flattened: opt.step (fused)"] = (best(opt.step), None)
    results["flattened: W-tiny step"] = (best(train_step), None)
print(json.dumps(results))
'''


def run(src: str, n: int, repeats: int) -> dict:
    env = {"PYTHONPATH": src, "OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", _WORKER, str(n), str(repeats)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    import json

    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", action="append", help="a src/ folder to time (repeatable)")
    parser.add_argument("-n", type=int, default=2000, help="calls per timed loop")
    parser.add_argument("--repeats", type=int, default=3, help="timed loops per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, sources alternating")
    args = parser.parse_args()
    sources = args.src or ["src"]
    start = time.perf_counter()
    # Sources take turns round by round, so a busy spell on a shared machine hits
    # them alike; the minimum over all rounds is kept.
    columns: list[dict] = [{} for _ in sources]
    for _ in range(args.rounds):
        for column, src in zip(columns, sources, strict=True):
            for name, (fwd, bwd) in run(src, args.n, args.repeats).items():
                old = column.get(name)
                if old is not None and not name.startswith("W-tiny E"):
                    fwd = min(fwd, old[0])
                    bwd = None if bwd is None else min(bwd, old[1])
                column[name] = (fwd, bwd)
    names = list(dict.fromkeys(name for column in columns for name in column))
    width = max(len(n) for n in names)
    header = f"{'µs':<{width}} " + " ".join(f"{'fwd':>8} {'bwd':>8}" for _ in sources)
    print(" | ".join(sources))
    print(header)
    for name in names:
        cells = []
        for col in columns:
            fwd, bwd = col.get(name, (float("nan"), None))
            value = f"{fwd:8.2f}" if not name.startswith("W-tiny E") else f"{fwd:8.6f}"
            cells.append(value + " " + (f"{bwd:8.2f}" if bwd is not None else " " * 8))
        print(f"{name:<{width}} " + " ".join(cells))
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
