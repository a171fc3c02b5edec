"""Tensor: construction and dtypes, attributes, autograd semantics, operators, shaping,
indexing, reductions and error messages."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr


@pytest.fixture
def float64_default():
    previous = cr.get_default_dtype()
    cr.set_default_dtype(np.float64)
    try:
        yield
    finally:
        cr.set_default_dtype(previous)


@pytest.fixture(autouse=True)
def _clean_global_state():
    """Every test starts and ends with float32 default and grad mode on."""
    assert cr.get_default_dtype() == np.float32
    assert cr.is_grad_enabled()
    yield
    assert cr.get_default_dtype() == np.float32, "a test leaked set_default_dtype"
    if not cr.is_grad_enabled():
        cr.set_grad_enabled(True)
        pytest.fail("a test left grad mode disabled")


def leaf(values, dtype=np.float64):
    return cr.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# -- construction and dtypes -----------------------------------------------------------
class TestDtypes:
    def test_python_floats_default_to_float32(self):
        assert cr.tensor(1.5).dtype == np.float32
        assert cr.tensor([1.0, 2.0]).dtype == np.float32
        assert cr.tensor([[0.05, 0.10]]).dtype == np.float32
        assert cr.tensor([1, 2.5]).dtype == np.float32  # mixed int/float list
        assert cr.get_default_dtype() == np.float32

    def test_set_default_dtype_float64(self, float64_default):
        assert cr.get_default_dtype() == np.float64
        assert cr.tensor(1.5).dtype == np.float64
        assert cr.tensor([[1.0, 2.0]]).dtype == np.float64
        assert cr.zeros(2, 3).dtype == np.float64
        # NumPy arrays keep their own dtype even then
        assert cr.tensor(np.ones(2, dtype=np.float32)).dtype == np.float32

    def test_set_default_dtype_rejects_non_float(self):
        with pytest.raises(TypeError):
            cr.set_default_dtype(np.int64)
        assert cr.get_default_dtype() == np.float32

    def test_numpy_arrays_keep_their_dtype(self):
        assert cr.tensor(np.array([1.0, 2.0])).dtype == np.float64
        assert cr.Tensor(np.array([1.0, 2.0])).dtype == np.float64
        assert cr.tensor(np.float64(2.0)).dtype == np.float64
        assert cr.tensor(np.zeros(3, dtype=np.float16)).dtype == np.float16

    def test_explicit_dtype(self):
        assert cr.tensor([1, 2], dtype=np.float64).dtype == np.float64
        assert cr.tensor([1.0], dtype="float32").dtype == np.float32

    def test_ints_are_int64_and_cannot_require_grad(self):
        t = cr.tensor([1, 2, 3])
        assert t.dtype == np.int64
        assert not t.requires_grad
        with pytest.raises(TypeError, match="floating"):
            cr.tensor([1, 2, 3], requires_grad=True)
        with pytest.raises(TypeError):
            cr.Tensor(np.arange(3), requires_grad=True)
        with pytest.raises(TypeError):
            cr.tensor([1, 2]).requires_grad_()
        with pytest.raises(TypeError):
            cr.tensor([True, False], requires_grad=True)

    def test_non_numeric_data_is_rejected(self):
        with pytest.raises(TypeError):
            cr.tensor(["a", "b"])

    def test_tensor_copies_but_Tensor_shares(self):
        a = np.zeros(3)
        copied = cr.tensor(a)
        shared = cr.Tensor(a)
        a[0] = 5.0
        assert copied.data[0] == 0.0
        assert shared.data[0] == 5.0
        assert np.shares_memory(shared.data, a)
        assert not np.shares_memory(copied.data, a)
        # cr.tensor(tensor) copies too
        again = cr.tensor(shared)
        assert not np.shares_memory(again.data, a)


# -- attributes ------------------------------------------------------------------------
class TestAttributes:
    def test_data_grad_shape_dtype_ndim(self):
        t = cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        assert isinstance(t.data, np.ndarray)
        assert t.grad is None
        assert t.shape == (2, 3)
        assert isinstance(t.shape, tuple)
        assert t.dtype == np.float32
        assert t.ndim == 2
        assert t.requires_grad and t.is_leaf and t.grad_fn is None
        t.sum().backward()
        assert isinstance(t.grad, np.ndarray)
        assert t.grad.shape == (2, 3) and t.grad.dtype == np.float32
        np.testing.assert_array_equal(t.grad, np.ones((2, 3)))

    def test_item(self):
        v = cr.tensor(np.array([[2.5]])).item()
        assert v == 2.5 and type(v) is float
        assert type(cr.tensor(3).item()) is int
        with pytest.raises(ValueError):
            cr.tensor([1.0, 2.0]).item()

    def test_numpy_shares_memory(self):
        t = cr.tensor([1.0, 2.0])
        arr = t.numpy()
        assert isinstance(arr, np.ndarray)
        arr[0] = 9.0
        assert t.data[0] == 9.0

    def test_detach(self):
        x = leaf([1.0, 2.0])
        y = x * 3
        d = y.detach()
        assert not d.requires_grad and d.is_leaf and d.grad_fn is None
        assert np.shares_memory(d.data, y.data)
        z = (d * x).sum()  # the detached branch carries no gradient back
        z.backward()
        np.testing.assert_array_equal(x.grad, [3.0, 6.0])

    def test_repr(self):
        plain = repr(cr.tensor([1.0, 2.0]))
        assert plain.startswith("tensor(") and "requires_grad" not in plain
        assert "grad_fn" not in plain
        x = cr.tensor([1.0, 2.0], requires_grad=True)
        assert "requires_grad=True" in repr(x)
        y = x * 2
        assert "grad_fn" in repr(y) and "mul" in repr(y)
        assert y.grad_fn == "mul" and not y.is_leaf
        assert "float64" in repr(cr.tensor(np.array([1.0])))


# -- autograd semantics ----------------------------------------------------------------
class TestBackward:
    def test_gradients_accumulate_across_calls(self):
        x = leaf([1.0, 2.0])
        (x * 3).sum().backward()
        (x * 3).sum().backward()
        np.testing.assert_array_equal(x.grad, [6.0, 6.0])

    def test_several_paths_sum(self):
        x = leaf([1.0, 2.0, -3.0])
        y = (x * x + x * 3 + x).sum()
        y.backward()
        np.testing.assert_allclose(x.grad, 2 * x.data + 4)
        z = leaf([2.0])
        (z + z).sum().backward()
        np.testing.assert_array_equal(z.grad, [2.0])

    def test_intermediate_used_twice(self):
        x = leaf([0.5, -1.0])
        h = x.tanh()
        y = (h * h + h).sum()
        y.backward()
        t = np.tanh(x.data)
        np.testing.assert_allclose(x.grad, (2 * t + 1) * (1 - t * t), rtol=1e-12)

    def test_non_scalar_without_gradient_raises(self):
        x = leaf([1.0, 2.0])
        y = x * 2
        with pytest.raises(RuntimeError, match=r"gradient") as info:
            y.backward()
        assert "(2,)" in str(info.value)

    def test_single_element_non_scalar_needs_no_gradient(self):
        x = leaf([[3.0]])
        (x * x).backward()
        np.testing.assert_array_equal(x.grad, [[6.0]])

    def test_backward_with_gradient(self):
        x = leaf([1.0, 2.0, 3.0])
        y = x * x
        y.backward(gradient=np.array([1.0, 0.5, -1.0]))
        np.testing.assert_allclose(x.grad, [2.0, 2.0, -6.0])
        x2 = leaf([1.0, 2.0])
        (x2 * 3).backward(gradient=cr.tensor(np.array([1.0, 2.0])))
        np.testing.assert_allclose(x2.grad, [3.0, 6.0])

    def test_backward_gradient_wrong_shape_raises(self):
        x = leaf([1.0, 2.0, 3.0])
        y = x * 2
        with pytest.raises((ValueError, RuntimeError), match=r"\(3,\)") as info:
            y.backward(gradient=np.ones(2))
        assert "(2,)" in str(info.value)
        assert x.grad is None

    def test_backward_on_tensor_without_grad_raises(self):
        with pytest.raises(RuntimeError, match=r"requires?[_ ]grad"):
            (cr.tensor([1.0]) * 2).backward()

    def test_backward_twice_raises_unless_retain_graph(self):
        x = leaf([1.0, 2.0])
        y = (x * x).sum()
        y.backward()
        with pytest.raises(cr.GraphFreedError, match="retain_graph"):
            y.backward()
        assert issubclass(cr.GraphFreedError, RuntimeError)
        np.testing.assert_array_equal(x.grad, [2.0, 4.0])  # unchanged by the failed call

        x2 = leaf([1.0, 2.0])
        y2 = (x2 * x2).sum()
        y2.backward(retain_graph=True)
        y2.backward()
        np.testing.assert_array_equal(x2.grad, [4.0, 8.0])

    def test_retain_grad_on_intermediate(self):
        x = leaf([1.0, -2.0])
        h = x * 2
        h.retain_grad()
        other = x * 5  # not retained
        y = (h * h).sum() + other.sum()
        y.backward()
        np.testing.assert_allclose(h.grad, 2 * h.data)
        np.testing.assert_allclose(x.grad, 8 * x.data + 5)
        assert other.grad is None

    def test_retain_grad_on_intermediate_with_two_users(self):
        x = leaf([1.0, 3.0])
        h = x * 2
        h.retain_grad()
        y = (h * h).sum() + h.sum()
        y.backward()
        np.testing.assert_allclose(h.grad, 2 * h.data + 1)

    def test_retain_grad_on_leaf_is_harmless(self):
        x = leaf([1.0])
        x.retain_grad()
        (x * 4).sum().backward()
        np.testing.assert_array_equal(x.grad, [4.0])


class TestNoGrad:
    def test_context_manager(self):
        x = leaf([1.0, 2.0])
        with cr.no_grad():
            assert not cr.is_grad_enabled()
            y = x * 2
        assert cr.is_grad_enabled()
        assert not y.requires_grad and y.grad_fn is None
        np.testing.assert_array_equal(y.data, [2.0, 4.0])

    def test_decorator(self):
        @cr.no_grad()
        def double(t):
            assert not cr.is_grad_enabled()
            return t * 2

        x = leaf([1.0])
        y = double(x)
        assert not y.requires_grad
        assert cr.is_grad_enabled()
        assert (x * 2).requires_grad

    def test_bare_decorator_like_pytorch(self):
        """``@torch.no_grad`` without parentheses works in PyTorch >= 2.1."""

        @cr.no_grad
        def double(t):
            return t * 2

        y = double(leaf([1.0]))
        assert not y.requires_grad
        assert cr.is_grad_enabled()

    def test_restored_after_exception(self):
        with pytest.raises(KeyError), cr.no_grad():
            raise KeyError
        assert cr.is_grad_enabled()

    def test_enable_grad_inside_no_grad(self):
        x = leaf([1.0])
        with cr.no_grad():
            with cr.enable_grad():
                y = x * 2
            z = x * 2
            assert not cr.is_grad_enabled()
        assert y.requires_grad and not z.requires_grad


# -- scalars, reflected operators, comparisons -----------------------------------------
class TestOperators:
    @pytest.mark.parametrize(
        "fn, value, grad",
        [
            (lambda x: x + 2, lambda a: a + 2, lambda a: np.ones_like(a)),
            (lambda x: 2 + x, lambda a: a + 2, lambda a: np.ones_like(a)),
            (lambda x: x - 2, lambda a: a - 2, lambda a: np.ones_like(a)),
            (lambda x: 2 - x, lambda a: 2 - a, lambda a: -np.ones_like(a)),
            (lambda x: x * 3, lambda a: 3 * a, lambda a: 3 * np.ones_like(a)),
            (lambda x: 3 * x, lambda a: 3 * a, lambda a: 3 * np.ones_like(a)),
            (lambda x: x / 4, lambda a: a / 4, lambda a: np.full_like(a, 0.25)),
            (lambda x: 2 / x, lambda a: 2 / a, lambda a: -2 / a**2),
            (lambda x: x**2, lambda a: a**2, lambda a: 2 * a),
            (lambda x: x**0.5, lambda a: a**0.5, lambda a: 0.5 * a**-0.5),
            (lambda x: 2**x, lambda a: 2**a, lambda a: 2**a * np.log(2)),
            (lambda x: -x, lambda a: -a, lambda a: -np.ones_like(a)),
            (
                lambda x: np.array([1.0, 2.0, 3.0]) + x,
                lambda a: a + np.array([1, 2, 3]),
                lambda a: np.ones_like(a),
            ),
            (
                lambda x: np.array([1.0, 2.0, 3.0]) * x,
                lambda a: a * [1, 2, 3],
                lambda a: np.array([1.0, 2.0, 3.0]),
            ),
            (
                lambda x: np.array([1.0, 2.0, 3.0]) - x,
                lambda a: [1, 2, 3] - a,
                lambda a: -np.ones_like(a),
            ),
            (
                lambda x: np.array([1.0, 2.0, 3.0]) / x,
                lambda a: [1, 2, 3] / a,
                lambda a: -np.array([1.0, 2.0, 3.0]) / a**2,
            ),
        ],
        ids=[
            "x+2",
            "2+x",
            "x-2",
            "2-x",
            "x*3",
            "3*x",
            "x/4",
            "2/x",
            "x**2",
            "x**0.5",
            "2**x",
            "-x",
            "nd+x",
            "nd*x",
            "nd-x",
            "nd/x",
        ],
    )
    def test_scalar_and_reflected(self, fn, value, grad):
        a = np.array([0.5, 1.5, 3.0])
        x = leaf(a)
        y = fn(x)
        assert isinstance(y, cr.Tensor)
        assert y.requires_grad
        np.testing.assert_allclose(y.data, value(a), rtol=1e-14)
        y.sum().backward()
        np.testing.assert_allclose(x.grad, grad(a), rtol=1e-12)

    def test_ndarray_matmul_tensor_returns_tensor(self):
        x = leaf([[1.0, 2.0], [3.0, 4.0]])
        m = np.array([[1.0, 0.0], [2.0, 1.0]])
        y = m @ x
        assert isinstance(y, cr.Tensor)
        y.sum().backward()
        np.testing.assert_allclose(x.grad, m.T @ np.ones((2, 2)))

    def test_python_scalars_keep_float32(self):
        x = cr.tensor([1.0, 2.0], requires_grad=True)
        for y in (x + 2, 2 - x, x * 0.5, 2 / x, x**2, 2**x, x / 3.0):
            assert y.dtype == np.float32

    def test_comparisons_return_bool_without_grad(self):
        x = leaf([-1.0, 0.0, 2.0])
        other = cr.tensor(np.array([0.0, 0.0, 0.0]))
        cases = {
            "gt": (x > 0, [False, False, True]),
            "ge": (x >= 0, [False, True, True]),
            "lt": (x < 0, [True, False, False]),
            "le": (x <= 0, [True, True, False]),
            "eq": (x == other, [False, True, False]),
            "ne": (x != other, [True, False, True]),
        }
        for name, (result, expected) in cases.items():
            assert isinstance(result, cr.Tensor), name
            assert result.dtype == np.bool_, name
            assert not result.requires_grad and result.grad_fn is None, name
            np.testing.assert_array_equal(result.data, expected, err_msg=name)


# -- shaping ---------------------------------------------------------------------------
def _weighted_backward(y: cr.Tensor, seed: int = 0) -> np.ndarray:
    """Backpropagate Σ W·y with a fixed random W; returns W so grads can be predicted."""
    W = np.random.default_rng(seed).standard_normal(y.shape)
    (y * W).sum().backward()
    return W


class TestShaping:
    def test_reshape_forms(self):
        a = np.arange(6.0)
        for args in [(2, 3), ((2, 3),), ([2, 3],), (-1, 3), (2, -1)]:
            x = leaf(a)
            y = x.reshape(*args)
            assert y.shape == (2, 3), args
            np.testing.assert_array_equal(y.data, a.reshape(2, 3))
            W = _weighted_backward(y)
            np.testing.assert_array_equal(x.grad, W.reshape(6))
        assert cr.reshape(leaf(a), 3, 2).shape == (3, 2)
        assert leaf(a).view(3, 2).shape == (3, 2)

    def test_reshape_error(self):
        with pytest.raises(ValueError, match=r"\(6,\)"):
            leaf(np.arange(6.0)).reshape(4, 2)

    def test_transpose_and_T(self):
        a = np.arange(6.0).reshape(2, 3)
        x = leaf(a)
        y = x.transpose(0, 1)
        assert y.shape == (3, 2)
        np.testing.assert_array_equal(y.data, a.T)
        W = _weighted_backward(y)
        np.testing.assert_array_equal(x.grad, W.T)
        x2 = leaf(a)
        W2 = _weighted_backward(x2.T)
        np.testing.assert_array_equal(x2.grad, W2.T)
        b = np.arange(24.0).reshape(2, 3, 4)
        assert leaf(b).transpose(0, 2).shape == (4, 3, 2)
        assert leaf(b).transpose(-1, 0).shape == (4, 3, 2)
        assert leaf(b).T.shape == (4, 3, 2)

    def test_permute(self):
        b = np.arange(24.0).reshape(2, 3, 4)
        for args in [(2, 0, 1), ((2, 0, 1),)]:
            x = leaf(b)
            y = x.permute(*args)
            assert y.shape == (4, 2, 3)
            np.testing.assert_array_equal(y.data, np.transpose(b, (2, 0, 1)))
            W = _weighted_backward(y)
            np.testing.assert_array_equal(x.grad, np.transpose(W, (1, 2, 0)))
        with pytest.raises(ValueError):
            leaf(b).permute(0, 1)

    def test_expand_and_broadcast_to(self):
        a = np.array([[1.0, 2.0, 3.0, 4.0]])
        x = leaf(a)
        y = x.expand(3, -1)
        assert y.shape == (3, 4)
        W = _weighted_backward(y)
        np.testing.assert_allclose(x.grad, W.sum(axis=0, keepdims=True))
        x2 = leaf(a)
        y2 = x2.broadcast_to((2, 3, 4))
        assert y2.shape == (2, 3, 4)
        W2 = _weighted_backward(y2)
        assert x2.grad.shape == (1, 4)
        np.testing.assert_allclose(x2.grad, W2.sum(axis=(0, 1))[None])
        x3 = leaf(np.array([[1.0], [2.0]]))
        y3 = x3.expand(2, 5)
        W3 = _weighted_backward(y3)
        np.testing.assert_allclose(x3.grad, W3.sum(axis=1, keepdims=True))
        with pytest.raises(ValueError):
            leaf(a).expand(3, 5)

    def test_squeeze_unsqueeze(self):
        a = np.arange(3.0).reshape(1, 3, 1)
        x = leaf(a)
        assert x.squeeze().shape == (3,)
        assert x.squeeze(0).shape == (3, 1)
        assert x.squeeze(dim=2).shape == (1, 3)
        assert x.squeeze(1).shape == (1, 3, 1)  # size != 1: left alone, as PyTorch
        y = x.squeeze().unsqueeze(0).unsqueeze(dim=-1).unsqueeze(1)
        assert y.shape == (1, 1, 3, 1)
        W = _weighted_backward(y)
        np.testing.assert_array_equal(x.grad, W.reshape(1, 3, 1))

    def test_flatten(self):
        b = np.arange(24.0).reshape(2, 3, 4)
        assert leaf(b).flatten().shape == (24,)
        assert leaf(b).flatten(1).shape == (2, 12)
        assert leaf(b).flatten(0, 1).shape == (6, 4)
        assert leaf(b).flatten(start_dim=1, end_dim=-1).shape == (2, 12)
        assert cr.flatten(leaf(b), 0, -2).shape == (6, 4)
        x = leaf(b)
        y = x.flatten(1)
        np.testing.assert_array_equal(y.data, b.reshape(2, 12))
        W = _weighted_backward(y)
        np.testing.assert_array_equal(x.grad, W.reshape(2, 3, 4))

    @pytest.mark.parametrize("dim", [0, 1, -1])
    def test_cat(self, dim):
        a, b = leaf(np.ones((2, 3))), leaf(np.full((2, 3), 2.0))
        y = cr.cat([a, b], dim=dim)
        expected = np.concatenate([a.data, b.data], axis=dim)
        np.testing.assert_array_equal(y.data, expected)
        W = _weighted_backward(y)
        wa, wb = np.split(W, 2, axis=dim)
        np.testing.assert_array_equal(a.grad, wa)
        np.testing.assert_array_equal(b.grad, wb)

    def test_cat_uneven_and_axis_keyword(self):
        a, b = leaf(np.ones((2, 1))), leaf(np.ones((2, 3)))
        c = cr.tensor(np.zeros((2, 2)))  # no grad: skipped
        y = cr.cat((a, c, b), axis=1)
        assert y.shape == (2, 6)
        W = _weighted_backward(y)
        np.testing.assert_array_equal(a.grad, W[:, :1])
        np.testing.assert_array_equal(b.grad, W[:, 3:])
        assert c.grad is None
        with pytest.raises(ValueError, match=r"\(2, 1\)"):
            cr.cat([leaf(np.ones((2, 1))), leaf(np.ones((3, 2)))], dim=0)

    @pytest.mark.parametrize("dim", [0, 1, 2, -1])
    def test_stack(self, dim):
        a, b, c = (leaf(np.full((2, 3), v)) for v in (1.0, 2.0, 3.0))
        y = cr.stack([a, b, c], dim=dim)
        np.testing.assert_array_equal(y.data, np.stack([a.data, b.data, c.data], axis=dim))
        W = _weighted_backward(y)
        for k, t in enumerate((a, b, c)):
            np.testing.assert_array_equal(t.grad, np.take(W, k, axis=dim))


# -- indexing --------------------------------------------------------------------------
class TestIndexing:
    A = np.arange(12.0).reshape(3, 4)

    def _check(self, index, numpy_index=None):
        numpy_index = index if numpy_index is None else numpy_index
        x = leaf(self.A)
        y = x[index]
        np.testing.assert_array_equal(y.data, self.A[numpy_index])
        W = _weighted_backward(y)
        expected = np.zeros_like(self.A)
        np.add.at(expected, numpy_index, W)
        np.testing.assert_array_equal(x.grad, expected)
        return x

    def test_int_and_negative(self):
        self._check(1)
        self._check(-1)
        self._check((-1, -2))

    def test_slices(self):
        self._check(slice(1, None))
        self._check((slice(None), slice(None, None, 2)))
        self._check((slice(None, None, -1), slice(1, 3)))

    def test_none_and_ellipsis(self):
        self._check((None, 0))
        self._check((Ellipsis, -1))
        self._check((Ellipsis, None, slice(0, 2)))

    def test_boolean_mask(self):
        mask = self.A % 3 == 0
        self._check(mask)
        # a bool Tensor (from a comparison) works as a mask too
        x = leaf(self.A)
        y = x[x > 5]
        np.testing.assert_array_equal(y.data, self.A[self.A > 5])
        y.sum().backward()
        np.testing.assert_array_equal(x.grad, (self.A > 5).astype(float))
        self._check(np.array([True, False, True]))

    def test_integer_array_with_repeats_counts_them(self):
        x = self._check([0, 0, 2, 0])
        np.testing.assert_array_equal(x.grad.shape, (3, 4))
        x2 = leaf(self.A)
        x2[[2, 2, 2]].sum().backward()
        np.testing.assert_array_equal(x2.grad, [[0] * 4, [0] * 4, [3] * 4])
        self._check(np.array([1, 1, -1]))
        self._check((np.array([0, 0, 1]), np.array([3, 3, 0])))
        self._check((slice(None), [1, 1]), (slice(None), np.array([1, 1])))

    def test_tensor_as_index(self):
        idx = cr.tensor([2, 0, 2])
        x = leaf(self.A)
        y = x[idx]
        np.testing.assert_array_equal(y.data, self.A[[2, 0, 2]])
        y.sum().backward()
        np.testing.assert_array_equal(x.grad[:, 0], [1.0, 0.0, 2.0])
        x2 = leaf(self.A)
        x2[idx, cr.tensor([1, 1, 1])].sum().backward()
        expected = np.zeros_like(self.A)
        expected[0, 1], expected[2, 1] = 1.0, 2.0
        np.testing.assert_array_equal(x2.grad, expected)

    def test_out_of_range(self):
        with pytest.raises(IndexError):
            leaf(self.A)[5]


# -- reductions ------------------------------------------------------------------------
class TestReductions:
    A = np.array([[1.0, 5.0, 2.0], [4.0, 3.0, 7.0]])

    @pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "var"])
    @pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
    @pytest.mark.parametrize("keepdims", [False, True])
    @pytest.mark.parametrize("keyword", ["axis", "dim"])
    def test_axis_dim_keepdims_values_and_grads(self, name, axis, keepdims, keyword):
        x = leaf(self.A)
        y = getattr(x, name)(**{keyword: axis, "keepdims": keepdims})
        ref = getattr(np, name)
        np_kwargs = {"ddof": 1} if name == "var" else {}
        expected = ref(self.A, axis=axis, keepdims=keepdims, **np_kwargs)
        np.testing.assert_allclose(y.data, expected, rtol=1e-14)
        assert y.shape == np.shape(expected)
        # function form agrees
        f = getattr(cr, name)(leaf(self.A), **{keyword: axis, "keepdims": keepdims})
        if name in ("max", "min") and keyword == "dim" and isinstance(axis, int):
            assert isinstance(f, tuple)  # torch.max/min with one dim: (values, indices)
            f = f.values
        np.testing.assert_allclose(f.data, expected, rtol=1e-14)

        W = _weighted_backward(y)
        Wk = W if keepdims or axis is None else np.expand_dims(W, axis)
        if axis is None and not keepdims:
            Wk = np.reshape(W, (1, 1))
        ax = axis
        n = self.A.size if ax is None else int(np.prod(np.take(self.A.shape, ax)))
        if name == "sum":
            g = np.broadcast_to(Wk, self.A.shape)
        elif name == "mean":
            g = np.broadcast_to(Wk / n, self.A.shape)
        elif name in ("max", "min"):
            hit = self.A == ref(self.A, axis=ax, keepdims=True)
            g = Wk * hit / hit.sum(axis=ax, keepdims=True)
        else:
            g = Wk * 2 * (self.A - self.A.mean(axis=ax, keepdims=True)) / (n - 1)
        np.testing.assert_allclose(x.grad, g, rtol=1e-12, atol=1e-15)

    def test_dim_list_and_positional_axis(self):
        x = leaf(np.arange(24.0).reshape(2, 3, 4))
        a = np.arange(24.0).reshape(2, 3, 4)
        np.testing.assert_allclose(x.sum(dim=[0, 2]).data, a.sum((0, 2)))
        np.testing.assert_allclose(x.mean(1).data, a.mean(1))

    def test_axis_and_dim_together_raise(self):
        with pytest.raises(TypeError):
            leaf(self.A).sum(axis=0, dim=1)

    def test_var_unbiased_by_default(self):
        x = cr.tensor(np.array([1.0, 2.0, 3.0, 4.0]))
        assert x.var().item() == pytest.approx(5 / 3, rel=1e-14)
        assert cr.var(x).item() == pytest.approx(5 / 3, rel=1e-14)
        for kw in ({"ddof": 0}, {"unbiased": False}, {"correction": 0}):
            assert x.var(**kw).item() == pytest.approx(1.25, rel=1e-14), kw
        assert x.var(unbiased=True).item() == pytest.approx(5 / 3, rel=1e-14)
        assert x.std().item() == pytest.approx(np.sqrt(5 / 3), rel=1e-14)
        assert x.std(ddof=0).item() == pytest.approx(np.sqrt(1.25), rel=1e-14)
        with pytest.raises(TypeError):
            x.var(ddof=0, unbiased=True)

    def test_var_of_one_element_gives_nan_not_an_exception(self):
        """As PyTorch: var with correction=1 of one value is NaN, and so is its gradient."""
        x = leaf([3.0])
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "Degrees of freedom <= 0"
            v = x.var()
            assert np.isnan(v.item())
            v.backward()
        assert x.grad.shape == (1,) and not np.isfinite(x.grad[0])
        x0 = leaf([3.0])
        with np.errstate(all="ignore"):
            x0.var(correction=0).backward()  # biased: well defined
        np.testing.assert_array_equal(x0.grad, [0.0])

    def test_var_biased_gradient(self):
        a = np.array([1.0, 2.0, 4.0, 9.0])
        x = leaf(a)
        x.var(unbiased=False).backward()
        np.testing.assert_allclose(x.grad, 2 * (a - a.mean()) / 4, rtol=1e-14)

    def test_max_ties_share_gradient(self):
        x = leaf([3.0, 1.0, 3.0])
        x.max().backward()
        np.testing.assert_allclose(x.grad, [0.5, 0.0, 0.5])


# -- error messages --------------------------------------------------------------------
class TestErrors:
    def test_matmul_error_names_both_shapes(self):
        with pytest.raises(ValueError) as info:
            leaf(np.ones((2, 3))) @ leaf(np.ones((4, 5)))
        assert "(2, 3)" in str(info.value) and "(4, 5)" in str(info.value)
        with pytest.raises(ValueError) as info:
            cr.matmul(leaf(np.ones((2, 3))), leaf(np.ones(4)))
        assert "(2, 3)" in str(info.value) and "(4,)" in str(info.value)

    @pytest.mark.parametrize(
        "op",
        [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b],
        ids=["add", "sub", "mul", "div"],
    )
    def test_broadcast_error_names_both_shapes(self, op):
        with pytest.raises(ValueError) as info:
            op(leaf(np.ones((2, 3))), leaf(np.ones(4)))
        assert "(2, 3)" in str(info.value) and "(4,)" in str(info.value)


@pytest.mark.parametrize(
    ("value", "dtype"),
    [
        (np.array([[1, "a"]], dtype=object), "object"),
        (np.array([[1, 2]], dtype=object), "object"),
        (np.array(["1.5", "2"]), "<U3"),
        (np.array(["2024-01-01"], dtype="datetime64[D]"), "datetime64"),
        ([[1.0, None]], "object"),
    ],
)
def test_tensor_of_text_objects_or_dates_is_a_type_error_naming_the_dtype(value, dtype):
    # As torch.tensor: only numbers and booleans make a tensor (a NumPy array of
    # objects once slipped through and failed later, deep inside a layer).
    with pytest.raises(TypeError, match=f"tensor\\(\\) expected numbers .* of dtype {dtype}"):
        cr.tensor(value)


@pytest.mark.parametrize(
    "value",
    [["1.5", "2"], np.array(["2024-01-01"], dtype="datetime64[D]"), np.array([1, None], object)],
)
def test_a_dtype_does_not_turn_text_objects_or_dates_into_numbers(value):
    with pytest.raises(TypeError, match="tensor\\(\\) expected numbers"):
        cr.tensor(value, dtype=np.float32)


def test_tensor_of_a_text_ndarray_is_refused_too():
    with pytest.raises(TypeError, match="of dtype <U1"):
        cr.Tensor(np.array(["a"]))
    assert cr.tensor([1, 2], dtype=np.float32).dtype == np.float32  # numbers still convert
