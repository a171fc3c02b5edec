"""Ops that move values without changing them: reshape, permute, index, join."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..registry import defop


def _reshape_back(g, out, a, **options):
    # The VJP of every op that only reshapes (reshape, squeeze, unsqueeze).
    return g.reshape(a.shape)


def _numpy(numpy_op, a, option, message):
    """``numpy_op(a, option)``, NumPy's ValueError replaced by ours, ``message(a, option)``,
    which names the op and the shapes."""
    try:
        return numpy_op(a, option)
    except ValueError:
        raise ValueError(message(a, option)) from None


def _cannot_reshape(a, shape) -> str:
    return f"reshape cannot turn shape {np.shape(a)} ({np.size(a)} elements) into {shape}"


def _cannot_expand(a, shape) -> str:
    return (
        f"expand cannot broadcast shape {np.shape(a)} to {shape} "
        "(each dimension must match or be 1)"
    )


@defop("reshape", formula="da = reshape(g, a.shape)")
def reshape(a, *, shape):
    return _numpy(np.reshape, a, shape, _cannot_reshape)


reshape.defvjp(_reshape_back)


@defop("permute", formula="da = permute(g, inverse order)")
def permute(a, *, axes):
    return np.transpose(a, axes)


@permute.defvjp
def _permute_vjp(g, out, a, *, axes):
    return np.transpose(g, np.argsort([axis % g.ndim for axis in axes]))


@defop("expand", formula="da = g summed over the expanded axes")
def expand(a, *, shape):
    return _numpy(np.broadcast_to, a, shape, _cannot_expand)


@expand.defvjp
def _expand_vjp(g, out, a, *, shape):
    return g  # the engine sums the broadcast axes back down


@defop("squeeze", formula="da = reshape(g, a.shape)")
def squeeze(a, *, axis=None):
    return np.squeeze(a, axis=axis)


squeeze.defvjp(_reshape_back)


@defop("unsqueeze", formula="da = reshape(g, a.shape)")
def unsqueeze(a, *, axis):
    return np.expand_dims(a, axis)


unsqueeze.defvjp(_reshape_back)


def _is_basic(index) -> bool:
    """True for ints, slices, None and Ellipsis: indexing that cannot repeat an element."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis for p in parts)


class TwoStepIndex(NamedTuple):
    """An index PyTorch applies in two steps: ``a[basic][advanced]``."""

    basic: tuple
    advanced: tuple


def _is_int(part) -> bool:
    if isinstance(part, (bool, np.bool_)):
        return False
    if isinstance(part, (int, np.integer)):
        return True
    return isinstance(part, np.ndarray) and part.ndim == 0 and part.dtype.kind in "iu"


def _is_array(part) -> bool:
    return isinstance(part, np.ndarray) and not _is_int(part)


def torch_index(index, ndim: int):
    """``index`` as NumPy should apply it to get PyTorch's result.

    The two differ only when integers and index arrays are mixed: NumPy counts an
    integer as one more index array (so ``x[0, :, [0, 1]]`` of a (2, 3, 4) array has
    shape (2, 3): the broadcast index dims go first when separated), while PyTorch
    first selects with the integers and then indexes with the arrays (shape (3, 2)).
    Such an index becomes a :class:`TwoStepIndex`; every other index is returned as is.
    """
    parts = index if isinstance(index, tuple) else (index,)
    if not (any(_is_int(p) for p in parts) and any(_is_array(p) for p in parts)):
        return index
    consumed = 0
    for p in parts:
        if p is not None and p is not Ellipsis:
            consumed += p.ndim if _is_array(p) and p.dtype == np.bool_ else 1
    if consumed > ndim or sum(p is Ellipsis for p in parts) > 1:
        return index  # NumPy's own error message says what is wrong
    basic: list = []
    advanced: list = []
    for p in parts:
        if p is Ellipsis:
            fill = ndim - consumed
            basic.extend([slice(None)] * fill)
            advanced.extend([slice(None)] * fill)
        elif _is_int(p):
            basic.append(int(p))  # the selected dim is gone before the arrays apply
        elif _is_array(p):
            basic.extend([slice(None)] * (p.ndim if p.dtype == np.bool_ else 1))
            advanced.append(p)
        else:  # a slice or None: one dim of the intermediate result
            basic.append(p)
            advanced.append(slice(None))
    return TwoStepIndex(tuple(basic), tuple(advanced))


@defop("getitem", formula="da = g scattered back to the indexed positions (repeats add up)")
def getitem(a, *, index):
    try:
        if isinstance(index, TwoStepIndex):
            return a[index.basic][index.advanced]
        return a[index]
    except IndexError as error:
        shown = index.basic + index.advanced if isinstance(index, TwoStepIndex) else index
        problem = "is out of range for" if "out of bounds" in str(error) else "cannot index"
        raise IndexError(f"index {shown!r} {problem} shape {a.shape}: {error}") from None


@getitem.defvjp
def _getitem_vjp(g, out, a, *, index):
    grad = np.zeros(a.shape, dtype=g.dtype)
    if isinstance(index, TwoStepIndex):
        # Basic indexing gives a view, so adding into it fills ``grad``.
        np.add.at(grad[index.basic], index.advanced, g)
    elif _is_basic(index):
        grad[index] = g
    else:
        np.add.at(grad, index, g)  # an integer array may pick one element several times
    return grad


def _shapes(arrays) -> str:
    return ", ".join(str(np.shape(x)) for x in arrays)


def _cannot_cat(arrays, axis) -> str:
    return f"cat expected shapes that agree except along axis {axis}, got {_shapes(arrays)}"


def _cannot_stack(arrays, axis) -> str:
    return f"stack expected tensors of one shape, got {_shapes(arrays)}"


@defop("cat", promote="common", formula="da_i = the slice of g that came from a_i")
def cat(*arrays, axis=0):
    return _numpy(np.concatenate, arrays, axis, _cannot_cat)


@cat.defvjp
def _cat_vjp(g, out, *arrays, axis=0):
    bounds = np.cumsum([np.shape(x)[axis] for x in arrays])[:-1]
    return tuple(np.split(g, bounds, axis=axis))


@defop("stack", promote="common", formula="da_i = g[..., i, ...] along the new axis")
def stack(*arrays, axis=0):
    return _numpy(np.stack, arrays, axis, _cannot_stack)


@stack.defvjp
def _stack_vjp(g, out, *arrays, axis=0):
    return tuple(np.moveaxis(g, axis, 0))
