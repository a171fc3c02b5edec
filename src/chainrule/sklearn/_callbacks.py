"""What scikit-learn's MLP does between epochs, as ``cr.fit`` callbacks.

:class:`SklearnShuffle` makes ``fit`` draw scikit-learn's permutations, so that one
``random_state`` gives both libraries the same batches; :class:`MLPMonitor` keeps the
fitted attributes (``n_iter_``, ``t_``, ``loss_curve_``, the validation curves),
prints what ``verbose`` asks for, applies the 'invscaling' and 'adaptive' learning
rates, and stops on ``tol`` / ``n_iter_no_change`` (on the training loss, or on the
validation score or loss with early stopping, restoring the best epoch's weights).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..train.callbacks import Callback
from . import _model


class SklearnShuffle(np.random.Generator):
    """A Generator whose ``permutation(n)`` is scikit-learn's shuffle of the epoch
    (an array it shuffles again at the next call).

    scikit-learn shuffles the previous epoch's order with ``RandomState.permutation``
    (the draws of ``sklearn.utils.shuffle``); ``fit`` takes the order of each epoch
    from its generator's ``permutation``. Everything else ``fit`` might draw comes
    from the Generator itself (fixed seed: drawing it from ``random_state`` would
    shift scikit-learn's stream).
    """

    def __init__(self, random_state: np.random.RandomState) -> None:
        super().__init__(np.random.PCG64(0))
        self.random_state = random_state
        self.order: np.ndarray | None = None

    def permutation(self, x: Any, axis: int = 0) -> np.ndarray:
        if not isinstance(x, (int, np.integer)):
            return super().permutation(x, axis=axis)
        n = int(x)
        if self.order is None or len(self.order) != n:
            self.order = np.arange(n)
        # Shuffling the order in place draws and swaps as permutation(n) does on
        # arange(n), so it leaves order[permutation(n)]: the same epoch, without the
        # index array and the gather (the Trainer reads an epoch's order during it only).
        self.random_state.shuffle(self.order)
        return self.order


class MLPMonitor(Callback):
    """scikit-learn's end-of-epoch logic for a ``BaseMLP`` estimator.

    Parameters
    ----------
    estimator : BaseMLP
        Receives the fitted attributes as the epochs go.
    n_train : int
        Training samples per epoch (``t_`` grows by it).
    validation : tuple (X_val, Y_val, sw_val) or None
        The held-out data of early stopping.
    objective : Objective
        The loss, for the validation loss.
    incremental : bool
        ``partial_fit``: one epoch, no ``max_iter`` warning.
    """

    def __init__(
        self,
        estimator: Any,
        n_train: int,
        validation: tuple[Any, np.ndarray, np.ndarray | None] | None,
        objective: _model.Objective,
        dtype: np.dtype,
        incremental: bool,
    ) -> None:
        self.est, self.n_train, self.validation = estimator, n_train, validation
        self.objective, self.dtype, self.incremental = objective, dtype, incremental
        self.best_state: dict[str, np.ndarray] | None = None

    def _set_lr(self, lr: float) -> None:
        self.est._sgd_lr = lr
        for group in self.trainer.optimizer.param_groups:
            group["lr"] = lr

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        self._set_lr(self.est._sgd_lr)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        est = self.est
        est.n_iter_ += 1
        est.t_ += self.n_train
        est.loss_ = float(logs["loss"])
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
        if self._count_no_improvement() and self.validation is not None:
            self.best_state = self.trainer.model.state_dict()
        sgd = est.solver == "sgd"
        if sgd and est.learning_rate == "invscaling":
            self._set_lr(est.learning_rate_init / (est.t_ + 1) ** est.power_t)
        if est._no_improvement_count > est.n_iter_no_change:
            self._stall()
            if self.trainer.stop_training:
                return
        if not self.incremental and est.n_iter_ == est.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) reached and "
                "the optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=2,
            )

    def _stall(self) -> None:
        """No progress by ``tol`` for ``n_iter_no_change`` epochs: cut the rate, or stop."""
        est = self.est
        if self.validation is None:
            what = "Training loss"
        else:
            what = (
                "Validation loss"
                if est.early_stopping_monitor == "val_loss"
                else ("Validation score")
            )
        message = (
            f"{what} did not improve more than tol={est.tol:f} for "
            f"{est.n_iter_no_change} consecutive epochs."
        )
        if est.solver == "sgd" and est.learning_rate == "adaptive" and est._sgd_lr > 1e-6:
            self._set_lr(est._sgd_lr / 5)
            est._no_improvement_count = 0
            if est.verbose:
                print(message + f" Setting learning rate to {est._sgd_lr:f}")
            return
        if est.verbose:
            print(message + " Stopping.")
        self.trainer.stop_training = True

    def _count_no_improvement(self) -> bool:
        """Count epochs without progress (by ``tol``); return whether this one is the best."""
        est = self.est
        if self.validation is None:
            loss = est.loss_curve_[-1]
            stalled = loss > est.best_loss_ - est.tol
            est._no_improvement_count = est._no_improvement_count + 1 if stalled else 0
            est.best_loss_ = min(est.best_loss_, loss)
            return False
        X_val, Y_val, sw_val = self.validation
        z = _model.outputs(self.trainer.model, X_val, self.dtype)
        val_loss = _model.mean_loss(self.objective, z, Y_val, sw_val)
        P = _model.activate(est.out_activation_, z)
        val_score = est._score_from_output(P, Y_val, sw_val)
        est.validation_loss_curve_.append(val_loss)
        est.validation_scores_.append(val_score)
        if est.verbose:
            print(f"Validation score: {val_score:f}, validation loss: {val_loss:f}")
        if est.early_stopping_monitor == "val_loss":
            stalled = val_loss > est.best_validation_loss_ - est.tol
            best = val_loss < est.best_validation_loss_
        else:
            stalled = val_score < est.best_validation_score_ + est.tol
            best = val_score > est.best_validation_score_
        est._no_improvement_count = est._no_improvement_count + 1 if stalled else 0
        est.best_validation_score_ = max(est.best_validation_score_, val_score)
        est.best_validation_loss_ = min(est.best_validation_loss_, val_loss)
        return best

    def on_train_end(self, logs: dict[str, Any]) -> None:
        if self.best_state is not None:
            # the weights (and batch-norm statistics) of the best epoch, as scikit-learn
            self.trainer.model.load_state_dict(self.best_state)
