"""Optimizers and learning-rate schedules with torch.optim's names, arguments and maths.

Each algorithm's update is one plain function in :mod:`chainrule.optim.functional`;
the classes keep the per-parameter state under PyTorch's names (``step``,
``momentum_buffer``, ``exp_avg``, ``exp_avg_sq``, ...) and call those functions.

>>> import chainrule.optim as optim
>>> opt = optim.Adam(model.parameters(), lr=1e-3)       # doctest: +SKIP
>>> opt.zero_grad(); loss.backward(); opt.step()         # doctest: +SKIP
>>> opt = optim.create("adam", model.parameters())      # doctest: +SKIP  (by name)
"""

from . import functional, lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .registry import OPTIMIZERS, create, optimizer_options
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Optimizer",
    "RMSprop",
    "create",
    "functional",
    "lr_scheduler",
    "optimizer_options",
]
