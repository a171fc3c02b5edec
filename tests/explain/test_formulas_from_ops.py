"""explain writes an activation's derivative from the op's own formula (defop's formula=)."""

import pytest

import chainrule.nn.functional  # noqa: F401  (registers the nn ops)
from chainrule.autodiff.registry import REGISTRY
from chainrule.explain.formulas import op_derivative


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("sigmoid", {}, "σ(net)(1 − σ(net)) = out(1 − out)"),
        ("tanh", {}, "1 − tanh²(net) = 1 − out²"),
        ("relu", {}, "[net > 0]"),
        ("leaky_relu", {"negative_slope": 0.2}, "1 if net > 0 else 0.2"),
        ("elu", {"alpha": 0.5}, "1 if net > 0 else 0.5 * exp(net)"),
        ("gelu", {"approximate": "none"}, "Φ(net) + net φ(net)"),
        ("softplus", {"beta": 2.0, "threshold": 20.0}, "σ(2.0·net)"),
        ("exp", {}, "exp(net) = out"),
    ],
)
def test_the_derivative_is_read_from_the_op(name, kwargs, expected):
    assert op_derivative(REGISTRY[name], "net", "out", kwargs) == expected


def test_an_op_of_several_inputs_shows_its_formula_as_written():
    assert op_derivative(REGISTRY["add"], "z", "a") == REGISTRY["add"].formula


def test_the_sigmoid_formula_is_the_ops():
    # one place: a changed op formula changes what explain shows
    assert "σ(a)(1 − σ(a))" in REGISTRY["sigmoid"].formula
