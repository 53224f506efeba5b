"""``photomend remove`` (one image, or a folder with a folder of masks) and ``photomend
example`` (the bundled example photo)."""

from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Callable
from importlib.resources import as_file, files
from pathlib import Path

import numpy as np

from photomend.api import check_engine
from photomend.cli.remove_video import add_video_options, keep_point, run_video
from photomend.cli.upscale_video import is_video
from photomend.cli.common import (
    EXIT_OK,
    IMAGE_SUFFIXES,
    StageBars,
    add_output_options,
    add_quiet_option,
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
from photomend.compare import before_after
from photomend.errors import InputError, MaskError, OutputError, PhotomendError
from photomend.files import find_mask as _find_mask
from photomend.io import (
    LoadedImage,
    check_destination,
    format_for_path,
    read_image,
    read_mask,
    write_image,
)
from photomend.removal import (
    DEFAULT_ENGINE,
    DEFAULT_HD_STRATEGY,
    DEFAULT_WORKING_SIZE,
    PREFERRED_ENGINES,
    default_engine,
    prewarm,
    remove_array,
)

HD_STRATEGIES = ("auto", "cra", "crop", "resize", "original")
#: Long side, in pixels, of each half of a --compare sheet (a quick look, not a full-size copy).
COMPARE_MAX_SIDE = 2048
#: The bundled example (package data) and what ``photomend example`` writes.
EXAMPLE_PHOTO, EXAMPLE_MASK = "example.jpg", "example_mask.png"
EXAMPLE_RESULT, EXAMPLE_SHEET = "example_result.jpg", "example_before_after.jpg"
EXAMPLE_DIR = Path("photomend-example")


def add_parser(sub: argparse._SubParsersAction) -> None:
    rm = sub.add_parser(
        "remove",
        help=summary("remove"),
        description="Remove what MASK marks (any non-zero pixel, or non-zero alpha on a "
        "transparent layer) and fill the hole from the surroundings. IMAGE may be a folder: then "
        "--mask is a folder of masks matched by file stem (stem.png, stem_mask.png, stem.*) and "
        "-o an output folder. Instead of (or besides) a mask, --auto finds the people or objects "
        "to remove and --select removes the object under a point (see docs/objects.md).",
    )
    rm.add_argument("image", metavar="IMAGE", type=Path, help="image file or folder of images")
    rm.add_argument("--mask", "-m", type=Path, default=None,
                    help="mask file or folder of masks (optional with --auto or --select)")
    rm.add_argument("-o", "--output", required=True, type=Path, help="output file or folder")
    rm.add_argument("--engine", default=None,
                    help="inpainting engine (default: the first installed of "
                    f"{', '.join(PREFERRED_ENGINES)}, else {DEFAULT_ENGINE}; see "
                    "'photomend engines')")
    rm.add_argument("--hd-strategy", default=DEFAULT_HD_STRATEGY, choices=HD_STRATEGIES,
                    help=f"how large images are handled (default: {DEFAULT_HD_STRATEGY})")
    rm.add_argument("--working-size", type=positive_int, default=DEFAULT_WORKING_SIZE,
                    metavar="N",
                    help=f"engine working size in pixels (default: {DEFAULT_WORKING_SIZE})")
    rm.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")
    rm.add_argument("--resize-mask", action="store_true",
                    help="scale a mask of another size to the image instead of failing")
    rm.add_argument("--compare", type=Path, default=None, metavar="FILE",
                    help="also write a before/after sheet (the image with the removed area "
                    "tinted | the result) to FILE; a folder when IMAGE is a folder "
                    f"(each half at most {COMPARE_MAX_SIDE} px)")
    auto = rm.add_argument_group("automatic masks")
    auto.add_argument("--auto", default=None, metavar="CLASSES",
                      help="remove every instance of these COCO classes, e.g. person or "
                      "person,car (see 'photomend objects --help')")
    auto.add_argument("--keep", type=keep_point, nargs="+", action="extend", default=[],
                      metavar="X,Y", help="with --auto: keep the instances under these points "
                      "(videos: X,Y@T, at T seconds)")
    auto.add_argument("--select", type=point, nargs="+", action="extend", default=[],
                      metavar="X,Y", help="remove the object under each point: the instance "
                      "found there, else the region around it bounded by edges")
    auto.add_argument("--grow", type=nonnegative_int, default=None, metavar="PX",
                      help="widen each found mask by PX pixels (default: 8%% of each "
                      "person's height, at least 3)")
    auto.add_argument("--min-score", type=float, default=None, metavar="S",
                      help="detector confidence 0-1 an instance needs (default: 0.25)")
    auto.add_argument("--mask-out", type=Path, default=None, metavar="FILE",
                      help="also write the mask used (a folder when IMAGE is a folder)")
    add_video_options(rm)
    add_output_options(rm)
    rm.set_defaults(run=_run_remove)


def point(text: str) -> tuple[float, float]:
    """``X,Y`` in pixels (argparse type)."""
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X,Y in pixels, got {text!r}") from None
    return x, y


def nonnegative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _automatic(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "auto", None) or getattr(args, "select", None))


