"""StandardScaler: scikit-learn's numbers, constant features, storage round trip, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import StandardScaler


def _data(dtype=np.float64):
    rng = np.random.default_rng(0)
    x = rng.normal(loc=[0.0, 5.0, -3.0, 100.0], scale=[1.0, 0.1, 10.0, 1e-3], size=(200, 4))
    x = np.hstack([x, np.full((200, 1), 7.0)])  # a constant feature
    return x.astype(dtype)


def test_hand_computed_values():
    x = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]])
    scaler = StandardScaler().fit(x)
    np.testing.assert_allclose(scaler.mean_, [2.0, 1.0])
    np.testing.assert_allclose(scaler.var_, [8 / 3, 0.0])
    np.testing.assert_allclose(scaler.scale_, [np.sqrt(8 / 3), 1.0])  # constant -> 1
    assert scaler.n_features_in_ == 2 and scaler.n_samples_seen_ == 3
    z = scaler.transform(x)
    np.testing.assert_allclose(z[:, 0], np.array([-2.0, 0.0, 2.0]) / np.sqrt(8 / 3))
    np.testing.assert_array_equal(z[:, 1], 0.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("with_mean", "with_std"), [(True, True), (False, True), (True, False)])
def test_equals_sklearn(dtype, with_mean, with_std):
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    x = _data(dtype)
    ours = StandardScaler(with_mean=with_mean, with_std=with_std)
    theirs = preprocessing.StandardScaler(with_mean=with_mean, with_std=with_std)
    z_ours, z_theirs = ours.fit_transform(x), theirs.fit_transform(x)
    assert z_ours.dtype == z_theirs.dtype == dtype
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(z_ours, z_theirs, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(ours.mean_, theirs.mean_, rtol=1e-12)
    if with_std:
        np.testing.assert_allclose(ours.scale_, theirs.scale_, rtol=1e-12)
        np.testing.assert_allclose(ours.var_, theirs.var_, rtol=1e-12)
    else:
        assert ours.scale_ is None and theirs.scale_ is None
    np.testing.assert_allclose(
        ours.inverse_transform(z_ours), theirs.inverse_transform(z_theirs), rtol=rtol, atol=rtol
    )


def test_inverse_transform_round_trips_and_input_is_untouched():
    x = _data()
    before = x.copy()
    scaler = StandardScaler()
    z = scaler.fit_transform(x)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(scaler.inverse_transform(z), x, rtol=1e-12)
    np.testing.assert_allclose(z[:, :4].mean(axis=0), 0.0, atol=1e-9)  # 100 ± 1e-3: cancellation
    np.testing.assert_allclose(z[:, :4].std(axis=0), 1.0, rtol=1e-9)


def test_nearly_constant_feature_counts_as_constant():
    # 1e8 + rounding noise: sklearn's bound calls this constant rather than scaling noise up.
    x = np.full((100, 1), 1e8) + np.tile([0.0, 1e-8], 50)[:, None]
    assert StandardScaler().fit(x).scale_[0] == 1.0


def test_integers_and_tensors_become_the_default_float():
    scaler = StandardScaler().fit(np.array([[1, 2], [3, 4]]))
    assert scaler.transform(np.array([[1, 2]])).dtype == cr.get_default_dtype()
    z = StandardScaler().fit_transform(cr.tensor([[1.0], [3.0]]))
    np.testing.assert_allclose(z, [[-1.0], [1.0]])


def test_to_dict_from_dict_round_trip_through_json():
    x = _data()
    scaler = StandardScaler().fit(x)
    state = scaler.to_dict()
    restored = StandardScaler.from_dict(json.loads(json.dumps(state)))
    np.testing.assert_array_equal(restored.mean_, scaler.mean_)  # bit for bit
    np.testing.assert_array_equal(restored.scale_, scaler.scale_)
    np.testing.assert_array_equal(restored.transform(x), scaler.transform(x))
    assert restored.n_features_in_ == 5 and restored.n_samples_seen_ == 200
    # Arrays (as read back from a safetensors file) are accepted too.
    arrays = dict(state, mean=np.array(state["mean"]), scale=np.array(state["scale"]))
    np.testing.assert_array_equal(
        StandardScaler.from_dict(arrays).transform(x), scaler.transform(x)
    )
    no_std = StandardScaler(with_std=False).fit(x)
    again = StandardScaler.from_dict(json.loads(json.dumps(no_std.to_dict())))
    assert again.scale_ is None and not again.with_std
    np.testing.assert_array_equal(again.transform(x), no_std.transform(x))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mean": [0.0, 1.0]}, r"'mean' of shape \(5,\), got \(2,\)"),
        ({"scale": [1.0, 1.0, 0.0, 1.0, 1.0]}, "positive finite values in 'scale'"),
        ({"mean": [0.0, float("nan"), 0, 0, 0]}, "finite values in 'mean'"),
        ({"n_features_in": -1}, "n_features_in to be a positive int"),
        ({"type": "MinMaxScaler"}, "type 'StandardScaler'"),
        ({"scale": None}, "expected 'scale', got None"),
    ],
)
def test_from_dict_rejects_bad_state(change, message):
    state = dict(StandardScaler().fit(_data()).to_dict(), **change)
    with pytest.raises(ValueError, match=message):
        StandardScaler.from_dict(state)


def test_from_dict_missing_keys():
    with pytest.raises(ValueError, match="missing keys"):
        StandardScaler.from_dict({"with_mean": True})
    with pytest.raises(TypeError, match="expected a dict"):
        StandardScaler.from_dict([1, 2])


def test_errors():
    scaler = StandardScaler().fit(np.zeros((3, 64)))
    with pytest.raises(ValueError, match="StandardScaler was fitted on 64 features, got 63"):
        scaler.transform(np.zeros((2, 63)))
    with pytest.raises(ValueError, match="fitted on 64 features, got 63"):
        scaler.inverse_transform(np.zeros((2, 63)))
    with pytest.raises(ValueError, match="finite values, got nan at row 1, column 2"):
        bad = np.zeros((3, 64))
        bad[1, 2] = np.nan
        scaler.transform(bad)
    with pytest.raises(ValueError, match="finite values, got inf"):
        StandardScaler().fit(np.array([[1.0], [np.inf]]))
    with pytest.raises(ValueError, match=r"2-D array.*got shape \(5,\)"):
        StandardScaler().fit(np.zeros(5))
    with pytest.raises(ValueError, match="at least one sample"):
        StandardScaler().fit(np.zeros((0, 3)))
    with pytest.raises(RuntimeError, match="before fit"):
        StandardScaler().transform(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="numbers"):
        StandardScaler().fit(np.array([["a"], ["b"]]))


# -- values near the float64 limits: the plain formulas overflow (mean to inf, var to inf)
@pytest.mark.parametrize("value", [1e200, 1.5e308, -1.7e308])
def test_huge_values_are_standardized_without_overflow(value):
    x = np.array([[value, 1.0], [value / 2, 2.0], [0.0, 3.0]])
    with np.errstate(all="raise"):
        scaler = StandardScaler().fit(x)
        z = scaler.transform(x)
    # Column 0 is value·[1, 1/2, 0]: mean value/2, standard deviation |value|·√(1/6).
    np.testing.assert_allclose(scaler.mean_, [value / 2, 2.0], rtol=1e-15)
    np.testing.assert_allclose(scaler.scale_, [abs(value) / np.sqrt(6), np.sqrt(2 / 3)], rtol=1e-14)
    sign = np.sign(value)
    np.testing.assert_allclose(z[:, 0], sign * np.sqrt(1.5) * np.array([1.0, 0.0, -1.0]))
    np.testing.assert_allclose(z[:, 1], [-(1.5**0.5), 0.0, 1.5**0.5])
    back = scaler.inverse_transform(z)
    np.testing.assert_allclose(back, x, rtol=1e-14, atol=abs(value) * 1e-15)
    # The variance itself (above 1.8e308) is inf; the stored form leaves it out.
    assert scaler.var_[0] == np.inf
    state = json.loads(json.dumps(scaler.to_dict(), allow_nan=False))
    assert state["var"] is None
    np.testing.assert_array_equal(StandardScaler.from_dict(state).transform(x), z)


def test_values_at_both_float64_limits():
    # x − mean overflows here (1.7e308 + 5.7e307): transform divides first.
    x = np.array([[1.7e308], [-1.7e308], [-1.7e308]])
    with np.errstate(all="raise"):
        z = StandardScaler().fit_transform(x)
    np.testing.assert_allclose(z[:, 0], [np.sqrt(2), -np.sqrt(0.5), -np.sqrt(0.5)], rtol=1e-14)


def test_huge_constant_and_tiny_columns():
    x = np.array([[1.5e308, 1e-170], [1.5e308, 2e-170], [1.5e308, 3e-170]])
    with np.errstate(all="raise"):
        scaler = StandardScaler().fit(x)
        z = scaler.transform(x)
    assert scaler.scale_[0] == 1.0  # constant: mapped to 0, not divided by ~0
    np.testing.assert_array_equal(z[:, 0], 0.0)
    # The variance 6.7e-341 underflows; the scale does not, so the column is not lost.
    np.testing.assert_allclose(scaler.scale_[1], 1e-170 * np.sqrt(2 / 3), rtol=1e-14)
    np.testing.assert_allclose(z[:, 1], [-(1.5**0.5), 0.0, 1.5**0.5], rtol=1e-14)


def test_float32_values_near_their_limit():
    x = np.array([[3.4e38], [-3.4e38], [-3.4e38]], dtype=np.float32)
    with np.errstate(all="raise"):
        z = StandardScaler().fit_transform(x)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z[:, 0], [np.sqrt(2), -np.sqrt(0.5), -np.sqrt(0.5)], rtol=1e-6)


def test_ordinary_values_keep_the_plain_formulas_bit_for_bit():
    x = _data()
    scaler = StandardScaler().fit(x)
    mean = x.mean(axis=0)
    np.testing.assert_array_equal(scaler.mean_, mean)
    np.testing.assert_array_equal(scaler.var_, np.square(x - mean).mean(axis=0))
