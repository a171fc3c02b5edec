"""W-tiny and W-deep (DESIGN.md): per-step overhead of the autodiff engine, side by side.

    python -m benchmarks.bench_core            # every installed peer, prints a table
    python -m benchmarks.bench_core --quick    # fewer repeats, for a smoke run

Peers: chainrule (cr), hand-written NumPy backprop, PyTorch eager and micrograd
when installed. Every peer runs the canonical loop — zero the gradients, forward,
backward, update — from the same initial weights, and reports its final loss so
that a fast-but-wrong peer would show.
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

from benchmarks.harness import best_of_rounds, measure, peak_rss_mib, peer_available, print_table

TINY_STEPS = 2000
TINY_LR = 0.5
DEEP_LAYERS, DEEP_WIDTH, DEEP_BATCH, DEEP_STEPS, DEEP_LR = 200, 32, 64, 50, 0.01


def tiny_initial():
    """Mazur's 2-2-2 network: weights as (out, in) matrices, one bias per unit."""
    return dict(
        x=np.array([[0.05, 0.10]]),
        t=np.array([[0.01, 0.99]]),
        w1=np.array([[0.15, 0.20], [0.25, 0.30]]),
        b1=np.array([0.35, 0.35]),
        w2=np.array([[0.40, 0.45], [0.50, 0.55]]),
        b2=np.array([0.60, 0.60]),
    )


def deep_initial():
    rng = np.random.default_rng(0)
    bound = 1 / math.sqrt(DEEP_WIDTH)
    layers = [
        (
            rng.uniform(-bound, bound, (DEEP_WIDTH, DEEP_WIDTH)).astype(np.float32),
            rng.uniform(-bound, bound, DEEP_WIDTH).astype(np.float32),
        )
        for _ in range(DEEP_LAYERS)
    ]
    x = rng.standard_normal((DEEP_BATCH, DEEP_WIDTH)).astype(np.float32)
    y = rng.standard_normal((DEEP_BATCH, DEEP_WIDTH)).astype(np.float32) * 0.5
    return layers, x, y


# -- chainrule ------------------------------------------------------------------------
def tiny_chainrule():
    import chainrule as cr
    import chainrule.nn.functional as F

    v = tiny_initial()
    x, t = cr.tensor(v["x"]), cr.tensor(v["t"])
    params = [cr.tensor(v[k], requires_grad=True) for k in ("w1", "b1", "w2", "b2")]
    w1, b1, w2, b2 = params
    last = [0.0]

    def step():
        for p in params:
            p.grad = None
        h = F.sigmoid(F.linear(x, w1, b1))
        o = F.sigmoid(F.linear(h, w2, b2))
        loss = 0.5 * F.mse_loss(o, t, reduction="sum")
        loss.backward()
        for p in params:
            p.data -= TINY_LR * p.grad
        last[0] = loss.data

    return step, lambda: float(last[0])


def deep_chainrule():
    import chainrule as cr
    import chainrule.nn.functional as F

    layers, xs, ys = deep_initial()
    params = [cr.tensor(a, requires_grad=True) for pair in layers for a in pair]
    pairs = list(zip(params[::2], params[1::2], strict=True))
    x, y = cr.tensor(xs), cr.tensor(ys)
    last = [0.0]

    def step():
        for p in params:
            p.grad = None
        h = x
        for w, b in pairs:
            h = F.tanh(F.linear(h, w, b))
        loss = F.mse_loss(h, y)
        loss.backward()
        for p in params:
            p.data -= DEEP_LR * p.grad
        last[0] = loss.data

    return step, lambda: float(last[0])


# -- NumPy, backpropagation written by hand -----------------------------------------------
def tiny_numpy():
    v = {k: a.copy() for k, a in tiny_initial().items()}
    x, t = v["x"], v["t"]
    last = [0.0]

    def step():
        w1, b1, w2, b2 = v["w1"], v["b1"], v["w2"], v["b2"]
        h = 1 / (1 + np.exp(-(x @ w1.T + b1)))
        o = 1 / (1 + np.exp(-(h @ w2.T + b2)))
        last[0] = 0.5 * np.sum((o - t) ** 2)
        d2 = (o - t) * o * (1 - o)
        d1 = (d2 @ w2) * h * (1 - h)
        v["w2"] = w2 - TINY_LR * (d2.T @ h)
        v["b2"] = b2 - TINY_LR * d2.sum(0)
        v["w1"] = w1 - TINY_LR * (d1.T @ x)
        v["b1"] = b1 - TINY_LR * d1.sum(0)

    return step, lambda: float(last[0])


def deep_numpy():
    layers, x, y = deep_initial()
    layers = [(w.copy(), b.copy()) for w, b in layers]
    last = [0.0]

    def step():
        acts = [x]
        for w, b in layers:
            acts.append(np.tanh(acts[-1] @ w.T + b))
        out = acts[-1]
        last[0] = np.mean((out - y) ** 2)
        g = 2 * (out - y) / out.size
        for i in range(len(layers) - 1, -1, -1):
            w, b = layers[i]
            a = acts[i + 1]
            dz = g * (1 - a * a)
            g = dz @ w
            w -= DEEP_LR * (dz.T @ acts[i])
            b -= DEEP_LR * dz.sum(0)

    return step, lambda: float(last[0])


