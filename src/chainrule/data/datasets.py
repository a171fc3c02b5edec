"""Datasets shipped inside the package, so examples and ``chainrule demo`` need no download.

The 8×8 handwritten digits are the test set of the UCI "Optical Recognition of
Handwritten Digits" data (E. Alpaydin, C. Kaynak, 1998), licensed CC BY 4.0:
https://archive.ics.uci.edu/dataset/80 — the same 1797 images scikit-learn ships.
"""

from __future__ import annotations

import os

import numpy as np

_BUNDLED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_bundled")


def load_digits(dtype: type | np.dtype = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """The 8×8 digits: ``x`` (1797, 64) pixel counts 0..16 as ``dtype``; ``y`` (1797,) int64 0..9.

    Each row of ``x`` is one image read row by row (``x[i].reshape(8, 8)``).
    """
    # allow_pickle=False: the file holds two plain integer arrays and nothing else.
    with np.load(os.path.join(_BUNDLED, "digits.npz"), allow_pickle=False) as archive:
        images, labels = archive["images"], archive["labels"]
    return images.astype(dtype), labels.astype(np.int64)
