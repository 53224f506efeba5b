"""The ``photomend`` command: parse, call the library, write, and turn errors into exit codes.

Each subcommand lives in its own module of this package (listed in :data:`COMMANDS`) with an
``add_parser(sub)`` function; see :mod:`photomend.cli.common`. Exit codes: 0 success, 2 bad
usage or bad input (one ``photomend: error: ...`` line, no traceback), 1 anything else.
``--traceback`` or ``PHOTOMEND_DEBUG=1`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

from photomend import __version__
from photomend.cli.common import EXIT_FAILURE, EXIT_USAGE, describe, env_flag, say
from photomend.errors import InputError, OutputError

#: Subcommand modules, in the order ``photomend --help`` lists them.
COMMANDS = ("remove", "example", "engines", "models", "serve", "batch", "upscale", "colorize",
            "restore", "degrade")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code (the entry point passes it to sys.exit).

    >>> main(["engines"])  # doctest: +ELLIPSIS
    telea ...patchmatch ...
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has already printed help or the usage error
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    debug = getattr(args, "traceback", False) or env_flag("PHOTOMEND_DEBUG")
    try:
        return args.run(args)
    except (InputError, OutputError) as exc:
        if debug:
            traceback.print_exc()
        say("error", str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        say("error", "interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001  (anything else: exit 1, one line, no traceback)
        if debug:
            traceback.print_exc()
        say("error", f"{describe(exc)} (rerun with --traceback for details)")
        return EXIT_FAILURE


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``photomend`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="photomend", description="Repair photographs on a plain CPU."
    )
    parser.add_argument("--version", action="version", version=f"photomend {__version__}")
    parser.add_argument("--traceback", action="store_true", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"photomend.cli.{name}").add_parser(sub)
    return parser


if __name__ == "__main__":
    sys.exit(main())
