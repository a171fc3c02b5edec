"""Backpropagation on the classic 2-2-2 sigmoid network, with every number shown.

The network of Matt Mazur's "A Step by Step Backpropagation Example": inputs 0.05
and 0.10, weights 0.15 ... 0.55, biases 0.35 and 0.60, targets 0.01 and 0.99,
loss E = ½ Σ (t − o)², plain gradient descent with η = 0.5. chainrule computes the
gradients by reverse-mode differentiation, checks them against central finite
differences, and then trains the network.

    python examples/backprop_2_2_2.py
"""

from __future__ import annotations

import numpy as np

import chainrule as cr
import chainrule.nn.functional as F

LEARNING_RATE = 0.5
EXPECTED = {"E": 0.298371109, "dE/dw5": 0.082167041, "dE/dw1": 0.000438568}


def main() -> None:
    x = cr.tensor([[0.05, 0.10]], dtype=np.float64)
    target = cr.tensor([[0.01, 0.99]], dtype=np.float64)
    # Rows are the receiving units: hidden = σ(x W1ᵀ + b1), W1 = [[w1, w2], [w3, w4]].
    w1 = cr.tensor([[0.15, 0.20], [0.25, 0.30]], dtype=np.float64, requires_grad=True)
    w2 = cr.tensor([[0.40, 0.45], [0.50, 0.55]], dtype=np.float64, requires_grad=True)
    b1 = cr.tensor([0.35, 0.35], dtype=np.float64)  # the tutorial keeps its biases fixed
    b2 = cr.tensor([0.60, 0.60], dtype=np.float64)

    def forward(w1: cr.Tensor, w2: cr.Tensor) -> tuple[cr.Tensor, cr.Tensor, cr.Tensor]:
        hidden = F.sigmoid(F.linear(x, w1, b1))
        output = F.sigmoid(F.linear(hidden, w2, b2))
        error = 0.5 * F.mse_loss(output, target, reduction="sum")
        return hidden, output, error

    hidden, output, error = forward(w1, w2)
    error.backward()
    print("Forward pass")
    print(f"  out_h1, out_h2 = {hidden.data[0, 0]:.9f}, {hidden.data[0, 1]:.9f}")
    print(f"  out_o1, out_o2 = {output.data[0, 0]:.9f}, {output.data[0, 1]:.9f}")
    print(f"  E_total        = {error.item():.9f}   (tutorial: {EXPECTED['E']})")
    print("Backward pass (reverse-mode automatic differentiation)")
    print(f"  dE/dw5 = {w2.grad[0, 0]:.9f}   (tutorial: {EXPECTED['dE/dw5']})")
    print(f"  dE/dw1 = {w1.grad[0, 0]:.9f}   (tutorial: {EXPECTED['dE/dw1']})")
    print("  all weight gradients:")
    names = [["w1", "w2"], ["w3", "w4"]], [["w5", "w6"], ["w7", "w8"]]
    for matrix, labels in zip((w1, w2), names, strict=True):
        for row, row_labels in zip(matrix.grad, labels, strict=True):
            for value, label in zip(row, row_labels, strict=True):
                print(f"    dE/d{label} = {value: .9f}")

    cr.gradcheck(lambda a, b: forward(a, b)[2], (w1, w2))
    print("  gradcheck against central finite differences: passed")

    print(f"Gradient descent, η = {LEARNING_RATE}")
    with cr.no_grad():
        w1.data -= LEARNING_RATE * w1.grad
        w2.data -= LEARNING_RATE * w2.grad
    print(f"  w5+ = {w2.data[0, 0]:.8f}, w1+ = {w1.data[0, 0]:.9f}")
    for step in range(1, 10_001):
        w1.grad = w2.grad = None
        _, output, error = forward(w1, w2)
        error.backward()
        w1.data -= LEARNING_RATE * w1.grad
        w2.data -= LEARNING_RATE * w2.grad
        if step in (1, 10, 100, 1000, 10_000):
            print(f"  step {step:>6}: E = {error.item():.9f}")
    print(
        f"  outputs after training: {output.data[0, 0]:.6f}, {output.data[0, 1]:.6f} "
        "(targets 0.01, 0.99)"
    )


if __name__ == "__main__":
    main()
