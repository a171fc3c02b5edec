"""Module and Parameter: the bookkeeping every layer and model shares.

A Module finds its parameters, buffers and submodules by watching attribute
assignment (``__setattr__``), as ``torch.nn.Module`` does: assigning a Parameter
registers it, assigning a Module registers a child, and assigning a list, tuple or
dict of Modules registers a ``ModuleList`` / ``ModuleDict`` in its place, so that
the classic bug of a plain list hiding its layers from the optimizer cannot happen.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, NamedTuple

import numpy as np

from ..autodiff import Tensor
from ..autodiff.tensor import _as_array

StateDict = Mapping[str, Any]


class Parameter(Tensor):
    """A leaf tensor that requires grad and is found by ``Module.parameters()``.

    ``Parameter(tensor)`` and ``Parameter(ndarray)`` wrap the array without copying
    (``nn.Parameter(cr.randn(3, 4))``); other data (lists, numbers) is converted as
    by ``chainrule.tensor``. A tensor that came out of an op is cut from its graph.
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            array = np.empty((0,), dtype=_as_array(0.0).dtype)
        elif isinstance(data, Tensor):
            array = data.data
        elif isinstance(data, np.ndarray):
            array = data
        else:
            array = _as_array(data)
        super().__init__(array, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(..., strict=False)`` could not match, as in PyTorch."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class _KeyError(KeyError):
    """A KeyError whose message prints as written (KeyError quotes its argument)."""

    def __str__(self) -> str:
        return str(self.args[0])


class StateDictKeyError(_KeyError):
    """``load_state_dict`` found missing or unexpected keys."""


def _addindent(text: str, spaces: int) -> str:
    """Indent every line but the first (PyTorch's repr layout)."""
    first, *rest = text.split("\n")
    if not rest:
        return text
    return first + "\n" + "\n".join(" " * spaces + line for line in rest)


def _check_name(kind: str, module: Module, name: Any, store: dict) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
    if not name:
        raise _KeyError(f'{kind} name can\'t be empty string ""')
    if "." in name:
        raise _KeyError(f'{kind} name can\'t contain ".", got {name!r}')
    if name not in store and (name in module.__dict__ or hasattr(type(module), name)):
        raise _KeyError(f"attribute '{name}' already exists on {type(module).__name__}")


def _describe(value: Any) -> str:
    """The type of a wrong value; a class passed where an instance belongs gets a hint."""
    if isinstance(value, type) and issubclass(value, Module):
        return f"the class {value.__name__} (did you mean {value.__name__}()?)"
    return f"'{type(value).__name__}' object"


def _module_container(name: str, value: Any) -> Module | None:
    """A ModuleList / ModuleDict for a list, tuple or dict of Modules; None for other values."""
    if isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, dict):
        items = list(value.values())
    else:
        return None
    flags = [isinstance(item, Module) for item in items]
    if not any(flags):
        return None
    if not all(flags):
        bad = items[flags.index(False)]
        raise TypeError(
            f"attribute '{name}' mixes Modules with {_describe(bad)}; a container of modules "
            "must hold only Modules (they are registered as a ModuleList / ModuleDict)"
        )
    from .containers import ModuleDict, ModuleList  # containers build on Module

    return ModuleDict(value) if isinstance(value, dict) else ModuleList(items)


