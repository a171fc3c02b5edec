"""The multilayer perceptron behind the estimators: forward and backward passes on NumPy.

The estimators train small dense networks on tabular data, where a step is a few tiny
matrix products and the fixed cost of each Python-level operation dominates. So this
module writes the forward pass and the chain rule out by hand for the one architecture
the estimators build (Linear → [BatchNorm] → activation → [Dropout], repeated, then the
output layer), with every trainable array a view into one flat buffer and every
gradient a view into a second one: an optimizer then updates the whole network in a
few NumPy calls. The gradients are the same closed forms the autodiff ops use
(σ' = σ(1−σ), tanh' = 1 − tanh², softmax-cross-entropy' = p − y) and are checked
against finite differences in ``tests/sklearn/test_network.py``.

Weights are stored as scikit-learn stores them, ``(n_in, n_out)``: the transpose of
``nn.Linear.weight``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit, xlogy

HIDDEN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
BN_EPS = 1e-5  # torch.nn.BatchNorm1d's defaults
BN_MOMENTUM = 0.1


def activate(name: str, z: np.ndarray) -> np.ndarray:
    """Apply activation ``name`` to ``z`` in place and return it."""
    if name == "relu":
        np.maximum(z, 0, out=z)
    elif name == "tanh":
        np.tanh(z, out=z)
    elif name == "logistic":
        expit(z, out=z)  # stable for large |z|, unlike 1 / (1 + exp(-z))
    elif name == "softmax":
        z -= z.max(axis=1, keepdims=True)  # exp never overflows
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
    elif name == "exp":
        # exp overflows past log(max); clipping keeps the Poisson mean finite
        np.clip(z, None, np.log(np.finfo(z.dtype).max) - 1, out=z)
        np.exp(z, out=z)
    elif name != "identity":
        raise ValueError(f"unknown activation {name!r}")
    return z


def derivative(name: str, a: np.ndarray, delta: np.ndarray) -> None:
    """Multiply ``delta`` in place by the activation's derivative, written with its output ``a``."""
    if name == "relu":
        delta *= a > 0
    elif name == "tanh":
        delta *= 1 - a * a  # tanh' = 1 − tanh²
    elif name == "logistic":
        # σ' = σ(1 − σ), multiplied in one factor at a time as scikit-learn does, so
        # that both libraries round alike and L-BFGS follows the same path
        delta *= a
        delta *= 1 - a


# Output activation and loss pairs whose gradient with respect to the pre-activation is
# simply (prediction − target): the canonical links.
CANONICAL = {
    ("softmax", "log_loss"),
    ("logistic", "log_loss"),
    ("identity", "squared_error"),
    ("exp", "poisson"),
}


def loss_elements(
    loss: str, out_activation: str, y: np.ndarray, p: np.ndarray, huber_delta: float = 1.0
) -> np.ndarray:
    """Loss of each sample and output: shape (n_samples, n_outputs).

    ``p`` is the output after its activation; ``y`` the target matrix of the same shape.
    The elementwise forms are scikit-learn's (``xlogy``, the clipped probabilities), so
    that averaging them as it does gives its loss to the last bit.
    """
    if loss == "log_loss":
        eps = np.finfo(p.dtype).eps
        q = np.clip(p, eps, 1 - eps)
        if out_activation == "softmax":
            return -xlogy(y, q)
        # one logistic unit per label: −[y·log q + (1−y)·log(1−q)]
        return -(xlogy(y, q) + xlogy(1 - y, 1 - q))
    d = p - y
    if loss == "squared_error":
        d *= d
        d *= 0.5
        return d
    if loss == "absolute_error":
        return np.abs(d, out=d)
    if loss == "huber":
        a = np.abs(d)
        quadratic = np.minimum(a, huber_delta)
        # ½q² + δ·(|d| − q): quadratic near zero, linear beyond δ (torch's huber_loss)
        return 0.5 * quadratic * quadratic + huber_delta * (a - quadratic)
    if loss == "poisson":
        eps = np.finfo(p.dtype).tiny
        return xlogy(y, y / np.maximum(p, eps)) - y + p
    raise ValueError(f"unknown loss {loss!r}")


def loss_values(
    loss: str, out_activation: str, y: np.ndarray, p: np.ndarray, huber_delta: float = 1.0
) -> np.ndarray:
    """Per-sample losses, summed over outputs: shape (n_samples,)."""
    return loss_elements(loss, out_activation, y, p, huber_delta).sum(axis=1)


