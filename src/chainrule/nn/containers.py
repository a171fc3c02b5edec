"""Containers of modules: Sequential (a pipeline), ModuleList and ModuleDict (holders)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .module import Module, _addindent, _describe, _KeyError


def _index(kind: str, idx: Any, length: int) -> int:
    """A valid non-negative position for ``idx`` in a container of ``length`` items."""
    if not isinstance(idx, int) or isinstance(idx, bool):
        raise TypeError(f"{kind} indices must be integers or slices, got {type(idx).__name__}")
    if not -length <= idx < length:
        raise IndexError(f"index {idx} is out of range for a {kind} of length {length}")
    return idx % length


class _Indexed(Module):
    """Shared integer-keyed behaviour of Sequential and ModuleList (keys '0', '1', ...)."""

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module | None]:
        return iter(self._modules.values())

    def _key(self, idx: int) -> str:
        return list(self._modules)[_index(type(self).__name__, idx, len(self))]

    def __setitem__(self, idx: int, module: Module) -> None:
        self.add_module(self._key(idx), module)

    def __delitem__(self, idx: int | slice) -> None:
        keys = list(self._modules)[idx] if isinstance(idx, slice) else [self._key(idx)]
        for key in keys:
            delattr(self, key)
        self._renumber(list(self._modules.values()))

    def _renumber(self, modules: list[Module | None]) -> None:
        """Key the modules 0, 1, 2, ... again (after a deletion or insertion), as PyTorch."""
        for key in list(self._modules):
            self._forget(key)
        for i, module in enumerate(modules):
            self.add_module(str(i), module)

    def append(self, module: Module | None) -> _Indexed:
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module | None]) -> _Indexed:
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Put ``module`` before position ``index`` (as ``list.insert``)."""
        if not isinstance(module, Module):
            raise TypeError(
                f"{type(self).__name__}.insert expected a Module, got {_describe(module)}"
            )
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._renumber(modules)


class Sequential(_Indexed):
    """Modules applied one after the other: ``Sequential(Linear(4, 8), ReLU(), Linear(8, 3))``.

    Also ``Sequential(OrderedDict([('hidden', Linear(4, 8)), ...]))`` to name the
    steps. Indexable (an int gives the module, a slice a new Sequential sharing
    the modules), iterable, ``len``, ``append``. Shapes: whatever the first module
    takes -> whatever the last returns.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], Mapping):
            for key, module in args[0].items():
                self.add_module(key, module)
            return
        for position, module in enumerate(args):
            if not isinstance(module, Module):
                raise TypeError(
                    f"Sequential expected Modules, got {_describe(module)} at position {position}"
                )
            self.add_module(str(position), module)

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return self._modules[self._key(idx)]

    def forward(self, input: Any) -> Any:
        for module in self._modules.values():
            if module is None:  # a None step (add_module allows it) fails as calling it would
                raise TypeError("'NoneType' object is not callable")
            input = module(input)
        return input


class ModuleList(_Indexed):
    """A list of modules whose parameters are registered (names '0', '1', ...).

    It has no ``forward``: iterate over it in the owner's ``forward``. Assigning a
    plain list of modules to a Module attribute makes one of these automatically.
    """

    def __init__(self, modules: Iterable[Module | None] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return self._modules[self._key(idx)]

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)  # type: ignore[return-value]

    def __repr__(self) -> str:
        # PyTorch's compact form: runs of identical modules print once, as "(0-2): 3 x ...".
        reprs = [repr(module) for module in self]
        if not reprs:
            return f"{self._get_name()}()"
        runs: list[list[Any]] = []  # [start, end, text]
        for i, text in enumerate(reprs):
            if runs and runs[-1][2] == text:
                runs[-1][1] = i
            else:
                runs.append([i, i, text])
        lines = []
        for start, end, text in runs:
            if start == end:
                line = f"({start}): {text}"
            else:
                line = f"({start}-{end}): {end - start + 1} x {text}"
            lines.append(_addindent(line, 2))
        return f"{self._get_name()}(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """A dict of modules whose parameters are registered under their keys.

    Keeps insertion order. It has no ``forward``. Assigning a plain dict of modules
    to a Module attribute makes one of these automatically.
    """

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        try:
            return self._modules[key]  # type: ignore[return-value]
        except KeyError:
            raise _KeyError(
                f"ModuleDict has no key {key!r}; keys: {', '.join(map(repr, self._modules))}"
            ) from None

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        self[key]  # the KeyError above, naming the keys
        self._forget(key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def values(self) -> Iterable[Module]:
        return self._modules.values()  # type: ignore[return-value]

    def items(self) -> Iterable[tuple[str, Module]]:
        return self._modules.items()  # type: ignore[return-value]

    def pop(self, key: str) -> Module:
        module = self[key]
        self._forget(key)
        return module

    def clear(self) -> None:
        for key in list(self._modules):
            self._forget(key)

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for pair in pairs:
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(
                    f"ModuleDict.update expected a mapping or (key, module) pairs, got {pair!r}"
                )
            self.add_module(*pair)
