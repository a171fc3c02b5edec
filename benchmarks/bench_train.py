"""W-small and W-large (DESIGN.md): training throughput of the code users write, side by side.

    python -m benchmarks.bench_train             # every installed peer
    python -m benchmarks.bench_train --quick     # fewer epochs and samples: a smoke run
    python -m benchmarks.bench_train --only W-small

chainrule is timed three ways on an ``nn.Sequential`` MLP: ``cr-eager`` (a
``DataLoader`` loop with ``zero_grad / F.cross_entropy / backward / step``),
``cr-compile`` (the same loss under ``cr.compile(fn, optimizer=opt)``, n/a where
this checkout has none) and ``cr-fit``. Peers, each in its own process with 2
threads: PyTorch eager (the same natural loop), JAX ``jit`` of the whole step,
scikit-learn's MLPClassifier and NumPy with forward, backward and update written
by hand. Every peer starts from the same weights; all but scikit-learn (which
shuffles with its own generator) also see the same batches, so their test
accuracies agree. Throughput leaves out the first step (where compilers trace) and
reports its time apart; scikit-learn's and ``cr.fit``'s come from one call. W-large
also reports the fraction of the GEMM ceiling: the step's matrix products alone,
timed on this machine, divided by the time of a whole step.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import numpy as np

from benchmarks.harness import (
    COMPILE_MISSING,
    best_of_rounds,
    peak_rss_mib,
    peer_available,
    print_table,
    run_metadata,
)

PEERS = ["cr-eager", "cr-compile", "cr-fit", "torch", "jax", "sklearn", "numpy"]
PEER_MODULES = {"torch": "torch", "jax": "jax", "sklearn": "sklearn"}
LABELS = {
    "cr-eager": "cr eager",
    "cr-compile": "cr compile",
    "cr-fit": "cr fit",
    "numpy": "numpy by hand",
    "torch": "torch eager",
    "jax": "jax jit",
    "sklearn": "scikit-learn MLP",
}
CONFIG = {
    # repeats: whole trainings per process, best kept (each from the same initial weights)
    "W-small": dict(hidden=(128, 64), optimizer="adam", lr=1e-3, batch=32, epochs=20, repeats=3),
    "W-large": dict(
        hidden=(1024, 1024), optimizer="momentum", lr=0.01, batch=256, epochs=3, repeats=1
    ),
}
SEED = 0


def load_workload(name: str, quick: bool):
    """Standardized float32 train/test arrays, identical for every peer."""
    if name == "W-small":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        digits = load_digits()
        x_tr, x_te, y_tr, y_te = train_test_split(
            digits.data, digits.target, test_size=0.2, stratify=digits.target, random_state=0
        )
        mean, std = x_tr.mean(0), x_tr.std(0)
        std[std == 0] = 1.0
        x_tr, x_te = (x_tr - mean) / std, (x_te - mean) / std
    else:
        rng = np.random.default_rng(0)
        n, n_test = (1024, 512) if quick else (16384, 2048)
        teacher = rng.standard_normal((784, 10))
        x = rng.standard_normal((n + n_test, 784))
        y = np.argmax(x @ teacher, axis=1)
        x_tr, x_te, y_tr, y_te = x[:n], x[n:], y[:n], y[n:]
    return (
        x_tr.astype(np.float32),
        x_te.astype(np.float32),
        y_tr.astype(np.int64),
        y_te.astype(np.int64),
    )


def save_workload(folder: str, name: str, quick: bool) -> None:
    """Make the data once, in the parent: each child then skips scikit-learn's import and
    the synthetic draw, which would otherwise dominate a quick run."""
    arrays = dict(zip(("x_tr", "x_te", "y_tr", "y_te"), load_workload(name, quick), strict=True))
    np.savez(os.path.join(folder, f"{name}.npz"), **arrays)


def cached_workload(folder: str, name: str):
    with np.load(os.path.join(folder, f"{name}.npz"), allow_pickle=False) as saved:
        return tuple(saved[k] for k in ("x_tr", "x_te", "y_tr", "y_te"))


def initial_weights(sizes: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """PyTorch's default Linear init, weights (out, in), from one seed shared by every peer."""
    rng = np.random.default_rng(0)
    layers = []
    for fan_in, fan_out in pairwise(sizes):
        bound = 1 / math.sqrt(fan_in)
        layers.append(
            (
                rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32),
                rng.uniform(-bound, bound, fan_out).astype(np.float32),
            )
        )
    return layers


