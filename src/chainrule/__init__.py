"""chainrule: feedforward networks trained by backpropagation on NumPy, showing their work.

``import chainrule as cr`` needs NumPy only: the tensor engine, ``cr.nn`` (layers and
the functional API), ``cr.optim``, ``cr.data`` and ``cr.fit``. Optional extras (progress
bars, plots, model files) are imported lazily where they are used. ``cr.save`` /
``cr.load`` write and read models, pipelines and checkpoints (safetensors, never
pickle); ``cr.ModelFormatError`` and ``cr.DataError`` are the two failure types for
bad files. ``cr.sklearn`` (the scikit-learn estimators) loads on first access.
"""

from . import data, io, nn, optim, train, utils
from ._version import __version__
from .autodiff import *  # noqa: F403
from .autodiff import __all__ as _autodiff_names
from .data.errors import DataError
from .explain import Explanation, explain
from .io import ModelFormatError, load, save
from .pipeline import Pipeline
from .train import History, TrainingDivergedError, evaluate, fit, predict

__all__ = [
    "DataError",
    "Explanation",
    "History",
    "ModelFormatError",
    "Pipeline",
    "TrainingDivergedError",
    "__version__",
    "data",
    "evaluate",
    "explain",
    "fit",
    "io",
    "load",
    "nn",
    "optim",
    "predict",
    "save",
    "train",
    "utils",
    *_autodiff_names,
]


def __getattr__(name: str):
    # ``cr.sklearn``, ``cr.onnx`` and ``cr.distributed`` load on first use: ``import
    # chainrule`` must not import scikit-learn (nor need onnx, nor look for MPI)
    if name in ("sklearn", "onnx", "distributed"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
