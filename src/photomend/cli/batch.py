"""``photomend batch``: run (or resume) a batch job from a job file and/or flags."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from photomend.batch import JobSpec, load_job, parse_steps, run_job
from photomend.batch.job import ENGINES, OUTPUT_FORMATS
from photomend.batch.operations import available_operations
from photomend.cli.common import add_quiet_option, positive_int, quality, report, say, summary
from photomend.errors import InputError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "batch",
        help=summary("batch"),
        description="Run a batch job: every photo of a folder (or of a CSV/JSONL manifest) "
        "through a chain of steps, written to an output folder. A journal in the output folder "
        "records each photo; running the same job again skips what is done, retries what "
        "failed and finishes what was interrupted. Originals are never overwritten. Flags "
        "override the job file. See docs/batch.md.",
    )
    p.add_argument("job", nargs="?", type=Path, metavar="JOB.toml", help="job file (TOML)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--input", "-i", type=Path, metavar="DIR", help="folder of photos")
    src.add_argument("--manifest", type=Path, metavar="FILE",
                     help="CSV (header: path[,mask,hints,output]) or JSONL list of photos")
    p.add_argument("--masks", type=Path, metavar="DIR",
                   help="folder of masks matched by file name (stem.png, stem_mask.png, ...)")
    p.add_argument("--hints", type=Path, metavar="DIR", help="folder of colour hints (colorize)")
    p.add_argument("--recursive", action="store_true", default=None,
                   help="include sub-folders (kept in the output)")
    p.add_argument("--steps", metavar="A,B,...",
                   help="operations in order, default options (available: "
                   f"{', '.join(available_operations())})")
    p.add_argument("-o", "--output", type=Path, metavar="DIR", help="output folder")
    p.add_argument("--name", metavar="TEMPLATE",
                   help="output name without suffix: {stem} {name} {suffix} {parent} "
                   "(default: {stem})")
    p.add_argument("--format", choices=sorted(OUTPUT_FORMATS), help="output format "
                   "(default: same as the input)")
    p.add_argument("--quality", type=quality, metavar="Q", help="JPEG/WebP quality (default: 95)")
    p.add_argument("--max-pixels", type=positive_int, metavar="N", help="refuse larger photos")
    p.add_argument("--journal", type=Path, metavar="FILE",
                   help="journal file (default: OUTPUT/.photomend-batch.sqlite)")
    p.add_argument("--workers", "-j", type=positive_int, metavar="N",
                   help="worker processes or Ray actors (default: all cores)")
    p.add_argument("--engine", choices=ENGINES, help="local processes (default) or Ray")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="Ray cluster to join (default: $RAY_ADDRESS, else a local Ray)")
    p.add_argument("--retries", type=int, metavar="N",
                   help="attempts after a failure, per photo, across runs (default: 2)")
    p.add_argument("--reset-failed", action="store_true",
                   help="give photos that used up their retries a fresh budget")
    add_quiet_option(p)
    p.set_defaults(run=_run_batch)


def job_from_args(args: argparse.Namespace) -> JobSpec:
    """The job file (if any) with the flags applied on top."""
    steps = parse_steps(args.steps) if args.steps else None
    if args.job is None:
        if steps is None or args.output is None or (args.input or args.manifest) is None:
            raise InputError("give a job file, or --steps, --input (or --manifest) and -o")
        base = JobSpec(steps=steps, output_dir=args.output, input_dir=args.input,
                       manifest=args.manifest)
    else:
        base = load_job(args.job)
    changes = {
        "steps": steps, "output_dir": args.output, "masks_dir": args.masks,
        "hints_dir": args.hints, "recursive": args.recursive, "name": args.name,
        "format": args.format, "quality": args.quality, "max_pixels": args.max_pixels,
        "journal": args.journal, "workers": args.workers, "engine": args.engine,
        "ray_address": args.ray_address, "retries": args.retries,
    }
    if args.input is not None:
        base = replace(base, input_dir=args.input, manifest=None)
    if args.manifest is not None:
        base = replace(base, input_dir=None, manifest=args.manifest)
    return base.with_overrides(**changes)


def _run_batch(args: argparse.Namespace) -> int:
    job = job_from_args(args)
    log = None if args.quiet else (lambda line: say("progress", line))
    summary = run_job(job, reset_failed=args.reset_failed,
                      progress=None if not args.quiet else False, log=log)
    lines = summary.lines()
    if args.quiet:
        for key, reason in summary.failed:
            say("error", f"{key}: {reason}")
    else:
        for line in lines:
            report(line)
    return summary.exit_code
