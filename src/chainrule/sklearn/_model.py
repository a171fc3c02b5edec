"""The estimators' network as a chainrule ``nn.Sequential``, their losses, and inference.

The fitted attributes (``coefs_`` (n_in, n_out), ``intercepts_``, the batch-norm
arrays) are the estimator's state, as in scikit-learn; each fit or prediction builds
the ``nn.Sequential`` they describe (Linear → [BatchNorm1d] → activation → [Dropout],
repeated, then the output Linear) and training writes the result back. The network
ends at the output layer's pre-activation: the losses take it (softmax cross-entropy,
sigmoid cross-entropy on logits, the Poisson deviance on the log link), and inference
applies the output activation. Every derivative comes from the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import xlogy

from .. import nn
from ..autodiff import Tensor, no_grad
from ..autodiff import functions as ops
from ..nn import functional as F
from ..train.loop import eval_block_rows

HIDDEN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
# scikit-learn's names -> nn's activation registry (identity: no layer)
_REGISTRY_NAME = {"logistic": "sigmoid"}


def build(
    coefs: Sequence[np.ndarray],
    intercepts: Sequence[np.ndarray],
    activations: Sequence[str],
    dtype: np.dtype,
    *,
    batch_norm: Sequence[Sequence[np.ndarray]] | None = None,
    dropout: Sequence[float] = (),
    rng: np.random.Generator | None = None,
    sklearn_layout: bool = False,
) -> nn.Sequential:
    """The ``nn.Sequential`` holding copies of the fitted arrays, in ``dtype``.

    ``batch_norm`` is (weights, biases, running means, running variances), one array
    per hidden layer each; ``dropout`` one probability per hidden layer, its masks
    drawn from generators spawned from ``rng``. With ``sklearn_layout`` each weight
    is the transpose of a C-ordered (n_in, n_out) array: ``x @ weight.T`` is then
    scikit-learn's own matrix product, with its rounding (BLAS rounds the two layouts
    differently), which L-BFGS needs to follow scikit-learn's path.
    """
    layers: list[nn.Module] = []
    last = len(coefs) - 1
    for i, (coef, intercept) in enumerate(zip(coefs, intercepts, strict=True)):
        # coefs_ is (n_in, n_out), scikit-learn's layout: nn.Linear's weight transposed
        linear = nn.Linear(coef.shape[0], coef.shape[1], bias=not sklearn_layout, dtype=dtype)
        if sklearn_layout:
            linear.weight.data = np.array(coef, dtype=dtype, order="C").T
            layers += [linear, Bias(np.array(intercept, dtype=dtype))]
        else:
            linear.weight.data = np.array(coef.T, dtype=dtype, order="C")
            linear.bias.data = np.array(intercept, dtype=dtype)
            layers.append(linear)
        if i == last:
            break
        if batch_norm is not None:
            norm = nn.BatchNorm1d(coef.shape[1], dtype=dtype)
            for tensor, array in zip(_bn_tensors(norm), (a[i] for a in batch_norm), strict=True):
                tensor.data = np.array(array, dtype=dtype)
            layers.append(norm)
        activation = nn.get_activation(_REGISTRY_NAME.get(activations[i], activations[i]))
        if activation is not None:
            layers.append(activation)
        p = float(dropout[i]) if dropout else 0.0
        if p > 0:
            seed = None if rng is None else int(rng.integers(2**63))
            layers.append(nn.Dropout(p, generator=seed))
    return nn.Sequential(*layers)


def load(
    model: nn.Sequential, coefs: Sequence[np.ndarray], intercepts: Sequence[np.ndarray]
) -> None:
    """Write ``coefs`` (n_in, n_out) and ``intercepts`` into the Linear layers of a model
    that ``build`` made for arrays of these shapes, in place: the parameters' arrays stay
    the ones a compiled step works on."""
    for (weight, bias), coef, intercept in zip(affine(model), coefs, intercepts, strict=True):
        weight.data[...] = coef.T
        bias.data[...] = intercept


class Bias(nn.Module):
    """Adds a learned bias (n_out,) through the engine's broadcasting ``add``.

    L-BFGS's layout only: the gradient is then NumPy's column sum of the batch, as
    scikit-learn computes it (``F.linear`` sums with a BLAS product, faster but
    rounded differently, which is enough for L-BFGS to leave scikit-learn's path).
    """

    def __init__(self, values: np.ndarray) -> None:
        super().__init__()
        self.bias = nn.Parameter(values)

    def forward(self, input: Tensor) -> Tensor:
        return input + self.bias


def affine(model: nn.Sequential) -> list[tuple[Tensor, Tensor]]:
    """(weight, bias) of each layer, whether the bias is the Linear's or a ``Bias``."""
    pairs = []
    for module in model:
        if isinstance(module, nn.Linear):
            pairs.append((module.weight, module.bias))
        elif isinstance(module, Bias):
            pairs[-1] = (pairs[-1][0], module.bias)
    return pairs


def _bn_tensors(norm: nn.BatchNorm1d) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    return norm.weight, norm.bias, norm.running_mean, norm.running_var


def norms(model: nn.Sequential) -> list[nn.BatchNorm1d]:
    return [m for m in model if isinstance(m, nn.BatchNorm1d)]


def read_back(model: nn.Sequential, dtype: np.dtype) -> dict[str, list[np.ndarray]]:
    """The fitted attributes of ``model``, as arrays of ``dtype``."""
    pairs = affine(model)
    state = {
        "coefs_": [np.array(w.data.T, dtype=dtype, order="C") for w, _ in pairs],
        "intercepts_": [np.array(b.data, dtype=dtype) for _, b in pairs],
    }
    names = ("bn_weights_", "bn_biases_", "bn_running_means_", "bn_running_vars_")
    if norms(model):
        for k, name in enumerate(names):
            state[name] = [np.array(_bn_tensors(m)[k].data, dtype=dtype) for m in norms(model)]
    return state


def weight_tensors(model: nn.Sequential) -> list[Tensor]:
    """The weight matrices: what L2 (``alpha``) and L1 act on (not biases, not batch norm)."""
    return [w for w, _ in affine(model)]


# -- losses ---------------------------------------------------------------------------------
def poisson_constant(y: np.ndarray) -> np.ndarray:
    """Σ_outputs (y log y − y) per sample: the half Poisson deviance's part without the
    network, so that the loss equals scikit-learn's (and is 0 at a perfect fit)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y > 0, y * np.log(np.where(y > 0, y, 1)), 0.0).sum(axis=1) - y.sum(axis=1)


def sample_losses(
    loss: str, out_activation: str, z: Tensor, y: Any, huber_delta: float, reduction: str = "none"
) -> tuple[Tensor, bool]:
    """The loss of each sample and output from the pre-activation ``z`` (n, k).

    Returns (elements, per_sample): elements (n, k), or (n,) when ``per_sample`` (the
    softmax cross-entropy is one number per sample); with ``reduction='sum'`` their
    sum, in one op. The canonical pairs (softmax or sigmoid with the log-loss, identity
    with the squared error, exp with Poisson) are single engine ops on ``z``, whose
    gradient is p − y.
    """
    if loss == "log_loss" and out_activation == "softmax":
        return F.cross_entropy(z, y, reduction=reduction), True
    if loss == "log_loss":
        return F.binary_cross_entropy_with_logits(z, y, reduction=reduction), False
    if loss == "squared_error":
        return 0.5 * F.mse_loss(z, y, reduction=reduction), False
    if loss == "absolute_error":
        return F.l1_loss(z, y, reduction=reduction), False
    if loss == "huber":
        return F.huber_loss(z, y, reduction=reduction, delta=huber_delta), False
    if loss == "poisson":  # exp(z) − y·z: the deviance on the log link, up to a constant
        elements = ops.exp(z) - y * z
        return (elements.sum() if reduction == "sum" else elements), False
    raise ValueError(f"unknown loss {loss!r}")


class Objective:
    """The training objective on a batch: (Σ_i w_i ℓ_i + penalty) / Σ_i w_i.

    ``ℓ_i`` sums sample i's loss over the outputs; ``w_i`` is its weight (1 without
    sample weights); the penalty is ``alpha/2 · Σ‖W‖² + l1 · Σ|W|`` over the weight
    matrices: scikit-learn's objective, whose L2 and L1 terms shrink with the batch's
    weight. The target the engine batches holds, column by column, the outputs' targets
    (or the class index, for the plain softmax case), then optionally the Poisson
    constant and the sample weight (see :meth:`pack`).
    """

    def __init__(
        self,
        loss: str,
        out_activation: str,
        weights: list[Tensor],
        alpha: float,
        l1: float,
        huber_delta: float,
        n_outputs: int,
        *,
        weighted: bool,
        constant: bool,
    ) -> None:
        self.loss, self.out_activation, self.weights = loss, out_activation, weights
        self.alpha, self.l1, self.huber_delta = alpha, l1, huber_delta
        self.n_outputs, self.weighted, self.constant = n_outputs, weighted, constant
        # the plain case: integer class indices, the engine's fastest cross-entropy
        self.labels = out_activation == "softmax" and not weighted

    def pack(self, Y: np.ndarray, sw: np.ndarray | None, dtype: np.dtype) -> np.ndarray:
        """The target array for ``Y`` (n, k) and the sample weights."""
        if self.labels:
            return Y.argmax(axis=1)
        columns = [np.asarray(Y, dtype=dtype)]
        if self.constant:
            columns.append(poisson_constant(Y)[:, None])
        if self.weighted:
            columns.append(np.asarray(sw)[:, None])
        return np.ascontiguousarray(np.hstack(columns), dtype=dtype)

    def penalty(self) -> Tensor | None:
        total = None
        for w in self.weights:
            term = None
            if self.alpha:
                # w ** 2: its gradient is α·w in one term (w * w would add α/2·w twice,
                # which rounds differently from scikit-learn's α·W)
                term = (0.5 * self.alpha) * (w**2).sum()
            if self.l1:
                absolute = self.l1 * ops.abs(w).sum()
                term = absolute if term is None else term + absolute
            if term is not None:
                total = term if total is None else total + term
        return total

    def penalty_value(self) -> float:
        """The penalty's value, summed as scikit-learn sums it (a dot product per layer)."""
        total = 0.0
        if self.alpha:
            # on the (n_in, n_out) matrices, in scikit-learn's element order
            squares = 0.0
            for w in self.weights:
                coef = w.data.T.ravel()
                squares += np.dot(coef, coef)
            total += (0.5 * self.alpha) * squares
        if self.l1:
            total += self.l1 * sum(float(np.abs(w.data).sum()) for w in self.weights)
        return total

    def total(self, z: Tensor, target: Tensor) -> tuple[Tensor, Any]:
        """(Σ_i w_i ℓ_i + penalty, Σ_i w_i): the objective before its division."""
        k = self.n_outputs
        # the targets alone need no slicing (one op less per step)
        y = target if self.labels or not (self.weighted or self.constant) else target[:, :k]
        reduction = "none" if self.weighted else "sum"
        elements, per_sample = sample_losses(
            self.loss, self.out_activation, z, y, self.huber_delta, reduction
        )
        scale: Tensor | float
        if self.weighted:
            w = target[:, -1]
            rows = elements if per_sample else elements.sum(axis=1)
            data, scale = (rows * w).sum(), w.sum()
            if self.constant:
                data = data + (target[:, k] * w).sum()
        else:
            data, scale = elements, float(z.shape[0])
            if self.constant:
                data = data + target[:, k].sum()
        penalty = self.penalty()
        return (data if penalty is None else data + penalty), scale

    def __call__(self, z: Tensor, target: Tensor) -> Tensor:
        """The mean objective of a batch: what the optimizer minimizes and ``loss_`` shows."""
        total, scale = self.total(z, target)
        return total / scale


