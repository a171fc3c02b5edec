"""Gradient clipping, flat parameters, flattening to a vector and back, an L1 penalty.

``parameters`` arguments take an iterable of tensors (``model.parameters()``) or a
single tensor, as in ``torch.nn.utils``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..autodiff import Tensor, get_default_dtype
from ..autodiff.functions import abs as abs_
from ..autodiff.functions import cat, reshape
from ..autodiff.functions import sum as sum_

Parameters = Tensor | Iterable[Tensor]


def _as_list(parameters: Parameters) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        return [parameters]
    params = list(parameters)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"expected an iterable of Tensors, got {type(p).__name__} at {i}")
    return params


def _norm(array: np.ndarray, norm_type: float) -> np.floating:
    flat = array.ravel()
    if norm_type == 2.0:
        return np.sqrt(np.dot(flat, flat))  # one BLAS call
    return np.linalg.norm(flat, ord=norm_type)


def clip_grad_norm_(
    parameters: Parameters,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> Tensor:
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    The norm is taken over all gradients as if concatenated into one vector
    (``norm_type`` 2, 1, any p > 0, or ``inf`` for the largest magnitude). As in
    PyTorch, each gradient is multiplied in place by
    ``min(1, max_norm / (total_norm + 1e-6))``. Returns the total norm before
    clipping as a 0-d Tensor. With ``error_if_nonfinite=True`` a NaN or infinite
    norm raises RuntimeError instead of spreading NaN into every gradient.
    """
    params = _as_list(parameters)
    norm_type = float(norm_type)
    grads = [(i, p.grad) for i, p in enumerate(params) if p.grad is not None]
    if not grads:
        return Tensor(np.array(0.0, dtype=get_default_dtype()))
    # The norm of the per-gradient norms, PyTorch's order of operations.
    norms = np.array([_norm(g, norm_type) for _, g in grads])
    total = _norm(norms, norm_type)
    if error_if_nonfinite and not np.isfinite(total):
        position, grad = next((i, g) for i, g in grads if not np.all(np.isfinite(g)))
        nans, infs = int(np.isnan(grad).sum()), int(np.isinf(grad).sum())
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
            f"non-finite ({total}); the gradient of parameter {position} (shape {grad.shape}) "
            f"holds {nans} NaN and {infs} inf. Pass error_if_nonfinite=False to clip anyway."
        )
    coef = np.minimum(max_norm / (total + 1e-6), 1.0)
    if coef != 1.0:  # also true for NaN: PyTorch spreads it, so do we
        for _, grad in grads:
            grad *= coef
    return Tensor(np.asarray(total, dtype=norms.dtype))


def clip_grad_value_(parameters: Parameters, clip_value: float) -> None:
    """Clamp every gradient element to [−clip_value, clip_value], in place."""
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_ expected clip_value >= 0, got {clip_value}")
    for p in _as_list(parameters):
        if p.grad is not None:
            np.clip(p.grad, -clip_value, clip_value, out=p.grad)


