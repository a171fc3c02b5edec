"""Reverse-mode differentiation: the graph node, grad mode, and the backward walk.

The backward walk is iterative (an explicit heap of pending nodes), so a chain of 100,000 ops
backpropagates without touching Python's recursion limit. Broadcasting is undone
here, once, so no op's VJP has to care about it.

Ownership rules that let the engine avoid copies: a VJP never writes into its
incoming gradient ``g``, and returns either a fresh array or ``g`` itself (or a
view of it). Only those last cases (and one fresh array returned for two
arguments) can alias another gradient, so they are the only ones copied before
being stored in a leaf's ``.grad``. A leaf's ``.grad`` then belongs to it alone:
later backward passes add into it in place, as PyTorch does (``zero_grad`` with
``set_to_none=False`` keeps the array), and optimizers may update it in place.
"""

from __future__ import annotations

import gc
import itertools
import os
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

import numpy as np

from . import allocator
from .errors import AnomalyError, GraphFreedError

if TYPE_CHECKING:
    from .registry import Op
    from .tensor import Tensor


class _GradMode:
    """Process-wide switches read on every op; attributes are faster than a dict.

    Instance attributes, set in ``__init__``: Python 3.11 speeds up reading an
    instance's own attribute, not a class attribute read through an instance.
    """

    def __init__(self) -> None:
        self.enabled: bool = True
        self.anomaly: bool = False


grad_mode = _GradMode()


class _FlatGrads:
    """Whether any tensor ever had a gradient slot (``Tensor._grad_slot``, set by
    ``nn.utils.flatten_parameters``): until then the walk does not look for one."""

    def __init__(self) -> None:
        self.seen: bool = False


flat_grads = _FlatGrads()


_creation_order = itertools.count()
# The number of the next node (``registry.emit`` fills nodes in without ``__init__``).
next_seq = _creation_order.__next__
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def user_frames() -> list[traceback.FrameSummary]:
    """The call stack up to the innermost frame outside chainrule: where the user made an op."""
    frames = traceback.extract_stack()
    while frames and os.path.abspath(frames[-1].filename).startswith(_PACKAGE_DIR + os.sep):
        frames.pop()
    return frames


class Node:
    """One recorded op application: what produced a tensor and what its VJP needs.

    ``inputs`` lists ``(position, tensor)`` for the arguments that want a gradient;
    ``args[i]`` is the array or value the forward saw as argument ``i``; ``out`` is
    the forward's result, which many VJPs reuse (σ' = σ(1−σ) needs only σ).
    """

    __slots__ = ("args", "inputs", "kwargs", "op", "out", "seq", "trace")

    # Made only by ``registry.emit``, field by field (no ``__init__``: the hot path).
    op: Op
    kwargs: dict[str, Any]
    seq: int
    trace: list[traceback.FrameSummary]  # set only in anomaly mode (read with getattr)
    # None once a backward without retain_graph has freed the node
    inputs: list[tuple[int, Tensor]] | None
    args: list[Any] | None
    out: np.ndarray | None

    @property
    def released(self) -> bool:
        """True once a backward without ``retain_graph`` has freed the saved values."""
        return self.inputs is None


@dataclass(frozen=True)
class BackwardEvent:
    """Emitted once per node during ``backward`` for listeners such as ``explain``.

    ``grad_inputs[i]`` is the gradient sent to argument ``i`` after broadcasting
    was undone (None for arguments that do not need one).
    """

    node: Node
    grad_output: np.ndarray
    grad_inputs: tuple


_listeners: list[Callable[[BackwardEvent], None]] = []


@contextmanager
def listen_backward(callback: Callable[[BackwardEvent], None]) -> Iterator[None]:
    """Call ``callback(event)`` for every node processed by ``backward`` inside the block."""
    _listeners.append(callback)
    try:
        yield
    finally:
        _listeners.remove(callback)


