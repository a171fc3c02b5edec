"""The default floating-point dtype (float32, like PyTorch) and PyTorch's type promotion.

Type promotion lives here and only here: an op declares a rule when it is
registered (``defop(..., promote="common")``) and the registry casts its
arguments with :func:`promote` before the forward runs, so the forward, its
saved values and its VJP all work in the one result dtype, and the engine casts
each gradient back to its input's dtype.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_default_dtype: list[np.dtype] = [np.dtype(np.float32)]


def set_default_dtype(dtype: type | np.dtype | str) -> None:
    """Set the dtype given to tensors made from Python floats (float32 or float64)."""
    resolved = np.dtype(dtype)
    if resolved.kind != "f":
        raise TypeError(f"set_default_dtype expected a floating-point dtype, got {resolved}")
    _default_dtype[0] = resolved


def get_default_dtype() -> np.dtype:
    """The dtype given to tensors made from Python floats."""
    return _default_dtype[0]


# -- PyTorch's promotion rules ----------------------------------------------------------
# Categories order the kinds: bool < integer < floating < complex.
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}
_INT64 = np.dtype(np.int64)
_BOOL = np.dtype(np.bool_)


def _category(dtype: np.dtype | None) -> int:
    return -1 if dtype is None else _CATEGORY.get(dtype.kind, 3)


def promote_types(a: np.dtype | None, b: np.dtype | None) -> np.dtype | None:
    """PyTorch's ``promote_types``: a higher category wins outright (int64 + float32 is
    float32, not NumPy's float64); within a category the wider dtype wins."""
    if a is None or b is None:
        return b if a is None else a
    ca, cb = _category(a), _category(b)
    if ca == cb or 3 in (ca, cb):
        return np.result_type(a, b)
    return a if ca > cb else b


def _combine(higher: np.dtype | None, lower: np.dtype | None) -> np.dtype | None:
    """A lower-priority group only matters when it is of a higher category."""
    if higher is None:
        return lower
    if lower is None or _category(higher) >= _category(lower):
        return higher
    return promote_types(higher, lower)


def scalar_dtype(value: Any) -> np.dtype | None:
    """The dtype PyTorch gives a Python number: bool, int64 or the default float
    (None for anything that is not a number)."""
    if isinstance(value, (bool, np.bool_)):
        return _BOOL
    if isinstance(value, (int, np.integer)):
        return _INT64
    if isinstance(value, (float, np.floating)):
        return get_default_dtype()
    if isinstance(value, (complex, np.complexfloating)):
        return np.result_type(get_default_dtype(), np.complex64)
    return None


def result_type(*operands: Any) -> np.dtype:
    """The dtype PyTorch computes ``op(*operands)`` in.

    Three groups in priority order: arrays with dimensions, 0-d arrays, and Python
    (or NumPy) scalars. A later group changes the result only if it is of a higher
    category, so ``float32 * int64`` is float32, ``float32_tensor * 2.5`` stays
    float32 and ``int64_tensor + 0.5`` takes the default float dtype.
    """
    dimensioned = zero_dim = scalars = None
    for x in operands:
        if isinstance(x, (list, tuple)):
            x = _list_array(x)
        if isinstance(x, np.ndarray):
            if x.ndim:
                dimensioned = promote_types(dimensioned, x.dtype)
            else:
                zero_dim = promote_types(zero_dim, x.dtype)
        else:
            scalars = promote_types(scalars, scalar_dtype(x))
    result = _combine(dimensioned, _combine(zero_dim, scalars))
    if result is None:
        raise TypeError(f"expected tensors or numbers, got {[type(x).__name__ for x in operands]}")
    return result


def _list_array(values: Any) -> np.ndarray:
    array = np.asarray(values)
    return array.astype(get_default_dtype()) if array.dtype.kind == "f" else array


def float_result_type(*operands: Any) -> np.dtype:
    """``result_type``, with bool and integer results replaced by the default float dtype
    (true division and exp, log, sin, ... of integer tensors)."""
    dtype = result_type(*operands)
    return dtype if dtype.kind in "fc" else get_default_dtype()


_RULES = {"common": result_type, "float": float_result_type}


def promote(arrays: list, rule: str, start: int = 0) -> list:
    """``arrays`` (an op's positional arguments) cast to the dtype ``rule`` computes.

    Arguments before ``start`` are left alone (``where``'s condition). Arrays are cast,
    NumPy scalars become Python numbers (NumPy would let them upcast a float32 array),
    and Python numbers stay as they are: NumPy, like PyTorch, does not let them widen
    an array's dtype. With no array at all, the first number becomes a 0-d array.
    """
    # The common case, kept cheap: every array already of one float dtype.
    common = None
    for i in range(start, len(arrays)):
        x = arrays[i]
        cls = x.__class__
        if cls is np.ndarray:
            if common is None:
                common = x.dtype
            elif x.dtype is not common and x.dtype != common:
                break
        elif cls is not float and cls is not int:
            break
    else:
        if common is not None and common.kind == "f":
            return arrays
    target = _RULES[rule](*arrays[start:])
    out = list(arrays)
    any_array = False
    for i in range(start, len(out)):
        x = out[i]
        if isinstance(x, (list, tuple)):
            x = _list_array(x)
        if isinstance(x, np.ndarray):
            any_array = True
            out[i] = x if x.dtype == target else x.astype(target)
        elif isinstance(x, np.generic):
            out[i] = x.item()
    if not any_array and len(out) > start:
        out[start] = np.asarray(out[start], dtype=target)
    return out
