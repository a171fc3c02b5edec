"""Finite-difference checking of analytical gradients, in float64."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .engine import no_grad
from .errors import GradcheckError
from .tensor import Tensor


def _as_output_array(result: Any) -> np.ndarray:
    if isinstance(result, Tensor):
        return result.data
    if isinstance(result, (tuple, list)):
        return np.concatenate([np.ravel(_as_output_array(r)) for r in result])
    return np.asarray(result)


def _outputs(fn: Callable, inputs: Sequence[Tensor]) -> list[Tensor]:
    result = fn(*inputs)
    parts = list(result) if isinstance(result, (tuple, list)) else [result]
    return [p for p in parts if isinstance(p, Tensor)]


def _projected_output(fn: Callable, inputs: Sequence[Tensor], weights: list[np.ndarray]) -> float:
    """Σ_k <weights_k, output_k>: a scalar whose gradient is a vector-Jacobian product."""
    with no_grad():
        parts = _outputs(fn, inputs)
    return float(sum(np.sum(w * p.data) for w, p in zip(weights, parts, strict=True)))


def gradcheck(
    fn: Callable[..., Any],
    inputs: Tensor | Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    *,
    raise_exception: bool = True,
    full_jacobian_limit: int = 256,
    projections: int = 8,
    seed: int = 0,
) -> bool:
    """Compare ``fn``'s analytical gradients with central differences, in float64.

    ``inputs`` is a tensor or a sequence of tensors (other values pass through);
    every floating-point tensor with ``requires_grad`` is checked. For each output
    a random weighting w is drawn and the gradient of Σ w·output is compared:
    element by element for inputs of up to ``full_jacobian_limit`` elements, and
    along ``projections`` random directions for larger ones.

    Raises ``GradcheckError`` naming the input, the index and both values (or
    returns False with ``raise_exception=False``).
    """
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    rng = np.random.default_rng(seed)
    checked = []
    for position, value in enumerate(inputs):
        if isinstance(value, Tensor) and value.requires_grad:
            if value.dtype != np.float64:
                warnings.warn(
                    f"gradcheck: input {position} is {value.dtype}; checking a float64 copy "
                    "(finite differences are meaningless in single precision)",
                    stacklevel=2,
                )
            copy = Tensor(value.data.astype(np.float64), requires_grad=True)
            inputs[position] = copy
            checked.append(position)
    if not checked:
        raise ValueError("gradcheck expected at least one input tensor with requires_grad=True")

    outputs = _outputs(fn, inputs)
    if not outputs:
        raise ValueError("gradcheck expected fn to return a tensor (or a tuple of tensors)")
    weights = [rng.standard_normal(o.shape) for o in outputs]
    total = None
    for w, o in zip(weights, outputs, strict=True):
        if not o.requires_grad:
            continue
        term = (o * Tensor(w.astype(o.dtype))).sum()
        total = term if total is None else total + term
    for position in checked:
        inputs[position].grad = None
    if total is not None:
        total.backward()

    for position in checked:
        tensor = inputs[position]
        analytic = tensor.grad if tensor.grad is not None else np.zeros_like(tensor.data)
        ok = _check_input(
            fn,
            inputs,
            weights,
            position,
            analytic,
            eps,
            atol,
            rtol,
            full_jacobian_limit,
            projections,
            rng,
            raise_exception,
        )
        if not ok:
            return False
    return True


def _check_input(
    fn,
    inputs,
    weights,
    position,
    analytic,
    eps,
    atol,
    rtol,
    limit,
    projections,
    rng,
    raise_exception,
) -> bool:
    tensor = inputs[position]
    data = tensor.data
    original = data.copy()

    def numeric_along(direction: np.ndarray) -> float:
        try:
            data[...] = original + eps * direction
            plus = _projected_output(fn, inputs, weights)
            data[...] = original - eps * direction
            minus = _projected_output(fn, inputs, weights)
        finally:
            data[...] = original
        return (plus - minus) / (2 * eps)

    def fail(where: str, analytic_value: float, numeric_value: float) -> bool:
        message = (
            f"gradcheck failed for input {position} (shape {data.shape}) {where}: "
            f"analytical {analytic_value:.10g}, numerical {numeric_value:.10g} "
            f"(difference {abs(analytic_value - numeric_value):.3g}; atol {atol}, rtol {rtol})"
        )
        if raise_exception:
            raise GradcheckError(message)
        return False

    if data.size <= limit:
        for index in np.ndindex(data.shape):
            direction = np.zeros_like(data)
            direction[index] = 1.0
            numeric = numeric_along(direction)
            value = float(analytic[index])
            if not abs(value - numeric) <= atol + rtol * abs(numeric):
                return fail(f"at index {index}", value, numeric)
        return True
    for k in range(projections):
        direction = rng.standard_normal(data.shape)
        numeric = numeric_along(direction)
        value = float(np.sum(analytic * direction))
        # A projection sums many terms, so scale the absolute tolerance with its size.
        tolerance = atol * np.sqrt(data.size) + rtol * abs(numeric)
        if not abs(value - numeric) <= tolerance:
            return fail(f"along random direction {k}", value, numeric)
    return True
