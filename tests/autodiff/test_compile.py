"""cr.compile: a traced, replayed step gives eager's results bit for bit (float64 and float32).

Every comparison is exact (``assert_array_equal``): the replay calls the same op
forwards and VJPs in the engine's order and the optimizer's own update maths, so
nothing may differ, on any BLAS.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.autodiff import CompileError, Tensor


@pytest.fixture(autouse=True)
def float64():
    previous = cr.get_default_dtype()
    cr.set_default_dtype(np.float64)
    yield
    cr.set_default_dtype(previous)


def seed_network() -> nn.Sequential:
    """The 2-2-2 sigmoid network of the backpropagation tutorials."""
    model = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 2), nn.Sigmoid())
    with cr.no_grad():
        model[0].weight.data[...] = [[0.15, 0.20], [0.25, 0.30]]
        model[0].bias.data[...] = 0.35
        model[2].weight.data[...] = [[0.40, 0.45], [0.50, 0.55]]
        model[2].bias.data[...] = 0.60
    return model


def mlp(seed: int, dtype=np.float64, dropout: float = 0.2, batch_norm: bool = True):
    layers = [nn.Linear(5, 8, generator=seed, dtype=dtype)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(8, dtype=dtype))
    layers += [
        nn.ReLU(),
        nn.Dropout(dropout, generator=seed + 1),
        nn.Linear(8, 8, generator=seed + 2, dtype=dtype),
    ]
    layers += [nn.Tanh(), nn.Linear(8, 3, generator=seed + 3, dtype=dtype)]
    return nn.Sequential(*layers)


def batches(n: int, dtype=np.float64, size: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [
        (Tensor(rng.normal(size=(size, 5)).astype(dtype)), Tensor(rng.integers(0, 3, size)))
        for _ in range(n)
    ]


def assert_same_model(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        np.testing.assert_array_equal(np.asarray(sa[key]), np.asarray(sb[key]), err_msg=key)


def assert_same_optimizer(a, b) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys()
    for index, entries in sa["state"].items():
        assert entries.keys() == sb["state"][index].keys()
        for name, value in entries.items():
            np.testing.assert_array_equal(value, sb["state"][index][name], err_msg=name)


def test_seed_network_sgd_bit_identical_to_eager_over_50_steps():
    x, t = cr.tensor([[0.05, 0.10]]), cr.tensor([[0.01, 0.99]])
    eager, compiled = seed_network(), seed_network()
    opt_e = cr.optim.SGD(eager.parameters(), lr=0.5)
    opt_c = cr.optim.SGD(compiled.parameters(), lr=0.5)
    step = cr.compile(lambda xb, yb: 0.5 * F.mse_loss(compiled(xb), yb, reduction="sum"), opt_c)
    for _ in range(50):
        opt_e.zero_grad()
        loss_e = 0.5 * F.mse_loss(eager(x), t, reduction="sum")
        loss_e.backward()
        opt_e.step()
        loss_c = step(x, t)
        assert loss_c.item() == loss_e.item()
        assert loss_c.grad_fn is None
    assert_same_model(eager, compiled)
    assert all(p.grad is None for p in compiled.parameters())  # stepped and zeroed
    # The first loss is the tutorial's E = 0.298371109 (checked by the eager tests)
    assert len(step._cache) == 1


OPTIMIZERS = {
    "sgd_momentum_nesterov_wd": lambda ps: cr.optim.SGD(
        ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3
    ),
    "sgd_dampening": lambda ps: cr.optim.SGD(ps, lr=0.05, momentum=0.5, dampening=0.1),
    "adagrad": lambda ps: cr.optim.Adagrad(ps, lr=0.05, lr_decay=0.01, weight_decay=1e-3),
    "rmsprop_centered_momentum": lambda ps: cr.optim.RMSprop(
        ps, lr=0.01, momentum=0.5, centered=True, weight_decay=1e-3
    ),
    "adadelta": lambda ps: cr.optim.Adadelta(ps, lr=1.0, weight_decay=1e-3),
    "adam_wd_amsgrad": lambda ps: cr.optim.Adam(ps, lr=1e-2, weight_decay=1e-3, amsgrad=True),
    "adamw": lambda ps: cr.optim.AdamW(ps, lr=1e-2, weight_decay=0.05),
}


def train_both(make_opt, dtype=np.float64, steps: int = 50, clip: float | None = None):
    eager, compiled = mlp(3, dtype), mlp(3, dtype)
    opt_e, opt_c = make_opt(eager.parameters()), make_opt(compiled.parameters())
    step = cr.compile(
        lambda xb, yb: F.cross_entropy(compiled(xb), yb), optimizer=opt_c, clip_grad_norm=clip
    )
    for xb, yb in batches(steps, dtype):
        opt_e.zero_grad()
        loss_e = F.cross_entropy(eager(xb), yb)
        loss_e.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(eager.parameters(), clip)
        opt_e.step()
        loss_c = step(xb, yb)
        np.testing.assert_array_equal(loss_c.data, loss_e.data)
    return eager, compiled, opt_e, opt_c, step


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_bit_identical_after_50_steps_with_dropout_and_batch_norm(name):
    eager, compiled, opt_e, opt_c, step = train_both(OPTIMIZERS[name])
    assert_same_model(eager, compiled)  # parameters, running statistics, batch count
    assert int(compiled[1].num_batches_tracked.data) == 50
    assert step.updater.flat and step.updater.ready  # the fused flat update ran
    assert_same_optimizer(opt_e, opt_c)
    assert len(step._cache) == 1


@pytest.mark.parametrize(
    "name", ["adam_wd_amsgrad", "sgd_momentum_nesterov_wd", "rmsprop_centered_momentum"]
)
def test_float32_is_bit_identical_too(name):
    # The flat update runs the same elementwise maths in the same order as eager's
    # (whose own flat path is bit-identical to its loop): nothing is reordered.
    eager, compiled, opt_e, opt_c, _ = train_both(OPTIMIZERS[name], dtype=np.float32, steps=30)
    assert compiled[0].weight.dtype == np.float32
    assert_same_model(eager, compiled)
    assert_same_optimizer(opt_e, opt_c)


def test_clip_grad_norm_matches_clip_grad_norm_between_backward_and_step():
    eager, compiled, opt_e, opt_c, _ = train_both(OPTIMIZERS["adamw"], clip=0.05, steps=20)
    assert_same_model(eager, compiled)
    assert_same_optimizer(opt_e, opt_c)


def test_lr_scheduler_takes_effect_on_the_next_replay():
    eager, compiled = mlp(1, batch_norm=False, dropout=0.0), mlp(1, batch_norm=False, dropout=0.0)
    opt_e = cr.optim.SGD(eager.parameters(), lr=0.1, momentum=0.9)
    opt_c = cr.optim.SGD(compiled.parameters(), lr=0.1, momentum=0.9)
    sched_e = cr.optim.lr_scheduler.StepLR(opt_e, step_size=3, gamma=0.5)
    sched_c = cr.optim.lr_scheduler.StepLR(opt_c, step_size=3, gamma=0.5)
    step = cr.compile(lambda xb, yb: F.cross_entropy(compiled(xb), yb), optimizer=opt_c)
    for xb, yb in batches(12):
        opt_e.zero_grad()
        F.cross_entropy(eager(xb), yb).backward()
        opt_e.step()
        sched_e.step()
        step(xb, yb)
        sched_c.step()
    assert opt_c.param_groups[0]["lr"] == 0.1 * 0.5**4
    assert_same_model(eager, compiled)


def test_optimizer_load_state_dict_between_steps_is_followed():
    eager, compiled, opt_e, opt_c, step = train_both(OPTIMIZERS["adam_wd_amsgrad"], steps=5)
    saved = opt_e.state_dict()
    opt_e.load_state_dict(saved)
    opt_c.load_state_dict(saved)  # new state arrays: the compiled update must adopt them
    for xb, yb in batches(5, seed=1):
        opt_e.zero_grad()
        F.cross_entropy(eager(xb), yb).backward()
        opt_e.step()
        step(xb, yb)
    assert_same_model(eager, compiled)
    assert_same_optimizer(opt_e, opt_c)
    assert opt_c.state_dict()["state"][0]["step"] == 10


def test_without_optimizer_grad_is_filled_exactly_as_backward_accumulates():
    eager, compiled = mlp(4), mlp(4)
    step = cr.compile(lambda xb, yb: F.cross_entropy(compiled(xb), yb))
    for xb, yb in batches(3):  # no zero_grad: gradients add up, in the engine's order
        loss_e = F.cross_entropy(eager(xb), yb)
        loss_e.backward()
        loss_c = step(xb, yb)
        np.testing.assert_array_equal(loss_c.data, loss_e.data)
    for (name, pe), pc in zip(eager.named_parameters(), compiled.parameters(), strict=True):
        assert pc.grad is not None, name
        np.testing.assert_array_equal(pe.grad, pc.grad, err_msg=name)


def test_gradient_to_an_input_that_requires_grad():
    w = Tensor(np.array([[1.0, -2.0], [0.5, 3.0]]), requires_grad=True)
    step = cr.compile(lambda x: ((x @ w).tanh() * x).sum())
    x1 = Tensor(np.array([[0.3, -0.7]]), requires_grad=True)
    x2 = Tensor(np.array([[0.3, -0.7]]), requires_grad=True)
    step(x1)
    w_grad = w.grad.copy()
    w.grad = None
    ((x2 @ w).tanh() * x2).sum().backward()
    np.testing.assert_array_equal(x1.grad, x2.grad)
    np.testing.assert_array_equal(w_grad, w.grad)
    x3 = Tensor(np.array([[1.5, 0.25]]), requires_grad=True)  # a replay: the new input's .grad
    step(x3)
    assert x3.grad is not None and x3.grad.shape == (1, 2)


def test_a_new_shape_traces_again_and_an_old_one_is_reused():
    model = mlp(5, dropout=0.0)
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    step = cr.compile(lambda xb, yb: F.cross_entropy(model(xb), yb), optimizer=opt)
    (x6, y6), (x4, y4) = batches(1, size=6)[0], batches(1, size=4)[0]
    step(x6, y6)
    step(x4, y4)
    assert len(step._cache) == 2
    step(x6, y6)
    assert len(step._cache) == 2
    reference = mlp(5, dropout=0.0)
    opt_r = cr.optim.SGD(reference.parameters(), lr=0.1)
    for xb, yb in [(x6, y6), (x4, y4), (x6, y6)]:
        opt_r.zero_grad()
        F.cross_entropy(reference(xb), yb).backward()
        opt_r.step()
    assert_same_model(reference, model)


def test_the_cache_keeps_the_last_cache_size_traces():
    w = Tensor(np.ones(3), requires_grad=True)
    step = cr.compile(lambda x: (x * w).sum(), cache_size=2)
    for n in (1, 2, 3, 1):
        step(Tensor(np.ones((n, 3))))
    assert len(step._cache) == 2


def test_eval_and_train_modes_trace_separately_and_batch_norm_follows_its_statistics():
    model = mlp(6)
    infer = cr.compile(model)
    x = batches(1)[0][0]
    model.eval()
    first = infer(x)
    with cr.no_grad():
        np.testing.assert_array_equal(first.data, model(x).data)
    model.train()
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    step = cr.compile(lambda xb, yb: F.cross_entropy(model(xb), yb), optimizer=opt)
    for xb, yb in batches(4):
        step(xb, yb)
    model.eval()
    second = infer(x)  # same signature as `first`: replayed, with the new statistics
    with cr.no_grad():
        np.testing.assert_array_equal(second.data, model(x).data)
    assert not np.array_equal(first.data, second.data)
    model.train()
    infer(x)
    assert len(infer._cache) == 2


def test_dropout_draws_fresh_masks_on_each_replay_like_eager():
    compiled = nn.Sequential(nn.Linear(5, 6, generator=0), nn.Dropout(0.5, generator=9))
    eager = nn.Sequential(nn.Linear(5, 6, generator=0), nn.Dropout(0.5, generator=9))
    infer = cr.compile(compiled)
    x = batches(1)[0][0]
    outputs = [infer(x).data for _ in range(3)]
    assert not np.array_equal(outputs[0], outputs[1])
    assert not np.array_equal(outputs[1], outputs[2])
    with cr.no_grad():
        for out in outputs:
            np.testing.assert_array_equal(out, eager(x).data)


def test_dropout_with_an_int_seed_repeats_its_mask_as_eager_does():
    w = Tensor(np.ones((4, 4)), requires_grad=True)
    step = cr.compile(lambda x: F.dropout(x @ w, 0.5, generator=3).sum())
    x = Tensor(np.arange(8.0).reshape(2, 4))
    assert step(x).item() == step(x).item() == F.dropout(x @ w, 0.5, generator=3).sum().item()


def test_inference_compile_returns_no_graph_and_follows_parameter_updates():
    model = mlp(7, dropout=0.0, batch_norm=False)
    infer = cr.compile(model)
    x = batches(1)[0][0]
    out = infer(x)
    assert out.grad_fn is None and not out.requires_grad
    with cr.no_grad():
        model[0].weight.data *= 2.0  # in place: the replay reads the same array
        np.testing.assert_array_equal(infer(x).data, model(x).data)
        model[0].weight.data = model[0].weight.data * 0.5  # a new array: followed too
        np.testing.assert_array_equal(infer(x).data, model(x).data)


def test_fn_may_return_extra_outputs_after_the_loss():
    model = mlp(8, dropout=0.0, batch_norm=False)
    opt = cr.optim.SGD(model.parameters(), lr=0.1)

    def fn(xb, yb):
        out = model(xb)
        return F.cross_entropy(out, yb), out

    step = cr.compile(fn, optimizer=opt)
    xb, yb = batches(1)[0]
    with cr.no_grad():
        expected = model(xb).data
    loss, out = step(xb, yb)
    np.testing.assert_array_equal(out.data, expected)
    assert loss.shape == ()


@pytest.mark.parametrize(
    "read, label",
    [
        (lambda t: t.item(), "tensor.item()"),
        (lambda t: bool(t), "bool(tensor)"),
        (lambda t: float(t), "float(tensor)"),
        (lambda t: int(t), "int(tensor)"),
        (lambda t: t.numpy(), "tensor.numpy()"),
        (lambda t: t.tolist(), "tensor.tolist()"),
    ],
)
def test_reading_a_traced_value_while_tracing_raises_naming_it(read, label):
    w = Tensor(np.array([0.5]), requires_grad=True)

    def fn(x):
        s = (x * w).sum()
        if read(s):  # value-dependent control flow would be frozen at the first call
            return s * 2
        return s

    step = cr.compile(fn)
    with pytest.raises(CompileError, match=label.replace("(", r"\(").replace(")", r"\)")):
        step(Tensor(np.array([1.0])))
    # the trace cleaned up: Tensor's methods are themselves again
    assert Tensor(np.array([2.0])).item() == 2.0
    assert bool(Tensor(np.array([1.0])))


def test_no_grad_only_evaluates():
    model = mlp(9, dropout=0.0, batch_norm=False)
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    step = cr.compile(lambda xb, yb: F.cross_entropy(model(xb), yb), optimizer=opt)
    before = {k: np.array(v) for k, v in model.state_dict().items()}
    xb, yb = batches(1)[0]
    with cr.no_grad():
        loss = step(xb, yb)
        loss_again = step(xb, yb)
    assert loss.item() == loss_again.item() > 0
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    assert all(p.grad is None for p in model.parameters())


def test_detect_anomaly_runs_eagerly_and_names_the_op():
    w = Tensor(np.array([-1.0, 2.0]), requires_grad=True)
    step = cr.compile(lambda x: (x * w).sqrt().sum())
    with (
        cr.detect_anomaly(),
        np.errstate(invalid="ignore"),
        pytest.raises(cr.AnomalyError, match="sqrt"),
    ):
        step(Tensor(np.array([1.0, 1.0])))


def test_errors_name_what_arrived():
    with pytest.raises(TypeError, match="callable"):
        cr.compile(3)
    with pytest.raises(ValueError, match="clip_grad_norm"):
        cr.compile(lambda x: x.sum(), clip_grad_norm=1.0)
    with pytest.raises(CompileError, match="tuple of tensors"):
        cr.compile(lambda x: 3.0)(Tensor(np.ones(2)))
    with pytest.raises(CompileError, match="does not require grad"):
        cr.compile(lambda x: x.sum())(Tensor(np.ones(2)))
    outer = Tensor(np.ones(2), requires_grad=True) * 2  # an earlier graph
    with pytest.raises(CompileError, match="earlier graph"):
        cr.compile(lambda x: (x * outer).sum())(Tensor(np.ones(2)))


def test_generated_replay_creates_no_tensors_or_nodes():
    model = mlp(10)
    opt = cr.optim.Adam(model.parameters())
    step = cr.compile(lambda xb, yb: F.cross_entropy(model(xb), yb), optimizer=opt)
    xb, yb = batches(1)[0]
    step(xb, yb)
    program = step._last[0]
    assert "Tensor" not in program.source and "Node" not in program.source
    created = []
    original = Tensor.__init__

    def counting(self, *args, **kwargs):
        created.append(1)
        original(self, *args, **kwargs)

    Tensor.__init__ = counting
    try:
        step.forward_backward(xb, yb)
    finally:
        Tensor.__init__ = original
    assert created == []


def test_comparisons_and_argmax_made_outside_the_registry_are_replayed_not_frozen():
    w = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)

    def fn(x):
        h = x * w
        picked = (h == h.max()).astype(np.float64)  # argmax as a one-hot mask
        return cr.where(h > 0, h, h * 0.1).sum() + (picked * h).sum()

    step = cr.compile(fn)
    for values in ([1.0, 1.0, 1.0], [-1.0, 1.0, -1.0], [2.0, -3.0, 0.5]):
        x = Tensor(np.array(values))
        w.grad = None
        loss = step(x)
        compiled_grad = w.grad
        w.grad = None
        expected = fn(x)
        expected.backward()
        assert loss.item() == expected.item()
        np.testing.assert_array_equal(compiled_grad, w.grad)
    assert len(step._cache) == 1


def test_bool_of_a_comparison_of_traced_values_raises():
    w = Tensor(np.array([1.0]), requires_grad=True)
    step = cr.compile(lambda x: (x * w).sum() * 2 if (x * w > 0) else (x * w).sum())
    with pytest.raises(CompileError, match=r"bool\(tensor\)"):
        step(Tensor(np.array([1.0])))


def test_eager_steps_between_compiled_steps_keep_one_optimizer_state():
    eager, compiled = mlp(11, dropout=0.0), mlp(11, dropout=0.0)
    opt_e = cr.optim.Adam(eager.parameters(), lr=0.01)
    opt_c = cr.optim.Adam(compiled.parameters(), lr=0.01)
    step = cr.compile(lambda xb, yb: F.cross_entropy(compiled(xb), yb), optimizer=opt_c)
    for i, (xb, yb) in enumerate(batches(12)):
        opt_e.zero_grad()
        F.cross_entropy(eager(xb), yb).backward()
        opt_e.step()
        if i % 4 == 3:  # an eager step may move the state into the optimizer's own buffers
            opt_c.zero_grad()
            F.cross_entropy(compiled(xb), yb).backward()
            opt_c.step()
            opt_c.zero_grad()
        else:
            step(xb, yb)
    assert_same_model(eager, compiled)
    assert_same_optimizer(opt_e, opt_c)


def test_modules_reached_through_self_are_found_or_named():
    class Runner:
        def __init__(self):
            self.model = mlp(12, dropout=0.5, batch_norm=False)

        def loss(self, xb, yb):
            return F.cross_entropy(self.model(xb), yb)

    runner = Runner()
    step = cr.compile(runner.loss, modules=[runner.model])
    xb, yb = batches(1)[0]
    step(xb, yb)
    runner.model.eval()  # dropout off: a new trace, equal to eager eval
    loss = step(xb, yb)
    assert len(step._cache) == 2
    assert loss.item() == F.cross_entropy(runner.model(xb), yb).item()


def test_freezing_a_layer_traces_again_and_leaves_it_alone():
    model = mlp(13, dropout=0.0, batch_norm=False)
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    step = cr.compile(lambda xb, yb: F.cross_entropy(model(xb), yb), optimizer=opt)
    xb, yb = batches(1)[0]
    step(xb, yb)
    model[0].weight.requires_grad_(False)
    frozen = model[0].weight.data.copy()
    step(xb, yb)
    step(xb, yb)
    assert len(step._cache) == 2
    np.testing.assert_array_equal(model[0].weight.data, frozen)


def test_a_long_replay_is_compiled_in_parts_and_frees_each_value_after_its_last_use():
    # 60 layers of linear + batch norm + tanh: a body well over _PART_LINES lines, cut
    # into parts that hand their live values on; still bit-identical to eager, with
    # Adam (state in flat buffers).
    def deep(seed: int) -> nn.Sequential:
        layers = []
        for i in range(60):
            layers += [nn.Linear(4, 4, generator=seed + i), nn.BatchNorm1d(4), nn.Tanh()]
        return nn.Sequential(*layers)

    eager, compiled = deep(0), deep(0)
    opt_e = cr.optim.Adam(eager.parameters(), lr=1e-2)
    opt_c = cr.optim.Adam(compiled.parameters(), lr=1e-2)
    step = cr.compile(lambda xb, yb: F.mse_loss(compiled(xb), yb), optimizer=opt_c)
    rng = np.random.default_rng(1)
    for _ in range(5):
        xb, yb = (Tensor(rng.normal(size=(6, 4))) for _ in range(2))
        opt_e.zero_grad()
        loss_e = F.mse_loss(eager(xb), yb)
        loss_e.backward()
        opt_e.step()
        np.testing.assert_array_equal(step(xb, yb).data, loss_e.data)
    assert_same_model(eager, compiled)
    assert_same_optimizer(opt_e, opt_c)
    (program, _updater) = next(iter(step._cache.values()))
    parts = program.source.count("def _compiled_step_part")
    assert parts >= 2
    assert program.source.count("\n    del ") > 100


def test_layout_hands_on_exactly_the_values_used_later():
    import sys

    # the module, not the function ``chainrule.autodiff.compile`` that shadows its name
    compile_module = sys.modules["chainrule.autodiff.compile"]
    lines = [f"    v{i} = v{i - 1} + 1" for i in range(1, 9)]
    lines.insert(0, "    v0 = a0 * 2")
    lines.append("    return (v8, v3, )")
    old, compile_module._PART_LINES = compile_module._PART_LINES, 4
    try:
        sources = compile_module._layout(lines, "a0", "f")
    finally:
        compile_module._PART_LINES = old
    namespace: dict = {}
    for source in sources.values():
        exec(source, namespace)
    assert namespace["f"](1) == (10, 5)
    # v3 crosses every later part boundary (it is returned); v0 never leaves part 0
    assert "v3" in sources["_f_part1"].splitlines()[-1]
    assert "v0" not in sources["_f_part1"]


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: cr.optim.SGD(ps, lr=1e-2, momentum=0.9),
        lambda ps: cr.optim.Adam(ps, lr=1e-3, amsgrad=True),
    ],
    ids=["sgd-momentum", "adam-amsgrad"],
)
def test_clearing_the_optimizer_state_starts_afresh_as_eager(make):
    """``opt.state.clear()`` between steps: eager builds new state at the next step; the
    compiled step used to keep its flat buffers (its probe held the old entries)."""

    def build():
        rng = np.random.default_rng(0)
        model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
        for p in model.parameters():
            p.data[...] = rng.uniform(-0.3, 0.3, p.shape)
        return model

    compiled, eager = build(), build()
    opt_c, opt_e = make(compiled.parameters()), make(eager.parameters())
    step = cr.compile(lambda x, y: F.mse_loss(compiled(x), y), optimizer=opt_c)
    rng = np.random.default_rng(1)
    for i in range(8):
        x = cr.tensor(rng.standard_normal((5, 6)))
        y = cr.tensor(rng.standard_normal((5, 3)))
        step(x, y)
        opt_e.zero_grad()
        F.mse_loss(eager(x), y).backward()
        opt_e.step()
        if i == 3:
            opt_c.state.clear()
            opt_e.state.clear()
        for p, q in zip(compiled.parameters(), eager.parameters(), strict=True):
            np.testing.assert_array_equal(p.data, q.data)