def _run_in(mode: Callable[[], Any], fn: Callable) -> Callable:
    """``fn`` decorated to run inside a fresh ``with mode():`` block at each call."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with mode():
            return fn(*args, **kwargs)

    wrapper.__name__ = getattr(fn, "__name__", "wrapper")
    wrapper.__doc__ = fn.__doc__
    return wrapper


class no_grad:
    """Context manager and decorator: ops inside record no graph (like ``torch.no_grad``).

    Works as ``with no_grad():``, ``@no_grad()`` and the bare ``@no_grad``.
    """

    _target = False

    def __new__(cls, *args: Any) -> Any:
        instance = super().__new__(cls)
        if len(args) == 1 and callable(args[0]) and cls is not set_grad_enabled:
            return instance(args[0])  # used as a bare decorator
        return instance

    def __enter__(self) -> None:
        self._previous = grad_mode.enabled
        grad_mode.enabled = self._target

    def __exit__(self, *exc: object) -> None:
        grad_mode.enabled = self._previous

    def __call__(self, fn: Callable) -> Callable:
        return _run_in(self.__class__, fn)


class enable_grad(no_grad):
    """Re-enable graph recording inside a ``no_grad`` block."""

    _target = True


class set_grad_enabled(no_grad):
    """Record a graph only when ``mode`` is true: ``with set_grad_enabled(flag):``.

    Like PyTorch, a plain call ``set_grad_enabled(False)`` also switches the mode
    at once; as a context manager or decorator the previous mode comes back after.
    """

    def __init__(self, mode: bool) -> None:
        self._target = bool(mode)
        self._outer = grad_mode.enabled  # the mode to restore after a with-block
        grad_mode.enabled = self._target

    def __enter__(self) -> None:
        self._previous = self._outer

    def __call__(self, fn: Callable) -> Callable:
        grad_mode.enabled = self._outer  # decorating must not change the mode now
        target = self._target
        return _run_in(lambda: set_grad_enabled(target), fn)


def is_grad_enabled() -> bool:
    return grad_mode.enabled


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Record where each op was created and fail fast on NaN/inf during backward.

    Raises ``AnomalyError`` naming the op whose VJP produced the non-finite value
    and the line of user code that created that op. Slower: use while debugging.
    """
    previous = grad_mode.anomaly
    grad_mode.anomaly = True
    try:
        yield
    finally:
        grad_mode.anomaly = previous


# ndarray.sum calls this with the same arguments (Any: NumPy's overloads want keywords)
_add_reduce: Any = np.add.reduce


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting expanded, returning ``shape``."""
    if grad.shape == shape:
        return grad
    if grad.__class__ is not np.ndarray:
        grad = np.asarray(grad)
    have = grad.shape
    lead = len(have) - len(shape)
    if lead < 0:  # a VJP returned fewer dims (e.g. a scalar); broadcasting back is exact
        return np.broadcast_to(grad, shape).copy()
    # One reduction over the added leading axes and the stretched size-1 axes together.
    axes = list(range(lead))
    for i, n in enumerate(shape):  # a plain loop: cheaper than a generator here
        if n == 1 and have[lead + i] != 1:
            axes.append(lead + i)
    if axes:
        # ndarray.sum's own reduction, without the Python layer in front of it
        grad = _add_reduce(grad, tuple(axes), None, None, True)
        if lead:
            grad = grad.reshape(grad.shape[lead:])
    if grad.shape != shape:  # never reshape silently: that would hide a wrong VJP
        raise ValueError(f"a gradient of shape {have} cannot be summed down to {shape}")
    return grad


_ONES: dict[tuple, np.ndarray] = {}


def _ones(shape: tuple, dtype: np.dtype) -> np.ndarray:
    """A shared read-only array of ones: the seed gradient of a scalar loss.

    Safe to share because VJPs never write into their incoming gradient.
    """
    key = (shape, dtype)
    ones = _ONES.get(key)
    if ones is None:
        ones = np.ones(shape, dtype)
        ones.flags.writeable = False
        _ONES[key] = ones
    return ones


def _freed(node: Node) -> GraphFreedError:
    return GraphFreedError(
        f"backward reached op '{node.op.name}' whose saved values were already released "
        "by an earlier backward(); pass retain_graph=True to the first call to "
        "backpropagate through the same graph twice"
    )


def _describe_nonfinite(array: np.ndarray) -> str:
    nans = int(np.isnan(array).sum())
    infs = int(np.isinf(array).sum())
    return f"{nans} NaN and {infs} inf among {array.size} values"


def _anomaly_check(node: Node, position: int, grad: np.ndarray, incoming: np.ndarray) -> None:
    if np.all(np.isfinite(grad)):
        return
    where = ""
    trace = getattr(node, "trace", None)
    if trace:
        frame = trace[-1]
        where = f", created at {frame.filename}:{frame.lineno} ({frame.line})"
    upstream = "finite" if np.all(np.isfinite(incoming)) else "already non-finite"
    raise AnomalyError(
        f"backward of op '{node.op.name}'{where} produced a non-finite gradient for its "
        f"argument {position} (shape {grad.shape}): {_describe_nonfinite(grad)}; "
        f"the gradient flowing into the op was {upstream}"
    )


def run_backward(root: Tensor, gradient: Any = None, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

    ``gradient`` (same shape as root) is required unless root has one element.
    Gradients add up across calls, as in PyTorch: zero them between steps. Bound as
    ``Tensor.backward``.
    """
    if not root.requires_grad:
        raise RuntimeError(
            "backward() called on a tensor that does not require grad: no input of the "
            "computation had requires_grad=True (or it ran under no_grad())"
        )
    if gradient is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a single-element output, got shape "
                f"{root.shape}; reduce it first (e.g. loss.sum() or loss.mean()) or pass "
                "gradient= with the same shape"
            )
        data = root.data
        seed = _ONES.get((data.shape, data.dtype))  # _ones, without the call once made
        if seed is None:
            seed = _ones(data.shape, data.dtype)
    else:
        seed = np.asarray(gradient.data if hasattr(gradient, "_node") else gradient)
        if seed.shape != root.shape:
            raise ValueError(
                f"backward(gradient=...) expected shape {root.shape}, got shape {seed.shape}"
            )
        seed = seed.astype(root.data.dtype, copy=True)

    if not allocator.attempted:  # once per process: see allocator.py
        allocator.tune_allocator()
    root_node = root._node
    if root_node is None:  # backward on a leaf: its gradient is the seed itself
        root.grad = seed.copy() if root.grad is None else root.grad + seed
        return
    # The walk allocates many short-lived tuples and creates no reference cycles
    # (tensors point to their nodes, nodes to their inputs, never back), so the
    # cyclic garbage collector can only waste time here: pause it for the walk.
    collecting = gc.isenabled()
    if collecting:
        gc.disable()
    try:
        _walk(root, root_node, seed, retain_graph)
    finally:
        if collecting:
            gc.enable()


