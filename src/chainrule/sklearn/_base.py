"""What MLPClassifier and MLPRegressor share: parameters, the training loops, the state hooks."""

from __future__ import annotations

import itertools
import numbers
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .. import nn, optim
from ..train import DivergenceGuard, History, Trainer, TrainingDivergedError
from ..train.loop import use_distributed
from . import _callbacks, _model, _reuse
from ._lbfgs import minimize_lbfgs
from ._model import HIDDEN_ACTIVATIONS, Objective

STOCHASTIC_SOLVERS = ("sgd", "adam", "adagrad", "rmsprop", "adadelta", "adamw")
SOLVERS = ("lbfgs", *STOCHASTIC_SOLVERS)
MONITORS = ("val_score", "val_loss")
# Fitted attributes that hold arrays per layer, saved by ``_chainrule_save_state``.
_LAYER_LISTS = ("coefs_", "intercepts_", "bn_weights_", "bn_biases_", "bn_running_means_",
                "bn_running_vars_")  # fmt: skip
_SCALARS = ("loss_", "best_loss_", "best_validation_score_", "best_validation_loss_", "n_iter_",
            "t_", "n_features_in_", "n_layers_", "n_outputs_", "out_activation_")  # fmt: skip
_CURVES = ("loss_curve_", "validation_scores_", "validation_loss_curve_")


