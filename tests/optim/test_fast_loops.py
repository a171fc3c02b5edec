"""The optimizers' per-parameter fast loops (Adam's, plain SGD's) give what the general
kernels give, bit for bit, and keep their checks."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.optim import functional as Fo

SHAPES = [(3, 4), (4,), (1,), ()]


def _params(dtype, shapes=SHAPES, seed=0):
    rng = np.random.default_rng(seed)
    return [cr.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]


def _feed(params, step, seed=1):
    rng = np.random.default_rng(seed + step)
    for p in params:
        p.grad = rng.standard_normal(p.data.shape).astype(p.data.dtype)


def _reference_adam(params, steps, **options):
    """adam_step called per parameter, as the general loop does."""
    datas = [p.data.copy() for p in params]
    states = [[np.zeros_like(d), np.zeros_like(d), np.zeros_like(d)] for d in datas]
    for step in range(1, steps + 1):
        rng = np.random.default_rng(1 + step - 1)
        for data, (m, v, vmax) in zip(datas, states, strict=True):
            grad = rng.standard_normal(data.shape).astype(data.dtype)
            Fo.adam_step(
                data,
                grad,
                m,
                v,
                vmax if options["amsgrad"] else None,
                step=step,
                lr=options["lr"],
                beta1=0.9,
                beta2=0.999,
                eps=1e-8,
                weight_decay=options["weight_decay"],
                amsgrad=options["amsgrad"],
                maximize=options["maximize"],
                decoupled=options["decoupled"],
            )
    return datas, states


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "options",
    [
        dict(lr=1e-3, weight_decay=0.0, amsgrad=False, maximize=False, decoupled=False),
        dict(lr=0.05, weight_decay=0.1, amsgrad=True, maximize=False, decoupled=False),
        dict(lr=0.05, weight_decay=0.1, amsgrad=False, maximize=True, decoupled=True),
        dict(lr=0.05, weight_decay=0.0, amsgrad=False, maximize=True, decoupled=False),
    ],
)
def test_adam_loop_matches_adam_step_bit_for_bit(dtype, options):
    params = _params(dtype)
    opt = optim.Adam(
        params,
        lr=options["lr"],
        weight_decay=options["weight_decay"],
        amsgrad=options["amsgrad"],
        maximize=options["maximize"],
        decoupled_weight_decay=options["decoupled"],
    )
    want, states = _reference_adam(_params(dtype), 5, **options)
    for step in range(5):
        _feed(params, step)
        opt.step()
    for p, data, (m, v, vmax) in zip(params, want, states, strict=True):
        assert p.data.dtype == dtype
        assert p.data.tobytes() == data.tobytes()
        st = opt.state[p]
        assert st["step"] == 5
        assert st["exp_avg"].tobytes() == m.tobytes()
        assert st["exp_avg_sq"].tobytes() == v.tobytes()
        if options["amsgrad"]:
            assert st["max_exp_avg_sq"].tobytes() == vmax.tobytes()


def test_adam_group_of_two_dtypes_uses_each_dtypes_numbers():
    params = _params(np.float32, [(2, 3)]) + _params(np.float64, [(4,)], seed=5)
    opt = optim.Adam(params, lr=0.01)
    reference = [p.data.copy() for p in params]
    moments = [(np.zeros_like(d), np.zeros_like(d)) for d in reference]
    for step in range(3):
        _feed(params, step)
        for data, (m, v), p in zip(reference, moments, params, strict=True):
            Fo.adam_step(
                data, p.grad, m, v, None, step=step + 1, lr=0.01, beta1=0.9, beta2=0.999,
                eps=1e-8, weight_decay=0, amsgrad=False, maximize=False, decoupled=False,
            )  # fmt: skip
        opt.step()
    for p, data in zip(params, reference, strict=True):
        assert p.data.dtype == data.dtype and p.data.tobytes() == data.tobytes()


def test_adam_with_lr_zero_keeps_the_parameters_and_updates_the_moments():
    # Regression: 1/(√bc₂·step_size) divided by zero (ZeroDivisionError) at lr = 0, which
    # a schedule such as CosineAnnealingLR(eta_min=0) reaches.
    params, moving = _params(np.float64), _params(np.float64)
    still, busy = optim.Adam(params, lr=0.0), optim.Adam(moving, lr=0.1)
    before = [p.data.copy() for p in params]
    for step in range(3):
        _feed(params, step)
        _feed(moving, step)
        still.step()
        busy.step()
    for p, data, q in zip(params, before, moving, strict=True):
        np.testing.assert_array_equal(p.data, data)
        for name in ("exp_avg", "exp_avg_sq"):
            assert still.state[p][name].tobytes() == busy.state[q][name].tobytes()
    assert not np.array_equal(moving[0].data, before[0])


def test_adam_reaching_lr_zero_under_cosine_annealing_steps_on():
    (p,) = _params(np.float64, [(3,)])
    opt = optim.Adam([p], lr=0.1, amsgrad=True)
    schedule = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2, eta_min=0.0)
    for step in range(4):
        _feed([p], step)
        opt.step()
        schedule.step()
    assert opt.state[p]["step"] == 4
    assert np.isfinite(p.data).all()


def test_adam_functional_with_lr_zero_leaves_the_parameter():
    param_, grad = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    m, v = np.zeros(2), np.zeros(2)
    Fo.adam_step(
        param_, grad, m, v, None, step=1, lr=0.0, beta1=0.9, beta2=0.999, eps=1e-8,
        weight_decay=0, amsgrad=False, maximize=False, decoupled=False,
    )  # fmt: skip
    np.testing.assert_array_equal(param_, [1.0, -2.0])
    np.testing.assert_allclose(m, 0.1 * grad)


def test_adam_subclass_with_its_own_apply_is_still_called():
    calls = []

    class Logged(optim.Adam):
        def _apply(self, options, param, grad, state, step):
            calls.append(step)
            super()._apply(options, param, grad, state, step)

    params = _params(np.float64)
    opt = Logged(params, lr=0.01)
    _feed(params, 0)
    opt.step()
    assert calls == [1] * len(params)


def test_adam_state_replaced_by_hand_is_refused_by_name():
    (p,) = _params(np.float64, [(2,)])
    opt = optim.Adam([p], lr=0.1)
    _feed([p], 0)
    opt.step()
    # a list, set by hand: it was extended in place by `+=` before, silently
    opt.state[p]["exp_avg"] = [0.0, 0.0]
    _feed([p], 1)
    with pytest.raises(TypeError, match="exp_avg and exp_avg_sq as NumPy arrays, got list"):
        opt.step()


def test_adam_scratch_follows_a_parameter_rebound_to_another_shape():
    (p,) = _params(np.float64, [(2, 2)])
    opt = optim.Adam([p], lr=0.1)
    _feed([p], 0)
    opt.step()
    p.data = np.ones(5)
    opt.state.clear()
    _feed([p], 1)
    opt.step()
    assert p.data.shape == (5,) and opt.state[p]["exp_avg"].shape == (5,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plain_sgd_matches_sgd_step_bit_for_bit(dtype):
    params, reference = _params(dtype), _params(dtype)
    opt = optim.SGD(params, lr=0.3)
    for step in range(4):
        _feed(params, step)
        _feed(reference, step)
        opt.step()
        for q in reference:
            Fo.sgd_step(
                q.data, q.grad, None, lr=0.3, momentum=0, dampening=0, weight_decay=0,
                nesterov=False, maximize=False,
            )  # fmt: skip
    for p, q in zip(params, reference, strict=True):
        assert p.data.tobytes() == q.data.tobytes()


def test_plain_sgd_with_a_gradient_of_another_dtype_rounds_as_before():
    # The float32 gradient is scaled in float32 (a Python float lr is "weak"), then
    # subtracted from the float64 parameter: the 0-d lr must be of the gradient's dtype.
    p = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    grad = np.array([0.1, 0.7], dtype=np.float32)
    p.grad = grad
    optim.SGD([p], lr=0.1).step()
    want = np.array([1.0, 2.0]) - grad * 0.1
    assert p.data.dtype == np.float64 and p.data.tobytes() == want.tobytes()


def test_plain_sgd_names_the_parameter_with_a_wrong_gradient_and_updates_none():
    params = _params(np.float64, [(2,), (3,)])
    before = [p.data.copy() for p in params]
    params[0].grad = np.ones(2)
    params[1].grad = np.ones(4)
    with pytest.raises(ValueError, match=r"parameter 1 of param_groups\[0\] has shape \(3,\)"):
        optim.SGD(params, lr=0.1).step()
    for p, data in zip(params, before, strict=True):
        np.testing.assert_array_equal(p.data, data)