def epoch_orders(n: int, epochs: int) -> list[np.ndarray]:
    """The sample order of each epoch: the draws ``cr.data.DataLoader(generator=SEED)`` and
    ``cr.fit(seed=SEED)`` make, so the peers that batch by hand see the same batches."""
    rng = np.random.default_rng(SEED)
    return [rng.permutation(n) for _ in range(epochs)]


class StepClock:
    """Notes when the first step ended and when the last did: throughput leaves the first
    step out, since that is where ``cr.compile`` and ``jax.jit`` trace."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first: float | None = None
        self.end = self.start

    def tick(self) -> None:
        self.end = time.perf_counter()
        if self.first is None:
            self.first = self.end


# A runner returns (clock, test logits) or a note saying why the peer cannot run.
Outcome = tuple[StepClock, np.ndarray] | str


# -- chainrule -----------------------------------------------------------------------------
def _cr_setup(sizes: list[int], cfg: dict):
    import chainrule as cr
    import chainrule.nn as nn

    layers: list[Any] = []
    for i, (fan_in, fan_out) in enumerate(pairwise(sizes)):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    for linear, (w, b) in zip(linears, initial_weights(sizes), strict=True):
        linear.weight.data[...] = w
        linear.bias.data[...] = b
    if cfg["optimizer"] == "adam":
        opt = cr.optim.Adam(model.parameters(), lr=cfg["lr"])
    else:
        opt = cr.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=0.9)
    return model, opt


def _cr_logits(model: Any, x: np.ndarray) -> np.ndarray:
    import chainrule as cr

    model.eval()
    with cr.no_grad():
        return model(cr.Tensor(x)).data


def run_cr_eager(data, cfg, sizes) -> Outcome:
    import chainrule as cr
    import chainrule.nn.functional as F

    x_tr, x_te, y_tr, _ = data
    model, opt = _cr_setup(sizes, cfg)
    loader = cr.data.DataLoader(
        cr.data.TensorDataset(x_tr, y_tr), batch_size=cfg["batch"], shuffle=True, generator=SEED
    )
    clock = StepClock()
    for _ in range(cfg["epochs"]):
        for xb, yb in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            clock.tick()
    return clock, _cr_logits(model, x_te)


def run_cr_compile(data, cfg, sizes) -> Outcome:
    import chainrule as cr
    import chainrule.nn.functional as F

    compile_ = getattr(cr, "compile", None)
    if compile_ is None:
        return COMPILE_MISSING
    x_tr, x_te, y_tr, _ = data
    model, opt = _cr_setup(sizes, cfg)
    loader = cr.data.DataLoader(
        cr.data.TensorDataset(x_tr, y_tr), batch_size=cfg["batch"], shuffle=True, generator=SEED
    )
    step = compile_(lambda xb, yb: F.cross_entropy(model(xb), yb), optimizer=opt)
    clock = StepClock()
    for _ in range(cfg["epochs"]):
        for xb, yb in loader:
            step(xb, yb)
            clock.tick()
    return clock, _cr_logits(model, x_te)


def run_cr_fit(data, cfg, sizes) -> Outcome:
    import chainrule as cr

    x_tr, x_te, y_tr, _ = data
    model, opt = _cr_setup(sizes, cfg)
    clock = StepClock()

    class Tick(cr.train.Callback):
        def on_batch_end(self, batch: int, logs: dict) -> None:
            clock.tick()

    cr.fit(
        model,
        x_tr,
        y_tr,
        loss="cross_entropy",
        optimizer=opt,
        epochs=cfg["epochs"],
        batch_size=cfg["batch"],
        seed=SEED,
        verbose=0,
        callbacks=[Tick()],
    )
    return clock, _cr_logits(model, x_te)


# -- NumPy, forward, backward and update written by hand ---------------------------------------
def run_numpy(data, cfg, sizes) -> Outcome:
    x_tr, x_te, y_tr, _ = data
    params = [a.copy() for pair in initial_weights(sizes) for a in pair]
    state = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, cfg["lr"]
    step = 0
    clock = StepClock()
    for order in epoch_orders(len(x_tr), cfg["epochs"]):
        for start in range(0, len(order), cfg["batch"]):
            index = order[start : start + cfg["batch"]]
            x, y = x_tr[index], y_tr[index]
            acts = [x]
            for i in range(0, len(params), 2):
                z = acts[-1] @ params[i].T + params[i + 1]
                acts.append(np.maximum(z, 0) if i < len(params) - 2 else z)
            logits = acts[-1]
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            p[np.arange(len(y)), y] -= 1  # softmax-cross-entropy' = p - y
            g = p / len(y)
            grads: list[Any] = [None] * len(params)
            for i in range(len(params) - 2, -1, -2):
                grads[i] = g.T @ acts[i // 2]
                grads[i + 1] = g.sum(0)
                if i:
                    g = (g @ params[i]) * (acts[i // 2] > 0)
            step += 1
            for p_, g_, (m, v) in zip(params, grads, state, strict=True):
                if cfg["optimizer"] == "adam":
                    m *= b1
                    m += (1 - b1) * g_
                    v *= b2
                    v += (1 - b2) * g_ * g_
                    denom = np.sqrt(v / (1 - b2**step)) + eps
                    p_ -= (lr / (1 - b1**step)) * m / denom
                else:
                    m *= 0.9
                    m += g_
                    p_ -= lr * m
            clock.tick()
    h = x_te
    for i in range(0, len(params), 2):
        h = h @ params[i].T + params[i + 1]
        h = np.maximum(h, 0) if i < len(params) - 2 else h
    return clock, h


# -- PyTorch eager, the same natural loop --------------------------------------------------------
def run_torch(data, cfg, sizes) -> Outcome:
    import torch
    import torch.nn.functional as tf
    from torch import nn

    torch.set_num_threads(2)
    x_tr, x_te, y_tr, _ = (torch.from_numpy(a) for a in data)
    layers: list[Any] = []
    for i, (fan_in, fan_out) in enumerate(pairwise(sizes)):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    with torch.no_grad():
        linears = [m for m in model if isinstance(m, nn.Linear)]
        for linear, (w, b) in zip(linears, initial_weights(sizes), strict=True):
            linear.weight.copy_(torch.from_numpy(w))
            linear.bias.copy_(torch.from_numpy(b))
    if cfg["optimizer"] == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    else:
        opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=0.9)
    # torch's DataLoader would collate sample by sample; batches by index are its fastest form
    orders = [torch.from_numpy(o) for o in epoch_orders(len(x_tr), cfg["epochs"])]
    clock = StepClock()
    for order in orders:
        for index in order.split(cfg["batch"]):
            xb, yb = x_tr[index], y_tr[index]
            opt.zero_grad()
            loss = tf.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            clock.tick()
    with torch.no_grad():
        return clock, model(x_te).numpy()


# -- JAX, jit of the whole step ------------------------------------------------------------------
def _jax_forward(params, x):
    import jax.numpy as jnp

    for w, b in params[:-1]:
        x = jnp.maximum(x @ w.T + b, 0)
    w, b = params[-1]
    return x @ w.T + b


def _jax_update(cfg: dict) -> Callable:
    """torch.optim's Adam / SGD-momentum rule as a pure function of (params, state, grads)."""
    import jax
    import jax.numpy as jnp

    lr, tree = cfg["lr"], jax.tree_util.tree_map
    if cfg["optimizer"] == "adam":
        b1, b2, eps = 0.9, 0.999, 1e-8

        def adam(params, state, grads):
            t, m, v = state
            t = t + 1
            m = tree(lambda m_, g: b1 * m_ + (1 - b1) * g, m, grads)
            v = tree(lambda v_, g: b2 * v_ + (1 - b2) * g * g, v, grads)
            scale, correction = lr / (1 - b1**t), 1 - b2**t
            new = tree(
                lambda p, m_, v_: p - scale * m_ / (jnp.sqrt(v_ / correction) + eps), params, m, v
            )
            return new, (t, m, v)

        return adam

    def momentum(params, state, grads):
        buf = tree(lambda b, g: 0.9 * b + g, state, grads)
        return tree(lambda p, b: p - lr * b, params, buf), buf

    return momentum


