"""``photomend objects``: list the people and objects found in a photo (JSON), and optionally
write an overlay picture and the instances' masks."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from photomend.cli.common import EXIT_OK, add_quiet_option, summary


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "objects",
        help=summary("objects"),
        description="Find people (and other COCO objects) in PHOTO and print them as JSON: "
        "label, score, box (x0, y0, x1, y1 in the photo's own orientation) and mask area.",
    )
    p.add_argument("photo", metavar="PHOTO", type=Path, help="image file")
    p.add_argument("--classes", default="person", metavar="CLASSES",
                   help="comma-separated COCO classes, or 'all' (default: person)")
    p.add_argument("--min-score", type=float, default=None, metavar="S",
                   help="detector confidence 0-1 an instance needs (default: 0.25)")
    p.add_argument("--overlay", type=Path, default=None, metavar="FILE",
                   help="also write the photo with each instance tinted and boxed")
    p.add_argument("--mask-out", type=Path, default=None, metavar="FILE",
                   help="also write the union of the instances' masks")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    # (stdout holds only the JSON; the "wrote ..." lines go to stderr)
    add_quiet_option(p)
    p.set_defaults(run=_run_objects)


def _run_objects(args: argparse.Namespace) -> int:
    import numpy as np

    from photomend.errors import InputError
    from photomend.io import LoadedImage, read_image, write_image
    from photomend.objects.api import DEFAULT_MIN_SCORE, find_objects
    from photomend.objects.classes import COCO_CLASSES, parse_classes
    from photomend.objects.overlay import draw_overlay

    classes = COCO_CLASSES if args.classes.strip().lower() == "all" else \
        parse_classes(args.classes)
    min_score = DEFAULT_MIN_SCORE if args.min_score is None else args.min_score
    if not 0.0 <= min_score <= 1.0:
        raise InputError(f"--min-score must be between 0 and 1, got {min_score}")
    image = read_image(args.photo)
    found = find_objects(image, classes, min_score=min_score)
    width, height = image.size
    json.dump({"image": str(args.photo), "width": width, "height": height,
               "instances": [i.to_dict() for i in found]}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    protect = (args.photo,)
    if args.overlay is not None:
        write_image(LoadedImage(draw_overlay(image.rgb, found)), args.overlay,
                    overwrite=args.overwrite, protect=protect)
        if not args.quiet:
            print(f"wrote {args.overlay} ({len(found)} instances)", file=sys.stderr)
    if args.mask_out is not None:
        union = np.zeros(image.rgb.shape[:2], bool)
        for inst in found:
            union |= inst.mask
        m = np.repeat(union[:, :, None].astype(np.float32), 3, axis=2)
        write_image(LoadedImage(m), args.mask_out, overwrite=args.overwrite, protect=protect)
        if not args.quiet:
            print(f"wrote {args.mask_out} (the instances' mask)", file=sys.stderr)
    return EXIT_OK
