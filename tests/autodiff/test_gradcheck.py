"""gradcheck itself: it passes correct gradients and catches wrong ones, loudly and precisely.

Deliberately wrong VJPs are registered as throwaway ops under unique names and
removed from the registry on teardown, so the registry-wide gradcheck never sees them.
"""

from __future__ import annotations

import re
import uuid
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.autodiff import REGISTRY, GradcheckError, Tensor, defop, gradcheck

PREFIX = "_test_gradcheck_"
FAILURE = re.compile(
    r"input (?P<input>\d+) \(shape (?P<shape>\([^)]*\))\) at index (?P<index>\([^)]*\))"
    r"(?:, output element (?P<output>\([^)]*\)))?: "
    r"analytical (?P<analytic>\S+), numerical (?P<numeric>\S+) "
)


def leaf(values) -> Tensor:
    return Tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def uniform(*shape, lo=-2.0, hi=2.0, seed=0) -> Tensor:
    return leaf(np.random.default_rng(seed).uniform(lo, hi, size=shape))


@pytest.fixture
def register_op():
    """Register ops with hand-written (possibly wrong) VJPs; unregister them afterwards."""
    names: list[str] = []

    def register(forward, vjp, formula="test op"):
        name = PREFIX + uuid.uuid4().hex
        op = defop(name, formula=formula)(forward)
        op.defvjp(vjp)
        names.append(name)
        return op

    yield register
    for name in names:
        REGISTRY.pop(name, None)


@pytest.fixture
def half_square(register_op):
    """a² with the VJP g·a instead of 2·g·a."""
    return register_op(lambda a: a * a, lambda g, out, a: g * a)


# -- correct gradients pass ------------------------------------------------------------
@pytest.mark.parametrize(
    ("fn", "shapes"),
    [
        (lambda a, b: a * b, [(3, 1), (4,)]),
        (lambda a, b: (a @ b).tanh(), [(2, 3), (3, 4)]),
        (lambda a: cr.exp(cr.sin(a)) / (a * a + 1), [(5,)]),
        (lambda a, b: cr.softmax(a * b, dim=0).sum(axis=1), [(3, 4), (1, 4)]),
        (lambda a: a.sum(), [()]),
    ],
)
def test_passes_on_correct_ops(fn, shapes):
    inputs = [uniform(*s, seed=i) for i, s in enumerate(shapes)]
    assert gradcheck(fn, inputs) is True


def test_accepts_a_single_tensor_and_plain_values_that_pass_through():
    x = uniform(2, 3)
    assert gradcheck(cr.tanh, x) is True
    seen = []

    def fn(a, k, offset):
        seen.append((k, offset.shape))
        return a * k + offset

    assert gradcheck(fn, [x, 3.0, np.ones(3)]) is True
    assert set(seen) == {(3.0, (3,))}


def test_only_inputs_that_require_grad_are_checked(register_op):
    # The VJP is wrong for b only; b is a constant here, so nothing is wrong.
    op = register_op(lambda a, b: a * b, lambda g, out, a, b: (g * b, 100 * g))
    assert gradcheck(op, [uniform(3), Tensor(np.arange(3.0))]) is True
    with pytest.raises(GradcheckError, match=r"input 1 "):
        gradcheck(op, [uniform(3), uniform(3, seed=1)])


def test_unused_input_has_zero_gradient_and_passes():
    assert gradcheck(lambda a, b: a * 2.0, [uniform(3), uniform(2, seed=1)]) is True


def test_leaves_callers_tensors_untouched(half_square):
    x = uniform(2, 3)
    before = x.data.copy()
    assert gradcheck(lambda a: a.exp(), [x]) is True
    with pytest.raises(GradcheckError):
        gradcheck(half_square, [x])
    np.testing.assert_array_equal(x.data, before)
    assert x.grad is None


# -- wrong gradients are reported precisely ------------------------------------------------
def test_wrong_vjp_raises_naming_input_element_and_both_values(half_square):
    x = uniform(2, 3, lo=0.5, hi=2.0)
    with pytest.raises(GradcheckError) as info:
        gradcheck(half_square, [x])
    assert isinstance(info.value, AssertionError)  # pytest and unittest treat it as a failure
    message = str(info.value)
    found = FAILURE.search(message)
    assert found, message
    assert found["input"] == "0"
    assert found["shape"] == "(2, 3)"
    assert found["index"] == "(0, 0)"
    assert found["output"] == "(0, 0)"
    # A small problem is checked entry by entry of the Jacobian: d out[0,0] / d x[0,0].
    expected_analytic = x.data[0, 0]
    assert float(found["analytic"]) == pytest.approx(expected_analytic, rel=1e-8)
    assert float(found["numeric"]) == pytest.approx(2 * expected_analytic, rel=1e-6)


