"""The estimators' per-fit and per-epoch savings, each checked to change nothing.

A fit of a network shape seen before reuses that fit's compiled step (``_reuse``);
labels are typed once per fit; the epoch's shuffle is drawn in place. Each must give
the fit a fresh, plain run gives, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import load_diabetes, load_iris
from sklearn.preprocessing import LabelBinarizer, StandardScaler

import chainrule.sklearn._base as base
from chainrule.autodiff.compile import Compiled
from chainrule.sklearn import MLPClassifier, MLPRegressor, _callbacks, _estimators, _reuse

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def iris():
    x, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(x), y


@pytest.fixture(scope="module")
def diabetes():
    x, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(x)[:150], (y[:150] - y.mean()) / y.std()


@pytest.fixture
def traces(monkeypatch):
    """The number of traces compiled since the test began (a list to read at the end)."""
    count = [0]
    real = Compiled._trace

    def counting(self, *args):
        count[0] += 1
        return real(self, *args)

    monkeypatch.setattr(Compiled, "_trace", counting)
    return count


def _fitted(est):
    return [*est.coefs_, *est.intercepts_, np.asarray(est.loss_curve_)]


# (estimator, settings, data set): each kind of part the key must tell apart
CASES = [
    ("classifier", dict(), "iris"),
    ("classifier", dict(dtype=np.float64, batch_size=40), "iris"),
    ("classifier", dict(solver="sgd", learning_rate="adaptive"), "iris"),
    ("classifier", dict(solver="adamw", alpha=0.01), "iris"),
    ("classifier", dict(class_weight="balanced"), "iris"),
    ("classifier", dict(early_stopping=True, n_iter_no_change=3), "iris"),
    ("classifier", dict(activation="tanh", l1=1e-3), "iris"),
    ("regressor", dict(), "diabetes"),
    ("regressor", dict(loss="poisson", learning_rate_init=1e-4), "diabetes"),
]


@pytest.mark.parametrize(("kind", "settings", "data"), CASES)
def test_a_reused_step_gives_the_fresh_fit_bit_for_bit(kind, settings, data, request, traces):
    x, y = request.getfixturevalue(data)
    if settings.get("loss") == "poisson":
        y = np.abs(y)
    make = MLPClassifier if kind == "classifier" else MLPRegressor
    options = dict(hidden_layer_sizes=(7,), max_iter=12, random_state=3, **settings)
    _reuse.clear()
    fresh = make(**options).fit(x, y)
    first = traces[0]
    assert first >= 1 and len(_reuse._kept) == 1
    again = make(**options).fit(x, y)
    assert traces[0] == first  # the second fit traced nothing
    for a, b in zip(_fitted(fresh), _fitted(again), strict=True):
        np.testing.assert_array_equal(a, b)
    assert again.n_iter_ == fresh.n_iter_


def test_parts_are_kept_per_shape_and_taken_out_while_a_fit_runs(iris, monkeypatch):
    x, y = iris
    _reuse.clear()
    MLPClassifier(hidden_layer_sizes=(5,), max_iter=2).fit(x, y)
    MLPClassifier(hidden_layer_sizes=(6,), max_iter=2).fit(x, y)
    assert len(_reuse._kept) == 2  # two shapes, two entries
    seen = []

    class Spy(base.Trainer):
        def fit(self, *args, **kwargs):
            seen.append(len(_reuse._kept))  # this fit's parts are out of the store
            return super().fit(*args, **kwargs)

    monkeypatch.setattr(base, "Trainer", Spy)
    MLPClassifier(hidden_layer_sizes=(5,), max_iter=2).fit(x, y)
    assert seen == [1] and len(_reuse._kept) == 2


@pytest.mark.parametrize(
    "settings", [dict(dropout=0.2), dict(batch_norm=True)], ids=["dropout", "batch_norm"]
)
def test_networks_with_their_own_state_are_not_kept(settings, iris):
    x, y = iris
    _reuse.clear()
    MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, **settings).fit(x, y)
    assert not _reuse._kept


def test_a_failed_fit_keeps_nothing(iris):
    x, y = iris
    _reuse.clear()
    options = dict(solver="sgd", learning_rate_init=1e6, max_iter=50, random_state=0)
    with pytest.raises(ValueError, match="diverged at epoch"):
        MLPRegressor(**options).fit(x * 1e3, y * 1e3)
    assert not _reuse._kept


def test_large_networks_are_not_kept(iris, monkeypatch):
    x, y = iris
    _reuse.clear()
    monkeypatch.setattr(_reuse, "MAX_PARAMETERS", 4 * 5 + 5 + 5 * 3 + 3 - 1)
    MLPClassifier(hidden_layer_sizes=(5,), max_iter=2).fit(x, y)
    assert not _reuse._kept
    monkeypatch.setattr(_reuse, "MAX_PARAMETERS", 4 * 5 + 5 + 5 * 3 + 3)
    MLPClassifier(hidden_layer_sizes=(5,), max_iter=2).fit(x, y)
    assert len(_reuse._kept) == 1


def test_partial_fit_and_warm_start_after_a_reused_step(iris):
    """The first partial_fit may take kept parts; later ones load the optimizer state."""
    x, y = iris
    runs = []
    for clear in (True, False):
        if clear:
            _reuse.clear()
        est = MLPClassifier(hidden_layer_sizes=(5,), random_state=0, warm_start=True, max_iter=3)
        est.partial_fit(x, y, classes=np.unique(y)).partial_fit(x, y)
        est.fit(x, y)
        runs.append(_fitted(est))
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)


# -- labels typed once -------------------------------------------------------------------------
def test_one_type_of_target_call_per_fit(iris, monkeypatch):
    x, y = iris
    calls = []
    real = _estimators.type_of_target

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_estimators, "type_of_target", counting)
    MLPClassifier(hidden_layer_sizes=(5,), max_iter=2).fit(x, y)
    assert len(calls) == 1


# (labels, dtype): the binarizer's classes, their dtype, the indicator matrix and the
# inverse transform must be LabelBinarizer's
LABELS = [
    ([0, 1, 1, 0, 1], np.int64),
    ([3, -2, 3, 3, -2], np.int8),
    ([1, 2, 3, 2, 1, 3], np.int32),
    ([5, 9, 7, 9, 5], np.uint8),
    ([0.0, 1.0, 0.0, 2.0], np.float32),
    ([1.0, 2.0, 1.0, 2.0], np.float64),
    ([True, False, True], np.bool_),
]


@pytest.mark.parametrize(("labels", "dtype"), LABELS)
def test_fast_binarizer_is_label_binarizers_fit_and_transform(labels, dtype):
    y = np.asarray(labels, dtype=dtype)
    y_type = _estimators._classification_type(y)
    binarizer, Y = _estimators._binarized(y, y_type)
    reference = LabelBinarizer().fit(y)
    assert binarizer.y_type_ == reference.y_type_
    assert binarizer.classes_.dtype == reference.classes_.dtype
    np.testing.assert_array_equal(binarizer.classes_, reference.classes_)
    expected = reference.transform(y)
    assert Y.shape == expected.shape
    np.testing.assert_array_equal(Y, expected)
    scores = np.random.default_rng(0).random(Y.shape)
    np.testing.assert_array_equal(
        binarizer.inverse_transform(scores), reference.inverse_transform(scores)
    )


# targets left to LabelBinarizer itself
@pytest.mark.parametrize(
    "y",
    [np.array(["a", "b", "a"]), np.array([1, 1, 1]), np.array([[0, 1], [1, 0], [1, 1]])],
    ids=["strings", "one-class", "multilabel"],
)
def test_other_targets_take_label_binarizers_own_way(y):
    assert _estimators._binarized(y, _estimators._classification_type(y)) is None


@pytest.mark.parametrize(
    ("y", "message"),
    [(np.array([0.5, 1.25, 2.0, 0.75]), "Unknown label type: continuous"),
     (np.array([[0.5, 1.0], [0.25, 1.5]]), "Unknown label type: continuous-multioutput")],
)  # fmt: skip
def test_regression_targets_are_refused_as_sklearn_refuses_them(y, message):
    with pytest.raises(ValueError, match=message):
        _estimators._classification_type(y)


def test_many_classes_warn_as_check_classification_targets():
    with pytest.warns(UserWarning, match="number of unique classes is greater than 50%"):
        _estimators._classification_type(np.arange(30))


# -- the shuffle ----------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 150, 1437])
def test_shuffle_in_place_is_the_order_of_successive_permutations(n):
    mine = _callbacks.SklearnShuffle(np.random.RandomState(11))
    reference, order = np.random.RandomState(11), np.arange(n)
    for _ in range(5):
        order = order[reference.permutation(n)]
        np.testing.assert_array_equal(mine.permutation(n), order)
    assert mine.random_state.randint(2**30) == reference.randint(2**30)  # same draws
