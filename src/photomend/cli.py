"""The ``photomend`` command: parse, call the library, write, and turn errors into exit codes.

Commands: ``remove`` (one image, or a folder), ``engines`` (list them) and ``example`` (run the
bundled example photo). Exit codes: 0 success, 2 bad usage or bad input (one
``photomend: error: ...`` line, no traceback), 1 anything else. ``--traceback`` or
``PHOTOMEND_DEBUG=1`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from importlib.resources import as_file, files
from pathlib import Path

from tqdm import tqdm

from photomend import __version__
from photomend.api import check_engine
from photomend.compare import before_after
from photomend.engines import available_engines
from photomend.errors import InputError, MaskError, OutputError, PhotomendError
from photomend.io import (
    FORMATS_BY_SUFFIX,
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
    remove_array,
)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
HD_STRATEGIES = ("auto", "cra", "crop", "resize", "original")
IMAGE_SUFFIXES = tuple(FORMATS_BY_SUFFIX)
#: Long side, in pixels, of each half of a --compare sheet (a quick look, not a full-size copy).
COMPARE_MAX_SIDE = 2048
#: The bundled example (package data) and what ``photomend example`` writes.
EXAMPLE_PHOTO, EXAMPLE_MASK = "example.jpg", "example_mask.png"
EXAMPLE_RESULT, EXAMPLE_SHEET = "example_result.jpg", "example_before_after.jpg"
EXAMPLE_DIR = Path("photomend-example")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code (the entry point passes it to sys.exit).

    >>> main(["engines"])  # doctest: +ELLIPSIS
    patchmatch ...
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has already printed help or the usage error
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    debug = getattr(args, "traceback", False) or _env_flag("PHOTOMEND_DEBUG")
    try:
        return args.run(args)
    except (InputError, OutputError) as exc:
        if debug:
            traceback.print_exc()
        _say("error", str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _say("error", "interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001  (anything else: exit 1, one line, no traceback)
        if debug:
            traceback.print_exc()
        _say("error", f"{_describe(exc)} (rerun with --traceback for details)")
        return EXIT_FAILURE


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``photomend`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="photomend", description="Repair photographs on a plain CPU."
    )
    parser.add_argument("--version", action="version", version=f"photomend {__version__}")
    parser.add_argument("--traceback", action="store_true", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    rm = sub.add_parser(
        "remove",
        help="remove objects marked by a mask",
        description="Remove what MASK marks (any non-zero pixel, or non-zero alpha on a "
        "transparent layer) and fill the hole from the surroundings. IMAGE may be a folder: then "
        "--mask is a folder of masks matched by file stem (stem.png, stem_mask.png, stem.*) and "
        "-o an output folder.",
    )
    rm.add_argument("image", metavar="IMAGE", type=Path, help="image file or folder of images")
    rm.add_argument("--mask", "-m", required=True, type=Path, help="mask file or folder of masks")
    rm.add_argument("-o", "--output", required=True, type=Path, help="output file or folder")
    rm.add_argument("--engine", default=DEFAULT_ENGINE,
                    help=f"inpainting engine (default: {DEFAULT_ENGINE}; see 'photomend engines')")
    rm.add_argument("--hd-strategy", default=DEFAULT_HD_STRATEGY, choices=HD_STRATEGIES,
                    help=f"how large images are handled (default: {DEFAULT_HD_STRATEGY})")
    rm.add_argument("--working-size", type=_positive_int, default=DEFAULT_WORKING_SIZE,
                    metavar="N",
                    help=f"engine working size in pixels (default: {DEFAULT_WORKING_SIZE})")
    rm.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")
    rm.add_argument("--resize-mask", action="store_true",
                    help="scale a mask of another size to the image instead of failing")
    rm.add_argument("--overwrite", action="store_true",
                    help="replace existing output files, even the input itself")
    rm.add_argument("--quality", type=_quality, default=95, metavar="Q",
                    help="JPEG/WebP quality 1-100 (default: 95)")
    rm.add_argument("--max-pixels", type=_positive_int, default=None, metavar="N",
                    help="refuse larger images (default: $PHOTOMEND_MAX_PIXELS or 200000000)")
    rm.add_argument("--compare", type=Path, default=None, metavar="FILE",
                    help="also write a before/after sheet (the image with the removed area "
                    "tinted | the result) to FILE; a folder when IMAGE is a folder "
                    f"(each half at most {COMPARE_MAX_SIDE} px)")
    rm.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    rm.add_argument("--traceback", action="store_true", default=argparse.SUPPRESS,
                    help=argparse.SUPPRESS)
    rm.set_defaults(run=_run_remove)

    eng = sub.add_parser("engines", help="list the inpainting engines")
    eng.set_defaults(run=_run_engines)

    ex = sub.add_parser(
        "example",
        help="run the bundled example photo",
        description="Remove a tower from the bundled example photo with the default settings "
        f"and write {EXAMPLE_RESULT} and {EXAMPLE_SHEET} (before | after) into DIR, with copies "
        f"of the input ({EXAMPLE_PHOTO}, {EXAMPLE_MASK}). Files of those names in DIR are "
        "replaced.",
    )
    ex.add_argument("-o", "--output", type=Path, default=EXAMPLE_DIR, metavar="DIR",
                    help=f"output folder, created if needed (default: ./{EXAMPLE_DIR})")
    ex.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    ex.add_argument("--traceback", action="store_true", default=argparse.SUPPRESS,
                    help=argparse.SUPPRESS)
    ex.set_defaults(run=_run_example)
    return parser


def _run_engines(args: argparse.Namespace) -> int:
    engines = available_engines()
    width = max(map(len, engines), default=0)
    for name, traits in engines.items():
        note = traits.description
        if name == DEFAULT_ENGINE and "default" not in note:
            note += " (default)"
        print(f"{name:<{width}}  {note}")
    return EXIT_OK


def _run_remove(args: argparse.Namespace) -> int:
    check_engine(args.engine)  # fail before reading anything
    if args.image.is_dir():
        return _remove_folder(args)
    mask = args.mask
    if mask.is_dir():
        mask = _find_mask(args.image, mask)
        if mask is None:
            raise MaskError(f"no mask for {args.image.name} in {args.mask}")
    out = args.output / args.image.name if args.output.is_dir() else args.output
    compare = args.compare
    if compare is not None and compare.is_dir():
        compare = compare / args.image.name
    bars = _StageBars(enabled=not args.quiet and sys.stderr.isatty())
    try:
        _remove_one(args.image, mask, out, args, progress=bars, compare=compare)
    finally:
        bars.close()
    return EXIT_OK


def _run_example(args: argparse.Namespace) -> int:
    out_dir = args.output
    _make_folder(out_dir, "-o")
    settings = argparse.Namespace(
        engine=DEFAULT_ENGINE, hd_strategy=DEFAULT_HD_STRATEGY, working_size=DEFAULT_WORKING_SIZE,
        seed=0, resize_mask=False, overwrite=True, quality=95, max_pixels=None, quiet=args.quiet,
    )
    data = files("photomend") / "data"
    with as_file(data / EXAMPLE_PHOTO) as photo, as_file(data / EXAMPLE_MASK) as mask:
        for path in (photo, mask):
            if not path.is_file():
                raise PhotomendError(f"the bundled example {path} is missing; reinstall photomend")
        bars = _StageBars(enabled=not args.quiet and sys.stderr.isatty())
        try:
            _remove_one(photo, mask, out_dir / EXAMPLE_RESULT, settings, progress=bars,
                        compare=out_dir / EXAMPLE_SHEET)
        finally:
            bars.close()
        for path in (photo, mask):  # so that the user can rerun it with `photomend remove`
            if not _same_file(path, out_dir / path.name):
                shutil.copyfile(path, out_dir / path.name)
    if not args.quiet:
        _report(f"input copied to {out_dir / EXAMPLE_PHOTO} and {out_dir / EXAMPLE_MASK}")
    return EXIT_OK


def _make_folder(folder: Path, option: str) -> None:
    """Create the output folder ``folder`` (given with ``option``) or raise OutputError."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{option} must be a folder; {folder} is a file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problem = exc.strerror or exc
        raise OutputError(f"cannot create the output folder {folder}: {problem}") from None


