"""The layers of the code (docs/architecture.md): every import goes downward.

Each package under ``src/chainrule`` (and each top-level module) is a *unit*; units sit on
tiers, and a unit may import only units on lower tiers. Siblings on one tier never import
each other, so ``nn`` and ``data`` stay independent, and so do ``train`` and ``explain``.
Every import is read with ``ast``: module level or inside a function (lazy imports count:
they are dependencies all the same), absolute or relative (``from . import x``,
``from .. import nn``). A test is generated for every ordered pair of units, so a failure
names the pair and each offending ``file:line``.
"""

from __future__ import annotations

import ast
import itertools
import pathlib
from collections.abc import Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "chainrule"

# Lowest first. The order follows docs/architecture.md (and DESIGN.md's "Layers of the
# code"), with what the code has shown it needs:
# - ``io`` sits below ``train``: io writes and reads files of modules and states (it builds
#   ``nn`` layers), and train's ModelCheckpoint callback saves through it. Nothing in io
#   trains.
# - ``onnx`` is io's export, a package of its own so that ``import chainrule`` never needs
#   the onnx package; it reads models through io.
# - ``utils`` is PyTorch's ``torch.utils.data`` names over ``data``.
# - ``distributed`` (MPI) needs no other layer: ``data`` shards by its rank, ``train``
#   reduces gradients through it.
# - ``pipeline`` (the trained model with its preprocessing) is above ``train`` and ``io``.
# - ``chainrule`` is the package's ``__init__``: the public names of every layer but the CLI.
TIERS: list[tuple[str, ...]] = [
    # autodiff: NumPy only; distributed: mpi4py (lazily) only
    ("autodiff", "_vendor", "_version", "_regular_file", "distributed"),
    ("nn", "data"),
    ("optim", "io", "utils"),
    ("train", "explain", "onnx"),
    ("pipeline", "sklearn"),
    ("playground",),
    ("chainrule",),
    ("cli",),
    ("__main__",),
]
TIER = {unit: level for level, units in enumerate(TIERS) for unit in units}

# Imports that break the tiers today, each with the reason it is tolerated. Empty: every
# import of the code goes downward. An entry is ("importer", "imported"): "why".
ALLOWED_EXCEPTIONS: dict[tuple[str, str], str] = {}


def unit_of(module: str) -> str:
    """The unit a dotted module name belongs to: ``chainrule.nn.functional`` -> ``nn``."""
    parts = module.split(".")
    if parts[0] != "chainrule":
        raise ValueError(f"not a chainrule module: {module}")
    if len(parts) == 1 or parts[1] == "__init__":
        return "chainrule"
    return parts[1]


