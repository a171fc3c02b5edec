"""Loss functions, each one op with a closed-form, numerically stable VJP.

Every loss takes PyTorch's arguments and ``reduction='mean'|'sum'|'none'``. The
forward computes per-element losses and reduces them; the VJP turns the
incoming gradient into a per-element scale (``_spread``) and multiplies it by
the per-element derivative.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...autodiff import Tensor
from ...autodiff.ops.reductions import log_softmax as log_softmax_op
from ...autodiff.registry import defop
from ...autodiff.tensor import shape_of
from .activations import softplus_values, stable_sigmoid

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(values: np.ndarray, reduction: str, count: Any = None) -> np.ndarray:
    if reduction == "none":
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    return total / (values.size if count is None else count)


def _spread(g: np.ndarray, reduction: str, count: Any) -> np.ndarray:
    """The gradient each element's loss receives from the reduced loss."""
    if reduction == "mean":
        return g / count
    return g  # 'sum': the same scalar for every element; 'none': already elementwise


def _check_reduction(name: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name} expected reduction 'mean', 'sum' or 'none', got {reduction!r}")


def _check_same_shape(name: str, input: Any, target: Any) -> None:
    if shape_of(input) != shape_of(target):
        raise ValueError(
            f"{name} expected target of the input's shape {shape_of(input)}, got shape "
            f"{shape_of(target)} (silent broadcasting here is a classic bug; reshape one of them)"
        )


def _pointwise_loss(
    name: str,
    formula: str,
    value: Callable[[np.ndarray, float], np.ndarray],
    slope: Callable[[np.ndarray, float], np.ndarray],
):
    """Register a loss of the difference d = input − target: ℓ(d) and its slope ℓ'(d)."""

    @defop(name, formula=formula)
    def op(input, target, *, reduction, param):
        return _reduce(value(input - target, param), reduction)

    @op.defvjp
    def _vjp(g, out, input, target, *, reduction, param):
        grad = _spread(g, reduction, np.size(input)) * slope(input - target, param)
        return grad, -grad

    return op


@defop("mse_loss", formula="dinput = 2 (x − y) · g;  dtarget = −dinput")
def _mse(input, target, *, reduction):
    # The checks run inside the forward, on arrays: the most used loss pays for no wrapper.
    if input.__class__ is not np.ndarray or target.__class__ is not np.ndarray:
        input, target = np.asarray(input), np.asarray(target)
    if input.shape != target.shape:
        _check_same_shape("mse_loss", input, target)
    if reduction != "mean":
        _check_reduction("mse_loss", reduction)
    d = input - target
    if reduction == "none":
        return d * d
    total = np.vdot(d, d)  # Σ d² in one call
    return total if reduction == "sum" else total / d.size


@_mse.defvjp
def _mse_vjp(g, out, input, target, *, reduction, needs=(0, 1)):
    # The most common loss gets a hand-fused VJP: one subtraction, one product.
    grad = input - target
    scale = _spread(g, reduction, np.size(input))
    grad *= 2.0 * (float(scale) if scale.ndim == 0 else scale)
    return grad, (-grad if 1 in needs else None)


_l1 = _pointwise_loss(
    "l1_loss",
    "dinput = sign(x − y) · g;  dtarget = −dinput",
    lambda d, _: np.abs(d),
    lambda d, _: np.sign(d),
)
_smooth_l1 = _pointwise_loss(
    "smooth_l1_loss",
    "dinput = (d / beta if |d| < beta else sign(d)) · g",
    lambda d, beta: np.where(np.abs(d) < beta, 0.5 * d * d / (beta or 1), np.abs(d) - 0.5 * beta),
    lambda d, beta: np.where(np.abs(d) < beta, d / (beta or 1), np.sign(d)),
)
_huber = _pointwise_loss(
    "huber_loss",
    "dinput = (d if |d| < delta else delta · sign(d)) · g",
    lambda d, delta: np.where(np.abs(d) < delta, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta)),
    lambda d, delta: np.where(np.abs(d) < delta, d, delta * np.sign(d)),
)


def _regression(op, name: str, input: Tensor, target: Tensor, reduction: str, param: float):
    _check_reduction(name, reduction)
    _check_same_shape(name, input, target)
    return op(input, target, reduction=reduction, param=param)


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Squared error (x − y)², averaged or summed. Shapes: input and target alike."""
    return _mse(input, target, reduction=reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Absolute error |x − y|, averaged or summed."""
    return _regression(_l1, "l1_loss", input, target, reduction, 0.0)


