"""The op registry: each differentiable op is a forward and its VJP, registered once.

An op's forward takes NumPy arrays (and plain values) positionally and static
options as keywords; its VJP takes ``(g, out, *args, **kwargs)`` — the incoming
gradient, the forward's result and the same arguments — and returns one
gradient per positional argument (None where there is none). Broadcasting is
undone by the engine, never inside a VJP.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from .dtypes import promote
from .engine import Node, grad_mode, next_seq, user_frames
from .tensor import Tensor

REGISTRY: dict[str, Op] = {}
_new_tensor = Tensor.__new__
_new_node = Node.__new__
_next_seq = next_seq


class _Tracing:
    """``hook(op, args, arrays, kwargs, result)`` sees every op call while ``cr.compile`` traces.

    An instance attribute (see ``engine._GradMode``): read on every op call.
    """

    def __init__(self) -> None:
        self.hook: Callable[..., None] | None = None


tracing = _Tracing()


def _no_vjp(name: str) -> Callable[..., Any]:
    def vjp(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"op '{name}' has no VJP registered (defvjp)")

    return vjp


class Op:
    """A differentiable operation; calling it on tensors records a graph node."""

    # Slots for what every call reads (cheaper than instance-dict lookups); the dict
    # keeps ``__name__``, ``__doc__`` and ``__wrapped__``, which functools reads.
    __slots__ = (
        "__dict__",
        "direct",
        "formula",
        "forward",
        "name",
        "promote",
        "promote_from",
        "vjp",
        "wants_needs",
    )

    def __init__(
        self,
        name: str,
        forward: Callable[..., np.ndarray],
        formula: str,
        promote: str | None = None,
        promote_from: int = 0,
    ):
        if promote not in (None, "common", "float"):
            raise ValueError(f"defop promote= expected None, 'common' or 'float', got {promote!r}")
        self.name = name
        self.forward = forward
        self.formula = formula
        self.promote = promote
        self.promote_from = promote_from
        self.vjp: Callable[..., Any] = _no_vjp(name)
        self.wants_needs = False
        # The NumPy function the forward amounts to, for ops whose forward only adds
        # an error message to it (add: ``a + b``): ``__call__`` calls it directly, one
        # Python call less, and calls the forward only when it raises, for its message.
        self.direct: Callable[..., Any] | None = None
        self.__name__ = forward.__name__
        self.__doc__ = forward.__doc__
        self.__wrapped__ = forward

    def defvjp(self, vjp: Callable[..., Any]) -> Callable[..., Any]:
        """Register the vector-Jacobian product; used as a decorator under the forward.

        A VJP that declares a keyword-only ``needs`` receives the positions of the
        arguments that want a gradient, so it can skip the others (the input
        gradient of a network's first layer is a whole matrix product saved).
        """
        self.vjp = vjp
        self.wants_needs = "needs" in inspect.signature(vjp).parameters
        return vjp

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        # The hot path of every model. One and two arguments (nearly every op call) are
        # spelled out; the general loop below does the same for any number of them.
        n = len(args)
        if n == 2:
            return apply2(self, args[0], args[1], kwargs)
        if n == 1:
            a = args[0]
            rule = self.promote
            if isinstance(a, Tensor):
                x = a.data
                inputs = [(0, a)] if a.requires_grad else []
                if x.dtype.kind == "f":  # a float tensor alone: promotion has nothing to do
                    rule = None
            else:
                x, inputs = a, []
            arrays = [x]
            if rule is not None:
                arrays = promote(arrays, rule, self.promote_from)
                x = arrays[0]
            out = self.forward(x, **kwargs) if kwargs else self.forward(x)
        else:
            arrays, inputs = self._prepare(args)
            if n == 3 and not kwargs:  # a call with ``*arrays`` costs more than most forwards
                out = self.forward(arrays[0], arrays[1], arrays[2])
            else:
                out = self.forward(*arrays, **kwargs)
        return emit(self, out, inputs, arrays, kwargs, args)

    def _prepare(self, args: tuple) -> tuple[list[Any], list[tuple[int, Tensor]]]:
        """The forward's arguments (tensors' arrays, promoted) and ``(position, tensor)``
        for each argument that wants a gradient: ``__call__``'s general case."""
        arrays: list[Any] = []
        inputs = []
        # The dtype the tensor arguments share, False once they differ (Any: a dtype or
        # a flag, tested below in the cheapest form).
        common: Any = None
        for arg in args:
            if isinstance(arg, Tensor):
                if arg.requires_grad:
                    inputs.append((len(arrays), arg))
                data = arg.data
                arrays.append(data)
                if common is not data.dtype:
                    common = data.dtype if common is None else False
            else:
                arrays.append(arg)
                cls = arg.__class__
                if cls is not float and cls is not int:
                    common = False
        # Tensors of one float dtype with Python numbers need no promotion (the rule's
        # answer is that dtype): the common case, decided without a call.
        if self.promote is not None and not (common and common.kind == "f"):
            arrays = promote(arrays, self.promote, self.promote_from)
        return arrays, inputs

    def __repr__(self) -> str:
        return f"<op {self.name}: {self.formula}>"


