"""What MLPClassifier and MLPRegressor share: parameters, the training loops, the state hooks."""

from __future__ import annotations

import itertools
import numbers
import time
import warnings
from typing import Any

import numpy as np
import scipy
import scipy.sparse as sp
from scipy.optimize import minimize
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .. import optim
from ..autodiff import Tensor
from ._network import (
    BN_EPS,
    BN_MOMENTUM,
    HIDDEN_ACTIVATIONS,
    Cache,
    Network,
    activate,
    mean_loss,
    output_delta,
)

STOCHASTIC_SOLVERS = ("sgd", "adam", "adagrad", "rmsprop", "adadelta", "adamw")
SOLVERS = ("lbfgs", *STOCHASTIC_SOLVERS)
MONITORS = ("val_score", "val_loss")
# Fitted attributes that hold arrays per layer, saved by ``_chainrule_save_state``.
_LAYER_LISTS = ("coefs_", "intercepts_", "bn_weights_", "bn_biases_", "bn_running_means_",
                "bn_running_vars_")  # fmt: skip
_SCALARS = ("loss_", "best_loss_", "best_validation_score_", "best_validation_loss_", "n_iter_",
            "t_", "n_features_in_", "n_layers_", "n_outputs_", "out_activation_")  # fmt: skip
_CURVES = ("loss_curve_", "validation_scores_", "validation_loss_curve_")


_SCIPY_VERSION = tuple(int(part) for part in scipy.__version__.split(".")[:2])


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


def _as_input(X, dtype: np.dtype):
    """X in the estimator's dtype: a C-ordered array, or CSR for sparse input (row slicing)."""
    if sp.issparse(X):
        return X.tocsr().astype(dtype, copy=False)
    return np.asarray(X, dtype=dtype)