def smooth_l1_loss(
    input: Tensor, target: Tensor, reduction: str = "mean", beta: float = 1.0
) -> Tensor:
    """0.5 d²/beta for |d| < beta, |d| − 0.5 beta beyond (PyTorch's SmoothL1Loss)."""
    if beta < 0:
        raise ValueError(f"smooth_l1_loss expected beta >= 0, got {beta}")
    return _regression(_smooth_l1, "smooth_l1_loss", input, target, reduction, beta)


def huber_loss(
    input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0
) -> Tensor:
    """0.5 d² for |d| < delta, delta (|d| − 0.5 delta) beyond."""
    if delta <= 0:
        raise ValueError(f"huber_loss expected delta > 0, got {delta}")
    return _regression(_huber, "huber_loss", input, target, reduction, delta)


# -- binary cross-entropy ----------------------------------------------------------
def _clamped_log(p: np.ndarray) -> np.ndarray:
    """max(log p, −100) as PyTorch clamps it, without ever evaluating log(0)."""
    tiny = np.finfo(np.result_type(p, np.float32)).smallest_subnormal
    return np.maximum(np.log(np.maximum(p, tiny)), -100)


# PyTorch's floor on p(1 − p) in the gradient: 1e-12 held as a float32 constant.
_BCE_EPSILON = float(np.float32(1e-12))


@defop(
    "binary_cross_entropy",
    formula="dp = w (p − y) / max(p (1 − p), 1e-12) · g;  dy = −w (log p − log(1 − p)) · g",
)
def _bce(p, y, weight, *, reduction):
    loss = -(y * _clamped_log(p) + (1 - y) * _clamped_log(1 - p))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


@_bce.defvjp
def _bce_vjp(g, out, p, y, weight, *, reduction):
    scale = _spread(g, reduction, np.size(p))
    if weight is not None:
        scale = scale * weight
    grad_p = scale * (p - y) / np.maximum(p * (1 - p), _BCE_EPSILON)
    grad_y = -scale * (_clamped_log(p) - _clamped_log(1 - p))
    return grad_p, grad_y, None


@defop(
    "binary_cross_entropy_with_logits",
    formula="dx = w (σ(x)(pw·y + 1 − y) − pw·y) · g   (σ(x) − y without pos_weight)",
)
def _bce_logits(x, y, weight, pos_weight, *, reduction):
    # With pos_weight pw: (1 − y) x + (1 + (pw − 1) y) · log(1 + e^(−x)); pw = 1 gives
    # the familiar max(x, 0) − x y + log1p(e^(−|x|)).
    if pos_weight is None:
        loss = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
    else:
        loss = (1 - y) * x + (1 + (pos_weight - 1) * y) * softplus_values(-x)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


@_bce_logits.defvjp
def _bce_logits_vjp(g, out, x, y, weight, pos_weight, *, reduction):
    scale = _spread(g, reduction, np.size(x))
    if weight is not None:
        scale = scale * weight
    s = stable_sigmoid(x)
    if pos_weight is None:
        grad_x = s - y
        grad_y = -x
    else:
        grad_x = s * (pos_weight * y + 1 - y) - pos_weight * y
        grad_y = -x + (pos_weight - 1) * softplus_values(-x)
    return scale * grad_x, scale * grad_y, None, None


def _plain(value: Any) -> Any:
    """Weights are constants: take the array out of a Tensor so no gradient is sought."""
    return value.data if isinstance(value, Tensor) else value


def binary_cross_entropy(
    input: Tensor, target: Tensor, weight: Any = None, reduction: str = "mean"
) -> Tensor:
    """−[y log p + (1 − y) log(1 − p)] on probabilities p in [0, 1]; logs clamped at −100.

    Prefer ``binary_cross_entropy_with_logits``: it is exact where p saturates.
    """
    _check_reduction("binary_cross_entropy", reduction)
    _check_same_shape("binary_cross_entropy", input, target)
    p = input.data if isinstance(input, Tensor) else np.asarray(input)
    if not np.all((p >= 0) & (p <= 1)):  # NaN fails both comparisons, so it is caught too
        bad = p[~((p >= 0) & (p <= 1))]
        raise ValueError(
            f"binary_cross_entropy expected probabilities in [0, 1], got {bad.size} value(s) "
            f"outside it, e.g. {bad.flat[0]:.6g} (apply sigmoid, or use "
            "binary_cross_entropy_with_logits on the raw scores)"
        )
    return _bce(input, target, _plain(weight), reduction=reduction)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Any = None,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Tensor:
    """Sigmoid and binary cross-entropy in one stable op; ``pos_weight`` scales positives."""
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    _check_same_shape("binary_cross_entropy_with_logits", input, target)
    return _bce_logits(input, target, _plain(weight), _plain(pos_weight), reduction=reduction)


