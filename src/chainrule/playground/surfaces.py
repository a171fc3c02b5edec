"""Two-parameter loss surfaces and the paths the optimizers of ``chainrule.optim`` take
on them: each step is a real ``backward()`` through the surface's formula and a real
``optimizer.step()`` on a 2-element parameter.

Each surface is a polynomial written once with ``+ − · **``, so the same function
evaluates a NumPy grid (for the contour picture) and a Tensor (for the gradient).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import optim
from ..autodiff import Tensor

MAX_STEPS = 1_000
GRID = 80
ESCAPE = 1e6  # a path leaving |θ| ≤ this has diverged: it stops there


@dataclass(frozen=True)
class Surface:
    title: str
    formula: str  # LaTeX
    fn: Callable[[Any, Any], Any]
    x: tuple[float, float]
    y: tuple[float, float]
    start: tuple[float, float]
    minimum: tuple[float, float]
    lrs: dict[str, float]  # a learning rate per optimizer that shows it well


SURFACES = {
    "bowl": Surface(
        "Quadratic bowl (elongated)",
        r"f(x, y) = \tfrac12 (x^2 + 10\,y^2)",
        lambda x, y: 0.5 * (x**2 + 10 * y**2),
        (-2.0, 2.0),
        (-1.5, 1.5),
        (-1.8, 1.0),
        (0.0, 0.0),
        {
            "SGD": 0.15,
            "Momentum": 0.03,
            "Nesterov": 0.03,
            "AdaGrad": 0.5,
            "RMSProp": 0.03,
            "Adadelta": 10.0,
            "Adam": 0.1,
        },
    ),
    "rosenbrock": Surface(
        "Rosenbrock's banana valley",
        r"f(x, y) = (1 - x)^2 + 100\,(y - x^2)^2",
        lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2,
        (-2.0, 2.0),
        (-1.0, 3.0),
        (-1.5, 2.0),
        (1.0, 1.0),
        {
            "SGD": 0.001,
            "Momentum": 0.001,
            "Nesterov": 0.001,
            "AdaGrad": 2.0,
            "RMSProp": 0.05,
            "Adadelta": 30.0,
            "Adam": 0.3,
        },
    ),
    "local_min": Surface(
        "A local and a global minimum",
        r"f(x, y) = \tfrac14 x^4 - \tfrac12 x^2 + 0.2\,x + \tfrac12 y^2",
        lambda x, y: 0.25 * x**4 - 0.5 * x**2 + 0.2 * x + 0.5 * y**2,
        (-2.0, 2.0),
        (-1.5, 1.5),
        (1.9, 1.2),
        (-1.088, 0.0),
        {
            "SGD": 0.05,
            "Momentum": 0.05,
            "Nesterov": 0.05,
            "AdaGrad": 0.5,
            "RMSProp": 0.02,
            "Adadelta": 10.0,
            "Adam": 0.05,
        },
    ),
}

# The names the page shows -> chainrule.optim's registry (optim.create).
OPTIMIZERS: dict[str, str] = {
    "SGD": "sgd",
    "Momentum": "momentum",
    "Nesterov": "nesterov",
    "AdaGrad": "adagrad",
    "RMSProp": "rmsprop",
    "Adadelta": "adadelta",
    "Adam": "adam",
}


def trajectory(
    surface: Surface, name: str, lr: float, steps: int, start: tuple[float, float] | None = None
) -> dict[str, Any]:
    """The path of optimizer ``name`` from ``start``: ``points`` [[x, y, f], ...] (the
    start, then one per step) and whether it ``diverged``."""
    theta = Tensor(np.array(start or surface.start, dtype=np.float64), requires_grad=True)
    opt = optim.create(OPTIMIZERS[name], [theta], lr=lr)
    points = []
    diverged = False
    for _ in range(steps + 1):
        opt.zero_grad()
        value = surface.fn(theta[0], theta[1])
        f = float(value.item())
        if not np.isfinite(f) or np.max(np.abs(theta.data)) > ESCAPE:
            diverged = True
            break
        points.append([float(theta.data[0]), float(theta.data[1]), f])
        if len(points) > steps:
            break
        value.backward()
        opt.step()
    return {"name": name, "lr": lr, "points": points, "diverged": diverged}


def grid(surface: Surface, n: int = GRID) -> dict[str, Any]:
    """The surface on an n × n grid (row k at y[k]), for the contour picture."""
    xs = np.linspace(*surface.x, n)
    ys = np.linspace(*surface.y, n)
    gx, gy = np.meshgrid(xs, ys)
    values = surface.fn(gx, gy)
    return {
        "x": list(surface.x),
        "y": list(surface.y),
        "n": n,
        "values": np.round(values, 5).ravel().tolist(),
    }


def run(request: Any) -> dict[str, Any]:
    """The page's request ``{surface, lrs: {name: lr}, steps, start?, only?}`` -> the
    surface's grid (unless ``only``) and the trajectories asked for."""
    if not isinstance(request, dict):
        raise ValueError("surface expected an object {surface, lrs, steps}")
    key = request.get("surface", "bowl")
    if key not in SURFACES:
        raise ValueError(f"surface expected one of {', '.join(SURFACES)}, got {key!r}")
    surface = SURFACES[key]
    steps = request.get("steps", 300)
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps expected an integer from 1 to {MAX_STEPS}, got {steps!r}")
    lrs = {**surface.lrs, **(request.get("lrs") or {})}
    for name, lr in lrs.items():
        if name not in OPTIMIZERS:
            raise ValueError(f"lrs expected optimizers from {', '.join(OPTIMIZERS)}, got {name!r}")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr <= 100:
            raise ValueError(f"lrs[{name!r}] expected a number in (0, 100], got {lr!r}")
    start = request.get("start")
    if start is not None:
        if (
            not isinstance(start, list)
            or len(start) != 2
            or not all(isinstance(v, (int, float)) and abs(v) <= 100 for v in start)
        ):
            raise ValueError(f"start expected [x, y] within ±100, got {start!r}")
        start = (float(start[0]), float(start[1]))
    only = request.get("only")
    names = [only] if only in OPTIMIZERS else list(OPTIMIZERS)
    return {
        "type": "surface",
        "surface": key,
        "title": surface.title,
        "formula": surface.formula,
        "minimum": list(surface.minimum),
        "start": list(start or surface.start),
        "lrs": lrs,
        "grid": None if only else grid(surface),
        "paths": [trajectory(surface, n, float(lrs[n]), steps, start) for n in names],
    }
