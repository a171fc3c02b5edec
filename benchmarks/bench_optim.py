"""Cost of one optimizer step, chainrule against torch.optim, on the DESIGN.md shapes.

    python -m benchmarks.bench_optim            # prints a table of µs per step
    python -m benchmarks.bench_optim --quick    # fewer repeats, for a smoke run
    python -m benchmarks.bench_optim --workload W-tiny --workload W-small

Only the ``step()`` is timed (gradients are set once and left in place), for the
parameter shapes of W-tiny (float64), W-small and W-large (float32). chainrule runs
two ways: separate parameter arrays (the default per-parameter loop), and parameters
flattened by ``nn.utils.flatten_parameters`` with their gradients in its flat buffer,
updated by one fused call (``fused=True``). Absolute times drift on shared machines;
compare the columns of one run.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "2")

import argparse  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.harness import measure, peer_available, print_table  # noqa: E402

SHAPES = {
    "W-tiny": ([(2, 2), (2,), (2, 2), (2,)], np.float64),
    "W-small": ([(128, 64), (128,), (64, 128), (64,), (10, 64), (10,)], np.float32),
    "W-large": ([(1024, 784), (1024,), (1024, 1024), (1024,), (10, 1024), (10,)], np.float32),
}
OPTIMIZERS = {
    "SGD": ("SGD", {"lr": 0.01}),
    "SGD-momentum": ("SGD", {"lr": 0.01, "momentum": 0.9}),
    "Adam": ("Adam", {"lr": 1e-3}),
    "AdamW-amsgrad": ("AdamW", {"lr": 1e-3, "amsgrad": True}),
    "RMSprop-centered": ("RMSprop", {"lr": 1e-3, "centered": True, "momentum": 0.9}),
}


def _arrays(shapes, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def chainrule_step(workload: str, optimizer: str, mode: str):
    import chainrule as cr
    import chainrule.optim as optim
    from chainrule.nn.utils import flatten_parameters

    shapes, dtype = SHAPES[workload]
    params = [cr.Tensor(a, requires_grad=True) for a in _arrays(shapes, dtype)]
    fused = mode == "fused"
    if fused:
        flatten_parameters(params)
    for p, g in zip(params, _arrays(shapes, dtype, seed=1), strict=True):
        p.grad = g * 0.01
        if fused:  # where backward puts it: the parameter's view of the flat gradients
            np.copyto(p._grad_slot, p.grad)
            p.grad = p._grad_slot
    name, kwargs = OPTIMIZERS[optimizer]
    opt = getattr(optim, name)(params, fused=fused, **kwargs)
    opt.step()
    return opt.step


def torch_step(workload: str, optimizer: str):
    import torch

    torch.set_num_threads(2)
    shapes, dtype = SHAPES[workload]
    params = [torch.tensor(a, requires_grad=True) for a in _arrays(shapes, dtype)]
    for p, g in zip(params, _arrays(shapes, dtype, seed=1), strict=True):
        p.grad = torch.from_numpy(g * 0.01)
    name, kwargs = OPTIMIZERS[optimizer]
    opt = getattr(torch.optim, name)(params, **kwargs)
    opt.step()
    return opt.step


@np.errstate(invalid="ignore")  # centered RMSprop on a constant gradient: √(v − ḡ²) of ≈0
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workload", choices=sorted(SHAPES), action="append")
    args = parser.parse_args()
    repeats = 2 if args.quick else 5
    has_torch = peer_available("torch")
    for workload in args.workload or SHAPES:
        steps = 2000 if workload != "W-large" else 20
        if args.quick:
            steps //= 10
        rows = []
        for optimizer in OPTIMIZERS:
            row = {"optimizer": optimizer}
            for mode in ("loop", "fused"):
                seconds = measure(chainrule_step(workload, optimizer, mode), steps, repeats)
                row[mode] = f"{seconds / steps * 1e6:.1f}"
            if has_torch:
                seconds = measure(torch_step(workload, optimizer), steps, repeats)
                row["torch"] = f"{seconds / steps * 1e6:.1f}"
            rows.append(row)
        columns = [("optimizer", "optimizer"), ("loop", "cr loop µs")]
        columns += [("fused", "cr flattened, fused µs")]
        if has_torch:
            columns.append(("torch", "torch µs"))
        print_table(f"{workload}: one optimizer step", rows, columns)


if __name__ == "__main__":
    main()
