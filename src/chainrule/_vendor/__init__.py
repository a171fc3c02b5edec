"""Third-party browser assets shipped inside the package (see each folder's README)."""

from __future__ import annotations

from pathlib import Path

KATEX_DIR = Path(__file__).with_name("katex")
"""Folder of the vendored KaTeX: ``katex.min.js``, ``katex.min.css``, ``contrib/``, ``fonts/``."""
