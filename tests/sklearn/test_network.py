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
