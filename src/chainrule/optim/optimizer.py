"""The Optimizer base class: parameter groups, per-parameter state, and the step loop.

Subclasses supply the maths (a call into :mod:`chainrule.optim.functional`) and the
initial state of a parameter; this class does the rest the way torch.optim does:
``param_groups`` is a list of dicts of options, ``state`` maps each parameter to a
dict named as in PyTorch, ``state_dict()`` saves both with parameters replaced by
their positions, and parameters whose ``grad`` is None are skipped.

Updates write into ``param.data`` in place and never rebind it: layers, model state
dicts and user code all hold references to those arrays.

Fused updates (``fused=``, as in torch.optim)
---------------------------------------------
A step costs a few NumPy calls per parameter, and for small layers each call's fixed
cost (about a microsecond) dominates. Parameters flattened by
:func:`chainrule.nn.utils.flatten_parameters` are views of one buffer, and their
gradients views of another; a group of such parameters (in their flat order) is
updated with one call of the algorithm on the two buffers, the state (``exp_avg``,
...) living in flat buffers too, ``state[p][name]`` being views of them (readable and
writable by name, as in PyTorch). The maths is elementwise, so the result is bit for
bit that of the per-parameter loop.

``fused=None`` (the default) fuses a group exactly when it is safe: its parameters are
flattened, back to back in one buffer; ``fused=True`` requires that (else ValueError);
``fused=False`` never fuses. A fused group still takes the per-parameter loop for a
step where that is the only exact choice: some parameter has no gradient (it must be
skipped), a gradient of another dtype, a parameter whose ``data`` was rebound, state
steps that differ. A gradient that is not the parameter's view (set by hand) is
copied into it first.
"""

from __future__ import annotations

import copy
import inspect
import numbers
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

import numpy as np

from ..autodiff import Tensor, enable_grad
from ..nn.utils import flat_views

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks an option that every parameter group must give (no default)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()

# Options of torch.optim groups that choose kernels, not maths: a loaded state dict's
# values are ignored (``fused`` keeps this optimizer's own choice).
_TORCH_IMPLEMENTATION_OPTIONS = frozenset({"foreach", "fused", "differentiable", "capturable"})


# How torch.optim's messages name an option: ``Invalid learning rate: -1``.
_LABELS = {"lr": "learning rate", "eps": "epsilon value"}


def _check_nonnegative(value: Any, option: str) -> None:
    """torch.optim's argument check and message, e.g. ``Invalid learning rate: -1``."""
    label = _LABELS.get(option, f"{option} value")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"expected a number for the {label}, got {value!r}")
    if not 0.0 <= float(value):  # float(): numbers.Real declares no comparisons
        raise ValueError(f"Invalid {label}: {value}")


def _refuse_set(params: Any) -> None:
    """torch.optim's refusal of a set (or frozenset) of parameters, in its words."""
    if isinstance(params, (set, frozenset)):
        raise TypeError(
            "optimizer parameters need to be organized in ordered collections, but "
            "the ordering of tensors in sets will change between runs. "
            "Please use a list instead."
        )


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
    return base.reshape(-1)[offset : offset + total]


# What ``_FusedGroup.ready`` answers.
LOOP, HELD, PACK = 0, 1, 2