class Module:
    """Base class of every layer and model: subclass it, assign layers, define ``forward``.

    ::

        class MLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.hidden = nn.Linear(4, 8)
                self.out = nn.Linear(8, 3)

            def forward(self, x):           # x: (N, 4) -> (N, 3)
                return self.out(F.relu(self.hidden(x)))

    Parameters, buffers and child modules are kept in ``_parameters``, ``_buffers``
    and ``_modules`` (in assignment order) and also as plain attributes, so reading
    ``self.weight`` in ``forward`` costs an ordinary attribute lookup.
    """

    training: bool
    _parameters: dict[str, Parameter | None]
    _buffers: dict[str, Tensor | None]
    _non_persistent_buffers: set[str]
    _modules: dict[str, Module | None]

    # The constructor arguments ``get_config`` returns, each with the kind of value a
    # model file may give it (checked by ``chainrule.io.architecture``): "size", "float",
    # "bool", "ints", ... None: the module is not rebuilt from arguments (a custom
    # module, a container, a loss).
    _config: ClassVar[dict[str, str] | None] = None

    def __init__(self) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "training", True)
        setattr_(self, "_parameters", {})
        setattr_(self, "_buffers", {})
        setattr_(self, "_non_persistent_buffers", set())
        setattr_(self, "_modules", {})

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__} has no forward(); define forward(self, ...) in the subclass"
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not kwargs:  # a layer's usual call, without *args unpacking
            return self.forward(args[0])
        return self.forward(*args, **kwargs)

    # -- registration -------------------------------------------------------------
    def _stores(self) -> tuple[dict, dict, dict] | None:
        d = self.__dict__
        params = d.get("_parameters")
        if params is None:
            return None
        return params, d["_buffers"], d["_modules"]

    def _forget(self, name: str, keep: dict | None = None) -> None:
        """Remove ``name`` from every store but ``keep`` (where re-registering keeps its place)."""
        for store in self._stores() or ():
            if store is not keep:
                store.pop(name, None)
        self._non_persistent_buffers.discard(name)
        self.__dict__.pop(name, None)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or None, a declared but absent one, like ``bias=False``)."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameters before Module.__init__() call")
        _check_name("parameter", self, name, self._parameters)
        if param is not None and not isinstance(param, Parameter):
            hint = " (wrap it: nn.Parameter(tensor))" if isinstance(param, Tensor) else ""
            raise TypeError(
                f"cannot assign {_describe(param)} as parameter '{name}' "
                f"(nn.Parameter or None expected){hint}"
            )
        self._forget(name, keep=self._parameters)
        self._parameters[name] = param
        self.__dict__[name] = param

    def register_buffer(
        self, name: str, tensor: Tensor | np.ndarray | None, persistent: bool = True
    ) -> None:
        """Add state that is not learned (running statistics, counters).

        An ndarray is wrapped in a Tensor without copying. Persistent buffers are
        part of ``state_dict``; non-persistent ones are not.
        """
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_name("buffer", self, name, self._buffers)
        tensor = self._as_buffer(name, tensor)
        self._forget(name, keep=self._buffers)
        self._buffers[name] = tensor
        self.__dict__[name] = tensor
        if not persistent:
            self._non_persistent_buffers.add(name)

    @staticmethod
    def _as_buffer(name: str, value: Any) -> Tensor | None:
        if value is None or isinstance(value, Tensor):
            return value
        if isinstance(value, np.ndarray):
            return Tensor(value)
        raise TypeError(
            f"cannot assign {_describe(value)} as buffer '{name}' "
            "(Tensor, ndarray or None expected)"
        )

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module (or None) under ``name``."""
        if "_modules" not in self.__dict__:
            raise AttributeError("cannot assign module before Module.__init__() call")
        _check_name("module", self, name, self._modules)
        if module is not None and not isinstance(module, Module):
            raise TypeError(
                f"cannot add {_describe(module)} as module '{name}' (a Module expected)"
            )
        self._forget(name, keep=self._modules)
        self._modules[name] = module
        self.__dict__[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        stores = self._stores()
        if stores is None:
            if isinstance(value, (Parameter, Module)):
                kind = "parameters" if isinstance(value, Parameter) else "module"
                raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
            object.__setattr__(self, name, value)
            return
        params, buffers, modules = stores
        # A name moving between kinds (attribute, buffer, module, parameter) is forgotten
        # first; one re-assigned within its kind keeps its place in the order.
        if isinstance(value, Parameter) or (name in params and value is None):
            self._claim(name, params, self.register_parameter, value)
        elif name in params:
            raise TypeError(
                f"cannot assign {_describe(value)} as parameter '{name}' "
                "(nn.Parameter or None expected)"
            )
        elif isinstance(value, Module) or (name in modules and value is None):
            self._claim(name, modules, self.add_module, value)
        elif name in buffers:
            tensor = self._as_buffer(name, value)
            buffers[name] = tensor
            self.__dict__[name] = tensor
        else:
            container = _module_container(name, value)
            if container is not None:
                self._claim(name, modules, self.add_module, container)
            elif name in modules:
                raise TypeError(
                    f"cannot assign {_describe(value)} as child module '{name}' "
                    "(a Module or None expected)"
                )
            else:
                object.__setattr__(self, name, value)

    def _claim(
        self, name: str, store: dict, register: Callable[[str, Any], None], value: Any
    ) -> None:
        """Register ``value`` under ``name`` in ``store``'s kind, forgetting first what the
        name was of another kind (so a re-assignment within its kind keeps its place)."""
        if name not in store:
            self._forget(name)
        register(name, value)

    def __getattr__(self, name: str) -> Any:
        # Registered names are mirrored in __dict__, so this is only a fallback (e.g. for
        # code that fills _parameters directly, as some PyTorch code does).
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            values = d.get(store)
            if values is not None and name in values:
                return values[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        stores = self._stores()
        if stores is not None and any(name in store for store in stores):
            self._forget(name)
        else:
            object.__delattr__(self, name)

    # -- traversal ------------------------------------------------------------------
    def named_modules(
        self, memo: set[int] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """This module and every descendant, depth first, with dotted names ('' for self).

        A module reached twice (shared) is listed once unless ``remove_duplicate=False``.
        """
        if memo is None:
            memo = set()
        # Collected eagerly with an explicit stack (preorder, children in order): optimizers
        # and zero_grad walk the tree every step, and nested generators cost more.
        found = []
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            path, module = stack.pop()
            if remove_duplicate:
                if id(module) in memo:
                    continue
                memo.add(id(module))
            found.append((path, module))
            children = module._modules
            if children:
                stack.extend(
                    reversed(
                        [
                            (f"{path}.{name}" if path else name, child)
                            for name, child in children.items()
                            if child is not None
                        ]
                    )
                )
        return iter(found)

    def modules(self) -> Iterator[Module]:
        """This module and every descendant, each once."""
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct submodules with their attribute names, each once."""
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def get_submodule(self, target: str) -> Module:
        """The descendant at a dotted path such as ``'layers.1'`` ('' is self)."""
        module: Module = self
        if not target:
            return module
        walked: list[str] = []
        for part in target.split("."):
            child = module._modules.get(part)
            if child is None:
                where = ".".join(walked) or type(self).__name__
                raise AttributeError(f"{where} has no submodule '{part}' (looking up {target!r})")
            walked.append(part)
            module = child
        return module

    def _named_members(
        self, store: str, prefix: str, recurse: bool, remove_duplicate: bool
    ) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        modules = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else [(prefix, self)]
        )
        for module_prefix, module in modules:
            for name, value in getattr(module, store).items():
                if value is None:
                    continue
                if remove_duplicate:
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, parameter)`` pairs, e.g. ``('0.weight', W)``, ``('layers.1.bias', b)``.

        Order as PyTorch: a module's own parameters (in assignment order), then each
        child's, depth first. A parameter shared by several modules is listed once.
        """
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)  # type: ignore[return-value]

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter once, in ``named_parameters`` order (what an optimizer takes)."""
        seen: set[int] = set()
        found = []
        for _, module in self.named_modules() if recurse else [("", self)]:
            for param in module._parameters.values():
                if param is not None and id(param) not in seen:
                    seen.add(id(param))
                    found.append(param)
        return iter(found)

    def flatten_parameters(self) -> Any:
        """Move this module's parameters into one flat buffer (and their gradients into
        another): ``nn.utils.flatten_parameters(self)``. Call it once, before building
        the optimizer; returns the :class:`~chainrule.nn.utils.FlatParameters`."""
        from .utils import flatten_parameters

        return flatten_parameters(self)

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, buffer)`` pairs, e.g. ``('1.running_mean', tensor)``."""
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    # -- modes and gradients -------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode here and in every descendant (dropout, batch norm); returns self."""
        if not isinstance(mode, bool):
            raise ValueError(f"train() expected a bool mode, got {mode!r}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """``train(False)``: dropout off, batch norm uses its running statistics."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Switch gradient tracking of every parameter (freeze with False); returns self."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (or fill it with zeros in place)."""
        for param in self.parameters():
            if set_to_none:
                param.grad = None
            elif param.grad is not None:
                param.grad.fill(0)

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every descendant, then on self (e.g. to initialize weights)."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Convert floating-point parameters, gradients and buffers to a dtype in place.

        PyTorch's forms: ``to(dtype)``, ``to(device)``, ``to(device, dtype)``,
        ``to(tensor)``, ``to(dtype=..., device=...)``. Devices other than the CPU raise;
        ``None`` and the CPU change nothing. The Parameter objects stay the same; their
        arrays are replaced, so create the optimizer after converting.
        """
        from ..autodiff.compat import to_arguments

        dtype = to_arguments(args, kwargs, "Module.to")
        if dtype is None:
            return self
        try:
            target = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"Module.to expected a dtype or a device, got {dtype!r}") from None
        if target.kind != "f":
            raise TypeError(f"Module.to expected a floating-point dtype, got {target}")
        for tensor in [*self.parameters(), *self.buffers()]:
            if tensor.data.dtype.kind == "f" and tensor.data.dtype != target:
                tensor.data = tensor.data.astype(target)
                if tensor.grad is not None:
                    tensor.grad = tensor.grad.astype(target)
        return self

    def cpu(self) -> Module:
        """Already on the CPU: returns self."""
        return self

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    def half(self) -> Module:
        return self.to(np.float16)

    # -- state ----------------------------------------------------------------------
    def _state_tensors(self, prefix: str = "") -> OrderedDict[str, Tensor]:
        """Every parameter and persistent buffer by state_dict key (shared ones under each name)."""
        entries: OrderedDict[str, Tensor] = OrderedDict()
        for module_prefix, module in self.named_modules(prefix=prefix, remove_duplicate=False):
            head = f"{module_prefix}." if module_prefix else ""
            for name, param in module._parameters.items():
                if param is not None:
                    entries[head + name] = param
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in module._non_persistent_buffers:
                    entries[head + name] = buffer
        return entries

    def state_dict(self, *, prefix: str = "") -> OrderedDict[str, np.ndarray]:
        """Copies of every parameter and persistent buffer, by dotted name.

        E.g. ``{'0.weight': (128, 64) array, '0.bias': (128,), '1.running_mean': ...,
        '1.num_batches_tracked': 0-d int64}``. The arrays are copies: later training
        does not change a saved state.
        """
        return OrderedDict(
            (name, np.array(tensor.data, copy=True))
            for name, tensor in self._state_tensors(prefix).items()
        )

    def load_state_dict(self, state_dict: StateDict, strict: bool = True) -> IncompatibleKeys:
        """Copy values into the existing parameters and buffers, in place.

        In place (``param.data[...] = value``) because an optimizer may hold views of
        the parameters' memory. Values may be arrays, Tensors or nested lists; they
        are cast to each parameter's dtype. Nothing is copied unless everything fits:
        a shape mismatch raises ValueError; with ``strict=True`` a missing or
        unexpected key raises a KeyError naming them all. Returns
        ``(missing_keys, unexpected_keys)``.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"load_state_dict expected a mapping of names to arrays, "
                f"got {type(state_dict).__name__}"
            )
        targets = self._state_tensors()
        missing = [key for key in targets if key not in state_dict]
        unexpected = [key for key in state_dict if key not in targets]
        values: list[tuple[Tensor, np.ndarray]] = []
        mismatched = []
        for key, tensor in targets.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            array = value.data if isinstance(value, Tensor) else np.asarray(value)
            if array.shape != tensor.data.shape:
                mismatched.append(
                    f"size mismatch for {key}: the model has shape {tensor.data.shape}, "
                    f"the state_dict has {array.shape}"
                )
            values.append((tensor, array))
        problems = []
        if strict and missing:
            problems.append("missing key(s): " + ", ".join(repr(k) for k in missing))
        if strict and unexpected:
            problems.append("unexpected key(s): " + ", ".join(repr(k) for k in unexpected))
        if problems or mismatched:
            message = f"error(s) loading state_dict into {type(self).__name__}: " + "; ".join(
                problems + mismatched
            )
            if problems:
                raise StateDictKeyError(message)
            raise ValueError(message)
        for tensor, array in values:
            tensor.data[...] = array
        return IncompatibleKeys(missing, unexpected)

    # -- configuration --------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this layer, as Keras' ``get_config``:
        ``type(m)(**m.get_config())`` is the same layer with fresh weights (dtype aside).
        ``bias`` is whether the layer has one.

        >>> nn.Linear(3, 2, bias=False).get_config()  # doctest: +SKIP
        {'in_features': 3, 'out_features': 2, 'bias': False}
        """
        names = type(self)._config
        if names is None:
            raise TypeError(
                f"{type(self).__qualname__} has no config: only chainrule.nn's layers "
                "are rebuilt from their constructor arguments"
            )
        return {
            name: self.bias is not None if name == "bias" else getattr(self, name) for name in names
        }

    # -- printing -------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (override in layers)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [
            f"({name}): " + _addindent(repr(module), 2) for name, module in self._modules.items()
        ]
        lines = extra_lines + child_lines
        body = ""
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                body = extra_lines[0]
            else:
                body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"