def apply2(op: Op, a: Any, b: Any, kwargs: dict[str, Any]) -> Tensor:
    """``op(a, b, **kwargs)``: the call of a two-argument op, the most common kind.

    A plain function, so that the Tensor operators (``x + y`` is ``apply2(add, x, y,
    {})``) call it without going through ``Op.__call__``: calling an instance costs
    more than the rest of the bookkeeping here. ``kwargs`` becomes the node's own.
    """
    dtype: Any = None
    # Promotion is skipped when the tensor arguments share one float dtype and any
    # other is a Python number: the rule's answer is that dtype.
    if isinstance(a, Tensor):
        x = a.data
        inputs = [(0, a)] if a.requires_grad else []
        dtype = x.dtype
        if isinstance(b, Tensor):
            y = b.data
            if b.requires_grad:
                inputs.append((1, b))
            plain = y.dtype is dtype
        else:
            y = b
            cls = b.__class__
            plain = cls is float or cls is int
    elif isinstance(b, Tensor):
        x = a
        y = b.data
        inputs = [(1, b)] if b.requires_grad else []
        dtype = y.dtype
        cls = a.__class__
        plain = cls is float or cls is int
    else:
        x, y, inputs, plain = a, b, [], False
    arrays: list[Any] = [x, y]
    if op.promote is not None and not (plain and dtype.kind == "f"):
        arrays = promote(arrays, op.promote, op.promote_from)
        x, y = arrays
    direct = op.direct
    if kwargs:
        out = op.forward(x, y, **kwargs)
    elif direct is None:
        out = op.forward(x, y)
    else:
        try:
            out = direct(x, y)
        except Exception:  # the forward raises the same error, in the op's words
            out = op.forward(x, y)
    return emit(op, out, inputs, arrays, kwargs, (a, b))


def emit(
    op: Op,
    out: Any,
    inputs: list[tuple[int, Tensor]],
    arrays: list[Any],
    kwargs: dict[str, Any],
    args: tuple,
) -> Tensor:
    """The tensor of an op's result ``out``, with the node its backward walks when an
    input wants a gradient (and grad mode is on); shown to ``cr.compile``'s trace hook.

    The one place nodes are made. Both are built field by field: a call to
    ``__init__`` costs more than the fields.
    """
    if out.__class__ is not np.ndarray:
        out = np.asarray(out)
    result = _new_tensor(Tensor)
    result.data = out
    result.grad = None
    result._retains_grad = False
    if inputs and grad_mode.enabled:
        result.requires_grad = True
        node = _new_node(Node)
        node.op = op
        node.inputs = inputs
        node.args = arrays
        node.kwargs = kwargs
        node.out = out
        node.seq = _next_seq()
        if grad_mode.anomaly:
            node.trace = user_frames()
        result._node = node
    else:
        result.requires_grad = False
        result._node = None
    if tracing.hook is not None:  # cr.compile is recording this call
        tracing.hook(op, args, arrays, kwargs, result)
    return result


def defop(
    name: str, formula: str = "", *, promote: str | None = None, promote_from: int = 0
) -> Callable[[Callable[..., np.ndarray]], Op]:
    """Register ``fn`` as the forward of a differentiable op called ``name``.

    ``formula`` is the VJP written for people ("da = g * b"); ``explain`` shows it.
    ``promote`` casts the positional arguments from ``promote_from`` on to one dtype
    by PyTorch's rules before the forward runs: ``"common"`` (add, matmul, cat, ...)
    or ``"float"`` (division, exp, log, ...: integers give the default float dtype).
    """

    def register(fn: Callable[..., np.ndarray]) -> Op:
        if name in REGISTRY:
            raise ValueError(f"op '{name}' is already registered")
        op = Op(name, fn, formula, promote, promote_from)
        REGISTRY[name] = op
        return op

    return register


def defufunc(
    name: str,
    ufunc: Callable[..., np.ndarray],
    vjp: Callable[..., Any],
    formula: str,
    *,
    promote: str | None = "float",
) -> Op:
    """Register the NumPy ufunc itself as the forward of the op ``name`` (no wrapper
    function: one Python call less per op), with ``vjp(g, out, *args)`` as its VJP."""
    op = defop(name, formula, promote=promote)(ufunc)
    op.__name__ = name
    op.__doc__ = f"Elementwise {name} (NumPy's {ufunc.__name__}); VJP: {formula}."
    op.defvjp(vjp)
    return op
