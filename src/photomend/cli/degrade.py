"""``photomend degrade``: make a synthetic old scan and its exact defect mask from a clean photo
(test data for ``photomend restore``, and the training data of its detector)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from photomend.cli.common import EXIT_OK, add_output_options, positive_int, report, summary
from photomend.errors import InputError, OutputError
from photomend.io import LoadedImage, check_destination, format_for_path, read_image, write_image
from photomend.restoration.degrade import DEFECT_KINDS, TONES, degrade


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "degrade",
        help=summary("degrade"),
        description="Draw seeded synthetic damage (scratches, hairlines, dust, fibres, cracks, "
        "folds, stains, torn corners) and global ageing (fading, toning, blur, grain, JPEG; not "
        "a defect) on PHOTO. The same seed gives the same scan and mask.",
    )
    p.add_argument("photo", metavar="PHOTO", type=Path, help="a clean photo")
    p.add_argument("-o", "--output", required=True, type=Path, help="the damaged scan")
    p.add_argument("--mask-out", type=Path, default=None, metavar="FILE",
                   help="also write the exact defect mask (white = defect)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")
    p.add_argument("--defects", default=",".join(DEFECT_KINDS), metavar="LIST",
                   help="comma-separated kinds to draw, or 'none' "
                   f"(default: all: {','.join(DEFECT_KINDS)})")
    p.add_argument("--amount", type=float, default=1.0, metavar="X",
                   help="multiplies the number of defects (default: 1)")
    p.add_argument("--no-ageing", action="store_true", help="no fading, toning, grain or JPEG")
    p.add_argument("--tone", choices=TONES, default=None,
                   help="the ageing's toning (default: drawn from the seed: colour 30 %%, "
                   "sepia 40 %%, mono 30 %%)")
    p.add_argument("--long-side", type=positive_int, default=None, metavar="N",
                   help="resize the photo to this long side first")
    add_output_options(p)
    p.set_defaults(run=_run_degrade)


def _run_degrade(args: argparse.Namespace) -> int:
    kinds = () if args.defects.strip().lower() == "none" else tuple(
        k.strip() for k in args.defects.split(",") if k.strip())
    unknown = sorted(set(kinds) - set(DEFECT_KINDS))
    if unknown:
        raise InputError(f"unknown defect kinds {unknown}; choose from {', '.join(DEFECT_KINDS)}")
    if not args.amount >= 0:
        raise InputError(f"--amount must be >= 0, got {args.amount}")
    for path in (args.output, args.mask_out):
        if path is not None:
            format_for_path(path)
            check_destination(path, overwrite=args.overwrite, protect=(args.photo,))
    if args.mask_out is not None and args.mask_out.absolute() == args.output.absolute():
        raise OutputError("--mask-out and -o name the same file")
    photo = read_image(args.photo, max_pixels=args.max_pixels)
    rgb = photo.rgb
    if args.long_side:
        import cv2

        w, h = photo.size
        f = args.long_side / max(w, h)
        rgb = cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))),
                         interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
    d = degrade(rgb, seed=args.seed, defects=kinds, ageing=not args.no_ageing,
                amount=args.amount, tone=args.tone)
    write_image(LoadedImage(d.image), args.output, quality=args.quality,
                compression=args.compression, overwrite=args.overwrite, protect=(args.photo,))
    if args.mask_out is not None:
        m = np.repeat(d.mask[:, :, None].astype(np.float32), 3, axis=2)
        write_image(LoadedImage(m), args.mask_out, overwrite=args.overwrite,
                    protect=(args.photo, args.output))
    if not args.quiet:
        report(f"wrote {args.output} ({100 * d.mask.mean():.2f}% defect pixels: "
               f"{', '.join(sorted(d.kinds)) or 'none'})")
        if args.mask_out is not None:
            report(f"wrote {args.mask_out} (the defect mask)")
    return EXIT_OK
