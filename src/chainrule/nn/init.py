"""Weight initialization, as ``torch.nn.init``: each function fills ``tensor.data`` in place.

Every function returns the tensor it was given. Random ones take ``generator``, a
``numpy.random.Generator`` or an int seed; without one they draw from the default
generator that ``chainrule.manual_seed`` seeds (as PyTorch). Fans follow PyTorch: for a
weight of shape (out, in, *kernel), fan_in = in · prod(kernel) and fan_out = out · prod(kernel).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..autodiff import Tensor
from ..autodiff.random import resolve_generator

_LINEAR = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)


def _rng(generator: Any) -> np.random.Generator:
    """A Generator as given, or a new one from an int seed (None: the default generator,
    which ``chainrule.manual_seed`` seeds)."""
    return resolve_generator(generator)


def _array(tensor: Tensor | np.ndarray, name: str, floating: bool = True) -> np.ndarray:
    array = tensor.data if isinstance(tensor, Tensor) else tensor
    if not isinstance(array, np.ndarray):
        raise TypeError(f"init.{name} expected a Tensor or ndarray, got {type(tensor).__name__}")
    if floating and array.dtype.kind != "f":
        raise TypeError(f"init.{name} expected a floating-point tensor, got dtype {array.dtype}")
    return array


def _fill(tensor: Any, values: np.ndarray | float) -> Any:
    # Assign into the existing array: an optimizer may already hold it.
    array = tensor.data if isinstance(tensor, Tensor) else tensor
    array[...] = values
    return tensor


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended scale of weights for ``nonlinearity`` (PyTorch's table).

    linear / conv / sigmoid: 1; tanh: 5/3; relu: √2; leaky_relu: √(2 / (1 + slope²))
    with slope ``param`` (default 0.01); selu: 3/4.
    """
    if nonlinearity in _LINEAR or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(
        f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; expected one of "
        f"{', '.join(_LINEAR)}, sigmoid, tanh, relu, leaky_relu, selu"
    )


def _calculate_fan_in_and_fan_out(tensor: Tensor | np.ndarray) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel)."""
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(
            f"fan in and fan out can not be computed for a tensor with fewer than 2 "
            f"dimensions, got shape {tuple(shape)}"
        )
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fan(tensor: Tensor | np.ndarray, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode expected 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
    """Fill with samples from U(a, b)."""
    array = _array(tensor, "uniform_")
    return _fill(tensor, _rng(generator).uniform(a, b, size=array.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
    """Fill with samples from N(mean, std²)."""
    array = _array(tensor, "normal_")
    return _fill(tensor, _rng(generator).normal(mean, std, size=array.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    _array(tensor, "constant_", floating=False)
    return _fill(tensor, val)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    return constant_(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return constant_(tensor, 1)


def _xavier_std(tensor: Tensor, gain: float) -> float:
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return gain * math.sqrt(2.0 / float(fan_in + fan_out))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot: U(−a, a) with a = gain · √(6 / (fan_in + fan_out)); variance kept both ways."""
    bound = math.sqrt(3.0) * _xavier_std(tensor, gain)  # U(−a, a) has std a/√3
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot: N(0, std²) with std = gain · √(2 / (fan_in + fan_out))."""
    return normal_(tensor, 0.0, _xavier_std(tensor, gain), generator)


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float | None:
    if 0 in tensor.shape:
        return None  # nothing to fill (PyTorch warns and returns)
    return calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Any = None,
) -> Tensor:
    """He: U(−bound, bound) with bound = gain · √(3 / fan); ``a`` is leaky_relu's slope.

    ``mode='fan_in'`` keeps the variance of activations in the forward pass,
    ``'fan_out'`` that of gradients in the backward pass. nn.Linear's default
    uses a = √5, which gives bound = 1/√fan_in.
    """
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Any = None,
) -> Tensor:
    """He: N(0, std²) with std = gain / √fan."""
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    return normal_(tensor, 0.0, std, generator)


def _default_(weight: Tensor, bias: Tensor | None, generator: Any = None) -> None:
    """PyTorch's default for Linear and the convolutions: ``kaiming_uniform_(a=√5)`` on
    the weight (bound 1/√fan_in, as the gain is √(2 / (1 + 5)) = 1/√3), the bias on
    U(±1/√fan_in); fan_in is the weight's size per output (in_features, or
    in_channels/groups × kernel), both drawn from one generator."""
    rng = _rng(generator)
    kaiming_uniform_(weight, a=math.sqrt(5), generator=rng)
    if bias is not None:
        fan_in = int(np.prod(weight.shape[1:]))
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound, generator=rng)


__all__ = [
    "calculate_gain",
    "constant_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]
