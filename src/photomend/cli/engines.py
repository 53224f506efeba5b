"""``photomend engines``: list the inpainting engines, whether each is ready, and how to make
the others ready."""

from __future__ import annotations

import argparse

from photomend.cli.common import EXIT_OK, summary
from photomend.engines import available_engines, engine_readiness
from photomend.removal import DEFAULT_ENGINE


def add_parser(sub: argparse._SubParsersAction) -> None:
    eng = sub.add_parser("engines", help=summary("engines"))
    eng.set_defaults(run=_run_engines)


def _run_engines(args: argparse.Namespace) -> int:
    engines = available_engines()
    width = max(map(len, engines), default=0)
    for name, traits in engines.items():
        note = traits.description
        if name == DEFAULT_ENGINE and "default" not in note:
            note += " (default)"
        problem = engine_readiness(name)
        status = "ready    " if problem is None else "not ready"
        print(f"{name:<{width}}  {status}  {note}")
        if problem is not None:
            print(f"{'':<{width}}    -> {problem}")
    return EXIT_OK
