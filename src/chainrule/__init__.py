"""chainrule: feedforward networks trained by backpropagation on NumPy, showing their work.

``import chainrule as cr`` needs NumPy only: the tensor engine, ``cr.nn`` (layers and
the functional API), ``cr.optim``, ``cr.data`` and ``cr.fit``. Optional extras (progress
bars, plots, model files) are imported lazily where they are used; ``cr.sklearn`` (the
scikit-learn estimators) loads on first access.
"""

from . import data, nn, optim, train
from ._version import __version__
from .autodiff import *  # noqa: F403
from .autodiff import __all__ as _autodiff_names
from .train import History, TrainingDivergedError, evaluate, fit, predict

__all__ = [
    "History",
    "TrainingDivergedError",
    "__version__",
    "data",
    "evaluate",
    "fit",
    "nn",
    "optim",
    "predict",
    "train",
    *_autodiff_names,
]


def __getattr__(name: str):
    # ``cr.sklearn`` loads on first use: ``import chainrule`` must not import scikit-learn
    if name == "sklearn":
        import importlib

        return importlib.import_module(".sklearn", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
