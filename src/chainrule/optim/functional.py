"""The update rules of torch.optim's algorithms, one plain function each.

Every function updates ``param`` and its state arrays **in place** and never writes
into ``grad`` (it may be the user's array). ``param``, ``grad`` and the state arrays
share one shape, any shape: the optimizer classes call these functions either once
per parameter or once per parameter group on flat buffers.

The formulas follow the torch.optim documentation (and its single-tensor code path)
step for step, so a float64 run matches PyTorch to rounding. They are written in as
few whole-array NumPy calls as possible — this is the hot path of training — reusing
one temporary. Scalars are Python floats, which NumPy treats as "weak", so float32
parameters stay float32. Every temporary is allocated as an array (``out=``), never
left to a ufunc, because on 0-d inputs a ufunc returns a NumPy scalar, and in-place
operators on a scalar rebind a name instead of updating state.

Notation in the docstrings: θ parameter, ∇ gradient, γ lr, λ weight decay, t step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "adadelta_step",
    "adagrad_step",
    "adam_scalars",
    "adam_step",
    "adam_update",
    "rmsprop_step",
    "sgd_step",
]


def _effective_grad(
    grad: np.ndarray, param: np.ndarray, weight_decay: float, maximize: bool
) -> tuple[np.ndarray, bool]:
    """``±∇ + λθ`` as torch forms it, and whether that is a new array (ours to overwrite).

    torch negates first (maximize) and then adds the L2 term; ``-∇ + λθ`` is computed
    here as ``λθ - ∇``, which rounds identically because negation is exact.
    """
    if weight_decay != 0:
        g = np.multiply(param, weight_decay, out=np.empty_like(param))
        if maximize:
            np.subtract(g, grad, out=g)
        else:
            np.add(g, grad, out=g)
        return g, True
    if maximize:
        return np.negative(grad, out=np.empty_like(param)), True
    return grad, False


def _square_average(avg: np.ndarray, g: np.ndarray, decay: float, tmp: np.ndarray) -> None:
    """``avg ← decay·avg + (1−decay)·g²`` in place (torch's ``mul_(decay).addcmul_(g, g)``)."""
    avg *= decay
    np.multiply(g, g, out=tmp)
    tmp *= 1 - decay
    avg += tmp


def _lerp(avg: np.ndarray, g: np.ndarray, weight: float, tmp: np.ndarray) -> None:
    """``avg ← avg + w·(g − avg)`` in place, torch's ``lerp_`` form for weights below ½."""
    np.subtract(g, avg, out=tmp)
    tmp *= weight
    avg += tmp


def sgd_step(
    param: np.ndarray,
    grad: np.ndarray,
    momentum_buffer: np.ndarray | None,
    *,
    lr: float,
    momentum: float,
    dampening: float,
    weight_decay: float,
    nesterov: bool,
    maximize: bool,
) -> np.ndarray | None:
    """Stochastic gradient descent with momentum (torch.optim.SGD)::

        g ← ±∇ + λθ
        if μ ≠ 0:   b ← g on the first step, else b ← μ·b + (1−τ)·g
                    g ← g + μ·b (nesterov)  or  g ← b
        θ ← θ − γ·g

    Returns the momentum buffer: ``momentum_buffer`` updated in place, a new array on
    the first step (``momentum_buffer is None``), or None when ``momentum == 0``.
    """
    if weight_decay == 0 and not maximize:  # the usual case, without a call
        g, owned = grad, False
    else:
        g, owned = _effective_grad(grad, param, weight_decay, maximize)
    buf = momentum_buffer
    if momentum != 0:
        if buf is None:
            # torch starts the buffer at the gradient itself: no dampening on step 1
            buf = g if owned else np.array(g, dtype=param.dtype)
        else:
            buf *= momentum
            if dampening == 0:
                buf += g  # torch multiplies by alpha=1 here, which is exact: skip it
            else:
                buf += g * (1 - dampening)
        if nesterov:
            nesterov_g = np.multiply(buf, momentum, out=np.empty_like(buf))
            nesterov_g += g
            g, owned = nesterov_g, True
        else:
            g, owned = buf, False  # buf is state: never overwrite it below
    # torch: θ.add_(g, alpha=-γ), i.e. θ + (−γ)·g, which rounds exactly as θ − γ·g
    if owned:
        g *= lr
        param -= g
    else:
        param -= g * lr
    return buf


def adagrad_step(
    param: np.ndarray,
    grad: np.ndarray,
    state_sum: np.ndarray,
    *,
    step: int,
    lr: float,
    lr_decay: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
) -> None:
    """Adagrad (torch.optim.Adagrad); ``step`` counts from 1 and includes this one::

        g ← ±∇ + λθ
        γ̃ ← γ / (1 + (t−1)·η)
        sum ← sum + g²
        θ ← θ − γ̃ · g / (√sum + ε)

    ``lr_decay`` (η) shrinks the step size over time.
    """
    g, _owned = _effective_grad(grad, param, weight_decay, maximize)
    clr = lr / (1 + (step - 1) * lr_decay)
    tmp = np.multiply(g, g, out=np.empty_like(state_sum))
    state_sum += tmp
    np.sqrt(state_sum, out=tmp)
    tmp += eps
    np.divide(g, tmp, out=tmp)
    tmp *= clr
    param -= tmp


def rmsprop_step(
    param: np.ndarray,
    grad: np.ndarray,
    square_avg: np.ndarray,
    grad_avg: np.ndarray | None,
    momentum_buffer: np.ndarray | None,
    *,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
    maximize: bool,
) -> None:
    """RMSprop (torch.optim.RMSprop)::

        g ← ±∇ + λθ
        v ← α·v + (1−α)·g²
        ṽ ← v − ḡ², with ḡ ← α·ḡ + (1−α)·g    (centered; ḡ is grad_avg)   else ṽ ← v
        b ← μ·b + g / (√ṽ + ε);  θ ← θ − γ·b  (μ > 0)   else θ ← θ − γ·g / (√ṽ + ε)

    ``grad_avg`` is required when ``centered``, ``momentum_buffer`` when ``momentum > 0``.
    """
    g, _ = _effective_grad(grad, param, weight_decay, maximize)
    tmp = np.empty_like(square_avg)
    _square_average(square_avg, g, alpha, tmp)
    if centered:
        assert grad_avg is not None  # the caller allocates it when centered (see above)
        _lerp(grad_avg, g, 1 - alpha, tmp)
        np.multiply(grad_avg, grad_avg, out=tmp)
        np.subtract(square_avg, tmp, out=tmp)
        np.sqrt(tmp, out=tmp)
    else:
        np.sqrt(square_avg, out=tmp)
    tmp += eps
    np.divide(g, tmp, out=tmp)
    if momentum > 0:
        assert momentum_buffer is not None  # the caller allocates it when momentum > 0
        momentum_buffer *= momentum
        momentum_buffer += tmp
        np.multiply(momentum_buffer, lr, out=tmp)
    else:
        tmp *= lr
    param -= tmp


def adadelta_step(
    param: np.ndarray,
    grad: np.ndarray,
    square_avg: np.ndarray,
    acc_delta: np.ndarray,
    *,
    lr: float,
    rho: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    """Adadelta (torch.optim.Adadelta)::

        g ← ±∇ + λθ
        v ← ρ·v + (1−ρ)·g²
        Δ ← √(u + ε) / √(v + ε) · g
        u ← ρ·u + (1−ρ)·Δ²                 (u is acc_delta)
        θ ← θ − γ·Δ

    The ratio of the two running RMS values gives the step its units, so ``lr`` is
    usually left at 1.
    """
    g, _ = _effective_grad(grad, param, weight_decay, maximize)
    tmp = np.empty_like(square_avg)
    _square_average(square_avg, g, rho, tmp)
    np.add(square_avg, eps, out=tmp)
    np.sqrt(tmp, out=tmp)  # std
    delta = np.add(acc_delta, eps, out=np.empty_like(acc_delta))
    np.sqrt(delta, out=delta)
    delta /= tmp
    delta *= g
    _square_average(acc_delta, delta, rho, tmp)
    delta *= lr
    param -= delta


def adam_scalars(
    step: int | float, *, lr: float, beta1: float, beta2: float, eps: float, dtype: np.dtype
) -> tuple[Any, ...]:
    """The numbers one Adam step multiplies and adds, for state arrays of ``dtype``.

    ``(1−β₁, β₂, 1−β₂, 1/(√bc₂·s), ε/s)`` with ``s = γ/bc₁`` the step size, the last
    two None when ``s`` is 0 (the parameter does not move). For a float ``dtype`` they
    are 0-d arrays of it: a ufunc takes those in half the time of a Python float, and
    rounds a Python float to the array's dtype first (NEP 50), so the bits are the same.
    """
    bias_correction1 = 1 - beta1**step
    bias_correction2_sqrt = (1 - beta2**step) ** 0.5
    step_size = lr / bias_correction1
    numbers: list[float | None] = [1 - beta1, beta2, 1 - beta2, None, None]
    if step_size != 0:
        # (√v/√bc₂ + ε) / step_size is √v · (1/(√bc₂·s)) + ε/s: two calls
        numbers[3:] = [1 / (bias_correction2_sqrt * step_size), eps / step_size]
    if dtype.kind != "f":
        return tuple(numbers)
    return tuple(None if x is None else np.array(x, dtype) for x in numbers)


def adam_update(
    param: np.ndarray,
    g: np.ndarray,
    exp_avg: np.ndarray,
    exp_avg_sq: np.ndarray,
    max_exp_avg_sq: np.ndarray | None,
    tmp: np.ndarray,
    scalars: tuple[Any, ...],
) -> None:
    """Adam's moments and move (``adam_step`` after the weight decay), with the numbers
    of ``adam_scalars`` and ``tmp``, a scratch array of the state's shape and dtype.

    Twelve ufunc calls (thirteen with amsgrad), each one rounding of torch's formula;
    positional ``out``: the cheapest call form, on the hot path of every Adam step.
    """
    one_minus_beta1, beta2, one_minus_beta2, scale, shift = scalars
    # m ← m + (1−β₁)·(g − m): torch's lerp_ for weights below ½
    np.subtract(g, exp_avg, tmp)
    np.multiply(tmp, one_minus_beta1, tmp)
    np.add(exp_avg, tmp, exp_avg)
    # v ← β₂·v + (1−β₂)·g²: torch's mul_(β₂).addcmul_(g, g, value=1−β₂)
    np.multiply(exp_avg_sq, beta2, exp_avg_sq)
    np.multiply(g, g, tmp)
    np.multiply(tmp, one_minus_beta2, tmp)
    np.add(exp_avg_sq, tmp, exp_avg_sq)
    if max_exp_avg_sq is not None:  # amsgrad: the denominator uses the largest v so far
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        exp_avg_sq = max_exp_avg_sq
    if scale is None:  # γ = 0: θ − 0·m/(…) is θ (and 1/(√bc₂·s) would divide by zero)
        return
    np.sqrt(exp_avg_sq, tmp)
    np.multiply(tmp, scale, tmp)
    np.add(tmp, shift, tmp)
    # θ ← θ − m / ((√v/√bc₂ + ε) / s)
    np.divide(exp_avg, tmp, tmp)
    np.subtract(param, tmp, param)


def adam_step(
    param: np.ndarray,
    grad: np.ndarray,
    exp_avg: np.ndarray,
    exp_avg_sq: np.ndarray,
    max_exp_avg_sq: np.ndarray | None,
    *,
    step: int,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    amsgrad: bool,
    maximize: bool,
    decoupled: bool,
) -> None:
    """Adam, and AdamW when ``decoupled`` (torch.optim.Adam / AdamW); ``step`` counts from 1::

        θ ← θ·(1 − γλ)  (decoupled)          else g ← ±∇ + λθ
        m ← β₁·m + (1−β₁)·g
        v ← β₂·v + (1−β₂)·g²
        v̂max ← max(v̂max, v)  (amsgrad: the denominator uses v̂max instead of v)
        θ ← θ − γ/(1−β₁ᵗ) · m / (√v / √(1−β₂ᵗ) + ε)

    ``max_exp_avg_sq`` is required when ``amsgrad``.
    """
    if weight_decay != 0 and decoupled:
        param *= 1 - lr * weight_decay
        g, _ = _effective_grad(grad, param, 0, maximize)
    else:
        g, _ = _effective_grad(grad, param, weight_decay, maximize)
    if amsgrad:
        assert max_exp_avg_sq is not None  # the caller allocates it with amsgrad
    if not isinstance(exp_avg, np.ndarray) or not isinstance(exp_avg_sq, np.ndarray):
        raise TypeError(
            "adam_step expected exp_avg and exp_avg_sq as NumPy arrays, got "
            f"{type(exp_avg).__name__} and {type(exp_avg_sq).__name__}"
        )
    scalars = adam_scalars(step, lr=lr, beta1=beta1, beta2=beta2, eps=eps, dtype=exp_avg.dtype)
    adam_update(
        param,
        g,
        exp_avg,
        exp_avg_sq,
        max_exp_avg_sq if amsgrad else None,
        np.empty_like(exp_avg),
        scalars,
    )
