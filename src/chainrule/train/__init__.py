"""Training: the ``fit`` loop, callbacks, metrics, history, progress and plots."""

from . import metrics
from .callbacks import Callback, EarlyStopping, LearningRateScheduler, ModelCheckpoint
from .errors import TrainingDivergedError
from .history import History
from .loop import LOSSES, Trainer, evaluate, fit, predict

__all__ = [
    "LOSSES",
    "Callback",
    "EarlyStopping",
    "History",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "Trainer",
    "TrainingDivergedError",
    "evaluate",
    "fit",
    "metrics",
    "predict",
]
