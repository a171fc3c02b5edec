"""``solver='lbfgs'``: scipy's L-BFGS-B on the network's parameters as one vector.

The objective and its gradient come from the engine (the model's forward, the
estimator's :class:`~._model.Objective`, ``backward()``), always in float64: scipy's
L-BFGS-B works in float64 and stops when the loss falls by less than
``factr·eps ≈ 2.2e-9`` of itself in an iteration; a float32 loss resolves only
~6e-8 of itself, and float32 weights would round scipy's trial points, so its line
search would see a staircase and take another path (or stop early).

The operations come in scikit-learn's order: the gradient of the *summed* loss plus
the penalty (backpropagated p − y, plus alpha·W), then divided by the data's weight;
the parameters are packed as scikit-learn packs them (every weight matrix, then every
bias). Rounding then matches its own closely enough that one ``random_state`` gives
its iterations, loss and predictions.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning

from .. import nn
from ..autodiff import Tensor, no_grad
from ..autodiff.functions import transpose
from ..nn.utils import parameters_to_vector
from . import _model

_SCIPY_VERSION = tuple(int(part) for part in scipy.__version__.split(".")[:2])


def _grad_vector(params: list[Tensor]) -> np.ndarray:
    """The parameters' gradients as one vector, weights as (n_in, n_out) matrices."""
    parts = []
    for p in params:
        grad = p.grad
        assert grad is not None  # backward() reached every parameter of the model
        parts.append((grad.T if p.ndim == 2 else grad).ravel())
    return np.concatenate(parts)


def _parameters(model: nn.Sequential) -> list[Tensor]:
    """scikit-learn's packing order: the weight matrices, the biases, then batch norm's."""
    pairs = _model.affine(model)
    params = [w for w, _ in pairs] + [b for _, b in pairs]
    for norm in _model.norms(model):
        params += [norm.weight, norm.bias]
    return params


def minimize_lbfgs(
    est: Any,
    model: nn.Sequential,
    objective: _model.Objective,
    X: np.ndarray,
    Y: np.ndarray,
    sw: np.ndarray | None,
) -> None:
    """Fit ``model`` (float64, ``sklearn_layout``) on all of ``(X, Y)`` with sample
    weights ``sw``; sets ``n_iter_`` and ``loss_``."""
    target = objective.pack(Y, sw, np.dtype(np.float64))
    params = _parameters(model)
    x, t = Tensor(X), Tensor(target)
    model.train()
    last_loss = [np.nan]

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        _unpack(theta, params)
        for p in params:
            p.grad = None
        z = model(x)
        total, scale = objective.total(z, t)
        total.backward()
        scale = float(scale.data) if isinstance(scale, Tensor) else scale
        grad = _grad_vector(params)
        grad /= scale
        # the value scipy compares, in scikit-learn's arithmetic (see _model.mean_loss)
        last_loss[0] = _model.mean_loss(objective, z.data, Y, sw)
        last_loss[0] += objective.penalty_value() / scale
        return last_loss[0], grad

    iterations = [0]

    def report(theta: np.ndarray) -> None:
        iterations[0] += 1
        print(f"Iteration {iterations[0]}, loss = {last_loss[0]:.8f}")

    options: dict[str, Any] = {"maxfun": est.max_fun, "maxiter": est.max_iter, "gtol": est.tol}
    if _SCIPY_VERSION < (1, 15):
        options["iprint"] = -1  # silence older scipy; newer ones deprecate the option
    with no_grad():
        # weights as scikit-learn's (n_in, n_out) matrices: its element order
        theta0 = parameters_to_vector([transpose(p) if p.ndim == 2 else p for p in params]).data
    result = minimize(
        fun,
        theta0,
        method="L-BFGS-B",
        jac=True,
        options=options,
        callback=report if est.verbose else None,
    )
    _unpack(result.x, params)
    _data_statistics(model, x)
    est.n_iter_ = int(result.nit)
    est.loss_ = float(result.fun)
    if result.status != 0:
        message = result.message
        if isinstance(message, bytes):
            message = message.decode()
        warnings.warn(
            f"lbfgs failed to converge after {est.n_iter_} iteration(s) "
            f"(status={result.status}): {message}. Increase max_iter or max_fun, "
            "or scale the data.",
            ConvergenceWarning,
            stacklevel=4,
        )


def _data_statistics(model: nn.Sequential, x: Tensor) -> None:
    """Batch norm's running statistics trail the line search's trial points: make them
    the whole data set's statistics under the final weights (one pass, momentum 1)."""
    norms = _model.norms(model)
    if not norms:
        return
    saved = [norm.momentum for norm in norms]
    for norm in norms:
        norm.momentum = 1.0
    with no_grad():
        model(x)
    for norm, momentum in zip(norms, saved, strict=True):
        norm.momentum = momentum


def _unpack(theta: np.ndarray, params: list[Tensor]) -> None:
    """``parameters_to_vector``'s inverse for the packing above (weights transposed)."""
    start = 0
    for p in params:
        stop = start + p.data.size
        chunk = theta[start:stop]
        p.data[...] = chunk.reshape(p.shape[::-1]).T if p.ndim == 2 else chunk
        start = stop
