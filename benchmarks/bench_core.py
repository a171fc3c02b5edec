"""W-tiny and W-deep (DESIGN.md): per-step overhead of the code users write, side by side.

    python -m benchmarks.bench_core            # every installed peer, prints a table
    python -m benchmarks.bench_core --quick    # one round, one repeat: a smoke run

chainrule is timed three ways: ``cr-eager`` is the code a PyTorch user writes
(ordinary ops or ``nn.Sequential``, ``cr.optim.SGD``, ``zero_grad / backward /
step``); ``cr-compile`` is the same loss under ``cr.compile(fn, optimizer=opt)``
(reported as n/a where this checkout has no ``cr.compile``); ``cr-fused`` is a
hand-fused loop (``F.linear``, ``F.mse_loss``, a manual update, no optimizer) kept
for comparison only: it is not the code users write. Peers: PyTorch eager (the
same natural code), micrograd (W-tiny), JAX ``jit`` of the whole step, and NumPy
with forward, backward and update written by hand. Every peer starts from the
same weights and prints its final loss, so a fast-but-wrong peer would show.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.harness import (
    COMPILE_MISSING,
    best_of_rounds,
    measure,
    peak_rss_mib,
    peer_available,
    print_table,
    run_metadata,
)

TINY_STEPS = 2000
TINY_LR = 0.5
DEEP_LAYERS, DEEP_WIDTH, DEEP_BATCH, DEEP_STEPS, DEEP_LR = 200, 32, 64, 50, 0.01

# A builder returns (step, final loss[, finish]) or a note saying why the peer cannot run;
# ``finish`` waits for asynchronous work (JAX) before a clock stops.
Built = tuple[Callable[[], Any], ...] | str


def tiny_initial() -> dict[str, np.ndarray]:
    """Mazur's 2-2-2 network in float64: weights (out, in), biases and data as vectors."""
    return dict(
        x=np.array([0.05, 0.10]),
        t=np.array([0.01, 0.99]),
        w1=np.array([[0.15, 0.20], [0.25, 0.30]]),
        b1=np.array([0.35, 0.35]),
        w2=np.array([[0.40, 0.45], [0.50, 0.55]]),
        b2=np.array([0.60, 0.60]),
    )


def deep_initial() -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray, np.ndarray]:
    """200 Linear(32, 32) layers (PyTorch's default init, seed 0), inputs (64, 32), targets."""
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


