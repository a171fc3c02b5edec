"""Exceptions raised by the autodiff engine."""

from __future__ import annotations


class GradcheckError(AssertionError):
    """An analytical gradient disagrees with its central finite difference."""


class AnomalyError(FloatingPointError):
    """Under ``detect_anomaly()``, a backward step produced NaN or infinity."""


class GraphFreedError(RuntimeError):
    """``backward`` reached a part of the graph whose saved values were already released."""
