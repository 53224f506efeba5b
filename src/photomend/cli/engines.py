"""``photomend engines``: list the inpainting engines, whether each is ready, and how to make
the others ready."""

from __future__ import annotations

import argparse

from photomend.cli.common import EXIT_OK, summary
from photomend.engines import available_engines, engine_readiness
from photomend.removal import default_engine


def add_parser(sub: argparse._SubParsersAction) -> None:
    eng = sub.add_parser("engines", help=summary("engines"))
    eng.set_defaults(run=_run_engines)


def _run_engines(args: argparse.Namespace) -> int:
    engines = available_engines()
    width = max(map(len, engines), default=0)
    default, why = default_engine()
    for name, traits in engines.items():
        note = traits.description.replace(" (default)", "")
        if name == default:
            note += " (default)"
        problem = engine_readiness(name)
        status = "ready    " if problem is None else "not ready"
        print(f"{name:<{width}}  {status}  {note}")
        if problem is not None:
            print(f"{'':<{width}}    -> {problem}")
    print(f"`photomend remove` uses {default} by default: {why}; --engine NAME chooses "
          "another.")
    return EXIT_OK
