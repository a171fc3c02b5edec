"""Neural-network building blocks: Module, Parameter, layers, ``init`` and ``utils``.

``chainrule.nn.functional`` holds the stateless ops the layers call.
"""

from . import functional, init, utils
from .activation import ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Softplus, Tanh
from .containers import ModuleDict, ModuleList, Sequential
from .dropout import Dropout
from .layers import Flatten, Identity, Linear
from .module import IncompatibleKeys, Module, Parameter, StateDictKeyError
from .normalization import BatchNorm1d

__all__ = [
    "ELU",
    "GELU",
    "BatchNorm1d",
    "Dropout",
    "Flatten",
    "Identity",
    "IncompatibleKeys",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "Module",
    "ModuleDict",
    "ModuleList",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "StateDictKeyError",
    "Tanh",
    "functional",
    "init",
    "utils",
]