# -- inference ------------------------------------------------------------------------------
def activate(out_activation: str, z: np.ndarray) -> np.ndarray:
    """The output activation on the pre-activation ``z`` (n, k): the predictions."""
    with no_grad():
        t = Tensor(z)
        if out_activation == "softmax":
            return F.softmax(t, dim=-1).data
        if out_activation == "logistic":
            return F.sigmoid(t).data
        if out_activation == "exp":
            # exp overflows past log(max): the clip keeps the Poisson mean finite
            top = float(np.log(np.finfo(z.dtype).max) - 1)
            return ops.exp(ops.clip(t, max=top)).data
    return z


def outputs(model: nn.Sequential, X: Any, dtype: np.dtype) -> np.ndarray:
    """The output layer's pre-activation, (n_samples, n_outputs), in eval mode.

    Computed in blocks of rows (a few large matrix products, bounded memory); sparse
    ``X`` is made dense one block at a time.
    """
    was_training = model.training
    model.eval()
    rows = eval_block_rows(model, X.shape[1])
    parts = [np.empty((0, affine(model)[-1][1].shape[0]), dtype=dtype)]
    with no_grad():
        for start in range(0, X.shape[0], rows):
            block = X[start : start + rows]
            block = block.toarray() if sp.issparse(block) else block
            parts.append(model(Tensor(np.asarray(block, dtype=dtype))).data)
    model.train(was_training)
    return parts[1] if len(parts) == 2 else np.concatenate(parts)


