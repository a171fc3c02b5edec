"""MLPClassifier and MLPRegressor: scikit-learn's MLP estimators, with more inside."""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from ._base import BaseMLP

# X may also be a scipy.sparse matrix (CSR or CSC): ArrayLike stands for both here.

_PARAMETERS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        The i-th element is the number of neurons in the i-th hidden layer.
    activation : {'identity', 'logistic', 'tanh', 'relu'} or list of them, default='relu'
        Hidden-layer activation; a list gives one per hidden layer.
    solver : {'lbfgs', 'sgd', 'adam', 'adamw', 'adagrad', 'rmsprop', 'adadelta'}, default='adam'
        'lbfgs' is scipy's L-BFGS-B on the whole data set, with scikit-learn's options
        and arithmetic, so one ``random_state`` gives its fit; the others are
        ``chainrule.optim`` optimizers (torch.optim's update rules) on mini-batches.
        'adadelta' usually wants ``learning_rate_init=1.0``.
    alpha : float, default=1e-4
        L2 strength: ``alpha / (2·Σweights_in_batch) · Σ‖W‖²`` is added to the loss
        (weights only, not biases), as in scikit-learn. With ``solver='adamw'`` it is
        AdamW's decoupled weight decay on the weights instead.
    batch_size : int or 'auto', default='auto'
        Mini-batch size; 'auto' is ``min(200, n_samples)``.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Step-size schedule, used by ``solver='sgd'`` only (as in scikit-learn).
    learning_rate_init : float, default=0.001
    power_t : float, default=0.5
        Exponent of 'invscaling': ``lr = learning_rate_init / (t + 1) ** power_t``.
    max_iter : int, default=200
        Epochs for the stochastic solvers; iterations for 'lbfgs'.
    shuffle : bool, default=True
    random_state : int, RandomState instance or None, default=None
        Weight initialization, shuffling, the validation split and dropout masks.
        Initialization and shuffling draw exactly what scikit-learn's MLP draws.
    tol : float, default=1e-4
    verbose : bool, default=False
        Print the loss of every epoch (and the validation score and loss).
    warm_start : bool, default=False
    momentum : float, default=0.9
    nesterovs_momentum : bool, default=True
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop when the monitored quantity
        (``early_stopping_monitor``) has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, and restore the weights of the best epoch.
    validation_fraction : float, default=0.1
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's (and AdamW's) betas and epsilon; epsilon also for Adagrad and RMSprop.
    n_iter_no_change : int, default=10
    max_fun : int, default=15000
        Most loss evaluations for 'lbfgs'.
    dropout : float or list of float, default=0.0
        Dropout probability after each hidden layer (one value, or one per layer).
    batch_norm : bool, default=False
        Batch normalization (torch.nn.BatchNorm1d) between each hidden Linear layer and
        its activation.
    l1 : float, default=0.0
        L1 strength, scaled like ``alpha``: ``l1 / Σweights_in_batch · Σ|W|``.
    early_stopping_monitor : {'val_score', 'val_loss'}, default='val_score'
        What early stopping watches: scikit-learn's validation score (accuracy or R²)
        or the validation loss (without the penalty terms).
    dtype : {numpy.float32, numpy.float64} or None, default=None
        Precision of the weights and of the arithmetic. None follows scikit-learn:
        float32 input is fitted in float32, anything else in float64.
        ``solver='lbfgs'`` trains in float64 whatever this is (scipy's L-BFGS-B needs a
        float64 loss) and then stores the weights in this dtype.
"""

_ATTRIBUTES_DOC = """
    Attributes
    ----------
    coefs_ : list of ndarray of shape (n_in, n_out)
        Weight matrices (the transpose of ``nn.Linear.weight``).
    intercepts_ : list of ndarray of shape (n_out,)
    bn_weights_, bn_biases_, bn_running_means_, bn_running_vars_ : list of ndarray
        Batch-norm parameters and running statistics per hidden layer (``batch_norm``).
    loss_ : float
        Training loss of the last epoch, penalties included.
    loss_curve_ : list of float
        ``loss_`` of every epoch (stochastic solvers).
    best_loss_ : float or None
        Lowest training loss (None with early stopping, as in scikit-learn).
    validation_scores_, validation_loss_curve_ : list of float or None
        Validation score and validation loss of every epoch (early stopping only).
    best_validation_score_, best_validation_loss_ : float or None
    n_iter_ : int
    t_ : int
        Training samples seen.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
    n_layers_ : int
    n_outputs_ : int
    out_activation_ : str
    fit_time_ : float
        Seconds spent in the last training loop (stochastic solvers).
