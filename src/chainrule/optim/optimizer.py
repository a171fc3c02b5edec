"""The Optimizer base class: parameter groups, per-parameter state, and the step loop.

Subclasses supply the maths (a call into :mod:`chainrule.optim.functional`) and the
initial state of a parameter; this class does the rest the way torch.optim does:
``param_groups`` is a list of dicts of options, ``state`` maps each parameter to a
dict named as in PyTorch, ``state_dict()`` saves both with parameters replaced by
their positions, and parameters whose ``grad`` is None are skipped.

Updates write into ``param.data`` in place and never rebind it: layers, model state
dicts and user code all hold references to those arrays.

The flat fast path
------------------
A step costs a handful of NumPy calls per parameter, and for small layers each call's
fixed cost (about a microsecond) dominates. So once every parameter of a group has
state, shares one dtype and receives a gradient (and the parameters are small enough
for this to pay, see ``FLAT_MAX_MEAN_SIZE``), the group's state arrays are moved
into one flat buffer per state name, and ``state[p][name]`` becomes a view into it
(still readable and writable by name, as in PyTorch). A step then gathers the
gradients with one ``np.concatenate``, runs the update once on the flat arrays, and
copies the parameters back. When the parameters already are adjacent views into one
contiguous buffer, that buffer is updated directly and no copy is needed.
The elementwise maths is the same either way, so both paths give bit-identical
results; the fast path is checked on every step (same parameters, same ``data``
arrays, every gradient present, state arrays not replaced, one step count) and any
mismatch falls back to the per-parameter loop.
"""

from __future__ import annotations

import copy
import itertools
import numbers
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

import numpy as np

from ..autodiff import Tensor, enable_grad

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks an option that every parameter group must give (no default)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()

# The flat fast path: "auto" uses it where it pays (see ``_flat_size_limit``),
# "always" wherever the group allows it, "never" not at all (tests and benchmarks
# switch it to compare both paths).
FLAT_MODE = "auto"
# Measured with benchmarks/bench_optim.py: the flat path saves a few NumPy calls per
# parameter (about a microsecond each) but adds whole-array passes (gathering the
# gradients and parameters, copying the parameters back) and works on arrays too big
# for the cache. Above this many elements per parameter, on average, it stops paying
# for algorithms with many calls per parameter (Adam, RMSprop, Adadelta, Adagrad).
FLAT_MAX_MEAN_SIZE = 8192
# A group whose flat layout keeps getting invalidated (say, code that rebinds
# ``param.data`` every step) stops trying after this many rebuilds.
FLAT_MAX_REBUILDS = 8
# The longest wait, in steps, before a group that did not qualify is examined again.
FLAT_MAX_WAIT = 32


# Options of torch.optim groups that choose PyTorch kernels, not maths: dropped when a
# PyTorch state dict is loaded.
_TORCH_IMPLEMENTATION_OPTIONS = frozenset({"foreach", "fused", "differentiable", "capturable"})


