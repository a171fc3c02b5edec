"""The exceptions the ``chainrule`` command turns into one-line messages."""

from __future__ import annotations

import os


class UsageError(Exception):
    """A mistake in what the user asked for: reported in one line, exit code 2."""


def check_output(path: str, flag: str) -> None:
    """Raise UsageError unless ``path`` can be written atomically (checked before any work,
    so a long run does not end in a traceback): its folder exists and is writable, and the
    path is not itself a folder."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"{flag} {path}: is a folder; expected a file name")
    if not os.path.isdir(folder):
        raise UsageError(f"{flag} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: cannot write to the folder {folder}")