def _remove_folder(args: argparse.Namespace) -> int:
    src, masks, out_dir = args.image, args.mask, args.output
    if not masks.is_dir():
        raise InputError(f"{src} is a folder, so --mask must be a folder of masks too")
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{src} is a folder, so -o must be a folder too; {out_dir} is a file")
    if out_dir.exists() and out_dir.resolve() == src.resolve() and not args.overwrite:
        raise OutputError(f"the output folder is the input folder {src}; pass --overwrite to "
                          "replace the images")
    compare_dir = args.compare
    if compare_dir is not None:
        if compare_dir.exists() and not compare_dir.is_dir():
            raise OutputError(f"{src} is a folder, so --compare must be a folder too; "
                              f"{compare_dir} is a file")
        if compare_dir.resolve() in (out_dir.resolve(), src.resolve()):
            raise OutputError("--compare must name a folder of its own, not the input or output "
                              "folder")
    images = _list_images(src, skip_masks=masks.resolve() == src.resolve())
    if not images:
        raise InputError(f"no images in {src} (looked for {', '.join(IMAGE_SUFFIXES)})")
    _make_folder(out_dir, "-o")
    if compare_dir is not None:
        _make_folder(compare_dir, "--compare")

    started, failed, unexpected = time.perf_counter(), 0, False
    bar = tqdm(images, unit="image", file=sys.stderr, disable=args.quiet or not sys.stderr.isatty())
    for image in bar:
        bar.set_postfix_str(image.name)
        try:
            mask = _find_mask(image, masks)
            if mask is None:
                raise MaskError(f"no mask for {image.name} in {masks}; skipped")
            compare = None if compare_dir is None else compare_dir / image.name
            _remove_one(image, mask, out_dir / image.name, args, progress=None, compare=compare)
        except (InputError, OutputError) as exc:
            failed += 1
            message = str(exc)  # most messages name the file; say which one when they don't
            _say("error", message if image.name in message else f"{image.name}: {message}")
        except Exception as exc:  # noqa: BLE001  (one broken file must not stop the batch)
            failed, unexpected = failed + 1, True
            _say("error", f"{image.name}: {_describe(exc)}")
    bar.close()
    if not args.quiet:
        done = len(images) - failed
        tail = f"; {failed} failed" if failed else ""
        print(f"processed {done} of {len(images)} images into {out_dir} "
              f"in {time.perf_counter() - started:.1f} s{tail}")
    return EXIT_FAILURE if unexpected else EXIT_USAGE if failed else EXIT_OK


