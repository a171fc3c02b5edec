"""The seed tutorials' worked examples, number for number, in float64.

Each example is built with chainrule tensors and the functional API, gradients come
from ``backward()``, and the published (or reconstructed) numbers are asserted. Where a
tutorial's derivation is wrong, the test says so and checks that chainrule is not.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F


def f64(value, requires_grad: bool = False) -> cr.Tensor:
    """A float64 tensor whatever the default dtype."""
    return cr.tensor(np.asarray(value, dtype=np.float64), requires_grad=requires_grad)


def sig(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


# =====================================================================================
# a. Matt Mazur, "A Step by Step Backpropagation Example": the 2-2-2 sigmoid network
# =====================================================================================
MAZUR_I = (0.05, 0.10)
MAZUR_W = (0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55)
MAZUR_B1, MAZUR_B2 = 0.35, 0.60
MAZUR_T = (0.01, 0.99)
MAZUR_LR = 0.5

# The post's numbers (E_total after the step is the exact value, 0.291027774; the post
# prints 0.291027924, a rounding slip in its last digits).
MAZUR_E = 0.298371109
MAZUR_OUT_H1 = 0.593269992
MAZUR_OUT_O1 = 0.75136507
MAZUR_DE_DW5 = 0.082167041
MAZUR_DE_DW1 = 0.000438568
MAZUR_UPDATED = {
    "w1": 0.149780716,
    "w2": 0.19956143,
    "w3": 0.24975114,
    "w4": 0.29950229,
    "w5": 0.35891648,
    "w6": 0.408666186,
    "w7": 0.511301270,
    "w8": 0.561370121,
}
MAZUR_E_AFTER = 0.291027774


class MazurMatrix:
    """The network as two weight matrices and F.linear (weights (out, in), shared biases)."""

    def __init__(self) -> None:
        w1, w2, w3, w4, w5, w6, w7, w8 = MAZUR_W
        self.x = f64(MAZUR_I)
        self.t = f64(MAZUR_T)
        self.W1 = f64([[w1, w2], [w3, w4]], requires_grad=True)
        self.W2 = f64([[w5, w6], [w7, w8]], requires_grad=True)
        self.b1 = f64([MAZUR_B1, MAZUR_B1])  # one bias per layer, shared: fixed
        self.b2 = f64([MAZUR_B2, MAZUR_B2])

    def forward(self):
        h = F.sigmoid(F.linear(self.x, self.W1, self.b1))
        o = F.sigmoid(F.linear(h, self.W2, self.b2))
        E = 0.5 * F.mse_loss(o, self.t, reduction="sum")
        return h, o, E

    def weights(self) -> dict[str, float]:
        (w1, w2), (w3, w4) = self.W1.data.tolist()
        (w5, w6), (w7, w8) = self.W2.data.tolist()
        return dict(w1=w1, w2=w2, w3=w3, w4=w4, w5=w5, w6=w6, w7=w7, w8=w8)

    def grads(self) -> dict[str, float]:
        (g1, g2), (g3, g4) = self.W1.grad.tolist()
        (g5, g6), (g7, g8) = self.W2.grad.tolist()
        return dict(w1=g1, w2=g2, w3=g3, w4=g4, w5=g5, w6=g6, w7=g7, w8=g8)

    def sgd_step(self, lr: float) -> None:
        for p in (self.W1, self.W2):
            p.data -= lr * p.grad
            p.grad = None


class MazurScalar:
    """The same network with one scalar tensor per weight, exactly as the post draws it."""

    def __init__(self) -> None:
        self.w = {f"w{k + 1}": f64(v, requires_grad=True) for k, v in enumerate(MAZUR_W)}
        self.i1, self.i2 = f64(MAZUR_I[0]), f64(MAZUR_I[1])
        self.b1, self.b2 = f64(MAZUR_B1), f64(MAZUR_B2)
        self.t1, self.t2 = f64(MAZUR_T[0]), f64(MAZUR_T[1])

    def forward(self):
        w, i1, i2, b1, b2 = self.w, self.i1, self.i2, self.b1, self.b2
        h1 = F.sigmoid(w["w1"] * i1 + w["w2"] * i2 + b1)
        h2 = F.sigmoid(w["w3"] * i1 + w["w4"] * i2 + b1)
        o1 = F.sigmoid(w["w5"] * h1 + w["w6"] * h2 + b2)
        o2 = F.sigmoid(w["w7"] * h1 + w["w8"] * h2 + b2)
        E = 0.5 * (self.t1 - o1) ** 2 + 0.5 * (self.t2 - o2) ** 2
        return (h1, h2), (o1, o2), E

    def weights(self) -> dict[str, float]:
        return {k: v.item() for k, v in self.w.items()}

    def grads(self) -> dict[str, float]:
        return {k: float(v.grad) for k, v in self.w.items()}

    def sgd_step(self, lr: float) -> None:
        for p in self.w.values():
            p.data -= lr * p.grad
            p.grad = None


def test_mazur_forward_matrix():
    net = MazurMatrix()
    h, o, E = net.forward()
    assert E.dtype == np.float64
    assert E.item() == pytest.approx(MAZUR_E, abs=1e-9)
    assert h.data[0] == pytest.approx(MAZUR_OUT_H1, abs=1e-9)
    assert o.data[0] == pytest.approx(MAZUR_OUT_O1, abs=1e-8)
    # The mean over the two outputs of (t − o)² is ½Σ(t − o)² too.
    assert F.mse_loss(o, net.t).item() == pytest.approx(E.item(), rel=1e-15)


def test_mazur_gradients_matrix():
    net = MazurMatrix()
    _, _, E = net.forward()
    E.backward()
    g = net.grads()
    assert g["w5"] == pytest.approx(MAZUR_DE_DW5, abs=1e-9)
    assert g["w1"] == pytest.approx(MAZUR_DE_DW1, abs=1e-9)
    assert net.W1.grad.shape == (2, 2) and net.W2.grad.shape == (2, 2)
    assert net.b1.grad is None  # fixed biases get nothing


@pytest.mark.parametrize("build", [MazurMatrix, MazurScalar], ids=["matrix", "scalar"])
def test_mazur_one_sgd_step(build):
    net = build()
    _, _, E = net.forward()
    E.backward()
    net.sgd_step(MAZUR_LR)
    updated = net.weights()
    for name, expected in MAZUR_UPDATED.items():
        assert updated[name] == pytest.approx(expected, abs=1e-8), name
    _, _, E_after = net.forward()
    assert E_after.item() == pytest.approx(MAZUR_E_AFTER, abs=1e-8)
    assert E_after.item() < MAZUR_E


def test_mazur_scalar_forward_and_gradients():
    net = MazurScalar()
    (h1, _), (o1, _), E = net.forward()
    assert E.item() == pytest.approx(MAZUR_E, abs=1e-9)
    assert h1.item() == pytest.approx(MAZUR_OUT_H1, abs=1e-9)
    assert o1.item() == pytest.approx(MAZUR_OUT_O1, abs=1e-8)
    E.backward()
    g = net.grads()
    assert g["w5"] == pytest.approx(MAZUR_DE_DW5, abs=1e-9)
    assert g["w1"] == pytest.approx(MAZUR_DE_DW1, abs=1e-9)


def test_mazur_matrix_and_scalar_builds_agree():
    m, s = MazurMatrix(), MazurScalar()
    _, om, Em = m.forward()
    _, (o1, o2), Es = s.forward()
    np.testing.assert_allclose(om.data, [o1.item(), o2.item()], rtol=0, atol=1e-15)
    assert Em.item() == pytest.approx(Es.item(), abs=1e-15)
    Em.backward()
    Es.backward()
    gm, gs = m.grads(), s.grads()
    for name in gm:
        assert gm[name] == pytest.approx(gs[name], rel=1e-12, abs=1e-17), name


def test_mazur_against_hand_backprop():
    """Every weight's gradient against the post's chain rule in plain Python floats."""
    i1, i2 = MAZUR_I
    w1, w2, w3, w4, w5, w6, w7, w8 = MAZUR_W
    t1, t2 = MAZUR_T
    h1 = sig(w1 * i1 + w2 * i2 + MAZUR_B1)
    h2 = sig(w3 * i1 + w4 * i2 + MAZUR_B1)
    o1 = sig(w5 * h1 + w6 * h2 + MAZUR_B2)
    o2 = sig(w7 * h1 + w8 * h2 + MAZUR_B2)
    d1 = (o1 - t1) * o1 * (1 - o1)
    d2 = (o2 - t2) * o2 * (1 - o2)
    e1 = (d1 * w5 + d2 * w7) * h1 * (1 - h1)
    e2 = (d1 * w6 + d2 * w8) * h2 * (1 - h2)
    expected = dict(
        w1=e1 * i1,
        w2=e1 * i2,
        w3=e2 * i1,
        w4=e2 * i2,
        w5=d1 * h1,
        w6=d1 * h2,
        w7=d2 * h1,
        w8=d2 * h2,
    )
    net = MazurMatrix()
    net.forward()[2].backward()
    got = net.grads()
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-12), name


# =====================================================================================
# b. One neuron per layer: x → w1 → σ → w2 → σ → ŷ, binary cross-entropy
#    (reconstruction: x = 1, w1 = w2 = 0.5, y = 1)
# =====================================================================================
CHAIN_X, CHAIN_W1, CHAIN_W2, CHAIN_Y = 1.0, 0.5, 0.5, 1.0
CHAIN_A1 = 0.6224593312
CHAIN_YHAT = 0.5771853801
CHAIN_J = 0.5495917813
CHAIN_DJ_DW2 = -0.2631849055
CHAIN_DJ_DW1 = -0.0496815026
CHAIN_WRONG_DJ_DW2 = -0.2311804365  # what the tutorial's dσ/dz = z(1 − z) gives


def _one_neuron_chain(with_logits: bool):
    x, y = f64(CHAIN_X), f64(CHAIN_Y)
    w1, w2 = f64(CHAIN_W1, requires_grad=True), f64(CHAIN_W2, requires_grad=True)
    z1 = w1 * x
    a1 = F.sigmoid(z1)
    z2 = w2 * a1
    yhat = F.sigmoid(z2)
    if with_logits:
        J = F.binary_cross_entropy_with_logits(z2, y)
    else:
        J = F.binary_cross_entropy(yhat, y)
    J.backward()
    return dict(w1=w1, w2=w2, z1=z1, a1=a1, z2=z2, yhat=yhat, J=J)


@pytest.mark.parametrize("with_logits", [False, True], ids=["bce", "bce_with_logits"])
def test_one_neuron_chain_values(with_logits):
    r = _one_neuron_chain(with_logits)
    assert r["J"].dtype == np.float64
    assert r["a1"].item() == pytest.approx(CHAIN_A1, abs=1e-9)
    assert r["yhat"].item() == pytest.approx(CHAIN_YHAT, abs=1e-9)
    assert r["J"].item() == pytest.approx(CHAIN_J, abs=1e-9)
    assert float(r["w2"].grad) == pytest.approx(CHAIN_DJ_DW2, abs=1e-9)
    assert float(r["w1"].grad) == pytest.approx(CHAIN_DJ_DW1, abs=1e-9)


@pytest.mark.parametrize("with_logits", [False, True], ids=["bce", "bce_with_logits"])
def test_one_neuron_chain_hand_chain_rule(with_logits):
    """The correct local derivatives reproduce backward(); the tutorial's do not."""
    r = _one_neuron_chain(with_logits)
    x, y, w2 = CHAIN_X, CHAIN_Y, CHAIN_W2
    a1, z2, yhat = r["a1"].item(), r["z2"].item(), r["yhat"].item()

    dJ_dyhat = -y / yhat + (1 - y) / (1 - yhat)
    dyhat_dz2 = yhat * (1 - yhat)  # σ'(z) = σ(z)(1 − σ(z))
    da1_dz1 = a1 * (1 - a1)
    hand_dw2 = dJ_dyhat * dyhat_dz2 * a1
    hand_dw1 = dJ_dyhat * dyhat_dz2 * w2 * da1_dz1 * x
    assert float(r["w2"].grad) == pytest.approx(hand_dw2, rel=1e-12)
    assert float(r["w1"].grad) == pytest.approx(hand_dw1, rel=1e-12)

    # The tutorial's formula dσ/dz = z(1 − z) evaluates the derivative at z, not σ(z).
    wrong_dw2 = dJ_dyhat * z2 * (1 - z2) * a1
    assert wrong_dw2 == pytest.approx(CHAIN_WRONG_DJ_DW2, abs=1e-9)
    assert abs(wrong_dw2 - float(r["w2"].grad)) > 0.03


