"""The one exception a bad model or checkpoint file may raise."""

from __future__ import annotations


class ModelFormatError(ValueError):
    """A file is not a valid chainrule model or checkpoint; the message names the defect.

    ``chainrule.load`` raises nothing else for a bad file: truncation, a wrong header
    length, bad JSON, unknown dtypes, overlapping or gapped offsets, shapes that do not
    match the architecture, non-finite values, a missing file or a directory.
    """
