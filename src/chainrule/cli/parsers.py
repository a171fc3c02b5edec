"""How every ``chainrule`` subcommand's parser is made: one function, so that all of them
print their help alike (examples kept as written) and name their handler the same way."""

from __future__ import annotations

import argparse
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], int]


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    help: str,
    description: str,
    epilog: str,
    handler: Handler,
) -> argparse.ArgumentParser:
    """The parser of ``chainrule NAME``, registered under ``subparsers``.

    ``help`` is its line in ``chainrule --help``; ``description`` opens ``chainrule NAME
    --help`` and ``epilog`` (examples, notes) ends it, line breaks kept. ``main`` calls
    ``handler(args)`` when the command is chosen; the caller adds the arguments.
    """
    parser = subparsers.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handler)
    return parser
