"""The exceptions the ``chainrule`` command turns into one-line messages."""

from __future__ import annotations


class UsageError(Exception):
    """A mistake in what the user asked for: reported in one line, exit code 2."""
