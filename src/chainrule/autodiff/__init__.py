"""Reverse-mode automatic differentiation on NumPy arrays (NumPy only)."""

from . import compat as _compat
from . import methods as _methods  # noqa: F401  (binds Tensor's operators)
from .compat import *  # noqa: F403
from .compat import __all__ as _compat_names
from .compile import Compiled, CompileError, compile
from .dtypes import get_default_dtype, set_default_dtype
from .engine import (
    BackwardEvent,
    Node,
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    listen_backward,
    no_grad,
    set_grad_enabled,
    unbroadcast,
)
from .errors import AnomalyError, GradcheckError, GraphFreedError
from .functions import *  # noqa: F403
from .functions import __all__ as _function_names
from .gradcheck import gradcheck
from .registry import REGISTRY, Op, defop
from .tensor import Tensor, as_tensor, tensor
from .torch_functions import *  # noqa: F403
from .torch_functions import __all__ as _torch_function_names

# Where PyTorch's meaning differs from the core function's, PyTorch's wins here (an
# assignment, so the import order above does not matter).
globals().update(_compat.OVERRIDES)

__all__ = [
    "REGISTRY",
    "AnomalyError",
    "BackwardEvent",
    "CompileError",
    "Compiled",
    "GradcheckError",
    "GraphFreedError",
    "Node",
    "Op",
    "Tensor",
    "as_tensor",
    "compile",
    "defop",
    "detect_anomaly",
    "enable_grad",
    "get_default_dtype",
    "gradcheck",
    "is_grad_enabled",
    "listen_backward",
    "no_grad",
    "set_default_dtype",
    "set_grad_enabled",
    "tensor",
    "unbroadcast",
    *_function_names,
    *_torch_function_names,
    *_compat_names,
]
