"""The divergence guard: a callback that keeps non-finite numbers out of the weights.

Before an update, the loss and the gradients are checked (one reduction over each
flat gradient buffer). A finite gradient can still make a non-finite update
(``SGD(lr=1e38)``, an Adam denominator computed from a tiny learning rate): such a
step is undone — parameters and optimizer state — and reported.

Undoing needs a copy of what the step writes, taken before it. Copying every
parameter and every state array each step costs as much as a small model's whole
step (34 MB per step for a 1024-wide MLP with momentum), so the copy is taken only
for steps that might overflow. For ``SGD``, ``Adam`` and ``AdamW`` the guard keeps
upper bounds on the magnitude of the parameters and of the state (measured exactly,
then carried forward from the gradient norm and the group's options: a few float
operations per step; measured again at the start of an epoch once carried for
``REMEASURE_STEPS`` steps, and after any copied step); while every value a step can compute stays
below ``finfo.max / 2**20``, that step cannot overflow and runs uncopied. Other
optimizers, and steps near the limit, are copied first as before.

An uncopied step still runs with the floating-point flags recorded (not raised): if a
callback changed parameters or state between steps beyond the bounds and the step then
made a parameter non-finite, the error says the step could not be undone and why.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import optim
from ..autodiff import Tensor
from ..optim import Optimizer
from .callbacks import Callback
from .errors import TrainingDivergedError

_ADVICE = "(lower the learning rate, clip gradients, or check the data)"
# Bounds carried for at least this many steps are measured again at the next epoch.
REMEASURE_STEPS = 64


def _diverged(epoch: int, batch: int, what: str, tensor: str, tail: str) -> TrainingDivergedError:
    return TrainingDivergedError(
        f"training diverged at epoch {epoch}, batch {batch}: {what}{tail}",
        epoch=epoch,
        batch=batch,
        tensor=tensor,
    )


def check_loss(value: float, epoch: int, batch: int) -> None:
    """Raise if the loss is not finite (before anything was updated with it)."""
    if not math.isfinite(value):
        raise _diverged(
            epoch,
            batch,
            f"the loss is {value}",
            "loss",
            f"; no parameter was updated with it {_ADVICE}",
        )


def gradient_norm(grads: Sequence[tuple[str, np.ndarray | None]], epoch: int, batch: int) -> float:
    """The norm of all ``(name, gradient)`` arrays; a non-finite one raises naming it."""
    total = 0.0
    for _, grad in grads:
        if grad is not None:
            total += float(np.vdot(grad, grad))
    if math.isfinite(total):
        return math.sqrt(total)
    for name, grad in grads:
        if grad is not None and not np.all(np.isfinite(grad)):
            raise _diverged(
                epoch,
                batch,
                f"the gradient of {name!r} is not finite",
                name,
                f"; no parameter was updated with it {_ADVICE}",
            )
    # finite gradients whose squares overflow
    raise _diverged(epoch, batch, "the gradient norm overflows", "gradient norm", "")


def _magnitude(arrays: list[np.ndarray]) -> float:
    """An upper bound of |value| over ``arrays`` (inf when any is not finite): one dot each."""
    largest = 0.0
    for array in arrays:
        flat = array.reshape(-1)
        with np.errstate(over="ignore", invalid="ignore"):  # inf is the answer then
            square = float(np.dot(flat, flat))
        if not square < math.inf:  # inf or NaN
            return math.inf
        largest = max(largest, square)
    return math.sqrt(largest)


def _ratio(entries: list[dict]) -> float:
    """max |m| / √v over Adam's state (0 where m = 0; inf where v = 0 < |m|)."""
    largest = 0.0
    for entry in entries:
        m, v = entry.get("exp_avg"), entry.get("exp_avg_sq")
        if isinstance(m, np.ndarray) and isinstance(v, np.ndarray):
            ratio = np.zeros(m.shape)
            with np.errstate(divide="ignore", invalid="ignore"):
                np.divide(np.abs(m), np.sqrt(v), out=ratio, where=m != 0)
            largest = max(largest, float(ratio.max(initial=0.0)))
    return largest if largest < math.inf else math.inf


