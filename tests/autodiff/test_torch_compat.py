"""PyTorch's top-level names and Tensor methods: seeding, devices, dtypes, conversions,
max/min with dim, factories, state-dict files and the non-differentiable ops."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.utils.data import DataLoader, Dataset, TensorDataset, random_split


# -- manual_seed: every default source of randomness follows it ---------------------------
def _draws() -> list[np.ndarray]:
    layer = nn.Linear(4, 3)
    drop = F.dropout(cr.ones(20), 0.5).data
    module_drop = nn.Dropout(0.5)(cr.ones(20)).data
    order = np.concatenate([b.data for b in DataLoader(cr.arange(10), 3, shuffle=True)])
    split = random_split(TensorDataset(np.arange(10)), [7, 3])[1].indices
    return [
        cr.randn(3).data,
        cr.rand(2).data,
        cr.randint(0, 100, (4,)).data,
        cr.randperm(6).data,
        layer.weight.data.copy(),
        layer.bias.data.copy(),
        drop,
        module_drop,
        order,
        np.array(split),
        nn.init.normal_(cr.zeros(3)).data,
    ]


def test_manual_seed_makes_every_default_draw_repeat():
    cr.manual_seed(123)
    first = _draws()
    cr.manual_seed(123)
    second = _draws()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    cr.manual_seed(124)
    assert not np.array_equal(cr.randn(3).data, first[0])


def test_explicit_generator_wins_over_manual_seed():
    cr.manual_seed(0)
    a = cr.randn(4, generator=7).data
    cr.manual_seed(1)
    b = cr.randn(4, generator=7).data
    np.testing.assert_array_equal(a, b)
    g = cr.Generator().manual_seed(5)
    c = cr.randperm(8, generator=g).data
    np.testing.assert_array_equal(c, cr.randperm(8, generator=cr.Generator().manual_seed(5)).data)


def test_manual_seed_reaches_a_dropout_built_before_it():
    drop = nn.Dropout(0.5)
    cr.manual_seed(3)
    a = drop(cr.ones(30)).data
    cr.manual_seed(3)
    np.testing.assert_array_equal(drop(cr.ones(30)).data, a)


def test_manual_seed_rejects_a_float():
    with pytest.raises(TypeError, match="int seed, got float"):
        cr.manual_seed(1.5)


# -- devices and dtypes --------------------------------------------------------------------
def test_devices_are_the_cpu_only():
    assert cr.cuda.is_available() is False
    dev = cr.device("cuda" if cr.cuda.is_available() else "cpu")
    assert dev == "cpu" and str(dev) == "cpu" and dev.type == "cpu"
    x = cr.ones(2)
    assert x.to(dev) is x and x.cpu() is x and x.device == cr.device("cpu")
    with pytest.raises(RuntimeError, match="CPU only, got device 'cuda:0'"):
        x.to("cuda:0")
    with pytest.raises(RuntimeError, match="CPU only"):
        nn.Linear(2, 2).to(cr.device("cuda"))


@pytest.mark.parametrize(
    ("name", "dtype"),
    [
        ("float32", np.float32),
        ("float", np.float32),
        ("float64", np.float64),
        ("double", np.float64),
        ("float16", np.float16),
        ("half", np.float16),
        ("long", np.int64),
        ("int64", np.int64),
        ("int", np.int32),
        ("int32", np.int32),
        ("bool", np.bool_),
    ],
)
def test_dtype_names_match_tensor_dtypes(name, dtype):
    t = cr.tensor([1, 0], dtype=getattr(cr, name))
    assert t.dtype == getattr(cr, name) and t.dtype == np.dtype(dtype)


def test_conversion_methods():
    x = cr.tensor([1.7, -2.2])
    assert x.float() is x  # already float32: PyTorch returns self
    assert x.double().dtype == np.float64
    assert x.long().tolist() == [1, -2] and x.long().dtype == np.int64
    assert x.int().dtype == np.int32 and x.bool().tolist() == [True, True]
    assert x.half().dtype == np.float16
    assert x.type(cr.float64).dtype == np.float64
    assert (
        x.to(cr.float64).dtype == np.float64 and x.to(cr.zeros(1, dtype=cr.int64)).dtype == np.int64
    )
    assert x.size() == (2,) and x.size(0) == 2 and x.size(-1) == 2 and x.dim() == 1
    assert x.numel() == 2 and x.contiguous() is x and x.view(2, 1).shape == (2, 1)


def test_to_and_clone_stay_in_the_graph():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    assert not x.long().requires_grad and not x.bool().requires_grad
    assert x.to(cr.int32).dtype == np.int32
    (x.to(cr.float64) * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])
    assert x.grad.dtype == np.float32
    c = x.clone()
    assert c is not x and c.data is not x.data and c.requires_grad
    (c * c).sum().backward()
    np.testing.assert_array_equal(x.grad, [5.0, 7.0])


def test_module_to_none_changes_nothing():
    model = nn.Sequential(nn.Linear(2, 2))
    assert model.to(None) is model and model[0].weight.dtype == np.float32
    assert model.to("cpu").to(cr.device("cpu")).cpu() is model
    assert model[0].weight.dtype == np.float32
    model.to(cr.float64)
    assert model[0].weight.dtype == np.float64
    model.to(dtype=cr.float32)
    assert model[0].weight.dtype == np.float32
    assert model.half()[0].bias.dtype == np.float16
    with pytest.raises(TypeError, match="floating-point dtype, got int64"):
        model.to(cr.long)


# -- max / min / argmax ---------------------------------------------------------------------
def test_max_min_with_dim_give_values_and_indices():
    x = cr.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]], requires_grad=True)
    values, indices = cr.max(x, dim=1)
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]
    assert cr.max(x, 1).indices.dtype == np.int64
    low = cr.min(x, dim=0, keepdim=True)
    assert low.values.tolist() == [[1.0, 0.0, 2.0]] and low.indices.tolist() == [[0, 1, 0]]
    values.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [1, 0, 0]])
    assert cr.max(x).item() == 7.0 and cr.min(x).item() == 0.0
    assert cr.max(x, cr.full((2, 3), 4.0)).tolist() == [[4.0, 5.0, 4.0], [7.0, 4.0, 4.0]]
    assert cr.argmax(x).item() == 3 and cr.argmax(x, dim=1).tolist() == [1, 0]
    assert cr.argmin(x, dim=0, keepdim=True).tolist() == [[0, 1, 0]]


# -- factories -------------------------------------------------------------------------------
def test_factories():
    assert cr.arange(3).dtype == np.int64
    np.testing.assert_allclose(cr.linspace(0, 1, 5).data, [0, 0.25, 0.5, 0.75, 1])
    assert cr.linspace(0, 1, 3).dtype == np.float32
    np.testing.assert_array_equal(cr.eye(2, 3).data, np.eye(2, 3))
    assert cr.empty(2, 3).shape == (2, 3) and cr.empty((4,)).dtype == np.float32
    like = cr.full_like(cr.ones(2, dtype=cr.int64), 7)
    assert like.tolist() == [7, 7] and like.dtype == np.int64
    assert cr.zeros_like(cr.ones(3)).tolist() == [0, 0, 0]
    assert sorted(cr.randperm(5).tolist()) == [0, 1, 2, 3, 4]
    r = cr.randint(3, 6, (100,), generator=0)
    assert r.dtype == np.int64 and r.data.min() >= 3 and r.data.max() < 6
    assert cr.randint(4, (2, 2)).shape == (2, 2)
    a = np.arange(3.0)
    assert cr.from_numpy(a).data is a
    assert cr.ones(2, requires_grad=True, device="cpu").requires_grad is False or True


def test_sum_dtype_and_inference_mode():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    assert x.sum(dtype=cr.float64).dtype == np.float64
    assert cr.tensor([True, True, False]).sum().item() == 2
    with cr.inference_mode():
        assert not (x * 2).requires_grad
    with cr.inference_mode(False):
        assert (x * 2).requires_grad

    @cr.inference_mode()
    def f():
        return x * 2

    assert not f().requires_grad


# -- save / load of state dicts -----------------------------------------------------------------
def test_save_load_returns_what_was_saved(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    path = tmp_path / "model.pt"
    cr.save(model.state_dict(), path)
    state = cr.load(path)
    assert list(state) == list(model.state_dict())
    assert all(isinstance(v, np.ndarray) for v in state.values())
    tensors = {k: cr.tensor(v) for k, v in model.state_dict().items()}
    cr.save(tensors, path)
    back = cr.load(path, map_location="cpu", weights_only=True)
    assert all(isinstance(v, cr.Tensor) for v in back.values())
    for key, value in tensors.items():
        np.testing.assert_array_equal(back[key].data, value.data)
        assert back[key].dtype == value.dtype
    fresh = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    fresh.load_state_dict(back)
    np.testing.assert_array_equal(fresh[0].weight.data, model[0].weight.data)
    cr.save(model, tmp_path / "whole.safetensors")
    assert isinstance(cr.load(tmp_path / "whole.safetensors"), nn.Module)
    with pytest.raises(RuntimeError, match="map_location must be the CPU"):
        cr.load(path, map_location="cuda")


def test_state_dict_file_with_mismatched_names_is_refused(tmp_path):
    from chainrule.io import safetensors_file
    from chainrule.io.files import FORMAT, FORMAT_VERSION

    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": "state_dict",
        "state": {"order": ["a", "b"], "arrays": []},
    }
    safetensors_file.write_file(tmp_path / "x.pt", {"a": np.ones(2, np.float32)}, document)
    with pytest.raises(cr.ModelFormatError, match="do not match the tensors"):
        cr.load(tmp_path / "x.pt")


# -- utils.data --------------------------------------------------------------------------------
def test_random_split_lengths_and_fractions():
    data = TensorDataset(np.arange(10))
    parts = random_split(data, [0.7, 0.3], generator=0)
    assert [len(p) for p in parts] == [7, 3]
    assert sorted(parts[0].indices + parts[1].indices) == list(range(10))
    assert [len(p) for p in random_split(range(5), [0.5, 0.5], generator=1)] == [3, 2]
    with pytest.raises(ValueError, match="summing to the dataset's length 10"):
        random_split(data, [3, 3])


def test_dataset_subclass_batches_through_dataloader():
    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return cr.tensor([float(i)]), i * i

    batches = list(DataLoader(Squares(), batch_size=2, num_workers=0, pin_memory=False))
    assert [b[1].tolist() for b in batches] == [[0, 1], [4, 9], [16]]
    assert batches[0][0].shape == (2, 1)


# -- ops that return indices or booleans --------------------------------------------------------
def test_non_differentiable_results_refuse_a_gradient():
    x = cr.tensor([1.0, float("nan"), float("inf")], requires_grad=True)
    assert cr.isnan(x).tolist() == [False, True, False]
    assert x.isinf().tolist() == [False, False, True]
    assert cr.isfinite(x).tolist() == [True, False, False]
    order = cr.argsort(cr.tensor([3.0, 1.0, 2.0], requires_grad=True))
    assert order.tolist() == [1, 2, 0] and not order.requires_grad
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients"):
        order.requires_grad_()
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients"):
        cr.isnan(x).requires_grad_()


def test_rounding_ops_have_zero_gradient_like_pytorch():
    x = cr.tensor([1.4, -2.6, 0.5], requires_grad=True)
    (cr.floor(x) + cr.ceil(x) + cr.round(x) + cr.sign(x) + cr.trunc(x) + x // 2).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])
    assert cr.round(cr.tensor([0.5, 1.5, 2.5])).tolist() == [0.0, 2.0, 2.0]  # half to even


def test_integer_division_and_remainder_follow_python():
    a, b = cr.tensor([7, -7, 7, -7]), cr.tensor([2, 2, -2, -2])
    assert (a // b).tolist() == [3, -4, -4, 3] and (a // b).dtype == np.int64
    assert (a % b).tolist() == [1, 1, -1, -1]
    assert cr.div(a, b, rounding_mode="trunc").tolist() == [3, -3, -3, 3]
    assert cr.div(a, b, rounding_mode="floor").tolist() == [3, -4, -4, 3]
    assert cr.fmod(a, b).tolist() == [1, -1, 1, -1]
    assert (7 // cr.tensor([2.0])).tolist() == [3.0] and (7.5 % cr.tensor([2.0])).tolist() == [1.5]
    with pytest.raises(ValueError, match="rounding_mode None, 'trunc' or 'floor', got 'round'"):
        cr.div(a, b, rounding_mode="round")


def test_array_ops_values():
    x = cr.arange(6).reshape(2, 3)
    assert cr.prod(x + 1).item() == 720 and x.prod(1).tolist() == [0, 60]
    assert x.cumsum(1).tolist() == [[0, 1, 3], [3, 7, 12]]
    assert cr.gather(x, 1, cr.tensor([[2, 0], [1, 1]])).tolist() == [[2, 0], [4, 4]]
    assert cr.zeros(2, 3).scatter_add(1, cr.tensor([[0, 0, 2]]), cr.ones(1, 3)).tolist() == [
        [2, 0, 1],
        [0, 0, 0],
    ]
    assert x.flip(1).tolist() == [[2, 1, 0], [5, 4, 3]]
    assert x.roll(1, 1).tolist() == [[2, 0, 1], [5, 3, 4]]
    assert x.repeat(1, 2).shape == (2, 6) and cr.tile(x, (2,)).shape == (2, 6)
    assert cr.triu(cr.ones(3, 3)).sum().item() == 6
    assert [t.shape for t in x.split(2, dim=1)] == [(2, 2), (2, 1)]
    assert [t.shape for t in cr.chunk(cr.ones(5), 3)] == [(2,), (2,), (1,)]
    top = cr.topk(cr.tensor([1.0, 9.0, 4.0, 7.0]), 2)
    assert top.values.tolist() == [9.0, 7.0] and top.indices.tolist() == [1, 3]
    s = cr.sort(cr.tensor([3, 1, 2]), descending=True)
    assert s.values.tolist() == [3, 2, 1] and s.indices.tolist() == [0, 2, 1]
    assert cr.einsum("ii->i", cr.eye(2)).tolist() == [1.0, 1.0]
    trace_input = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    cr.einsum("ii", trace_input).backward()  # the trace's gradient is the identity
    assert trace_input.grad.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    with pytest.raises(IndexError, match="gather: index out of range"):
        cr.gather(x, 1, cr.tensor([[3], [0]]))
    with pytest.raises(TypeError, match="bool mask"):
        x.masked_fill(cr.tensor([1, 0, 1]), 0)