def _plain(value: Any) -> Any:
    """A parameter value as JSON has it: NumPy scalars and arrays become Python ones."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


class BaseMLP(BaseEstimator):
    """Shared machinery; see MLPClassifier and MLPRegressor for the parameters."""

    # The constructor's arguments, set by _keep_arguments (types as the docstrings say).
    hidden_layer_sizes: int | Sequence[int]
    activation: str | Sequence[str]
    solver: str
    alpha: float
    batch_size: int | str
    learning_rate: str
    learning_rate_init: float
    power_t: float
    max_iter: int
    shuffle: bool
    random_state: int | np.random.RandomState | None
    tol: float
    verbose: bool
    warm_start: bool
    momentum: float
    nesterovs_momentum: bool
    early_stopping: bool
    validation_fraction: float
    beta_1: float
    beta_2: float
    epsilon: float
    n_iter_no_change: int
    max_fun: int
    dropout: float | Sequence[float]
    batch_norm: bool
    l1: float
    early_stopping_monitor: str
    dtype: type[np.floating] | None

    # fitted state that mypy must know the type of (None: not kept by this solver)
    loss_curve_: list[float]
    validation_scores_: list[float] | None
    validation_loss_curve_: list[float] | None
    best_loss_: float | None
    best_validation_score_: float | None
    best_validation_loss_: float | None
    _optimizer_state: dict[str, Any] | None

    @property
    def _loss(self) -> str:
        """The loss's name: a class attribute or property of each subclass."""
        raise NotImplementedError(f"{type(self).__name__} names no loss")

    def _keep_arguments(self, arguments: dict[str, Any]) -> None:
        """Store each argument of the estimator's ``__init__`` (``arguments`` is its
        ``locals()``) under its own name, unchanged, as scikit-learn requires: its
        ``get_params`` reads them back by the signature's names, and ``fit`` validates."""
        for name in self._get_param_names():
            setattr(self, name, arguments[name])

    # -- parameters ------------------------------------------------------------------------
    def _hidden_sizes(self) -> list[int]:
        raw = self.hidden_layer_sizes
        # list[Any]: what the user gave, checked just below
        sizes: list[Any] = [raw] if isinstance(raw, (int, numbers.Integral)) else list(raw)
        if not all(isinstance(s, numbers.Integral) and int(s) > 0 for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be positive integers, got {self.hidden_layer_sizes!r}"
            )
        return [int(s) for s in sizes]

    def _per_hidden(self, name: str, value: Any, n_hidden: int) -> list:
        """A scalar option, or one value per hidden layer, as a list of length n_hidden."""
        if isinstance(value, (str, numbers.Real)):
            return [value] * n_hidden
        values = list(value)
        if len(values) != n_hidden:
            raise ValueError(
                f"{name} expected one value or {n_hidden} (one per hidden layer), "
                f"got {len(values)}: {value!r}"
            )
        return values

    def _validate_params(self) -> None:
        n_hidden = len(self._hidden_sizes())
        for act in self._per_hidden("activation", self.activation, n_hidden):
            if act not in HIDDEN_ACTIVATIONS:
                raise ValueError(f"activation expected one of {HIDDEN_ACTIVATIONS}, got {act!r}")
        for p in self._per_hidden("dropout", self.dropout, n_hidden):
            if not 0 <= p < 1:
                raise ValueError(f"dropout expected probabilities in [0, 1), got {self.dropout!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver expected one of {SOLVERS}, got {self.solver!r}")
        if self.learning_rate not in ("constant", "invscaling", "adaptive"):
            raise ValueError(
                "learning_rate expected 'constant', 'invscaling' or 'adaptive', "
                f"got {self.learning_rate!r}"
            )
        if self.early_stopping_monitor not in MONITORS:
            raise ValueError(
                f"early_stopping_monitor expected one of {MONITORS}, "
                f"got {self.early_stopping_monitor!r}"
            )
        checks = [
            ("alpha", self.alpha, 0, False),
            ("l1", self.l1, 0, False),
            ("learning_rate_init", self.learning_rate_init, 0, True),
            ("power_t", self.power_t, 0, False),
            ("tol", self.tol, 0, False),
            ("momentum", self.momentum, 0, False),
            ("epsilon", self.epsilon, 0, True),
        ]
        for name, value, low, strict in checks:
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"{name} expected a number, got {value!r}")
            if value < low or (strict and value == low):
                raise ValueError(
                    f"{name} expected a value {'>' if strict else '>='} 0, got {value}"
                )
        if self.momentum > 1:
            raise ValueError(f"momentum expected a value in [0, 1], got {self.momentum}")
        for name in ("beta_1", "beta_2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} expected a value in [0, 1), got {getattr(self, name)}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"validation_fraction expected a value in (0, 1), got {self.validation_fraction}"
            )
        for name in ("max_iter", "n_iter_no_change", "max_fun"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} expected a positive integer, got {value!r}")
        if self.batch_size != "auto" and (
            isinstance(self.batch_size, bool)
            or not isinstance(self.batch_size, numbers.Integral)
            or self.batch_size < 1
        ):
            raise ValueError(
                f"batch_size expected 'auto' or a positive integer, got {self.batch_size!r}"
            )
        if self.solver == "lbfgs" and any(
            p > 0 for p in self._per_hidden("dropout", self.dropout, n_hidden)
        ):
            raise ValueError("dropout needs a stochastic solver: L-BFGS needs a deterministic loss")
        if self.dtype is not None and np.dtype(self.dtype) not in (np.float32, np.float64):
            raise ValueError(f"dtype expected float32 or float64, got {self.dtype!r}")

    # -- network -------------------------------------------------------------------------
    def _storage_dtype(self, X) -> np.dtype:
        """The dtype of the fitted arrays and of training (L-BFGS aside).

        ``dtype`` when given; otherwise scikit-learn's convention: float32 input stays
        float32, anything else is float64. A fitted network keeps its dtype through
        ``warm_start`` and ``partial_fit``.
        """
        if self.dtype is not None:
            return np.dtype(self.dtype)
        return np.dtype(np.float32) if X.dtype == np.float32 else np.dtype(np.float64)

    def _initialize(
        self, n_features: int, n_outputs: int, rng: np.random.RandomState, dtype: np.dtype
    ) -> None:
        """Glorot-uniform weights and biases, drawn in scikit-learn's order, so that one
        ``random_state`` gives both libraries the same starting point."""
        sizes = [n_features, *self._hidden_sizes(), n_outputs]
        # sqrt(6 / (fan_in + fan_out)); 2 for logistic (Glorot & Bengio's σ variant)
        factor = 2.0 if self.activation == "logistic" else 6.0
        self.coefs_, self.intercepts_ = [], []
        for fan_in, fan_out in itertools.pairwise(sizes):
            bound = np.sqrt(factor / (fan_in + fan_out))
            self.coefs_.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype))
            self.intercepts_.append(rng.uniform(-bound, bound, fan_out).astype(dtype))
        if self.batch_norm:
            hidden = sizes[1:-1]
            self.bn_weights_ = [np.ones(h, dtype) for h in hidden]
            self.bn_biases_ = [np.zeros(h, dtype) for h in hidden]
            self.bn_running_means_ = [np.zeros(h, dtype) for h in hidden]
            self.bn_running_vars_ = [np.ones(h, dtype) for h in hidden]
        self.n_layers_ = len(sizes)
        self.n_outputs_ = n_outputs
        self.n_iter_ = 0
        self.t_ = 0
        self.out_activation_ = self._out_activation(n_outputs)
        if self.solver != "lbfgs":
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.validation_loss_curve_ = []
                self.best_validation_score_ = -np.inf
                self.best_validation_loss_ = np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.validation_loss_curve_ = None
                self.best_validation_score_ = None
                self.best_validation_loss_ = None

    def _model(
        self, dtype: np.dtype, rng: np.random.Generator | None = None, sklearn_layout: bool = False
    ) -> nn.Sequential:
        """The ``nn.Sequential`` the fitted arrays describe, in ``dtype``."""
        n_hidden = self.n_layers_ - 2
        bn = None
        if self.batch_norm and getattr(self, "bn_weights_", None) is not None:
            bn = (self.bn_weights_, self.bn_biases_, self.bn_running_means_, self.bn_running_vars_)
        return _model.build(
            self.coefs_,
            self.intercepts_,
            self._per_hidden("activation", self.activation, n_hidden),
            dtype,
            batch_norm=bn,
            dropout=[float(p) for p in self._per_hidden("dropout", self.dropout, n_hidden)],
            rng=rng,
            sklearn_layout=sklearn_layout,
        )

    def _store(self, model: nn.Sequential, dtype: np.dtype) -> None:
        """The trained model's arrays become the fitted attributes, in ``dtype``."""
        for name, arrays in _model.read_back(model, dtype).items():
            setattr(self, name, arrays)

    def _objective(self, model: nn.Sequential, weighted: bool) -> Objective:
        return _model.Objective(
            self._loss,
            self.out_activation_,
            _model.weight_tensors(model),
            # with AdamW, alpha is the optimizer's decoupled weight decay instead
            0.0 if self.solver == "adamw" else float(self.alpha),
            float(self.l1),
            self._huber_delta(),
            self.n_outputs_,
            weighted=weighted,
            constant=self._loss == "poisson",
        )

    def _forward(self, X) -> np.ndarray:
        """Inference: the output layer after its activation, (n_samples, n_outputs)."""
        check_is_fitted(self, "coefs_")
        dtype = self.coefs_[0].dtype
        z = _model.outputs(self._model(dtype), X, dtype)
        return _model.activate(self.out_activation_, z)

    def _huber_delta(self) -> float:
        return 1.0

    # -- fitting ---------------------------------------------------------------------------
    def _prepare_targets(self, X, y, sample_weight, incremental: bool, classes):
        """Validated X, the target matrix Y (n_samples, n_outputs) and sample weights."""
        raise NotImplementedError  # pragma: no cover

    def _fit(self, X, y, sample_weight=None, incremental: bool = False, classes=None):
        self._validate_params()
        first_call = not hasattr(self, "coefs_")
        X, Y, sw = self._prepare_targets(X, y, sample_weight, incremental, classes)
        fresh = first_call or not (self.warm_start or incremental)
        dtype = self._storage_dtype(X) if fresh else self.coefs_[0].dtype
        # L-BFGS computes in float64 whatever the storage (see _lbfgs)
        work = np.dtype(np.float64) if self.solver == "lbfgs" else dtype
        # sparse X is made dense: fit batches dense arrays
        X = np.asarray(X.toarray() if sp.issparse(X) else X, dtype=work)
        Y = np.asarray(Y, dtype=work)
        if sw is not None:
            sw = np.asarray(sw, dtype=work)
        if not fresh:
            expected = [X.shape[1], *self._hidden_sizes(), Y.shape[1]]
            actual = [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]
            if expected != actual:
                raise ValueError(
                    f"warm_start/partial_fit needs the layer sizes {actual} of the fitted "
                    f"network, got {expected}"
                )
        if fresh or not hasattr(self, "_random_state"):
            self._random_state = check_random_state(self.random_state)
        if fresh:
            self._initialize(X.shape[1], Y.shape[1], self._random_state, work)
            self._optimizer_state = None
        elif not incremental:
            # a warm-started fit keeps the weights but starts a fresh optimizer, as sklearn
            self._optimizer_state = None
        if self.solver == "lbfgs":
            model = self._model(work, sklearn_layout=True)
            objective = self._objective(model, weighted=sw is not None)
            minimize_lbfgs(self, model, objective, X, Y, sw)
            self._store(model, dtype)
        else:
            self._fit_stochastic(X, Y, sw, dtype, incremental)
        return self

    def _optimizer_options(self) -> dict[str, Any]:
        """The solver's options for ``optim.create`` (AdamW's weight decay aside)."""
        s = self.solver
        options: dict = {"lr": self.learning_rate_init}
        if s == "sgd":
            options["momentum"] = self.momentum
            options["nesterov"] = bool(self.nesterovs_momentum and self.momentum > 0)
        elif s != "adadelta":  # Adadelta keeps torch's own eps
            options["eps"] = self.epsilon
        if s in ("adam", "adamw"):
            options["betas"] = (self.beta_1, self.beta_2)
        return options

    def _make_optimizer(self, model: nn.Sequential) -> optim.Optimizer:
        """The solver's chainrule optimizer over the model's parameters (the solver names
        are ``optim.create``'s)."""
        params: list = list(model.parameters())
        s = self.solver
        options = self._optimizer_options()
        if s == "adamw":
            # alpha is AdamW's decoupled weight decay here, on the weight matrices only
            weights = _model.weight_tensors(model)
            rest = [p for p in params if all(p is not w for w in weights)]
            params = [{"params": weights, "weight_decay": self.alpha},
                      {"params": rest, "weight_decay": 0.0}]  # fmt: skip
        return optim.create(s, params, **options)

    def _batch_size(self, n: int) -> int:
        batch = min(200, n) if self.batch_size == "auto" else int(self.batch_size)
        if batch > n:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going to be "
                "clipped",
                stacklevel=4,
            )
        return int(np.clip(batch, 1, n))

    def _fit_stochastic(self, X, Y, sw, dtype: np.dtype, incremental: bool) -> None:
        """Mini-batch training through a ``Trainer``; stores the fitted arrays."""
        rs = self._random_state
        if not hasattr(self, "_no_improvement_count"):  # e.g. rebuilt by _chainrule_from_state
            self._no_improvement_count = 0
        validation = None
        if self.early_stopping and not incremental:
            split = train_test_split(
                X, Y, *([sw] if sw is not None else []),
                random_state=rs, test_size=self.validation_fraction, stratify=self._stratify(Y),
            )  # fmt: skip
            X, X_val, Y, Y_val = split[:4]
            if sw is not None:
                sw, sw_val = split[4], split[5]
            if X_val.shape[0] < 2:
                raise ValueError(
                    f"validation_fraction={self.validation_fraction} leaves "
                    f"{X_val.shape[0]} validation sample(s); early stopping needs at least 2"
                )
            validation = (X_val, Y_val, sw_val if sw is not None else None)
        n_hidden = self.n_layers_ - 2
        dropout = any(p > 0 for p in self._per_hidden("dropout", self.dropout, n_hidden))
        # dropout masks come from their own generators, so that the shuffling (and hence
        # the run without dropout) matches scikit-learn's for one random_state
        rng = np.random.default_rng(rs.randint(np.iinfo(np.int32).max)) if dropout else None
        state = getattr(self, "_optimizer_state", None)
        parallel = use_distributed(None)
        # a fresh start of a plain network on one process can take an earlier fit's parts
        reusable = not (dropout or self.batch_norm or parallel or state is not None)
        key = self._reuse_key(dtype, sw is not None) if reusable else None
        parts = _reuse.take(key) if key is not None else None
        if parts is None:
            model = self._model(dtype, rng)
            objective = self._objective(model, weighted=sw is not None)
            opt = self._make_optimizer(model)
            step = None
        else:
            model, opt, objective, step = parts
            _model.load(model, self.coefs_, self.intercepts_)
            opt.state.clear()  # the compiled step then starts Adam's (...) state afresh
        if state is not None:
            opt.load_state_dict(state)
        if not (incremental and self.solver == "sgd" and getattr(self, "_sgd_lr", None)):
            self._sgd_lr = self.learning_rate_init  # partial_fit continues SGD's schedule
        monitor = _callbacks.MLPMonitor(self, X.shape[0], validation, objective, dtype, incremental)
        if self.batch_norm and X.shape[0] == 1:
            raise ValueError(
                "fit cannot train a model with batch norm on a single sample: one row has "
                "no batch variance (give at least 2 rows)"
            )
        trainer = Trainer(
            model,
            opt,
            objective,
            callbacks=[History(), DivergenceGuard(), monitor],
            batch_size=self._batch_size(X.shape[0]),
            shuffle=self.shuffle,
            rng=_callbacks.SklearnShuffle(rs),
            distributed=parallel,
            step=step,
        )
        start = time.perf_counter()
        try:
            trainer.fit(
                X,
                objective.pack(Y, sw, dtype),
                epochs=1 if incremental else self.max_iter,
                batch_norm=self.batch_norm,
            )
        except TrainingDivergedError as error:
            # scikit-learn's callers expect a ValueError for unusable settings or data
            raise ValueError(f"{error} (or lower learning_rate_init, or scale X)") from error
        self.fit_time_ = time.perf_counter() - start
        self._optimizer_state = opt.state_dict()
        self._store(model, dtype)
        if key is not None:  # after _store: from now on another fit may write into them
            _reuse.keep(key, _reuse.Parts(model, opt, objective, trainer.step_fn))

    def _reuse_key(self, dtype: np.dtype, weighted: bool) -> tuple:
        """What the network, its objective and its optimizer are made of (``_reuse``): two
        fits with equal keys build equal parts, and trace the same steps."""
        n_hidden = self.n_layers_ - 2
        return (
            type(self),
            tuple(c.shape for c in self.coefs_),
            tuple(self._per_hidden("activation", self.activation, n_hidden)),
            np.dtype(dtype).str,
            self._loss,
            self.out_activation_,
            float(self.alpha),
            float(self.l1),
            self._huber_delta(),
            weighted,
            self.solver,
            tuple(sorted(self._optimizer_options().items())),
        )

    # -- save / load hooks for chainrule.save / chainrule.load ---------------------------------
    def _chainrule_save_state(self) -> tuple[dict[str, np.ndarray], dict]:
        """The fitted arrays and a JSON-able description, for ``chainrule.save``.

        Returns
        -------
        tensors : dict of str to ndarray
            ``coefs_.0``, ``intercepts_.0``, ... (and the batch-norm arrays), plus the
            curves and numeric ``classes_``.
        metadata : dict
            The estimator's class, its parameters (``get_params``) and the scalar
            fitted attributes.
        """
        check_is_fitted(self, "coefs_")
        tensors: dict[str, np.ndarray] = {}
        for name in _LAYER_LISTS:
            for i, array in enumerate(getattr(self, name, None) or []):
                tensors[f"{name}.{i}"] = np.ascontiguousarray(array)
        for name in _CURVES:
            value = getattr(self, name, None)
            if value is not None:
                tensors[name] = np.asarray(value, dtype=np.float64)
        params = {name: _plain(value) for name, value in self.get_params(deep=False).items()}
        params["dtype"] = None if self.dtype is None else np.dtype(self.dtype).name
        if not isinstance(params["random_state"], (numbers.Integral, type(None))):
            params["random_state"] = None  # a RandomState object is not JSON
        if isinstance(params.get("class_weight"), dict):
            # JSON objects have string keys only; the classes keep their type as pairs
            params["class_weight"] = {"pairs": [list(kv) for kv in params["class_weight"].items()]}
        scalars = {}
        for name in _SCALARS:
            value = getattr(self, name, None)
            if isinstance(value, np.generic):
                value = value.item()
            if isinstance(value, float) and not np.isfinite(value):
                value = str(value)  # JSON has no inf
            scalars[name] = value
        metadata = {
            "estimator": type(self).__name__,
            "params": params,
            "fitted": scalars,
            "feature_names_in": (
                [str(f) for f in self.feature_names_in_]
                if hasattr(self, "feature_names_in_")
                else None
            ),
        }
        self._save_extra(tensors, metadata)
        return tensors, metadata

    def _save_extra(self, tensors: dict, metadata: dict) -> None:
        """Subclass hook: classes and label encoding."""

    @classmethod
    def _chainrule_from_state(cls, tensors: dict[str, np.ndarray], metadata: dict):
        """Rebuild a fitted estimator from ``_chainrule_save_state``'s output."""
        if metadata.get("estimator") != cls.__name__:
            raise ValueError(
                f"{cls.__name__}._chainrule_from_state expected metadata of a "
                f"{cls.__name__}, got {metadata.get('estimator')!r}"
            )
        params = dict(metadata["params"])
        if params.get("dtype") is not None:
            params["dtype"] = np.dtype(params["dtype"]).type
        if isinstance(params.get("hidden_layer_sizes"), list):
            params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        if isinstance(params.get("class_weight"), dict):
            params["class_weight"] = {k: v for k, v in params["class_weight"]["pairs"]}
        est = cls(**params)
        for name, value in metadata["fitted"].items():
            if isinstance(value, str) and name != "out_activation_":
                value = float(value)
            if value is not None or name in ("best_loss_", "best_validation_score_"):
                setattr(est, name, value)
        for name in _LAYER_LISTS:
            arrays, i = [], 0
            while f"{name}.{i}" in tensors:
                arrays.append(np.array(tensors[f"{name}.{i}"]))
                i += 1
            if arrays:
                setattr(est, name, arrays)
        for name in _CURVES:
            if name in tensors:
                setattr(est, name, [float(v) for v in tensors[name]])
            elif name != "loss_curve_" and params.get("solver") != "lbfgs":
                setattr(est, name, None)
        if metadata.get("feature_names_in") is not None:
            est.feature_names_in_ = np.asarray(metadata["feature_names_in"], dtype=object)
        est._load_extra(tensors, metadata)
        return est

    def _load_extra(self, tensors: dict, metadata: dict) -> None:
        """Subclass hook: classes and label encoding."""

    def _stratify(self, Y):
        return None

    def _score_from_output(self, P, Y, sw) -> float:  # pragma: no cover
        raise NotImplementedError

    def _check_partial_fit_solver(self) -> bool:
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")  # fmt: skip
        return True