class BaseMLP(BaseEstimator):
    """Shared machinery; see MLPClassifier and MLPRegressor for the parameters."""

    _loss: str  # set by the subclass

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
        early_stopping_monitor="val_score",
        dtype=np.float32,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.l1 = l1
        self.early_stopping_monitor = early_stopping_monitor
        self.dtype = dtype

    # -- parameters ------------------------------------------------------------------------
    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral):
            sizes = [sizes]
        sizes = list(sizes)
        if not all(isinstance(s, numbers.Integral) and s > 0 for s in sizes):
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
        if np.dtype(self.dtype) not in (np.float32, np.float64):
            raise ValueError(f"dtype expected float32 or float64, got {self.dtype!r}")

    # -- network -------------------------------------------------------------------------
    def _work_dtype(self) -> np.dtype:
        """The dtype training computes in: ``dtype``, except float64 for L-BFGS.

        scipy's L-BFGS-B works in float64 and stops when the loss falls by less than
        ``factr·eps ≈ 2.2e-9`` of itself in an iteration; a float32 loss resolves only
        ~6e-8 of itself, and float32 weights round scipy's trial points, so its line
        search sees a staircase and it takes another path (or stops early).
        """
        return np.dtype(np.float64) if self.solver == "lbfgs" else np.dtype(self.dtype)

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

    def _network(self, dtype: np.dtype) -> Network:
        """A Network in ``dtype`` over (copies of) the fitted arrays; the fitted
        attributes become its views."""
        n_hidden = self.n_layers_ - 2
        bn = getattr(self, "bn_weights_", None) if self.batch_norm else None
        net = Network(
            self.coefs_,
            self.intercepts_,
            self._per_hidden("activation", self.activation, n_hidden),
            self.out_activation_,
            dtype,
            gammas=bn,
            betas=self.bn_biases_ if bn is not None else None,
            running_means=self.bn_running_means_ if bn is not None else None,
            running_vars=self.bn_running_vars_ if bn is not None else None,
            dropout=[float(p) for p in self._per_hidden("dropout", self.dropout, n_hidden)],
        )
        # the public attributes now alias the buffers the optimizer updates in place
        self.coefs_, self.intercepts_ = net.coefs, net.intercepts
        if net.batch_norm:
            self.bn_weights_, self.bn_biases_ = net.gammas, net.betas
            self.bn_running_means_, self.bn_running_vars_ = net.running_means, net.running_vars
        return net

    def _forward(self, X: np.ndarray) -> np.ndarray:
        """Inference: the output layer after its activation, (n_samples, n_outputs)."""
        check_is_fitted(self, "coefs_")
        dtype = np.dtype(self.dtype)
        a = _as_input(X, dtype)
        n_hidden = self.n_layers_ - 2
        activations = self._per_hidden("activation", self.activation, n_hidden)
        bn = self.batch_norm and getattr(self, "bn_weights_", None) is not None
        for i, (w, b) in enumerate(zip(self.coefs_, self.intercepts_, strict=True)):
            z = a @ w.astype(dtype, copy=False)
            z += b
            if i == n_hidden:
                return activate(self.out_activation_, z)
            if bn:
                z -= self.bn_running_means_[i]
                z *= 1 / np.sqrt(self.bn_running_vars_[i] + BN_EPS)
                z *= self.bn_weights_[i]
                z += self.bn_biases_[i]
            a = activate(activations[i], z)
        raise AssertionError("unreachable")

    # -- objective -----------------------------------------------------------------------
    def _data_loss(self, Y: np.ndarray, P: np.ndarray, sw: np.ndarray | None) -> float:
        return mean_loss(self._loss, self.out_activation_, Y, P, sw, self._huber_delta())

    def _huber_delta(self) -> float:
        return 1.0

    def _penalty(self, net: Network, scale: float) -> float:
        """alpha/(2·scale)·Σ‖W‖² (unless AdamW decays the weights itself) + l1/scale·Σ|W|."""
        w = net.weights
        total = 0.0
        if self.alpha and self.solver != "adamw":
            # one dot product per layer, summed, as scikit-learn computes it
            squares = sum(float(np.dot(c.ravel(), c.ravel())) for c in net.coefs)
            total += (0.5 * self.alpha) * squares / scale
        if self.l1:
            total += self.l1 * float(np.abs(w).sum()) / scale
        return total

    def _loss_and_grad(
        self,
        net: Network,
        X: np.ndarray,
        Y: np.ndarray,
        sw: np.ndarray | None,
        rng: np.random.Generator | None,
    ) -> float:
        """One forward and backward pass on a batch; fills ``net.grad``; returns the loss.

        The operations come in scikit-learn's order (backpropagate p − y, add alpha·W,
        then divide everything by the batch's weight): rounding then matches its own,
        which L-BFGS needs to follow scikit-learn's path (see ``_fit_lbfgs``).
        """
        cache = Cache()
        P = net.forward(X, training=True, rng=rng, cache=cache)
        loss = self._data_loss(Y, P, sw)
        delta = output_delta(self._loss, self.out_activation_, Y, P, self._huber_delta())
        if sw is None:
            scale = float(X.shape[0])
        else:
            scale = float(np.add.reduce(sw))
            delta *= sw[:, None]
        net.backward(delta, cache)
        # the L2 and L1 terms are scaled by the batch's weight, as scikit-learn does
        w, gw = net.weights, net.weight_grads
        if self.alpha and self.solver != "adamw":
            gw += self.alpha * w
        if self.l1:
            gw += self.l1 * np.sign(w)
        net.grad /= scale
        return loss + self._penalty(net, scale)

    # -- fitting ---------------------------------------------------------------------------
    def _prepare_targets(self, X, y, sample_weight, incremental: bool, classes):
        """Validated X, the target matrix Y (n_samples, n_outputs) and sample weights."""
        raise NotImplementedError  # pragma: no cover

    def _fit(self, X, y, sample_weight=None, incremental: bool = False, classes=None):
        self._validate_params()
        first_call = not hasattr(self, "coefs_")
        X, Y, sw = self._prepare_targets(X, y, sample_weight, incremental, classes)
        dtype = self._work_dtype()
        X = _as_input(X, dtype)
        Y = np.asarray(Y, dtype=dtype)
        if sw is not None:
            sw = np.asarray(sw, dtype=dtype)
        fresh = first_call or not (self.warm_start or incremental)
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
            self._initialize(X.shape[1], Y.shape[1], self._random_state, dtype)
            if hasattr(self, "_optimizer_state"):
                del self._optimizer_state
        elif not incremental and self.solver != "lbfgs":
            # a warm-started fit keeps the weights but starts a fresh optimizer, as sklearn
            self._optimizer_state = None
        net = self._network(dtype)
        if self.solver == "lbfgs":
            self._fit_lbfgs(net, X, Y, sw)
            self._store_as_dtype()
        else:
            self._fit_stochastic(net, X, Y, sw, incremental)
        return self

    def _fit_lbfgs(self, net: Network, X, Y, sw) -> None:
        last_loss = [np.nan]

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            net.flat[...] = theta
            last_loss[0] = self._loss_and_grad(net, X, Y, sw, None)
            return last_loss[0], net.grad.astype(np.float64)

        iterations = [0]

        def report(theta: np.ndarray) -> None:
            iterations[0] += 1
            print(f"Iteration {iterations[0]}, loss = {last_loss[0]:.8f}")

        options = {"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol}
        if _SCIPY_VERSION < (1, 15):
            options["iprint"] = -1  # silence older scipy; newer ones deprecate the option
        result = minimize(
            objective,
            net.flat.astype(np.float64),
            method="L-BFGS-B",
            jac=True,
            options=options,
            callback=report if self.verbose else None,
        )
        net.flat[...] = result.x
        if net.batch_norm:
            # the running statistics trail the line search's trial points: make them the
            # whole data set's statistics under the final weights
            net.bn_momentum = 1.0
            net.forward(X, training=True)
            net.bn_momentum = BN_MOMENTUM
        self.n_iter_ = int(result.nit)
        self.loss_ = float(result.fun)
        if result.status != 0:
            message = result.message
            if isinstance(message, bytes):
                message = message.decode()
            warnings.warn(
                f"lbfgs failed to converge after {self.n_iter_} iteration(s) "
                f"(status={result.status}): {message}. Increase max_iter or max_fun, "
                "or scale the data.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _store_as_dtype(self) -> None:
        """The fitted arrays in ``dtype`` (L-BFGS trained them in float64)."""
        dtype = np.dtype(self.dtype)
        for name in _LAYER_LISTS:
            arrays = getattr(self, name, None)
            if arrays is not None:
                setattr(self, name, [np.array(a, dtype=dtype) for a in arrays])

    def _make_optimizer(self, net: Network):
        """A chainrule optimizer over the flat buffer (AdamW: the weights, then the rest)."""
        if self.solver != "adamw":
            # one parameter for the whole network: each step is a single update on the
            # flat buffers, whatever the number of layers
            whole = Tensor(net.flat, requires_grad=True)
            whole.grad = net.grad
            params = [whole]
        else:
            weights = Tensor(net.flat[: net.n_weights], requires_grad=True)
            rest = Tensor(net.flat[net.n_weights :], requires_grad=True)
            weights.grad = net.grad[: net.n_weights]
            rest.grad = net.grad[net.n_weights :]
            params = [weights, rest]
        lr = self.learning_rate_init
        s = self.solver
        if s == "sgd":
            opt = optim.SGD(
                params,
                lr=lr,
                momentum=self.momentum,
                nesterov=bool(self.nesterovs_momentum and self.momentum > 0),
            )
        elif s == "adam":
            opt = optim.Adam(params, lr=lr, betas=(self.beta_1, self.beta_2), eps=self.epsilon)
        elif s == "adamw":
            # alpha is AdamW's decoupled weight decay here, on the weights only
            opt = optim.AdamW(
                [{"params": [weights], "weight_decay": self.alpha},
                 {"params": [rest], "weight_decay": 0.0}],
                lr=lr, betas=(self.beta_1, self.beta_2), eps=self.epsilon,
            )  # fmt: skip
        elif s == "adagrad":
            opt = optim.Adagrad(params, lr=lr, eps=self.epsilon)
        elif s == "rmsprop":
            opt = optim.RMSprop(params, lr=lr, eps=self.epsilon)
        else:
            opt = optim.Adadelta(params, lr=lr)
        return opt, params

    def _fit_stochastic(self, net: Network, X, Y, sw, incremental: bool) -> None:
        rs = self._random_state
        opt, params = self._make_optimizer(net)
        state = getattr(self, "_optimizer_state", None)
        if state is not None:
            opt.load_state_dict(state)
        early_stopping = self.early_stopping and not incremental
        if not hasattr(self, "_no_improvement_count"):  # e.g. rebuilt by _chainrule_from_state
            self._no_improvement_count = 0
        X_val = Y_val = sw_val = None
        if early_stopping:
            stratify = self._stratify(Y)
            split = train_test_split(
                X, Y, *([sw] if sw is not None else []),
                random_state=rs, test_size=self.validation_fraction, stratify=stratify,
            )  # fmt: skip
            X, X_val, Y, Y_val = split[:4]
            if sw is not None:
                sw, sw_val = split[4], split[5]
            if X_val.shape[0] < 2:
                raise ValueError(
                    f"validation_fraction={self.validation_fraction} leaves "
                    f"{X_val.shape[0]} validation sample(s); early stopping needs at least 2"
                )
        n = X.shape[0]
        batch = min(200, n) if self.batch_size == "auto" else int(self.batch_size)
        if batch > n:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going to be "
                "clipped",
                stacklevel=3,
            )
        batch = int(np.clip(batch, 1, n))
        dropout = any(p > 0 for p in net.dropout)
        # dropout masks come from their own generator, so that the shuffling (and hence
        # the run without dropout) matches scikit-learn's for one random_state
        rng = np.random.default_rng(rs.randint(np.iinfo(np.int32).max)) if dropout else None
        order = np.arange(n)
        best_flat = best_running = None
        base_lr = self.learning_rate_init
        if self.solver == "sgd" and getattr(self, "_sgd_lr", None) is not None:
            base_lr = self._sgd_lr if incremental else base_lr  # warm start: a fresh optimizer
        self._set_lr(opt, base_lr)
        current_lr = base_lr
        start = time.perf_counter()
        for _ in range(1 if incremental else self.max_iter):
            if self.shuffle:
                # scikit-learn's draws (its shuffle() is a permutation of the index), and
                # one gather per epoch: the batches are then contiguous slices
                order = order[rs.permutation(n)]
                Xs, Ys = X[order], Y[order]
                sws = sw[order] if sw is not None else None
            else:
                Xs, Ys, sws = X, Y, sw
            total = 0.0
            for lo in range(0, n, batch):
                xb, yb = Xs[lo : lo + batch], Ys[lo : lo + batch]
                wb = sws[lo : lo + batch] if sws is not None else None
                loss = self._loss_and_grad(net, xb, yb, wb, rng)
                if not np.isfinite(loss):
                    raise ValueError(
                        f"the training loss became {loss} at iteration {self.n_iter_ + 1}, "
                        f"batch {lo // batch + 1}; lower learning_rate_init or scale the data"
                    )
                total += loss * xb.shape[0]
                # the optimizer holds the flat gradient views; the backward pass refilled them
                opt.step()
            self.n_iter_ += 1
            self.t_ += n
            self.loss_ = total / n
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
            improved = self._update_no_improvement(net, X_val, Y_val, sw_val, early_stopping)
            if early_stopping and improved:
                best_flat = net.flat.copy()
                best_running = self._running_copy(net)
            if self.solver == "sgd" and self.learning_rate == "invscaling":
                current_lr = self.learning_rate_init / (self.t_ + 1) ** self.power_t
                self._set_lr(opt, current_lr)
            if self._no_improvement_count > self.n_iter_no_change:
                what = "Validation score" if early_stopping else "Training loss"
                if early_stopping and self.early_stopping_monitor == "val_loss":
                    what = "Validation loss"
                message = (
                    f"{what} did not improve more than tol={self.tol:f} for "
                    f"{self.n_iter_no_change} consecutive epochs."
                )
                if self.solver == "sgd" and self.learning_rate == "adaptive" and current_lr > 1e-6:
                    current_lr /= 5
                    self._set_lr(opt, current_lr)
                    self._no_improvement_count = 0
                    if self.verbose:
                        print(message + f" Setting learning rate to {current_lr:f}")
                else:
                    if self.verbose:
                        print(message + " Stopping.")
                    break
            if incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn(
                    f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and "
                    "the optimization hasn't converged yet.",
                    ConvergenceWarning,
                    stacklevel=3,
                )
        self.fit_time_ = time.perf_counter() - start
        if early_stopping and best_flat is not None:
            # restore the weights of the best epoch, as scikit-learn does
            net.flat[...] = best_flat
            self._restore_running(net, best_running)
        self._sgd_lr = current_lr
        self._optimizer_state = opt.state_dict()
        # the state dict refers to parameters by position; drop our references to the grads
        for p in params:
            p.grad = None

    @staticmethod
    def _set_lr(opt, lr: float) -> None:
        for group in opt.param_groups:
            group["lr"] = lr

    @staticmethod
    def _running_copy(net: Network):
        if not net.batch_norm:
            return None
        return [m.copy() for m in net.running_means], [v.copy() for v in net.running_vars]

    @staticmethod
    def _restore_running(net: Network, saved) -> None:
        if saved is None:
            return
        for dst, src in zip(net.running_means + net.running_vars, saved[0] + saved[1], strict=True):
            dst[...] = src

    def _update_no_improvement(self, net, X_val, Y_val, sw_val, early_stopping: bool) -> bool:
        """Count epochs without progress (by tol); return whether this one is the best yet."""
        if not early_stopping:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]
            return False
        P = net.forward(X_val, training=False)
        val_loss = self._data_loss(Y_val, P, sw_val)
        val_score = self._score_from_output(P, Y_val, sw_val)
        self.validation_loss_curve_.append(val_loss)
        self.validation_scores_.append(val_score)
        if self.verbose:
            print(f"Validation score: {val_score:f}, validation loss: {val_loss:f}")
        if self.early_stopping_monitor == "val_loss":
            stalled = val_loss > self.best_validation_loss_ - self.tol
            best = val_loss < self.best_validation_loss_
        else:
            stalled = val_score < self.best_validation_score_ + self.tol
            best = val_score > self.best_validation_score_
        self._no_improvement_count = self._no_improvement_count + 1 if stalled else 0
        if val_score > self.best_validation_score_:
            self.best_validation_score_ = val_score
        if val_loss < self.best_validation_loss_:
            self.best_validation_loss_ = val_loss
        return best

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
        params["dtype"] = np.dtype(self.dtype).name
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