def parameters_to_vector(parameters: Parameters) -> Tensor:
    """All parameters flattened and concatenated: shape (Σ numel,). Differentiable."""
    params = _as_list(parameters)
    if not params:
        raise ValueError("parameters_to_vector expected at least one parameter, got none")
    return cat([reshape(p, -1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Parameters) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters, in place.

    In place (``p.data[...] = ...``) so that optimizers holding the arrays see it.
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters expected a Tensor, got {type(vec).__name__}")
    if vec.ndim != 1:
        raise ValueError(f"vector_to_parameters expected a 1-D vector, got shape {vec.shape}")
    params = _as_list(parameters)
    needed = sum(p.data.size for p in params)
    if vec.shape[0] != needed:
        raise ValueError(
            f"vector_to_parameters expected a vector of {needed} elements for "
            f"{len(params)} parameters, got {vec.shape[0]}"
        )
    for p, values in zip(params, flat_views(vec.data, [p.data for p in params]), strict=True):
        p.data[...] = values


class FlatParameters:
    """Parameters and their gradients as views of one 1-D buffer each (see
    :func:`flatten_parameters`).

    ``data`` (shape (Σ numel,)) holds every parameter back to back, ``grad`` (same
    shape) their gradients; ``params[i].data`` is ``data_views[i]`` and backward fills
    ``grad_views[i]`` as ``params[i].grad``. An optimizer given exactly these
    parameters (in this order) updates them with one vectorised call per step
    (``fused=``, see :class:`chainrule.optim.Optimizer`).
    """

    __slots__ = ("data", "data_views", "grad", "grad_views", "params")

    def __init__(self, params: list[Tensor]) -> None:
        dtype = params[0].data.dtype
        total = sum(p.data.size for p in params)
        self.params = tuple(params)
        self.data = np.empty(total, dtype)
        self.grad = np.zeros(total, dtype)
        datas = [p.data for p in params]
        self.data_views = flat_views(self.data, datas)
        self.grad_views = flat_views(self.grad, datas)
        for p, view, slot in zip(params, self.data_views, self.grad_views, strict=True):
            np.copyto(view, p.data)
            p.data = view
            if p.grad is not None:
                np.copyto(slot, p.grad)
                p.grad = slot
            p._grad_slot = slot

    def intact(self) -> bool:
        """Whether every parameter still has its view as ``data`` (nothing rebound it)."""
        return all(p.data is v for p, v in zip(self.params, self.data_views, strict=True))

    def __repr__(self) -> str:
        return (
            f"FlatParameters({len(self.params)} parameters, {self.data.size} elements, "
            f"dtype={self.data.dtype})"
        )


def flat_views(flat: np.ndarray, arrays: Iterable[np.ndarray]) -> tuple[np.ndarray, ...]:
    """Consecutive slices of the 1-D ``flat``, one per array, each a view of ``flat``
    shaped like its array (the layout of flattened parameters and fused optimizer state)."""
    views, offset = [], 0
    for array in arrays:
        views.append(flat[offset : offset + array.size].reshape(array.shape))
        offset += array.size
    return tuple(views)


def flatten_parameters(parameters: Any) -> FlatParameters:
    """Move parameters (a module's, or an iterable of leaf tensors) into one flat buffer.

    Each ``p.data`` becomes a view of one 1-D array (values copied; arrays taken from
    ``p.data`` before the call no longer alias the parameter), and each gradient a
    view of a second one: backward writes ``p.grad`` into that view instead of a new
    array. Done once, before the optimizer is built; an optimizer over exactly these
    parameters then updates all of them with one vectorised call per step, with
    bit-identical results (its maths is elementwise). Tied parameters count once.

    >>> flat = nn.utils.flatten_parameters(model)          # doctest: +SKIP
    >>> opt = cr.optim.Adam(model.parameters(), fused=True)  # doctest: +SKIP
    """
    if hasattr(parameters, "parameters") and callable(parameters.parameters):
        parameters = parameters.parameters()
    params: list[Tensor] = []
    seen: set[int] = set()
    for i, p in enumerate(_as_list(parameters)):
        if id(p) in seen:
            continue
        seen.add(id(p))
        if p._node is not None:
            raise ValueError(f"flatten_parameters expected leaf tensors, got a non-leaf at {i}")
        params.append(p)
    if not params:
        raise ValueError("flatten_parameters expected at least one parameter, got none")
    dtype = params[0].data.dtype
    for i, p in enumerate(params):
        if p.data.dtype != dtype or dtype.kind != "f":
            raise TypeError(
                f"flatten_parameters expected parameters of one floating dtype ({dtype}), "
                f"got {p.data.dtype} at {i}"
            )
    return FlatParameters(params)


def l1_penalty(parameters: Parameters) -> Tensor:
    """Σ |w| over every element of every given tensor: a differentiable scalar.

    It sums whatever it is given; to leave biases out, pass only the weights, e.g.
    ``l1_penalty(p for name, p in model.named_parameters() if name.endswith("weight"))``.
    Its gradient is sign(w) (0 at w = 0). Add ``lam * l1_penalty(...)`` to the loss.
    """
    total: Any = None
    for p in _as_list(parameters):
        term = sum_(abs_(p))
        total = term if total is None else total + term
    if total is None:
        return Tensor(np.array(0.0, dtype=get_default_dtype()))
    return total
