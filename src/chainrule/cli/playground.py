"""``chainrule playground``: the local web app for learning backpropagation."""

from __future__ import annotations

import argparse
import sys
import textwrap

from .errors import UsageError
from .parsers import add_command

LOCAL = ("127.0.0.1", "localhost", "::1")
HELP = "train a network in the browser and see each weight's derivation"
DESCRIPTION = "Start the local playground web app (needs the 'playground' extra)."
EXAMPLES = textwrap.dedent(
    """\
    examples:
      chainrule playground                 # http://127.0.0.1:8000/, opens the browser
      chainrule playground --port 0 --no-browser

    Trains small networks on 2-D toy data (or a small CSV file) with the real engine;
    click a weight, bias or unit to see explain's derivation of its gradient for the
    current step, the finite-difference check and the optimizer's update. A second view
    shows SGD, momentum, Nesterov, AdaGrad, RMSProp, Adadelta and Adam on loss surfaces.
    Needs the 'playground' extra: pip install 'chainrule[playground]'.
    """
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(subparsers, "playground", HELP, DESCRIPTION, EXAMPLES, command)
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s, this computer only; any other "
        "address lets other machines train on this one)",
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="port (default: %(default)s; 0 picks a free one)"
    )
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    return parser


def command(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port expected 0 to 65535, got {args.port}")
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        raise UsageError(
            f"chainrule playground needs the 'playground' extra ({error.name} is not "
            "installed): pip install 'chainrule[playground]'"
        ) from None
    from ..playground.server import serve

    if args.host not in LOCAL:
        print(
            f"chainrule: warning: listening on {args.host}: anyone who can reach this address "
            "can use the playground (it runs training on this machine); use the default "
            "127.0.0.1 to keep it local",
            file=sys.stderr,
        )
    try:
        serve(args.host, args.port, not args.no_browser)
    except OSError as error:
        raise UsageError(
            f"cannot listen on {args.host}:{args.port}: {error.strerror or error} "
            "(another --port, or --port 0 for a free one)"
        ) from None
    except KeyboardInterrupt:
        return 0
    return 0