"""


def _validated_xy(est: BaseMLP, X, y, incremental: bool, **checks):
    """X and y checked by scikit-learn (sparse X allowed, float32 kept), a column y made
    1-D."""
    X, y = validate_data(
        est,
        X,
        y,
        accept_sparse=["csr", "csc"],
        multi_output=True,
        dtype=(np.float64, np.float32),
        reset=not incremental or not hasattr(est, "coefs_"),
        **checks,
    )
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    return X, y


_CLASSIFICATION_TARGETS = ("binary", "multiclass", "multiclass-multioutput",
                           "multilabel-indicator", "multilabel-sequences")  # fmt: skip


def _classification_type(y) -> str:
    """``type_of_target(y)``, refused as ``check_classification_targets`` refuses it.

    The same check and messages, with the type kept: LabelBinarizer's ``fit`` and
    ``transform`` would ask ``type_of_target`` four more times (a quarter millisecond
    each), which :func:`_binarized` does not need.
    """
    y_type = type_of_target(y, input_name="y")
    if y_type not in _CLASSIFICATION_TARGETS:
        raise ValueError(
            f"Unknown label type: {y_type}. Maybe you are trying to fit a classifier, "
            "which expects discrete classes on a regression target with continuous values."
        )
    if "multiclass" in y_type:
        n_samples = y.shape[0]
        if n_samples > 20 and np.unique(y).shape[0] > round(0.5 * n_samples):
            warnings.warn(
                "The number of unique classes is greater than 50% of the number of "
                "samples. `y` could represent a regression problem, not a "
                "classification problem.",
                UserWarning,
                stacklevel=4,
            )
    return y_type


def _binarized(y: np.ndarray, y_type: str) -> tuple[LabelBinarizer, np.ndarray] | None:
    """``LabelBinarizer().fit(y)`` and its ``transform(y)`` (n, 1 or n_classes) for a
    1-D numeric binary or multiclass ``y`` whose type is known; None for other targets
    (strings, objects, one class, multilabel: the binarizer's own way then).

    The classes are ``np.unique(y)``, what ``unique_labels`` finds for such a target;
    the indicator columns are those ``label_binarize`` makes (0/1 integers).
    """
    if y_type not in ("binary", "multiclass") or y.ndim != 1 or y.dtype.kind not in "biuf":
        return None
    classes = np.unique(y)
    if y_type == "binary" and len(classes) != 2:
        return None
    binarizer = LabelBinarizer()
    binarizer.y_type_, binarizer.sparse_input_, binarizer.classes_ = y_type, False, classes
    if y_type == "binary":
        Y = (y == classes[1]).astype(int)[:, None]
    else:
        Y = (y[:, None] == classes[None, :]).astype(int)
    return binarizer, Y


def _sample_weights(sample_weight, X) -> np.ndarray | None:
    if sample_weight is None:
        return None
    return _check_sample_weight(sample_weight, X, dtype=np.float64)


def _network_output(est: BaseMLP, X: ArrayLike) -> np.ndarray:
    """The fitted network's output for X (checked against the fitted features)."""
    check_is_fitted(est)
    X = validate_data(
        est, X, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32), reset=False
    )
    return est._forward(X)