def _check_nonnegative(value: Any, label: str) -> None:
    """torch.optim's argument check and message, e.g. ``Invalid learning rate: -1``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"expected a number for the {label}, got {value!r}")
    if not 0.0 <= value:
        raise ValueError(f"Invalid {label}: {value}")


def _as_step(value: Any, where: str) -> int | float:
    """A saved ``step`` (int, float, 0-d array as torch saves it) as a Python number."""
    try:
        number = float(np.asarray(value).item())
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: 'step' must be a number, got {value!r}") from error
    return int(number) if number.is_integer() else number


def _byte_range(array: np.ndarray) -> tuple[int, int]:
    start = array.__array_interface__["data"][0]
    return start, start + array.nbytes


def _shared_flat_view(datas: list[np.ndarray]) -> np.ndarray | None:
    """One 1-D view covering ``datas`` if they lie back to back in one C-contiguous buffer."""
    base = datas[0].base
    if base is None or not isinstance(base, np.ndarray) or not base.flags.c_contiguous:
        return None
    if base.dtype != datas[0].dtype:
        return None
    expected = _byte_range(datas[0])[0]
    for data in datas:
        if data.base is not base or not data.flags.c_contiguous:
            return None
        start, end = _byte_range(data)
        if start != expected:
            return None
        expected = end
    offset = (_byte_range(datas[0])[0] - _byte_range(base)[0]) // base.itemsize
    total = sum(d.size for d in datas)
    flat = base.reshape(-1)[offset : offset + total]
    return flat


def _overlapping(datas: list[np.ndarray]) -> bool:
    """Whether any two arrays share memory (tied weights): the flat path would update them once."""
    ranges = sorted(_byte_range(d) for d in datas if d.size)
    return any(prev[1] > nxt[0] for prev, nxt in itertools.pairwise(ranges))


class _FlatGroup:
    """A parameter group's state packed into one flat buffer per state name (see module doc)."""

    __slots__ = (
        "datas",
        "gflat",
        "grads",
        "names",
        "params",
        "pflat",
        "pviews",
        "shapes",
        "shared",
        "state",
        "views",
    )

    def __init__(self, params: list[Tensor], states: list[dict[str, Any]]) -> None:
        datas = [p.data for p in params]
        dtype = datas[0].dtype
        self.params = tuple(params)
        self.datas = tuple(datas)
        self.shapes = tuple(d.shape for d in datas)
        total = sum(d.size for d in datas)
        shared = _shared_flat_view(datas)
        self.shared = shared is not None
        self.pflat = shared if shared is not None else np.empty(total, dtype)
        self.pviews = self._views(self.pflat)
        self.gflat = np.empty(total, dtype)
        self.grads: list[np.ndarray | None] = [None] * len(params)
        self.state: dict[str, np.ndarray] = {}
        self.views: dict[str, tuple[np.ndarray, ...]] = {}
        for name, value in states[0].items():
            if isinstance(value, np.ndarray):
                flat = np.concatenate([st[name] for st in states], axis=None, dtype=dtype)
                self.adopt(name, flat, states)
        self.names = tuple(self.views)

    def _views(self, flat: np.ndarray) -> tuple[np.ndarray, ...]:
        views, offset = [], 0
        for shape in self.shapes:
            size = int(np.prod(shape, dtype=np.int64))
            views.append(flat[offset : offset + size].reshape(shape))
            offset += size
        return tuple(views)

    def adopt(self, name: str, flat: np.ndarray, states: list[dict[str, Any]]) -> None:
        """Make ``flat`` the buffer of state ``name``; each parameter's entry becomes a view."""
        views = self._views(flat)
        for st, view in zip(states, views, strict=True):
            st[name] = view
        self.state[name] = flat
        self.views[name] = views
        self.names = tuple(self.views)


