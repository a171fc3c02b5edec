"""W-small and W-large (DESIGN.md): training throughput and accuracy, side by side.

    python -m benchmarks.bench_train             # every installed peer
    python -m benchmarks.bench_train --quick     # fewer epochs/samples: a smoke run
    python -m benchmarks.bench_train --only W-small

Peers: chainrule through the canonical loop (``cr``) and through ``fit``
(``cr-fit``), hand-written NumPy backprop, PyTorch eager and scikit-learn's
MLPClassifier, each in its own process (2 threads). W-large also reports the
fraction of the GEMM ceiling: the time of the step's matrix products alone,
measured on this machine, divided by the time of a whole step.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from itertools import pairwise

import numpy as np

from benchmarks.harness import best_of_rounds, peak_rss_mib, peer_available, print_table

PEERS = ["cr", "cr-fit", "numpy", "torch", "sklearn"]
PEER_MODULES = {
    "cr": "chainrule",
    "cr-fit": "chainrule",
    "numpy": "numpy",
    "torch": "torch",
    "sklearn": "sklearn",
}
CONFIG = {
    "W-small": dict(hidden=(128, 64), optimizer="adam", lr=1e-3, batch=32, epochs=20),
    "W-large": dict(hidden=(1024, 1024), optimizer="momentum", lr=0.01, batch=256, epochs=3),
}


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
        n = 2048 if quick else 16384
        teacher = rng.standard_normal((784, 10))
        x = rng.standard_normal((n + 2048, 784))
        y = np.argmax(x @ teacher, axis=1)
        x_tr, x_te, y_tr, y_te = x[:n], x[n:], y[:n], y[n:]
    return (
        x_tr.astype(np.float32),
        x_te.astype(np.float32),
        y_tr.astype(np.int64),
        y_te.astype(np.int64),
    )


def initial_weights(sizes):
    """PyTorch's default Linear init, from one seed, shared by every peer."""
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


def batches(n, batch, epoch, seed=0):
    order = np.random.default_rng(seed + epoch).permutation(n)
    return [order[i : i + batch] for i in range(0, n, batch)]


# -- chainrule -----------------------------------------------------------------------------
def _cr_model(sizes):
    import chainrule as cr

    layers = []
    for i, (w, b) in enumerate(initial_weights(sizes)):
        linear = cr.nn.Linear(w.shape[1], w.shape[0])
        linear.weight.data[...] = w
        linear.bias.data[...] = b
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(cr.nn.ReLU())
    return cr.nn.Sequential(*layers)


def _cr_optimizer(model, cfg):
    import chainrule as cr

    if cfg["optimizer"] == "adam":
        return cr.optim.Adam(model.parameters(), lr=cfg["lr"])
    return cr.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=0.9)


def run_cr(data, cfg, sizes, use_fit):
    import chainrule as cr
    import chainrule.nn.functional as F

    x_tr, x_te, y_tr, y_te = data
    model = _cr_model(sizes)
    optimizer = _cr_optimizer(model, cfg)
    start = time.perf_counter()
    if use_fit:
        cr.fit(
            model,
            x_tr,
            y_tr,
            loss="cross_entropy",
            optimizer=optimizer,
            epochs=cfg["epochs"],
            batch_size=cfg["batch"],
            seed=0,
            verbose=0,
        )
    else:
        for epoch in range(cfg["epochs"]):
            for index in batches(len(x_tr), cfg["batch"], epoch):
                optimizer.zero_grad()
                loss = F.cross_entropy(model(cr.Tensor(x_tr[index])), y_tr[index])
                loss.backward()
                optimizer.step()
    seconds = time.perf_counter() - start
    model.eval()
    with cr.no_grad():
        predicted = model(cr.Tensor(x_te)).data.argmax(1)
    return seconds, float((predicted == y_te).mean())


