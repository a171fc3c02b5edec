"""nn.Module and nn.Parameter: discovery, names, modes, state dicts, errors, repr."""

from __future__ import annotations

import copy
import re
from collections import OrderedDict

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn

F64 = np.float64


def mlp(seed: int = 0) -> nn.Sequential:
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Linear(4, 8, dtype=F64, generator=rng),
        nn.ReLU(),
        nn.BatchNorm1d(8, dtype=F64),
        nn.Dropout(0.3, generator=seed),
        nn.Linear(8, 3, dtype=F64, generator=rng),
    )


class Net(nn.Module):
    """Layers defined as attributes: a module, a list, a dict and a bare parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(2, 3, dtype=F64, generator=1)
        self.blocks = [nn.Linear(3, 3, dtype=F64, generator=2), nn.Tanh(), nn.Linear(3, 3)]
        self.heads = {"mean": nn.Linear(3, 1, generator=3), "scale": nn.Linear(3, 1, bias=False)}
        self.temperature = nn.Parameter(cr.ones(1))
        self.label = "not a layer"

    def forward(self, x):
        h = self.stem(x)
        for block in self.blocks:
            h = block(h)
        return self.heads["mean"](h) * self.temperature


# -- Parameter ---------------------------------------------------------------------------
def test_parameter_wraps_without_copy_and_requires_grad():
    t = cr.randn(3, 4, generator=0)
    p = nn.Parameter(t)
    assert isinstance(p, cr.Tensor) and isinstance(p, nn.Parameter)
    assert p.data is t.data
    assert p.requires_grad and p.is_leaf and p.grad is None
    array = np.zeros((2, 2))
    assert nn.Parameter(array).data is array
    assert nn.Parameter(array, requires_grad=False).requires_grad is False
    assert nn.Parameter([1.0, 2.0]).dtype == cr.get_default_dtype()


def test_parameter_repr_and_ops_give_plain_tensors():
    p = nn.Parameter(np.array([1.5, -2.0]))
    text = repr(p)
    assert text.startswith("Parameter containing:\ntensor([ 1.5, -2. ]")
    assert "requires_grad=True" in text
    out = p * 2
    assert type(out) is cr.Tensor and out.grad_fn == "mul"


def test_parameter_from_a_non_leaf_is_a_leaf_and_rejects_integers():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    p = nn.Parameter(x * 3)
    assert p.is_leaf and p.requires_grad
    np.testing.assert_array_equal(p.data, [3.0, 6.0])
    with pytest.raises(TypeError, match="floating-point"):
        nn.Parameter(np.arange(3))


# -- discovery and names -------------------------------------------------------------------
def test_named_parameters_of_nested_sequential():
    inner = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2, bias=False))
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), inner)
    names = [name for name, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.0.weight", "2.0.bias", "2.2.weight"]
    params = dict(model.named_parameters())
    assert params["2.0.weight"] is inner[0].weight
    assert params["0.bias"] is model[0].bias
    assert list(model.parameters()) == [p for _, p in model.named_parameters()]


def test_named_parameters_of_attribute_defined_module_with_list_and_dict():
    net = Net()
    assert [name for name, _ in net.named_parameters()] == [
        "temperature",  # a module's own parameters first, then its children (as PyTorch)
        "stem.weight",
        "stem.bias",
        "blocks.0.weight",
        "blocks.0.bias",
        "blocks.2.weight",
        "blocks.2.bias",
        "heads.mean.weight",
        "heads.mean.bias",
        "heads.scale.weight",
    ]
    assert isinstance(net.blocks, nn.ModuleList) and len(net.blocks) == 3
    assert isinstance(net.heads, nn.ModuleDict) and list(net.heads) == ["mean", "scale"]
    assert net.label == "not a layer"
    assert [name for name, _ in net.named_children()] == ["stem", "blocks", "heads"]
    out = net(cr.ones(5, 2, dtype=F64))
    assert out.shape == (5, 1)


def test_appending_to_an_assigned_list_registers_the_new_layer():
    net = Net()
    extra = nn.Linear(3, 3)
    net.blocks.append(extra)
    assert dict(net.named_parameters())["blocks.3.weight"] is extra.weight
    net.heads["shift"] = nn.Linear(3, 1)
    assert "heads.shift.bias" in dict(net.named_parameters())


def test_container_mixing_modules_and_other_values_is_rejected():
    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = [nn.Linear(2, 2), "relu"]

    with pytest.raises(TypeError, match=r"'layers' mixes Modules with 'str' object"):
        Bad()

    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.sizes = [2, 3]
            self.empty = []
            self.options = {"lr": 0.1}

    plain = Plain()
    assert plain.sizes == [2, 3] and plain.empty == [] and plain.options == {"lr": 0.1}
    assert list(plain.named_children()) == []


def test_shared_parameter_and_shared_module_listed_once():
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight  # tied weights
    model = nn.Sequential(a, b, a)  # a appears twice
    names = [name for name, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.bias"]
    assert len(list(model.parameters())) == 3
    assert [name for name, _ in model.named_modules()] == ["", "0", "1"]
    assert len(list(model.children())) == 2
    everything = [name for name, _ in model.named_parameters(remove_duplicate=False)]
    assert everything == ["0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias"]
    # The state dict names every place a tensor lives, as PyTorch's does.
    assert list(model.state_dict()) == everything


def test_modules_children_and_named_modules():
    model = mlp()
    assert [name for name, _ in model.named_modules()] == ["", "0", "1", "2", "3", "4"]
    assert next(model.modules()) is model
    assert [type(m).__name__ for m in model.children()] == [
        "Linear",
        "ReLU",
        "BatchNorm1d",
        "Dropout",
        "Linear",
    ]
    net = Net()
    assert [name for name, _ in net.named_modules()][:5] == [
        "",
        "stem",
        "blocks",
        "blocks.0",
        "blocks.1",
    ]
    assert net.get_submodule("heads.scale") is net.heads["scale"]
    with pytest.raises(AttributeError, match="no submodule 'nope'"):
        net.get_submodule("heads.nope")


def test_buffers_are_named_and_registered():
    model = mlp()
    assert [name for name, _ in model.named_buffers()] == [
        "2.running_mean",
        "2.running_var",
        "2.num_batches_tracked",
    ]
    assert all(isinstance(b, cr.Tensor) and not b.requires_grad for b in model.buffers())


# -- modes ---------------------------------------------------------------------------------
def test_train_and_eval_propagate_recursively():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    assert net.blocks[1].training is False
    net.train()
    assert all(m.training for m in net.modules())
    net.heads.train(False)
    assert net.training and not net.heads["mean"].training
    with pytest.raises(ValueError, match="bool"):
        net.train("no")


def test_zero_grad_to_none_and_in_place():
    model = mlp()
    model(cr.ones(6, 4, dtype=F64)).sum().backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert all(g is not None for g in grads.values())
    model.zero_grad(set_to_none=False)
    for name, p in model.named_parameters():
        assert p.grad is grads[name]  # the same arrays, zeroed
        assert not p.grad.any()
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_requires_grad_freezes_parameters():
    model = mlp()
    model[0].requires_grad_(False)
    out = model(cr.ones(5, 4, dtype=F64)).sum()
    out.backward()
    assert model[0].weight.grad is None and model[4].weight.grad is not None


# -- state dict ----------------------------------------------------------------------------
def train_a_little(model: nn.Module, steps: int = 3) -> None:
    rng = np.random.default_rng(5)
    for _ in range(steps):
        model(cr.Tensor(rng.normal(size=(16, 4)))).sum().backward()
        for p in model.parameters():
            p.data -= 0.1 * p.grad
        model.zero_grad()


def test_state_dict_holds_copies_of_parameters_and_buffers():
    model = mlp()
    train_a_little(model)
    state = model.state_dict()
    assert isinstance(state, OrderedDict)
    assert list(state) == [
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
        "2.running_mean",
        "2.running_var",
        "2.num_batches_tracked",
        "4.weight",
        "4.bias",
    ]
    assert all(type(v) is np.ndarray for v in state.values())
    assert state["2.num_batches_tracked"].shape == () and state["2.num_batches_tracked"] == 3
    assert state["2.num_batches_tracked"].dtype == np.int64
    np.testing.assert_array_equal(state["0.weight"], model[0].weight.data)
    assert not np.shares_memory(state["0.weight"], model[0].weight.data)
    before = state["0.weight"].copy()
    model[0].weight.data += 1
    np.testing.assert_array_equal(state["0.weight"], before)


def test_state_dict_round_trip_gives_identical_outputs():
    model = mlp(seed=0)
    train_a_little(model)
    fresh = mlp(seed=99)
    x = cr.Tensor(np.random.default_rng(1).normal(size=(7, 4)))
    model.eval()
    fresh.eval()
    assert not np.allclose(model(x).data, fresh(x).data)
    result = fresh.load_state_dict(model.state_dict())
    assert result == nn.IncompatibleKeys([], [])
    np.testing.assert_array_equal(fresh(x).data, model(x).data)
    assert int(fresh[2].num_batches_tracked.item()) == 3


def test_load_state_dict_copies_in_place():
    model, other = mlp(0), mlp(1)
    arrays = {name: p.data for name, p in model.named_parameters()}
    buffers = {name: b.data for name, b in model.named_buffers()}
    view = model[0].weight.data.reshape(-1)  # as an optimizer holding flat views would
    model.load_state_dict(other.state_dict())
    for name, p in model.named_parameters():
        assert p.data is arrays[name]
        np.testing.assert_array_equal(p.data, dict(other.named_parameters())[name].data)
    for name, b in model.named_buffers():
        assert b.data is buffers[name]
    np.testing.assert_array_equal(view, other[0].weight.data.reshape(-1))


def test_load_state_dict_accepts_tensors_and_lists_and_casts():
    layer = nn.Linear(2, 2, dtype=np.float32)
    layer.load_state_dict({"weight": cr.tensor(np.eye(2)), "bias": [0.5, -0.5]})
    assert layer.weight.dtype == np.float32
    np.testing.assert_array_equal(layer.weight.data, np.eye(2))
    np.testing.assert_array_equal(layer.bias.data, [0.5, -0.5])


def test_load_state_dict_strict_errors_name_the_keys():
    model = mlp()
    state = model.state_dict()
    missing = OrderedDict(state)
    del missing["4.bias"]
    del missing["2.running_var"]
    with pytest.raises(KeyError) as info:
        model.load_state_dict(missing)
    message = str(info.value)
    assert message.startswith("error(s) loading state_dict into Sequential")
    assert "missing key(s): '2.running_var', '4.bias'" in message

    extra = OrderedDict(state, **{"5.weight": np.zeros(3)})
    with pytest.raises(KeyError, match=re.escape("unexpected key(s): '5.weight'")):
        model.load_state_dict(extra)


def test_load_state_dict_shape_mismatch_raises_even_when_not_strict():
    model = mlp()
    state = model.state_dict()
    state["0.weight"] = state["0.weight"].T
    for strict in (True, False):
        with pytest.raises(ValueError) as info:
            model.load_state_dict(state, strict=strict)
        assert str(info.value).endswith(
            "size mismatch for 0.weight: the model has shape (8, 4), the state_dict has (4, 8)"
        )


def test_failed_load_changes_nothing():
    model, other = mlp(0), mlp(1)
    before = model.state_dict()
    state = other.state_dict()
    state["4.bias"] = np.zeros(7)
    with pytest.raises(ValueError):
        model.load_state_dict(state)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_load_state_dict_not_strict_returns_the_keys():
    model = mlp()
    state = model.state_dict()
    del state["0.bias"]
    state["extra"] = np.ones(2)
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["0.bias"]
    assert result.unexpected_keys == ["extra"]
    missing, unexpected = result
    assert (missing, unexpected) == (["0.bias"], ["extra"])
    with pytest.raises(TypeError, match="mapping"):
        model.load_state_dict([("0.bias", np.zeros(8))])


# -- registration ---------------------------------------------------------------------------
def test_register_buffer_persistent_and_not():
    module = nn.Module()
    counts = np.zeros(3)
    module.register_buffer("counts", counts)
    module.register_buffer("scratch", np.ones(2), persistent=False)
    assert module.counts.data is counts
    assert list(module.state_dict()) == ["counts"]
    assert [name for name, _ in module.named_buffers()] == ["counts", "scratch"]
    module.counts = np.full(3, 2.0)  # assigning to a buffer name replaces the buffer
    assert module._buffers["counts"].data[0] == 2.0
    with pytest.raises(TypeError, match="buffer 'bad'"):
        module.register_buffer("bad", [1, 2])
    with pytest.raises(KeyError, match="can't contain"):
        module.register_buffer("a.b", np.zeros(1))
    with pytest.raises(KeyError, match="already exists"):
        module.register_buffer("training", np.zeros(1))


def test_register_parameter_and_assignment_errors():
    module = nn.Module()
    module.register_parameter("w", nn.Parameter(np.ones(2)))
    module.register_parameter("b", None)
    assert [name for name, _ in module.named_parameters()] == ["w"]
    with pytest.raises(TypeError, match=r"wrap it: nn.Parameter\(tensor\)"):
        module.register_parameter("v", cr.ones(2))
    with pytest.raises(TypeError, match="parameter 'w'"):
        module.w = np.zeros(2)
    module.w = None
    assert module.w is None and list(module.parameters()) == []
    module.b = nn.Parameter(np.zeros(1))
    assert [name for name, _ in module.named_parameters()] == ["b"]
    del module.b
    assert list(module.parameters()) == [] and not hasattr(module, "b")


def test_reassigning_keeps_the_place_and_moving_kinds_is_clean():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    model[0] = nn.Linear(2, 3)
    model.__setattr__("2", nn.Linear(3, 1, bias=False))
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight"]
    layer = nn.Linear(2, 2)
    layer.weight = nn.Parameter(np.zeros((2, 2)))
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    module = nn.Module()
    module.thing = 3
    module.thing = nn.ReLU()
    assert module.thing is module._modules["thing"]
    module.thing = nn.Parameter(np.ones(1))
    assert "thing" not in module._modules and module.thing is module._parameters["thing"]
    module.register_buffer("stat", np.zeros(1))
    module.stat = nn.Parameter(np.ones(1))
    assert "stat" not in module._buffers and [n for n, _ in module.named_parameters()] == [
        "thing",
        "stat",
    ]


def test_add_module_errors_and_class_hint():
    module = nn.Module()
    module.add_module("act", nn.ReLU())
    assert module.act is module._modules["act"]
    with pytest.raises(TypeError, match="a Module expected"):
        module.add_module("bad", 3)
    with pytest.raises(TypeError, match=re.escape("the class ReLU (did you mean ReLU()?)")):
        nn.Sequential(nn.Linear(2, 2), nn.ReLU)
    with pytest.raises(TypeError, match="child module 'act'"):
        module.act = "relu"


def test_assigning_before_init_is_an_error():
    class Forgot(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=re.escape("before Module.__init__() call")):
        Forgot()


def test_apply_visits_children_first_then_self():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), nn.Tanh()))
    seen = []
    assert model.apply(lambda m: seen.append(type(m).__name__)) is model
    assert seen == ["Linear", "ReLU", "Tanh", "Sequential", "Sequential"]

    def init(m):
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.weight)

    model.apply(init)
    assert not model[0].weight.data.any()


def test_call_runs_forward_and_base_forward_is_missing():
    class Double(nn.Module):
        def forward(self, x, scale=2.0):
            return x * scale

    np.testing.assert_array_equal(Double()(cr.ones(2), scale=3.0).data, [3.0, 3.0])
    with pytest.raises(NotImplementedError, match="Module has no forward"):
        nn.Module()(cr.ones(2))


def test_deepcopy_is_independent():
    model = mlp()
    clone = copy.deepcopy(model)
    assert isinstance(clone[0].weight, nn.Parameter)
    assert clone[0].weight is not model[0].weight
    clone[0].weight.data += 1
    assert not np.allclose(clone[0].weight.data, model[0].weight.data)
    assert [n for n, _ in clone.named_parameters()] == [n for n, _ in model.named_parameters()]


def test_to_converts_floating_state_in_place():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    weight = model[0].weight
    assert model.double() is model
    assert model[0].weight is weight and weight.dtype == np.float64
    assert model[1].running_var.dtype == np.float64
    assert model[1].num_batches_tracked.dtype == np.int64
    model.float()
    assert weight.dtype == np.float32
    with pytest.raises(TypeError, match="floating-point"):
        model.to(np.int32)


# -- repr ---------------------------------------------------------------------------------
def test_repr_nested_with_extra_repr():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(64, 128), nn.ReLU())

        def extra_repr(self):
            return "factor=2"

    assert repr(Scaled()) == (
        "Scaled(\n"
        "  factor=2\n"
        "  (body): Sequential(\n"
        "    (0): Linear(in_features=64, out_features=128, bias=True)\n"
        "    (1): ReLU()\n"
        "  )\n"
        ")"
    )
    assert repr(nn.Module()) == "Module()"
