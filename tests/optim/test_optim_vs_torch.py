"""chainrule.optim against torch.optim, number for number (float64, rtol 1e-9).

Both sides start from the same parameters and, for 25 steps, receive the gradient of
the same fixed function at their *own* current parameters plus the same random noise,
so any difference in the update compounds instead of washing out.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.optim as optim
from chainrule.nn.utils import flatten_parameters
from chainrule.optim import lr_scheduler

torch = pytest.importorskip("torch")

SHAPES = [(3, 4), (4,), (2, 3, 2), ()]
STEPS = 25
RTOL = 1e-9

CASES = {
    "SGD": [
        {"lr": 0.05},
        {"lr": 0.05, "momentum": 0.9},
        {"lr": 0.05, "momentum": 0.9, "dampening": 0.5},
        {"lr": 0.05, "momentum": 0.9, "nesterov": True},
        {"lr": 0.05, "weight_decay": 0.1},
        {"lr": 0.05, "maximize": True},
        {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.2, "maximize": True},
        {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1, "maximize": True},
    ],
    "Adagrad": [
        {},
        {"lr": 0.1, "lr_decay": 0.05},
        {"lr": 0.1, "weight_decay": 0.1},
        {"lr": 0.1, "initial_accumulator_value": 0.5},
        {"lr": 0.1, "maximize": True},
        {
            "lr": 0.1,
            "lr_decay": 0.01,
            "weight_decay": 0.05,
            "initial_accumulator_value": 0.1,
            "eps": 1e-3,
            "maximize": True,
        },
    ],
    "RMSprop": [
        {},
        {"lr": 0.01, "momentum": 0.9},
        {"lr": 0.01, "centered": True},
        {"lr": 0.01, "centered": True, "momentum": 0.5},
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": 0.01, "maximize": True},
        {
            "lr": 0.005,
            "alpha": 0.9,
            "eps": 1e-6,
            "weight_decay": 0.1,
            "momentum": 0.7,
            "centered": True,
            "maximize": True,
        },
    ],
    "Adadelta": [
        {},
        {"lr": 0.5, "weight_decay": 0.1},
        {"maximize": True},
        {"lr": 0.7, "rho": 0.5, "eps": 1e-4, "weight_decay": 0.05, "maximize": True},
    ],
    "Adam": [
        {},
        {"lr": 0.01, "amsgrad": True},
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": 0.01, "maximize": True},
        {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6},
        {
            "lr": 0.01,
            "betas": (0.85, 0.95),
            "weight_decay": 0.1,
            "amsgrad": True,
            "maximize": True,
        },
    ],
    "AdamW": [
        {},
        {"lr": 0.01, "amsgrad": True},
        {"lr": 0.01, "weight_decay": 0.2},
        {"lr": 0.01, "maximize": True},
        {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1, "amsgrad": True, "maximize": True},
    ],
}

PARAMS = [
    pytest.param(name, kwargs, id=f"{name}-{i}")
    for name, cases in CASES.items()
    for i, kwargs in enumerate(cases)
]

# What a second parameter group changes, per optimizer (besides lr).
SECOND_GROUP = {
    "SGD": {"lr": 0.02, "momentum": 0.5, "weight_decay": 0.3},
    "Adagrad": {"lr": 0.3, "lr_decay": 0.1},
    "RMSprop": {"lr": 0.002, "centered": True, "momentum": 0.3},
    "Adadelta": {"lr": 0.3, "rho": 0.8},
    "Adam": {"lr": 0.003, "amsgrad": True, "betas": (0.5, 0.9)},
    "AdamW": {"lr": 0.003, "weight_decay": 0.5},
}


FLAT = {"on": False}


@pytest.fixture(params=["fused", "loop"])
def path(request, monkeypatch):
    """Run each comparison with flattened parameters (one fused update per group, as
    backward fills the flat gradient views) and with separate ones (the loop)."""
    monkeypatch.setitem(FLAT, "on", request.param == "fused")
    return request.param


def _initial(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape) for shape in SHAPES]


def _grad(x: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Gradient of Σ 0.5·(x − 0.3)² + 0.2·sin(3x), plus the step's noise."""
    return np.asarray((x - 0.3) + 0.6 * np.cos(3 * x) + noise)


def _groups(arrays, make, split: dict | None):
    tensors = [make(a) for a in arrays]
    if split is None:
        return tensors, tensors
    return tensors, [{"params": tensors[:2]}, {"params": tensors[2:], **split}]