class MLPClassifier(ClassifierMixin, BaseMLP):
    class_weight: dict | str | None

    __doc__ = (
        """Multi-layer perceptron classifier: scikit-learn's MLPClassifier, trained by chainrule.

    Binary targets get one logistic output, multiclass targets a softmax, multilabel
    indicator matrices one logistic output per label; the loss is the log-loss.
    Adds dropout, batch normalization, L1, more solvers, class weights and early stopping
    on the validation loss to scikit-learn's parameters, which keep their meaning and
    defaults.
"""
        + _PARAMETERS_DOC
        + """    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes, multiplied into the sample weights
        (``sklearn.utils.class_weight.compute_sample_weight``).
"""
        + _ATTRIBUTES_DOC
        + """    classes_ : ndarray of shape (n_classes,)

    Examples
    --------
    >>> from chainrule.sklearn import MLPClassifier
    >>> clf = MLPClassifier(hidden_layer_sizes=(64,), dropout=0.1, random_state=0)
    >>> clf.fit(X, y).predict_proba(X[:3])  # doctest: +SKIP
"""
    )

    _loss = "log_loss"

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        batch_norm=False,
        l1=0.0,
        class_weight=None,
        early_stopping_monitor="val_score",
        dtype=None,
    ):
        self._keep_arguments(locals())

    def _out_activation(self, n_outputs: int) -> str:
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax"
        return "logistic"

    def _prepare_targets(self, X, y, sample_weight, incremental, classes):
        X, y = _validated_xy(self, X, y, incremental)
        y_type = _classification_type(y)
        Y = None
        if incremental and _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer().fit(self.classes_)
        if not hasattr(self, "classes_") or not (self.warm_start or incremental):
            binarized = _binarized(y, y_type)
            if binarized is None:
                self._label_binarizer = LabelBinarizer().fit(y)
            else:
                self._label_binarizer, Y = binarized
            self.classes_ = self._label_binarizer.classes_
        else:
            labels = unique_labels(y)
            if self.warm_start and not incremental and set(labels) != set(self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in the "
                    f"previous call to fit. Previously got {self.classes_}, `y` has {labels}"
                )
            if len(np.setdiff1d(labels, self.classes_, assume_unique=True)):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has "
                    f"{self.classes_}. 'y' has {labels}."
                )
        if Y is None:
            Y = self._label_binarizer.transform(y)
        sw = _sample_weights(sample_weight, X)
        if self.class_weight is not None:
            cw = compute_sample_weight(self.class_weight, y)
            sw = cw if sw is None else sw * cw
        return X, Y, sw

    def _stratify(self, Y):
        return Y if Y.shape[1] == 1 else None

    def _score_from_output(self, P, Y, sw) -> float:
        if P.shape[1] == 1 or self._label_binarizer.y_type_ == "multilabel-indicator":
            correct = ((P > 0.5) == (Y > 0.5)).all(axis=1)
        else:
            correct = P.argmax(axis=1) == Y.argmax(axis=1)
        return float(np.average(correct, weights=sw))

    def fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> MLPClassifier:
        """Fit the model to data matrix X and targets y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a label indicator matrix (multilabel).
        sample_weight : array-like of shape (n_samples,), default=None
            Each sample's weight in the (weighted-average) loss.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(lambda est: est._check_partial_fit_solver())
    def partial_fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        classes: ArrayLike | None = None,
    ) -> MLPClassifier:
        """One epoch over (X, y), keeping the weights and the optimizer's state.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array of shape (n_classes,), default=None
            Every class there will be; required on the first call, ignored later.

        Returns
        -------
        self
        """
        if self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predicted classes, shape (n_samples,) (or (n_samples, n_labels) for multilabel)."""
        P = _network_output(self, X)
        if self.n_outputs_ == 1:
            P = P.ravel()
        return self._label_binarizer.inverse_transform(P)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Probability of each class, shape (n_samples, n_classes), in ``classes_`` order."""
        P = _network_output(self, X)
        if self.n_outputs_ == 1:
            p = P.ravel()
            return np.vstack([1 - p, p]).T
        return P

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """Log of ``predict_proba``, shape (n_samples, n_classes)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.input_tags.sparse = True
        return tags

    def _save_extra(self, tensors, metadata) -> None:
        classes = np.asarray(self.classes_)
        metadata["y_type"] = self._label_binarizer.y_type_
        if classes.dtype.kind in "biuf":
            tensors["classes_"] = classes
            metadata["classes"] = None
        else:
            metadata["classes"] = [str(c) for c in classes]

    def _load_extra(self, tensors, metadata) -> None:
        if metadata.get("classes") is None:
            self.classes_ = np.array(tensors["classes_"])
        else:
            self.classes_ = np.asarray(metadata["classes"], dtype=object)
        if metadata["y_type"] == "multilabel-indicator":
            n = len(self.classes_)
            indicator = np.vstack([np.zeros(n, int), np.ones(n, int)])
            self._label_binarizer = LabelBinarizer().fit(indicator)
        else:
            self._label_binarizer = LabelBinarizer().fit(self.classes_)


class MLPRegressor(RegressorMixin, BaseMLP):
    loss: str
    huber_delta: float

    __doc__ = (
        """Multi-layer perceptron regressor: scikit-learn's MLPRegressor, trained by chainrule.

    Identity output (an exponential one for ``loss='poisson'``), one unit per target
    column; ``loss_`` is half the squared error for the default loss, as scikit-learn's.
"""
        + _PARAMETERS_DOC
        + """    loss : {'squared_error', 'absolute_error', 'huber', 'poisson'}, \
default='squared_error'
        Per-sample loss, summed over outputs and averaged (weighted) over samples:
        ½(ŷ−y)², |ŷ−y|, Huber with ``huber_delta``, or the half Poisson deviance with a
        log link (predictions ``exp(z)``).
    huber_delta : float, default=1.0
        Where the Huber loss turns from quadratic to linear.
"""
        + _ATTRIBUTES_DOC
    )

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        loss="squared_error",
        dropout=0.0,
        batch_norm=False,
        l1=0.0,
        huber_delta=1.0,
        early_stopping_monitor="val_score",
        dtype=None,
    ):
        self._keep_arguments(locals())

    @property
    def _loss(self) -> str:
        return self.loss

    def _huber_delta(self) -> float:
        return float(self.huber_delta)

    def _out_activation(self, n_outputs: int) -> str:
        return "exp" if self.loss == "poisson" else "identity"

    def _prepare_targets(self, X, y, sample_weight, incremental, classes):
        losses = ("squared_error", "absolute_error", "huber", "poisson")
        if self.loss not in losses:
            raise ValueError(f"loss expected one of {losses}, got {self.loss!r}")
        if not self.huber_delta > 0:
            raise ValueError(f"huber_delta expected a value > 0, got {self.huber_delta!r}")
        X, y = _validated_xy(self, X, y, incremental, y_numeric=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' needs non-negative targets y")
        return X, y.reshape(len(y), -1), _sample_weights(sample_weight, X)

    def _score_from_output(self, P, Y, sw) -> float:
        return float(r2_score(Y, P, sample_weight=sw))

    def fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> MLPRegressor:
        """Fit the model to data matrix X and targets y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(lambda est: est._check_partial_fit_solver())
    def partial_fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> MLPRegressor:
        """One epoch over (X, y), keeping the weights and the optimizer's state.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        if self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        return self._fit(X, y, sample_weight, incremental=True)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predictions, shape (n_samples,) or (n_samples, n_targets)."""
        P = _network_output(self, X)
        return P.ravel() if self.n_outputs_ == 1 else P