def _copy_into_linears(model: Any, layers: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Give a chainrule model's Linear layers, in order, the shared initial weights."""
    linears = [m for m in model if hasattr(m, "weight")]
    for linear, (w, b) in zip(linears, layers, strict=True):
        linear.weight.data[...] = w
        linear.bias.data[...] = b


def _compiled(loss_fn: Callable[..., Any], optimizer: Any, *inputs: Any) -> Built:
    """A step that runs ``loss_fn`` under ``cr.compile``, or the note that there is none."""
    import chainrule as cr

    compile_ = getattr(cr, "compile", None)
    if compile_ is None:
        return COMPILE_MISSING
    step_fn = compile_(loss_fn, optimizer=optimizer)
    last: list[Any] = [None]

    def step() -> None:
        last[0] = step_fn(*inputs)

    return step, lambda: float(last[0].item())


# -- chainrule, the code a user writes ----------------------------------------------------
def _tiny_cr_model():
    import chainrule as cr
    import chainrule.nn.functional as F

    v = tiny_initial()
    x, t = cr.tensor(v["x"]), cr.tensor(v["t"])
    W1, b1, W2, b2 = (cr.tensor(v[k], requires_grad=True) for k in ("w1", "b1", "w2", "b2"))

    def loss_fn(x, t):
        h = F.sigmoid(W1 @ x + b1)
        o = F.sigmoid(W2 @ h + b2)
        return 0.5 * ((t - o) ** 2).sum()

    opt = cr.optim.SGD([W1, b1, W2, b2], lr=TINY_LR)
    return loss_fn, opt, x, t


def tiny_cr_eager() -> Built:
    loss_fn, opt, x, t = _tiny_cr_model()
    last: list[Any] = [None]

    def step() -> None:
        opt.zero_grad()
        E = loss_fn(x, t)
        E.backward()
        opt.step()
        last[0] = E

    return step, lambda: last[0].item()


def tiny_cr_compile() -> Built:
    loss_fn, opt, x, t = _tiny_cr_model()
    return _compiled(loss_fn, opt, x, t)


def _deep_cr_model():
    import chainrule as cr
    import chainrule.nn as nn
    import chainrule.nn.functional as F

    layers, xs, ys = deep_initial()
    model = nn.Sequential(
        *(m for _ in range(DEEP_LAYERS) for m in (nn.Linear(DEEP_WIDTH, DEEP_WIDTH), nn.Tanh()))
    )
    _copy_into_linears(model, layers)
    opt = cr.optim.SGD(model.parameters(), lr=DEEP_LR)

    def loss_fn(xb, yb):
        return F.mse_loss(model(xb), yb)

    return loss_fn, opt, cr.tensor(xs), cr.tensor(ys)


def deep_cr_eager() -> Built:
    loss_fn, opt, x, y = _deep_cr_model()
    last: list[Any] = [None]

    def step() -> None:
        opt.zero_grad()
        loss = loss_fn(x, y)
        loss.backward()
        opt.step()
        last[0] = loss

    return step, lambda: last[0].item()


def deep_cr_compile() -> Built:
    loss_fn, opt, x, y = _deep_cr_model()
    return _compiled(loss_fn, opt, x, y)


# -- chainrule, hand-fused (not user code) ------------------------------------------------
def tiny_cr_fused() -> Built:
    import chainrule as cr
    import chainrule.nn.functional as F

    v = tiny_initial()
    x, t = cr.tensor(v["x"][None]), cr.tensor(v["t"][None])
    params = [cr.tensor(v[k], requires_grad=True) for k in ("w1", "b1", "w2", "b2")]
    w1, b1, w2, b2 = params
    last = [0.0]

    def step() -> None:
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


def deep_cr_fused() -> Built:
    import chainrule as cr
    import chainrule.nn.functional as F

    layers, xs, ys = deep_initial()
    params = [cr.tensor(a, requires_grad=True) for pair in layers for a in pair]
    pairs = list(zip(params[::2], params[1::2], strict=True))
    x, y = cr.tensor(xs), cr.tensor(ys)
    last = [0.0]

    def step() -> None:
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


# -- NumPy, forward, backward and update written by hand ------------------------------------
def tiny_numpy() -> Built:
    v = {k: a.copy() for k, a in tiny_initial().items()}
    x, t = v["x"], v["t"]
    w1, b1, w2, b2 = v["w1"], v["b1"], v["w2"], v["b2"]
    last = [0.0]

    def step() -> None:
        nonlocal w1, b1, w2, b2  # updated in place; nonlocal only lets ``-=`` name them
        h = 1 / (1 + np.exp(-(w1 @ x + b1)))
        o = 1 / (1 + np.exp(-(w2 @ h + b2)))
        last[0] = 0.5 * np.sum((t - o) ** 2)
        d2 = (o - t) * o * (1 - o)
        d1 = (w2.T @ d2) * h * (1 - h)
        w2 -= TINY_LR * np.outer(d2, h)
        b2 -= TINY_LR * d2
        w1 -= TINY_LR * np.outer(d1, x)
        b1 -= TINY_LR * d1

    return step, lambda: float(last[0])


def deep_numpy() -> Built:
    layers, x, y = deep_initial()
    layers = [(w.copy(), b.copy()) for w, b in layers]
    last = [0.0]

    def step() -> None:
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


# -- PyTorch eager, the same natural code ------------------------------------------------------
def tiny_torch() -> Built:
    import torch

    torch.set_num_threads(2)
    v = tiny_initial()
    x, t = torch.tensor(v["x"]), torch.tensor(v["t"])
    W1, b1, W2, b2 = (torch.tensor(v[k], requires_grad=True) for k in ("w1", "b1", "w2", "b2"))
    opt = torch.optim.SGD([W1, b1, W2, b2], lr=TINY_LR)
    last: list[Any] = [None]

    def step() -> None:
        opt.zero_grad()
        h = torch.sigmoid(W1 @ x + b1)
        o = torch.sigmoid(W2 @ h + b2)
        E = 0.5 * ((t - o) ** 2).sum()
        E.backward()
        opt.step()
        last[0] = E

    return step, lambda: last[0].item()


def deep_torch() -> Built:
    import torch
    import torch.nn.functional as tf
    from torch import nn

    torch.set_num_threads(2)
    layers, xs, ys = deep_initial()
    model = nn.Sequential(
        *(m for _ in range(DEEP_LAYERS) for m in (nn.Linear(DEEP_WIDTH, DEEP_WIDTH), nn.Tanh()))
    )
    with torch.no_grad():
        linears = [m for m in model if isinstance(m, nn.Linear)]
        for linear, (w, b) in zip(linears, layers, strict=True):
            linear.weight.copy_(torch.from_numpy(w))
            linear.bias.copy_(torch.from_numpy(b))
    opt = torch.optim.SGD(model.parameters(), lr=DEEP_LR)
    x, y = torch.from_numpy(xs), torch.from_numpy(ys)
    last: list[Any] = [None]

    def step() -> None:
        opt.zero_grad()
        loss = tf.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        last[0] = loss

    return step, lambda: last[0].item()


# -- JAX, jit of the whole step ----------------------------------------------------------------
def _jax_sgd_step(loss: Callable[..., Any], lr: float):
    import jax

    @jax.jit
    def step(params, *inputs):
        value, grads = jax.value_and_grad(loss)(params, *inputs)
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads), value

    return step


def _jax_runner(step_fn, params, inputs) -> Built:
    state: dict[str, Any] = {"params": params, "loss": None}

    def step() -> None:
        state["params"], state["loss"] = step_fn(state["params"], *inputs)

    def finish() -> None:
        state["loss"].block_until_ready()

    return step, lambda: float(state["loss"]), finish