def test_one_neuron_chain_both_losses_agree():
    a, b = _one_neuron_chain(False), _one_neuron_chain(True)
    assert a["J"].item() == pytest.approx(b["J"].item(), rel=1e-13)
    assert float(a["w1"].grad) == pytest.approx(float(b["w1"].grad), rel=1e-12)
    assert float(a["w2"].grad) == pytest.approx(float(b["w2"].grad), rel=1e-12)


# =====================================================================================
# c. 2-2-1 tanh network, x = (1, 1), target 1, loss (y − t)², η = 0.1
#    (reconstruction: W1 = [[0.5, 0.3], [−0.4, 0.2]], b1 = [0.1, −0.1],
#     W2 = [[0.6, −0.3]], b2 = [0.05])
# =====================================================================================
TANH_W1 = [[0.5, 0.3], [-0.4, 0.2]]
TANH_B1 = [0.1, -0.1]
TANH_W2 = [[0.6, -0.3]]
TANH_B2 = [0.05]
TANH_LR = 0.1


def _tanh_net():
    params = dict(
        W1=f64(TANH_W1, requires_grad=True),
        b1=f64(TANH_B1, requires_grad=True),
        W2=f64(TANH_W2, requires_grad=True),
        b2=f64(TANH_B2, requires_grad=True),
    )
    return params, f64([1.0, 1.0]), f64([1.0])