def _walk(root: Tensor, root_node: Node, seed: np.ndarray, retain_graph: bool) -> None:
    """Send gradients from ``root_node`` down to every leaf, in reverse creation order."""

    # Nodes are numbered as they are created, and every node is created after its
    # inputs, so visiting pending nodes from the highest number down is a reverse
    # topological order: a node is processed only after everything that used it.
    # One heap replaces the separate sort pass. ``following`` (with its gradient
    # ``following_g``) is the next node when it is the only one pending, kept off the
    # heap and out of ``grads``: a chain touches neither.
    grads: dict[Node, np.ndarray] = {}
    pending: list[tuple[int, Node]] = []
    following: Node | None = root_node
    following_g: Any = seed
    # Non-leaf tensors that asked for their gradient (retain_grad), by node.
    retained: dict[Node, Tensor] = {root_node: root} if root._retains_grad else {}
    emit = _listeners[:] if _listeners else None
    anomaly = grad_mode.anomaly
    # Leaf gradients are accumulated in place (as PyTorch does), so an array stored in
    # a leaf must be referenced by nothing else. A VJP returns fresh arrays, ``g`` or
    # views of ``g`` (module doc), so the only other holders can be the same VJP's
    # other results and the leaves served earlier: ``held`` are the ids of the arrays
    # leaves received in this walk.
    held: set[int] = set()
    ndarray = np.ndarray
    slots = flat_grads.seen

    while True:
        if following is not None:
            node, g, following = following, following_g, None
        elif pending:
            node = heappop(pending)[1]
            g = grads.pop(node)
        else:
            break
        inputs = node.inputs
        if inputs is None:
            raise _freed(node)
        if retained:
            keeper = retained.pop(node, None)
            if keeper is not None:
                keeper.grad = g.copy() if keeper.grad is None else keeper.grad + g
        op = node.op
        # freed together with inputs, checked above (an assert would cost every node)
        args: list[Any] = node.args  # type: ignore[assignment]
        kwargs = node.kwargs
        # Spelled out by arity: a call with ``*args`` costs more than the short VJPs.
        if op.wants_needs and len(inputs) != len(args):
            # Only when some argument wants no gradient; the VJP's default covers all.
            needs = (inputs[0][0],) if len(inputs) == 1 else tuple([i for i, _ in inputs])
            if len(args) == 2 and not kwargs:
                results = op.vjp(g, node.out, args[0], args[1], needs=needs)
            else:
                results = op.vjp(g, node.out, *args, needs=needs, **kwargs)
        elif kwargs:
            results = op.vjp(g, node.out, *args, **kwargs)
        elif len(args) == 2:
            results = op.vjp(g, node.out, args[0], args[1])
        elif len(args) == 1:
            results = op.vjp(g, node.out, args[0])
        elif len(args) == 3:
            results = op.vjp(g, node.out, args[0], args[1], args[2])
        else:
            results = op.vjp(g, node.out, *args)
        if results.__class__ is not tuple:
            results = (results,)
        sent = [None] * len(args) if emit else None
        for position, parent in inputs:
            gi = results[position]
            if gi is None:
                continue
            if gi.__class__ is not ndarray:
                gi = np.asarray(gi)
            data = parent.data
            if gi.shape != data.shape:
                gi = _unbroadcast_for(node, position, gi, data.shape)
            if gi.dtype is not data.dtype and gi.dtype != data.dtype:
                gi = gi.astype(data.dtype)
            if anomaly:
                _anomaly_check(node, position, gi, g)
            if sent is not None:
                sent[position] = gi
            child = parent._node
            if child is None:
                old = parent.grad
                if old is not None:
                    if id(old) in held or _can_add_into(old, gi):
                        old += gi  # in place, as PyTorch accumulates .grad
                    else:
                        parent.grad = old + gi
                    continue
                if slots:
                    slot = getattr(parent, "_slot", None)
                    # A flattened parameter: its view of the flat gradients (unless its
                    # data was since rebound to another shape or dtype, e.g. by .double()).
                    if slot is not None and slot.dtype == gi.dtype and slot.shape == gi.shape:
                        np.copyto(slot, gi)
                        held.add(id(slot))
                        parent.grad = slot
                        continue
                # Copy only what may alias another gradient or a saved array.
                if (
                    gi is g
                    or gi.base is not None
                    or id(gi) in held
                    or (
                        len(results) > 1
                        and (
                            results[0] is results[1]
                            if len(results) == 2
                            else _repeated(gi, results)
                        )
                    )
                ):
                    gi = gi.copy()
                held.add(id(gi))
                parent.grad = gi
                continue
            if child is following:
                following_g = following_g + gi
            else:
                previous = grads.get(child) if grads else None
                if previous is not None:
                    grads[child] = previous + gi
                elif following is None and not pending:
                    following, following_g = child, gi
                else:
                    if following is not None:
                        grads[following] = following_g
                        heappush(pending, (-following.seq, following))
                        following = None
                    grads[child] = gi
                    heappush(pending, (-child.seq, child))
            if parent._retains_grad:
                retained[child] = parent
        if emit is not None:
            event = BackwardEvent(node, g, tuple(sent) if sent is not None else ())
            for callback in emit:
                callback(event)
        if not retain_graph:
            node.inputs = None
            node.args = None
            node.out = None


def _unbroadcast_for(node: Node, position: int, grad: np.ndarray, shape: tuple) -> np.ndarray:
    """``unbroadcast`` with an error that names the op whose VJP returned ``grad``."""
    try:
        # a sum down to shape () gives a NumPy scalar: leaves hold arrays
        return np.asarray(unbroadcast(grad, shape))
    except ValueError as error:
        raise RuntimeError(
            f"op '{node.op.name}' returned a gradient of shape {grad.shape} for its "
            f"argument {position} of shape {shape}: {error}"
        ) from None


def _repeated(array: np.ndarray, results: tuple) -> bool:
    """Whether a VJP returned ``array`` for more than one argument."""
    if len(results) == 2:
        return results[0] is results[1]
    count = 0
    for r in results:
        if r is array:
            count += 1
    return count > 1


def _can_add_into(grad: Any, increment: np.ndarray) -> bool:
    """Whether a leaf's existing ``grad`` (not stored by this walk: set by the user or an
    earlier backward) can take ``increment`` in place; if not, ``grad + increment``
    replaces it. Arrays stored by the walk itself are known to qualify."""
    return (
        grad.__class__ is np.ndarray
        and grad.shape == increment.shape
        and grad.dtype == increment.dtype
        and grad.flags.writeable
    )
