"""PyTorch's array ops: products and running sums, gather/scatter, masks, flips, rolls,
repeats, triangles and ``einsum``; each forward with its VJP.

``dim`` arguments arrive here already wrapped to a non-negative axis (``functions``
checks them), and index arrays arrive as keywords, so they are never promoted.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..registry import Op, defop


# -- products and running sums ----------------------------------------------------------
def _exclusive_products(a: np.ndarray, axis: int) -> np.ndarray:
    """For each element, the product of every *other* element along ``axis``.

    Built from exclusive prefix and suffix products, so zeros need no division.
    """
    ones = np.ones_like(np.take(a, [0], axis=axis))
    prefix = np.cumprod(np.concatenate([ones, a], axis=axis), axis=axis)
    prefix = np.delete(prefix, -1, axis=axis)
    flipped = np.flip(a, axis=axis)
    suffix = np.cumprod(np.concatenate([ones, flipped], axis=axis), axis=axis)
    suffix = np.flip(np.delete(suffix, -1, axis=axis), axis=axis)
    return prefix * suffix


@defop("prod", formula="da_i = g * Π_{j≠i} a_j")
def prod(a, *, axis=None, keepdims=False):
    return np.prod(a, axis=axis, keepdims=keepdims)


@prod.defvjp
def _prod_vjp(g, out, a, *, axis=None, keepdims=False):
    if a.size == 0:
        return np.zeros(a.shape, dtype=g.dtype)
    if axis is None:
        others = _exclusive_products(a.reshape(-1), 0).reshape(a.shape)
        return np.reshape(g, ()) * others
    grad = g if keepdims else np.expand_dims(g, axis)
    return grad * _exclusive_products(a, axis)


@defop("cumsum", formula="da = reverse cumulative sum of g")
def cumsum(a, *, axis):
    return np.cumsum(a, axis=axis)


@cumsum.defvjp
def _cumsum_vjp(g, out, a, *, axis):
    return np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis)


@defop("cumprod", formula="da_i = Σ_{k≥i} g_k * Π_{j≤k, j≠i} a_j")
def cumprod(a, *, axis):
    return np.cumprod(a, axis=axis)


@cumprod.defvjp
def _cumprod_vjp(g, out, a, *, axis):
    if a.size == 0:
        return np.zeros(a.shape, dtype=g.dtype)
    if not np.any(a == 0):
        # out_k / a_i = Π_{j≤k, j≠i} a_j when nothing is zero.
        return np.flip(np.cumsum(np.flip(g * out, axis), axis=axis), axis) / a
    # With zeros, build each column's products without dividing: O(n²) along ``axis``.
    moved_a, moved_g = np.moveaxis(a, axis, -1), np.moveaxis(g, axis, -1)
    grad = np.zeros(moved_a.shape, dtype=g.dtype)
    n = moved_a.shape[-1]
    for i in range(n):
        without = moved_a.copy()
        without[..., i] = 1
        partial = np.cumprod(without, axis=-1)[..., i:]
        grad[..., i] = np.sum(moved_g[..., i:] * partial, axis=-1)
    return np.moveaxis(grad, -1, axis)


# -- gather and scatter -----------------------------------------------------------------
def along(index: np.ndarray, axis: int) -> tuple:
    """A fancy index that picks ``a[..., index[...], ...]`` at ``axis`` and ``index``'s own
    position in every other axis (PyTorch's gather/scatter addressing)."""
    grids: list[np.ndarray] = list(np.indices(index.shape, sparse=True))
    grids[axis] = index
    return tuple(grids)


@defop("gather", formula="da = g added back at the gathered positions")
def gather(a, *, axis, index):
    return a[along(index, axis)]


@gather.defvjp
def _gather_vjp(g, out, a, *, axis, index):
    grad = np.zeros(a.shape, dtype=g.dtype)
    np.add.at(grad, along(index, axis), g)
    return grad


def _source(src, index: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The part of ``src`` that scatter uses: its leading block of ``index``'s shape."""
    array = np.asarray(src, dtype=dtype)
    if array.ndim == 0:
        return np.broadcast_to(array, index.shape)
    return array[tuple(slice(0, n) for n in index.shape)]


@defop("scatter", promote="common", formula="da = g, 0 where written;  dsrc = g gathered")
def scatter(a, src, *, axis, index):
    out = a.copy()
    out[along(index, axis)] = _source(src, index, a.dtype)
    return out


@scatter.defvjp
def _scatter_vjp(g, out, a, src, *, axis, index):
    where = along(index, axis)
    grad_a = g.copy()
    grad_a[where] = 0
    return grad_a, _grad_source(g[where], src)


def _grad_source(picked: np.ndarray, src) -> np.ndarray | None:
    """The gradient of scatter's source: the gathered g in src's leading block, 0 beyond."""
    if np.ndim(src) == 0:
        return np.sum(picked)
    grad = np.zeros(np.shape(src), dtype=picked.dtype)
    grad[tuple(slice(0, n) for n in picked.shape)] = picked
    return grad


@defop("scatter_add", promote="common", formula="da = g;  dsrc = g gathered")
def scatter_add(a, src, *, axis, index):
    out = a.copy()
    np.add.at(out, along(index, axis), _source(src, index, a.dtype))
    return out


@scatter_add.defvjp
def _scatter_add_vjp(g, out, a, src, *, axis, index):
    return g, _grad_source(g[along(index, axis)], src)


@defop("masked_fill", formula="da = g, 0 where mask;  dvalue = Σ g where mask")
def masked_fill(a, value, *, mask):
    """``value`` is a number or a 0-d array (a tensor value gets a gradient)."""
    return np.where(mask, np.asarray(value, dtype=a.dtype), a)


@masked_fill.defvjp
def _masked_fill_vjp(g, out, a, value, *, mask, needs=(0, 1)):
    grad_a = np.where(mask, np.zeros((), dtype=g.dtype), g) if 0 in needs else None
    grad_value = None
    if 1 in needs:  # every filled element read the one value
        dtype = np.asarray(value).dtype
        grad_value = np.asarray(np.where(mask, g, 0).sum(), dtype=dtype)
    return grad_a, grad_value


# -- rearrangements -----------------------------------------------------------------------
@defop("flip", formula="da = g flipped back")
def flip(a, *, axes):
    return np.flip(a, axes)


@flip.defvjp
def _flip_vjp(g, out, a, *, axes):
    return np.flip(g, axes)


@defop("roll", formula="da = g rolled back")
def roll(a, *, shifts, axes):
    return np.roll(a, shifts, axes)


@roll.defvjp
def _roll_vjp(g, out, a, *, shifts, axes):
    back = -shifts if isinstance(shifts, int) else tuple(-s for s in shifts)
    return np.roll(g, back, axes)


@defop("repeat", formula="da = g summed over the copies")
def repeat(a, *, repeats):
    """``torch.Tensor.repeat``: tile ``a`` ``repeats[i]`` times along each dim
    (``len(repeats) >= a.ndim``; extra leading repeats add dims)."""
    return np.tile(a, repeats)


@repeat.defvjp
def _repeat_vjp(g, out, a, *, repeats):
    shape = (1,) * (len(repeats) - a.ndim) + a.shape
    # Split each dim into (copies, size) and sum over the copies.
    split = [n for pair in zip(repeats, shape, strict=True) for n in pair]
    summed = np.sum(g.reshape(split), axis=tuple(range(0, 2 * len(shape), 2)))
    return summed.reshape(a.shape)


def _triangle(mask: Callable[..., np.ndarray]) -> Op:
    """The op ``tril`` or ``triu`` (``mask`` is NumPy's): a mask of the input, so its VJP
    is the same mask of ``g``."""
    name = mask.__name__

    def forward(a, *, diagonal=0):
        return mask(a, diagonal)

    def vjp(g, out, a, *, diagonal=0):
        return mask(g, diagonal)

    forward.__name__ = forward.__qualname__ = name
    op = defop(name, formula=f"da = {name}(g)")(forward)
    op.defvjp(vjp)
    return op


tril = _triangle(np.tril)
triu = _triangle(np.triu)


# -- einsum ------------------------------------------------------------------------------
@defop("einsum", promote="common", formula="da_i = einsum(g, the other operands -> a_i)")
def einsum(*operands, subscripts, output):
    """``subscripts``: one letter string per operand (ellipses already spelled out as
    letters; a letter repeated within one operand takes its diagonal); ``output``: the
    result's letters."""
    return np.einsum(",".join(subscripts) + "->" + output, *operands)


def _onto_diagonal(grad: np.ndarray, letters: str, unique: str, shape) -> np.ndarray:
    """A repeated letter ('ii') read only the diagonal: its gradient lies there, zero off it."""
    full = np.zeros(shape, dtype=grad.dtype)
    # einsum's diagonal of a plain array is a writeable view of it.
    np.einsum(letters + "->" + unique, full)[...] = grad
    return full


@einsum.defvjp
def _einsum_vjp(g, out, *operands, subscripts, output):
    grads = []
    for i, (operand, letters) in enumerate(zip(operands, subscripts, strict=True)):
        others = [s for j, s in enumerate(subscripts) if j != i]
        available = set(output).union(*others)
        unique = "".join(dict.fromkeys(letters))  # first appearance order
        # Letters summed inside this operand alone: the gradient is constant along them.
        kept = "".join(c for c in unique if c in available)
        rest = [op for j, op in enumerate(operands) if j != i]
        grad = np.einsum(",".join([output, *others]) + "->" + kept, g, *rest)
        for position, letter in enumerate(unique):
            if letter not in available:
                grad = np.expand_dims(grad, position)
                target = list(grad.shape)
                target[position] = np.shape(operand)[letters.index(letter)]
                grad = np.broadcast_to(grad, target)
        if unique != letters:
            grad = _onto_diagonal(grad, letters, unique, np.shape(operand))
        # A size-1 dim broadcast against another operand is summed back by the engine.
        grads.append(grad)
    return tuple(grads)