def _check_auto_options(args: argparse.Namespace) -> None:
    """Fail on bad --auto/--keep/--select options before reading anything."""
    if args.keep and not args.auto:
        raise InputError("--keep needs --auto (it keeps some of the instances --auto finds)")
    if args.mask is None and not _automatic(args):
        raise InputError("nothing to remove: give --mask, --auto CLASSES or --select X,Y")
    if args.auto:
        from photomend.objects.classes import parse_classes

        args.auto = parse_classes(args.auto)  # an unknown class: one line naming the valid ones
    if args.min_score is not None and not 0.0 <= args.min_score <= 1.0:
        raise InputError(f"--min-score must be between 0 and 1, got {args.min_score}")


def add_example_parser(sub: argparse._SubParsersAction) -> None:
    ex = sub.add_parser(
        "example",
        help=summary("example"),
        description="Remove a tower from the bundled example photo with the default settings "
        f"and write {EXAMPLE_RESULT} and {EXAMPLE_SHEET} (before | after) into DIR, with copies "
        f"of the input ({EXAMPLE_PHOTO}, {EXAMPLE_MASK}). Files of those names in DIR are "
        "replaced.",
    )
    ex.add_argument("-o", "--output", type=Path, default=EXAMPLE_DIR, metavar="DIR",
                    help=f"output folder, created if needed (default: ./{EXAMPLE_DIR})")
    add_quiet_option(ex)
    ex.set_defaults(run=_run_example)


def _run_remove(args: argparse.Namespace) -> int:
    if args.engine is None:
        args.engine = default_engine()[0]
    check_engine(args.engine)  # fail before reading anything
    _check_auto_options(args)
    if is_video(args.image):
        return run_video(args)
    if args.image.is_dir():
        return _remove_folder(args)
    mask = args.mask
    if mask is not None and mask.is_dir():
        mask = _find_mask(args.image, mask)
        if mask is None:
            raise MaskError(f"no mask for {args.image.name} in {args.mask}")
    out = args.output / args.image.name if args.output.is_dir() else args.output
    compare = args.compare
    if compare is not None and compare.is_dir():
        compare = compare / args.image.name
    mask_out = args.mask_out
    if mask_out is not None and mask_out.is_dir():
        mask_out = mask_out / (args.image.stem + "_mask.png")
    bars = StageBars.for_args(args)
    try:
        _remove_one(args.image, mask, out, args, progress=bars, compare=compare,
                    mask_out=mask_out)
    finally:
        bars.close()
    return EXIT_OK


def _run_example(args: argparse.Namespace) -> int:
    out_dir = args.output
    make_folder(out_dir, "-o")
    settings = argparse.Namespace(
        engine=DEFAULT_ENGINE, hd_strategy=DEFAULT_HD_STRATEGY, working_size=DEFAULT_WORKING_SIZE,
        seed=0, resize_mask=False, overwrite=True, quality=95, compression=1, max_pixels=None,
        quiet=args.quiet,
    )
    data = files("photomend") / "data"
    with as_file(data / EXAMPLE_PHOTO) as photo, as_file(data / EXAMPLE_MASK) as mask:
        for path in (photo, mask):
            if not path.is_file():
                raise PhotomendError(f"the bundled example {path} is missing; reinstall photomend")
        bars = StageBars.for_args(args)
        try:
            _remove_one(photo, mask, out_dir / EXAMPLE_RESULT, settings, progress=bars,
                        compare=out_dir / EXAMPLE_SHEET)
        finally:
            bars.close()
        for path in (photo, mask):  # so that the user can rerun it with `photomend remove`
            if not same_file(path, out_dir / path.name):
                shutil.copyfile(path, out_dir / path.name)
    if not args.quiet:
        report(f"input copied to {out_dir / EXAMPLE_PHOTO} and {out_dir / EXAMPLE_MASK}")
    return EXIT_OK