def run_jax(data, cfg, sizes) -> Outcome:
    import jax
    import jax.numpy as jnp

    x_tr, x_te, y_tr, _ = data
    params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in initial_weights(sizes)]
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    state: Any = (0, zeros, zeros) if cfg["optimizer"] == "adam" else zeros
    update = _jax_update(cfg)

    def loss_fn(params, x, y):
        logp = jax.nn.log_softmax(_jax_forward(params, x))
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    @jax.jit
    def step(params, state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        params, state = update(params, state, grads)
        return params, state, loss

    orders = epoch_orders(len(x_tr), cfg["epochs"])
    odd = len(x_tr) % cfg["batch"]
    if odd:
        # jit traces again for each new shape: trace the short last batch now (the result
        # is dropped, so the trajectory is unchanged), the full one in the untimed first step
        step(params, state, x_tr[:odd], y_tr[:odd])[2].block_until_ready()
    clock = StepClock()
    for order in orders:
        for start in range(0, len(order), cfg["batch"]):
            index = order[start : start + cfg["batch"]]
            params, state, loss = step(params, state, x_tr[index], y_tr[index])
            if clock.first is None:
                loss.block_until_ready()  # the first step's time includes the trace
            clock.tick()
    loss.block_until_ready()
    clock.tick()  # the last tick waits for the asynchronous steps to finish
    return clock, np.asarray(_jax_forward(params, jnp.asarray(x_te)))


# -- scikit-learn ------------------------------------------------------------------------------
def run_sklearn(data, cfg, sizes) -> Outcome:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x_tr, x_te, y_tr, _ = data
    options = (
        dict(solver="adam", learning_rate_init=cfg["lr"])
        if cfg["optimizer"] == "adam"
        else dict(
            solver="sgd", learning_rate_init=cfg["lr"], momentum=0.9, nesterovs_momentum=False
        )
    )
    model = MLPClassifier(
        hidden_layer_sizes=sizes[1:-1],
        batch_size=cfg["batch"],
        max_iter=cfg["epochs"],
        alpha=0.0,
        tol=0.0,
        n_iter_no_change=10**6,
        random_state=0,
        warm_start=True,
        **options,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # One small partial_fit sets the model up; then the shared weights replace its
        # own, and warm_start makes fit start from them (with a fresh optimizer).
        model.partial_fit(x_tr[:256], y_tr[:256], classes=np.arange(sizes[-1]))
        layers = initial_weights(sizes)
        model.coefs_ = [w.T.copy() for w, _ in layers]
        model.intercepts_ = [b.copy() for _, b in layers]
        clock = StepClock()
        model.fit(x_tr, y_tr)
        clock.tick()
    clock.first = clock.start  # one call: nothing to leave out
    return clock, model.predict_proba(x_te)


def gemm_ceiling(cfg: dict, sizes: list[int], repeats: int = 20) -> float:
    """Seconds per step of the step's matrix products alone (forward and backward)."""
    rng = np.random.default_rng(0)
    b = cfg["batch"]
    products = []
    for fan_in, fan_out in pairwise(sizes):
        x = rng.standard_normal((b, fan_in)).astype(np.float32)
        w = rng.standard_normal((fan_out, fan_in)).astype(np.float32)
        g = rng.standard_normal((b, fan_out)).astype(np.float32)
        products.append((x, w, g, fan_in != sizes[0]))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for x, w, g, needs_dx in products:
            x.dot(w.T)  # forward
            g.T.dot(x)  # weight gradient
            if needs_dx:
                g.dot(w)  # gradient for the layer below
        best = min(best, time.perf_counter() - start)
    return best


RUNNERS: dict[str, Callable[..., Outcome]] = {
    "cr-eager": run_cr_eager,
    "cr-compile": run_cr_compile,
    "cr-fit": run_cr_fit,
    "numpy": run_numpy,
    "torch": run_torch,
    "jax": run_jax,
    "sklearn": run_sklearn,
}


def _test_metrics(scores: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Accuracy and mean cross-entropy from logits (or, for scikit-learn, probabilities)."""
    scores = np.asarray(scores, dtype=np.float64)
    if np.all(scores >= 0) and np.allclose(scores.sum(1), 1.0):
        logp = np.log(np.clip(scores, 1e-300, None))
    else:
        shifted = scores - scores.max(1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    return {
        "test_accuracy": float((scores.argmax(1) == y).mean()),
        "test_loss": float(-logp[np.arange(len(y)), y].mean()),
    }


def run_one(workload: str, peer: str, quick: bool, data_dir: str | None = None) -> dict:
    cfg = dict(CONFIG[workload])
    if quick:
        cfg["epochs"], cfg["repeats"] = 1, 1
    data = cached_workload(data_dir, workload) if data_dir else load_workload(workload, quick)
    sizes = [data[0].shape[1], *cfg["hidden"], 10]
    best: dict[str, Any] = {}
    for _ in range(cfg["repeats"]):
        row = _train_once(RUNNERS[peer], data, cfg, sizes)
        if "note" in row:
            return row
        if row["samples_per_s"] > best.get("samples_per_s", 0):
            best = row
    best["peak_rss_mib"] = peak_rss_mib()
    if workload == "W-large" and peer != "sklearn":
        best["gemm_fraction"] = gemm_ceiling(cfg, sizes) / best.pop("seconds_per_step")
    best.pop("seconds_per_step", None)
    return best


def _train_once(runner: Callable[..., Outcome], data, cfg: dict, sizes: list[int]) -> dict:
    """One training from the shared initial weights: throughput and test metrics."""
    outcome = runner(data, cfg, sizes)
    if isinstance(outcome, str):
        return {"note": outcome}
    clock, scores = outcome
    n = len(data[0])
    steps = math.ceil(n / cfg["batch"]) * cfg["epochs"]
    first = clock.first if clock.first is not None else clock.start
    timed_steps = steps - 1 if first > clock.start else steps
    seconds = clock.end - first
    row = {
        "samples_per_s": n * cfg["epochs"] * timed_steps / steps / seconds,
        **_test_metrics(scores, data[3]),
        "seconds_per_step": seconds / timed_steps,
    }
    if timed_steps < steps:
        row["first_step_ms"] = 1000 * (first - clock.start)
    return row


COLUMNS = [
    ("label", "peer"),
    ("samples_per_s", "samples/s"),
    ("test_accuracy", "test acc"),
    ("test_loss", "test loss"),
    ("first_step_ms", "1st step ms"),
    ("gemm_fraction", "GEMM fraction"),
    ("peak_rss_mib", "peak RSS MiB"),
    ("ratio_eager", "eager ÷ peer"),
    ("ratio_compile", "compile ÷ peer"),
    ("ratio_fit", "fit ÷ peer"),
    ("note", "note"),
    ("error", "error"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=2, metavar=("WORKLOAD", "PEER"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="fewer epochs and samples")
    parser.add_argument("--only", choices=list(CONFIG), help="run one workload")
    parser.add_argument("--rounds", type=int, default=2, help="rounds over all peers (best kept)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--data", help=argparse.SUPPRESS)  # folder of arrays from the parent
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(*args.one, args.quick, args.data)))
        return
    with tempfile.TemporaryDirectory(prefix="bench_train_") as data_dir:
        run_all(args, data_dir)


def run_all(args: argparse.Namespace, data_dir: str) -> None:
    """Every workload asked for, every peer, rounds interleaved; tables, targets, JSON."""
    from benchmarks.report import print_targets

    meta = run_metadata(["benchmarks.bench_train", *sys.argv[1:]])
    results: dict[str, Any] = {}
    for workload in [args.only] if args.only else list(CONFIG):
        needs_sklearn = workload == "W-small"  # its data set comes from scikit-learn

        def available(peer: str, needs_sklearn: bool = needs_sklearn) -> bool:
            return peer_available(PEER_MODULES.get(peer, "numpy")) and (
                not needs_sklearn or peer_available("sklearn")
            )

        if not needs_sklearn or peer_available("sklearn"):
            save_workload(data_dir, workload, args.quick)
        extra = ["--data", data_dir] + (["--quick"] if args.quick else [])
        rows = best_of_rounds(
            "benchmarks.bench_train",
            workload,
            list(PEERS),
            available,
            "samples_per_s",
            1 if args.quick else args.rounds,
            timeout=1800,
            extra_args=extra,
        )
        for row in rows:
            row["label"] = LABELS[row["peer"]]
        results[workload] = rows
        print_table(f"{workload} (ratio = chainrule samples/s ÷ peer samples/s)", rows, COLUMNS)
    meta["load_average_end"] = os.getloadavg()[0]
    print_targets(results)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"meta": meta, "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
