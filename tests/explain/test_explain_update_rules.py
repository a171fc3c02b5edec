"""explain's optimizer update of one element (explain/rules.py) against the real step.

Every optimizer of ``cr.optim`` with each option that changes its rule: the value
explain shows after the step, and each state value it shows (buf⁺, m⁺, v⁺, ...), must be
the number ``opt.step()`` writes, printed to 17 significant digits, in every format.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.explain import fmt
from chainrule.explain.records import Eq
from chainrule.explain.render_latex import math
from chainrule.explain.rules import RULES, element_step

# (optimizer class name, options): each row one rule variant.
CASES = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9}),
    ("SGD", {"momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("SGD", {"weight_decay": 0.05}),
    ("SGD", {"maximize": True}),
    ("SGD", {"momentum": 0.8, "nesterov": True, "weight_decay": 0.05, "maximize": True}),
    ("SGD", {"momentum": 0.5, "dampening": 0.1, "weight_decay": 0.02}),
    ("Adagrad", {}),
    ("Adagrad", {"lr_decay": 0.1}),
    ("Adagrad", {"weight_decay": 0.05, "initial_accumulator_value": 0.1}),
    ("Adagrad", {"maximize": True, "lr_decay": 0.01}),
    ("RMSprop", {}),
    ("RMSprop", {"momentum": 0.9}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"centered": True, "momentum": 0.5, "weight_decay": 0.05}),
    ("RMSprop", {"maximize": True}),
    ("Adadelta", {}),
    ("Adadelta", {"weight_decay": 0.05}),
    ("Adadelta", {"maximize": True, "lr": 0.5}),
    ("Adam", {}),
    ("Adam", {"amsgrad": True}),
    ("Adam", {"weight_decay": 0.05}),
    ("Adam", {"weight_decay": 0.05, "decoupled_weight_decay": True}),
    ("Adam", {"maximize": True}),
    ("Adam", {"amsgrad": True, "maximize": True, "weight_decay": 0.05}),
    ("AdamW", {}),
    ("AdamW", {"amsgrad": True}),
    ("AdamW", {"weight_decay": 0.0}),
    ("AdamW", {"maximize": True, "weight_decay": 0.1}),
]
LR = {"SGD": 0.1, "Adagrad": 0.1, "RMSprop": 0.01, "Adadelta": 1.0, "Adam": 0.01, "AdamW": 0.01}
# The rule lines that show a state value, and the state array it is.
STATE_LINES = {
    "buf⁺": "momentum_buffer",
    "sum⁺": "sum",
    "m⁺": "exp_avg",
    "ḡ⁺": "grad_avg",
    "u⁺": "acc_delta",
    "v_max⁺": "max_exp_avg_sq",
}
SQUARE_AVG = {
    "RMSprop": "square_avg",
    "Adadelta": "square_avg",
    "Adam": "exp_avg_sq",
    "AdamW": "exp_avg_sq",
}
ELEMENT, NAME, INDEX = "2.weight[0,1]", "2.weight", (0, 1)
X = np.array([[0.5, -1.0], [0.2, 0.7], [-0.3, 0.1]])
Y = np.array([[0.3], [-0.2], [0.9]])


def _setup(kind: str, options: dict):
    model = nn.Sequential(nn.Linear(2, 3, generator=21), nn.Tanh(), nn.Linear(3, 1, generator=22))
    model.double()
    opt = getattr(cr.optim, kind)(model.parameters(), **{"lr": LR[kind], **options})
    return model, opt


def _real_step(model, opt):
    opt.zero_grad()
    F.mse_loss(model(cr.tensor(X)), cr.tensor(Y)).backward()
    opt.step()


def _update_lines(e, label: str):
    """The Eq blocks of the element's update: from its first rule line to ``label⁺ = ...``."""
    eqs = [b for b in e.blocks if isinstance(b, Eq)]
    end = next(k for k, b in enumerate(eqs) if b.parts[0] == f"{label}⁺")
    start = end
    while start > 0 and eqs[start - 1].status is None:  # the gradient and its check: ✓
        start -= 1
    return eqs[start : end + 1]