# -- categorical cross-entropy --------------------------------------------------------
def _class_last(a: np.ndarray) -> np.ndarray:
    """Move the class axis (axis 1, or 0 for a single sample) to the end."""
    return a if a.ndim <= 2 else np.moveaxis(a, 1, -1)


def _class_back(a: np.ndarray) -> np.ndarray:
    return a if a.ndim <= 2 else np.moveaxis(a, -1, 1)


def _coefficients(target, n_classes, weight, ignore_index, smoothing, dtype):
    """Per-class coefficients c with loss = −Σ_c c · log p, and the 'mean' denominator.

    Class indices: c = (1 − ε) w_t [c = t] + (ε / C) w_c, zero for ignored samples,
    averaged over Σ w_t (PyTorch's rule). Probabilities: c = w_c ((1 − ε) y_c + ε / C),
    averaged over the number of samples.
    """
    w = np.ones(n_classes, dtype=dtype) if weight is None else weight.astype(dtype, copy=False)
    if np.issubdtype(target.dtype, np.integer):
        valid = target != ignore_index
        safe = np.where(valid, target, 0)
        coef = (np.arange(n_classes) == safe[..., None]) * (w[safe] * (1 - smoothing))[..., None]
        if smoothing:
            coef = coef + (smoothing / n_classes) * w
        coef = coef * valid[..., None]
        count = np.sum(w[safe] * valid)
    else:
        target = _class_last(target)
        coef = w * ((1 - smoothing) * target + smoothing / n_classes)
        count = target.size // n_classes
    return coef, count


def _check_class_target(name: str, input: np.ndarray, target: np.ndarray, ignore_index: int):
    n_classes = input.shape[0] if input.ndim == 1 else input.shape[1]
    if np.issubdtype(target.dtype, np.floating):
        if target.shape != input.shape:
            expected = input.shape[:1] + input.shape[2:] if input.ndim > 1 else ()
            raise TypeError(
                f"{name} got a float target of shape {target.shape}: class indices must be "
                f"integers of shape {expected} (use target.long() or .astype(int)); class "
                f"probabilities must have the input's shape {input.shape}"
            )
        return
    if not np.issubdtype(target.dtype, np.integer):
        raise TypeError(f"{name} expected integer class indices, got dtype {target.dtype}")
    expected = input.shape[:1] + input.shape[2:] if input.ndim > 1 else ()
    if target.shape != expected:
        raise ValueError(
            f"{name} expected target of shape {expected} for input {input.shape}, "
            f"got shape {target.shape}"
        )
    if not target.size or (target.min() >= 0 and target.max() < n_classes):
        return
    used = target[target != ignore_index]
    if used.size and (used.min() < 0 or used.max() >= n_classes):
        bad = used.min() if used.min() < 0 else used.max()
        raise IndexError(f"{name} target {bad} is out of range for {n_classes} classes")


def _is_plain(x: np.ndarray, target: np.ndarray, weight, ignore_index: int, smoothing) -> bool:
    """The everyday case: (N, C) scores, valid integer labels, no weights or smoothing."""
    if x.ndim != 2 or weight is not None or smoothing or target.dtype.kind not in "iu":
        return False
    n_classes = x.shape[1]
    if not target.size or target.min() < 0 or target.max() >= n_classes:
        return False  # some labels are ignore_index values outside the classes
    return not (0 <= ignore_index < n_classes and np.any(target == ignore_index))


@defop("cross_entropy", formula="dx = (softmax(x) · Σ_c coef − coef) · g   (p − y for one-hot y)")
def _cross_entropy(x, target, weight, *, ignore_index, reduction, label_smoothing, plain=False):
    if plain:  # −log p_t = logsumexp(x) − x_t, without building any (N, C) coefficients
        shifted = x - x.max(axis=1, keepdims=True)
        losses = np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(x)), target]
        return _reduce(losses, reduction)
    logp = log_softmax_op.forward(_class_last(x), axis=-1)
    coef, count = _coefficients(
        target, logp.shape[-1], weight, ignore_index, label_smoothing, x.dtype
    )
    return _reduce(-np.sum(coef * logp, axis=-1), reduction, count)