# -- PyTorch eager --------------------------------------------------------------------
def tiny_torch():
    import torch
    import torch.nn.functional as tf

    torch.set_num_threads(2)
    v = tiny_initial()
    x, t = torch.tensor(v["x"]), torch.tensor(v["t"])
    params = [torch.tensor(v[k], requires_grad=True) for k in ("w1", "b1", "w2", "b2")]
    w1, b1, w2, b2 = params
    last = [0.0]

    def step():
        for p in params:
            p.grad = None
        h = torch.sigmoid(tf.linear(x, w1, b1))
        o = torch.sigmoid(tf.linear(h, w2, b2))
        loss = 0.5 * tf.mse_loss(o, t, reduction="sum")
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= TINY_LR * p.grad
        last[0] = loss.detach()

    return step, lambda: float(last[0])


def deep_torch():
    import torch
    import torch.nn.functional as tf

    torch.set_num_threads(2)
    layers, xs, ys = deep_initial()
    params = [torch.tensor(a, requires_grad=True) for pair in layers for a in pair]
    pairs = list(zip(params[::2], params[1::2], strict=True))
    x, y = torch.tensor(xs), torch.tensor(ys)
    last = [0.0]

    def step():
        for p in params:
            p.grad = None
        h = x
        for w, b in pairs:
            h = torch.tanh(tf.linear(h, w, b))
        loss = tf.mse_loss(h, y)
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= DEEP_LR * p.grad
        last[0] = loss.detach()

    return step, lambda: float(last[0])


# -- micrograd (scalar autograd) --------------------------------------------------------
def tiny_micrograd():
    from micrograd.engine import Value

    def sigmoid(z):
        # micrograd has no exp; add sigmoid the way its own relu is written.
        s = 1 / (1 + math.exp(-z.data))
        out = Value(s, (z,), "sigmoid")

        def _backward():
            z.grad += s * (1 - s) * out.grad

        out._backward = _backward
        return out

    v = tiny_initial()
    w1 = [[Value(a) for a in row] for row in v["w1"]]
    w2 = [[Value(a) for a in row] for row in v["w2"]]
    b1 = [Value(a) for a in v["b1"]]
    b2 = [Value(a) for a in v["b2"]]
    params = [p for row in w1 + w2 for p in row] + b1 + b2
    x, t = list(v["x"][0]), list(v["t"][0])
    last = [0.0]

    def step():
        for p in params:
            p.grad = 0.0
        h = [
            sigmoid(sum((w * xi for w, xi in zip(row, x, strict=True)), b))
            for row, b in zip(w1, b1, strict=True)
        ]
        o = [
            sigmoid(sum((w * hi for w, hi in zip(row, h, strict=True)), b))
            for row, b in zip(w2, b2, strict=True)
        ]
        loss = sum(((oi - ti) ** 2 for oi, ti in zip(o, t, strict=True)), Value(0.0)) * 0.5
        loss.backward()
        for p in params:
            p.data -= TINY_LR * p.grad
        last[0] = loss.data

    return step, lambda: float(last[0])


WORKLOADS = {
    "W-tiny": (
        TINY_STEPS,
        {
            "cr": tiny_chainrule,
            "numpy": tiny_numpy,
            "torch": tiny_torch,
            "micrograd": tiny_micrograd,
        },
    ),
    "W-deep": (DEEP_STEPS, {"cr": deep_chainrule, "numpy": deep_numpy, "torch": deep_torch}),
}
PEER_MODULES = {"cr": "chainrule", "numpy": "numpy", "torch": "torch", "micrograd": "micrograd"}


def run_one(workload: str, peer: str, repeats: int) -> dict:
    steps, builders = WORKLOADS[workload]
    step, final_loss = builders[peer]()
    seconds = measure(step, steps, repeats)
    return {
        "steps_per_s": steps / seconds,
        "final_loss": final_loss(),
        "peak_rss_mib": peak_rss_mib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=2, metavar=("WORKLOAD", "PEER"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="one round, one repeat")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all peers (best kept)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()
    repeats = 1 if args.quick else 5
    if args.one:
        print(json.dumps(run_one(*args.one, repeats)))
        return

    rounds = 1 if args.quick else args.rounds
    extra = ["--quick"] if args.quick else []
    results = {}
    for workload, (_, builders) in WORKLOADS.items():
        rows = best_of_rounds(
            "benchmarks.bench_core",
            workload,
            list(builders),
            lambda peer: peer_available(PEER_MODULES[peer]),
            "steps_per_s",
            rounds,
            extra_args=extra,
        )
        results[workload] = rows
        print_table(
            f"{workload} (higher steps/s is better; cr_speedup = cr steps/s ÷ peer steps/s)",
            rows,
            [
                ("peer", "peer"),
                ("steps_per_s", "steps/s"),
                ("cr_speedup", "cr speedup"),
                ("final_loss", "final loss"),
                ("peak_rss_mib", "peak RSS MiB"),
                ("note", "note"),
                ("error", "error"),
            ],
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
