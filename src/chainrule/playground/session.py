"""One browser tab's state: its data, network, optimizer and history, trained by the real
engine (``backward()`` and a ``chainrule.optim`` step; no JavaScript backprop).

Two tabs have two sessions that share no state. The engine's switches (grad mode,
explain's backward listener) are process-wide, though, so the server runs one session
computation at a time across all tabs (``server.ENGINE``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..autodiff import Tensor, no_grad
from .datasets import from_csv, toy
from .network import Config, build_model, make_loss, make_optimizer
from .presets import PRESETS, Preset

# Changing one of these builds a new network; the other fields apply to the next step.
RESHAPING = ("hidden", "activation", "output", "batch_norm", "dropout", "bias", "seed")
GRID = 40  # the heat map's cells per side
MAX_HISTORY = 1_000  # loss-curve points kept; older ones are thinned to every other


class TrainingStopped(ValueError):
    """A step would have used a non-finite loss or gradient (lower the learning rate)."""


@dataclass
class Target:
    """What was clicked: a weight (layer, row, col), a bias (layer, row) or a unit."""

    kind: str  # "weight" | "bias" | "unit"
    layer: int  # 0-based index of the Linear layer
    row: int  # the unit of that layer's output
    col: int = 0  # for a weight: the unit of the layer below

    @classmethod
    def from_dict(cls, data: Any) -> Target:
        if not isinstance(data, dict) or data.get("kind") not in ("weight", "bias", "unit"):
            raise ValueError("target expected {kind: weight|bias|unit, layer, row[, col]}")
        values = [data.get(k, 0) for k in ("layer", "row", "col")]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
            raise ValueError(f"target expected integers >= 0 for layer, row, col, got {values}")
        return cls(data["kind"], *values)


class Session:
    """Data, configuration, model and optimizer of one tab, and its training history."""

    def __init__(self, seed: int = 0) -> None:
        self.config = Config(seed=seed)
        self.data_options: dict[str, Any] = {"kind": "circle", "noise": 0.1, "train_ratio": 0.5}
        self.data = toy("circle", seed=seed)
        self.preset: Preset | None = None
        self.reset()

    # -- what the page can change -------------------------------------------------
    def set_config(self, changes: dict[str, Any]) -> None:
        """Apply the page's changes: a new shape or seed starts a fresh network; the
        learning rate, L2, L1, batch size and loss apply from the next step on, and a
        new optimizer starts with empty state, keeping the weights trained so far."""
        old, self.config = self.config, Config.from_dict(changes, self.config)
        if any(getattr(old, k) != getattr(self.config, k) for k in RESHAPING):
            self.reset()
            return
        self.loss_fn = make_loss(self.config.loss)
        if self.config.optimizer != old.optimizer:
            self.optimizer = make_optimizer(self.config, list(self.model.parameters()))
        for group in self.optimizer.param_groups:
            group["lr"], group["weight_decay"] = self.config.lr, self.config.l2
        if self.config.batch_size != old.batch_size:
            self.position = 0  # a new epoch order keeps batches aligned with the new size
            self.order = self._permutation()

    def set_toy(self, options: dict[str, Any]) -> None:
        if not isinstance(options, dict):
            raise ValueError("data expected an object {kind, noise, train_ratio}")
        merged = {**self.data_options, **options}
        unknown = sorted(set(merged) - {"kind", "noise", "train_ratio", "n"})
        if unknown:
            raise ValueError(f"data field {unknown[0]!r} is unknown")
        self.data = toy(**merged, seed=self.config.seed)
        self.data_options = merged
        self._fit_loss_to_task()
        self.reset()

    def set_csv(self, name: str, raw: bytes, target: str | None = None) -> None:
        self.data = from_csv(name, raw, target=target, seed=self.config.seed)
        self._fit_loss_to_task()
        self.reset()

    def set_preset(self, name: str) -> None:
        if name not in PRESETS:
            raise ValueError(f"preset expected one of {', '.join(PRESETS)}, got {name!r}")
        self.preset = PRESETS[name]
        self.data = self.preset.dataset()
        self.config = Config.from_dict(self.preset.config.to_dict())
        self.reset()

    def _fit_loss_to_task(self) -> None:
        """New data: a loss and output that fit its task; leaving a preset, the default
        network back (the tutorials' shapes, sigmoid and learning rates are theirs)."""
        if self.preset is not None:
            self.preset = None
            self.config = Config(seed=self.config.seed)
        if self.data.task == "classification":
            self.config = Config.from_dict(
                {"loss": "bce_with_logits", "output": "none"}, self.config
            )
        elif self.config.loss == "bce_with_logits":
            self.config = Config.from_dict({"loss": "mse"}, self.config)

    # -- training ------------------------------------------------------------------
    def reset(self) -> None:
        """A fresh network (the preset's weights when it still has the preset's shape)."""
        config = self.config
        self.model, self.linears = build_model(config, self.data.features, self.data.outputs)
        self._load_preset_weights()
        self.loss_fn = make_loss(config.loss)
        self.optimizer = make_optimizer(config, list(self.model.parameters()))
        self.weights = {f"{k}.weight" for k in self.linears}
        self.step_count = self.epoch_count = 0
        self.position = 0  # of the next batch in this epoch's order
        self.order = self._permutation()
        self.grads: dict[str, np.ndarray] = {}
        self.history: list[list[float | None]] = []  # [step, train loss, test loss or None]
        self._record()

    def _load_preset_weights(self) -> None:
        preset = self.preset
        if preset is None:
            return
        layers = [self.model[k] for k in self.linears]
        shapes = [np.shape(w) for w in preset.weights]
        if [tuple(layer.weight.shape) for layer in layers] != shapes:
            return  # the user changed the layers: the preset's weights no longer fit
        for k, layer in enumerate(layers):
            layer.weight.data[...] = preset.weights[k]
            if layer.bias is not None and preset.biases is not None:
                layer.bias.data[...] = preset.biases[k]

    def _permutation(self) -> np.ndarray:
        if self.batch_size() >= len(self.data.x_train):
            # One batch of every row: the rows' order changes nothing but what the
            # derivation lists, which then follows the file (or the tutorial).
            return np.arange(len(self.data.x_train))
        rng = np.random.default_rng([self.config.seed, self.epoch_count])
        return rng.permutation(len(self.data.x_train))

    def batch_size(self) -> int:
        n = len(self.data.x_train)
        size = self.config.batch_size or n
        return min(size, n)

    def next_batch(self) -> np.ndarray:
        """The row indices the next step trains on. With batch norm a last batch of one
        row joins the one before it (a single row has no batch variance), as in cr.fit."""
        n, start = len(self.order), self.position
        stop = start + self.batch_size()
        if self.config.batch_norm and n - stop == 1:
            stop = n
        return self.order[start:stop]

    def step(self) -> float:
        """One optimizer step on the next mini-batch; returns its loss. A non-finite loss
        or gradient raises TrainingStopped before any weight changes."""
        with np.errstate(over="ignore", invalid="ignore"):  # checked below, said in words
            return self._step()

    def _step(self) -> float:
        rows = self.next_batch()
        x = Tensor(self.data.x_train[rows])
        y = Tensor(self.data.y_train[rows])
        self.model.train()
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(x), y)
        value = float(loss.item())
        if not np.isfinite(value):
            raise TrainingStopped(
                f"the loss is {value} at step {self.step_count + 1}: training paused "
                "(lower the learning rate, then reset)"
            )
        loss.backward()
        for name, p in self.model.named_parameters():
            if p.grad is None:
                continue
            if self.config.l1 and name in self.weights:
                p.grad = p.grad + self.config.l1 * np.sign(p.data)
            if not np.all(np.isfinite(p.grad)):
                raise TrainingStopped(
                    f"the gradient of {name} is not finite at step {self.step_count + 1}: "
                    "training paused (lower the learning rate, then reset)"
                )
        self.grads = {
            name: p.grad.copy() for name, p in self.model.named_parameters() if p.grad is not None
        }
        self.optimizer.step()
        self.step_count += 1
        self._advance(len(rows))
        self._record()
        return value

    def _advance(self, used: int) -> None:
        self.position += used
        if self.position >= len(self.order):
            self.position = 0
            self.epoch_count += 1
            self.order = self._permutation()

    def epoch(self) -> None:
        """Steps until the current epoch ends."""
        epoch = self.epoch_count
        while self.epoch_count == epoch:
            self.step()

    def losses(self) -> tuple[float, float]:
        """The loss on all training rows and on the test rows (NaN without any), eval mode."""
        self.model.eval()
        try:
            with no_grad(), np.errstate(over="ignore", invalid="ignore"):
                train = float(
                    self.loss_fn(
                        self.model(Tensor(self.data.x_train)), Tensor(self.data.y_train)
                    ).item()
                )
                test = float("nan")
                if len(self.data.x_test):
                    test = float(
                        self.loss_fn(
                            self.model(Tensor(self.data.x_test)), Tensor(self.data.y_test)
                        ).item()
                    )
        finally:
            self.model.train()
        return train, test

    def _record(self) -> None:
        train, test = self.losses()
        # JSON has no NaN: a loss that is not a number (or no test rows) is null.
        self.history.append(
            [self.step_count, *(v if np.isfinite(v) else None for v in (train, test))]
        )
        if len(self.history) > MAX_HISTORY:  # thin the old points, keep the newest
            kept = self.history[::2]
            if kept[-1] is not self.history[-1]:
                kept.append(self.history[-1])
            self.history = kept

    # -- what the page draws -------------------------------------------------------
    def heatmap(self) -> dict[str, Any] | None:
        """The first output over a GRID × GRID grid covering the data (2 inputs only);
        probabilities for a logits loss."""
        if self.data.features != 2:
            return None
        x = np.concatenate([self.data.x_train, self.data.x_test])
        low, high = x.min(axis=0), x.max(axis=0)
        pad = np.maximum((high - low) * 0.1, 1e-3)
        low, high = low - pad, high + pad
        xs = np.linspace(low[0], high[0], GRID)
        ys = np.linspace(low[1], high[1], GRID)
        grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
        self.model.eval()
        try:
            with no_grad(), np.errstate(over="ignore", invalid="ignore"):
                out = self.model(Tensor(grid)).data[:, 0]
        finally:
            self.model.train()
        if self.config.loss == "bce_with_logits":
            out = 0.5 * (1 + np.tanh(out / 2))  # σ, without overflow
        return {
            "x": [float(low[0]), float(high[0])],
            "y": [float(low[1]), float(high[1])],
            "n": GRID,
            "values": np.round(out, 4).tolist(),
            "probability": self.config.loss == "bce_with_logits" or self.config.output == "sigmoid",
        }

    def network(self) -> dict[str, Any]:
        """Layers with their weights, biases and last gradients (None before a step)."""
        layers = []
        for k in self.linears:
            layer = self.model[k]
            w, b = f"{k}.weight", f"{k}.bias"
            layers.append(
                {
                    "name": str(k),
                    "weight": layer.weight.data.tolist(),
                    "bias": None if layer.bias is None else layer.bias.data.tolist(),
                    "weight_grad": self.grads[w].tolist() if w in self.grads else None,
                    "bias_grad": self.grads[b].tolist() if b in self.grads else None,
                }
            )
        return {
            "inputs": self.data.names,
            "layers": layers,
            "activation": self.config.activation,
            "output": self.config.output,
            "batch_norm": self.config.batch_norm,
            "dropout": self.config.dropout,
        }

    def frame(self) -> dict[str, Any]:
        """Everything the page redraws after a step."""
        return {
            "type": "frame",
            "step": self.step_count,
            "epoch": self.epoch_count,
            "network": self.network(),
            "heatmap": self.heatmap(),
            "history": self.history,
        }

    def points(self) -> dict[str, Any]:
        """The data as the page lists and draws it (sent when the data changes)."""
        d = self.data
        return {
            "type": "data",
            "source": d.source,
            "task": d.task,
            "names": d.names,
            "train": np.round(
                np.concatenate([d.x_train[:, :2], d.y_train[:, :1]], axis=1), 5
            ).tolist(),
            "test": np.round(np.concatenate([d.x_test[:, :2], d.y_test[:, :1]], axis=1), 5).tolist()
            if len(d.x_test)
            else [],
            "features": d.features,
            "outputs": d.outputs,
            "rows": [len(d.x_train), len(d.x_test)],
            "preset": None if self.preset is None else self.preset.title,
            "config": self.config.to_dict(),
            "options": self.data_options,
        }

    # -- the derivation ------------------------------------------------------------
    def element(self, target: Target) -> tuple[str, tuple]:
        """The parameter name and index of a clicked weight, bias or unit (a unit is
        explained through its bias, ∂E/∂b = δ, or its first weight without biases)."""
        if target.layer >= len(self.linears):
            raise ValueError(
                f"target layer expected 0 to {len(self.linears) - 1}, got {target.layer}"
            )
        layer = self.model[self.linears[target.layer]]
        rows, cols = layer.weight.shape
        if target.row >= rows or (target.kind == "weight" and target.col >= cols):
            raise ValueError(
                f"target expected a unit below {rows} (and a weight column below {cols}), "
                f"got row {target.row}, col {target.col}"
            )
        prefix = str(self.linears[target.layer])
        if target.kind == "weight" or (target.kind == "unit" and layer.bias is None):
            return f"{prefix}.weight", (target.row, target.col if target.kind == "weight" else 0)
        if layer.bias is None:
            raise ValueError("this network has no biases (switch them on to click one)")
        return f"{prefix}.bias", (target.row,)

    def derivation(self, target: Target) -> dict[str, Any]:
        from .derivation import derive

        return derive(self, target)