@_cross_entropy.defvjp
def _cross_entropy_vjp(
    g, out, x, target, weight, *, ignore_index, reduction, label_smoothing, plain=False
):
    if plain:  # p − onehot(t), scaled
        p = np.exp(x - x.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(x)), target] -= 1
        scale = _spread(g, reduction, len(x))
        p *= scale if np.ndim(scale) == 0 else scale[:, None]
        return p, None, None
    logp = log_softmax_op.forward(_class_last(x), axis=-1)
    coef, count = _coefficients(
        target, logp.shape[-1], weight, ignore_index, label_smoothing, x.dtype
    )
    scale = np.expand_dims(_spread(g, reduction, count), -1)
    grad_x = scale * (np.exp(logp) * np.sum(coef, axis=-1, keepdims=True) - coef)
    grad_target = None
    if not np.issubdtype(target.dtype, np.integer):
        w = 1 if weight is None else weight
        grad_target = _class_back(-scale * (1 - label_smoothing) * w * logp)
    return _class_back(grad_x), grad_target, None


@defop("nll_loss", formula="dlogp = −w_t [c = t] · g")
def _nll(logp, target, weight, *, ignore_index, reduction):
    logp = _class_last(logp)
    coef, count = _coefficients(target, logp.shape[-1], weight, ignore_index, 0.0, logp.dtype)
    return _reduce(-np.sum(coef * logp, axis=-1), reduction, count)


@_nll.defvjp
def _nll_vjp(g, out, logp, target, weight, *, ignore_index, reduction):
    n_classes = logp.shape[0] if logp.ndim == 1 else logp.shape[1]
    coef, count = _coefficients(target, n_classes, weight, ignore_index, 0.0, logp.dtype)
    scale = np.expand_dims(_spread(g, reduction, count), -1)
    return _class_back(-scale * coef), None, None


def _class_args(name, input, target, weight, ignore_index, reduction):
    _check_reduction(name, reduction)
    x = input.data if isinstance(input, Tensor) else np.asarray(input)
    if x.ndim == 0:
        raise ValueError(f"{name} expected input (C,), (N, C) or (N, C, d1, ...), got a scalar")
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    _check_class_target(name, x, t, ignore_index)
    n_classes = x.shape[0] if x.ndim == 1 else x.shape[1]
    weight = _plain(weight)
    if weight is not None and np.shape(weight) != (n_classes,):
        raise ValueError(f"{name} expected weight ({n_classes},), got shape {np.shape(weight)}")
    # Integer targets carry no gradient: pass the array, not the tensor.
    return t if np.issubdtype(t.dtype, np.integer) else target, weight


def cross_entropy(
    input: Tensor,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy on raw scores, as ``torch.nn.functional.cross_entropy``.

    Shapes: input (N, C) (or (C,), or (N, C, d1, ...)); target either class indices
    (N,) of an integer dtype, or class probabilities shaped like input.
    """
    x = input.data if isinstance(input, Tensor) else None
    if (
        x is not None
        and target.__class__ is np.ndarray
        and target.shape == x.shape[:1]
        and reduction in _REDUCTIONS
        and _is_plain(x, target, weight, ignore_index, label_smoothing)
    ):
        # The everyday call (scores, valid integer labels) skips the general checks:
        # on a small batch they cost more than the loss itself.
        weight, smoothing, plain = None, 0.0, True
    else:
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(
                f"cross_entropy expected label_smoothing in [0, 1], got {label_smoothing}"
            )
        target, weight = _class_args(
            "cross_entropy", input, target, weight, ignore_index, reduction
        )
        x = input.data if isinstance(input, Tensor) else np.asarray(input)
        t = target.data if isinstance(target, Tensor) else target
        smoothing = float(label_smoothing)
        plain = _is_plain(x, t, weight, ignore_index, label_smoothing)
    return _cross_entropy(
        input,
        target,
        weight,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=smoothing,
        plain=plain,
    )


def nll_loss(
    input: Tensor,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of log-probabilities (pair with ``log_softmax``)."""
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if not np.issubdtype(t.dtype, np.integer):
        raise TypeError(f"nll_loss expected integer class indices, got dtype {t.dtype}")
    target, weight = _class_args("nll_loss", input, target, weight, ignore_index, reduction)
    return _nll(input, target, weight, ignore_index=ignore_index, reduction=reduction)
