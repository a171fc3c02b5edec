"""The exception bad data files raise."""

from __future__ import annotations


class DataError(ValueError):
    """Input data that cannot be used, with a one-line message naming file, row and column.

    Rows are counted as in a text editor: the header is row 1, the first data row is row 2.
    """
