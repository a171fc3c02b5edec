"""chainrule.sklearn's estimators: scikit-learn compatibility, equivalence and the extras."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import (
    load_diabetes,
    load_digits,
    load_iris,
    make_classification,
    make_multilabel_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import chainrule as cr
from chainrule.sklearn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def iris():
    x, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(x), y


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(x_tr)
    return scaler.transform(x_tr), scaler.transform(x_te), y_tr, y_te


@pytest.fixture(scope="module")
def diabetes():
    x, y = load_diabetes(return_X_y=True)
    x = StandardScaler().fit_transform(x)
    y = (y - y.mean()) / y.std()
    return train_test_split(x, y, test_size=0.25, random_state=0)


# -- equivalence with scikit-learn's MLP -----------------------------------------------------
def test_same_start_and_batches_as_sklearn_give_the_same_fit(digits):
    """One random_state: the same initial weights and batches, so (nearly) the same run."""
    x_tr, x_te, y_tr, y_te = digits
    settings = dict(hidden_layer_sizes=(32,), max_iter=15, random_state=0)
    ours = MLPClassifier(dtype=np.float64, **settings).fit(x_tr, y_tr)
    theirs = SkClassifier(**settings).fit(x_tr, y_tr)
    # Adam differs only in where epsilon enters (torch's form vs sklearn's)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-4)
    assert [a.shape for a in ours.coefs_] == [b.shape for b in theirs.coefs_]
    # (weights of the constant pixels move by weight decay alone, where Adam's epsilon
    # placement matters most, so compare what the networks compute)
    np.testing.assert_allclose(ours.predict_proba(x_te), theirs.predict_proba(x_te), atol=1e-2)
    assert ours.score(x_te, y_te) == pytest.approx(theirs.score(x_te, y_te), abs=0.01)


def test_sgd_matches_sklearn_update_for_update(iris):
    x, y = iris
    settings = dict(
        hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=0.05, max_iter=20,
        random_state=1, activation="tanh",
    )  # fmt: skip
    ours = MLPClassifier(dtype=np.float64, **settings).fit(x, y)
    theirs = SkClassifier(**settings).fit(x, y)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(ours.predict_proba(x), theirs.predict_proba(x), rtol=1e-8)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_similar_scores_to_sklearn(solver, iris, digits, diabetes):
    x, y = iris
    for est_a, est_b, data in [
        (MLPClassifier, SkClassifier, (x, x, y, y)),
        (MLPClassifier, SkClassifier, digits),
        (MLPRegressor, SkRegressor, diabetes),
    ]:
        x_tr, x_te, y_tr, y_te = data
        settings = dict(hidden_layer_sizes=(50,), solver=solver, max_iter=200, random_state=0)
        ours = est_a(**settings).fit(x_tr, y_tr).score(x_te, y_te)
        theirs = est_b(**settings).fit(x_tr, y_tr).score(x_te, y_te)
        assert ours >= theirs - 0.03, (est_a.__name__, ours, theirs)


@pytest.fixture(scope="module")
def binary():
    x, y = make_classification(n_samples=200, n_features=6, random_state=0)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(x_tr)
    return scaler.transform(x_tr), scaler.transform(x_te), y_tr, y_te


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    "case", ["iris_softmax", "binary_logistic", "diabetes_regression", "diabetes_weighted"]
)
def test_lbfgs_follows_sklearn_path(case, seed, request):
    """L-BFGS from one start: the same iterations, loss and scores as scikit-learn's.

    Regression test: the objective used to be computed in ``dtype`` (float32 by default)
    and in another order of operations; the float32 loss is coarser than scipy's
    stopping threshold and its line search saw rounded trial points, so the run left
    scikit-learn's after ~15 evaluations and, on the overfitting diabetes network,
    ended with held-out R² −0.78 against scikit-learn's −0.60.
    """
    name = case.split("_")[0]
    data = request.getfixturevalue(name)
    if name == "iris":
        x, y = data
        data = (x, x, y, y)
    x_tr, x_te, y_tr, y_te = data
    ours_cls, theirs_cls = (
        (MLPRegressor, SkRegressor) if name == "diabetes" else (MLPClassifier, SkClassifier)
    )
    weights = None
    if case.endswith("weighted"):
        weights = np.random.default_rng(seed).uniform(0.5, 2.0, len(x_tr))
    settings = dict(hidden_layer_sizes=(20,), solver="lbfgs", max_iter=50, random_state=seed)
    ours = ours_cls(**settings).fit(x_tr, y_tr, sample_weight=weights)
    theirs = theirs_cls(**settings).fit(x_tr, y_tr, sample_weight=weights)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-7)
    assert ours.score(x_te, y_te) == pytest.approx(theirs.score(x_te, y_te), abs=1e-5)
    # scikit-learn's dtype convention: float64 input, float64 fitted arrays
    assert all(c.dtype == np.float64 for c in ours.coefs_ + ours.intercepts_)
    pairs = zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True)
    for a, b in pairs:
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_lbfgs_trains_alike_in_float32_and_float64(diabetes):
    """``dtype`` is the storage and inference type; L-BFGS itself runs in float64."""
    x_tr, x_te, y_tr, _ = diabetes
    settings = dict(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=80, random_state=0)
    single = MLPRegressor(dtype=np.float32, **settings).fit(x_tr, y_tr)
    double = MLPRegressor(dtype=np.float64, **settings).fit(x_tr, y_tr)
    assert single.n_iter_ == double.n_iter_ == 80
    assert single.loss_ == double.loss_
    assert single.coefs_[0].dtype == np.float32 and double.coefs_[0].dtype == np.float64
    np.testing.assert_allclose(single.predict(x_te), double.predict(x_te), rtol=1e-4, atol=1e-5)


# -- scikit-learn tooling --------------------------------------------------------------------
def test_pipeline_grid_search_and_cross_val_score(iris):
    x, y = iris
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=100, random_state=0))
    scores = cross_val_score(pipe, x, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.85
    grid = GridSearchCV(
        MLPClassifier(max_iter=100, learning_rate_init=0.01, random_state=0),
        {"hidden_layer_sizes": [(8,), (32,)], "dropout": [0.0, 0.2]},
        cv=2,
    ).fit(x, y)
    assert set(grid.best_params_) == {"hidden_layer_sizes", "dropout"}
    assert grid.best_score_ > 0.8


def test_fitted_attributes_like_sklearn(digits):
    x_tr, _, y_tr, _ = digits
    ours = MLPClassifier(hidden_layer_sizes=(20, 10), max_iter=5, random_state=0).fit(x_tr, y_tr)
    theirs = SkClassifier(hidden_layer_sizes=(20, 10), max_iter=5, random_state=0).fit(x_tr, y_tr)
    for name in ("n_iter_", "t_", "n_features_in_", "n_layers_", "n_outputs_", "out_activation_"):
        assert getattr(ours, name) == getattr(theirs, name), name
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    assert [c.shape for c in ours.coefs_] == [c.shape for c in theirs.coefs_]
    assert [b.shape for b in ours.intercepts_] == [b.shape for b in theirs.intercepts_]
    assert len(ours.loss_curve_) == 5 and ours.best_loss_ == min(ours.loss_curve_)
    assert ours.validation_scores_ is None and ours.best_validation_score_ is None
    proba = ours.predict_proba(x_tr[:4])
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(ours.predict_log_proba(x_tr[:4]), np.log(proba), rtol=1e-5)


def test_convergence_warning_when_max_iter_is_reached(iris):
    x, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with pytest.raises(ConvergenceWarning, match="Maximum iterations"):
            MLPClassifier(max_iter=3, random_state=0).fit(x, y)
        # a loose tol stops early, without a warning
        est = MLPClassifier(max_iter=500, tol=1.0, n_iter_no_change=2, random_state=0).fit(x, y)
    # one epoch sets best_loss_, then three without progress (> n_iter_no_change) stop it
    assert est.n_iter_ == 4
    assert SkClassifier(max_iter=500, tol=1.0, n_iter_no_change=2).fit(x, y).n_iter_ == 4


def test_feature_names_in(iris):
    pd = pytest.importorskip("pandas")
    x, y = iris
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    est = MLPClassifier(max_iter=5, random_state=0).fit(frame, y)
    assert list(est.feature_names_in_) == ["a", "b", "c", "d"]


# -- targets ---------------------------------------------------------------------------------
def test_binary_multilabel_and_multioutput():
    x, y = make_classification(n_samples=200, n_features=6, random_state=0)
    binary = MLPClassifier(max_iter=200, random_state=0).fit(x, y)
    assert binary.out_activation_ == "logistic" and binary.n_outputs_ == 1
    assert binary.predict_proba(x).shape == (200, 2) and binary.score(x, y) > 0.9

    x, y = make_multilabel_classification(n_samples=200, n_classes=4, random_state=0)
    x = StandardScaler().fit_transform(x)
    multilabel = MLPClassifier(max_iter=300, random_state=0).fit(x, y)
    assert multilabel.out_activation_ == "logistic" and multilabel.n_outputs_ == 4
    assert multilabel.predict(x).shape == (200, 4)
    assert set(np.unique(multilabel.predict(x))) <= {0, 1}
    assert multilabel.score(x, y) > 0.5  # subset accuracy, as scikit-learn's

    x, y = make_regression(n_samples=200, n_features=5, n_targets=3, random_state=0)
    y = y / y.std()
    multi = MLPRegressor(max_iter=300, learning_rate_init=0.01, random_state=0).fit(x, y)
    assert multi.predict(x).shape == (200, 3) and multi.n_outputs_ == 3
    assert multi.score(x, y) > 0.9


def test_string_classes(iris):
    x, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    est = MLPClassifier(max_iter=100, random_state=0).fit(x, names)
    assert set(est.predict(x)) <= set(names) and est.score(x, names) > 0.8


# -- weights ---------------------------------------------------------------------------------
def _imbalanced():
    x, y = make_classification(
        n_samples=600, n_features=4, n_informative=2, weights=[0.9, 0.1], class_sep=0.5,
        flip_y=0.05, random_state=0,
    )  # fmt: skip
    return x, y


def test_class_weight_raises_recall_of_the_rare_class():
    x, y = _imbalanced()
    settings = dict(hidden_layer_sizes=(16,), max_iter=200, random_state=0)
    plain = MLPClassifier(**settings).fit(x, y)
    balanced = MLPClassifier(class_weight="balanced", **settings).fit(x, y)
    heavy = MLPClassifier(class_weight={0: 1.0, 1: 20.0}, **settings).fit(x, y)
    recall = [(m.predict(x)[y == 1] == 1).mean() for m in (plain, balanced, heavy)]
    assert recall[0] < recall[1] <= recall[2]
    assert recall[1] > 0.6
    # the mean predicted probability of the rare class rises with its weight
    share = [m.predict_proba(x)[:, 1].mean() for m in (plain, balanced, heavy)]
    assert share[0] < share[1] < share[2]


def test_sample_weight_pulls_the_regression_towards_the_heavy_samples():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 3))
    y = np.where(np.arange(300) < 150, 1.0, -1.0)  # two groups with different targets
    x[:, 0] = 0.0  # ... and nothing in X to tell them apart
    x[:, 1:] = 0.0
    weights = np.where(np.arange(300) < 150, 9.0, 1.0)
    settings = dict(hidden_layer_sizes=(4,), max_iter=300, learning_rate_init=0.01, random_state=0)
    plain = MLPRegressor(**settings).fit(x, y).predict(x[:1])[0]
    weighted = MLPRegressor(**settings).fit(x, y, sample_weight=weights).predict(x[:1])[0]
    assert abs(plain) < 0.1  # the unweighted mean is 0
    assert weighted == pytest.approx(0.8, abs=0.1)  # the weighted mean: (9 − 1) / 10


def test_integer_sample_weights_equal_repeated_rows_with_lbfgs():
    x, y = make_classification(n_samples=60, n_features=4, random_state=0)
    w = np.random.default_rng(0).integers(0, 3, 60)
    settings = dict(hidden_layer_sizes=(5,), solver="lbfgs", random_state=0, dtype=np.float64)
    a = MLPClassifier(**settings).fit(x, y, sample_weight=w)
    b = MLPClassifier(**settings).fit(np.repeat(x, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(a.predict_proba(x), b.predict_proba(x), rtol=1e-6, atol=1e-8)


# -- the extras ------------------------------------------------------------------------------
def _weight_norms(est):
    return np.sqrt(sum(float((c * c).sum()) for c in est.coefs_))


def test_l1_makes_weights_sparse_and_alpha_shrinks_them(digits):
    x_tr, _, y_tr, _ = digits
    settings = dict(hidden_layer_sizes=(32,), max_iter=40, random_state=0)
    plain = MLPClassifier(alpha=0.0, **settings).fit(x_tr, y_tr)
    l1 = MLPClassifier(alpha=0.0, l1=0.5, **settings).fit(x_tr, y_tr)
    l2 = MLPClassifier(alpha=5.0, **settings).fit(x_tr, y_tr)
    small = [np.mean(np.abs(np.concatenate([c.ravel() for c in m.coefs_])) < 1e-2)
             for m in (plain, l1)]  # fmt: skip
    assert small[1] > small[0] + 0.2
    assert _weight_norms(l2) < 0.8 * _weight_norms(plain)


def test_dropout_regularizes_and_changes_the_fit(digits):
    x_tr, x_te, y_tr, y_te = digits
    settings = dict(hidden_layer_sizes=(64,), max_iter=40, random_state=0)
    plain = MLPClassifier(**settings).fit(x_tr, y_tr)
    dropped = MLPClassifier(dropout=0.5, **settings).fit(x_tr, y_tr)
    # noisier training: a higher training loss, but the network still generalizes
    assert dropped.loss_ > 1.5 * plain.loss_
    assert dropped.score(x_te, y_te) > 0.9
    assert not np.allclose(plain.coefs_[0], dropped.coefs_[0])
    # and dropout is off at prediction time: predictions are deterministic
    np.testing.assert_array_equal(dropped.predict_proba(x_te), dropped.predict_proba(x_te))


def test_batch_norm_trains_a_deep_sigmoid_network_faster(digits):
    x_tr, x_te, y_tr, y_te = digits
    settings = dict(
        hidden_layer_sizes=(32, 32, 32, 32), activation="logistic", max_iter=15, random_state=0
    )
    plain = MLPClassifier(**settings).fit(x_tr, y_tr)
    normed = MLPClassifier(batch_norm=True, **settings).fit(x_tr, y_tr)
    assert normed.loss_ < 0.75 * plain.loss_
    assert normed.score(x_te, y_te) > plain.score(x_te, y_te)
    assert len(normed.bn_running_means_) == 4
    assert not np.allclose(normed.bn_running_means_[0], 0)


def test_per_layer_activations(iris):
    x, y = iris
    est = MLPClassifier(
        hidden_layer_sizes=(8, 8),
        activation=["tanh", "relu"],
        learning_rate_init=0.01,
        max_iter=200,
        random_state=0,
    ).fit(x, y)
    assert est.score(x, y) > 0.9
    with pytest.raises(ValueError, match="one per hidden layer"):
        MLPClassifier(hidden_layer_sizes=(8, 8), activation=["tanh"]).fit(x, y)


@pytest.mark.parametrize("solver", ["sgd", "adam", "adamw", "adagrad", "rmsprop", "adadelta"])
def test_every_stochastic_solver_reduces_the_loss(solver, iris):
    x, y = iris
    lr = {"adadelta": 1.0, "sgd": 0.1, "adagrad": 0.05}.get(solver, 0.01)
    est = MLPClassifier(
        hidden_layer_sizes=(16,), solver=solver, learning_rate_init=lr, max_iter=50,
        batch_size=32, random_state=0,
    ).fit(x, y)  # fmt: skip
    assert est.loss_curve_[-1] < 0.6 * est.loss_curve_[0]
    assert est.score(x, y) > 0.85


def test_lbfgs_reduces_the_loss(iris):
    x, y = iris
    est = MLPClassifier(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=100, random_state=0)
    est.fit(x, y)
    assert est.loss_ < 0.2 and est.score(x, y) > 0.95
    assert not hasattr(est, "partial_fit")


@pytest.mark.parametrize("loss", ["squared_error", "absolute_error", "huber", "poisson"])
def test_regression_losses(loss, diabetes):
    x_tr, x_te, y_tr, y_te = diabetes
    if loss == "poisson":
        y_tr, y_te = np.exp(y_tr), np.exp(y_te)  # positive counts-like targets
    est = MLPRegressor(
        hidden_layer_sizes=(32,), loss=loss, learning_rate_init=0.01, max_iter=100, random_state=0
    ).fit(x_tr, y_tr)
    assert est.out_activation_ == ("exp" if loss == "poisson" else "identity")
    assert est.loss_curve_[-1] < 0.8 * est.loss_curve_[0]
    assert est.score(x_tr, y_tr) > 0.5  # (on held-out data this network overfits, as sklearn's)
    if loss == "poisson":
        assert (est.predict(x_te) > 0).all()


def test_squared_error_loss_is_half_the_mse(diabetes):
    x_tr, _, y_tr, _ = diabetes
    est = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", alpha=0.0, max_iter=50,
                       random_state=0, dtype=np.float64).fit(x_tr, y_tr)  # fmt: skip
    half_mse = 0.5 * np.mean((est.predict(x_tr) - y_tr) ** 2)
    assert est.loss_ == pytest.approx(half_mse, rel=1e-6)


# -- early stopping, warm start, partial_fit ---------------------------------------------------
@pytest.mark.parametrize("monitor", ["val_score", "val_loss"])
def test_early_stopping_restores_the_best_weights(monitor, digits):
    x_tr, _, y_tr, _ = digits
    est = MLPClassifier(
        hidden_layer_sizes=(64,), learning_rate_init=0.01, early_stopping=True,
        early_stopping_monitor=monitor, n_iter_no_change=5, max_iter=300, random_state=0,
    ).fit(x_tr, y_tr)  # fmt: skip
    assert est.n_iter_ < 300
    assert len(est.validation_scores_) == len(est.validation_loss_curve_) == est.n_iter_
    curve = est.validation_loss_curve_ if monitor == "val_loss" else est.validation_scores_
    best_epoch = int(np.argmin(curve) if monitor == "val_loss" else np.argmax(curve))
    assert best_epoch < est.n_iter_ - 1  # it trained past its best epoch...
    # ... and came back: a run stopped right after the best epoch (same split, same
    # batches up to there) ends with exactly the restored weights
    params = {**est.get_params(), "max_iter": best_epoch + 1}
    short = MLPClassifier(**params).fit(x_tr, y_tr)
    assert short.n_iter_ == best_epoch + 1
    for a, b in zip(est.coefs_, short.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)
    if monitor == "val_score":
        assert est.best_validation_score_ == max(curve)
    else:
        assert est.best_validation_loss_ == min(curve)


def test_warm_start_continues_from_the_fitted_weights(iris):
    x, y = iris
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=10, warm_start=True, random_state=0)
    est.fit(x, y)
    first = est.loss_curve_[-1]
    coefs = [c.copy() for c in est.coefs_]
    est.fit(x, y)
    assert est.n_iter_ == 20 and len(est.loss_curve_) == 20
    assert est.loss_curve_[-1] < first
    assert not np.allclose(coefs[0], est.coefs_[0])
    cold = MLPClassifier(hidden_layer_sizes=(8,), max_iter=10, random_state=0).fit(x, y)
    assert cold.n_iter_ == 10
    with pytest.raises(ValueError, match="same classes"):
        est.fit(x[y < 2], y[y < 2])


def test_partial_fit_needs_classes_then_learns(iris):
    x, y = iris
    est = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes"):
        est.partial_fit(x, y)
    est.partial_fit(x[:50], y[:50], classes=np.array([0, 1, 2]))
    for _ in range(100):
        est.partial_fit(x, y)
    assert est.n_iter_ == 101 and est.score(x, y) > 0.9
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])
    reg = MLPRegressor(hidden_layer_sizes=(8,), learning_rate_init=0.01, random_state=0)
    for _ in range(50):
        reg.partial_fit(x[:, :3], x[:, 3])
    assert reg.score(x[:, :3], x[:, 3]) > 0.8


# -- save / load hooks -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "make",
    [
        lambda: (MLPClassifier(hidden_layer_sizes=(8, 4), batch_norm=True, max_iter=20), "iris"),
        lambda: (MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True, max_iter=20), "str"),
        lambda: (
            MLPClassifier(
                hidden_layer_sizes=np.array([6, 5]),
                activation=["tanh", "relu"],
                dropout=[0.1, 0],
                class_weight={np.int64(0): 2.0, 1: 1.0, 2: np.float64(0.5)},
                max_iter=20,
            ),
            "iris",
        ),
        lambda: (MLPClassifier(solver="lbfgs", max_iter=20, dtype=np.float64), "multilabel"),
        lambda: (MLPRegressor(hidden_layer_sizes=(8,), loss="poisson", max_iter=20), "reg"),
    ],
)
def test_save_state_round_trip(make, iris):
    import json

    est, kind = make()
    x, y = iris
    if kind == "str":
        y = np.array(["a", "b", "c"])[y]
    elif kind == "multilabel":
        y = np.stack([y == 0, y == 1, y > 0], axis=1).astype(int)
    elif kind == "reg":
        x, y = x[:, :3], np.exp(x[:, 3])
    est.set_params(random_state=0).fit(x, y)
    tensors, metadata = est._chainrule_save_state()
    json.dumps(metadata)  # JSON-able
    assert all(isinstance(v, np.ndarray) for v in tensors.values())
    clone = type(est)._chainrule_from_state(tensors, json.loads(json.dumps(metadata)))
    for name, value in est.get_params().items():
        if isinstance(value, np.ndarray):
            value = tuple(value.tolist())
        assert clone.get_params()[name] == value, name
    np.testing.assert_array_equal(clone.predict(x), est.predict(x))
    if hasattr(est, "predict_proba"):
        np.testing.assert_array_equal(clone.predict_proba(x), est.predict_proba(x))
        np.testing.assert_array_equal(clone.classes_, est.classes_)
    for name in ("n_iter_", "loss_", "n_layers_", "out_activation_", "n_features_in_"):
        assert getattr(clone, name) == getattr(est, name)
    # and the rebuilt estimator trains on (warm start)
    clone.set_params(warm_start=True, max_iter=2).fit(x, y)


def test_import_chainrule_does_not_import_sklearn():
    import subprocess
    import sys

    code = "import sys, chainrule; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert cr.sklearn.MLPClassifier is MLPClassifier


def test_sparse_input_gives_the_dense_fit(digits):
    import scipy.sparse as sp

    x_tr, x_te, y_tr, _ = digits
    x_tr = np.where(np.abs(x_tr) > 1, x_tr, 0.0)  # mostly zeros
    settings = dict(hidden_layer_sizes=(16,), max_iter=5, random_state=0, dtype=np.float64)
    dense = MLPClassifier(**settings).fit(x_tr, y_tr)
    for kind in (sp.csr_matrix, sp.csc_matrix):
        sparse = MLPClassifier(**settings).fit(kind(x_tr), y_tr)
        np.testing.assert_allclose(sparse.loss_curve_, dense.loss_curve_, rtol=1e-10)
        np.testing.assert_allclose(
            sparse.predict_proba(kind(x_te)), dense.predict_proba(x_te), rtol=1e-9
        )
    reg = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=20, random_state=0)
    reg.fit(sp.csr_matrix(x_tr), y_tr.astype(float))
    assert reg.predict(sp.csr_matrix(x_te)).shape == (len(x_te),)


def test_verbose_prints_each_epoch(iris, capsys):
    x, y = iris
    MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, verbose=True, random_state=0).fit(x, y)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Iteration 1, loss = ") and len(lines) == 3


def test_sgd_learning_rate_schedules(iris):
    x, y = iris
    common = dict(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=0.5, random_state=0)
    adaptive = MLPClassifier(
        learning_rate="adaptive", tol=1e-2, n_iter_no_change=2, max_iter=200, **common
    ).fit(x, y)
    assert adaptive._sgd_lr < 0.5  # divided by 5 at least once
    # the same run with a constant rate stops at the first stall instead
    constant = MLPClassifier(tol=1e-2, n_iter_no_change=2, max_iter=200, **common).fit(x, y)
    assert adaptive.n_iter_ > constant.n_iter_
    inv = MLPClassifier(learning_rate="invscaling", power_t=0.25, max_iter=30, **common).fit(x, y)
    assert inv._sgd_lr == pytest.approx(0.5 / (inv.t_ + 1) ** 0.25)
    assert inv.loss_curve_[-1] < inv.loss_curve_[0]


def test_lbfgs_respects_max_fun(iris):
    x, y = iris
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        est = MLPClassifier(solver="lbfgs", max_fun=5, random_state=0).fit(x, y)
    assert est.n_iter_ <= 5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_of_weights_and_outputs(dtype, iris):
    x, y = iris
    est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, dtype=dtype, random_state=0).fit(x, y)
    assert all(c.dtype == dtype for c in est.coefs_ + est.intercepts_)
    assert est.predict_proba(x).dtype == dtype


def test_invalid_parameters_name_the_argument(iris):
    x, y = iris
    for params, match in [
        (dict(solver="lbfgs", dropout=0.5), "dropout"),
        (dict(dropout=1.0), "dropout"),
        (dict(activation="softsign"), "activation"),
        (dict(early_stopping_monitor="val_acc"), "early_stopping_monitor"),
        (dict(hidden_layer_sizes=(4, 0)), "hidden_layer_sizes"),
        (dict(solver="nadam"), "solver"),
    ]:
        with pytest.raises(ValueError, match=match):
            MLPClassifier(**params).fit(x, y)
    with pytest.raises(ValueError, match="loss"):
        MLPRegressor(loss="hinge").fit(x, y)
    with pytest.raises(ValueError, match="early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(x, y, classes=[0, 1, 2])


def test_early_stopping_matches_sklearn_split_and_scores():
    """Same validation split (stratified for binary targets), same scores, same stop."""
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    x = StandardScaler().fit_transform(x)
    settings = dict(
        hidden_layer_sizes=(16,), early_stopping=True, solver="sgd", learning_rate_init=0.05,
        max_iter=50, random_state=0,
    )  # fmt: skip
    ours = MLPClassifier(dtype=np.float64, **settings).fit(x, y)
    theirs = SkClassifier(**settings).fit(x, y)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_)
    np.testing.assert_allclose(ours.predict_proba(x), theirs.predict_proba(x), atol=1e-10)


def test_lbfgs_with_batch_norm_ends_with_the_data_statistics(iris):
    x, y = iris
    est = MLPClassifier(
        hidden_layer_sizes=(6,), solver="lbfgs", batch_norm=True, max_iter=50, random_state=0,
        dtype=np.float64,
    ).fit(x, y)  # fmt: skip
    h = x @ est.coefs_[0] + est.intercepts_[0]
    np.testing.assert_allclose(est.bn_running_means_[0], h.mean(axis=0), atol=1e-10)
    np.testing.assert_allclose(est.bn_running_vars_[0], h.var(axis=0, ddof=1), rtol=1e-10)
    assert est.score(x, y) > 0.95


@pytest.mark.parametrize("target", ["multiclass", "strings", "bool", "multilabel", "regression"])
def test_chainrule_save_and_load_fitted_estimators(target, iris, tmp_path):
    pytest.importorskip("safetensors")
    x, y = iris
    est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, batch_norm=True, random_state=0)
    if target == "strings":
        y = np.array(["setosa", "versicolor", "virginica"])[y]
    elif target == "bool":
        y = y == 1
    elif target == "multilabel":
        y = np.stack([y == 0, y == 1, y > 0], axis=1).astype(int)
    elif target == "regression":
        est = MLPRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0)
        x, y = x[:, :3], x[:, 3]
    est.fit(x, y)
    path = tmp_path / "estimator.safetensors"
    cr.save(est, path)
    back = cr.load(path)
    assert type(back) is type(est)
    np.testing.assert_array_equal(back.predict(x), est.predict(x))
    if target != "regression":
        np.testing.assert_array_equal(back.predict_proba(x), est.predict_proba(x))


@pytest.mark.parametrize("kind", ["arrow", "pandas", "polars"])
def test_estimators_take_frames_and_keep_column_names(kind):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = (X[:, 0] > 0).astype(int)
    names = ["height", "width", "depth"]
    if kind == "arrow":
        pa = pytest.importorskip("pyarrow")
        frame = pa.table({n: X[:, j] for j, n in enumerate(names)})
    elif kind == "pandas":
        pd = pytest.importorskip("pandas")
        frame = pd.DataFrame(X, columns=names)
    else:
        pl = pytest.importorskip("polars")
        frame = pl.DataFrame({n: X[:, j] for j, n in enumerate(names)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        on_frame = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(frame, y)
        on_array = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, y)
        reg = MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(frame, X[:, 1])
    assert list(on_frame.feature_names_in_) == names
    assert list(reg.feature_names_in_) == names
    assert not hasattr(on_array, "feature_names_in_")
    np.testing.assert_array_equal(on_frame.predict_proba(frame), on_array.predict_proba(X))
    assert reg.predict(frame).shape == (40,)


# -- built on the engine -----------------------------------------------------------------------
def test_the_estimator_is_an_nn_sequential_trained_by_fit(iris, monkeypatch):
    """The estimators build chainrule layers and train through the Trainer (no own
    backprop)."""
    import chainrule.nn as nn
    import chainrule.sklearn._base as base

    x, y = iris
    calls = []

    class Spy(base.Trainer):
        def fit(self, x, y, *, epochs, **kwargs):
            calls.append((self.model, epochs, self.batch_size))
            return super().fit(x, y, epochs=epochs, **kwargs)

    monkeypatch.setattr(base, "Trainer", Spy)
    est = MLPClassifier(
        hidden_layer_sizes=(6, 5), activation=["tanh", "relu"], dropout=[0.1, 0.0],
        batch_norm=True, max_iter=3, batch_size=50, random_state=0,
    ).fit(x, y)  # fmt: skip
    ((model, epochs, batch),) = calls
    assert (epochs, batch) == (3, 50)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Linear", "BatchNorm1d", "Tanh", "Dropout", "Linear", "BatchNorm1d",
                     "ReLU", "Linear"]  # fmt: skip
    # the fitted attributes are the model's arrays, scikit-learn's (n_in, n_out) layout
    np.testing.assert_array_equal(est.coefs_[1], model[4].weight.data.T)
    np.testing.assert_array_equal(est.bn_running_means_[0], model[1].running_mean.data)
    assert isinstance(est._model(np.float64), nn.Sequential)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_dtype_follows_the_input_as_in_sklearn(solver, iris):
    x, y = iris
    settings = dict(hidden_layer_sizes=(4,), solver=solver, max_iter=3, random_state=0)
    single = MLPClassifier(**settings).fit(x.astype(np.float32), y)
    double = MLPClassifier(**settings).fit(x, y)
    ints = MLPRegressor(**settings).fit(np.round(x * 10).astype(np.int64), x[:, 0])
    assert all(c.dtype == np.float32 for c in single.coefs_ + single.intercepts_)
    assert all(c.dtype == np.float64 for c in double.coefs_ + double.intercepts_)
    assert ints.coefs_[0].dtype == np.float64
    assert single.predict_proba(x.astype(np.float32)).dtype == np.float32
    # a fitted network keeps its dtype through partial_fit / warm_start
    double.set_params(warm_start=True).fit(x.astype(np.float32), y)
    assert double.coefs_[0].dtype == np.float64


def test_partial_fit_continues_the_optimizer_state(iris):
    x, y = iris
    est = MLPClassifier(hidden_layer_sizes=(4,), batch_size=50, random_state=0)
    est.partial_fit(x, y, classes=[0, 1, 2])
    est.partial_fit(x, y)
    # Adam's step count goes on from call to call: 3 batches per epoch, two epochs
    steps = {int(s["step"]) for s in est._optimizer_state["state"].values()}
    assert steps == {6}
    assert est.n_iter_ == 2 and est.t_ == 300


def test_early_stopping_with_sample_weights_uses_weighted_validation(iris):
    x, y = iris
    w = np.where(y == 0, 3.0, 1.0)
    est = MLPClassifier(
        hidden_layer_sizes=(8,), early_stopping=True, max_iter=30, learning_rate_init=0.01,
        random_state=0,
    ).fit(x, y, sample_weight=w)  # fmt: skip
    assert len(est.validation_scores_) == est.n_iter_
    assert 0 <= est.best_validation_score_ <= 1 and est.best_validation_loss_ > 0


def test_divergence_raises_a_value_error_naming_the_epoch(iris):
    x, y = iris
    with pytest.raises(ValueError, match="diverged at epoch") as info:
        MLPRegressor(solver="sgd", learning_rate_init=1e6, max_iter=50, random_state=0).fit(
            x * 1e3, y * 1e3
        )
    assert isinstance(info.value.__cause__, cr.train.TrainingDivergedError)
