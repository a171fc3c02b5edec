"""``cr.compile``: trace a training step once, then replay it as a flat list of NumPy calls.

The first call for an input signature (shapes, dtypes, the train/eval mode of the
modules ``fn`` uses, grad mode, the default dtype) runs ``fn`` eagerly while the op
registry reports every op call (``registry.tracing.hook``), including calls on
tensors that need no gradient, so nothing computed from the inputs is baked in as a
constant. From that record a Python function is generated whose body is the
forward (``v3 = F3(v1, c2)``), the backward in the engine's order (reverse creation
order, gradients summed in the order the engine sums them, broadcasting undone on
axes found once) and nothing else: no Tensor, no Node, no dict lookup per op.
Results are bit-identical to eager ``fn(...).backward()``.

The everyday ops (arithmetic, matrix products, sums and means, sigmoid, tanh, relu,
linear, plain cross-entropy) are written out inline by ``kernels.py`` with their
ops' own NumPy calls, in their order: no call to the VJP function, no gradient
nothing needs (an input's), no work on values that depend only on constants (the
loss's seed times 0.5 is computed once, at trace time), and a parameter's last
product written straight into its gradient buffer (``out=``). Each kernel is
checked bit for bit against its op on the traced call; a kernel that differs is
not used (the op's functions are called instead).

With an optimizer the gradients of its parameters land in one flat buffer per
parameter group, and the update is the optimizer's own ``_update`` (the plain maths
of ``optim/functional.py``) called once on flat views; its state arrays
(``exp_avg``, ``momentum_buffer``, ...) become views of flat buffers that
``optimizer.state`` keeps showing, ``step`` is counted in it, and the learning rate
is read from ``param_groups`` at every step, so schedulers work.

Memory (issue #11): the trace lets go of the values no VJP reads (a deep network's
pre-activations) as it records, so it holds less than the eager graph; the flat buffers
are made once the traced graph is gone and the heap's free pages handed back; the
update runs on slices of them; and forward values whose last read comes before their
gradient slice is written live in the flat gradient buffer meanwhile. On W-deep a
compiled run allocates less at its peak than the eager one (tracemalloc: 3.1 vs 3.6
MB). For its peak RSS, what the allocators keep counts too: the trace leaves no
reference cycles behind, the flat buffers are filled with the old arrays' pages handed
back as they go, the code is compiled 100 lines at a time and the update's temporaries
are 64 KiB, so W-deep's compiled run peaks 0.4-0.5 MiB below eager (it was 0.1 above).

Like ``jax.jit``, Python control flow runs once, at trace time: a branch on a value
is frozen. Reading a traced value while tracing (``.item()``, ``float()``,
``bool()``, ``int()``, ``.numpy()``, ``.tolist()``) raises :class:`CompileError`
naming it. Values read through ``.data`` cannot be seen and are frozen too.
"""

from __future__ import annotations

import builtins
import dis
import inspect
import itertools
import re
import sys
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from . import allocator, engine, kernels
from .dtypes import get_default_dtype, promote
from .engine import grad_mode, no_grad
from .registry import tracing
from .tensor import Tensor

__all__ = ["CompileError", "Compiled", "compile"]


class CompileError(RuntimeError):
    """``fn`` does something a trace cannot replay (a value read while tracing, ...)."""


# -- finding the modules whose train/eval mode is part of the signature ---------------
def _is_module(obj: Any) -> bool:
    return hasattr(obj, "training") and callable(getattr(obj, "modules", None))


def _find_modules(fn: Any) -> list[Any]:
    """The modules ``fn`` can reach: itself, its closure, the globals it names, a bound self."""
    found: list[Any] = []
    candidates: list[Any] = [fn, getattr(fn, "__self__", None)]
    code = getattr(fn, "__code__", None)
    if code is not None:
        for cell in getattr(fn, "__closure__", None) or ():
            try:
                candidates.append(cell.cell_contents)
            except ValueError:  # an empty cell
                continue
        names = set(code.co_names)
        for const in code.co_consts:  # nested lambdas and comprehensions
            if inspect.iscode(const):
                names.update(const.co_names)
        namespace = getattr(fn, "__globals__", {})
        candidates.extend(namespace[name] for name in names if name in namespace)
    seen: set[int] = set()
    for obj in candidates:
        if obj is not None and _is_module(obj):
            for module in obj.modules():
                if id(module) not in seen:
                    seen.add(id(module))
                    found.append(module)
    return found


# -- tracing -------------------------------------------------------------------------
_VALUE_READS = ("item", "numpy", "tolist", "__float__", "__int__", "__bool__")
# Tensor methods that make a tensor outside the op registry (no gradient): while
# tracing they are recorded too, so that the replay recomputes them.
_PLAIN_METHODS = (
    "__eq__",
    "__ne__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "argmax",
    "argmin",
    "any",
    "all",
    "long",
)


class _PlainOp:
    """A Tensor method recorded like an op: its forward calls the method on fresh tensors."""

    promote = None
    promote_from = 0
    vjp = None
    wants_needs = False

    def __init__(self, name: str, method: Callable, tensor_positions: tuple[int, ...]) -> None:
        self.name = name

        def forward(*arrays: Any, **kwargs: Any) -> np.ndarray:
            args = [Tensor(a) if i in tensor_positions else a for i, a in enumerate(arrays)]
            return method(*args, **kwargs).data

        self.forward = forward


class _Record:
    __slots__ = ("args", "arrays", "kwargs", "op", "result")

    def __init__(self, op, args, arrays, kwargs, result):
        self.op, self.args, self.arrays, self.kwargs, self.result = (
            op,
            args,
            arrays,
            kwargs,
            result,
        )


class _Trace:
    """Records every op call between ``__enter__`` and ``__exit__``."""

    def __init__(self, inputs: list[Tensor], on_record: Callable[[int], None]) -> None:
        self.records: list[_Record | None] = []
        self.traced: set[int] = {id(t) for t in inputs}
        self.saved: dict[str, Any] = {}
        self.on_record = on_record  # called with each new record's index

    def hook(self, op, args, arrays, kwargs, result) -> None:
        # the list the registry gave the graph node (node.args): a let-go value is
        # replaced there once for both
        arrays = arrays if arrays.__class__ is list else list(arrays)
        self.records.append(_Record(op, args, arrays, kwargs, result))
        self.traced.add(id(result))
        self.on_record(len(self.records) - 1)

    def _recorded(self, name: str, method: Callable) -> Callable:
        traced = self.traced

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            if isinstance(result, Tensor) and any(
                isinstance(a, Tensor) and id(a) in traced for a in args
            ):
                positions = tuple(i for i, a in enumerate(args) if isinstance(a, Tensor))
                arrays = [a.data if isinstance(a, Tensor) else a for a in args]
                self.hook(_PlainOp(name, method, positions), args, arrays, kwargs, result)
            return result

        return call

    def __enter__(self) -> _Trace:
        if tracing.hook is not None:
            raise CompileError("cr.compile: a compiled function was called while tracing another")
        traced = self.traced
        for name in _VALUE_READS:
            original = getattr(Tensor, name)
            self.saved[name] = original
            setattr(Tensor, name, _guarded(name, original, traced))
        for name in _PLAIN_METHODS:
            original = getattr(Tensor, name)
            self.saved[name] = original
            setattr(Tensor, name, self._recorded(name, original))
        tracing.hook = self.hook
        return self

    def __exit__(self, *exc: object) -> None:
        tracing.hook = None
        for name, original in self.saved.items():
            setattr(Tensor, name, original)