def test_wrong_element_of_second_input_is_named(register_op):
    bump = np.zeros((2, 3))
    bump[1, 2] = 1.0
    op = register_op(lambda a, b: a * b, lambda g, out, a, b: (g * b, g * a + bump))
    a, b = uniform(2, 3, seed=1), uniform(2, 3, seed=2)
    with pytest.raises(GradcheckError) as info:
        gradcheck(op, [a, b])
    found = FAILURE.search(str(info.value))
    assert found, str(info.value)
    assert (found["input"], found["index"]) == ("1", "(1, 2)")
    # The bump adds 1 to d out[i] / d b[1,2] for every output i; the first row is output
    # (0, 0), which does not depend on b[1,2] at all.
    assert found["output"] == "(0, 0)"
    assert float(found["analytic"]) == pytest.approx(1.0, rel=1e-8)
    assert float(found["numeric"]) == pytest.approx(0.0, abs=1e-9)


def test_input_position_counts_plain_values_and_constants(register_op):
    op = register_op(lambda k, a: a * a, lambda g, out, k, a: (None, g * a))
    with pytest.raises(GradcheckError, match=r"input 2 \(shape \(3,\)\) at index \(0,\)"):
        gradcheck(lambda s, c, a: op(c, a) * s, [2.0, Tensor(np.ones(3)), uniform(3, lo=1)])


def test_scalar_input_failure_names_the_empty_index(half_square):
    with pytest.raises(GradcheckError, match=r"input 0 \(shape \(\)\) at index \(\)"):
        gradcheck(half_square, [leaf(1.3)])


def test_missing_gradient_is_caught():
    # detach() cuts the graph: the analytical gradient is zero, the numerical one is not.
    with pytest.raises(GradcheckError, match=r"analytical 0, numerical"):
        gradcheck(lambda a: a.detach() * 2.0, [uniform(3, lo=0.5, hi=1.0)])
    # Half the dependence is cut: the analytical gradient is half the numerical one.
    with pytest.raises(GradcheckError):
        gradcheck(lambda a: a.detach() * a, [uniform(3, lo=0.5, hi=1.0)])


def test_raise_exception_false_returns_false(half_square):
    x = uniform(2, 3, lo=0.5)
    assert gradcheck(half_square, [x], raise_exception=False) is False
    assert gradcheck(lambda a: a * a, [x], raise_exception=False) is True


def test_tolerances_are_honoured(register_op):
    slightly_off = register_op(lambda a: 3 * a, lambda g, out, a: 3 * g * (1 + 1e-3))
    shifted = register_op(lambda a: 3 * a, lambda g, out, a: 3 * g + 1e-4)
    x = uniform(4, lo=0.5)
    with pytest.raises(GradcheckError):
        gradcheck(slightly_off, [x])
    assert gradcheck(slightly_off, [x], rtol=1e-2) is True
    with pytest.raises(GradcheckError):
        gradcheck(shifted, [x])
    assert gradcheck(shifted, [x], atol=1e-3) is True


def test_eps_is_the_finite_difference_step():
    # Central differences of a cubic are off by eps² (third derivative 6, over 6).
    cube = lambda a: a * a * a  # noqa: E731
    x = uniform(3, lo=0.5)
    assert gradcheck(cube, [x]) is True
    with pytest.raises(GradcheckError):
        gradcheck(cube, [x], eps=0.1)


# -- dtype --------------------------------------------------------------------------------
def test_float32_input_warns_and_checks_a_float64_copy():
    x32 = Tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    before = x32.data.copy()
    with pytest.warns(UserWarning, match=r"input 0 is float32"):
        assert gradcheck(lambda a: (a * a).tanh(), [x32]) is True
    assert x32.dtype == np.float32
    np.testing.assert_array_equal(x32.data, before)
    assert x32.grad is None


def test_float32_warning_names_the_position_and_wrong_gradients_still_fail(half_square):
    x32 = Tensor(np.full(3, 1.5, dtype=np.float32), requires_grad=True)
    with pytest.warns(UserWarning, match=r"input 1 is float32"):
        with pytest.raises(GradcheckError):
            gradcheck(lambda k, a: half_square(a) * k, [2.0, x32])


def test_float64_inputs_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gradcheck(lambda a: a.sin(), [uniform(3)]) is True


# -- large inputs: random projections ------------------------------------------------------
class Counting:
    def __init__(self, fn):
        self.fn = fn
        self.calls = 0

    def __call__(self, *args):
        self.calls += 1
        return self.fn(*args)


def test_large_input_uses_random_projections():
    x = uniform(2000, seed=3)
    fn = Counting(lambda a: cr.tanh(a) * a)
    assert gradcheck(fn, [x]) is True
    # Element by element would need 4000 evaluations; 8 directions need 16 (+ the forward).
    assert 3 <= fn.calls <= 2 * 8 + 2
    fn = Counting(lambda a: cr.tanh(a) * a)
    assert gradcheck(fn, [x], projections=3) is True
    assert 3 <= fn.calls <= 2 * 3 + 2