class _Headroom:
    """Upper bounds on |parameter| and |state| for SGD and Adam(W); see the module doc.

    ``safe(g)`` says whether the next step, with gradients of norm at most ``g``,
    keeps every value it computes below ``limit``, and if so carries the bounds
    past it. ``bounds`` (None: measure first): |θ|, |b| or |m|, |v|, and for Adam
    ``r`` ≥ |m|/√v elementwise, which the moments' recurrence keeps finite.
    """

    def __init__(self, optimizer: Any) -> None:
        self.optimizer = optimizer
        kind = type(optimizer)
        adam = kind in (optim.Adam, optim.AdamW)
        self.kind = "sgd" if kind is optim.SGD else "adam" if adam else None
        params = [p for group in getattr(optimizer, "param_groups", ()) for p in group["params"]]
        self.params = params
        dtypes = {p.data.dtype for p in params}
        self.limit = min((float(np.finfo(d).max) for d in dtypes if d.kind == "f"), default=0.0)
        self.limit /= 2.0**20
        self.bounds: tuple[float, ...] | None = None
        self.carried = 0  # steps since the bounds were measured
        self.carry = self._sgd if self.kind == "sgd" else self._adam

    def forget(self) -> None:
        self.bounds = None

    def refresh(self) -> None:
        """Measure again at the next step if the bounds were carried for a while: carried
        bounds only grow, and a measure costs a pass over every array, as much as a
        small model's step (so not at every epoch of a one-batch epoch)."""
        if self.carried >= REMEASURE_STEPS:
            self.bounds = None

    def _measure(self) -> tuple[float, ...]:
        state = self.optimizer.state
        entries = [state.get(p) or {} for p in self.params]
        first = "momentum_buffer" if self.kind == "sgd" else "exp_avg"
        seconds = ("exp_avg_sq", "max_exp_avg_sq")
        return (
            _magnitude([p.data for p in self.params]),
            _magnitude([e[first] for e in entries if isinstance(e.get(first), np.ndarray)]),
            _magnitude(
                [e[k] for e in entries for k in seconds if isinstance(e.get(k), np.ndarray)]
            ),
            _ratio(entries) if self.kind == "adam" else 0.0,
        )

    def safe(self, grad_norm: float) -> bool:
        if self.kind is None or not self.limit:
            return False
        if self.bounds is None:
            self.bounds = self._measure()
            self.carried = 0
        self.carried += 1
        worst = 0.0
        bounds = carried = self.bounds
        carry = self.carry
        groups = self.optimizer.param_groups
        for group in groups:
            found = carry(group, grad_norm, *bounds)
            if found is None:
                return False
            carried, intermediates = found
            worst = max(worst, *carried[:3], *intermediates)
        if not worst < self.limit:  # also false for NaN
            return False
        # One group: its bounds; several: the largest of all, for every group.
        if len(groups) > 1:
            carried = (worst, worst, worst, max(carried[3], bounds[3]))
        self.bounds = carried
        return True

    @staticmethod
    def _sgd(group: dict, g: float, p: float, b: float, _v: float, _r: float) -> tuple | None:
        """((|θ|, |b|, 0, 0) after the step, intermediates), or None: not bounded."""
        lr, mu, tau = float(group["lr"]), float(group["momentum"]), float(group["dampening"])
        if not (lr >= 0 and 0 <= mu and 0 <= tau <= 1):
            return None
        d = g + abs(float(group["weight_decay"])) * p
        b = mu * b + d if mu else 0.0
        u = (d + mu * b if group["nesterov"] else b) if mu else d
        return (p + lr * u, b, 0.0, 0.0), (d, lr * u)

    @staticmethod
    def _adam(group: dict, g: float, p: float, m: float, v: float, r: float) -> tuple | None:
        """((|θ|, |m|, |v|, r) after the step, intermediates), or None: not bounded.

        If |m| ≤ r·√v elementwise before the step, then after it
        |m'| ≤ √(β₁²r²/β₂ + (1−β₁)²/(1−β₂))·√v' (Cauchy–Schwarz on both recurrences),
        and the step γ/(1−β₁ᵗ)·m'/(√v'/√(1−β₂ᵗ) + ε) is at most γ·r'/(1−β₁), or
        γ·|m'|/((1−β₁)·ε) whichever is smaller.
        """
        lr, eps = float(group["lr"]), float(group["eps"])
        betas = group["betas"]
        beta1, beta2 = float(betas[0]), float(betas[1])
        if not (lr > 0 and eps > 0 and 0 <= beta1 < 1 and 0 < beta2 < 1):
            return None
        wd = abs(float(group["weight_decay"]))
        decoupled = group.get("decoupled_weight_decay", False)
        d = g if decoupled else g + wd * p
        m, v = max(m, d), max(v, d * d)  # convex combinations of the old value and g, g²
        r = math.sqrt(beta1 * beta1 * r * r / beta2 + (1 - beta1) ** 2 / (1 - beta2))
        # tmp = √v/(√bc₂·step_size) + ε/step_size, then θ −= m/tmp.
        factor = 1 / (math.sqrt(1 - beta2) * lr)
        denominator = math.sqrt(v) * factor + eps / lr
        shift = lr * min(r, m / eps) / (1 - beta1)
        return (p * (1 + lr * wd) + shift, m, v, r), (d * d, factor, denominator, shift)


