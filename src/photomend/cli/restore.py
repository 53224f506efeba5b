"""``photomend restore``: find and repair the scratches, dust, cracks, folds, stains and torn
corners of old scans (one file or a folder); optionally colorize and upscale the result."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from photomend.cli.common import (
    EXIT_OK,
    IMAGE_SUFFIXES,
    StageBars,
    add_output_options,
    check_folder_output,
    claim_output,
    list_images,
    make_folder,
    positive_int,
    process_folder,
    report,
    reported_warnings,
    same_file,
    say,
    summary,
)
from photomend.errors import InputError, OutputError
from photomend.files import find_mask
from photomend.io import (
    LoadedImage,
    check_destination,
    format_for_path,
    read_image,
    read_mask,
    write_image,
)
from photomend.restoration.detect import (
    DEFAULT_DETECTOR,
    DETECTORS,
    check_detector,
    check_threshold,
)
from photomend.restoration.pipeline import NO_DEFECTS_MESSAGE, restore_loaded
from photomend.restoration.sheet import three_way

#: Long side of each panel of a --compare sheet.
COMPARE_MAX_SIDE = 1600


#: ``--colorize`` without a METHOD: the default of ``photomend colorize``.
_DEFAULT_METHOD = "default"

def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "restore",
        help=summary("restore"),
        description="Detect the defects of an old scan (scratches, dust, cracks, folds, stains, "
        "torn corners), dilate them a little and fill them. SCAN may be a folder: then -o, "
        "--mask-out, --compare and --extra-mask are folders too (extra masks matched by file "
        "stem: stem.png, stem_mask.png).",
    )
    p.add_argument("scan", metavar="SCAN", type=Path, help="scanned photo or folder of scans")
    p.add_argument("-o", "--output", required=True, type=Path, help="output file or folder")
    p.add_argument("--detector", default=DEFAULT_DETECTOR, choices=DETECTORS,
                   help=f"defect detector (default: {DEFAULT_DETECTOR}; bopbtl: Bringing Old "
                   "Photos Back to Life's published one, once installed with `photomend models "
                   "fetch bopbtl-scratch`)")
    p.add_argument("--threshold", type=float, default=None, metavar="T",
                   help="decision threshold in (0, 1); lower finds more (default: the "
                   "detector's calibrated one)")
    p.add_argument("--mask-out", type=Path, default=None, metavar="FILE",
                   help="also write the filled mask (white = filled) as an image")
    p.add_argument("--extra-mask", type=Path, default=None, metavar="FILE",
                   help="your own strokes to fill as well (non-zero pixels or alpha)")
    p.add_argument("--compare", type=Path, default=None, metavar="FILE",
                   help="also write a sheet: scan | defects found | restored "
                   f"(each panel at most {COMPARE_MAX_SIDE} px)")
    p.add_argument("--colorize", nargs="?", const=_DEFAULT_METHOD, default=None,
                   metavar="METHOD",
                   help="also colorize the result: 'auto' (a zoo network; see 'photomend "
                   "models'), 'reference' (with --reference) or 'hints' (with --hints); "
                   "without METHOD: hints if --hints, else reference if --reference, else auto")
    p.add_argument("--reference", type=Path, default=None, metavar="FILE",
                   help="reference colour photo for --colorize")
    p.add_argument("--hints", type=Path, default=None, metavar="FILE",
                   help="colour hints for --colorize (strokes image or JSON)")
    p.add_argument("--upscale", type=positive_int, default=None, metavar="N",
                   help="also upscale the result by N (2, 3 or 4)")
    p.add_argument("--faces", choices=("gfpgan",), default=None,
                   help="gfpgan: also restore each face with GFPGAN (gfpgan-v1.4 weights)")
    p.add_argument("--face-strength", type=float, default=1.0, metavar="S",
                   help="blend of GFPGAN's face with the repaired one, 0-1 (default: 1)")
    add_output_options(p)
    p.set_defaults(run=_run_restore)


def _run_restore(args: argparse.Namespace) -> int:
    check_detector(args.detector)
    check_threshold(args.threshold)
    if args.colorize == _DEFAULT_METHOD or (not args.colorize and (args.reference or args.hints)):
        # colorize's own default (photomend.colorization.core.resolve_method(None, ...))
        args.colorize = "hints" if args.hints else "reference" if args.reference else "auto"
    if args.colorize:  # an unknown method, missing hints or a missing model: fail first
        from photomend.colorization.core import resolve_method

        method = resolve_method(args.colorize, hints=args.hints is not None,
                                reference=args.reference is not None,
                                names=("--hints FILE", "--reference FILE"))
        if method == "auto":
            from photomend.colorization.zhang import find_model

            find_model()
    if args.faces:  # strength out of range or the model missing: fail first
        from photomend.cli.upscale import _check_gfpgan

        _check_gfpgan(args)
    if args.upscale is not None:
        from photomend.upscaling.api import scan_upscaler
        from photomend.upscaling.base import check_upscaler

        check_upscaler(scan_upscaler(args.upscale), args.upscale)
    if not args.scan.exists():
        raise InputError(f"{args.scan}: no such file or folder")
    if args.scan.is_dir():
        return _restore_folder(args)
    extra = args.extra_mask
    if extra is not None and extra.is_dir():
        extra = find_mask(args.scan, extra)
    out = args.output / args.scan.name if args.output.is_dir() else args.output
    mask_out = args.mask_out
    if mask_out is not None and mask_out.is_dir():
        mask_out = mask_out / f"{args.scan.stem}_mask.png"
    compare = args.compare
    if compare is not None and compare.is_dir():
        compare = compare / args.scan.name
    bars = StageBars.for_args(args)
    try:
        _restore_one(args.scan, out, args, extra=extra, mask_out=mask_out, compare=compare,
                     progress=bars)
    finally:
        bars.close()
    return EXIT_OK


def _restore_folder(args: argparse.Namespace) -> int:
    src, out_dir = args.scan, args.output
    check_folder_output(src, out_dir, overwrite=args.overwrite)
    folders = {"--mask-out": args.mask_out, "--compare": args.compare}
    for option, folder in folders.items():
        if folder is None:
            continue
        if folder.exists() and not folder.is_dir():
            raise OutputError(f"{src} is a folder, so {option} must be a folder too; {folder} "
                              "is a file")
        if folder.resolve() in (out_dir.resolve(), src.resolve()):
            raise OutputError(f"{option} must name a folder of its own, not the input or "
                              "output folder")
    if args.extra_mask is not None and not args.extra_mask.is_dir():
        raise InputError(f"{src} is a folder, so --extra-mask must be a folder of masks too")
    skip = args.extra_mask is not None and args.extra_mask.resolve() == src.resolve()
    images = list_images(src, skip_masks=skip)
    if not images:
        raise InputError(f"no images in {src} (looked for {', '.join(IMAGE_SUFFIXES)})")
    make_folder(out_dir, "-o")
    for option, folder in folders.items():
        if folder is not None:
            make_folder(folder, option)

    def work(scan: Path) -> None:
        extra = None if args.extra_mask is None else find_mask(scan, args.extra_mask)
        mask_out = None if args.mask_out is None else args.mask_out / f"{scan.stem}_mask.png"
        compare = None if args.compare is None else args.compare / scan.name
        _restore_one(scan, out_dir / scan.name, args, extra=extra, mask_out=mask_out,
                     compare=compare, progress=None)

    return process_folder(images, work, quiet=args.quiet, out_dir=out_dir, unit="scan")


def _restore_one(scan: Path, out: Path, args: argparse.Namespace, *, extra: Path | None,
                 mask_out: Path | None, compare: Path | None, progress) -> None:
    """Restore, write and report one scan; output problems are caught before the slow part."""
    started = time.perf_counter()
    inputs = (scan,) + ((extra,) if extra is not None else ())
    protect = claim_output(out, inputs, overwrite=args.overwrite, what="scan")
    written = [out]
    for option, path in (("--mask-out", mask_out), ("--compare", compare)):
        if path is None:
            continue
        format_for_path(path)
        if any(path.absolute() == w.absolute() or same_file(path, w) for w in written):
            raise OutputError(f"{option} names {path}, which is already an output; give it a "
                              "name of its own")
        check_destination(path, overwrite=args.overwrite, protect=inputs)
        written.append(path)
    colorize = None
    if args.colorize:
        colorize = {"method": args.colorize, "reference": args.reference, "hints": args.hints}
    with reported_warnings(out.name, quiet=args.quiet):
        # The detector's network loads in the background while the scan decodes (the repair's
        # PatchMatch kernels once the defects are found: restoration.pipeline.restore_array).
        if args.detector == "learned":
            from photomend.nn import onnx as nn_onnx
            from photomend.restoration import detect_learned, detect_stains

            nn_onnx.prewarm(detect_learned.weights_path(), detect_stains.weights_path())
        before = read_image(scan, max_pixels=args.max_pixels)
        extra_mask = None
        if extra is not None:
            extra_mask = read_mask(extra, size=before.size, max_pixels=args.max_pixels)
        result, mask = restore_loaded(
            before, detector=args.detector, threshold=args.threshold, extra_mask=extra_mask,
            colorize=colorize, upscale=args.upscale, max_pixels=args.max_pixels,
            progress=progress, in_place=compare is None,  # (the sheet shows the scan as it was)
        )
        if args.faces:
            from photomend.cli.upscale import _float_rgb
            from photomend.faces.gfpgan import restore_faces

            rgb = _float_rgb(result)
            restored, faces = restore_faces(rgb, strength=args.face_strength)
            result = result.with_rgb(restored) if faces else result
        write_image(result, out, quality=args.quality, compression=args.compression,
                    overwrite=args.overwrite, protect=protect)
        if mask_out is not None:
            m = np.repeat(mask[:, :, None].astype(np.float32), 3, axis=2)
            write_image(LoadedImage(m), mask_out, quality=100, overwrite=args.overwrite,
                        protect=inputs + (out,))
        if compare is not None:
            sheet = three_way(before.rgb, mask, result.rgb, max_side=COMPARE_MAX_SIDE)
            write_image(LoadedImage(sheet, icc_profile=before.icc_profile), compare,
                        quality=args.quality, compression=args.compression,
                        overwrite=args.overwrite, protect=inputs + (out,))
    if args.quiet:
        return
    if not mask.any():
        say("note", f"{scan.name}: {NO_DEFECTS_MESSAGE}")
    width, height = result.size
    report(f"wrote {out} ({width}x{height}, {100 * mask.mean():.2f}% of pixels repaired, "
           f"{args.detector} detector, {time.perf_counter() - started:.1f} s)")
    if mask_out is not None:
        report(f"wrote {mask_out} (the filled mask)")
    if compare is not None:
        report(f"wrote {compare} (scan | defects found | restored)")
