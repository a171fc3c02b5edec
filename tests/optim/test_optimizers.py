"""chainrule.optim on its own: convergence, the Optimizer interface, state handling.

(Number-for-number agreement with torch.optim is in test_optim_vs_torch.py.)
"""

from __future__ import annotations

import copy
import re
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.optim as optim
from chainrule.nn.utils import flatten_parameters
from chainrule.optim import functional as Fo

ALL = ["SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW"]

# Options that make every optimizer carry all of its state (for state round trips).
RICH = {
    "SGD": {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.01},
    "Adagrad": {"lr": 0.1, "lr_decay": 0.01},
    "RMSprop": {"lr": 0.01, "momentum": 0.5, "centered": True},
    "Adadelta": {"lr": 0.5, "weight_decay": 0.01},
    "Adam": {"lr": 0.01, "amsgrad": True},
    "AdamW": {"lr": 0.01, "amsgrad": True},
}


def param(values, dtype=np.float64):
    return cr.tensor(np.asarray(values, dtype=dtype), dtype=dtype, requires_grad=True)


FLATTEN = {"on": False}  # set by the ``flat_mode`` fixture: make_params flattens


def make_params(seed=0, shapes=((3, 4), (4,), (2, 2, 3)), dtype=np.float64, flat=None):
    rng = np.random.default_rng(seed)
    params = [param(rng.normal(size=s), dtype) for s in shapes]
    if FLATTEN["on"] if flat is None else flat:
        flatten_parameters(params)  # optimizers then fuse the update (fused=None)
    return params


def feed(params, step, seed=1):
    """Deterministic gradients for ``step``: the same for every run with the same seed."""
    rng = np.random.default_rng(seed * 1000 + step)
    for p in params:
        p.grad = (p.data - 0.5) + rng.normal(size=p.shape).astype(p.dtype) * 0.1


@pytest.fixture(params=["fused", "loop"])
def flat_mode(request, monkeypatch):
    """Run the test with flattened parameters (a fused update) and with separate ones."""
    monkeypatch.setitem(FLATTEN, "on", request.param == "fused")
    return request.param