def _tanh_forward(p, x, t):
    h = F.tanh(F.linear(x, p["W1"], p["b1"]))
    y = F.tanh(F.linear(h, p["W2"], p["b2"]))
    return h, y, F.mse_loss(y, t)


def test_tanh_network_forward_and_gradients():
    p, x, t = _tanh_net()
    h, y, L = _tanh_forward(p, x, t)
    np.testing.assert_allclose(h.data, [0.7162978702, -0.2913126125], rtol=0, atol=1e-9)
    assert y.shape == (1,)
    assert y.item() == pytest.approx(0.5132797280, abs=1e-9)
    assert L.item() == pytest.approx(0.2368966232, abs=1e-9)
    L.backward()
    np.testing.assert_allclose(p["W2"].grad, [[-0.5135724755, 0.2088658165]], rtol=0, atol=1e-9)
    np.testing.assert_allclose(p["b2"].grad, [-0.7169817150], rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        p["W1"].grad,
        [[-0.2094665068, -0.2094665068], [0.1968409405, 0.1968409405]],
        rtol=0,
        atol=1e-9,
    )
    np.testing.assert_allclose(p["b1"].grad, [-0.2094665068, 0.1968409405], rtol=0, atol=1e-9)


def test_tanh_network_one_sgd_step():
    p, x, t = _tanh_net()
    _tanh_forward(p, x, t)[2].backward()
    for param in p.values():
        param.data -= TANH_LR * param.grad
    L_after = _tanh_forward(p, x, t)[2]
    assert L_after.item() == pytest.approx(0.1477971336, abs=1e-9)