def _guarded(name: str, original: Callable, traced: set[int]) -> Callable:
    shown = {"__float__": "float(tensor)", "__int__": "int(tensor)", "__bool__": "bool(tensor)"}
    label = shown.get(name, f"tensor.{name}()")

    def read(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        if id(self) in traced:
            raise CompileError(
                f"cr.compile: {label} read the value of a traced tensor of shape "
                f"{self.data.shape} while tracing; a compiled function runs its Python once, "
                "so control flow or numbers that depend on values would be frozen at the "
                "first call's values. Compute it with tensor ops, or call the function "
                "uncompiled"
            )
        return original(self, *args, **kwargs)

    return read


# -- code generation -------------------------------------------------------------------
def _unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """The engine's own ``unbroadcast`` (its axes, its one reduction): the same bits."""
    return np.asarray(engine.unbroadcast(grad, shape))


def _store(leaf: Tensor, gi: np.ndarray, g: np.ndarray, stored: set) -> None:
    """The engine's store into a leaf's ``.grad``, copying what may alias another gradient."""
    if gi is g or gi.base is not None or id(gi) in stored:
        gi = gi.copy()
    stored.add(id(gi))
    leaf.grad = gi if leaf.grad is None else leaf.grad + gi


def _broadcast_back(grad: np.ndarray, shape: tuple) -> np.ndarray:
    return np.broadcast_to(grad, shape).copy()


class _Builder:
    """Turns a trace into the source of one function and the namespace it runs in."""

    def __init__(self) -> None:
        self.names: dict[str, Any] = {
            "_asarray": np.asarray,
            "_promote": promote,
            "_unbroadcast": _unbroadcast,
            "_store": _store,
            "_copyto": np.copyto,
            "_add": np.add,
            "_broadcast_back": _broadcast_back,
        }
        self.lines: list[str] = []
        self._ids: dict[int, str] = {}
        self.source = ""  # what build() compiled, for reading
        # (name, group index, start, shape): forward values written into a flat gradient
        # buffer while it is free (see _alias_into_gradients)
        self.aliases: list[tuple[str, int, int, tuple]] = []

    def const(self, value: Any, prefix: str = "c") -> str:
        name = self._ids.get(id(value))
        if name is None or self.names.get(name) is not value:
            name = f"{prefix}{len(self.names)}"
            self.names[name] = value
            self._ids[id(value)] = name
        return name

    def emit(self, line: str) -> None:
        self.lines.append("    " + line)

    def build(self, params: str, name: str) -> Callable:
        # Names made now, not while tracing, and interned, so that the compiled code
        # shares them: made amid the trace's short-lived objects, the few that live on
        # would each keep one of the allocator's pools in memory.
        namespace = {sys.intern(_fresh(key)): value for key, value in self.names.items()}
        sources = _layout(self.lines, params, name)
        for part, source in sources.items():  # one at a time: one compiler peak at once
            exec(builtins.compile(source, f"<cr.compile {part}>", "exec"), namespace)
            if len(sources) > 1:  # and its pages handed back before the next one
                allocator.release_free()
        self.source = "\n".join(sources.values())
        # Taken out of the namespace that is its own globals (nothing calls it by name):
        # no cycle, so a replaced function goes at once, not at the next full collection.
        return namespace.pop(name)


def _fresh(text: str) -> str:
    """A new string object equal to ``text``."""
    return text[:1] + text[1:]


_ASSIGNED = re.compile(r"    ([A-Za-z_]\w*) *(?:=|\+=|-=|\*=|/=) ")
_NAME_READ = re.compile(r"(?<![.\w])[A-Za-z_]\w*")
# Python's compiler needs ~4.5 KB per line at its peak: a long replay is compiled in
# parts of this many lines, one after the other, so that peak stays small (at 200
# lines, compiling a part of W-deep's backward peaked higher than its replay does).
_PART_LINES = 100


def _is_plain(lines: list[str]) -> bool:
    """Whether every line is one simple statement at the body's indent, without strings."""
    return not any(
        not line.startswith("    ")
        or line[4] == " "
        or line.endswith(":")
        or "'" in line
        or '"' in line
        for line in lines
    )


def _last_uses(lines: list[str]) -> tuple[set[str], dict[str, int]]:
    """The locals the lines assign, and the index of the last line naming each."""
    local_names = set()
    for line in lines:
        match = _ASSIGNED.match(line)
        if match:
            local_names.add(match.group(1))
    last_use: dict[str, int] = {}
    for i, line in enumerate(lines):
        for word in _NAME_READ.findall(line):
            if word in local_names:
                last_use[word] = i
    return local_names, last_use


def _with_frees(lines: list[str], first: int, last_use: dict[str, int]) -> list[str]:
    """``lines`` (from index ``first`` of the whole) with a ``del`` of each local right
    after the line that uses it last."""
    frees: dict[int, list[str]] = {}
    for word, i in last_use.items():
        if first <= i < first + len(lines) and not lines[i - first].startswith("    return"):
            frees.setdefault(i, []).append(word)
    out = []
    for i, line in enumerate(lines, first):
        out.append(line)
        if i in frees:
            out.append(f"    del {', '.join(sorted(frees[i]))}")
    return out


def _layout(lines: list[str], params: str, name: str) -> dict[str, str]:
    """The sources to compile, by function name; ``name`` is the one to call.

    Eager backward frees each saved forward value once its node is done; a function
    holds its locals until it returns unless told otherwise, so each local is deleted
    after its last use (else a deep network's compiled step would peak higher than its
    eager step). A long body is cut into parts that hand their live locals on.
    """
    if not lines or not _is_plain(lines):
        body = lines or ["    pass"]
        return {name: f"def {name}({params}):\n" + "\n".join(body) + "\n"}
    local_names, last_use = _last_uses(lines)
    if len(lines) <= _PART_LINES:
        body = _with_frees(lines, 0, last_use)
        return {name: f"def {name}({params}):\n" + "\n".join(body) + "\n"}
    sources: dict[str, str] = {}
    calls: list[str] = []
    live: list[str] = []  # the locals handed from one part to the next
    assigned: set[str] = set()
    for first in range(0, len(lines), _PART_LINES):
        chunk = lines[first : first + _PART_LINES]
        end = first + len(chunk)
        for line in chunk:
            match = _ASSIGNED.match(line)
            if match:
                assigned.add(match.group(1))
        part = f"_{name}_part{len(calls)}"
        args = ", ".join(p for p in (params, *live) if p)
        body = _with_frees(chunk, first, last_use)
        call = f"{part}({', '.join(p for p in (params, '*s' if calls else '') if p)})"
        if end < len(lines):
            live = sorted(n for n in assigned & local_names if last_use[n] >= end)
            body.append(f"    return ({''.join(n + ', ' for n in live)})")
            calls.append(f"    s = {call}")
        else:
            calls.append(f"    return {call}")
        sources[part] = f"def {part}({args}):\n" + "\n".join(body) + "\n"
    sources[name] = f"def {name}({params}):\n" + "\n".join(calls) + "\n"
    return sources


def _kwargs_text(builder: _Builder, kwargs: dict) -> str:
    return f", **{builder.const(kwargs, 'k')}" if kwargs else ""


def _plain_linear(rec: _Record) -> bool:
    """A linear call on 2-D arrays that the replay can write out as ``x.dot(w.T) + b``."""
    if rec.op.name != "linear" or rec.kwargs or len(rec.arrays) not in (2, 3):
        return False
    x, w = rec.arrays[0], rec.arrays[1]
    b = rec.arrays[2] if len(rec.arrays) == 3 else None
    return (
        x.__class__ is np.ndarray
        and w.__class__ is np.ndarray
        and x.ndim == 2
        and w.ndim == 2
        and x.shape[1] == w.shape[1]
        and (b is None or (b.__class__ is np.ndarray and b.shape == (w.shape[0],)))
    )


class _Program:
    """One traced signature: the generated function and what it writes into."""

    __slots__ = ("_source", "n_outputs", "run")

    n_outputs: int
    run: Callable[..., tuple]
    _source: bytes

    @property
    def source(self) -> str:
        """The generated code, for reading (kept compressed: a deep network's is long)."""
        return zlib.decompress(self._source).decode()

    @source.setter
    def source(self, text: str) -> None:
        self._source = zlib.compress(text.encode(), 1)


def _write_program(
    fn: Callable,
    args: tuple,
    differentiate: bool,
    updater_for: Callable[[list[Tensor]], _Updater] | None,
) -> tuple[_Builder, str, tuple, _Updater | None, dict[int, np.ndarray]]:
    """Run ``fn`` once under the trace and write the replay's source into a builder.

    Also returns the traced gradients of the updater's parameters (by ``id``)."""
    inputs = [a for a in args if isinstance(a, Tensor)]
    for i, t in enumerate(args):
        if isinstance(t, Tensor) and t._node is not None and t.requires_grad:
            raise CompileError(
                f"cr.compile: argument {i} is the result of an earlier graph (it has a "
                "grad_fn); pass a leaf tensor or an array (detach() it first)"
            )
    builder = _Builder()
    slots: dict[int, str] = {}
    for i, arg in enumerate(args):
        if isinstance(arg, Tensor):
            builder.emit(f"x{i} = a{i}.data")
            slots[id(arg.data)] = f"x{i}"
        elif isinstance(arg, np.ndarray):
            slots[id(arg)] = f"a{i}"
    values = _values(builder)
    forward = _Forward(builder, values, slots)
    trace = _Trace(inputs, forward.write)
    forward.records, forward.traced = trace.records, trace.traced
    with trace:
        result = fn(*args)
    outputs = result if isinstance(result, tuple) else (result,)
    for i, out in enumerate(outputs):
        if not isinstance(out, Tensor):
            raise CompileError(
                f"cr.compile: fn must return a tensor or a tuple of tensors, got "
                f"{type(out).__name__} at position {i}"
            )
    producer, exprs = forward.producer, forward.exprs
    out_exprs = []
    for out in outputs:
        expr = slots.get(id(out.data))
        out_exprs.append(expr if expr is not None else builder.const(out.data))
    loss = outputs[0]
    this_call = tuple(out.data for out in outputs)
    updater = None
    grads: dict[int, np.ndarray] = {}
    if differentiate:
        if not loss.requires_grad:
            raise CompileError(
                "cr.compile: the loss does not require grad (no parameter or input with "
                "requires_grad=True reaches it); nothing to differentiate"
            )
        if loss.data.size != 1:
            raise CompileError(
                f"cr.compile: fn must return a single-element loss first, got shape {loss.shape}"
            )
        root = producer[id(loss)] if loss._node is not None else None
        reachable, leaves = _reachable(trace.records, producer, root, loss)
        updater = updater_for(leaves) if updater_for is not None else None
        backward = _Backward(builder, values, trace.records, exprs, producer, args, updater)
        backward.emit(root, reachable, loss)
        grads = backward.grads
        if updater is not None:
            _alias_into_gradients(builder, forward.outable, set(out_exprs), updater)
    builder.emit(f"return ({''.join(e + ', ' for e in out_exprs)})")
    params = ", ".join(f"a{i}" for i in range(len(args)))
    # The writers point back at themselves (a Val at its Values, the weak references'
    # callback at the _Forward): left to the cyclic collector, they and all they hold
    # (the builder's lines, traced values) would outlive this frame by many steps.
    values.saved.clear()
    forward.close()
    return builder, params, this_call, updater, grads


_GV = re.compile(r"\bGV\d+\b")
_V_NAME = re.compile(r"\bv\d+\b")
_VIEWED = re.compile(r"\b(v\d+)(?:\.T\b|\[)")
# What a line may do with a value living in a gradient buffer: read it in arithmetic or
# a product. Calls that may hand back the array itself or a view of it (a generic op
# or VJP, _asarray, _unbroadcast, .T, indexing, ...) could carry it past the moment the
# buffer is written, so a value used so is left alone.
_UNSAFE_USE = re.compile(
    r"\b[FBP]\d+\(|_store\(|_promote\(|_asarray\(|_expand_dims\(|_unbroadcast\(|"
    r"_broadcast_back\(|_spread\(|return\b|\.reshape\b|\.view\b|\.astype\b"
)


# Smaller values are left alone: they save little, and out= costs a small ufunc call
# more than its allocation does (W-tiny's step is a few microseconds).
_ALIAS_MIN_BYTES = 4096


def _alias_into_gradients(
    builder: _Builder,
    outable: dict[str, tuple[str, tuple, np.dtype]],
    outputs: set[str],
    updater: _Updater,
) -> None:
    """Write forward values into the flat gradient buffers while those are free.

    Between an update and the backward lines that write a parameter's gradient, its
    slice of the flat gradient buffer holds nothing anyone reads; a forward value read
    for the last time before then can live there (``v5 = _tanh(v4, out=AL5)``) instead
    of in memory of its own. A deep network's last activations fit in its first layers'
    gradients: the replay then peaks lower than the eager step, whose gradients are
    freed before its forward. Same ufunc, same bits (slices start on 64 bytes).
    """
    lines = builder.lines
    # Each parameter's slice of its group's buffer, named by its GV name; a slice the
    # code never writes (a gradient that never came) keeps its zeros: a name that is
    # never "first touched" marks it taken.
    gv_name = {id(value): name for name, value in builder.names.items() if name.startswith("GV")}
    ranges: dict[str, tuple[int, int, int]] = {}  # name -> group, start, stop
    for index, fg in enumerate(updater.groups):
        start = 0
        for view in fg.gviews:
            size = view.size
            ranges[gv_name.get(id(view), f"#{index}:{start}")] = (index, start, start + size)
            start += size
    first_touch: dict[str, int] = {}
    last_use: dict[str, int] = {}
    defined: dict[str, int] = {}
    unsafe: set[str] = set(outputs)
    for i, line in enumerate(lines):
        for gv in _GV.findall(line):
            first_touch.setdefault(gv, i)
        names = _V_NAME.findall(line)
        if not names:
            continue
        assigned = _ASSIGNED.match(line)
        target = assigned.group(1) if assigned else None
        if target in outable and target not in defined:
            defined[target] = i
        read = [n for n in names if n != target or line.count(n) > 1]
        for n in read:
            last_use[n] = i
        if read and (_UNSAFE_USE.search(line) or (assigned and line.endswith(f"= {read[0]}"))):
            unsafe.update(read)
        unsafe.update(_VIEWED.findall(line))  # a view of it taken here
    # group index -> taken [start, stop) element ranges (all aliases may be alive at once)
    taken: dict[int, list[tuple[int, int]]] = {}
    by_group: dict[int, list[tuple[int, int, str]]] = {}
    for name, (index, start, stop) in ranges.items():
        by_group.setdefault(index, []).append((start, stop, name))
    for group in by_group.values():
        group.sort()
    candidates = sorted(
        (n for n in outable if n in defined and n not in unsafe and n in last_use),
        key=lambda n: -last_use[n],
    )
    for name in candidates:
        expr_open, shape, dtype = outable[name]
        size = int(np.prod(shape))
        if size * dtype.itemsize < _ALIAS_MIN_BYTES:
            continue
        for index, fg in enumerate(updater.groups):
            if fg.dtype != dtype:
                continue
            slot = _free_slice(
                by_group.get(index, []),
                taken.setdefault(index, []),
                size,
                fg.dtype.itemsize,
                last_use[name],
                first_touch,
            )
            if slot is None:
                continue
            taken[index].append((slot, slot + size))
            alias = f"AL{name[1:]}"
            builder.names[alias] = None  # bound once the buffer exists (_trace_program)
            builder.aliases.append((alias, index, slot, shape))
            lines[defined[name]] = f"    {name} = {expr_open}, out={alias})"
            break


def _free_slice(
    layout: list[tuple[int, int, str]],
    taken: list[tuple[int, int]],
    size: int,
    itemsize: int,
    last_use: int,
    first_touch: dict[str, int],
) -> int | None:
    """The first start (64-byte aligned) of ``size`` elements of a group's gradient
    buffer that no line touches as a gradient up to ``last_use`` and no alias holds."""
    step = max(1, 64 // itemsize)
    total = layout[-1][1] if layout else 0
    start = 0
    while start + size <= total:
        stop = start + size
        clash = next((b for a, b in taken if a < stop and start < b), None)
        if clash is None:
            clash = next(
                (
                    b
                    for a, b, gv in layout
                    if a < stop and start < b and first_touch.get(gv, -1) <= last_use
                ),
                None,
            )
        if clash is None:
            return start
        start = -(-clash // step) * step
    return None


class _Forward:
    """Writes each op's forward line as the trace records it, then lets go of the
    values the backward will never read.

    An eager graph keeps every op's inputs and output until backward; most VJPs read
    only some of them (tanh's reads its output, linear's its input and weight, not its
    output), so a deep network's pre-activations are kept for nothing. Here, once an
    op is written, an input whose consumer's VJP does not read it, produced by an op
    whose VJP does not read its output, is replaced in the trace and in the graph by
    a stand-in of its shape and dtype (a zero-stride array): the array goes as soon as
    ``fn`` drops it, and the trace peaks lower than the eager step. Which arguments a
    VJP reads is read off its bytecode (see :func:`_reads`).

    The lookups by ``id`` (``slots``, ``producer``) are dropped with the object, by
    weak reference, so that a new object with a freed one's id is not mistaken for it.
    """

    def __init__(self, builder: _Builder, values: kernels.Values, slots: dict[int, str]) -> None:
        self.b, self.values, self.slots = builder, values, slots
        self.inputs_end = len(builder.lines)  # checks of the inputs go here, before any op
        self.producer: dict[int, int] = {}  # id(result tensor) -> record index
        self.exprs: list[list[str]] = []  # per record: its (promoted) arguments' expressions
        # v-name -> (its call without the closing parenthesis, shape, dtype): forward
        # values a ufunc makes, which could be written into a given buffer (out=)
        self.outable: dict[str, tuple[str, tuple, np.dtype]] = {}
        self.records: list[_Record | None] = []
        self.traced: set[int] = set()
        self.proxies: dict[int, Tensor] = {}  # id(tensor let go) -> its stand-in tensor
        # id(weak reference) -> (it, the dict to forget in, the key): only values let go
        # can be freed while the trace runs (the trace holds the others)
        self.watched: dict[int, tuple[weakref.ref, dict, int]] = {}
        self._gone: Callable[[weakref.ref], None] | None = (
            self._forget
        )  # one bound method for all the weak references

    def write(self, k: int) -> None:
        rec = self.records[k]
        assert rec is not None
        self._emit(k, rec)
        self.slots[id(rec.result.data)] = f"v{k}"
        self.producer[id(rec.result)] = k
        if rec.op.vjp is not None and rec.result._node is not None:
            self._let_go(k, rec)

    def _emit(self, k: int, rec: _Record) -> None:
        builder, slots, producer = self.b, self.slots, self.producer
        arg_exprs, cast = [], False
        for i, arg in enumerate(rec.args):
            original = arg.data if isinstance(arg, Tensor) else arg
            expr = slots.get(id(original))
            if expr is None:
                if isinstance(arg, Tensor):
                    if arg._node is not None and arg.requires_grad and id(arg) not in producer:
                        raise CompileError(
                            f"cr.compile: op '{rec.op.name}' uses a tensor that an earlier "
                            "graph produced outside the compiled function; compute it inside "
                            "fn, or detach() it"
                        )
                    # Read at each replay: an array replaced in a parameter is followed.
                    expr = f"{builder.const(arg, 'L')}.data"
                else:
                    expr = builder.const(original)
            if rec.arrays[i] is not original:
                cast = True
            arg_exprs.append(expr)
        if not cast and _plain_linear(rec):
            # linear's forward without its argument checks (done at trace time)
            builder.emit(f"v{k} = {arg_exprs[0]}.dot({arg_exprs[1]}.T)")
            if len(arg_exprs) == 3 and rec.arrays[2] is not None:
                builder.emit(f"v{k} += {arg_exprs[2]}")
            self.exprs.append(arg_exprs)
            return
        if rec.op.name == "cross_entropy" and rec.kwargs.get("plain"):
            check = _plain_labels_check(builder, rec, arg_exprs[1])
            if re.fullmatch(r"[xa]\d+", arg_exprs[1]):  # labels given as an input
                builder.lines.insert(self.inputs_end, "    " + check)
            else:
                builder.emit(check)
        wrap = "_asarray(" if rec.result.data.ndim == 0 else ""
        if not cast:
            val = _forward_kernel(self.values, k, rec, arg_exprs)
            if val is not None:
                builder.emit(f"v{k} = {wrap}{val.expr}{')' if wrap else ''}")
                self.exprs.append(arg_exprs)
                value = val.value
                if not wrap and val.out is not None and value.__class__ is np.ndarray:
                    self.outable[f"v{k}"] = (val.out, value.shape, value.dtype)
                return
        kw = _kwargs_text(builder, rec.kwargs)
        forward = builder.const(rec.op.forward, "F")
        if cast:
            rule = repr(rec.op.promote)
            builder.emit(
                f"P{k} = _promote([{', '.join(arg_exprs)}], {rule}, {rec.op.promote_from})"
            )
            builder.emit(f"v{k} = {wrap}{forward}(*P{k}{kw}){')' if wrap else ''}")
            self.exprs.append([f"P{k}[{i}]" for i in range(len(arg_exprs))])
        else:
            close = ")" if wrap else ""
            builder.emit(f"v{k} = {wrap}{forward}({', '.join(arg_exprs)}{kw}){close}")
            self.exprs.append(arg_exprs)

    def close(self) -> None:
        """Drop the weak references and the tables (the code is written)."""
        self.watched.clear()
        self.proxies.clear()
        self._gone = None

    def _watch(self, tensor: Tensor) -> None:
        """Drop ``tensor``'s (and its array's) entries by id when it is freed."""
        for obj, table in ((tensor, self.producer), (tensor.data, self.slots)):
            ref = weakref.ref(obj, self._gone)
            self.watched[id(ref)] = (ref, table, id(obj))

    def _forget(self, ref: weakref.ref) -> None:
        _, table, key = self.watched.pop(id(ref))
        table.pop(key, None)
        if table is self.producer:
            self.proxies.pop(key, None)
            self.traced.discard(key)

    def _let_go(self, k: int, rec: _Record) -> None:
        op = rec.op
        for i, arg in enumerate(rec.args):
            if not (isinstance(arg, Tensor) and arg.requires_grad and arg._node is not None):
                continue
            p = self.producer.get(id(arg))
            if p is None:
                continue
            maker = self.records[p]
            proxy = self.proxies.get(id(arg))
            if (
                maker is None
                or maker.op.vjp is None
                or maker.result is not (arg if proxy is None else proxy)
            ):
                continue
            if _reads(op, 2 + i) or _reads(maker.op, 1):
                continue
            if proxy is None:  # the producer's own references: its record and node
                proxy = self.proxies[id(arg)] = _stand_in_tensor(arg)
                self.producer[id(proxy)] = p
                self._watch(arg)
                maker.result = proxy
                arg._node.out = proxy.data
            # rec.arrays is the node's args list too (see _Trace.hook)
            array = rec.arrays[i]
            rec.arrays[i] = proxy.data if array is arg.data else _stand_in(array)
            rec.args = tuple(proxy if a is arg else a for a in rec.args)
            inputs = rec.result._node.inputs
            for n, (j, t) in enumerate(inputs):
                if t is arg:
                    inputs[n] = (j, proxy)


def _stand_in(array: Any) -> Any:
    """A read-only zero-stride array of ``array``'s shape and dtype (no memory)."""
    if array.__class__ is not np.ndarray:
        return array
    zero = _ZEROS.get(array.dtype)
    if zero is None:
        zero = _ZEROS[array.dtype] = np.zeros((), array.dtype)
        zero.flags.writeable = False
    return np.broadcast_to(zero, array.shape)


_ZEROS: dict[np.dtype, np.ndarray] = {}


def _stand_in_tensor(tensor: Tensor) -> Tensor:
    """A tensor standing for ``tensor`` in the trace: its node and flags, no values."""
    proxy = Tensor.__new__(Tensor)
    proxy.data = _stand_in(tensor.data)
    proxy.grad = None
    proxy._retains_grad = False
    proxy.requires_grad = tensor.requires_grad
    proxy._node = tensor._node
    return proxy


_VJP_READS: dict[tuple[Any, int], bool] = {}


def _reads(op: Any, position: int) -> bool:
    """Whether ``op``'s VJP (or its kernel) may read its argument ``position`` (0: g,
    1: out, 2 on: the forward's arguments). Read off the bytecode: a parameter never
    loaded is not read; anything unclear (``*args``, a closure over it, no code) is."""
    kernel = kernels.VJP.get(op.name)
    functions = [(op.vjp, position)]
    if kernel is not None:
        functions.append((kernel, position + 1))  # kernels take V first
    return any(_function_reads(fn, at) for fn, at in functions)


def _function_reads(fn: Any, position: int) -> bool:
    key = (fn, position)
    known = _VJP_READS.get(key)
    if known is None:
        known = _VJP_READS[key] = _scan_reads(fn, position)
    return known


def _scan_reads(fn: Any, position: int) -> bool:
    code = getattr(fn, "__code__", None)
    if code is None or position >= code.co_argcount:
        return True
    name = code.co_varnames[position]
    if name in code.co_cellvars:
        return True
    return any(
        ins.argval == name and ins.opname.startswith(("LOAD_", "DELETE_"))
        for ins in dis.get_instructions(code)
    )


def _trace_program(
    fn: Callable,
    args: tuple,
    differentiate: bool,
    updater_for: Callable[[list[Tensor]], _Updater] | None,
) -> tuple[_Program, tuple, _Updater | None]:
    """Run ``fn`` once under the trace; return the program and this call's outputs."""
    builder, params, this_call, updater, grads = _write_program(
        fn, args, differentiate, updater_for
    )
    # The traced graph and the values used while writing the code went with
    # _write_program's frame. What comes next needs far less, and the heap it leaves
    # is full of holes: its free pages are handed back before the flat buffers are
    # made, before Python compiles the source (a large peak of its own for a deep
    # network) and after, so that each takes only the pages it uses and the replay
    # starts from what it keeps.
    allocator.release_free()
    if updater is not None:
        updater.materialize(grads, builder.names)
        for name, index, start, shape in builder.aliases:
            gflat = updater.groups[index].gflat
            builder.names[name] = gflat[start : start + int(np.prod(shape))].reshape(shape)
    del grads
    allocator.release_free()
    program = _Program()
    program.run = builder.build(params, "compiled_step")
    program.source = builder.source
    program.n_outputs = len(this_call)
    del builder
    allocator.release_free()
    return program, this_call, updater


def _plain_labels(target: np.ndarray, n_classes: int, ignore_index: int) -> None:
    """Raise unless this call's labels allow cross_entropy's traced plain path.

    cross_entropy picks its fast path from the labels' values (every label a class,
    none equal to ``ignore_index``); a trace freezes that choice, so each replay checks
    it again, before any op runs (``fit`` then goes on eagerly).
    """
    if (
        not target.size
        or target.min() < 0
        or target.max() >= n_classes
        or (0 <= ignore_index < n_classes and np.any(target == ignore_index))
    ):
        raise CompileError(
            "cr.compile: cross_entropy was traced on labels that were all classes "
            f"(0..{n_classes - 1}, none equal to ignore_index={ignore_index}); this call's "
            "labels are not, and the traced step would count them wrongly. Call the "
            "function uncompiled for such batches"
        )


def _plain_labels_check(builder: _Builder, rec: _Record, target: str) -> str:
    n_classes = rec.arrays[0].shape[1]
    ignore_index = int(rec.kwargs["ignore_index"])
    builder.names["_plain_labels"] = _plain_labels
    return f"_plain_labels({target}, {n_classes}, {ignore_index})"


def _values(builder: _Builder) -> kernels.Values:
    for name, function in kernels.FUNCTIONS.items():
        builder.names.setdefault(name, function)
    return kernels.Values(builder.const, builder.emit)


def _arg_vals(values: kernels.Values, rec: _Record, exprs: list[str]) -> list[kernels.Val]:
    """The arguments of a record as values; Python numbers are constants (folded)."""
    return [
        values.of(expr, array, array.__class__ is float or array.__class__ is int)
        for expr, array in zip(exprs, rec.arrays, strict=True)
    ]


def _forward_kernel(values: kernels.Values, k: int, rec: _Record, exprs: list[str]):
    """The op's forward written out (kernels.FORWARD), if it gives the traced bits."""
    kernel = kernels.FORWARD.get(rec.op.name)
    if kernel is None or len(exprs) != len(rec.arrays):
        return None
    args = _arg_vals(values, rec, exprs)
    values.record = k
    values.hold()
    try:
        val = kernel(values, *args, **rec.kwargs)
    except Exception:  # operands or options the kernel does not take: the op's own call
        val = None
    if val is not None and not val.const:
        value = val.value if rec.result.data.ndim else np.asarray(val.value)
        if kernels.same_bits(value, rec.result.data):
            values.release()
            return val
    values.drop()
    values.saved.pop(k, None)
    return None


def _reachable(records, producer, root, loss) -> tuple[set[int], list[Tensor]]:
    """The records the backward visits from ``root``, and the leaves it reaches."""
    if root is None:
        return set(), [loss]
    seen, stack, leaves, known = {root}, [root], [], set()
    while stack:
        for arg in records[stack.pop()].args:
            if not (isinstance(arg, Tensor) and arg.requires_grad):
                continue
            if arg._node is None:
                if id(arg) not in known:
                    known.add(id(arg))
                    leaves.append(arg)
                continue
            k = producer[id(arg)]
            if k not in seen:
                seen.add(k)
                stack.append(k)
    return seen, leaves


class _Backward:
    """Emits the backward pass, computing it once on the traced values to learn its shapes.

    Gradients are :class:`kernels.Val` objects: expression and traced value. Ops with
    a kernel are written out inline; the others call their VJP (``r{k} = B(...)``).
    """

    def __init__(self, builder, values, records, exprs, producer, inputs, updater) -> None:
        self.b, self.records, self.exprs, self.producer = builder, records, exprs, producer
        self.values = values
        self.inputs = {id(t): i for i, t in enumerate(inputs) if isinstance(t, Tensor)}
        self.updater = updater
        self.views = updater.views if updater is not None else {}  # by parameter
        self.stored: set[int] = set()  # the engine's alias set, for the traced call
        self.first_store: set[int] = set()
        self.stored_made = False
        # G-name -> (its line, the value it computes): a parameter's only gradient can
        # be computed straight into its buffer by rewriting that line.
        self.defined: dict[str, tuple[int, kernels.Val]] = {}
        self.contributions: dict[Tensor, int] = {}  # by the leaf itself: no int per key
        self.grads: dict[int, np.ndarray] = {}  # the traced gradients of flat parameters
        self.ones: dict[tuple, np.ndarray] = {}

    def emit(self, root: int | None, reachable: set[int], loss: Tensor) -> None:
        b = self.b
        seed = np.ones(loss.data.shape, loss.data.dtype)
        seed.flags.writeable = False
        g = self.values.of(b.const(seed), seed, True)
        if root is None:  # the loss is a leaf itself
            self._to_leaf(loss, g, g)
            return
        grads: dict[int, kernels.Val] = {root: g}
        for k in reachable:
            for a in self.records[k].args:
                if isinstance(a, Tensor) and a.requires_grad and a._node is None:
                    self.contributions[a] = self.contributions.get(a, 0) + 1
        for k in sorted(reachable, reverse=True):
            self._node(k, grads.pop(k), grads)
            self._release(k)

    def _release(self, k: int) -> None:
        """Let record ``k``'s traced values go once its VJP is written, as the engine
        frees a node once it is done: tracing a deep network then peaks no higher than
        its eager backward does. Nothing reads them again: the records still to come
        have lower numbers and use only their own arguments and results."""
        # G{k} can be looked up only by node k's own leaves (a gradient passed on as it
        # came), in _node(k).
        self.defined.pop(f"G{k}", None)
        self.values.saved.pop(k, None)
        node = self.records[k].result._node
        if node is not None:
            node.inputs = node.args = node.out = None
        self.records[k] = None

    def _node(self, k: int, g: kernels.Val, grads: dict[int, kernels.Val]) -> None:
        b, rec = self.b, self.records[k]
        op = rec.op
        positions = [i for i, a in enumerate(rec.args) if isinstance(a, Tensor) and a.requires_grad]
        kwargs = dict(rec.kwargs)
        kw = _kwargs_text(b, rec.kwargs)
        if op.wants_needs and len(positions) != len(rec.args):
            kwargs["needs"] = tuple(positions)
            kw = f", needs={kwargs['needs']!r}" + kw
        results = op.vjp(g.value, rec.result.data, *rec.arrays, **kwargs)
        single = results.__class__ is not tuple
        if single:
            results = (results,)
        grads_here = self._kernel_vjp(k, g, positions, results)
        if grads_here is None:
            vjp = b.const(op.vjp, "B")
            b.emit(f"r{k} = {vjp}({g.expr}, v{k}, {', '.join(self.exprs[k])}{kw})")
            grads_here = {
                p: self.values.of(f"r{k}" if single else f"r{k}[{p}]", results[p])
                for p in positions
                if results[p] is not None
            }
        for position in positions:
            gi = grads_here.get(position)
            if gi is None:
                continue
            parent = rec.args[position]
            gi = self._fix(gi, parent.data)
            if parent._node is not None:
                child = self.producer[id(parent)]
                previous = grads.get(child)
                total = gi if previous is None else previous + gi
                bound = self.values.bind(total, f"G{child}")
                if bound is not total:
                    self.defined[bound.expr] = (len(b.lines) - 1, total)
                grads[child] = bound
            else:
                self._to_leaf(parent, gi, g)

    def _kernel_vjp(self, k, g, positions, results) -> dict[int, kernels.Val | None] | None:
        """The VJP written out (kernels.VJP or 2-D linear), if it gives the traced bits."""
        rec = self.records[k]
        V = self.values
        if not positions:
            return None
        made: dict[int, kernels.Val | None] | None
        if _plain_linear(rec) and g.value.ndim == 2:
            made = self._linear_vjp(k, g, positions)
        else:
            kernel = kernels.VJP.get(rec.op.name)
            if kernel is None or len(self.exprs[k]) != len(rec.arrays):
                return None
            args = _arg_vals(V, rec, self.exprs[k])
            out = V.of(f"v{k}", rec.result.data)
            V.record = k
            V.hold()
            try:
                made = kernel(V, g, out, *args, needs=tuple(positions), **rec.kwargs)
            except Exception:  # operands or options it does not take: the op's own VJP
                made = None
        if made is not None and all(
            kernels.same_bits(
                _value_or_none(made.get(p)),
                results[p] if p < len(results) else None,
            )
            for p in positions
        ):
            V.release()
            return made
        V.drop()
        return None

    def _linear_vjp(self, k: int, g: kernels.Val, positions: list[int]) -> dict:
        """linear's VJP for 2-D operands (the same three products)."""
        V, rec = self.values, self.records[k]
        x = V.of(self.exprs[k][0], rec.arrays[0])
        w = V.of(self.exprs[k][1], rec.arrays[1])
        made = {}
        if 0 in positions:
            made[0] = g.method("dot", w, out_ok=True)
        if 1 in positions:
            made[1] = g.T.method("dot", x, out_ok=True)
        if 2 in positions and len(self.exprs[k]) == 3:
            # _batch_sum's ones-vector product, with one ones vector per length and dtype
            # for the whole program (read-only: a constant of the replay)
            key = (g.value.shape[0], g.value.dtype)
            ones = self.ones.get(key)
            if ones is None:
                ones = self.ones[key] = np.ones(key[0], dtype=key[1])
                ones.flags.writeable = False
            made[2] = V.of(self.b.const(ones, "ones"), ones, True).method("dot", g, out_ok=True)
        return made

    def _fix(self, gi: kernels.Val, data: np.ndarray) -> kernels.Val:
        """The engine's shape and dtype fixes, decided now, written as code."""
        V, value = self.values, gi.value
        if value.__class__ is not np.ndarray:
            gi = V.make(f"_asarray({gi.expr})", np.asarray(value), gi.const, None)
            value = gi.value
        shape = data.shape
        if value.shape != shape:
            lead = value.ndim - len(shape)
            if lead < 0:
                fixed = _broadcast_back(value, shape)
                gi = V.make(f"_broadcast_back({gi.expr}, {shape!r})", fixed, gi.const, None)
            else:
                try:
                    fixed = _unbroadcast(value, shape)
                except ValueError:
                    raise CompileError(
                        f"cr.compile: a gradient of shape {value.shape} cannot be summed down "
                        f"to {shape}"
                    ) from None
                expr = f"_unbroadcast({gi.expr}, {shape!r})"
                gi = V.make(expr, fixed, gi.const, None)
        if gi.value.dtype != data.dtype:
            expr = f"{gi.expr}.astype({self.b.const(data.dtype, 'd')})"
            gi = V.make(expr, gi.value.astype(data.dtype), gi.const, None)
        return gi

    def _to_leaf(self, leaf: Tensor, gi: kernels.Val, g: kernels.Val) -> None:
        b = self.b
        view = self.views.get(leaf)
        if view is not None:  # an optimizer's parameter: into its flat gradient buffer
            # (made after the backward, see _FlatGroup: until then the traced value is
            # summed here, as the engine sums it into .grad)
            name = b.const(view, "GV")
            if id(leaf) in self.first_store:
                b.emit(f"_add({name}, {gi.expr}, out={name})")
                traced = self.grads[id(leaf)]
                np.add(traced, gi.value, out=traced)
                return
            self.first_store.add(id(leaf))
            defined = self.defined.get(gi.expr)
            if _fits(gi, view):
                b.emit(gi.into(name))  # the last operation writes straight into the buffer
            elif (
                defined is not None
                and self.contributions.get(leaf) == 1
                and _fits(defined[1], view)
                and b.lines[defined[0]] == f"    {gi.expr} = {defined[1].expr}"
            ):
                # The parameter's only gradient, also read further down: computed into
                # its buffer (nothing writes there again before the update) and named.
                b.lines[defined[0]] = f"    {gi.expr} = {defined[1].into(name)}"
            else:
                b.emit(f"_copyto({name}, {gi.expr})")
            traced = self.grads[id(leaf)] = np.empty(view.shape, view.dtype)
            np.copyto(traced, gi.value)
            return
        index = self.inputs.get(id(leaf))
        target = f"a{index}" if index is not None else b.const(leaf, "L")
        if not self.stored_made:
            self.stored_made = True
            b.lines.insert(0, "    stored = set()")
        # A folded constant is shared between calls: .grad gets a copy of it.
        expr = f"{gi.expr}.copy()" if gi.const else gi.expr
        b.emit(f"_store({target}, {expr}, {g.expr}, stored)")
        _store(leaf, gi.value.copy() if gi.const else gi.value, g.value, self.stored)


def _value_or_none(val: kernels.Val | None) -> Any:
    return None if val is None else val.value


def _fits(val: kernels.Val, view: np.ndarray) -> bool:
    """Whether ``val``'s last operation can write into ``view`` (``out=``) as it is."""
    return (
        val.out is not None
        and val.value.__class__ is np.ndarray
        and val.value.shape == view.shape
        and val.value.dtype == view.dtype
    )


# -- the optimizer update on flat buffers ----------------------------------------------
def _byte_start(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]


def _shared_flat(datas: list[np.ndarray]) -> np.ndarray | None:
    """One 1-D view over ``datas`` if they already lie back to back in one buffer."""
    base = datas[0].base
    if (
        not isinstance(base, np.ndarray)
        or not base.flags.c_contiguous
        or base.dtype != datas[0].dtype
    ):
        return None
    expected = _byte_start(datas[0])
    for data in datas:
        if data.base is not base or not data.flags.c_contiguous or _byte_start(data) != expected:
            return None
        expected += data.nbytes
    offset = (_byte_start(datas[0]) - _byte_start(base)) // base.itemsize
    return base.reshape(-1)[offset : offset + sum(d.size for d in datas)]


class _GradSlot:
    """What the generated code names for a parameter's gradient view until the flat
    buffer exists: its shape, size and dtype (one small object, where a zero-stride
    array costs three while the trace peaks)."""

    __slots__ = ("dtype", "shape", "size")

    def __init__(self, data: np.ndarray) -> None:
        self.shape, self.size, self.dtype = data.shape, data.size, data.dtype


class _FlatGroup:
    """One parameter group's parameters with gradients: flat gradient, parameters, state.

    The flat buffers are made by :meth:`materialize`, once the trace's backward is
    written and its graph gone: until then ``gviews`` are :class:`_GradSlot` stand-ins
    of the right shapes and dtype (the generated code names them;
    :meth:`_Updater.materialize` swaps in the real views). Made earlier, the buffers
    and the parameters' old arrays would sit on top of the whole traced graph, and the
    trace would peak higher than an eager step does.
    """

    def __init__(self, index: int, params: list[Tensor]) -> None:
        self.index = index
        self.params = params
        self.dtype = params[0].data.dtype
        # the shapes and sizes are read off gviews (stand-ins, then views): no lists of
        # them per parameter
        self.gviews: list[Any] = [_GradSlot(p.data) for p in params]
        self.size = sum(view.size for view in self.gviews)
        self.materialized = False
        self.shared = False
        self.gflat = self.pflat = np.empty(0, self.dtype)
        self.pviews: list[np.ndarray] = []
        self.pairs: list[tuple[Tensor, np.ndarray]] = []  # read at every step
        self.states: list[dict] = []
        self.flat_state: dict[str, np.ndarray] = {}
        self.probe: tuple | None = None
        self.ready = False

    def materialize(self, grads: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        """Make the flat buffers and fill the gradient buffer from ``grads`` (by
        ``id(param)``, each popped as it is copied, so it can go); return
        ``{id(stand-in): view}`` for the stand-ins replaced."""
        if self.materialized:
            for p, view in zip(self.params, self.gviews, strict=True):
                _fill(view, grads.pop(id(p), None))
            return {}
        self.materialized = True
        self.gflat = np.empty(self.size, self.dtype)
        swapped = {}
        gviews = self._views(self.gflat)
        moved = _Moved()
        for p, stand_in, view in zip(self.params, self.gviews, gviews, strict=True):
            _fill(view, grads.pop(id(p), None))
            swapped[id(stand_in)] = view
            moved.add(view.nbytes)
        self.gviews = gviews
        allocator.release_free()  # the traced gradients' pages, before the next buffer
        datas = [p.data for p in self.params]
        shared = _shared_flat(datas)
        movable = all(d.base is None and d.flags.c_contiguous for d in datas)
        del datas  # so that each old array goes as its parameter moves
        # Parameters that own their arrays move into one flat buffer (``p.data`` becomes
        # a view of it): the update then runs on it in place, with no gather or scatter.
        self.shared = shared is not None or movable
        self.pflat = shared if shared is not None else np.empty(self.size, self.dtype)
        self.pviews = self._views(self.pflat)
        self.pairs = list(zip(self.params, self.pviews, strict=True))
        if shared is None and movable:
            moved = _Moved()
            for p, view in self.pairs:
                np.copyto(view, p.data)
                p.data = view
                moved.add(view.nbytes)
        return swapped

    def take(self, param: Tensor, view: np.ndarray) -> None:
        """Copy a parameter's new array into the flat buffer and point it back there."""
        if param.data.shape != view.shape:
            raise CompileError(
                f"cr.compile: a parameter of shape {view.shape} was given an array of shape "
                f"{param.data.shape} between compiled steps; call .clear() on the compiled step"
            )
        np.copyto(view, param.data)
        param.data = view

    def adopt_new(self) -> None:
        for name, flat in self.flat_state.items():
            if isinstance(flat, np.ndarray) and name not in self.states[0]:
                for st, view in zip(self.states, self._views(flat), strict=True):
                    st[name] = view

    def _views(self, flat: np.ndarray) -> list[np.ndarray]:
        views, offset = [], 0
        for like in self.gviews:
            size = like.size
            views.append(flat[offset : offset + size].reshape(like.shape))
            offset += size
        return views

    def adopt(self, state: dict) -> bool:
        """Move the parameters' state arrays into flat buffers (``state[p][name]`` views)."""
        if any(p not in state for p in self.params):
            return False
        states: list[dict] = [state[p] for p in self.params]
        if any(st.keys() != states[0].keys() for st in states):
            return False
        if any(st.get("step") != states[0].get("step") for st in states):
            return False
        self.flat_state = {}
        for name, value in states[0].items():
            if name == "step" or value is None:
                continue
            if not isinstance(value, np.ndarray):
                return False
            values = [st[name] for st in states]
            if any(
                not isinstance(v, np.ndarray) or v.shape != p.data.shape
                for v, p in zip(values, self.params, strict=True)
            ):
                return False
            flat = np.concatenate(values, axis=None, dtype=self.gflat.dtype)
            for st, view in zip(states, self._views(flat), strict=True):
                st[name] = view
            self.flat_state[name] = flat
        self.states = states
        # One entry, checked at each step: an eager step in between may have moved the
        # state into the optimizer's own flat buffers.
        # The optimizer's own entry for the first parameter is checked too: a cleared or
        # replaced ``opt.state`` (``opt.state.clear()``) starts the state afresh, as eager.
        self.probe = next(
            ((state, self.params[0], states[0], name, states[0][name]) for name in self.flat_state),
            None,
        )
        self.ready = True
        return True


class _Updater:
    """The optimizer's step over flat buffers (see the module doc), or its own step."""

    def __init__(self, optimizer: Any, params: list[Tensor]) -> None:
        self.optimizer = optimizer
        wanted = {id(p) for p in params}
        self.groups: list[_FlatGroup] = []
        self.order: list[Tensor] = []  # the optimizer's parameters that get gradients
        seen: set[int] = set()
        flat = hasattr(optimizer, "_update") and hasattr(optimizer, "state")
        for index, group in enumerate(optimizer.param_groups):
            members = [p for p in group["params"] if id(p) in wanted]
            if not members:
                continue
            if any(id(p) in seen for p in members) or len({d.data.dtype for d in members}) > 1:
                flat = False  # tied or mixed parameters: the optimizer's own step
            seen.update(id(p) for p in members)
            fg = _FlatGroup(index, members)
            self.groups.append(fg)
            self.order.extend(members)
        self._grads = self._in_order()
        self.flat = flat and _no_overlap([p.data for p in self.order])
        # The built-in optimizers' maths is elementwise: their update runs on slices of
        # the flat buffers with the same bits (a user's own _update or _apply may not).
        self.chunked = all(
            getattr(getattr(type(optimizer), name, None), "__module__", "").startswith(
                "chainrule.optim."
            )
            for name in ("_update", "_apply")
        )
        self.state_obj = None
        self.groups_obj = None
        self.ready = False

    def materialize(self, grads: dict[int, np.ndarray], names: dict[str, Any]) -> None:
        """Make the groups' flat buffers (once), copy the traced gradients in (``grads``,
        by ``id(param)``, is emptied as it goes) and put the gradient views in place of
        their stand-ins in the generated code's ``names``."""
        stand_ins: dict[int, np.ndarray] = {}
        for fg in self.groups:
            stand_ins.update(fg.materialize(grads))
        self._grads = self._in_order()
        if stand_ins:
            for name, value in names.items():
                real = stand_ins.get(id(value))
                if real is not None:
                    names[name] = real

    @property
    def views(self) -> dict[Tensor, Any]:
        """Each parameter's gradient view (a :class:`_GradSlot` until the buffer is
        made), for a trace: made as read, and keyed by the parameter itself (a
        tensor hashes by identity), so that no int per parameter is kept."""
        views: dict[Tensor, Any] = {}
        for fg in self.groups:
            for p, view in zip(fg.params, fg.gviews, strict=True):
                views.setdefault(p, view)
        return views

    def _in_order(self) -> list[Any]:
        views = self.views
        return [views[p] for p in self.order]

    def grads(self) -> list[np.ndarray]:
        return list(self._grads)

    def step(self) -> None:
        opt = self.optimizer
        if not self.flat:
            return self._eager_step()
        if opt.state is not self.state_obj or opt.param_groups is not self.groups_obj:
            self._rebuild()
        if not self.ready:
            return self._eager_step()
        has_step = opt._has_step
        param_groups = opt.param_groups
        update = opt._update
        for fg in self.groups:
            probe = fg.probe
            if probe is not None and (
                probe[0].get(probe[1]) is not probe[2] or probe[2].get(probe[3]) is not probe[4]
            ):
                self._rebuild()
                if not self.ready:
                    return self._eager_step()
            step = 0
            if has_step:
                states = fg.states
                step = states[0]["step"] + 1
                for st in states:
                    st["step"] = step
            if fg.shared:
                for p, view in fg.pairs:
                    if p.data is not view:  # a parameter got a new array: take it in
                        fg.take(p, view)
            else:
                np.concatenate([p.data for p, _ in fg.pairs], axis=None, out=fg.pflat)
            flat_state = fg.flat_state
            n_state = len(flat_state)
            if self.chunked and _update_slices(fg.pflat.size) > 1:
                _update_in_chunks(update, param_groups[fg.index], fg, step)
            else:
                update(param_groups[fg.index], fg.pflat, fg.gflat, flat_state, step)
            if len(flat_state) != n_state:  # the update made a new state array
                fg.adopt_new()
            if not fg.shared:
                for p, view in fg.pairs:
                    np.copyto(p.data, view)
        return None

    def flat_arrays(self) -> list[np.ndarray] | None:
        """What the next :meth:`step` writes, when it runs on the flat buffers alone.

        Each group's parameters and state buffers (the ``step`` counts aside); None
        when the step would take another way (the optimizer's own step, a rebuild, a
        parameter given a new array), which may write elsewhere.
        """
        opt = self.optimizer
        if (
            not (self.flat and self.ready)
            or opt.state is not self.state_obj
            or opt.param_groups is not self.groups_obj
        ):
            return None
        arrays = []
        for fg in self.groups:  # plain loops: this runs before every step of fit
            probe = fg.probe
            if not fg.shared or (
                probe is not None
                and (
                    probe[0].get(probe[1]) is not probe[2] or probe[2].get(probe[3]) is not probe[4]
                )
            ):
                return None
            for p, view in fg.pairs:
                if p.data is not view:
                    return None
            arrays.append(fg.pflat)
            arrays.extend(fg.flat_state.values())
        return arrays

    def counts(self) -> list[tuple[Any, dict]]:
        """Per group: its ``step`` count and its state's names (to undo a step)."""
        return [
            (fg.states[0].get("step") if fg.states else None, dict.fromkeys(fg.flat_state))
            for fg in self.groups
        ]

    def restore_counts(self, counts: list[tuple[Any, dict]]) -> None:
        """Put back the ``step`` counts and forget state a step created."""
        for fg, (step, names) in zip(self.groups, counts, strict=True):
            for name in [n for n in fg.flat_state if n not in names]:
                del fg.flat_state[name]
                for st in fg.states:
                    st.pop(name, None)
            if step is not None:
                for st in fg.states:
                    st["step"] = step

    def _rebuild(self) -> None:
        opt = self.optimizer
        self.state_obj, self.groups_obj = opt.state, opt.param_groups
        self.ready = all(fg.adopt(opt.state) for fg in self.groups)

    def _eager_step(self) -> None:
        """The optimizer's own step on the gradients (first step: it creates the state)."""
        opt = self.optimizer
        for p, view in zip(self.order, self._grads, strict=True):
            p.grad = view
        try:
            opt.step()
        finally:
            for p in self.order:
                p.grad = None
        if self.flat:
            self._rebuild()


# Elements per call of an elementwise update on flat buffers: its temporaries
# (``grad * lr``, Adam's ``exp_avg_sq.sqrt()``, ...) are then about 64 KiB of
# float32, which fit in the memory the step's activations left, where one
# temporary of a whole large model does not (and would add to the peak). At 256 KiB
# they did not fit among W-deep's freed 8 KB activations: each update took 0.25 MiB
# of fresh pages, a quarter of the compiled step's peak above what it keeps.
_UPDATE_CHUNK = 1 << 14
# At most this many slices: each costs a round of the update's NumPy calls (Adam
# makes twelve), and a large model's activations leave room for larger slices.
_UPDATE_MAX_SLICES = 32


def _update_slices(size: int) -> int:
    """How many equal slices an update of ``size`` elements is made in: slices of
    about ``_UPDATE_CHUNK`` (none under half of it: a model just above one chunk, like
    W-small's 17k parameters, is one call), at most ``_UPDATE_MAX_SLICES``."""
    return max(1, min(round(size / _UPDATE_CHUNK), _UPDATE_MAX_SLICES))


def _update_in_chunks(update: Callable, group: Any, fg: _FlatGroup, step: int) -> None:
    """``update(group, pflat, gflat, flat_state, step)`` slice by slice, same bits.

    A state entry the update replaces is copied back into its flat buffer; one it
    makes is gathered from the slices into a new flat buffer."""
    flat_state = fg.flat_state
    made: dict[str, list[Any]] = {}
    size = fg.pflat.size
    chunk = -(-size // _update_slices(size))
    for start in range(0, size, chunk):
        end = start + chunk
        given = {name: buf[start:end] for name, buf in flat_state.items()}
        part = dict(given)
        update(group, fg.pflat[start:end], fg.gflat[start:end], part, step)
        for name, value in part.items():
            view = given.get(name)
            if view is None:
                made.setdefault(name, []).append(value)
            elif value is not view:
                np.copyto(view, value)
    for name, pieces in made.items():
        arrays = all(isinstance(v, np.ndarray) and v.ndim == 1 for v in pieces)
        flat_state[name] = np.concatenate(pieces) if arrays else pieces[0]


# Bytes copied into a new flat buffer between two hand-backs of the old arrays' pages.
_MOVE_RELEASE_BYTES = 128 * 1024


class _Moved:
    """Counts bytes moved into a flat buffer; every ``_MOVE_RELEASE_BYTES`` the pages of
    the arrays freed meanwhile go back to the OS (:func:`allocator.release_free`).

    A buffer's pages are touched as it is filled: without this the new buffer and the
    old arrays would be resident together (twice the parameters, or twice their
    gradients, at the moment the compiled step peaked highest on W-deep)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def add(self, nbytes: int) -> None:
        self.count += nbytes
        if self.count >= _MOVE_RELEASE_BYTES:
            self.count = 0
            allocator.release_free()


def _fill(view: np.ndarray, grad: np.ndarray | None) -> None:
    if grad is None:
        view.fill(0)
    else:
        np.copyto(view, grad)


def _no_overlap(datas: list[np.ndarray]) -> bool:
    ranges = sorted((_byte_start(d), _byte_start(d) + d.nbytes) for d in datas if d.size)
    return all(a[1] <= b[0] for a, b in itertools.pairwise(ranges))


# -- the public object -------------------------------------------------------------------
def _key_function(args: tuple, modules: list[Any]) -> Callable[..., tuple | None]:
    """``key(*args)``: shapes, dtypes, modes, grad mode, default dtype in one tuple.

    Generated for the classes of ``args``; it returns None for other classes.
    """
    builder = _Builder()
    classes, parts = [], []
    for i, a in enumerate(args):
        classes.append(f"a{i}.__class__ is not {builder.const(a.__class__, 'T')}")
        if isinstance(a, Tensor):
            parts += [f"a{i}.data.shape", f"a{i}.data.dtype", f"a{i}.requires_grad"]
        elif isinstance(a, np.ndarray):
            parts += [f"a{i}.shape", f"a{i}.dtype"]
        else:  # anything else is a constant of the trace: its value is part of the key
            parts.append(f"a{i}")
        parts.append(f"a{i}.__class__")
    if modules:  # one comprehension, like the parameters' flags below
        parts.append(f"tuple([m.training for m in {builder.const(tuple(modules), 'M')}])")
    # Freezing a parameter (requires_grad_(False)) changes what the backward computes.
    # One comprehension over them all: faster than one attribute per parameter written
    # out, and a 400-parameter key no longer costs the compiler a megabyte to build.
    seen: set[int] = set()
    params = []
    for module in modules:
        for p in module.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                params.append(p)
    if params:
        parts.append(f"tuple([p.requires_grad for p in {builder.const(tuple(params), 'P')}])")
    builder.names["_grad"] = grad_mode
    builder.names["_default"] = get_default_dtype
    parts += ["_grad.enabled", "_default()"]
    if classes:
        builder.emit(f"if {' or '.join(classes)}:")
        builder.emit("    return None")
    builder.emit(f"return ({', '.join(parts)},)")
    return builder.build(", ".join(f"a{i}" for i in range(len(args))), "key")


def _clip_coefficient(grads: list[np.ndarray], max_norm: float) -> float:
    """``nn.utils.clip_grad_norm_``'s coefficient (norm 2), computed in its order."""
    norms = np.array([np.sqrt(np.dot(g.ravel(), g.ravel())) for g in grads])
    total = np.sqrt(np.dot(norms, norms))
    return np.minimum(max_norm / (total + 1e-6), 1.0)


class Compiled:
    """What :func:`compile` returns: call it like ``fn``. See the module doc."""

    def __init__(
        self,
        fn: Callable,
        optimizer: Any = None,
        *,
        clip_grad_norm: float | None = None,
        cache_size: int = 8,
        inference: bool = False,
        modules: Any = (),
    ) -> None:
        if not callable(fn):
            raise TypeError(f"cr.compile expected a callable, got {type(fn).__name__}")
        if cache_size < 1:
            raise ValueError(f"cr.compile expected cache_size >= 1, got {cache_size}")
        if clip_grad_norm is not None and optimizer is None:
            raise ValueError(
                "cr.compile: clip_grad_norm= needs optimizer= (it clips before the step)"
            )
        self.fn = fn
        self.optimizer = optimizer
        self.clip_grad_norm = clip_grad_norm
        self.cache_size = cache_size
        self.inference = inference
        self.modules = _find_modules(fn)
        for extra in modules:  # modules fn reaches some other way (an attribute of self)
            self.modules.extend(m for m in extra.modules() if m not in self.modules)
        self._cache: OrderedDict[tuple, tuple[_Program, _Updater | None]] = OrderedDict()
        self._updaters: dict[bytes, _Updater] = {}
        self._last_key: tuple | None = None
        self._last: tuple[_Program, _Updater | None] | None = None
        self.updater: _Updater | None = None  # the last call's
        self._key_fn: Callable[..., tuple | None] = _key_function((), [])

    # -- signature and cache -----------------------------------------------------------
    def _key(self, args: tuple) -> tuple:
        """The signature of a call: one generated expression for the kinds of arguments seen."""
        try:
            key = self._key_fn(*args)
        except TypeError:  # another number of arguments
            key = None
        if key is None:
            self._key_fn = _key_function(args, self.modules)
            key = self._key_fn(*args)
            assert key is not None  # generated for these very arguments
        return key

    def _updater_for(self, params: list[Tensor]) -> _Updater:
        # the ids as bytes: one object, where a tuple of them keeps an int per parameter
        key = b"".join(sorted(id(p).to_bytes(8, "little") for p in params))
        updater = self._updaters.get(key)
        if updater is None:
            updater = self._updaters[key] = _Updater(self.optimizer, params)
        return updater

    def clear(self) -> None:
        """Forget every trace (the next call traces again)."""
        self._cache.clear()
        self._updaters.clear()
        self._last_key = self._last = None

    def forward_backward(self, *args: Any) -> tuple:
        """The outputs of ``fn`` as arrays; gradients in the optimizer's flat buffers.

        No update: :meth:`update` applies it (``fit`` checks the loss and the
        gradients in between). Without an optimizer ``.grad`` is filled as eager.
        """
        try:  # the generated key function, called here: one Python call less per step
            key = self._key_fn(*args)
        except TypeError:  # another number of arguments
            key = None
        if key is None:
            key = self._key(args)
        if key == self._last_key and self._last is not None:
            program, updater = self._last
        else:
            entry = self._cache.get(key)
            if entry is None:
                return self._trace(key, args)
            self._cache.move_to_end(key)
            program, updater = entry
            self._last_key, self._last = key, entry
        self.updater = updater
        return program.run(*args)

    def _trace(self, key: tuple, args: tuple) -> tuple:
        if not allocator.attempted:  # once per process: see allocator.py
            allocator.tune_allocator()
        differentiate = grad_mode.enabled and not self.inference
        updater_for = self._updater_for if self.optimizer is not None else None
        if self.inference:
            with no_grad():
                program, outputs, updater = _trace_program(self.fn, args, False, None)
        else:
            program, outputs, updater = _trace_program(self.fn, args, differentiate, updater_for)
        entry = (program, updater)
        self._cache[key] = entry
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        self._last_key, self._last = key, entry
        self.updater = updater
        return outputs

    def update(self) -> None:
        """The optimizer step on the last call's gradients (then they count as zeroed)."""
        if self.updater is not None:
            self.updater.step()

    def grads(self) -> list[np.ndarray]:
        """The last call's gradients of the optimizer's parameters, in its order (views)."""
        return [] if self.updater is None else self.updater.grads()

    def __call__(self, *args: Any) -> Any:
        if grad_mode.anomaly or engine._listeners:
            return self._eager(*args)  # anomaly mode and backward listeners see the graph
        outputs = self.forward_backward(*args)
        if self.updater is not None:
            if self.clip_grad_norm is not None:
                coef = _clip_coefficient(self.updater.grads(), self.clip_grad_norm)
                if coef != 1.0:
                    for fg in self.updater.groups:
                        fg.gflat *= coef
            self.updater.step()
        if len(outputs) == 1:
            return Tensor(outputs[0])
        return tuple(Tensor(out) for out in outputs)

    def _eager(self, *args: Any) -> Any:
        if self.inference:
            with no_grad():
                return self.fn(*args)
        result = self.fn(*args)
        loss = result[0] if isinstance(result, tuple) else result
        if grad_mode.enabled:
            loss.backward()
            if self.optimizer is not None:
                if self.clip_grad_norm is not None:
                    params = [p for g in self.optimizer.param_groups for p in g["params"]]
                    grads = [p.grad for p in params if p.grad is not None]
                    coef = _clip_coefficient(grads, self.clip_grad_norm)
                    if coef != 1.0:
                        for grad in grads:
                            grad *= coef
                self.optimizer.step()
                self.optimizer.zero_grad()
        if isinstance(result, tuple):
            return tuple(t.detach() for t in result)
        return result.detach()


def compile(  # chainrule's jax.jit / torch.compile (shadows the builtin here)
    fn: Callable,
    optimizer: Any = None,
    *,
    clip_grad_norm: float | None = None,
    cache_size: int = 8,
    modules: Any = (),
) -> Compiled:
    """Trace ``fn`` once per input signature and replay it as flat NumPy calls.

    ``fn(*tensors)`` returns a scalar loss (or a tuple whose first item is the loss and
    the rest anything else to return). Calling the result does the forward and the
    backward: without ``optimizer`` it leaves ``.grad`` filled exactly as
    ``fn(...).backward()`` would; with one it also clips the gradients to the total
    norm ``clip_grad_norm`` (``nn.utils.clip_grad_norm_``'s rule, when given), steps
    and leaves the gradients zeroed (``.grad`` None). It returns the loss tensor (no
    graph). ``compile(model)`` for a Module compiles inference: ``model(x)`` without a
    graph.

    A new signature (shapes, dtypes, train/eval modes, grad mode) traces again; the
    last ``cache_size`` traces are kept. The modules whose mode counts are found in
    ``fn``'s closure, the globals it names and a bound method's ``self``; name others
    with ``modules=[...]``. The returned loss has no graph (``backward`` is part of
    the call, so ``retain_graph`` has nothing to keep). Under ``no_grad`` a call only evaluates
    ``fn``; under ``detect_anomaly`` (or with a backward listener) it runs eagerly.
    """
    inference = _is_module(fn) and optimizer is None
    return Compiled(
        fn,
        optimizer,
        clip_grad_norm=clip_grad_norm,
        cache_size=cache_size,
        inference=inference,
        modules=modules,
    )
