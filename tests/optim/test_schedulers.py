"""chainrule.optim.lr_scheduler on its own (the lr sequences against PyTorch's are in
test_optim_vs_torch.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.optim as optim
from chainrule.optim import lr_scheduler as S


def make_opt(name="SGD", lrs=(0.1,), **kwargs):
    groups = [
        {"params": [cr.tensor(np.zeros(2), dtype=np.float64, requires_grad=True)], "lr": lr}
        for lr in lrs
    ]
    return getattr(optim, name)(groups, **kwargs)


def lrs_over(scheduler, steps, group=0):
    """[lr after construction, lr after step 1, ..., lr after step ``steps``]."""
    values = [scheduler.optimizer.param_groups[group]["lr"]]
    for _ in range(steps):
        scheduler.optimizer.step()
        scheduler.step()
        values.append(scheduler.get_last_lr()[group])
    return values


def test_step_lr():
    s = S.StepLR(make_opt(lrs=(0.1,)), step_size=3, gamma=0.5)
    assert lrs_over(s, 7) == pytest.approx([0.1] * 3 + [0.05] * 3 + [0.025] * 2, rel=1e-15)
    assert s.last_epoch == 7
    with pytest.raises(ValueError, match="positive integer step_size, got 0"):
        S.StepLR(make_opt(), step_size=0)


def test_multistep_lr_applies_repeated_milestones_twice():
    s = S.MultiStepLR(make_opt(lrs=(1.0,)), milestones=[2, 4, 4], gamma=0.1)
    assert lrs_over(s, 5) == pytest.approx([1, 1, 0.1, 0.1, 0.001, 0.001], rel=1e-12)
    with pytest.raises(ValueError, match=r"increasing milestones, got \[5, 2\]"):
        S.MultiStepLR(make_opt(), milestones=[5, 2])


def test_exponential_lr():
    s = S.ExponentialLR(make_opt(lrs=(0.5,)), gamma=0.9)
    np.testing.assert_allclose(lrs_over(s, 10), 0.5 * 0.9 ** np.arange(11), rtol=1e-14)


def test_cosine_annealing_follows_the_closed_form_and_rises_after_t_max():
    t_max, eta_min, base = 10, 0.01, 0.1
    s = S.CosineAnnealingLR(make_opt(lrs=(base,)), T_max=t_max, eta_min=eta_min)
    values = lrs_over(s, 25)
    closed = [
        eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / t_max)) / 2 for t in range(26)
    ]
    np.testing.assert_allclose(values, closed, rtol=1e-12)
    assert values[t_max] == pytest.approx(eta_min) and values[2 * t_max] == pytest.approx(base)
    with pytest.raises(ValueError, match="positive T_max, got 0"):
        S.CosineAnnealingLR(make_opt(), T_max=0)


def test_linear_lr_warms_up_then_holds():
    s = S.LinearLR(make_opt(lrs=(0.3,)), start_factor=0.25, end_factor=1.0, total_iters=3)
    np.testing.assert_allclose(lrs_over(s, 6), [0.075, 0.15, 0.225, 0.3, 0.3, 0.3, 0.3])
    with pytest.raises(ValueError, match="greater than 0 and less or equal to 1"):
        S.LinearLR(make_opt(), start_factor=0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        S.LinearLR(make_opt(), end_factor=1.5)


def test_one_cycle_lr_shape_and_momentum():
    opt = make_opt(lrs=(0.1,), momentum=0.9)
    s = S.OneCycleLR(opt, max_lr=1.0, total_steps=20, pct_start=0.25)
    lrs, momenta = [opt.param_groups[0]["lr"]], [opt.param_groups[0]["momentum"]]
    for _ in range(19):
        opt.step()
        s.step()
        lrs.append(opt.param_groups[0]["lr"])
        momenta.append(opt.param_groups[0]["momentum"])
    peak = int(np.argmax(lrs))
    assert peak == 4  # pct_start·total − 1
    assert lrs[0] == pytest.approx(1.0 / 25) and lrs[peak] == pytest.approx(1.0)
    assert lrs[-1] == pytest.approx(1.0 / 25 / 1e4)
    assert momenta[0] == pytest.approx(0.95) and momenta[peak] == pytest.approx(0.85)
    assert momenta[-1] == pytest.approx(0.95)
    assert opt.param_groups[0]["initial_lr"] == pytest.approx(0.04)
    opt.step()
    s.step()  # step 20: allowed, as in PyTorch
    with pytest.raises(ValueError, match="Tried to step 21 times"):
        s.step()


def test_one_cycle_lr_cycles_adam_beta1_and_validates():
    opt = make_opt("Adam", lrs=(0.1, 0.2))
    s = S.OneCycleLR(opt, max_lr=[0.1, 0.2], epochs=2, steps_per_epoch=5, three_phase=True)
    assert [g["betas"] for g in opt.param_groups] == [(0.95, 0.999)] * 2
    opt.step()
    s.step()
    assert opt.param_groups[0]["betas"][0] < 0.95 and opt.param_groups[0]["betas"][1] == 0.999
    with pytest.raises(ValueError, match="momentum or beta1"):
        S.OneCycleLR(make_opt("Adagrad"), max_lr=0.1, total_steps=10)
    assert S.OneCycleLR(make_opt("Adagrad"), max_lr=0.1, total_steps=10, cycle_momentum=False)
    with pytest.raises(ValueError, match="either total_steps OR"):
        S.OneCycleLR(make_opt(momentum=0.9), max_lr=0.1)
    with pytest.raises(ValueError, match="max_lr must have the same length"):
        S.OneCycleLR(make_opt(momentum=0.9), max_lr=[0.1, 0.2], total_steps=10)
    with pytest.raises(ValueError, match="anneal_strategy"):
        S.OneCycleLR(make_opt(momentum=0.9), max_lr=0.1, total_steps=10, anneal_strategy="x")


def test_reduce_lr_on_plateau():
    opt = make_opt(lrs=(1.0, 0.5))
    s = S.ReduceLROnPlateau(opt, patience=2, factor=0.5, cooldown=1, min_lr=[0.2, 0.3])
    history = []
    for metric in [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]:
        s.step(metric)
        history.append(s.get_last_lr())
    # 3 bad epochs (> patience 2) → halve; 1 cooldown epoch; 3 more → halve (floored)
    assert history[3] == [1.0, 0.5] and history[4] == [0.5, 0.3]
    assert history[7] == [0.5, 0.3] and history[8] == [0.25, 0.3]
    assert history[-1] == [0.25, 0.3]
    with pytest.raises(ValueError, match=r"Factor should be < 1\.0"):
        S.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode 'up' is unknown"):
        S.ReduceLROnPlateau(opt, mode="up")
    with pytest.raises(ValueError, match="expected 2 min_lrs, got 1"):
        S.ReduceLROnPlateau(opt, min_lr=[0.1])


def test_reduce_lr_on_plateau_max_mode_with_absolute_threshold():
    opt = make_opt(lrs=(1.0,))
    s = S.ReduceLROnPlateau(opt, mode="max", patience=0, threshold=0.1, threshold_mode="abs")
    s.step(1.0)  # first value is always an improvement
    s.step(1.05)  # not better by more than 0.1: one bad epoch > patience 0
    assert s.get_last_lr() == [pytest.approx(0.1)]
    s.step(1.5)
    assert s.best == 1.5 and s.num_bad_epochs == 0


def test_initial_lr_is_recorded_and_resuming_needs_it():
    opt = make_opt(lrs=(0.1, 0.2))
    s = S.ExponentialLR(opt, gamma=0.5)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.2]
    assert s.base_lrs == [0.1, 0.2]
    lasts = s.get_last_lr()
    lasts[0] = 99.0  # a copy: does not touch the scheduler
    assert s.get_last_lr() == [0.1, 0.2]
    with pytest.raises(KeyError, match=r"initial_lr' is not specified in param_groups\[0\]"):
        S.StepLR(make_opt(), step_size=2, last_epoch=5)


def test_scheduler_needs_an_optimizer():
    with pytest.raises(TypeError, match=r"needs a chainrule\.optim Optimizer, got list"):
        S.StepLR([], step_size=1)


def test_schedule_drives_the_actual_update():
    w = cr.tensor(np.array([0.0]), dtype=np.float64, requires_grad=True)
    opt = optim.SGD([w], lr=1.0)
    s = S.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        w.grad = np.array([1.0])
        opt.step()
        s.step()
    np.testing.assert_allclose(w.data, [-(1.0 + 0.5 + 0.25)])


SCHEDULES = {
    "StepLR": lambda o: S.StepLR(o, step_size=4, gamma=0.5),
    "MultiStepLR": lambda o: S.MultiStepLR(o, milestones=[3, 12, 15]),
    "ExponentialLR": lambda o: S.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda o: S.CosineAnnealingLR(o, T_max=8, eta_min=0.001),
    "LinearLR": lambda o: S.LinearLR(o, total_iters=15),
    "OneCycleLR": lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=30),
    "LambdaLR": lambda o: S.LambdaLR(o, lambda e: 1 / (1 + e)),
    "MultiplicativeLR": lambda o: S.MultiplicativeLR(o, lambda e: 0.95),
    "ConstantLR": lambda o: S.ConstantLR(o, factor=0.5, total_iters=12),
    "PolynomialLR": lambda o: S.PolynomialLR(o, total_iters=20, power=2.0),
    "CosineAnnealingWarmRestarts": lambda o: S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2),
    "SequentialLR": lambda o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.2, total_iters=4), S.CosineAnnealingLR(o, 20)], [4]
    ),
    "ChainedScheduler": lambda o: S.ChainedScheduler(
        [S.ConstantLR(o, factor=0.5, total_iters=12), S.ExponentialLR(o, gamma=0.9)]
    ),
}


@pytest.mark.parametrize("key", sorted(SCHEDULES))
def test_state_dict_round_trip_mid_run(key):
    opt = make_opt(lrs=(0.1, 0.05), momentum=0.9)
    sched = SCHEDULES[key](opt)
    for _ in range(10):
        opt.step()
        sched.step()
    saved_opt, saved_sched = opt.state_dict(), sched.state_dict()
    assert "optimizer" not in saved_sched and saved_sched["last_epoch"] == 10
    expected = []
    for _ in range(15):
        opt.step()
        sched.step()
        expected.append((sched.get_last_lr(), [g.get("momentum") for g in opt.param_groups]))

    other_opt = make_opt(lrs=(0.7, 0.7), momentum=0.0)
    other = SCHEDULES[key](other_opt)  # construct first (it writes the lrs), then load
    other_opt.load_state_dict(saved_opt)
    other.load_state_dict(saved_sched)
    got = []
    for _ in range(15):
        other_opt.step()
        other.step()
        got.append((other.get_last_lr(), [g.get("momentum") for g in other_opt.param_groups]))
    assert got == expected


def test_reduce_lr_on_plateau_state_dict_round_trip():
    metrics = [1.0, 0.99, 0.99, 0.99, 0.98, 0.98, 0.98, 0.98, 0.97, 0.97, 0.97, 0.97]
    opt = make_opt(lrs=(0.1,))
    sched = S.ReduceLROnPlateau(opt, patience=1)
    for m in metrics[:5]:
        sched.step(m)
    saved = sched.state_dict()
    rest = []
    for m in metrics[5:]:
        sched.step(m)
        rest.append(sched.get_last_lr()[0])
    other_opt = make_opt(lrs=(opt.param_groups[0]["lr"],))
    other = S.ReduceLROnPlateau(other_opt)
    other.load_state_dict(saved)
    other_opt.param_groups[0]["lr"] = saved["_last_lr"][0]
    again = []
    for m in metrics[5:]:
        other.step(m)
        again.append(other.get_last_lr()[0])
    assert again == rest and len(set(rest)) > 1


def test_lambda_lr_state_dict_leaves_out_the_functions():
    sched = S.LambdaLR(make_opt(lrs=(0.1,)), lambda e: 0.5**e)
    assert "lr_lambdas" not in sched.state_dict()
    assert sched.get_last_lr() == [0.1]
    sched.step()
    sched.step()
    assert sched.get_last_lr() == [pytest.approx(0.025)]


def test_polynomial_lr_reaches_zero_and_stays():
    sched = S.PolynomialLR(make_opt(lrs=(0.2,)), total_iters=4, power=1.0)
    lrs = []
    for _ in range(6):
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    assert lrs == pytest.approx([0.15, 0.1, 0.05, 0.0, 0.0, 0.0], abs=1e-15)


def test_warm_restarts_restart_at_the_period_boundaries():
    sched = S.CosineAnnealingWarmRestarts(make_opt(lrs=(1.0,)), T_0=2, T_mult=2)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(6):
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    # periods of 2 then 4 epochs: 1, ½, restart 1, cos…, restart 1
    assert lrs == pytest.approx([1.0, 0.5, 1.0, 0.853553, 0.5, 0.146447, 1.0], abs=1e-6)
    with pytest.raises(ValueError, match="T_0"):
        S.CosineAnnealingWarmRestarts(make_opt(lrs=(1.0,)), T_0=0)


def test_sequential_lr_warms_up_then_anneals_and_checks_its_arguments():
    opt = make_opt(lrs=(1.0,))
    warmup = S.LinearLR(opt, start_factor=0.25, total_iters=3)
    sched = S.SequentialLR(opt, [warmup, S.CosineAnnealingLR(opt, T_max=4)], milestones=[3])
    lrs = [sched.get_last_lr()[0]]
    for _ in range(7):
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    assert lrs == pytest.approx([0.25, 0.5, 0.75, 1.0, 0.853553, 0.5, 0.146447, 0.0], abs=1e-6)
    with pytest.raises(ValueError, match="one milestone fewer"):
        S.SequentialLR(opt, [warmup], milestones=[3])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        S.ChainedScheduler([S.ReduceLROnPlateau(opt)])
    with pytest.raises(ValueError, match="same optimizer"):
        S.SequentialLR(opt, [warmup, S.StepLR(make_opt(), 2)], milestones=[2])