class _Snapshot:
    """A copy of what a step writes, to undo it: the flat buffers of a compiled step,
    else every parameter and the optimizer's state (chainrule optimizers only)."""

    def __init__(self, named: list[tuple[str, Tensor]], optimizer: Any) -> None:
        self.named, self.optimizer = named, optimizer
        self.saved_params = [np.empty_like(p.data) for _, p in named]
        self.owns_state = isinstance(optimizer, Optimizer)
        seen: dict[int, Tensor] = {}  # the optimizer's own order: its state_dict's positions
        for group in getattr(optimizer, "param_groups", ()):
            for parameter in group["params"]:
                seen.setdefault(id(parameter), parameter)
        self.positions = list(seen.values())
        self.saved_state: dict[int, dict[str, Any]] = {}
        self.flat_saved: list[tuple[np.ndarray, np.ndarray]] = []
        self.flat_counts: Any = None

    def take(self, flat: Any) -> None:
        arrays = None if flat is None else flat.flat_arrays()
        if arrays is not None:
            saved = self.flat_saved  # buffers kept from step to step (no allocation)
            if len(saved) != len(arrays) or any(
                a is not s[0] for a, s in zip(arrays, saved, strict=False)
            ):
                saved[:] = [(a, np.empty_like(a)) for a in arrays]
            for array, copy in saved:
                np.copyto(copy, array)
            self.flat_counts = (flat, flat.counts())
            return
        self.flat_counts = None
        # p.data is read each time: a flat optimizer may re-point it into its buffer.
        for buffer, (_, parameter) in zip(self.saved_params, self.named, strict=True):
            np.copyto(buffer, parameter.data)
        state = self.optimizer.state if self.owns_state else {}
        self.saved_state = {}
        for index, parameter in enumerate(self.positions):
            entries = state.get(parameter)  # .get: a defaultdict must not grow here
            if entries:
                self.saved_state[index] = {
                    k: v.copy() if isinstance(v, np.ndarray) else v for k, v in entries.items()
                }

    def restore(self) -> None:
        if self.flat_counts is not None:
            for array, copy in self.flat_saved:
                np.copyto(array, copy)
            updater, counts = self.flat_counts
            updater.restore_counts(counts)
            return
        for buffer, (_, parameter) in zip(self.saved_params, self.named, strict=True):
            np.copyto(parameter.data, buffer)
        # Only chainrule's optimizers are known to keep their state by position as
        # state_dict() shows it; another object keeps what its step left.
        if self.owns_state:
            groups = self.optimizer.state_dict()["param_groups"]
            self.optimizer.load_state_dict({"state": self.saved_state, "param_groups": groups})