def test_tanh_network_against_hand_chain_rule():
    """tanh' = 1 − tanh², written out with NumPy, matches backward() to rounding."""
    W1, b1 = np.array(TANH_W1), np.array(TANH_B1)
    W2, b2 = np.array(TANH_W2), np.array(TANH_B2)
    x, t = np.array([1.0, 1.0]), 1.0
    h = np.tanh(W1 @ x + b1)
    y = np.tanh(W2 @ h + b2)
    dz2 = 2 * (y - t) * (1 - y**2)
    dz1 = (W2.T @ dz2) * (1 - h**2)
    hand = dict(W2=np.outer(dz2, h), b2=dz2, W1=np.outer(dz1, x), b1=dz1)

    p, xt, tt = _tanh_net()
    _tanh_forward(p, xt, tt)[2].backward()
    for name, value in hand.items():
        np.testing.assert_allclose(p[name].grad, value, rtol=1e-12, atol=1e-16, err_msg=name)


# =====================================================================================
# d. A linear chain of scalar weights: ŷ = D·C·B·A·x, MSE over three points
# =====================================================================================
CHAIN_DATA_X = (3.0, 10.0, 7.0)
CHAIN_DATA_Y = (17.0, 200.0, -17.0)


def _chain_reference(weights: list[float], lr: float):
    """Loss, gradients, stepped weights and stepped loss in plain Python floats."""
    n = len(CHAIN_DATA_X)
    product = math.prod(weights)
    r = [product * x - y for x, y in zip(CHAIN_DATA_X, CHAIN_DATA_Y, strict=True)]
    loss = sum(v * v for v in r) / n
    dL_dprod = (2 / n) * sum(ri * xi for ri, xi in zip(r, CHAIN_DATA_X, strict=True))
    grads = [
        dL_dprod * math.prod(w for j, w in enumerate(weights) if j != k)
        for k in range(len(weights))
    ]
    stepped = [w - lr * g for w, g in zip(weights, grads, strict=True)]
    product2 = math.prod(stepped)
    pairs = zip(CHAIN_DATA_X, CHAIN_DATA_Y, strict=True)
    loss2 = sum((product2 * x - y) ** 2 for x, y in pairs) / n
    return loss, grads, stepped, product2, loss2


