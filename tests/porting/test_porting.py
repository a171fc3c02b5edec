"""PyTorch scripts run on chainrule with only their import lines changed.

Each script in ``scripts/`` is an ordinary PyTorch program. The test rewrites its
import lines (``import torch`` -> ``import chainrule as torch`` and so on), runs it in
a fresh interpreter and checks the numbers it prints. With torch installed, the
original script runs too and both must reach about the same result.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import chainrule.nn as nn

pytest.importorskip("sklearn")

SCRIPTS = Path(__file__).parent / "scripts"
SRC = Path(__file__).resolve().parents[2] / "src"

# The only lines the port may change: import lines, one for one.
IMPORTS = [
    (r"^import torch$", "import chainrule as torch"),
    (r"^import torch\.nn as nn$", "import chainrule.nn as nn"),
    (r"^import torch\.nn\.functional as F$", "import chainrule.nn.functional as F"),
    (r"^from torch\.utils\.data import (.+)$", r"from chainrule.utils.data import \1"),
]


def port(source: str) -> str:
    """``source`` with its torch import lines replaced; any other torch import fails."""
    lines = []
    for line in source.splitlines():
        for pattern, replacement in IMPORTS:
            if re.match(pattern, line):
                line = re.sub(pattern, replacement, line)
                break
        else:
            assert not re.match(r"^\s*(import|from)\s+torch\b", line), (
                f"import line the port does not handle: {line!r}"
            )
        lines.append(line)
    return "\n".join(lines) + "\n"


def run(source: str, tmp_path: Path) -> dict[str, float]:
    """Run ``source`` in a fresh interpreter; the ``name: number`` lines it prints."""
    script = tmp_path / "script.py"
    script.write_text(source)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    values = {}
    for line in done.stdout.splitlines():
        name, sep, value = line.rpartition(": ")
        if sep:
            values[name] = float(value)
    return values


def _needs(*names: str):
    """xfail (not strict) while the loss modules a script uses are not in chainrule.nn."""
    missing = [n for n in names if not hasattr(nn, n)]
    return pytest.mark.xfail(
        bool(missing), reason="needs loss modules (layers branch)", strict=False
    )


# script, {printed name: (lowest, highest)}, marks
CASES = [
    pytest.param(
        "mlp_digits.py",
        {"accuracy": (0.95, 1.0), "reloaded accuracy": (0.95, 1.0)},
        marks=_needs("CrossEntropyLoss"),
        id="mlp_digits",
    ),
    pytest.param("regressor.py", {"r2": (0.95, 1.0)}, id="regressor"),
    pytest.param(
        "autoencoder.py",
        {"explained": (0.6, 1.0), "mse": (0.0, 0.05)},
        marks=_needs("MSELoss"),
        id="autoencoder",
    ),
]


def test_port_changes_import_lines_only():
    source = (SCRIPTS / "mlp_digits.py").read_text()
    ported = port(source)
    changed = [
        (a, b) for a, b in zip(source.splitlines(), ported.splitlines(), strict=True) if a != b
    ]
    assert changed == [
        ("import torch", "import chainrule as torch"),
        ("import torch.nn as nn", "import chainrule.nn as nn"),
        (
            "from torch.utils.data import DataLoader, TensorDataset",
            "from chainrule.utils.data import DataLoader, TensorDataset",
        ),
    ]


@pytest.mark.parametrize(("name", "expected"), CASES)
def test_ported_script_reaches_its_result(name, expected, tmp_path):
    values = run(port((SCRIPTS / name).read_text()), tmp_path)
    for key, (low, high) in expected.items():
        assert key in values, f"{name} printed {values}, no {key!r}"
        assert low <= values[key] <= high, f"{name}: {key} = {values[key]}"
    if "reloaded accuracy" in values:
        # The state dict saved with torch.save and loaded back is the same model.
        assert values["reloaded accuracy"] == values["accuracy"]


@pytest.mark.parametrize(("name", "expected"), CASES)
def test_script_matches_pytorch(name, expected, tmp_path):
    pytest.importorskip("torch")
    source = (SCRIPTS / name).read_text()
    ours = run(port(source), tmp_path)
    theirs = run(source, tmp_path)
    for key in expected:
        # Different random streams: the same quality, not the same digits.
        assert abs(ours[key] - theirs[key]) <= 0.03, (key, ours[key], theirs[key])
