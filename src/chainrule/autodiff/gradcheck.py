"""Finite-difference checking of analytical gradients, in float64."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .engine import no_grad
from .errors import GradcheckError
from .tensor import Tensor


def _outputs(fn: Callable, inputs: Sequence[Any]) -> list[Tensor]:
    result = fn(*inputs)
    parts = list(result) if isinstance(result, (tuple, list)) else [result]
    return [p for p in parts if isinstance(p, Tensor)]


def _flat_output(fn: Callable, inputs: Sequence[Any]) -> np.ndarray:
    """Every output element, concatenated, evaluated without recording a graph."""
    with no_grad():
        parts = _outputs(fn, inputs)
    return np.concatenate([np.ravel(p.data).astype(np.float64) for p in parts])


def _output_label(shapes: list[tuple], flat: int) -> str:
    for k, shape in enumerate(shapes):
        size = int(np.prod(shape))
        if flat < size:
            index = np.unravel_index(flat, shape) if shape else ()
            where = f"output element {tuple(int(i) for i in index)}"
            return where if len(shapes) == 1 else f"{where} of output {k}"
        flat -= size
    return "an output element"


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
    every floating-point tensor with ``requires_grad`` is checked, on a float64
    copy. ``fn`` returns a tensor or a tuple of tensors.

    Small problems (an input and the outputs of at most ``full_jacobian_limit``
    elements each) compare the full Jacobian entry by entry: one backward pass
    per output element against two evaluations per input element. Larger ones
    compare vᵀJu for random v and ``projections`` random directions u.

    Raises ``GradcheckError`` naming the input, the element and both values (or
    returns False with ``raise_exception=False``).
    """
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    checked = []
    for position, value in enumerate(inputs):
        if isinstance(value, Tensor) and value.requires_grad:
            if value.dtype != np.float64:
                warnings.warn(
                    f"gradcheck: input {position} is {value.dtype}; checking a float64 copy "
                    "(finite differences are meaningless in single precision)",
                    stacklevel=2,
                )
            inputs[position] = Tensor(value.data.astype(np.float64), requires_grad=True)
            checked.append(position)
    if not checked:
        raise ValueError("gradcheck expected at least one input tensor with requires_grad=True")
    outputs = _outputs(fn, inputs)
    if not outputs:
        raise ValueError("gradcheck expected fn to return a tensor (or a tuple of tensors)")

    check = _Checker(fn, inputs, outputs, eps, atol, rtol, raise_exception)
    n_out = sum(o.data.size for o in outputs)
    rng = np.random.default_rng(seed)
    for position in checked:
        size = inputs[position].data.size
        if size <= full_jacobian_limit and n_out <= full_jacobian_limit:
            ok = check.full_jacobian(position)
        else:
            ok = check.projected(position, projections, rng)
        if not ok:
            return False
    return True


class _Checker:
    """The two comparison modes of ``gradcheck``, sharing the evaluated outputs."""

    def __init__(self, fn, inputs, outputs, eps, atol, rtol, raise_exception):
        self.fn, self.inputs, self.outputs = fn, inputs, outputs
        self.eps, self.atol, self.rtol = eps, atol, rtol
        self.raise_exception = raise_exception
        self.shapes = [o.shape for o in outputs]

    def _fail(self, position: int, where: str, analytic: float, numeric: float) -> bool:
        shape = self.inputs[position].shape
        message = (
            f"gradcheck failed for input {position} (shape {shape}) {where}: "
            f"analytical {analytic:.10g}, numerical {numeric:.10g} "
            f"(difference {abs(analytic - numeric):.3g}; atol {self.atol}, rtol {self.rtol})"
        )
        if self.raise_exception:
            raise GradcheckError(message)
        return False

    def _central_difference(self, position: int, direction: np.ndarray) -> np.ndarray:
        data = self.inputs[position].data
        original = data.copy()
        try:
            data[...] = original + self.eps * direction
            plus = _flat_output(self.fn, self.inputs)
            data[...] = original - self.eps * direction
            minus = _flat_output(self.fn, self.inputs)
        finally:
            data[...] = original
        return (plus - minus) / (2 * self.eps)

    def _vector_jacobian(self, position: int, weights: list[np.ndarray]) -> np.ndarray:
        """Σ_k weights_k · d(output_k)/d(input), by the library's own backward pass."""
        target = self.inputs[position]
        for value in self.inputs:
            if isinstance(value, Tensor):
                value.grad = None
        for output, weight in zip(self.outputs, weights, strict=True):
            if output.requires_grad and np.any(weight):
                output.backward(weight.astype(output.dtype), retain_graph=True)
        return np.zeros(target.shape) if target.grad is None else target.grad.copy()

    def full_jacobian(self, position: int) -> bool:
        tensor = self.inputs[position]
        n_out = sum(int(np.prod(s)) for s in self.shapes)
        analytic = np.empty((n_out, tensor.data.size))
        for row in range(n_out):  # one backward pass per output element
            flat = np.zeros(n_out)
            flat[row] = 1.0
            weights, start = [], 0
            for shape in self.shapes:
                size = int(np.prod(shape))
                weights.append(flat[start : start + size].reshape(shape))
                start += size
            analytic[row] = np.ravel(self._vector_jacobian(position, weights))
        for column, index in enumerate(np.ndindex(tensor.shape)):
            direction = np.zeros(tensor.shape)
            direction[index] = 1.0
            numeric = self._central_difference(position, direction)
            for row in range(n_out):
                a, n = analytic[row, column], numeric[row]
                if not abs(a - n) <= self.atol + self.rtol * abs(n):
                    where = f"at index {index}"
                    if n_out > 1:
                        where += f", {_output_label(self.shapes, row)}"
                    return self._fail(position, where, float(a), float(n))
        return True

    def projected(self, position: int, projections: int, rng: np.random.Generator) -> bool:
        weights = [rng.standard_normal(shape) for shape in self.shapes]
        flat_weights = np.concatenate([np.ravel(w) for w in weights])
        analytic = self._vector_jacobian(position, weights)
        tensor = self.inputs[position]
        for k in range(projections):
            direction = rng.standard_normal(tensor.shape)
            numeric = float(flat_weights @ self._central_difference(position, direction))
            value = float(np.sum(analytic * direction))
            # A projection sums many terms, so the absolute tolerance grows with its size.
            tolerance = self.atol * np.sqrt(tensor.data.size) + self.rtol * abs(numeric)
            if not abs(value - numeric) <= tolerance:
                return self._fail(position, f"along random direction {k}", value, numeric)
        return True