def _chain_tensors(weights: list[float]):
    ws = [f64(w, requires_grad=True) for w in weights]
    x, y = f64(CHAIN_DATA_X), f64(CHAIN_DATA_Y)

    def forward():
        out = x
        for w in ws:  # A acts first, then B, ...: ŷ = ... · C · B · A · x
            out = w * out
        return out, F.mse_loss(out, y)

    return ws, forward


def test_linear_chain_abcd_all_ones():
    ws, forward = _chain_tensors([1.0] * 4)
    _, L = forward()
    assert L.item() == pytest.approx(36872 / 3, rel=1e-12)
    assert L.item() == pytest.approx(12290.6667, abs=1e-4)
    L.backward()
    for w in ws:
        assert float(w.grad) == pytest.approx(-3548 / 3, rel=1e-12)
        assert float(w.grad) == pytest.approx(-1182.6667, abs=1e-4)


def test_linear_chain_abcd_one_step():
    lr = 1e-4
    ref_loss, _, ref_stepped, _, ref_loss2 = _chain_reference([1.0] * 4, lr)
    ws, forward = _chain_tensors([1.0] * 4)
    forward()[1].backward()
    for w in ws:
        w.data -= lr * w.grad
    for w, expected in zip(ws, ref_stepped, strict=True):
        assert w.item() == pytest.approx(expected, rel=1e-12)
        assert w.item() == pytest.approx(1.11826667, rel=1e-6)
    L2 = forward()[1].item()
    assert L2 == pytest.approx(ref_loss2, rel=1e-10)
    assert L2 == pytest.approx(11640.62, rel=1e-6)
    assert ref_loss == pytest.approx(36872 / 3, rel=1e-12)


def test_linear_chain_a_to_z():
    lr = 1e-4
    _, _, _, ref_product2, ref_loss2 = _chain_reference([1.0] * 26, lr)
    ws, forward = _chain_tensors([1.0] * 26)
    forward()[1].backward()
    for w in ws:  # at all-ones every weight sees the same gradient as in A..D
        assert float(w.grad) == pytest.approx(-3548 / 3, rel=1e-12)
        w.data -= lr * w.grad
    out, L2 = forward()
    product2 = out.data[0] / CHAIN_DATA_X[0]
    assert product2 == pytest.approx(ref_product2, rel=1e-10)
    assert product2 == pytest.approx(1.1182667**26, rel=1e-6)
    assert product2 == pytest.approx(18.2886, abs=1e-4)
    assert L2.item() == pytest.approx(ref_loss2, rel=1e-9)
    assert L2.item() == pytest.approx(7585.84, abs=0.01)


def test_linear_chain_unequal_weights_reuses_upstream_gradient():
    """∂L/∂w_k = (2/3) Σ r_i x_i · Π_{j≠k} w_j for every node of the chain."""
    weights = [0.5, 1.5, 2.0, 0.8]
    loss, grads, _, _, _ = _chain_reference(weights, 0.0)
    ws, forward = _chain_tensors(weights)
    _, L = forward()
    assert L.item() == pytest.approx(loss, rel=1e-12)
    L.backward()
    for k, (w, expected) in enumerate(zip(ws, grads, strict=True)):
        assert float(w.grad) == pytest.approx(expected, rel=1e-12), "ABCD"[k]
    # The gradients really differ from node to node (no accidental all-equal answer).
    assert len({round(float(w.grad), 6) for w in ws}) == 4