def test_full_jacobian_limit_switches_between_modes():
    x = uniform(40)
    elementwise = Counting(cr.sin)
    assert gradcheck(elementwise, [x], full_jacobian_limit=40) is True
    assert elementwise.calls >= 2 * 40
    projected = Counting(cr.sin)
    assert gradcheck(projected, [x], full_jacobian_limit=39, projections=2) is True
    assert projected.calls <= 2 * 2 + 2


def test_large_input_wrong_gradient_is_caught(half_square):
    x = uniform(2000, lo=0.5, hi=2.0, seed=4)
    with pytest.raises(GradcheckError, match=r"input 0 \(shape \(2000,\)\) along random direction"):
        gradcheck(half_square, [x])
    assert gradcheck(half_square, [x], raise_exception=False) is False


def test_large_input_single_wrong_element_is_caught(register_op):
    bump = np.zeros((40, 50))
    bump[17, 33] = 0.5
    op = register_op(np.sin, lambda g, out, a: g * np.cos(a) + bump)
    x = uniform(40, 50, seed=5)
    with pytest.raises(GradcheckError, match=r"along random direction"):
        gradcheck(op, [x])
    assert gradcheck(cr.sin, [x]) is True


def test_large_input_small_relative_error_is_caught(register_op):
    op = register_op(lambda a: a * a, lambda g, out, a: 2 * g * a * (1 + 1e-3))
    with pytest.raises(GradcheckError):
        gradcheck(op, [uniform(2000, lo=0.5, hi=2.0, seed=6)])


# -- outputs -----------------------------------------------------------------------------
def test_tuple_and_list_outputs_pass():
    a, b = uniform(3, 1, seed=1), uniform(4, seed=2)
    assert gradcheck(lambda x, y: (x * y, (x - y).exp(), y.sum()), [a, b]) is True
    assert gradcheck(lambda x, y: [x @ y[None, :], y.tanh()], [a, b]) is True


def test_tuple_output_with_one_wrong_part_fails(half_square):
    a = uniform(3, lo=0.5, seed=1)
    with pytest.raises(GradcheckError, match=r"input 0"):
        gradcheck(lambda x: (x.exp(), half_square(x)), [a])
    with pytest.raises(GradcheckError):
        gradcheck(lambda x: [half_square(x).sum(), x * 2], [a])


def test_tuple_output_ignores_non_tensor_parts():
    assert gradcheck(lambda x: (x.sin(), 3, "label"), [uniform(4)]) is True


def test_output_that_does_not_depend_on_the_input_passes():
    assert gradcheck(lambda x: cr.tensor(np.ones(3)) + 0 * x.detach(), [uniform(3)]) is True


# -- misuse --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "inputs",
    [
        [],
        [np.ones(3)],
        [Tensor(np.ones(3))],
        [3.0, Tensor(np.ones((2, 2)))],
        Tensor(np.ones(3)),
    ],
    ids=["empty", "ndarray", "tensor without grad", "plain values", "single tensor without grad"],
)
def test_no_input_requiring_grad_is_a_value_error(inputs):
    with pytest.raises(ValueError, match=r"requires_grad"):
        gradcheck(lambda *args: args[-1] * 2 if args else cr.tensor(1.0), inputs)


def test_fn_returning_no_tensor_is_a_value_error():
    with pytest.raises(ValueError, match=r"return a tensor"):
        gradcheck(lambda x: 3.0, [uniform(3)])


def test_throwaway_ops_are_removed_from_the_registry():
    # Runs after the tests above in file order: their fixtures must have cleaned up.
    assert not [name for name in REGISTRY if name.startswith(PREFIX)]


def test_full_jacobian_mode_catches_errors_a_single_projection_could_cancel(register_op):
    # d out[1]/d a[0] is off by +1 and d out[0]/d a[1] by -1: a random
    # weighting of the outputs would usually see it, but only entry-by-entry always does.
    def wrong(g, out, a):
        grad = 2 * g * a
        grad[0] += g[1]
        grad[1] -= g[0]
        return grad

    op = register_op(lambda a: a * a, wrong)
    with pytest.raises(GradcheckError, match=r"at index \(0,\), output element \(1,\)"):
        gradcheck(op, [uniform(2, seed=9)])


def test_full_jacobian_uses_one_backward_per_output_element():
    x = uniform(3, seed=10)
    fn = Counting(lambda a: cr.stack([a.sum(), (a * a).sum()]))
    assert gradcheck(fn, [x]) is True
    assert fn.calls == 1 + 2 * 3  # one recorded forward, two evaluations per input element