def mean_loss(objective: Objective, z: np.ndarray, Y: np.ndarray, sw: np.ndarray | None) -> float:
    """The (weighted) mean data loss of outputs ``z`` against targets ``Y`` (no penalty).

    A value only (the gradients come from :class:`Objective`), computed as scikit-learn
    computes its loss: from the predictions, log-loss on probabilities clipped to
    [eps, 1 − eps], averaged per output then summed over outputs. What L-BFGS's line
    search compares then rounds as scikit-learn's does.
    """
    loss = objective.loss
    if loss in ("absolute_error", "huber"):  # losses scikit-learn does not have
        with no_grad():
            elements, _ = sample_losses(
                loss, "identity", Tensor(z), Tensor(Y), objective.huber_delta
            )
        return float(np.average(elements.data, weights=sw, axis=0).sum())
    P = activate(objective.out_activation, z)
    if loss == "squared_error":
        elements = (Y - P) ** 2
        return float(0.5 * np.average(elements, weights=sw, axis=0).sum())
    if loss == "poisson":
        return float(np.average(xlogy(Y, Y / P) - Y + P, weights=sw, axis=0).sum())
    eps = np.finfo(P.dtype).eps
    P = np.clip(P, eps, 1 - eps)
    elements = xlogy(Y, P)
    if objective.out_activation == "logistic":
        elements += xlogy(1 - Y, 1 - P)
    return float(-np.average(elements, weights=sw, axis=0).sum())