class _FusedGroup:
    """A flattened parameter group: its flat parameter, gradient and state buffers."""

    __slots__ = ("datas", "gflat", "params", "pflat", "slots", "state", "states", "views")

    def __init__(self, params: list[Tensor], pflat: np.ndarray, gflat: np.ndarray) -> None:
        self.params = tuple(params)
        self.datas = tuple(p.data for p in params)
        self.slots = tuple(p._grad_slot for p in params)
        self.pflat = pflat
        self.gflat = gflat
        self.state: dict[str, np.ndarray] = {}  # name -> flat buffer
        self.views: dict[str, tuple[np.ndarray, ...]] = {}  # name -> per-parameter views
        self.states: list[dict[str, Any]] | None = None  # the dicts the views live in

    def ready(self, params: list[Tensor], state: Mapping[Tensor, dict[str, Any]]) -> int:
        """How this step can go: ``LOOP`` (not fused: see the module doc), ``HELD`` (fused,
        the state already in the flat buffers) or ``PACK`` (fused once the state is
        packed, see ``adopt``). Gradients set by hand are copied into the flat gradient
        buffer; nothing is changed when the answer is ``LOOP``.

        ``HELD`` means ``state[p]`` still is the dict whose entries are views of the
        flat buffers, none added or replaced, and one step count for all (a step that
        skipped a parameter makes them differ). One pass over the parameters: this is
        most of a small model's step."""
        mine = self.states
        if len(params) != len(self.params):
            return LOOP
        answer = HELD if mine is not None else PACK
        step = size = None
        if mine is not None:
            step = mine[0].get("step")
            size = len(self.views) + (step is not None)
        get = state.get
        copies = None
        for i, p in enumerate(params):
            grad = p.grad
            if p is not self.params[i] or p.data is not self.datas[i] or grad is None:
                return LOOP
            slot = self.slots[i]
            if grad is not slot:
                if grad.shape != slot.shape or grad.dtype != slot.dtype:
                    return LOOP
                copies = [] if copies is None else copies
                copies.append((slot, grad))
            if answer is HELD and mine is not None:  # HELD implies mine; said for mypy
                own = mine[i]
                if (
                    get(p) is not own
                    or len(own) != size
                    or (step is not None and own["step"] != step)
                ):
                    answer = PACK
        if answer is HELD and mine is not None:
            for name, views in self.views.items():
                for own, view in zip(mine, views, strict=True):
                    if own[name] is not view:
                        answer = PACK
        if copies:
            for slot, grad in copies:
                np.copyto(slot, grad)
        return answer

    def adopt(self, states: list[dict[str, Any]]) -> bool:
        """Copy the parameters' state arrays into flat buffers and make the entries
        views of them; False (nothing changed) if the state cannot be packed: keys or
        steps that differ, or entries that are not arrays of the parameter's shape."""
        first = states[0]
        for data, st in zip(self.datas, states, strict=True):
            if st.keys() != first.keys() or st.get("step") != first.get("step"):
                return False
            for name, value in st.items():
                if name != "step" and (
                    not isinstance(value, np.ndarray) or value.shape != data.shape
                ):
                    return False
        self.state, self.views, self.states = {}, {}, states
        for name, value in first.items():
            if name != "step":
                flat = np.concatenate([st[name] for st in states], axis=None, dtype=value.dtype)
                self.take(name, flat)
        return True

    def take(self, name: str, flat: np.ndarray) -> None:
        """Make ``flat`` the buffer of state ``name``; each parameter's entry a view of it."""
        views = flat_views(flat, self.datas)
        assert self.states is not None  # adopt() set them before any take()
        for st, view in zip(self.states, views, strict=True):
            st[name] = view
        self.state[name] = flat
        self.views[name] = views


def _fused_group(params: list[Tensor]) -> _FusedGroup | None:
    """The flat buffers of ``params`` if they are flattened parameters lying back to
    back (``nn.utils.flatten_parameters``), each once; else None."""
    if not params or len({id(p) for p in params}) != len(params):
        return None
    slots = [getattr(p, "_grad_slot", None) for p in params]
    if any(slot is None for slot in slots):
        return None
    pflat = _shared_flat_view([p.data for p in params])
    gflat = _shared_flat_view(slots)  # type: ignore[arg-type]
    if pflat is None or gflat is None or pflat.dtype.kind != "f":
        return None
    return _FusedGroup(params, pflat, gflat)


