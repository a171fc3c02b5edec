"""Entry point of the ``chainrule`` command (also ``python -m chainrule``).

Errors a user can cause end with a one-line message and exit code 2, never a
traceback (``--debug`` shows it): bad arguments, bad CSV data (``DataError``), bad
model files (``ModelFormatError``), a missing optional package. A training run that
diverges exits with 1; Ctrl-C exits with 130, leaving no half-written file. Every
command checks all the files it will write before any work (``errors.plan_outputs``),
and a closed stdout or stderr (``| head``) never stops a run. Each subcommand lives in
its own module with an ``add_parser(subparsers)`` function (made with
``parsers.add_command``); ``COMMANDS`` lists them.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Sequence
from typing import Any, TextIO

from .._version import __version__
from . import demo, explain_command, export, info, playground, predict, train
from .errors import UsageError
from .parsers import add_command

EPILOG = textwrap.dedent(
    """\
    examples:
      chainrule demo                train on the bundled digits, write chainrule-demo/
      chainrule train data.csv --target label --out model.safetensors
      chainrule predict model.safetensors new.csv --out preds.csv
      chainrule evaluate model.safetensors test.csv
      chainrule info model.safetensors
      chainrule explain examples/explain/mazur_2_2_2.toml --format markdown
      chainrule ops                 list every differentiable op and its VJP formula
      chainrule ops sigmoid         show one op
      chainrule playground          learn backpropagation in the browser
      chainrule --version
    """
)


OPS_HELP = "list the differentiable ops and their vector-Jacobian products"
OPS_DESCRIPTION = "List every registered op with the formula of its backward pass."
OPS_EXAMPLE = "example:\n  chainrule ops linear sigmoid mse_loss"


def _ops_command(args: argparse.Namespace) -> int:
    import chainrule.nn.functional  # noqa: F401  (registers the network ops)
    from chainrule.autodiff import REGISTRY

    names = sorted(REGISTRY) if not args.names else args.names
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise UsageError(
            f"unknown op {', '.join(unknown)}; known ops: {', '.join(sorted(REGISTRY))}"
        )
    width = max(len(n) for n in names)
    for name in names:
        print(f"{name:<{width}}  {REGISTRY[name].formula}")
    return 0


__all__ = ["COMMANDS", "UsageError", "build_parser", "main"]


# Subcommands registered by their modules' add_parser(subparsers), in --help order.
COMMANDS = [
    demo.add_parser,
    train.add_parser,
    predict.add_parser,
    predict.add_evaluate_parser,
    info.add_parser,
    explain_command.add_parser,
    export.add_parser,
    playground.add_parser,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="Train feedforward networks by backpropagation on NumPy, showing the work.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    ops = add_command(commands, "ops", OPS_HELP, OPS_DESCRIPTION, OPS_EXAMPLE, _ops_command)
    ops.add_argument("names", nargs="*", metavar="OP", help="ops to show (default: all)")
    for add_parser in COMMANDS:
        add_parser(commands)
    return parser


class _ClosedPipeGuard:
    """A text stream (stdout or stderr) that outlives its reader: once a write fails with
    a broken pipe (``chainrule train … | head``), the descriptor is pointed at
    /dev/null, as Python's documentation on SIGPIPE recommends, and later writes are
    dropped, so progress and reports never stop a run before it writes its files."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._hang_up()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._hang_up()

    def _hang_up(self) -> None:
        self.broken = True
        try:
            descriptor = self._stream.fileno()
        except (AttributeError, OSError, ValueError):
            return  # not a real file (a test's capture): nothing is flushed at exit
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, descriptor)  # the interpreter's final flush now succeeds
        finally:
            os.close(null)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv``; returns the exit status (see the module doc)."""
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _ClosedPipeGuard(stdout), _ClosedPipeGuard(stderr)
    try:
        code = _main(argv)
    finally:
        sys.stdout, sys.stderr = stdout, stderr
    if code not in (0, None):
        _end_mpi_job(code)
    return code


def _end_mpi_job(code: int) -> None:
    """Under ``mpiexec`` with several ranks, a rank that failed (its one-line error
    printed) ends the whole job: the others may be waiting for it in a collective."""
    from .. import distributed

    if not distributed.launched_under_mpi():
        return
    try:
        several = distributed.is_distributed()
    except ImportError:  # no mpi4py: each process is on its own anyway
        return
    if several:
        distributed.abort(code)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from ..data.errors import DataError
    from ..io.errors import ModelFormatError
    from ..train.errors import TrainingDivergedError

    try:
        return args.handler(args)
    except (UsageError, DataError, ModelFormatError, ImportError) as error:
        if args.debug:
            raise
        print(f"chainrule: error: {error}", file=sys.stderr)
        return 2
    except MemoryError as error:
        # NumPy refusing an allocation (its message names the size and shape): one line.
        if args.debug:
            raise
        detail = " ".join(str(error).split()) or "an allocation failed"
        print(
            f"chainrule: error: out of memory: {detail} (use smaller --hidden or --batch-size, "
            "or fewer rows or columns)",
            file=sys.stderr,
        )
        return 2
    except BrokenPipeError:
        # A pipe the guard does not cover (a file descriptor written directly).
        return 0
    except OSError as error:
        # A file that could not be written or read after the up-front checks
        # (a full disk, a permission change): say which, without a traceback.
        if args.debug:
            raise
        named = error.filename2 or error.filename  # a rename's target, not its temporary
        where = f"{named}: " if named else ""
        print(f"chainrule: error: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    except TrainingDivergedError as error:
        if args.debug:
            raise
        print(f"chainrule: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Every write is atomic (temporaries removed on the way out): nothing half-written.
        print("chainrule: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