def _remove_folder(args: argparse.Namespace) -> int:
    src, masks, out_dir = args.image, args.mask, args.output
    if masks is not None and not masks.is_dir():
        raise InputError(f"{src} is a folder, so --mask must be a folder of masks too")
    mask_out_dir = args.mask_out
    if mask_out_dir is not None:
        if mask_out_dir.exists() and not mask_out_dir.is_dir():
            raise OutputError(f"{src} is a folder, so --mask-out must be a folder too")
        make_folder(mask_out_dir, "--mask-out")
    check_folder_output(src, out_dir, overwrite=args.overwrite)
    compare_dir = args.compare
    if compare_dir is not None:
        if compare_dir.exists() and not compare_dir.is_dir():
            raise OutputError(f"{src} is a folder, so --compare must be a folder too; "
                              f"{compare_dir} is a file")
        if compare_dir.resolve() in (out_dir.resolve(), src.resolve()):
            raise OutputError("--compare must name a folder of its own, not the input or output "
                              "folder")
    images = list_images(src, skip_masks=masks is not None and masks.resolve() == src.resolve())
    if not images:
        raise InputError(f"no images in {src} (looked for {', '.join(IMAGE_SUFFIXES)})")
    make_folder(out_dir, "-o")
    if compare_dir is not None:
        make_folder(compare_dir, "--compare")

    def work(image: Path) -> None:
        mask = None if masks is None else _find_mask(image, masks)
        if mask is None and not _automatic(args):
            raise MaskError(f"no mask for {image.name} in {masks}; skipped")
        compare = None if compare_dir is None else compare_dir / image.name
        mask_out = None if mask_out_dir is None else mask_out_dir / (image.stem + "_mask.png")
        _remove_one(image, mask, out_dir / image.name, args, progress=None, compare=compare,
                    mask_out=mask_out)

    return process_folder(images, work, quiet=args.quiet, out_dir=out_dir)


def _remove_one(
    image: Path, mask: Path | None, out: Path, args: argparse.Namespace, *,
    progress: Callable[[str, int, int], None] | None, compare: Path | None = None,
    mask_out: Path | None = None,
) -> None:
    """Remove, write and report one image (and its before/after sheet when ``compare`` is set).

    Output problems are caught before the slow part.
    """
    started = time.perf_counter()
    inputs = (image,) if mask is None else (image, mask)
    protect = claim_output(out, inputs, overwrite=args.overwrite)
    for option, extra, what in (("--compare", compare, "sheet"), ("--mask-out", mask_out, "mask")):
        if extra is None:
            continue
        format_for_path(extra)
        if extra.absolute() == out.absolute() or same_file(extra, out):
            raise OutputError(f"{option} and -o both name {out}; give the {what} its own name")
        check_destination(extra, overwrite=args.overwrite, protect=inputs)
    with reported_warnings(out.name, quiet=args.quiet):
        warm = prewarm(args.engine)  # loads the kernels while the photo decodes
        before = read_image(image, max_pixels=args.max_pixels)
        if mask is not None:
            hole = read_mask(mask, size=before.size, resize=args.resize_mask,
                             max_pixels=args.max_pixels)
        else:
            hole = np.zeros(before.rgb.shape[:2], bool)
        if _automatic(args):
            hole = hole | _auto_hole(before, args)
        loaded = before
        if hole.any():
            # (Not joined first: the fill's own work before its first kernel overlaps the
            # loading too; the engine waits for the kernels where it needs them.)
            loaded = before.with_rgb(remove_array(
                before.rgb, hole, engine=args.engine, hd_strategy=args.hd_strategy,
                working_size=args.working_size, seed=args.seed, progress=progress,
                in_place=compare is None,  # (the sheet shows the photo as it was)
            ))
        elif not args.quiet and mask is None:
            what = " or ".join(args.auto) if getattr(args, "auto", None) else "object"
            say("note", f"no {what} found in {image.name}: nothing to remove, written unchanged")
        elif not args.quiet:
            say("note", f"mask {mask.name} is empty: nothing to remove, {image.name} written "
                 "unchanged")
        if warm is not None:
            warm.join()
        write_image(loaded, out, quality=args.quality, compression=args.compression,
                    overwrite=args.overwrite, protect=protect)
        if compare is not None:
            sheet = before_after(before.rgb, hole, loaded.rgb, max_side=COMPARE_MAX_SIDE)
            write_image(LoadedImage(sheet, icc_profile=before.icc_profile), compare,
                        quality=args.quality, compression=args.compression,
                        overwrite=args.overwrite,
                        protect=inputs + (out,))
        if mask_out is not None:
            m = np.repeat(hole[:, :, None].astype(np.float32), 3, axis=2)
            write_image(LoadedImage(m), mask_out, overwrite=args.overwrite,
                        protect=inputs + (out,))
    if not args.quiet:
        width, height = loaded.size
        report(f"wrote {out} ({width}x{height}, {time.perf_counter() - started:.1f} s)")
        if compare is not None:
            report(f"wrote {compare} (before | after)")
        if mask_out is not None:
            report(f"wrote {mask_out} (the mask, {100 * hole.mean():.2f}% of the pixels)")


def _auto_hole(before: LoadedImage, args: argparse.Namespace) -> np.ndarray:
    """The mask of --auto / --keep / --select on the decoded photo (its own orientation)."""
    from photomend.objects.api import DEFAULT_MIN_SCORE, auto_mask

    min_score = DEFAULT_MIN_SCORE if args.min_score is None else args.min_score
    return auto_mask(before, args.auto or (), grow=args.grow, min_score=min_score,
                     keep=args.keep, select=args.select)