def _run(name, kwargs, split=None, seed=0, skip=lambda step, i: False):
    """Run both optimizers; return (cr params, torch params, cr opt, torch opt)."""
    start = _initial(seed)
    rng = np.random.default_rng(seed + 100)
    noise = [[rng.normal(size=s) * 0.5 for s in SHAPES] for _ in range(STEPS)]

    cr_params, cr_groups = _groups(
        start, lambda a: cr.tensor(a, dtype=np.float64, requires_grad=True), split
    )
    th_params, th_groups = _groups(
        start, lambda a: torch.tensor(a, dtype=torch.float64, requires_grad=True), split
    )
    if FLAT["on"]:
        flatten_parameters(cr_params)
    cr_opt = getattr(optim, name)(cr_groups, **kwargs)
    th_opt = getattr(torch.optim, name)(th_groups, **kwargs)
    assert bool(cr_opt._fused) == FLAT["on"]
    for step in range(STEPS):
        for i, (cp, tp) in enumerate(zip(cr_params, th_params, strict=True)):
            if skip(step, i):
                cp.grad, tp.grad = None, None
                continue
            if FLAT["on"]:  # as backward does: into the parameter's flat gradient view
                np.copyto(cp._grad_slot, _grad(cp.data, noise[step][i]))
                cp.grad = cp._grad_slot
            else:
                cp.grad = _grad(cp.data, noise[step][i])
            tp.grad = torch.from_numpy(_grad(tp.detach().numpy(), noise[step][i]))
        cr_opt.step()
        th_opt.step()
    return cr_params, th_params, cr_opt, th_opt


def _assert_params_equal(cr_params, th_params):
    for cp, tp in zip(cr_params, th_params, strict=True):
        np.testing.assert_allclose(cp.data, tp.detach().numpy(), rtol=RTOL, atol=1e-12)


