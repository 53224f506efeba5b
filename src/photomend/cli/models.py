"""``photomend models list|path|fetch|import|remove``: the model zoo from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from photomend import zoo
from photomend.cli.common import EXIT_OK, StageBars, add_quiet_option, report, summary


def add_parser(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser(
        "models", help=summary("models"),
        description="Published model weights that photomend can use once they are installed in "
        f"its cache ($PHOTOMEND_MODELS, default {zoo.cache_dir()}).",
    )
    verbs = models.add_subparsers(title="actions", metavar="ACTION")
    ls = verbs.add_parser("list", help="every known model and whether it is installed")
    ls.add_argument("--task", default=None, help="only this task's models (upscale, ...)")
    ls.set_defaults(run=_run_list)
    path = verbs.add_parser("path", help="print the installed file of a model")
    path.add_argument("name", metavar="NAME")
    path.set_defaults(run=_run_path)
    fetch = verbs.add_parser("fetch", help="download and install a model")
    fetch.add_argument("name", metavar="NAME",
                       help="a model, or a family (esrgan-medium: all its scales)")
    add_quiet_option(fetch)
    fetch.set_defaults(run=_run_fetch)
    imp = verbs.add_parser("import", help="install a weight file you downloaded")
    imp.add_argument("file", metavar="FILE", type=Path)
    imp.add_argument("--name", default=None,
                     help="the model FILE is (default: recognised by SHA-256 or file name)")
    imp.add_argument("--trust", action="store_true",
                     help="accept a file whose SHA-256 differs from the published one "
                     "(your own weights of the same architecture)")
    add_quiet_option(imp)
    imp.set_defaults(run=_run_import)
    rm = verbs.add_parser("remove", help="delete an installed model")
    rm.add_argument("name", metavar="NAME")
    add_quiet_option(rm)
    rm.set_defaults(run=_run_remove)
    models.set_defaults(run=_run_list, task=None)


def _size(n: int | None) -> str:
    return "-" if not n else f"{n / 1e6:.1f} MB"


def _run_list(args: argparse.Namespace) -> int:
    rows = [("NAME", "TASK", "SCALE", "INSTALLED", "LICENCE", "SIZE", "SHA-256", "SOURCE")]
    for spec in zoo.list_models(task=args.task):
        path = zoo.installed_path(spec.name)
        record = zoo.read_record(path) if path else {}
        # the published file's size and hash (or, for an imported file, what was imported)
        sha = spec.sha256 or record.get("source_sha256") or spec.sha256_prefix
        rows.append((spec.name, spec.task, f"x{spec.scale}" if spec.scale else "-",
                     "yes" if path else "no", spec.license, _size(spec.size),
                     sha[:12] or "-", spec.source))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    print(f"cache: {zoo.cache_dir()}")
    return EXIT_OK


def _run_path(args: argparse.Namespace) -> int:
    print(zoo.model_path(args.name))
    return EXIT_OK


def _run_fetch(args: argparse.Namespace) -> int:
    bars = StageBars.for_args(args)
    try:
        for name in zoo.model_group(args.name):  # a family name fetches every scale
            path = zoo.fetch_model(name, progress=bars)
            bars.close()
            if not args.quiet:
                report(f"installed {name} at {path}")
    finally:
        bars.close()
    return EXIT_OK


def _run_import(args: argparse.Namespace) -> int:
    name = args.name or zoo.guess_model(args.file).name
    path = zoo.install_file(name, args.file, trust=args.trust)
    if not args.quiet:
        record = zoo.read_record(path)
        if record.get("verified"):
            note = ""
        elif zoo.get_model(name).sha256 or zoo.get_model(name).sha256_prefix:
            note = " (SHA-256 not the published one: --trust)"
        else:  # the source publishes no SHA-256: nothing to compare with
            note = f" (no published SHA-256; recorded {record.get('source_sha256', '')[:12]}...)"
        report(f"installed {name} at {path}{note}")
    return EXIT_OK


def _run_remove(args: argparse.Namespace) -> int:
    removed = zoo.remove_model(args.name)
    if not args.quiet:
        report(f"removed {args.name}" if removed else f"{args.name} was not installed")
    return EXIT_OK
