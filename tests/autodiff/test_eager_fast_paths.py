"""The eager engine's fast paths give what the general paths give, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autodiff import engine
from chainrule.autodiff.ops import arithmetic as ar
from chainrule.autodiff.ops import reductions

F32 = np.array([[1.5, -2.25], [0.1, 3.0]], dtype=np.float32)
F64 = np.array([[0.15, 0.2], [0.25, 0.3]])
I64 = np.array([[1, 2], [3, 4]])


@pytest.mark.parametrize("op", [ar.add, ar.sub, ar.mul, ar.div, ar.matmul])
@pytest.mark.parametrize(
    "a, b",
    [
        (F64, F64),
        (F32, F32),
        (F32, F64),  # promotion to float64 first
        (I64, F32),
        (F32, 0.5),  # a Python number keeps the tensor's dtype
        (0.5, F32),
        (I64, 2),
        (F64, F64[:, :1]),  # broadcast
    ],
)
def test_direct_numpy_call_matches_the_forward(op, a, b):
    if op is ar.matmul and (np.ndim(a) == 0 or np.ndim(b) == 0):
        pytest.skip("matmul takes no scalars")
    ta = cr.Tensor(a) if isinstance(a, np.ndarray) else a
    tb = cr.Tensor(b) if isinstance(b, np.ndarray) else b
    got = op(ta, tb).data
    # the forward itself, on the arrays the op promoted them to
    from chainrule.autodiff.dtypes import promote

    x, y = promote([np.asarray(a) if isinstance(a, np.ndarray) else a, b], op.promote)
    want = np.asarray(op.forward(x, y))
    assert got.dtype == want.dtype
    assert got.tobytes() == want.tobytes()


def test_a_failing_direct_call_raises_the_forwards_message():
    with pytest.raises(ValueError, match=r"add: cannot broadcast shapes \(2, 2\) and \(3,\)"):
        cr.tensor(F64) + cr.tensor([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="matmul expected the last dimension"):
        cr.tensor(F64) @ cr.tensor(np.ones((3, 1)))


def test_whole_sum_and_mean_record_no_keywords_and_keep_keepdims():
    x = cr.tensor(F64, requires_grad=True)
    s = x.sum()
    assert s._node is not None and s._node.kwargs == {}
    assert s.item() == F64.sum()
    k = x.sum(keepdim=True)
    assert k.shape == (1, 1) and k._node is not None
    assert k._node.kwargs == {"axis": None, "keepdims": True}
    m = x.mean()
    assert m.item() == F64.mean()
    (s + m).backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 2), 1.0 + 0.25))


def test_sum_forward_is_ndarray_sum_bit_for_bit():
    a = np.random.default_rng(0).standard_normal((7, 5)).astype(np.float32)
    for axis, keep in [(None, False), (0, True), ((0, 1), False), (1, False)]:
        got = reductions.sum.forward(a, axis=axis, keepdims=keep)
        want = a.sum(axis=axis, keepdims=keep)
        assert np.asarray(got).tobytes() == np.asarray(want).tobytes()


def test_setting_a_grad_slot_turns_on_the_walks_slot_lookup():
    from chainrule.nn.utils import flatten_parameters

    w = cr.tensor(F64, requires_grad=True)
    flatten_parameters([w])
    assert engine.flat_grads.seen
    slot = w._grad_slot
    (w * 2.0).sum().backward()
    assert w.grad is slot  # backward filled the flat buffer's view
    np.testing.assert_array_equal(w.grad, np.full((2, 2), 2.0))


def test_unset_grad_slot_reads_as_missing():
    t = cr.tensor([1.0])
    assert getattr(t, "_grad_slot", None) is None
    with pytest.raises(AttributeError):
        _ = t._grad_slot


def test_plain_sgd_reads_a_changed_lr_each_step():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    opt = cr.optim.SGD([w], lr=0.5)
    w.grad = np.array([1.0, 1.0])
    opt.step()
    opt.param_groups[0]["lr"] = 0.25
    opt.step()
    np.testing.assert_array_equal(w.data, np.array([1.0 - 0.5 - 0.25, 2.0 - 0.5 - 0.25]))
    opt.param_groups[0]["momentum"] = 0.9  # no longer plain: the general update, buffers
    opt.step()
    assert "momentum_buffer" in opt.state[w]