def test_every_optimizer_of_cr_optim_has_rules_and_cases():
    optimizers = {
        name
        for name in cr.optim.__all__
        if isinstance(getattr(cr.optim, name), type)
        and issubclass(getattr(cr.optim, name), cr.optim.Optimizer)
        and name != "Optimizer"
    }
    assert optimizers == {cls.__name__ for cls in RULES}
    assert optimizers == {kind for kind, _ in CASES}


@pytest.mark.parametrize("warmup", [0, 2], ids=["first-step", "third-step"])
@pytest.mark.parametrize(
    ("kind", "options"), CASES, ids=[f"{k}-{'-'.join(o) or 'plain'}" for k, o in CASES]
)
def test_shown_step_is_the_real_step(kind, options, warmup):
    model, opt = _setup(kind, options)
    for _ in range(warmup):  # so momentum buffers, averages and step counts are not zero
        _real_step(model, opt)
    e = cr.explain(
        model, F.mse_loss, X, Y, optimizer=opt, params=[ELEMENT], form="matrix", precision=17
    )
    lines = _update_lines(e, ELEMENT)
    _real_step(model, opt)
    param = dict(model.named_parameters())[NAME]
    real = float(param.data[INDEX])
    assert e.updated[NAME][INDEX] == real
    assert lines[-1].parts[-1] == fmt.num(real, 17)
    state = opt.state[param]
    shown = 0
    for line in lines:
        key = STATE_LINES.get(line.parts[0])
        if line.parts[0] == "v⁺":
            key = SQUARE_AVG[kind]
        if key is not None:
            assert line.parts[-1] == fmt.num(state[key][INDEX], 17), line.parts
            shown += 1
    assert shown == len([k for k in state if k != "step"])  # every state array is shown
    number = fmt.num(real, 17)
    assert number in e.to_text() and number in e.to_markdown() and number in e.to_html()
    assert math(number) in e.to_latex() and math(number) in e.to_markdown(math=True)
    assert "?" not in "".join(math(p) for line in lines for p in line.parts)  # all translated


def test_nesterov_steps_along_g_plus_mu_buf_not_buf():
    # Regression: explain showed θ − η·buf for nesterov=True; the step is θ − η·(g + μ·buf⁺).
    model, opt = _setup("SGD", {"momentum": 0.9, "nesterov": True})
    _real_step(model, opt)
    e = cr.explain(model, F.mse_loss, X, Y, optimizer=opt, params=[ELEMENT], form="matrix")
    lines = _update_lines(e, ELEMENT)
    param = dict(model.named_parameters())[NAME]
    before, buf = float(param.data[INDEX]), float(opt.state[param]["momentum_buffer"][INDEX])
    _real_step(model, opt)
    new_buf = float(opt.state[param]["momentum_buffer"][INDEX])
    real = float(param.data[INDEX])
    assert lines[-1].parts[1] == f"{ELEMENT} − η·(∂E/∂{ELEMENT} + μ·buf⁺)"
    assert lines[-1].parts[-1] == fmt.num(real, 9)
    assert fmt.num(before - 0.1 * new_buf, 9) != fmt.num(real, 9)  # the old, wrong rule
    assert lines[-2].parts[:2] == ["buf⁺", f"μ·buf + (1 − τ)·∂E/∂{ELEMENT}"]
    assert lines[-2].parts[2].startswith(f"0.9·{fmt.num(buf, 9)}".replace("−", "(−"))


def test_plain_sgd_keeps_the_tutorial_line():
    model, opt = _setup("SGD", {})
    e = cr.explain(model, F.mse_loss, X, Y, optimizer=opt, params=[ELEMENT], form="matrix")
    (line,) = _update_lines(e, ELEMENT)
    assert line.parts[1] == f"{ELEMENT} − η · ∂E/∂{ELEMENT}"