def _assert_state_equal(cr_opt, th_opt):
    ours = cr_opt.state_dict()["state"]
    theirs = th_opt.state_dict()["state"]
    assert sorted(ours) == sorted(theirs)
    for index, entries in theirs.items():
        assert set(ours[index]) == set(entries), f"state names of parameter {index}"
        for key, value in entries.items():
            expected = value.detach().numpy() if isinstance(value, torch.Tensor) else value
            if key == "step":
                assert ours[index][key] == float(expected)
            else:
                np.testing.assert_allclose(ours[index][key], expected, rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize(("name", "kwargs"), PARAMS)
def test_trajectory_and_state_match_torch(name, kwargs, path):
    cr_params, th_params, cr_opt, th_opt = _run(name, kwargs)
    _assert_params_equal(cr_params, th_params)
    _assert_state_equal(cr_opt, th_opt)
    moved = max(np.abs(p.data - a).max() for p, a in zip(cr_params, _initial(0), strict=True))
    assert moved > 1e-3, "the parameters must actually move for the comparison to mean anything"


@pytest.mark.parametrize("name", sorted(CASES))
def test_two_param_groups_match_torch(name, path):
    base = CASES[name][1]
    cr_params, th_params, cr_opt, th_opt = _run(name, base, split=SECOND_GROUP[name], seed=3)
    _assert_params_equal(cr_params, th_params)
    _assert_state_equal(cr_opt, th_opt)
    groups = cr_opt.state_dict()["param_groups"]
    assert groups[0]["params"] == [0, 1] and groups[1]["params"] == [2, 3]
    assert groups[1]["lr"] == SECOND_GROUP[name]["lr"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_parameters_without_grad_are_skipped_like_torch(name, path):
    # parameter 1 gets no gradient on steps 5-9, parameter 3 never gets one
    def skip(step, i):
        return (i == 1 and 5 <= step < 10) or i == 3

    cr_params, th_params, cr_opt, th_opt = _run(name, CASES[name][1], seed=5, skip=skip)
    _assert_params_equal(cr_params, th_params)
    _assert_state_equal(cr_opt, th_opt)
    np.testing.assert_array_equal(cr_params[3].data, _initial(5)[3])


def _lr_pairs(make_scheduler, opt_name="SGD", opt_kwargs=None, groups_lr=(0.1, 0.05)):
    opt_kwargs = {"momentum": 0.9} if opt_kwargs is None else opt_kwargs
    cr_opt = getattr(optim, opt_name)(
        [
            {"params": [cr.tensor(np.zeros(2), dtype=np.float64, requires_grad=True)], "lr": lr}
            for lr in groups_lr
        ],
        **opt_kwargs,
    )
    th_opt = getattr(torch.optim, opt_name)(
        [
            {"params": [torch.zeros(2, dtype=torch.float64, requires_grad=True)], "lr": lr}
            for lr in groups_lr
        ],
        **opt_kwargs,
    )
    return (
        cr_opt,
        make_scheduler(lr_scheduler, cr_opt),
        th_opt,
        make_scheduler(torch.optim.lr_scheduler, th_opt),
    )


SCHEDULERS = {
    "StepLR": lambda m, o: m.StepLR(o, step_size=4, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[3, 7, 7, 20], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
    "CosineAnnealingLR-default": lambda m, o: m.CosineAnnealingLR(o, T_max=7),
    "LinearLR": lambda m, o: m.LinearLR(o),
    "LinearLR-down": lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=12),
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=30),
    "LambdaLR": lambda m, o: m.LambdaLR(o, lr_lambda=lambda e: 0.95**e / (1 + e % 3)),
    "LambdaLR-per-group": lambda m, o: m.LambdaLR(
        o, lr_lambda=[lambda e: 1 / (1 + e), lambda e: min(1.0, (e + 1) / 5)]
    ),
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lr_lambda=lambda e: 0.9 + 0.01 * e),
    "ConstantLR": lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=6),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o, total_iters=12, power=2.0),
    "CosineAnnealingWarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=4),
    "SequentialLR-warmup-cosine": lambda m, o: m.SequentialLR(
        o,
        [m.LinearLR(o, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(o, T_max=20)],
        milestones=[5],
    ),
    "SequentialLR-three": lambda m, o: m.SequentialLR(
        o,
        [
            m.ConstantLR(o, factor=0.5, total_iters=4),
            m.ExponentialLR(o, gamma=0.8),
            m.StepLR(o, step_size=3, gamma=0.5),
        ],
        milestones=[6, 15],
    ),
    "SequentialLR-restarts": lambda m, o: m.SequentialLR(
        o,
        [m.MultiStepLR(o, milestones=[2, 3]), m.PolynomialLR(o, total_iters=8, power=2.0)],
        milestones=[10],
    ),
    "ChainedScheduler": lambda m, o: m.ChainedScheduler(
        [m.ConstantLR(o, factor=0.3, total_iters=4), m.ExponentialLR(o, gamma=0.95)]
    ),
    "CosineAnnealingWarmRestarts-mult": lambda m, o: m.CosineAnnealingWarmRestarts(
        o, T_0=3, T_mult=2, eta_min=0.01
    ),
    "OneCycleLR-linear": lambda m, o: m.OneCycleLR(
        o, max_lr=0.3, epochs=3, steps_per_epoch=10, anneal_strategy="linear", pct_start=0.4
    ),
    "OneCycleLR-three-phase": lambda m, o: m.OneCycleLR(
        o, max_lr=0.3, total_steps=30, three_phase=True, base_momentum=0.8, max_momentum=0.9
    ),
}


@pytest.mark.parametrize("key", sorted(SCHEDULERS))
@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_scheduler_lrs_match_torch(key, opt_name):
    kwargs = {"momentum": 0.9} if opt_name == "SGD" else {}
    cr_opt, cr_s, th_opt, th_s = _lr_pairs(SCHEDULERS[key], opt_name, kwargs)
    momentum_key = "momentum" if opt_name == "SGD" else "betas"

    def snapshot(opt):
        return [(g["lr"], g[momentum_key], g.get("initial_lr")) for g in opt.param_groups]

    assert snapshot(cr_opt) == snapshot(th_opt)
    for _ in range(30):
        cr_opt.step()
        th_opt.step()
        cr_s.step()
        th_s.step()
        assert cr_s.get_last_lr() == pytest.approx(th_s.get_last_lr(), rel=1e-15, abs=0)
        for ours, theirs in zip(snapshot(cr_opt), snapshot(th_opt), strict=True):
            assert ours[0] == pytest.approx(theirs[0], rel=1e-15, abs=0)
            assert ours[1] == pytest.approx(theirs[1], rel=1e-15, abs=0)
            assert ours[2] == theirs[2]
    # torch's ChainedScheduler keeps no epoch count of its own; ours mirrors its last member
    theirs = th_s if hasattr(th_s, "last_epoch") else th_s._schedulers[-1]
    assert cr_s.last_epoch == theirs.last_epoch == 30