def tiny_jax() -> Built:
    import jax

    jax.config.update("jax_enable_x64", True)  # W-tiny is float64
    import jax.numpy as jnp

    v = tiny_initial()

    def loss(params, x, t):
        W1, b1, W2, b2 = params
        h = jax.nn.sigmoid(W1 @ x + b1)
        o = jax.nn.sigmoid(W2 @ h + b2)
        return 0.5 * jnp.sum((t - o) ** 2)

    params = [jnp.asarray(v[k]) for k in ("w1", "b1", "w2", "b2")]
    inputs = (jnp.asarray(v["x"]), jnp.asarray(v["t"]))
    return _jax_runner(_jax_sgd_step(loss, TINY_LR), params, inputs)


def deep_jax() -> Built:
    import jax.numpy as jnp

    layers, xs, ys = deep_initial()

    def loss(params, x, y):
        h = x
        for w, b in params:
            h = jnp.tanh(h @ w.T + b)
        return jnp.mean((h - y) ** 2)

    params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in layers]
    return _jax_runner(_jax_sgd_step(loss, DEEP_LR), params, (jnp.asarray(xs), jnp.asarray(ys)))


# -- micrograd (scalar autograd) --------------------------------------------------------
def tiny_micrograd() -> Built:
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
    x, t = list(v["x"]), list(v["t"])
    last = [0.0]

    def step() -> None:
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
        loss = sum(((ti - oi) ** 2 for oi, ti in zip(o, t, strict=True)), Value(0.0)) * 0.5
        loss.backward()
        for p in params:
            p.data -= TINY_LR * p.grad
        last[0] = loss.data

    return step, lambda: float(last[0])


WORKLOADS: dict[str, tuple[int, dict[str, Callable[[], Built]]]] = {
    "W-tiny": (
        TINY_STEPS,
        {
            "cr-eager": tiny_cr_eager,
            "cr-compile": tiny_cr_compile,
            "torch": tiny_torch,
            "micrograd": tiny_micrograd,
            "jax": tiny_jax,
            "numpy": tiny_numpy,
            "cr-fused": tiny_cr_fused,
        },
    ),
    "W-deep": (
        DEEP_STEPS,
        {
            "cr-eager": deep_cr_eager,
            "cr-compile": deep_cr_compile,
            "torch": deep_torch,
            "jax": deep_jax,
            "numpy": deep_numpy,
            "cr-fused": deep_cr_fused,
        },
    ),
}
PEER_MODULES = {"torch": "torch", "micrograd": "micrograd", "jax": "jax"}
LABELS = {
    "cr-eager": "cr eager",
    "cr-compile": "cr compile",
    "cr-fused": "cr hand-fused (not user code)",
    "numpy": "numpy by hand",
    "torch": "torch eager",
    "micrograd": "micrograd",
    "jax": "jax jit",
}


def run_one(workload: str, peer: str, repeats: int) -> dict:
    steps, builders = WORKLOADS[workload]
    built = builders[peer]()
    if isinstance(built, str):
        return {"note": built}
    step, final_loss, *finish = built
    seconds = measure(step, steps, repeats, finish[0] if finish else None)
    return {
        "steps_per_s": steps / seconds,
        "final_loss": final_loss(),
        "peak_rss_mib": peak_rss_mib(),
    }


COLUMNS = [
    ("label", "peer"),
    ("steps_per_s", "steps/s"),
    ("final_loss", "final loss"),
    ("peak_rss_mib", "peak RSS MiB"),
    ("ratio_eager", "eager ÷ peer"),
    ("ratio_compile", "compile ÷ peer"),
    ("note", "note"),
    ("error", "error"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=2, metavar=("WORKLOAD", "PEER"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="one round, one repeat")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all peers (best kept)")
    parser.add_argument("--only", choices=list(WORKLOADS), help="run one workload")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()
    repeats = 1 if args.quick else 5
    if args.one:
        print(json.dumps(run_one(*args.one, repeats)))
        return

    from benchmarks.report import print_targets

    meta = run_metadata(["benchmarks.bench_core", *sys.argv[1:]])
    rounds = 1 if args.quick else args.rounds
    extra = ["--quick"] if args.quick else []
    results: dict[str, Any] = {}
    for workload in [args.only] if args.only else list(WORKLOADS):
        rows = best_of_rounds(
            "benchmarks.bench_core",
            workload,
            list(WORKLOADS[workload][1]),
            lambda peer: peer_available(PEER_MODULES.get(peer, "numpy")),
            "steps_per_s",
            rounds,
            extra_args=extra,
        )
        for row in rows:
            row["label"] = LABELS[row["peer"]]
        results[workload] = rows
        print_table(
            f"{workload} (steps/s; ratio = chainrule steps/s ÷ peer steps/s)", rows, COLUMNS
        )
    meta["load_average_end"] = os.getloadavg()[0]
    print_targets(results)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"meta": meta, "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