def mean_loss(
    loss: str,
    out_activation: str,
    y: np.ndarray,
    p: np.ndarray,
    sample_weight: np.ndarray | None = None,
    huber_delta: float = 1.0,
) -> float:
    """The (weighted) mean over samples of the loss summed over outputs.

    Averaged per output first, then summed, in scikit-learn's order of operations:
    ``np.average(elements, weights=sample_weight, axis=0).sum()``. (For several
    regression targets scikit-learn takes the mean over outputs instead of the sum,
    which its gradient, p − y, does not follow; the sum keeps loss and gradient
    consistent, which L-BFGS's line search relies on.)
    """
    elements = loss_elements(loss, out_activation, y, p, huber_delta)
    return float(np.average(elements, weights=sample_weight, axis=0).sum())


def output_delta(
    loss: str, out_activation: str, y: np.ndarray, p: np.ndarray, huber_delta: float = 1.0
) -> np.ndarray:
    """∂(per-sample loss)/∂(output pre-activation), shape (n_samples, n_outputs).

    Computed in ``p``'s memory: ``p`` is overwritten.
    """
    d = np.subtract(p, y, out=p)
    if (out_activation, loss) in CANONICAL:
        return d
    if out_activation != "identity":
        raise ValueError(f"loss {loss!r} needs an identity output, got {out_activation!r}")
    if loss == "absolute_error":
        return np.sign(d, out=d)
    if loss == "huber":
        return np.clip(d, -huber_delta, huber_delta, out=d)
    raise ValueError(f"loss {loss!r} with output {out_activation!r} is not supported")


@dataclass
class Cache:
    """What the backward pass needs from one forward pass."""

    inputs: list[np.ndarray] = field(default_factory=list)  # input of each Linear
    activated: list[np.ndarray] = field(default_factory=list)  # f(h) before dropout
    masks: list[np.ndarray | None] = field(default_factory=list)
    normalized: list[np.ndarray] = field(default_factory=list)  # batch norm's x̂
    inv_std: list[np.ndarray] = field(default_factory=list)