def _remove_one(
    image: Path, mask: Path, out: Path, args: argparse.Namespace, *,
    progress: Callable[[str, int, int], None] | None, compare: Path | None = None,
) -> None:
    """Remove, write and report one image (and its before/after sheet when ``compare`` is set).

    Output problems are caught before the slow part.
    """
    started = time.perf_counter()
    format_for_path(out)
    protect = () if args.overwrite else (image, mask)
    if not args.overwrite and out.exists() and _same_file(out, image):
        raise OutputError(f"{out} is the input image; pass --overwrite to replace it")
    check_destination(out, overwrite=args.overwrite, protect=protect)
    if compare is not None:
        format_for_path(compare)
        if compare.absolute() == out.absolute() or _same_file(compare, out):
            raise OutputError(f"--compare and -o both name {out}; give the sheet its own name")
        check_destination(compare, overwrite=args.overwrite, protect=(image, mask))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        before = read_image(image, max_pixels=args.max_pixels)
        hole = read_mask(mask, size=before.size, resize=args.resize_mask,
                         max_pixels=args.max_pixels)
        loaded = before
        if hole.any():
            loaded = before.with_rgb(remove_array(
                before.rgb, hole, engine=args.engine, hd_strategy=args.hd_strategy,
                working_size=args.working_size, seed=args.seed, progress=progress,
            ))
        elif not args.quiet:
            _say("note", f"mask {mask.name} is empty: nothing to remove, {image.name} written "
                 "unchanged")
        write_image(loaded, out, quality=args.quality, overwrite=args.overwrite, protect=protect)
        if compare is not None:
            sheet = before_after(before.rgb, hole, loaded.rgb, max_side=COMPARE_MAX_SIDE)
            write_image(LoadedImage(sheet, icc_profile=before.icc_profile), compare,
                        quality=args.quality, overwrite=args.overwrite,
                        protect=(image, mask, out))
    if not args.quiet:
        for w in caught:
            if not issubclass(w.category, UserWarning):
                continue  # library deprecation chatter is for developers, not users
            _say("warning", f"{out.name}: {w.message}")
        width, height = loaded.size
        _report(f"wrote {out} ({width}x{height}, {time.perf_counter() - started:.1f} s)")
        if compare is not None:
            _report(f"wrote {compare} (before | after)")


class _StageBars:
    """A ``progress(stage, done, total)`` callback drawing one tqdm bar per stage on stderr."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled, self.stage, self.bar = enabled, None, None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if stage != self.stage or self.bar is None:
            self.close()
            self.stage = stage
            self.bar = tqdm(total=total, desc=stage, file=sys.stderr, leave=False)
        if total != self.bar.total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)  # update() rate-limits redraws; n = n is free

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.stage, self.bar = None, None


def _list_images(folder: Path, *, skip_masks: bool) -> list[Path]:
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
        and not (skip_masks and p.stem.endswith("_mask"))
    )


def _find_mask(image: Path, folder: Path) -> Path | None:
    """The mask of ``image`` in ``folder``: stem.png, stem_mask.png, then stem.* / stem_mask.*."""
    stem = glob.escape(image.stem)
    candidates = [folder / f"{image.stem}.png", folder / f"{image.stem}_mask.png"]
    candidates += sorted(folder.glob(f"{stem}.*")) + sorted(folder.glob(f"{stem}_mask.*"))
    for path in candidates:
        if (path.stem in (image.stem, f"{image.stem}_mask") and path.is_file()
                and path.suffix.lower() in IMAGE_SUFFIXES and not _same_file(path, image)):
            return path
    return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _say(kind: str, message: str) -> None:
    """One ``photomend: KIND: message`` line on stderr (tqdm.write keeps any bar intact)."""
    tqdm.write(f"photomend: {kind}: {' '.join(message.split())}", file=sys.stderr)


def _report(line: str) -> None:
    tqdm.write(line, file=sys.stdout)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _quality(text: str) -> int:
    value = _positive_int(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"must be between 1 and 100, got {value}")
    return value


if __name__ == "__main__":
    sys.exit(main())