class DivergenceGuard(Callback):
    """Stops a run whose loss, gradients or update leave the finite numbers.

    ``fit`` always adds one. A non-finite loss or gradient raises
    ``TrainingDivergedError`` before any parameter changes; an update that itself
    overflows is undone (parameters and optimizer state) and raises the same error.
    The ``Trainer`` calls :meth:`check_loss`, :meth:`check_gradients` and
    :meth:`step` around each update; see the module doc for what a step costs.
    """

    def __init__(self) -> None:
        self.headroom: _Headroom | None = None
        self.snapshot: _Snapshot | None = None
        self.flagged = False

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        trainer = self.trainer
        self.headroom = _Headroom(trainer.optimizer)
        self.snapshot = _Snapshot(trainer.named, trainer.optimizer)

    def _flag(self, kind: str, flag: int) -> None:
        """numpy's error callback: note an overflow or invalid value, do not raise."""
        self.flagged = True

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
        if self.headroom is not None:
            self.headroom.refresh()

    check_loss = staticmethod(check_loss)

    @staticmethod
    def check_gradients(
        named_grads: Sequence[tuple[str, np.ndarray | None]],
        flats: list[np.ndarray] | None,
        epoch: int,
        batch: int,
    ) -> float:
        """The gradient norm, raising naming the first non-finite gradient.

        ``flats`` (a compiled step's flat gradient buffers): one dot product each says
        whether all is finite; only then are the gradients looked at one by one.
        """
        if flats is not None:
            total = 0.0
            for flat in flats:  # the method: np.dot's dispatch costs as much as the dot
                total += float(flat.dot(flat))
            if math.isfinite(total):
                return math.sqrt(total)
        return gradient_norm(named_grads, epoch, batch)

    def step(
        self, update: Callable[[], Any], grad_norm: float, epoch: int, batch: int, flat: Any = None
    ) -> None:
        """Run ``update``, undoing it if it overflowed.

        ``flat``, a compiled step's updater, says which flat buffers its update writes.
        """
        headroom, snapshot = self.headroom, self.snapshot
        assert headroom is not None and snapshot is not None, "on_train_begin first"
        if headroom.safe(grad_norm):
            self.flagged = False
            with np.errstate(over="call", invalid="call", call=self._flag):
                update()
            if self.flagged:  # only if something outside the loop broke the bounds
                self._unbounded(epoch, batch)
            return
        headroom.forget()  # the step is copied and checked: measure again after it
        snapshot.take(flat)
        try:
            # The floating-point flags make the check free: a step that overflows
            # raises here, and only then is anything inspected.
            with np.errstate(over="raise", invalid="raise"):
                update()
            return
        except FloatingPointError:
            snapshot.restore()
        # Some overflow inside the update need not reach the parameters (say, a
        # square in a denominator): redo the same step and look at the result itself.
        with np.errstate(over="ignore", invalid="ignore"):
            update()
        bad = self._non_finite()
        if bad is None:
            return
        snapshot.restore()
        raise _diverged(
            epoch,
            batch,
            f"the optimizer step overflowed and made {bad!r} non-finite",
            bad,
            "; the step was undone (parameters and optimizer state are as before it; "
            "lower the learning rate or clip gradients)",
        )

    def _non_finite(self) -> str | None:
        named = self.snapshot.named if self.snapshot is not None else []
        return next((n for n, p in named if not np.all(np.isfinite(p.data))), None)

    def _unbounded(self, epoch: int, batch: int) -> None:
        """An uncopied step overflowed: the bounds were broken between steps."""
        self.headroom.forget()  # type: ignore[union-attr]
        bad = self._non_finite()
        if bad is None:  # an overflow that did not reach the parameters, as when copied
            return
        raise _diverged(
            epoch,
            batch,
            f"the optimizer step overflowed and made {bad!r} non-finite",
            bad,
            "; the step could not be undone: parameters or optimizer state were changed "
            "between steps beyond the guard's bounds (by a callback?); lower the learning "
            "rate or clip gradients",
        )