class Network:
    """A dense network whose trainable arrays are views into one flat buffer.

    Parameters
    ----------
    coefs, intercepts : lists of arrays
        Weights ``(n_in, n_out)`` and biases ``(n_out,)`` of each layer. Copied into the
        flat buffer; ``self.coefs`` / ``self.intercepts`` are the views.
    activations : list of str
        One hidden activation per hidden layer.
    out_activation : str
        'identity', 'logistic', 'softmax' or 'exp'.
    gammas, betas, running_means, running_vars : lists of arrays or None
        Batch-norm scale, shift and running statistics of each hidden layer.
    dropout : list of float
        Dropout probability after each hidden layer.
    """

    def __init__(
        self,
        coefs: Sequence[np.ndarray],
        intercepts: Sequence[np.ndarray],
        activations: Sequence[str],
        out_activation: str,
        dtype: np.dtype,
        gammas: Sequence[np.ndarray] | None = None,
        betas: Sequence[np.ndarray] | None = None,
        running_means: Sequence[np.ndarray] | None = None,
        running_vars: Sequence[np.ndarray] | None = None,
        dropout: Sequence[float] = (),
    ) -> None:
        self.dtype = np.dtype(dtype)
        self.bn_momentum = BN_MOMENTUM
        self.activations = list(activations)
        self.out_activation = out_activation
        self.n_layers = len(coefs)
        self.batch_norm = gammas is not None
        self.dropout = list(dropout) or [0.0] * (self.n_layers - 1)
        # weights first: one contiguous block, so that weight-only terms (L2, L1,
        # decoupled weight decay) act on a single slice
        groups = [list(coefs), list(intercepts)]
        if self.batch_norm:
            groups += [list(gammas), list(betas)]
        arrays = [a for group in groups for a in group]
        self.n_weights = sum(c.size for c in coefs)
        self.flat = np.concatenate([np.ravel(a) for a in arrays]).astype(self.dtype)
        self.grad = np.zeros_like(self.flat)
        views, gviews, offset = [], [], 0
        for a in arrays:
            views.append(self.flat[offset : offset + a.size].reshape(a.shape))
            gviews.append(self.grad[offset : offset + a.size].reshape(a.shape))
            offset += a.size
        # the flat slices holding every weight matrix (no biases, no batch-norm)
        self.weights, self.weight_grads = self.flat[: self.n_weights], self.grad[: self.n_weights]
        n = self.n_layers
        self.coefs, self.intercepts = views[:n], views[n : 2 * n]
        self.coef_grads, self.intercept_grads = gviews[:n], gviews[n : 2 * n]
        if self.batch_norm:
            self.gammas, self.betas = views[2 * n : 3 * n - 1], views[3 * n - 1 :]
            self.gamma_grads, self.beta_grads = gviews[2 * n : 3 * n - 1], gviews[3 * n - 1 :]
            self.running_means = [np.array(m, dtype=self.dtype) for m in running_means]
            self.running_vars = [np.array(v, dtype=self.dtype) for v in running_vars]

    # -- forward -------------------------------------------------------------------------
    def forward(
        self,
        x: np.ndarray,
        training: bool = False,
        rng: np.random.Generator | None = None,
        cache: Cache | None = None,
    ) -> np.ndarray:
        """The output ``(n_samples, n_outputs)`` after the output activation.

        ``training`` uses batch statistics (and updates the running ones) and draws
        dropout masks from ``rng``; ``cache`` (when given) collects what backward needs.
        """
        a = x
        last = self.n_layers - 1
        for i in range(self.n_layers):
            if cache is not None:
                cache.inputs.append(a)
            z = a @ self.coefs[i]
            z += self.intercepts[i]
            if i == last:
                return activate(self.out_activation, z)
            if self.batch_norm:
                z = self._batch_norm(i, z, training, cache)
            a = activate(self.activations[i], z)
            p = self.dropout[i]
            if training and p > 0:
                if cache is not None:
                    cache.activated.append(a.copy())
                # inverted dropout: scale at training time so inference needs nothing
                mask = (rng.random(a.shape, dtype=self.dtype) >= p).astype(self.dtype)
                mask *= 1 / (1 - p)
                a *= mask
                if cache is not None:
                    cache.masks.append(mask)
            elif cache is not None:
                cache.activated.append(a)
                cache.masks.append(None)
        raise AssertionError("unreachable")

    def _batch_norm(self, i: int, z: np.ndarray, training: bool, cache: Cache | None):
        gamma, beta = self.gammas[i], self.betas[i]
        if training and len(z) > 1:
            mean = z.mean(axis=0)
            var = z.var(axis=0)
            inv_std = 1 / np.sqrt(var + BN_EPS)
            z -= mean
            z *= inv_std
            # running variance uses the unbiased estimate, as torch does
            unbiased = var * (len(z) / (len(z) - 1))
            m = self.bn_momentum
            self.running_means[i] *= 1 - m
            self.running_means[i] += m * mean
            self.running_vars[i] *= 1 - m
            self.running_vars[i] += m * unbiased
        else:
            inv_std = 1 / np.sqrt(self.running_vars[i] + BN_EPS)
            z -= self.running_means[i]
            z *= inv_std
        if cache is not None:
            cache.normalized.append(z)
            cache.inv_std.append(inv_std)
        out = z * gamma
        out += beta
        return out

    # -- backward ------------------------------------------------------------------------
    def backward(self, delta: np.ndarray, cache: Cache, batch_stats: bool = True) -> None:
        """Fill ``self.grad`` from ``delta`` = ∂loss/∂(output pre-activation).

        ``delta`` (n_samples, n_outputs) is overwritten. The gradient is linear in it:
        the loss's averaging (1/n or weights/Σweights) may be in ``delta`` already or
        be applied to ``self.grad`` afterwards (as the estimators do, in scikit-learn's
        order). Regularization terms are added by the caller, on the flat slices.
        ``batch_stats`` says whether batch norm used the batch's statistics (training
        mode), whose dependence on every sample adds two terms to the gradient.
        """
        for i in range(self.n_layers - 1, -1, -1):
            inputs = cache.inputs[i]
            if isinstance(inputs, np.ndarray):
                np.dot(inputs.T, delta, out=self.coef_grads[i])
            else:  # sparse input (first layer): scipy's product, then into the flat buffer
                self.coef_grads[i][...] = inputs.T @ delta
            np.add.reduce(delta, axis=0, out=self.intercept_grads[i])
            if i == 0:
                break
            delta = delta @ self.coefs[i].T  # ∂loss/∂(layer i's input)
            j = i - 1
            if cache.masks[j] is not None:
                delta *= cache.masks[j]
            derivative(self.activations[j], cache.activated[j], delta)
            if self.batch_norm:
                delta = self._batch_norm_backward(j, delta, cache, batch_stats)

    def _batch_norm_backward(self, j: int, dy: np.ndarray, cache: Cache, batch_stats: bool):
        xhat, inv_std = cache.normalized[j], cache.inv_std[j]
        np.einsum("ij,ij->j", dy, xhat, out=self.gamma_grads[j])
        np.add.reduce(dy, axis=0, out=self.beta_grads[j])
        dxhat = dy * self.gammas[j]
        if not batch_stats or len(dy) == 1:
            dxhat *= inv_std
            return dxhat
        # x̂ = (z − μ)/σ with μ, σ from the batch: dz = (dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) / σ
        mean_dxhat = dxhat.mean(axis=0)
        mean_dxhat_xhat = np.einsum("ij,ij->j", dxhat, xhat) / len(dy)
        dxhat -= mean_dxhat
        dxhat -= xhat * mean_dxhat_xhat
        dxhat *= inv_std
        return dxhat
