"""End the whole MPI job when one rank fails, instead of leaving the others waiting.

A rank that raises stops calling collectives; the other ranks would wait in their next
Allreduce for ever. ``abort_on_error()`` installs a ``sys.excepthook`` (and a
``threading.excepthook``) that prints the traceback and calls
``MPI.COMM_WORLD.Abort(1)``, which makes the launcher kill every rank and exit
non-zero. Used as a context manager it also covers ``SystemExit`` with a non-zero code
(``sys.exit(2)`` after a one-line error never reaches the excepthook). A rank killed by
a signal is the launcher's business: mpiexec notices the dead process and ends the job.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from types import TracebackType
from typing import Any, Literal

from . import comm

__all__ = ["abort", "abort_on_error"]


def abort(code: int = 1) -> None:
    """End the whole MPI job with exit status ``code`` (flushing this rank's output
    first); nothing without MPI or with one process. For a program that has printed
    its one-line error and would return non-zero while other ranks may be waiting."""
    _abort(code)


# How long a failing rank waits between flushing its output and the abort: the launcher
# forwards each rank's output asynchronously and kills every process at the abort, so the
# last lines (the one that says why) could be lost without this pause.
_FORWARD_SECONDS = 0.25


def _abort(code: int = 1) -> None:
    world = comm._state["comm"]
    sys.stderr.flush()
    sys.stdout.flush()
    if world is not None and world.Get_size() > 1:
        time.sleep(_FORWARD_SECONDS)
        world.Abort(code)


class _Guard:
    """What ``abort_on_error()`` returns: the hooks are already installed; ``with`` adds
    the cover for ``SystemExit``."""

    def __enter__(self) -> _Guard:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        if error is None:
            return False
        if isinstance(error, SystemExit):
            code = error.code
            if code in (None, 0):
                return False
            if not isinstance(code, int):
                print(code, file=sys.stderr)
                code = 1
            _abort(code)
            return False
        _print(kind, error, tb)
        _abort(1)
        return False


def _print(kind: Any, error: BaseException | None, tb: TracebackType | None) -> None:
    rank = comm.rank() if comm._state["comm"] is not None else 0
    # One write: the launcher forwards it whole, not the first line alone.
    text = "".join(traceback.format_exception(kind, error, tb))
    sys.stderr.write(f"[rank {rank}] error, ending the MPI job:\n{text}")


def abort_on_error() -> _Guard:
    """Make an uncaught exception on any rank abort the whole job (exit code 1).

    Call once, after ``init()``, at the start of a distributed program; or use
    ``with abort_on_error(): main()`` to also turn a non-zero ``sys.exit`` into an
    abort. Without MPI (one process) the hooks only print, as Python does.
    """
    previous = sys.excepthook

    def hook(kind: Any, error: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt) and comm._state["comm"] is None:
            previous(kind, error, tb)
            return
        _print(kind, error, tb)
        _abort(1)

    def thread_hook(args: Any) -> None:
        if args.exc_type is SystemExit:
            return
        _print(args.exc_type, args.exc_value, args.exc_traceback)
        _abort(1)

    sys.excepthook = hook
    threading.excepthook = thread_hook
    return _Guard()
