"""The hand-written backward pass of the estimators' network against finite differences."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("sklearn")

from chainrule.sklearn._network import Cache, Network, loss_values, output_delta

CASES = [
    # hidden activations, output activation, loss, batch norm, dropout
    (["relu", "tanh"], "softmax", "log_loss", False, 0.0),
    (["logistic"], "logistic", "log_loss", False, 0.0),
    (["tanh", "identity"], "identity", "squared_error", True, 0.0),
    (["tanh"], "identity", "huber", False, 0.3),
    (["logistic"], "identity", "absolute_error", True, 0.2),
    (["tanh"], "exp", "poisson", False, 0.0),
]


def _targets(out: str, loss: str, rng, n: int, k: int) -> np.ndarray:
    if out == "softmax":
        return np.eye(k)[rng.integers(0, k, n)]
    if out == "logistic":
        return rng.integers(0, 2, (n, k)).astype(float)
    if loss == "poisson":
        return rng.poisson(2.0, (n, k)).astype(float)
    return rng.standard_normal((n, k)) * 2


@pytest.mark.parametrize(("acts", "out", "loss", "bn", "p"), CASES)
def test_backward_matches_finite_differences(acts, out, loss, bn, p):
    rng = np.random.default_rng(0)
    sizes = [5, *[4 + i for i in range(len(acts))], 3 if out != "logistic" else 2]
    coefs = [rng.standard_normal((a, b)) * 0.5 for a, b in itertools.pairwise(sizes)]
    intercepts = [rng.standard_normal(b) * 0.1 for b in sizes[1:]]
    hidden = sizes[1:-1]
    bn_args = {}
    if bn:
        bn_args = dict(
            gammas=[1 + 0.1 * rng.standard_normal(h) for h in hidden],
            betas=[0.1 * rng.standard_normal(h) for h in hidden],
            running_means=[np.zeros(h) for h in hidden],
            running_vars=[np.ones(h) for h in hidden],
        )
    net = Network(coefs, intercepts, acts, out, np.float64, dropout=[p] * len(acts), **bn_args)
    x = rng.standard_normal((7, sizes[0]))
    y = _targets(out, loss, rng, 7, sizes[-1])

    def objective() -> float:
        # the same dropout masks on every call: a fresh generator from one seed
        p_out = net.forward(x, training=True, rng=np.random.default_rng(1), cache=Cache())
        return float(loss_values(loss, out, y, p_out).mean())

    cache = Cache()
    p_out = net.forward(x, training=True, rng=np.random.default_rng(1), cache=cache)
    delta = output_delta(loss, out, y, p_out) / len(x)
    net.backward(delta, cache)
    analytic = net.grad.copy()
    numeric = np.zeros_like(analytic)
    h = 1e-6
    for i in range(net.flat.size):
        saved = net.flat[i]
        net.flat[i] = saved + h
        up = objective()
        net.flat[i] = saved - h
        down = objective()
        net.flat[i] = saved
        numeric[i] = (up - down) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("acts", "out", "loss"),
    [(["relu", "tanh"], "softmax", "log_loss"), (["logistic"], "identity", "squared_error")],
)
def test_backward_equals_chainrule_autodiff(acts, out, loss):
    """The hand-written pass and the library's autodiff agree (one truth, two routes)."""
    import chainrule as cr
    import chainrule.nn.functional as F

    rng = np.random.default_rng(3)
    sizes = [*[6, 5, 4, 3][: len(acts) + 1], 3]
    coefs = [rng.standard_normal((a, b)) * 0.5 for a, b in itertools.pairwise(sizes)]
    intercepts = [rng.standard_normal(b) * 0.1 for b in sizes[1:]]
    net = Network(coefs, intercepts, acts, out, np.float64)
    x = rng.standard_normal((8, sizes[0]))
    labels = rng.integers(0, sizes[-1], 8)
    y = np.eye(sizes[-1])[labels] if out == "softmax" else rng.standard_normal((8, sizes[-1]))

    cache = Cache()
    p_out = net.forward(x, cache=cache)
    net.backward(output_delta(loss, out, y, p_out) / len(x), cache)

    weights = [cr.tensor(c.T, dtype=np.float64, requires_grad=True) for c in coefs]
    biases = [cr.tensor(b, dtype=np.float64, requires_grad=True) for b in intercepts]
    functions = {"relu": F.relu, "tanh": F.tanh, "logistic": F.sigmoid}
    h = cr.tensor(x, dtype=np.float64)
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        h = F.linear(h, w, b)
        if i < len(acts):
            h = functions[acts[i]](h)
    if out == "softmax":
        total = F.cross_entropy(h, labels)
    else:  # squared_error is ½ Σ_outputs (p − y)², averaged over samples
        total = 0.5 * F.mse_loss(h, cr.tensor(y, dtype=np.float64), reduction="sum") / len(x)
    total.backward()
    for i in range(len(coefs)):
        np.testing.assert_allclose(net.coef_grads[i], weights[i].grad.T, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(net.intercept_grads[i], biases[i].grad, rtol=1e-10, atol=1e-12)