# -- NumPy with backpropagation written by hand ------------------------------------------------
def run_numpy(data, cfg, sizes):
    x_tr, x_te, y_tr, y_te = data
    params = [a.copy() for pair in initial_weights(sizes) for a in pair]
    state = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, cfg["lr"]
    step = 0
    start = time.perf_counter()
    for epoch in range(cfg["epochs"]):
        for index in batches(len(x_tr), cfg["batch"], epoch):
            x, y = x_tr[index], y_tr[index]
            acts = [x]
            for i in range(0, len(params), 2):
                z = acts[-1] @ params[i].T + params[i + 1]
                acts.append(np.maximum(z, 0) if i < len(params) - 2 else z)
            logits = acts[-1]
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            p[np.arange(len(y)), y] -= 1
            g = p / len(y)
            grads = [None] * len(params)
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
    seconds = time.perf_counter() - start
    h = x_te
    for i in range(0, len(params), 2):
        h = h @ params[i].T + params[i + 1]
        h = np.maximum(h, 0) if i < len(params) - 2 else h
    return seconds, float((h.argmax(1) == y_te).mean())


# -- PyTorch eager -------------------------------------------------------------------------
def run_torch(data, cfg, sizes):
    import torch

    torch.set_num_threads(2)
    x_tr, x_te, y_tr, y_te = (torch.from_numpy(a) for a in data)
    layers = []
    for i, (w, b) in enumerate(initial_weights(sizes)):
        linear = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    if cfg["optimizer"] == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=0.9)
    start = time.perf_counter()
    for epoch in range(cfg["epochs"]):
        for index in batches(len(x_tr), cfg["batch"], epoch):
            index = torch.from_numpy(index)
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x_tr[index]), y_tr[index])
            loss.backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        accuracy = (model(x_te).argmax(1) == y_te).float().mean().item()
    return seconds, accuracy


# -- scikit-learn ------------------------------------------------------------------------------
def run_sklearn(data, cfg, sizes):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x_tr, x_te, y_tr, y_te = data
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
        **options,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_tr, y_tr)
    seconds = time.perf_counter() - start
    return seconds, float(model.score(x_te, y_te))


def gemm_ceiling(cfg, sizes, repeats=5) -> float:
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


def run_one(workload: str, peer: str, quick: bool) -> dict:
    cfg = dict(CONFIG[workload])
    if quick:
        cfg["epochs"] = 2 if workload == "W-small" else 1
    data = load_workload(workload, quick)
    sizes = [data[0].shape[1], *cfg["hidden"], 10]
    runners = {
        "cr": lambda: run_cr(data, cfg, sizes, False),
        "cr-fit": lambda: run_cr(data, cfg, sizes, True),
        "numpy": lambda: run_numpy(data, cfg, sizes),
        "torch": lambda: run_torch(data, cfg, sizes),
        "sklearn": lambda: run_sklearn(data, cfg, sizes),
    }
    seconds, accuracy = runners[peer]()
    samples = len(data[0]) * cfg["epochs"]
    row = {
        "samples_per_s": samples / seconds,
        "test_accuracy": accuracy,
        "peak_rss_mib": peak_rss_mib(),
    }
    if workload == "W-large" and peer != "sklearn":
        steps = math.ceil(len(data[0]) / cfg["batch"]) * cfg["epochs"]
        row["gemm_fraction"] = gemm_ceiling(cfg, sizes) * steps / seconds
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=2, metavar=("WORKLOAD", "PEER"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="fewer epochs and samples")
    parser.add_argument("--only", choices=list(CONFIG), help="run one workload")
    parser.add_argument("--rounds", type=int, default=1, help="rounds over all peers (best kept)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(*args.one, args.quick)))
        return
    results = {}
    for workload in [args.only] if args.only else list(CONFIG):
        needs_sklearn = workload == "W-small"  # its data set comes from scikit-learn

        def available(peer: str, needs_sklearn: bool = needs_sklearn) -> bool:
            return peer_available(PEER_MODULES[peer]) and (
                not needs_sklearn or peer_available("sklearn")
            )

        rows = best_of_rounds(
            "benchmarks.bench_train",
            workload,
            list(PEERS),
            available,
            "samples_per_s",
            args.rounds,
            timeout=1800,
            extra_args=["--quick"] if args.quick else [],
        )
        results[workload] = rows
        print_table(
            f"{workload} (cr_speedup = cr samples/s ÷ peer samples/s)",
            rows,
            [
                ("peer", "peer"),
                ("samples_per_s", "samples/s"),
                ("cr_speedup", "cr speedup"),
                ("test_accuracy", "test acc"),
                ("gemm_fraction", "GEMM fraction"),
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
