"""The playground ships its page inside the package and stays out of `import chainrule`."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
STATIC = ROOT / "src" / "chainrule" / "playground" / "static"


def test_the_page_files_are_package_data():
    if sys.version_info < (3, 11):
        return
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["chainrule"]
    files = sorted(STATIC.iterdir())
    assert {f.name for f in files} >= {"index.html", "app.js", "style.css"}
    for path in files:
        relative = path.relative_to(ROOT / "src" / "chainrule")
        assert any(relative.match(pattern) for pattern in patterns), relative
    extras = config["project"]["optional-dependencies"]
    assert any("playground" in e for e in extras["all"]) and any(
        "playground" in e for e in extras["test"]
    )


def test_the_page_loads_nothing_from_the_network():
    for path in STATIC.iterdir():
        text = path.read_text()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in text and "//cdn" not in text, path


def test_importing_chainrule_and_its_command_loads_no_web_server():
    code = (
        "import sys, chainrule, chainrule.cli.main, chainrule.playground.session; "
        "print(sorted({'starlette', 'uvicorn', 'playwright', 'httpx'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