class Optimizer:
    """Base class of the optimizers, with torch.optim's interface.

    ``params`` is an iterable of tensors (e.g. ``model.parameters()``), of
    ``(name, tensor)`` pairs, or of dicts each defining a parameter group with its
    own options (``{"params": [...], "lr": 0.1}``); options a group leaves out take
    the optimizer's defaults.
    """

    # Whether the state holds a step counter ("step"), incremented before each update.
    _has_step: bool = False

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._flat: dict[int, _FlatGroup] = {}
        self._flat_rebuilds: dict[int, int] = {}
        self._flat_layouts: dict[int, tuple[tuple[np.ndarray, ...], tuple[bool, bool, int]]] = {}
        self._flat_wait: dict[int, tuple[int, int]] = {}
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors "
                f"or dicts, but got a single {type(params).__name__}; wrap it in a list"
            )
        if isinstance(params, (set, frozenset)):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but "
                "the ordering of tensors in sets will change between runs. "
                "Please use a list instead."
            )
        try:
            groups = list(params)
        except TypeError:
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors "
                f"or dicts, but got {type(params).__name__}"
            ) from None
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # -- subclass interface ------------------------------------------------------
    @classmethod
    def _validate(cls, options: Mapping[str, Any]) -> None:
        """Raise ValueError, in torch's words, for an invalid option value."""

    def _init_state(self, param: Tensor, group: Mapping[str, Any]) -> dict[str, Any]:
        """The state of a parameter before its first update (empty by default)."""
        return {}

    def _update(
        self,
        group: Mapping[str, Any],
        param: np.ndarray,
        grad: np.ndarray,
        state: MutableMapping[str, Any],
        step: int,
    ) -> None:
        """Apply one update in place; ``state`` holds the arrays named as in PyTorch."""
        raise NotImplementedError

    def _step_group(self, group: Mapping[str, Any], pairs: list[tuple[Tensor, np.ndarray]]) -> None:
        """Update each ``(param, grad)`` of ``group`` in place: the per-parameter loop.

        Subclasses may override it with a tighter loop that reads the group's options
        once (SGD does: for a small model that is most of a step's cost).
        """
        state = self.state
        has_step = self._has_step
        # Optimizers whose initial state is empty (plain SGD) need no call per parameter.
        init = self._init_state if type(self)._init_state is not Optimizer._init_state else None
        update = self._update
        for p, grad in pairs:
            st = state[p]
            if not st and init is not None:
                st.update(init(p, group))
            step = 0
            if has_step:
                step = st["step"] = st["step"] + 1
            update(group, p.data, grad, st, step)

    # -- parameter groups --------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (with its own options) to ``param_groups``.

        Useful when fine-tuning: layers unfrozen later can be added with their own lr.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"param_group needs a 'params' entry, got keys {sorted(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but "
                "the ordering of tensors in sets will change between runs. "
                "Please use a list instead."
            )
        else:
            params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        if names:
            if len(names) != len(params):
                raise ValueError(
                    "all optimizer params should be with/without names. "
                    "Some param names are missing"
                )
            params = [p[1] for p in params]
            param_group["param_names"] = names
        for param in params:
            if not isinstance(param, Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is "
                    f"{type(param).__name__}"
                )
            if not param.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        param_group["params"] = params

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    "parameter group didn't specify a value of required optimization "
                    f"parameter {name}"
                )
            param_group.setdefault(name, default)
        self._validate(param_group)

        if len({id(p) for p in params}) != len(params):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; "
                "each copy is updated",
                stacklevel=3,
            )
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        for group in self.param_groups:
            if ("param_names" in group) != ("param_names" in param_group):
                kind = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {kind} to the optimizer"
                )
        self.param_groups.append(param_group)
        self._on_add_group(param_group)

    def _on_add_group(self, group: dict[str, Any]) -> None:
        """Hook for optimizers whose state exists before the first step (Adagrad)."""

    # -- gradients and steps -----------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients: ``None`` by default, else zero the arrays in place.

        With ``set_to_none=True`` a parameter that gets no gradient in the next backward
        pass is skipped by ``step()``; with zeros it is still updated (momentum, weight
        decay), as in PyTorch.
        """
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif isinstance(grad, np.ndarray) and grad.flags.writeable:
                    grad.fill(0)
                else:  # a read-only or foreign grad cannot be zeroed in place
                    p.grad = np.zeros_like(grad)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return ``closure()``'s loss.

        ``closure`` (optional) recomputes the loss and its gradients; it is called
        with gradient recording on, before the update.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for index, group in enumerate(self.param_groups):
            flat = self._flat.get(index)
            if flat is not None and self._flat_step(flat, group):
                continue
            self._flat.pop(index, None)
            self._loop_step(index, group)
        return loss

    def _loop_step(self, index: int, group: dict[str, Any]) -> None:
        """One update per parameter; then set up the flat path if the group allows it."""
        params = group["params"]
        # check every gradient first, so that a bad one leaves no parameter half-updated
        with_grad = []
        for p in params:
            grad = p.grad
            if grad is None:
                continue
            if grad.shape != p.data.shape:
                position = next(i for i, q in enumerate(params) if q is p)
                raise ValueError(
                    f"parameter {position} of param_groups[{index}] has shape "
                    f"{p.data.shape} but its grad has shape {grad.shape}"
                )
            with_grad.append((p, grad))
        self._step_group(group, with_grad)
        if len(with_grad) == len(params) and FLAT_MODE != "never":
            # A group that cannot use the flat path (too big, non-uniform steps, ...)
            # is re-examined after 1, 2, 4, ... FLAT_MAX_WAIT steps, not on every step.
            wait, interval = self._flat_wait.get(index, (0, 0))
            if wait > 0:
                self._flat_wait[index] = (wait - 1, interval)
            elif self._try_flat(index, group):
                self._flat_wait.pop(index, None)
            else:
                interval = min(2 * interval or 1, FLAT_MAX_WAIT)
                self._flat_wait[index] = (interval, interval)

    def _flat_size_limit(self, group: Mapping[str, Any], shared: bool) -> int:
        """The largest mean parameter size (elements) for which the flat path pays.

        ``shared``: the parameters already are one contiguous buffer, so the flat path
        costs only the gathering of the gradients.
        """
        return 2 * FLAT_MAX_MEAN_SIZE if shared else FLAT_MAX_MEAN_SIZE

    def _flat_layout(self, index: int, params: list[Tensor]) -> tuple[bool, bool, int]:
        """(packable, already one shared buffer, total size) of the parameters' arrays.

        Remembered per group while the parameters keep the same ``data`` arrays, so a
        group that cannot use the flat path pays for finding out only once.
        """
        datas = tuple(p.data for p in params)
        known = self._flat_layouts.get(index)
        if known is not None and len(known[0]) == len(datas):
            if all(a is b for a, b in zip(known[0], datas, strict=True)):
                return known[1]
        dtype = datas[0].dtype
        packable = (
            dtype.kind == "f"
            and all(d.dtype == dtype for d in datas)
            and len({id(p) for p in params}) == len(params)
            and not _overlapping(list(datas))
        )
        layout = (
            packable,
            packable and _shared_flat_view(list(datas)) is not None,
            sum(d.size for d in datas),
        )
        self._flat_layouts[index] = (datas, layout)
        return layout

    def _try_flat(self, index: int, group: dict[str, Any]) -> bool:
        """Pack the group's state into flat buffers if it qualifies; whether it did."""
        params = group["params"]
        if FLAT_MODE == "never" or (FLAT_MODE == "auto" and len(params) < 2):
            return False
        if self._flat_rebuilds.get(index, 0) >= FLAT_MAX_REBUILDS:
            return False
        packable, shared, total = self._flat_layout(index, params)
        if not packable:
            return False
        if FLAT_MODE == "auto" and total > self._flat_size_limit(group, shared) * len(params):
            return False
        states = [self.state[p] for p in params]
        first = states[0]
        keys = first.keys()
        for p, st in zip(params, states, strict=True):
            if st.keys() != keys:
                return False
            for name, value in st.items():
                if name == "step":
                    if value != first["step"]:
                        return False
                elif not isinstance(value, np.ndarray) or value.shape != p.data.shape:
                    return False  # an entry the flat path does not know how to pack
        self._flat_rebuilds[index] = self._flat_rebuilds.get(index, 0) + 1
        self._flat[index] = _FlatGroup(params, states)
        return True

    def _flat_step(self, flat: _FlatGroup, group: dict[str, Any]) -> bool:
        """The whole group in a few calls; False (nothing done) if the layout went stale."""
        params = group["params"]
        if len(params) != len(flat.params):
            return False
        state = self.state
        grads = flat.grads
        names = flat.names
        views = flat.views
        has_step = self._has_step
        step = None
        for i, p in enumerate(params):
            if p is not flat.params[i] or p.data is not flat.datas[i]:
                return False
            grad = p.grad
            if grad is None or grad.shape != flat.shapes[i]:
                return False
            st = state[p]
            for name in names:
                if st.get(name) is not views[name][i]:
                    return False
            if has_step:
                if step is None:
                    step = st["step"]
                elif st["step"] != step:
                    return False
            grads[i] = grad
        try:
            np.concatenate(grads, axis=None, out=flat.gflat)
        finally:
            grads[:] = [None] * len(grads)  # hold no reference to the user's arrays
        if not flat.shared:
            np.concatenate(flat.datas, axis=None, out=flat.pflat)
        step = step + 1 if has_step else 0
        self._update(group, flat.pflat, flat.gflat, flat.state, step)
        if not flat.shared:
            for data, view in zip(flat.datas, flat.pviews, strict=True):
                np.copyto(data, view)
        if has_step:
            for p in params:
                state[p]["step"] = step
        if len(flat.state) != len(names):  # the update created a new state array
            states = [state[p] for p in params]
            for name, value in list(flat.state.items()):
                if name not in views:
                    flat.adopt(name, value, states)
        return True

    # -- saving and loading ------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in torch's layout, with parameters as positions::

            {"state": {0: {"step": 3, "exp_avg": array(...), ...}, ...},
             "param_groups": [{"lr": 0.001, ..., "params": [0, 1, 2]}, ...]}

        Arrays are copies: later steps do not change a saved state dict.
        """
        positions: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            for p in group["params"]:
                positions.setdefault(id(p), len(positions))
            packed["params"] = [positions[id(p)] for p in group["params"]]
            groups.append(packed)
        by_position = {}
        for p, st in self.state.items():
            if id(p) in positions and st:
                by_position[positions[id(p)]] = {
                    name: value.copy() if isinstance(value, np.ndarray) else copy.deepcopy(value)
                    for name, value in st.items()
                }
        return {"state": dict(sorted(by_position.items())), "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()`` (this optimizer's, or torch.optim's for the same algorithm).

        Group options are replaced by the saved ones; state arrays (NumPy arrays, or
        anything with ``__array__`` such as torch tensors) are copied and cast to their
        parameter's dtype, so the saved dict is never aliased.
        """
        if not isinstance(state_dict, Mapping) or not {"state", "param_groups"} <= set(state_dict):
            got = sorted(state_dict) if isinstance(state_dict, Mapping) else type(state_dict)
            raise ValueError(
                f"optimizer state_dict needs 'state' and 'param_groups' entries, got {got}"
            )
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state dict has {len(saved_groups)} parameter groups, "
                f"this optimizer has {len(self.param_groups)}"
            )
        for index, (group, saved) in enumerate(zip(self.param_groups, saved_groups, strict=True)):
            if "params" not in saved:
                raise ValueError(f"loaded param_groups[{index}] has no 'params' entry")
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"loaded state dict's param_groups[{index}] has "
                    f"{len(saved['params'])} parameters, this optimizer's has "
                    f"{len(group['params'])}"
                )
        by_id = {
            saved_id: p
            for group, saved in zip(self.param_groups, saved_groups, strict=True)
            for saved_id, p in zip(saved["params"], group["params"], strict=True)
        }

        new_state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for key, entries in state_dict["state"].items():
            if key not in by_id:
                raise ValueError(
                    f"loaded state has an entry for parameter {key!r}, which no "
                    f"parameter group lists (known: {sorted(by_id, key=str)})"
                )
            p = by_id[key]
            restored: dict[str, Any] = {}
            for name, value in entries.items():
                if name == "step":
                    restored[name] = _as_step(value, f"state of parameter {key}")
                elif isinstance(value, np.ndarray) or hasattr(value, "__array__"):
                    # asarray first: torch tensors' __array__ takes no copy= argument
                    array = np.array(np.asarray(value), dtype=p.data.dtype, copy=True)
                    if array.shape != p.data.shape:
                        raise ValueError(
                            f"loaded state '{name}' of parameter {key} has shape "
                            f"{array.shape}, the parameter has shape {p.data.shape}"
                        )
                    restored[name] = array
                else:
                    restored[name] = copy.deepcopy(value)
            new_state[p] = restored

        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups, strict=True):
            new_group = {
                k: copy.deepcopy(v)
                for k, v in saved.items()
                if k != "params" and k not in _TORCH_IMPLEMENTATION_OPTIONS
            }
            for name, default in self.defaults.items():
                new_group.setdefault(name, default)
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            new_group["params"] = group["params"]
            self._validate(new_group)
            new_groups.append(new_group)

        self.state = new_state
        self.param_groups = new_groups
        self._flat.clear()
        self._flat_rebuilds.clear()
        self._flat_layouts.clear()
        self._flat_wait.clear()

    def __getstate__(self) -> dict[str, Any]:
        # The flat layout ties state entries to buffers by identity; a copy or a pickle
        # would keep the entries but sever the views, so it is rebuilt afterwards.
        state = dict(self.__dict__)
        state["_flat"] = {}
        state["_flat_rebuilds"] = {}
        state["_flat_layouts"] = {}
        state["_flat_wait"] = {}
        return state

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for index, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {index}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)