def test_maximize_and_decay_are_spelt_out_in_g():
    model, opt = _setup("SGD", {"weight_decay": 0.05, "maximize": True})
    e = cr.explain(model, F.mse_loss, X, Y, optimizer=opt, params=[ELEMENT], form="matrix")
    g, step = _update_lines(e, ELEMENT)
    assert g.parts[:2] == ["g", f"−∂E/∂{ELEMENT} + λ·{ELEMENT}"]
    assert "maximize" in g.comment and "weight_decay λ = 0.05" in g.comment
    assert step.parts[1] == f"{ELEMENT} − η · g"


def test_l1_term_is_added_before_the_optimizer_and_nothing_changes():
    model, opt = _setup("Adam", {"weight_decay": 0.05})
    _real_step(model, opt)
    param = dict(model.named_parameters())[NAME]
    saved = {k: np.copy(v) for k, v in opt.state[param].items()}
    before = param.data.copy()
    opt.zero_grad()
    F.mse_loss(model(cr.tensor(X)), cr.tensor(Y)).backward()
    grad = float(param.grad[INDEX])
    shown = element_step(opt, param, INDEX, grad, "w", precision=17, l1=0.01)
    np.testing.assert_array_equal(param.data, before)  # nothing of opt or param moved
    for key, value in saved.items():
        np.testing.assert_array_equal(opt.state[param][key], value)
    assert shown.lines[0].parts[:2] == ["g", "∂E/∂w + λ₁·sign(w) + λ·w"]
    param.grad = param.grad + 0.01 * np.sign(param.data)  # as the playground steps
    opt.step()
    assert shown.after == float(param.data[INDEX]) and shown.before == before[INDEX]
    assert shown.lines[-1].parts[-1] == fmt.num(param.data[INDEX], 17)


def test_an_optimizer_of_the_users_gets_one_line_with_the_real_value():
    class Halving(cr.optim.SGD):  # a subclass may change the rule: explain does not guess
        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.data -= 0.5 * group["lr"] * p.grad

    model = nn.Sequential(nn.Linear(2, 3, generator=21), nn.Tanh(), nn.Linear(3, 1, generator=22))
    model.double()
    e = cr.explain(
        model,
        F.mse_loss,
        X,
        Y,
        optimizer=Halving(model.parameters(), lr=0.1),
        params=[ELEMENT],
        form="matrix",
    )
    (line,) = _update_lines(e, ELEMENT)
    assert line.parts[1] == "Halving step"
    assert line.parts[-1] == fmt.num(e.updated[NAME][INDEX], 9)


def test_an_optimizer_whose_constructor_needs_arguments_is_carried_over():
    # Regression: explain rebuilt the optimizer as type(opt)(groups), a TypeError for a
    # subclass whose constructor takes a required argument (found by mypy).
    class Scaled(cr.optim.Optimizer):
        def __init__(self, params, lr, scale):
            super().__init__(params, {"lr": lr})
            self.scale = scale

        def _update(self, group, param, grad, state, step):
            param -= self.scale * group["lr"] * grad

    model = nn.Sequential(nn.Linear(2, 3, generator=21), nn.Tanh(), nn.Linear(3, 1, generator=22))
    model.double()
    opt = Scaled(model.parameters(), 0.1, scale=0.5)
    before = {name: p.data.copy() for name, p in model.named_parameters()}
    e = cr.explain(model, F.mse_loss, X, Y, optimizer=opt, params=[ELEMENT], form="matrix")
    (line,) = _update_lines(e, ELEMENT)
    assert line.parts[1] == "Scaled step"
    theta, grad = before[NAME][INDEX], e.gradients[NAME][INDEX]
    assert e.updated[NAME][INDEX] == theta - 0.5 * 0.1 * grad
    for name, p in model.named_parameters():  # the user's model and optimizer are untouched
        np.testing.assert_array_equal(p.data, before[name])
    assert not opt.state and opt.scale == 0.5
