"""Exceptions raised while training."""

from __future__ import annotations


class TrainingDivergedError(FloatingPointError):
    """The loss or a gradient became NaN or infinite; no parameter was updated with it.

    Attributes name where it happened: ``epoch`` and ``batch`` (both counted from 1),
    and ``tensor`` (the loss, or the first parameter with a non-finite gradient).
    """

    def __init__(self, message: str, *, epoch: int, batch: int, tensor: str) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
        self.tensor = tensor


class ResumeError(ValueError):
    """A checkpoint that cannot continue this run: written by another run (other data or
    options), or past the epochs asked for. The message names each difference."""
