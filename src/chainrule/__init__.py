"""chainrule: feedforward networks trained by backpropagation on NumPy, showing their work.

``import chainrule as cr`` needs NumPy only: the tensor engine, ``cr.nn`` (layers and
the functional API), ``cr.optim``, ``cr.data`` and ``cr.fit``. Optional extras (progress
bars, plots, model files) are imported lazily where they are used.
"""

from . import data, nn, optim, train
from ._version import __version__
from .autodiff import *  # noqa: F403
from .autodiff import __all__ as _autodiff_names
from .explain import Explanation, explain
from .train import History, TrainingDivergedError, evaluate, fit, predict

__all__ = [
    "Explanation",
    "History",
    "TrainingDivergedError",
    "__version__",
    "data",
    "evaluate",
    "explain",
    "fit",
    "nn",
    "optim",
    "predict",
    "train",
    *_autodiff_names,
]
