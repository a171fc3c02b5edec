"""Ops that move values without changing them: reshape, permute, index, join."""

from __future__ import annotations

import numpy as np

from ..registry import defop


@defop("reshape", formula="da = reshape(g, a.shape)")
def reshape(a, *, shape):
    try:
        return np.reshape(a, shape)
    except ValueError:
        raise ValueError(
            f"reshape cannot turn shape {np.shape(a)} ({np.size(a)} elements) into {shape}"
        ) from None


@reshape.defvjp
def _reshape_vjp(g, out, a, *, shape):
    return g.reshape(a.shape)


@defop("permute", formula="da = permute(g, inverse order)")
def permute(a, *, axes):
    return np.transpose(a, axes)


@permute.defvjp
def _permute_vjp(g, out, a, *, axes):
    return np.transpose(g, np.argsort([axis % g.ndim for axis in axes]))


@defop("expand", formula="da = g summed over the expanded axes")
def expand(a, *, shape):
    try:
        return np.broadcast_to(a, shape)
    except ValueError:
        raise ValueError(
            f"expand cannot broadcast shape {np.shape(a)} to {shape} "
            "(each dimension must match or be 1)"
        ) from None


@expand.defvjp
def _expand_vjp(g, out, a, *, shape):
    return g  # the engine sums the broadcast axes back down


@defop("squeeze", formula="da = reshape(g, a.shape)")
def squeeze(a, *, axis=None):
    return np.squeeze(a, axis=axis)


@squeeze.defvjp
def _squeeze_vjp(g, out, a, *, axis=None):
    return g.reshape(a.shape)


@defop("unsqueeze", formula="da = reshape(g, a.shape)")
def unsqueeze(a, *, axis):
    return np.expand_dims(a, axis)


@unsqueeze.defvjp
def _unsqueeze_vjp(g, out, a, *, axis):
    return g.reshape(a.shape)


def _is_basic(index) -> bool:
    """True for ints, slices, None and Ellipsis: indexing that cannot repeat an element."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis for p in parts)


@defop("getitem", formula="da = g scattered back to the indexed positions (repeats add up)")
def getitem(a, *, index):
    try:
        return a[index]
    except IndexError as error:
        raise IndexError(f"index {index!r} is out of range for shape {a.shape}: {error}") from None


@getitem.defvjp
def _getitem_vjp(g, out, a, *, index):
    grad = np.zeros(a.shape, dtype=g.dtype)
    if _is_basic(index):
        grad[index] = g
    else:
        np.add.at(grad, index, g)  # an integer array may pick one element several times
    return grad


@defop("cat", formula="da_i = the slice of g that came from a_i")
def cat(*arrays, axis=0):
    try:
        return np.concatenate(arrays, axis=axis)
    except ValueError:
        shapes = ", ".join(str(np.shape(x)) for x in arrays)
        raise ValueError(
            f"cat expected shapes that agree except along axis {axis}, got {shapes}"
        ) from None


@cat.defvjp
def _cat_vjp(g, out, *arrays, axis=0):
    bounds = np.cumsum([np.shape(x)[axis] for x in arrays])[:-1]
    return tuple(np.split(g, bounds, axis=axis))


@defop("stack", formula="da_i = g[..., i, ...] along the new axis")
def stack(*arrays, axis=0):
    try:
        return np.stack(arrays, axis=axis)
    except ValueError:
        shapes = ", ".join(str(np.shape(x)) for x in arrays)
        raise ValueError(f"stack expected tensors of one shape, got {shapes}") from None


@stack.defvjp
def _stack_vjp(g, out, *arrays, axis=0):
    return tuple(np.moveaxis(g, axis, 0))