def _module_name(path: pathlib.Path, package_root: pathlib.Path) -> tuple[str, bool]:
    """(dotted name, is a package's ``__init__``) of a file under ``package_root``."""
    parts = path.relative_to(package_root.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _is_module(dotted: str, package_root: pathlib.Path) -> bool:
    relative = pathlib.Path(*dotted.split(".")[1:])
    base = package_root / relative
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(
    path: pathlib.Path, package_root: pathlib.Path = PACKAGE
) -> Iterator[tuple[str, int]]:
    """(imported chainrule module, line) for every import statement of a file.

    ``from X import name`` counts as importing ``X.name`` when that is a module
    (``from .. import nn`` imports ``chainrule.nn``), else ``X`` itself.
    """
    root_name = package_root.name
    module, is_package = _module_name(path, package_root)
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == root_name:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != root_name:
                continue
            for alias in node.names:
                child = f"{source}.{alias.name}"
                yield (child if _is_module(child, package_root) else source), node.lineno


def import_edges(
    package_root: pathlib.Path = PACKAGE,
) -> dict[tuple[str, str], list[str]]:
    """(importer unit, imported unit) -> ["file:line", ...], between different units."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path in sorted(package_root.rglob("*.py")):
        module, _ = _module_name(path, package_root)
        importer = unit_of(module)
        for imported, line in imports_of(path, package_root):
            target = unit_of(imported)
            if target != importer:
                where = f"{path.relative_to(package_root.parent).as_posix()}:{line}"
                edges.setdefault((importer, target), []).append(where)
    return edges


def wrong_imports(
    edges: dict[tuple[str, str], list[str]],
    tiers: dict[str, int] = TIER,
    allowed: dict[tuple[str, str], str] = ALLOWED_EXCEPTIONS,
) -> list[str]:
    """One line per import that does not go to a lower tier (and is not allowed)."""
    found = []
    for (importer, imported), places in sorted(edges.items()):
        if (importer, imported) in allowed:
            continue
        if importer not in tiers or imported not in tiers:
            unknown = importer if importer not in tiers else imported
            found.append(f"{unknown} is on no tier (add it to TIERS): {', '.join(places)}")
        elif tiers[imported] >= tiers[importer]:
            found.append(f"{importer} imports {imported}: {', '.join(places)}")
    return found


def _units() -> list[str]:
    units = {unit_of(_module_name(p, PACKAGE)[0]) for p in PACKAGE.rglob("*.py")}
    units.update(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__")
    return sorted(units)


EDGES = import_edges()
UNITS = _units()


def test_every_unit_is_on_a_tier():
    assert sorted(set(UNITS) - set(TIER)) == []
    assert sorted(set(TIER) - set(UNITS)) == [], "TIERS names a unit that does not exist"


PAIRS = list(itertools.permutations(UNITS, 2))


@pytest.mark.parametrize(("importer", "imported"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_imports_only_go_downward(importer, imported):
    places = EDGES.get((importer, imported), [])
    if not places or (importer, imported) in ALLOWED_EXCEPTIONS:
        return
    assert TIER[imported] < TIER[importer], (
        f"{importer} (tier {TIER[importer]}) may not import {imported} "
        f"(tier {TIER[imported]}): {', '.join(places)}; see docs/architecture.md"
    )


def test_the_exceptions_are_still_needed():
    # An exception whose import has gone must go too, or it would hide a new one.
    stale = [pair for pair in ALLOWED_EXCEPTIONS if pair not in EDGES]
    assert stale == []


def test_autodiff_imports_no_other_package():
    assert [pair for pair in EDGES if pair[0] == "autodiff"] == []


def test_nothing_but_the_entry_point_imports_the_cli():
    assert [pair for pair in EDGES if pair[1] == "cli" and pair[0] != "__main__"] == []


# -- the checker itself, on a synthetic package ---------------------------------------


def _write(root: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    package = root / "chainrule"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return package


SYNTHETIC = {
    "__init__.py": "from . import nn\n",
    "autodiff/__init__.py": "",
    "autodiff/engine.py": "import numpy as np\n",
    "nn/__init__.py": "from ..autodiff import engine\n",
    "nn/layers.py": "from chainrule.autodiff.engine import np\n",
    "cli/__init__.py": "",
    "cli/main.py": "from .. import nn\nfrom chainrule import autodiff\n",
}


def test_checker_passes_a_package_that_imports_downward(tmp_path):
    package = _write(tmp_path, SYNTHETIC)
    edges = import_edges(package)
    assert set(edges) == {
        ("chainrule", "nn"),
        ("nn", "autodiff"),
        ("cli", "nn"),
        ("cli", "autodiff"),
    }
    assert wrong_imports(edges) == []


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        # a module-level absolute import upward
        ("autodiff/bad.py", "import chainrule.nn.layers\n", "autodiff imports nn"),
        # a lazy import inside a function, relative, naming a module with `from .. import`
        (
            "autodiff/lazy.py",
            "def f():\n    from .. import nn\n    return nn\n",
            "autodiff imports nn",
        ),
        # `from ..cli.main import x` from a lower package
        ("nn/worse.py", "from ..cli.main import nn\n", "nn imports cli"),
        # a sibling on the same tier
        ("nn/sibling.py", "from chainrule.data import x\n", "nn imports data"),
        # two dots from a nested module: chainrule.nn.functional -> chainrule.cli
        ("nn/functional/deep.py", "from ...cli import main\n", "nn imports cli"),
        # a package nobody placed on a tier
        ("newpkg/__init__.py", "from ..autodiff import engine\n", "newpkg is on no tier"),
    ],
)
def test_checker_catches_a_wrong_import(tmp_path, name, text, expected):
    package = _write(tmp_path, {**SYNTHETIC, "data/__init__.py": "", name: text})
    found = wrong_imports(import_edges(package))
    assert len(found) == 1 and found[0].startswith(expected), found
    assert name in found[0]


def test_checker_honours_an_allowed_exception(tmp_path):
    package = _write(tmp_path, {**SYNTHETIC, "autodiff/bad.py": "import chainrule.nn\n"})
    edges = import_edges(package)
    assert wrong_imports(edges, allowed={("autodiff", "nn"): "a test"}) == []
