"""Training: one ``Trainer`` (step, epoch loop, callbacks), ``fit`` in front of it,
callbacks (history, progress, divergence guard, early stopping, schedules, checkpoints
and resuming), metrics and plots."""

from . import metrics
from .callbacks import Callback, EarlyStopping, LearningRateScheduler, ModelCheckpoint
from .errors import TrainingDivergedError
from .guard import DivergenceGuard
from .history import History
from .loop import LOSSES, evaluate, fit, predict
from .progress import ProgressBar
from .trainer import Trainer

__all__ = [
    "LOSSES",
    "Callback",
    "DivergenceGuard",
    "EarlyStopping",
    "History",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ProgressBar",
    "Trainer",
    "TrainingDivergedError",
    "evaluate",
    "fit",
    "metrics",
    "predict",
]