def test_warm_restarts_with_fractional_epochs_match_torch():
    for t_mult in (1, 2):
        _, cr_s, _, th_s = _lr_pairs(
            lambda m, o, t_mult=t_mult: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=t_mult)
        )
        for epoch in range(12):
            for batch in range(4):
                cr_s.step(epoch + batch / 4)
                th_s.step(epoch + batch / 4)
                assert cr_s.get_last_lr() == pytest.approx(th_s.get_last_lr(), rel=1e-12)
                assert cr_s.last_epoch == th_s.last_epoch


def test_reduce_lr_on_plateau_matches_torch():
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.89, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.5, 0.5]
    metrics += [0.5] * 16
    configs = [
        {"patience": 2},
        {"patience": 1, "cooldown": 2, "factor": 0.5, "min_lr": [0.01, 0.02]},
        {"mode": "max", "patience": 0, "threshold_mode": "abs", "threshold": 0.01},
        {"patience": 1, "threshold": 0.2, "min_lr": 0.03, "eps": 1e-3},
    ]
    for config in configs:
        cr_opt, cr_s, th_opt, th_s = _lr_pairs(
            lambda m, o, config=config: m.ReduceLROnPlateau(o, **config)
        )
        seen = set()
        for metric in metrics:
            cr_s.step(metric)
            th_s.step(metric)
            assert cr_s.get_last_lr() == th_s.get_last_lr(), config
            assert [g["lr"] for g in cr_opt.param_groups] == [g["lr"] for g in th_opt.param_groups]
            assert cr_s.num_bad_epochs == th_s.num_bad_epochs
            seen.add(tuple(cr_s.get_last_lr()))
        assert len(seen) > 1, f"{config}: the lr must actually drop"


def test_a_torch_state_dict_loads_and_continues_identically():
    """torch's own state dict (tensors, float steps, its extra options) loads as it is."""
    _, th_params, _, th_opt = _run("Adam", {"lr": 0.01, "amsgrad": True})
    fresh = [
        cr.tensor(tp.detach().numpy(), dtype=np.float64, requires_grad=True) for tp in th_params
    ]
    other = optim.Adam(fresh)
    other.load_state_dict(th_opt.state_dict())
    assert other.state[fresh[0]]["step"] == STEPS
    assert other.param_groups[0]["lr"] == 0.01 and other.param_groups[0]["amsgrad"] is True
    assert "foreach" not in other.param_groups[0]
    for step in range(3):
        grads = [np.full(s, 0.25 * (step + 1)) for s in SHAPES]
        for p, tp, g in zip(fresh, th_params, grads, strict=True):
            p.grad = g
            tp.grad = torch.from_numpy(g.copy())
        other.step()
        th_opt.step()
    _assert_params_equal(fresh, th_params)
    _assert_state_equal(other, th_opt)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
        ("Adam", {"lr": 0.01, "weight_decay": 0.01}),
        ("AdamW", {"lr": 0.01, "amsgrad": True}),
        ("RMSprop", {"lr": 0.01, "centered": True}),
    ],
)
def test_training_a_network_by_backward_matches_torch(name, kwargs):
    """Gradients from real backward passes (zero_grad, forward, backward, step) for 20 steps."""
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 1))
    start = [rng.normal(size=(3, 8)) * 0.5, np.zeros(8), rng.normal(size=(8, 1)) * 0.5, np.zeros(1)]
    ours = [cr.tensor(a, dtype=np.float64, requires_grad=True) for a in start]
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in start]
    cr_opt = getattr(optim, name)(ours, **kwargs)
    th_opt = getattr(torch.optim, name)(theirs, **kwargs)
    cx, tx = cr.tensor(x, dtype=np.float64), torch.from_numpy(x)
    for _ in range(20):
        cr_opt.zero_grad()
        w1, b1, w2, b2 = ours
        (((cx @ w1 + b1).tanh() @ w2 + b2 - y) ** 2).mean().backward()
        cr_opt.step()
        th_opt.zero_grad()
        w1, b1, w2, b2 = theirs
        (((tx @ w1 + b1).tanh() @ w2 + b2 - torch.from_numpy(y)) ** 2).mean().backward()
        th_opt.step()
    _assert_params_equal(ours, theirs)
    _assert_state_equal(cr_opt, th_opt)
