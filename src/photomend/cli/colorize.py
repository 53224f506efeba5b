"""``photomend colorize``: give black-and-white photos colour (one file, or a folder)."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from photomend.cli.common import (
    EXIT_OK,
    StageBars,
    add_output_options,
    check_folder_output,
    claim_output,
    list_images,
    make_folder,
    process_folder,
    report,
    reported_warnings,
    say,
    summary,
)
from photomend.colorization.api import read_reference
from photomend.colorization.core import METHODS, colorize_array, resolve_method
from photomend.colorization.zhang import find_model, installed_model, no_colour_source
from photomend.colorization.hints import read_hints
from photomend.errors import ColorizeError, HintsError, InputError
from photomend.files import find_hints
from photomend.io import read_image, write_image

_DESCRIPTION = """\
Colorize black-and-white photos. The luma of the photo is kept exactly; only colour (chroma)
is added. A colour photo is converted to grey first (with a note).

Methods: 'hints' propagates colour hints along the photo's edges (Levin et al. 2004);
'reference' transfers the colours of a similar colour photo (Welsh et al. 2002); 'auto' runs a
published network (Zhang et al.; install its weights with `photomend models import`). Default:
hints if --hints is given, else reference if --reference is given, else auto. Hints combine
with a reference or with auto.

Hints: an image of coloured strokes on a transparent background (or scribbles painted on the
grey photo), or JSON: {"points": [{"x": 10, "y": 20, "color": "#ff8800", "radius": 2}],
"strokes": [{"points": [[x, y], ...], "color": [255, 136, 0], "width": 5}]}. Hints of another
size than the photo are scaled to it, with a warning.

IMAGE may be a folder: then --hints is a folder holding, per photo, STEM_hints.png or
STEM_hints.json, else STEM.png or STEM.json (.webp/.tif too), and -o is an output folder.
--reference is one photo for all.
"""


#: How the errors name the hints and the reference input.
CLI_NAMES = ("--hints FILE", "--reference FILE")


def add_parser(sub: argparse._SubParsersAction) -> None:
    cz = sub.add_parser("colorize", help=summary("colorize"),
                        description=_DESCRIPTION,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    cz.add_argument("image", metavar="IMAGE", type=Path, help="photo file or folder of photos")
    cz.add_argument("-o", "--output", required=True, type=Path, help="output file or folder")
    cz.add_argument("--hints", type=Path, default=None, metavar="FILE",
                    help="colour hints: image or JSON (a folder when IMAGE is a folder)")
    cz.add_argument("--reference", type=Path, default=None, metavar="FILE",
                    help="a colour photo of a similar scene")
    cz.add_argument("--method", choices=METHODS, default=None,
                    help="hints, reference or auto (default: from what is given)")
    cz.add_argument("--model", default=None, metavar="NAME",
                    help="network for --method auto: zhang-siggraph17 or zhang-eccv16 "
                    "(default: the first installed)")
    cz.add_argument("--saturation", type=_saturation, default=1.0, metavar="F",
                    help="colour strength, 0 = grey, 1 = as predicted (default: 1)")
    add_output_options(cz)
    cz.set_defaults(run=_run)


def _saturation(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def _run(args: argparse.Namespace) -> int:
    # Fail on a missing hints argument, or on nothing to take colours from, before reading.
    method = resolve_method(args.method, hints=args.hints is not None,
                            reference=args.reference is not None, names=CLI_NAMES)
    if method == "auto" and args.model is None and installed_model() is None:
        if args.method is None:  # nothing given at all: say every way there is
            raise ColorizeError(no_colour_source(*CLI_NAMES))
        find_model()  # --method auto: says which network to fetch
    reference = None
    if args.reference is not None:
        reference = read_reference(args.reference, max_pixels=args.max_pixels)
    if args.image.is_dir():
        return _run_folder(args, reference)
    hints = args.hints
    if hints is not None and hints.is_dir():
        hints = find_hints(args.image, hints)
        if hints is None:
            raise HintsError(f"no hints for {args.image.name} in {args.hints}")
    out = args.output / args.image.name if args.output.is_dir() else args.output
    bars = StageBars.for_args(args)
    try:
        _colorize_one(args.image, hints, reference, out, args, progress=bars)
    finally:
        bars.close()
    return EXIT_OK


def _run_folder(args: argparse.Namespace, reference) -> int:
    src, out_dir = args.image, args.output
    if args.hints is not None and not args.hints.is_dir():
        raise InputError(f"{src} is a folder, so --hints must be a folder of hints too")
    check_folder_output(src, out_dir, overwrite=args.overwrite)
    skip = args.hints is not None and args.hints.resolve() == src.resolve()
    images = [p for p in list_images(src) if not (skip and p.stem.endswith("_hints"))]
    if not images:
        raise InputError(f"no images in {src}")
    make_folder(out_dir, "-o")

    def work(image: Path) -> None:
        hints = None
        if args.hints is not None:
            hints = find_hints(image, args.hints)
            if hints is None and args.method == "hints":
                raise HintsError(f"no hints for {image.name} in {args.hints}; skipped")
        _colorize_one(image, hints, reference, out_dir / image.name, args, progress=None)

    return process_folder(images, work, quiet=args.quiet, out_dir=out_dir)


def _colorize_one(image: Path, hints: Path | None, reference, out: Path,
                  args: argparse.Namespace, *, progress) -> None:
    started = time.perf_counter()
    inputs = tuple(p for p in (image, hints, args.reference) if p)
    protect = claim_output(out, inputs, overwrite=args.overwrite)
    with reported_warnings(image.name, quiet=args.quiet, kind="note") as caught:
        loaded = read_image(image, max_pixels=args.max_pixels)
        parsed = None if hints is None else read_hints(hints, size=loaded.size,
                                                       max_pixels=args.max_pixels)
        result = colorize_array(loaded.rgb, hints=parsed, reference=reference,
                                method=args.method, model=args.model,
                                saturation=args.saturation, progress=progress)
        write_image(loaded.with_rgb(result.rgb), out, quality=args.quality,
                    compression=args.compression, overwrite=args.overwrite, protect=protect)
    if not args.quiet:
        for note in result.notes:
            if note not in {str(w.message) for w in caught}:
                say("note", f"{image.name}: {note}")
        width, height = loaded.size
        report(f"wrote {out} ({width}x{height}, {result.method}, "
               f"{time.perf_counter() - started:.1f} s)")
