"""Project-level promises: a NumPy-only core, README and CI in step (the import layering
of every pair of packages is tests/test_layering.py's)."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "chainrule"


def test_core_import_needs_numpy_only():
    code = (
        "import sys, chainrule, chainrule.nn.functional; "
        "heavy = {'torch', 'scipy', 'sklearn', 'matplotlib', 'pandas', 'tqdm', 'rich'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    test_command = next(c for c in commands if "pytest" in c)
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_ci_runs_the_suite_with_one_and_with_two_blas_threads():
    # A result that depends on how the BLAS splits a product must not pass CI by luck.
    ci = (ROOT / ".ci" / "run").read_text()
    assert "export OPENBLAS_NUM_THREADS=1" in ci
    assert "OPENBLAS_NUM_THREADS=2 .venv/bin/python -m pytest" in ci


def test_ci_runs_the_readme_main_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    main_command = next(c for c in commands if "pytest" not in c)
    assert "chainrule demo" in main_command
    assert main_command in (ROOT / ".ci" / "run").read_text()


def test_bundled_data_is_package_data():
    if sys.version_info < (3, 11):
        return
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["chainrule"]
    for path in (PACKAGE / "data" / "_bundled").iterdir():
        assert any(path.match(pattern) for pattern in patterns), path


def test_console_script_and_module_entry_point():
    done = subprocess.run(
        [sys.executable, "-m", "chainrule", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith("chainrule ")
    done = subprocess.run(
        [sys.executable, "-m", "chainrule", "ops", "no_such_op"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "unknown op no_such_op" in done.stderr
