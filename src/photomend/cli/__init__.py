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
from photomend.cli.common import (
    COMMANDS,
    EXIT_FAILURE,
    EXIT_USAGE,
    TRACEBACK_HELP,
    describe,
    env_flag,
    exit_now,
    say,
)
from photomend.errors import InputError, OutputError
from photomend.process_memory import hold_freed_memory


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` and return its exit code.

    Called without ``argv`` (the ``photomend`` program, ``python -m photomend``) it runs
    ``sys.argv[1:]`` and then ends the process with that code, without the interpreter's
    teardown (:func:`photomend.cli.common.exit_now`).

    >>> main(["engines"])  # doctest: +ELLIPSIS
    patchmatch ...telea ...
    0
    """
    if argv is None:
        hold_freed_memory()  # (this process only: not a caller's that passes argv)
        exit_now(_run(sys.argv[1:]))
    return _run(list(argv))


def _run(argv: list[str]) -> int:
    parser = build_parser(_command_of(argv))
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


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``photomend`` and its subcommands.

    Only ``command``'s module is imported and its parser built in full (all of them when
    ``command`` is None); the other commands are listed by name and one-line help, so that
    ``photomend --help`` and each command load only what they use.
    """
    parser = argparse.ArgumentParser(
        prog="photomend", description="Repair photographs on a plain CPU.",
        epilog="Run 'photomend COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"photomend {__version__}")
    parser.add_argument("--traceback", action="store_true", help=TRACEBACK_HELP)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name, (module, summary) in COMMANDS.items():
        if command is None or name == command:
            importlib.import_module(f"photomend.cli.{module}").add_parser(sub)
        else:
            sub.add_parser(name, help=summary, add_help=False)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names (its first word that is not an option), if any."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else ""
    return ""


if __name__ == "__main__":
    sys.exit(main())