# -- convergence ------------------------------------------------------------------------
def _quadratic(dim=6, seed=0):
    """½xᵀAx − bᵀx with A's eigenvalues spread over 1..10; its minimum and gradient."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    a = q @ np.diag(np.linspace(1, 10, dim)) @ q.T
    b = rng.normal(size=dim)
    return a, b, np.linalg.solve(a, b)


QUADRATIC = [
    ("SGD", {"lr": 0.1}, 300, 1e-6),
    ("SGD", {"lr": 0.05, "momentum": 0.9}, 300, 1e-6),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}, 300, 1e-6),
    ("Adagrad", {"lr": 0.5}, 1500, 1e-6),
    # RMSprop's steps stay about lr long (g/√v does not shrink with g), so it ends up
    # hovering within ~lr of the minimum; Adadelta too, a little farther out.
    ("RMSprop", {"lr": 1e-3}, 2000, 2e-3),
    ("RMSprop", {"lr": 1e-3, "momentum": 0.9, "centered": True}, 2000, 2e-3),
    ("Adadelta", {"lr": 0.5}, 1000, 2e-2),
    ("Adam", {"lr": 0.05}, 1500, 1e-3),
    ("Adam", {"lr": 0.05, "amsgrad": True}, 1500, 1e-3),
    ("AdamW", {"lr": 0.05, "weight_decay": 0}, 1500, 1e-3),
]


@pytest.mark.parametrize(("name", "kwargs", "steps", "tolerance"), QUADRATIC)
def test_converges_on_a_convex_quadratic(name, kwargs, steps, tolerance):
    a, b, minimum = _quadratic()
    x = param(np.zeros(6))
    opt = getattr(optim, name)([x], **kwargs)
    for _ in range(steps):
        x.grad = a @ x.data - b
        opt.step()
    assert np.linalg.norm(x.data - minimum) < tolerance * np.linalg.norm(minimum)


def test_weight_decay_moves_the_minimum_to_the_l2_regularized_one():
    a, b, _ = _quadratic()
    x = param(np.zeros(6))
    opt = optim.SGD([x], lr=0.05, momentum=0.9, weight_decay=0.5)
    for _ in range(500):
        x.grad = a @ x.data - b
        opt.step()
    np.testing.assert_allclose(x.data, np.linalg.solve(a + 0.5 * np.eye(6), b), atol=1e-9)


def test_maximize_climbs_a_concave_function():
    a, b, minimum = _quadratic()
    x = param(np.zeros(6))
    opt = optim.Adam([x], lr=0.05, maximize=True)
    for _ in range(1500):
        x.grad = -(a @ x.data - b)  # gradient of the negated quadratic
        opt.step()
    assert np.linalg.norm(x.data - minimum) < 1e-3 * np.linalg.norm(minimum)


def _rosenbrock_grad(v):
    x, y = v
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


ROSENBROCK = [
    ("SGD", {"lr": 1e-3, "momentum": 0.9}, 3000),
    ("SGD", {"lr": 2e-4, "momentum": 0.95, "nesterov": True}, 5000),
    ("Adagrad", {"lr": 2.0}, 8000),
    ("RMSprop", {"lr": 1e-3, "momentum": 0.9}, 2000),
    ("RMSprop", {"lr": 3e-4, "momentum": 0.9, "centered": True}, 2000),
    ("Adadelta", {"lr": 0.1}, 8000),
    ("Adam", {"lr": 0.02}, 4000),
    ("Adam", {"lr": 0.02, "amsgrad": True}, 5000),
    ("AdamW", {"lr": 0.02}, 4000),
]


@pytest.mark.parametrize(("name", "kwargs", "steps"), ROSENBROCK)
def test_gets_near_the_rosenbrock_minimum(name, kwargs, steps):
    v = param([-1.5, 2.0])
    opt = getattr(optim, name)([v], **kwargs)
    for _ in range(steps):
        v.grad = _rosenbrock_grad(v.data)
        opt.step()
    np.testing.assert_allclose(v.data, [1.0, 1.0], atol=0.05)


# -- constructor and arguments ------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("SGD", {"lr": -1}, "Invalid learning rate: -1"),
        ("SGD", {"momentum": -0.5}, "Invalid momentum value: -0.5"),
        ("SGD", {"weight_decay": -1e-4}, "Invalid weight_decay value: -0.0001"),
        ("SGD", {"nesterov": True}, "Nesterov momentum requires a momentum and zero dampening"),
        (
            "SGD",
            {"nesterov": True, "momentum": 0.9, "dampening": 0.1},
            "Nesterov momentum requires",
        ),
        ("Adagrad", {"lr_decay": -1}, "Invalid lr_decay value: -1"),
        ("Adagrad", {"initial_accumulator_value": -1}, "Invalid initial_accumulator_value"),
        ("Adagrad", {"eps": -1}, "Invalid epsilon value: -1"),
        ("RMSprop", {"alpha": -0.1}, "Invalid alpha value: -0.1"),
        ("RMSprop", {"momentum": -1}, "Invalid momentum value: -1"),
        ("Adadelta", {"rho": 1.5}, "Invalid rho value: 1.5"),
        ("Adam", {"betas": (1.0, 0.999)}, "Invalid beta parameter at index 0: 1.0"),
        ("Adam", {"betas": (0.9, -0.1)}, "Invalid beta parameter at index 1: -0.1"),
        ("Adam", {"eps": -1e-8}, "Invalid epsilon value: -1e-08"),
        ("AdamW", {"weight_decay": -1}, "Invalid weight_decay value: -1"),
        ("AdamW", {"lr": -0.1}, "Invalid learning rate: -0.1"),
    ],
)
def test_invalid_arguments_raise_torchs_messages(name, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        getattr(optim, name)([param([1.0])], **kwargs)


def test_defaults_are_torchs():
    p = [param([1.0])]
    assert optim.SGD(p).defaults == {
        "lr": 1e-3,
        "momentum": 0,
        "dampening": 0,
        "weight_decay": 0,
        "nesterov": False,
        "maximize": False,
        "fused": None,
    }
    assert optim.Adagrad(p).defaults["lr"] == 1e-2
    assert optim.Adagrad(p).defaults["eps"] == 1e-10
    rms = optim.RMSprop(p).defaults
    assert (rms["lr"], rms["alpha"], rms["eps"]) == (1e-2, 0.99, 1e-8)
    ada = optim.Adadelta(p).defaults
    assert (ada["lr"], ada["rho"], ada["eps"]) == (1.0, 0.9, 1e-6)
    adam = optim.Adam(p).defaults
    assert (adam["lr"], adam["betas"], adam["eps"], adam["weight_decay"]) == (
        1e-3,
        (0.9, 0.999),
        1e-8,
        0,
    )
    adamw = optim.AdamW(p).defaults
    assert adamw["weight_decay"] == 1e-2 and adamw["decoupled_weight_decay"] is True


def test_params_argument_forms():
    a, b, c = param([1.0]), param([2.0]), param([3.0])
    with pytest.raises(TypeError, match="iterable of Tensors or dicts, but got a single Tensor"):
        optim.SGD(a)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([])
    with pytest.raises(TypeError, match="can only optimize Tensors, but one of the params is int"):
        optim.SGD([a, 3])
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD({a, b})
    # a group's params too, a frozenset as well as a set (the order changes between runs)
    for unordered in ({a, b}, frozenset({a, b})):
        with pytest.raises(TypeError, match="ordered collections"):
            optim.SGD([{"params": unordered}])
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([a * 2])
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [a, b]}, {"params": [b]}])

    opt = optim.SGD((p for p in [a, b]), lr=0.1)  # a generator, as model.parameters() is
    assert [id(p) for p in opt.param_groups[0]["params"]] == [id(a), id(b)]
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert [g["momentum"] for g in opt.param_groups] == [0, 0.9]
    assert opt.param_groups[1]["params"][0] is b

    named = optim.Adam([("w", a), ("b", b)])
    assert named.param_groups[0]["param_names"] == ["w", "b"]

    opt.add_param_group({"params": [c], "lr": 0.01})
    assert opt.param_groups[2]["lr"] == 0.01 and opt.param_groups[2]["dampening"] == 0
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="Invalid learning rate: -2"):
        opt.add_param_group({"params": [param([0.0])], "lr": -2})
    with pytest.raises(TypeError, match="param_group must be a dict, but got list"):
        opt.add_param_group([c])


def test_added_param_group_is_trained_with_its_own_options():
    a, b = param([1.0, 1.0]), param([1.0, 1.0])
    opt = optim.SGD([a], lr=0.1)
    opt.add_param_group({"params": [b], "lr": 0.5})
    a.grad, b.grad = np.ones(2), np.ones(2)
    opt.step()
    np.testing.assert_array_equal(a.data, [0.9, 0.9])
    np.testing.assert_array_equal(b.data, [0.5, 0.5])


def test_repr_lists_groups():
    text = repr(optim.Adam([param([1.0])], lr=0.5))
    assert text.startswith("Adam (") and "Parameter Group 0" in text and "lr: 0.5" in text


# -- step semantics ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_updates_are_in_place(name, flat_mode):
    params = make_params()
    arrays = [p.data for p in params]
    outside_view = params[0].data[0]  # e.g. a layer holding a row of its weight
    before = outside_view.copy()
    opt = getattr(optim, name)(params, **RICH[name])
    for step in range(5):
        feed(params, step)
        opt.step()
    assert all(p.data is a for p, a in zip(params, arrays, strict=True))
    assert not np.array_equal(outside_view, before)
    np.testing.assert_array_equal(outside_view, params[0].data[0])


@pytest.mark.parametrize("name", ALL)
def test_parameters_without_grad_are_untouched(name, flat_mode):
    params = make_params()
    frozen = params[1]
    original = frozen.data.copy()
    opt = getattr(optim, name)(params, **RICH[name])
    for step in range(6):
        feed(params, step)
        frozen.grad = None
        opt.step()
    np.testing.assert_array_equal(frozen.data, original)
    if name == "Adagrad":  # Adagrad's state exists from construction, as in PyTorch
        assert opt.state[frozen]["step"] == 0
    else:
        assert frozen not in opt.state or not opt.state[frozen]
    assert all(opt.state[p]["step"] == 6 for p in (params[0], params[2]) if name != "SGD")


def _run(name, flat, steps=12, options=None, edits=None, fused=None):
    """``steps`` steps of optimizer ``name``; gradients written into each parameter's
    ``.grad`` as backward would (into the flat view when flattened)."""
    params = make_params(flat=flat)
    opt = getattr(optim, name)(params, fused=fused, **(RICH[name] if options is None else options))
    for step in range(steps):
        if edits and step in edits:
            edits[step](opt, params)
        rng = np.random.default_rng(1000 + step)
        for p in params:
            g = (p.data - 0.5) + rng.normal(size=p.shape) * 0.1
            if p.grad is None and flat:
                p.grad = p._grad_slot
            if p.grad is None:
                p.grad = g
            else:
                p.grad[...] = g
        if step == 6:
            params[2].grad = None  # one skipped step: the fused path must step aside
        opt.step()
        if step not in (6, 7):
            opt.zero_grad(set_to_none=False)
        else:
            opt.zero_grad()
    return params, opt


def _assert_same_run(a, b):
    (pa, oa), (pb, ob) = a, b
    for x, y in zip(pa, pb, strict=True):
        np.testing.assert_array_equal(x.data, y.data)
    sa, sb = oa.state_dict()["state"], ob.state_dict()["state"]
    assert sa.keys() == sb.keys()
    for index, entries in sa.items():
        assert entries.keys() == sb[index].keys()
        for key, value in entries.items():
            np.testing.assert_array_equal(value, sb[index][key])


FUSED_OPTIONS = [
    ("SGD", {"lr": 0.01}),
    ("SGD", {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.01, "dampening": 0.2}),
    ("SGD", {"lr": 0.01, "momentum": 0.9, "nesterov": True, "maximize": True}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1, "maximize": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "maximize": True}),
    ("Adadelta", {"lr": 0.5, "weight_decay": 0.01, "maximize": True}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "maximize": True, "decoupled_weight_decay": True, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01, "amsgrad": True, "maximize": True}),
]


@pytest.mark.parametrize(("name", "options"), FUSED_OPTIONS)
def test_fused_and_loop_updates_are_bit_identical(name, options):
    fused = _run(name, True, steps=30, options=options)
    assert 0 in fused[1]._fused
    _assert_same_run(fused, _run(name, False, steps=30, options=options))
    # fused=False on flattened parameters: the loop, the same numbers
    _assert_same_run(fused, _run(name, True, steps=30, options=options, fused=False))


@pytest.mark.parametrize("name", ALL)
def test_fused_state_is_views_of_flat_buffers_readable_and_writable_by_name(name):
    key = {"SGD": "momentum_buffer", "Adagrad": "sum", "RMSprop": "square_avg"}.get(
        name, "exp_avg_sq" if name.startswith("Adam") else "acc_delta"
    )

    def scale_in_place(opt, params):
        state = opt.state[params[0]]
        assert state[key].shape == params[0].shape
        if params[0].data.base is not None:  # fused: the entries are views of one buffer
            assert state[key].base is opt.state[params[1]][key].base is not None
        state[key] *= 0.5  # through the view: the flat buffer sees it

    def replace(opt, params):
        state = opt.state[params[1]]
        state[key] = state[key] * 1.25  # a new array: the fused step must notice

    edits = {3: scale_in_place, 4: replace}
    fused, loop = _run(name, True, edits=edits), _run(name, False, edits=edits)
    _assert_same_run(fused, loop)
    untouched = _run(name, False)
    assert any(
        not np.array_equal(a.data, c.data) for a, c in zip(fused[0], untouched[0], strict=True)
    )


def test_flatten_parameters_makes_views_and_backward_fills_the_flat_gradient():
    w = param([[1.0, 2.0], [3.0, 4.0]])
    b = param([0.5, -0.5])
    flat = flatten_parameters([w, b, w])  # a repeated (tied) parameter counts once
    assert flat.params == (w, b) and flat.data.shape == (6,)
    assert w.data.base is flat.data and b.data.base is flat.data
    np.testing.assert_array_equal(flat.data, [1, 2, 3, 4, 0.5, -0.5])
    x = cr.tensor([1.0, 2.0])
    for expected in (1, 2):  # the second backward accumulates into the same views
        ((w @ x + b) ** 2).sum().backward()
        assert w.grad is flat.grad_views[0] and b.grad is flat.grad_views[1]
        np.testing.assert_array_equal(flat.grad, expected * np.array([11, 22, 21, 42, 11, 21]))
    opt = optim.SGD([w, b], lr=0.1)
    assert 0 in opt._fused  # fused=None: flattened parameters in their order fuse
    opt.zero_grad()
    assert w.grad is None and b.grad is None
    ((w @ x + b) ** 2).sum().backward()
    assert w.grad is flat.grad_views[0]
    opt.step()
    np.testing.assert_allclose(w.data, [[-0.1, -0.2], [0.9, -0.2]])
    assert w.data.base is flat.data


def test_module_flatten_parameters_and_fused_true():
    model = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.Tanh(), cr.nn.Linear(4, 2))
    with pytest.raises(ValueError, match="flatten_parameters"):
        optim.Adam(model.parameters(), fused=True)
    flat = model.flatten_parameters()
    assert flat.data.size == 3 * 4 + 4 + 4 * 2 + 2
    opt = optim.Adam(model.parameters(), lr=0.01, fused=True)
    assert 0 in opt._fused
    assert 0 not in optim.Adam(model.parameters(), fused=False)._fused
    reversed_order = optim.Adam(list(model.parameters())[::-1])
    assert not reversed_order._fused  # not back to back in order: the loop
    with pytest.raises(ValueError, match="fused expected None, True or False"):
        optim.SGD(model.parameters(), fused="yes")


def test_flatten_parameters_rejects_mixed_dtypes_and_non_leaves():
    a, b = param([1.0]), param([1.0], dtype=np.float32)
    with pytest.raises(TypeError, match=r"one floating dtype \(float64\), got float32 at 1"):
        flatten_parameters([a, b])
    with pytest.raises(ValueError, match="leaf tensors, got a non-leaf at 0"):
        flatten_parameters([a * 2])
    with pytest.raises(ValueError, match="at least one parameter"):
        flatten_parameters([])


def test_fused_group_steps_aside_when_a_parameter_is_rebound():
    params = make_params(flat=True)
    opt = optim.Adam(params, lr=0.1)
    for step in range(3):
        feed(params, step)
        opt.step()
    params[0].data = params[0].data.copy()  # code that should not do this, but might
    new = params[0].data
    before = new.copy()
    feed(params, 3)
    opt.step()
    assert params[0].data is new and not np.array_equal(new, before)


def test_tied_parameters_sharing_memory_are_updated_like_the_loop():
    array = np.ones(4)
    a, b = cr.Tensor(array, requires_grad=True), cr.Tensor(array[:2], requires_grad=True)
    opt = optim.SGD([a, b], lr=0.1)
    for _ in range(3):
        a.grad, b.grad = np.ones(4), np.ones(2)
        opt.step()
    assert not opt._fused  # overlapping memory keeps the per-parameter loop
    np.testing.assert_allclose(array, [0.4, 0.4, 0.7, 0.7])


def test_float32_parameters_and_state_stay_float32(flat_mode):
    params = make_params(dtype=np.float32)
    opt = optim.Adam(params, lr=0.01, weight_decay=0.1, amsgrad=True)
    for step in range(4):
        feed(params, step)
        opt.step()
    assert all(p.dtype == np.float32 for p in params)
    for entries in opt.state_dict()["state"].values():
        for key, value in entries.items():
            if key != "step":
                assert value.dtype == np.float32


def test_zero_dim_parameters_and_numpy_scalar_grads():
    p = param(2.0)
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1, maximize=True)
    for _ in range(3):
        p.grad = np.float64(1.0)  # a NumPy scalar rather than a 0-d array
        opt.step()
    assert isinstance(opt.state[p]["momentum_buffer"], np.ndarray)
    assert p.data.shape == () and p.data > 2.0


def test_grad_shape_mismatch_is_reported():
    p = param(np.zeros((2, 3)))
    p.grad = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"has shape \(2, 3\) but its grad has shape \(3, 2\)"):
        optim.SGD([p], lr=0.1).step()


def test_zero_grad_both_modes():
    params = make_params()
    opt = optim.SGD(params, lr=0.1)
    feed(params, 0)
    grads = [p.grad for p in params]
    opt.zero_grad(set_to_none=False)
    for p, g in zip(params, grads, strict=True):
        assert p.grad is g  # the same array, zeroed in place
        assert not g.any()
    opt.zero_grad()
    assert all(p.grad is None for p in params)
    readonly = np.ones(3)
    readonly.flags.writeable = False
    params[0].grad = readonly
    opt.zero_grad(set_to_none=False)
    assert not params[0].grad.any() and readonly.all()


def test_zero_grad_then_backward_gives_fresh_gradients():
    w = param([1.0, 2.0])
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    np.testing.assert_array_equal(w.grad, [2.0, 4.0])
    opt.step()
    opt.zero_grad()
    (w * w).sum().backward()
    np.testing.assert_allclose(w.grad, [1.6, 3.2])


def test_closure_is_called_and_its_loss_returned():
    w = param([3.0, -1.0])
    opt = optim.SGD([w], lr=0.25)
    calls = []

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        calls.append(loss.item())
        return loss

    with cr.no_grad():  # step() turns recording back on for the closure
        loss = opt.step(closure)
    assert calls == [10.0] and loss.item() == 10.0
    np.testing.assert_allclose(w.data, [1.5, -0.5])
    assert opt.step() is None


def test_functional_updates_in_place_and_leaves_grad_alone():
    param_ = np.array([1.0, -2.0])
    grad = np.array([0.5, 0.5])
    grad_copy = grad.copy()
    exp_avg, exp_avg_sq = np.zeros(2), np.zeros(2)
    Fo.adam_step(
        param_,
        grad,
        exp_avg,
        exp_avg_sq,
        None,
        step=1,
        lr=0.1,
        beta1=0.9,
        beta2=0.999,
        eps=1e-8,
        weight_decay=0.1,
        amsgrad=False,
        maximize=True,
        decoupled=False,
    )
    np.testing.assert_array_equal(grad, grad_copy)
    # first Adam step moves each coordinate by lr·sign(g)
    g = -grad + 0.1 * np.array([1.0, -2.0])
    np.testing.assert_allclose(param_, np.array([1.0, -2.0]) - 0.1 * np.sign(g), rtol=1e-6)
    np.testing.assert_allclose(exp_avg, 0.1 * g)
    np.testing.assert_allclose(exp_avg_sq, 0.001 * g * g)
    buf = Fo.sgd_step(
        param_,
        grad,
        None,
        lr=0.1,
        momentum=0.9,
        dampening=0.5,
        weight_decay=0,
        nesterov=False,
        maximize=False,
    )
    np.testing.assert_array_equal(buf, grad)  # first buffer: the gradient, undamped
    assert buf is not grad


# -- state_dict ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_state_dict_round_trip_mid_run_continues_identically(name, flat_mode):
    params = make_params()
    opt = getattr(optim, name)(params, **RICH[name])
    for step in range(8):
        feed(params, step)
        opt.step()
    saved = opt.state_dict()
    snapshot = [p.data.copy() for p in params]
    for step in range(8, 16):
        feed(params, step)
        opt.step()

    resumed = [param(a) for a in snapshot]
    other = getattr(optim, name)(resumed, lr=123.0)  # options come from the state dict
    other.load_state_dict(saved)
    assert other.param_groups[0]["lr"] == RICH[name]["lr"]
    for step in range(8, 16):
        feed(resumed, step)
        other.step()
    for p, q in zip(params, resumed, strict=True):
        np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize("name", ALL)
def test_state_dict_uses_torchs_layout_and_names(name):
    params = make_params()
    opt = getattr(optim, name)(params, **RICH[name])
    feed(params, 0)
    opt.step()
    saved = opt.state_dict()
    assert set(saved) == {"state", "param_groups"}
    assert saved["param_groups"][0]["params"] == [0, 1, 2]
    expected = {
        "SGD": {"momentum_buffer"},
        "Adagrad": {"step", "sum"},
        "RMSprop": {"step", "square_avg", "momentum_buffer", "grad_avg"},
        "Adadelta": {"step", "square_avg", "acc_delta"},
        "Adam": {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
        "AdamW": {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
    }[name]
    assert sorted(saved["state"]) == [0, 1, 2]
    for entries in saved["state"].values():
        assert set(entries) == expected
        if "step" in entries:
            assert entries["step"] == 1


def test_state_dict_is_a_copy_and_loading_copies():
    params = make_params()
    opt = optim.Adam(params, lr=0.1)
    feed(params, 0)
    opt.step()
    saved = opt.state_dict()
    kept = saved["state"][0]["exp_avg"].copy()
    feed(params, 1)
    opt.step()
    np.testing.assert_array_equal(saved["state"][0]["exp_avg"], kept)  # not aliased

    other = optim.Adam(make_params(), lr=0.1)
    other.load_state_dict(saved)
    saved["state"][0]["exp_avg"][...] = 99.0
    saved["param_groups"][0]["lr"] = 5.0
    loaded = other.state[other.param_groups[0]["params"][0]]["exp_avg"]
    np.testing.assert_array_equal(loaded, kept)
    assert other.param_groups[0]["lr"] == 0.1


def test_load_state_dict_validates():
    params = make_params()
    opt = optim.Adam(params)
    feed(params, 0)
    opt.step()
    saved = opt.state_dict()
    with pytest.raises(ValueError, match="needs 'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})
    two_groups = optim.Adam([{"params": params[:1]}, {"params": params[1:]}])
    with pytest.raises(ValueError, match="has 1 parameter groups, this optimizer has 2"):
        two_groups.load_state_dict(saved)
    fewer = optim.Adam(params[:2])
    with pytest.raises(ValueError, match=r"param_groups\[0\] has 3 parameters.*has 2"):
        fewer.load_state_dict(saved)
    reshaped = optim.Adam(make_params(shapes=((4, 3), (4,), (2, 2, 3))))
    with pytest.raises(ValueError, match=r"'exp_avg' of parameter 0 has shape \(3, 4\)"):
        reshaped.load_state_dict(saved)
    bad = opt.state_dict()
    bad["state"][7] = bad["state"].pop(0)
    with pytest.raises(ValueError, match="parameter 7, which no parameter group lists"):
        opt.load_state_dict(bad)
    bad = opt.state_dict()
    bad["param_groups"][0]["lr"] = -1.0
    with pytest.raises(ValueError, match=re.escape("Invalid learning rate: -1.0")):
        opt.load_state_dict(bad)


def test_load_state_dict_accepts_torch_style_step_and_casts_to_param_dtype():
    params = make_params(dtype=np.float32)
    opt = optim.Adam(params)
    saved = {
        "state": {
            i: {
                "step": np.array(4.0, dtype=np.float32),  # torch saves a float tensor
                "exp_avg": np.ones(p.shape),
                "exp_avg_sq": np.ones(p.shape),
            }
            for i, p in enumerate(params)
        },
        "param_groups": [{**opt.defaults, "params": [0, 1, 2]}],
    }
    opt.load_state_dict(saved)
    st = opt.state[params[0]]
    assert st["step"] == 4 and isinstance(st["step"], int)
    assert st["exp_avg"].dtype == np.float32


@pytest.mark.parametrize("name", ALL)
def test_a_deep_copied_optimizer_carries_on_like_the_original(name):
    params = make_params(flat=True)
    opt = getattr(optim, name)(params, **RICH[name])
    for step in range(4):
        feed(params, step)
        opt.step()
    twin = copy.deepcopy({"params": params, "opt": opt})
    twin_params, twin_opt = twin["params"], twin["opt"]
    for step in range(4, 8):
        feed(params, step)
        feed(twin_params, step)
        opt.step()
        twin_opt.step()
    for p, q in zip(params, twin_params, strict=True):
        np.testing.assert_array_equal(p.data, q.data)
    ours, theirs = opt.state_dict()["state"], twin_opt.state_dict()["state"]
    for index, entries in ours.items():
        for key, value in entries.items():
            np.testing.assert_array_equal(value, theirs[index][key])


def test_non_numeric_options_are_rejected():
    with pytest.raises(TypeError, match=r"expected a number for the learning rate, got '0\.1'"):
        optim.SGD([param([1.0])], lr="0.1")


def test_a_bad_gradient_leaves_every_parameter_untouched():
    a, b = param([1.0, 2.0]), param([3.0])
    a.grad, b.grad = np.ones(2), np.ones(2)
    with pytest.raises(ValueError, match="parameter 1"):
        optim.SGD([a, b], lr=0.1).step()
    np.testing.assert_array_equal(a.data, [1.0, 2.0])


def test_duplicate_parameter_warns():
    p = param([1.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        optim.SGD([p, p], lr=0.1)
    assert any("duplicate parameters" in str(w.message) for w in caught)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"momentum": 0.9},
        {"momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01},
        {"momentum": 0.8, "nesterov": True, "maximize": True},
        {"weight_decay": 0.1, "maximize": True},
    ],
    ids=["plain", "momentum", "dampening-decay", "nesterov-maximize", "decay-maximize"],
)
def test_sgd_group_loop_matches_the_plain_update_function(options):
    """SGD's tight per-group loop reads each group's options once: same values as
    calling ``sgd_step`` parameter by parameter, group by group."""
    rng = np.random.default_rng(3)
    shapes = [(2, 2), (2, 1), (3,), ()]
    params = [cr.tensor(rng.normal(size=s), requires_grad=True) for s in shapes]
    mirror = [p.data.copy() for p in params]
    buffers: list = [None] * len(params)
    lrs = [0.1, 0.1, 0.03, 0.03]
    opt = optim.SGD([{"params": params[:2]}, {"params": params[2:], "lr": 0.03}], lr=0.1, **options)
    reference = {"momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0}
    reference.update(nesterov=False, maximize=False)
    reference.update(
        {
            k: float(v) if k in reference and not isinstance(v, bool) else v
            for k, v in options.items()
        }
    )
    for _ in range(4):
        grads = [rng.normal(size=s) for s in shapes]
        for p, g in zip(params, grads, strict=True):
            p.grad = g.copy()
        opt.step()
        for i, g in enumerate(grads):
            buffers[i] = Fo.sgd_step(mirror[i], g, buffers[i], lr=lrs[i], **reference)
    for p, expected in zip(params, mirror, strict=True):
        np.testing.assert_array_equal(p.data, expected)
    if options.get("momentum"):
        for p, buf in zip(params, buffers, strict=True):
            np.testing.assert_array_equal(opt.state[p]["momentum_buffer"], buf)


@pytest.mark.parametrize(("name", "options"), FUSED_OPTIONS)
def test_training_a_flattened_model_is_bit_identical_to_the_plain_one(name, options):
    """Backward into the flat gradient views plus one fused update per step gives the
    very numbers of separate parameters updated one by one (float64, 15 steps)."""
    rng = np.random.default_rng(4)
    x, y = cr.tensor(rng.normal(size=(8, 3))), cr.tensor(rng.integers(0, 2, 8))

    def train(flat):
        model = cr.nn.Sequential(
            cr.nn.Linear(3, 5, dtype=np.float64, generator=0),
            cr.nn.Tanh(),
            cr.nn.Linear(5, 2, dtype=np.float64, generator=1),
        )
        if flat:
            model.flatten_parameters()
        opt = getattr(optim, name)(model.parameters(), **options)
        assert bool(opt._fused) == flat
        for step in range(15):
            opt.zero_grad(set_to_none=step % 2 == 0)
            loss = cr.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        return [p.data.copy() for p in model.parameters()], [p.grad for p in model.parameters()]

    (pa, ga), (pb, gb) = train(True), train(False)
    for a, b in zip(pa + ga, pb + gb, strict=True):
        np.testing.assert_array_equal(a, b)


def test_plain_sgd_keeps_an_empty_state_entry_per_updated_parameter():
    """Regression: plain SGD (no momentum) has no state to keep, but, like every other
    path, it leaves an empty ``state[p]`` per updated parameter: ``cr.compile`` packs
    the state by those entries, and without them fell back to an eager step each call
    (W-deep compiled 40% slower). ``state_dict`` still shows no state, as torch's."""
    params = make_params()
    opt = optim.SGD(params, lr=0.1)
    feed(params, 0)
    params[1].grad = None
    opt.step()
    assert opt.state[params[0]] == {} and params[0] in opt.state and params[2] in opt.state
    assert params[1] not in opt.state
    assert opt.state_dict()["state"] == {}


def test_a_flattened_parameter_rebound_to_another_dtype_gets_its_own_gradient():
    """Regression: backward copied the gradient into the flat float64 view even after
    ``p.data`` had become float32, rounding nothing but giving ``.grad`` the wrong dtype."""
    w = param([1.0, 2.0])
    flat = flatten_parameters([w])
    w.data = w.data.astype(np.float32)
    (w * w).sum().backward()
    assert w.grad.dtype == np.float32 and w.grad is not flat.grad_views[0]
    np.testing.assert_array_equal(w.grad, [2.0, 4.0])