class Optimizer:
    """Base class of the optimizers, with torch.optim's interface.

    ``params`` is an iterable of tensors (e.g. ``model.parameters()``), of
    ``(name, tensor)`` pairs, or of dicts each defining a parameter group with its
    own options (``{"params": [...], "lr": 0.1}``); options a group leaves out take
    the optimizer's defaults.
    """

    # Whether the state holds a step counter ("step"), incremented before each update.
    _has_step: bool = False
    # The algorithm, a function of ``chainrule.optim.functional`` called as
    # ``_kernel(param, grad, *state arrays, [step=t,] **_kernel_options(group))``
    # (a ``staticmethod`` in the subclass); None for an optimizer that updates itself.
    _kernel: Callable[..., Any] | None = None
    # The kernel's state arrays, in the order it takes them, each with the option that
    # switches it on (None: always there). They start as zeros, and one switched on after
    # the first step (a schedule may do that) is created then.
    _arrays: tuple[tuple[str, str | None], ...] = ()
    # The kernel's keyword arguments, read from a parameter group: numbers and flags.
    _floats: tuple[str, ...] = ()
    _flags: tuple[str, ...] = ()
    # The options torch checks to be >= 0, in its order.
    _nonnegative: tuple[str, ...] = ()

    # Whether ``_kernel`` takes ``step=`` (Adam's bias correction, Adagrad's lr decay);
    # the names of ``_arrays``, and those switched by an option: read by ``_apply``.
    _kernel_step: bool = False
    _array_names: tuple[str, ...] = ()
    _switched: tuple[tuple[str, str], ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._array_names = tuple(name for name, _ in cls._arrays)
        cls._switched = tuple((name, on) for name, on in cls._arrays if on is not None)
        kernel = cls.__dict__.get("_kernel")
        if kernel is not None:
            parameters = inspect.signature(kernel.__func__).parameters
            cls._kernel_step = "step" in parameters

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self._validate(defaults)
        self.defaults = dict(defaults)
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        # The fused groups' flat buffers, by group index (see the module doc).
        self._fused: dict[int, _FusedGroup] = {}
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors "
                f"or dicts, but got a single {type(params).__name__}; wrap it in a list"
            )
        _refuse_set(params)
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
        for option in cls._nonnegative:
            _check_nonnegative(options[option], option)

    def _kernel_options(self, group: Mapping[str, Any]) -> dict[str, Any]:
        """The kernel's keyword arguments (``step`` aside) from a group's options."""
        options = {name: float(group[name]) for name in self._floats}
        for name in self._flags:
            options[name] = bool(group[name])
        return options

    def _init_state(self, param: Tensor, group: Mapping[str, Any]) -> dict[str, Any]:
        """The state of a parameter before its first update: ``step`` 0 (if counted)
        and a zero array per switched-on entry of ``_arrays``."""
        state: dict[str, Any] = {"step": 0} if self._has_step else {}
        for name, switch in self._arrays:
            if switch is None or group[switch]:
                state[name] = np.zeros_like(param.data)
        return state

    def _update(
        self,
        group: Mapping[str, Any],
        param: np.ndarray,
        grad: np.ndarray,
        state: MutableMapping[str, Any],
        step: int,
    ) -> None:
        """Apply one update in place; ``state`` holds the arrays named as in PyTorch.

        ``param`` is one parameter's array, or a fused group's flat buffer."""
        self._apply(self._kernel_options(group), param, grad, state, step)

    def _step_group(self, group: Mapping[str, Any], pairs: list[tuple[Tensor, np.ndarray]]) -> None:
        """Update each ``(param, grad)`` of ``group`` in place: the per-parameter loop.

        The options are read once per group (for a small model that is most of a
        step's cost), then one ``_apply`` per parameter.
        """
        state = self.state
        has_step = self._has_step
        # an optimizer without state (plain SGD) needs no call per parameter
        init = self._init_state if has_step or self._arrays else None
        # A subclass without a kernel (a user's optimizer) writes its own _update.
        custom = self._kernel is None
        options = {} if custom else self._kernel_options(group)
        apply = self._apply
        for p, grad in pairs:
            st = state[p]  # an entry even if empty, as torch makes: compile packs by them
            if not st and init is not None:
                st.update(init(p, group))
            step = 0
            if has_step:
                step = st["step"] = st["step"] + 1
            if custom:
                self._update(group, p.data, grad, st, step)
            else:
                apply(options, p.data, grad, st, step)

    def _apply(
        self,
        options: dict[str, Any],
        param: np.ndarray,
        grad: np.ndarray,
        state: MutableMapping[str, Any],
        step: int,
    ) -> None:
        """One update by ``_kernel`` with a group's ``options``: the arrays of ``_arrays``
        in order (one switched on after the first step is created now), ``step=`` if
        the kernel takes it."""
        for name, switch in self._switched:
            if options[switch] and name not in state:
                state[name] = np.zeros_like(param)
        if self._kernel_step:
            options["step"] = step
        self._kernel(param, grad, *map(state.get, self._array_names), **options)  # type: ignore[misc]

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
        _refuse_set(params)
        params = [params] if isinstance(params, Tensor) else list(params)
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
        fused = param_group.get("fused")
        if fused not in (None, True, False):
            raise ValueError(f"fused expected None, True or False, got {fused!r}")
        plan = _fused_group(params) if fused is not False else None
        if fused and plan is None:
            raise ValueError(
                "fused=True needs the group's parameters flattened, back to back and each "
                "once: call nn.utils.flatten_parameters(model) (or model.flatten_parameters()) "
                "before building the optimizer, and pass its parameters in that order"
            )
        if plan is not None:
            self._fused[len(self.param_groups)] = plan
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
        fused = self._fused
        for index, group in enumerate(self.param_groups):
            plan = fused.get(index) if fused else None
            if plan is None or not self._fused_step(plan, group):
                self._loop_step(index, group)
        return loss

    def _loop_step(self, index: int, group: dict[str, Any]) -> None:
        """One update per parameter that has a gradient."""
        params = group["params"]
        # check every gradient first, so that a bad one leaves no parameter half-updated
        with_grad = []
        for p in params:
            grad = p.grad
            if grad is None:
                continue
            if grad.shape != p.data.shape:
                self._check_grads(index, params)
            with_grad.append((p, grad))
        self._step_group(group, with_grad)

    @staticmethod
    def _check_grads(index: int, params: list[Tensor]) -> None:
        """Raise ValueError naming the first parameter of ``param_groups[index]`` whose
        gradient's shape is not its own."""
        for position, p in enumerate(params):
            grad = p.grad
            if grad is not None and grad.shape != p.data.shape:
                raise ValueError(
                    f"parameter {position} of param_groups[{index}] has shape "
                    f"{p.data.shape} but its grad has shape {grad.shape}"
                )

    def _fused_step(self, plan: _FusedGroup, group: dict[str, Any]) -> bool:
        """The whole group in one update on its flat buffers; False (nothing done) if
        this step must take the per-parameter loop (see the module doc)."""
        params = group["params"]
        state = self.state
        how = plan.ready(params, state)
        if how == LOOP:
            return False
        if how == HELD:
            states = plan.states
            assert states is not None  # HELD: the plan's dicts hold the views
        else:
            states = [state[p] for p in params]
            for p, st in zip(params, states, strict=True):
                if not st:
                    st.update(self._init_state(p, group))
            if not plan.adopt(states):
                return False
        step = 0
        if self._has_step:
            step = states[0]["step"] + 1
            for st in states:
                st["step"] = step
        flat_state = plan.state
        known = len(flat_state)
        self._update(group, plan.pflat, plan.gflat, flat_state, step)
        if len(flat_state) != known:  # the update created a state array (SGD's momentum)
            for name, value in list(flat_state.items()):
                if name not in plan.views:
                    plan.take(name, value)
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
            if "fused" in group:  # how to update is this optimizer's choice, not the file's
                new_group["fused"] = group["fused"]
            self._validate(new_group)
            new_groups.append(new_group)

        self.state = new_state
        self.param_groups = new_groups
        self._fused = {
            index: plan
            for index, group in enumerate(new_groups)
            if group.get("fused") is not False
            and (plan := _fused_group(group["params"])) is not None
        }

    def __getstate__(self) -> dict[str, Any]:
        # The fused groups tie parameters and state entries to flat buffers by identity;
        # a copy would keep the entries but sever the views: the copy updates by the loop.
        state = dict(self.__dict__)
        state["_fused"] = {}
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
