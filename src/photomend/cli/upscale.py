"""``photomend upscale``: super-resolution x2/x3/x4 of one image or a folder of images."""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from photomend.cli.common import (
    EXIT_OK,
    IMAGE_SUFFIXES,
    StageBars,
    add_output_options,
    check_folder_output,
    claim_output,
    list_images,
    make_folder,
    process_folder,
    report,
    reported_warnings,
    summary,
    whole_number,
)
from photomend.cli.upscale_video import add_video_options, is_video, run_video
from photomend.errors import InputError
from photomend.io import format_for_path, read_image, write_image
from photomend.upscaling.api import DEFAULT_UPSCALER, check_output_size, upscale_loaded
from photomend.upscaling.base import (
    Upscaler,
    available_upscalers,
    check_upscaler,
    create_upscaler,
    upscaler_class,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    up = sub.add_parser(
        "upscale",
        help=summary("upscale"),
        description="Upscale IMAGE by SCALE with a super-resolution model. IMAGE may be a "
        "folder: then -o is an output folder. Large images are processed in overlapping tiles "
        "(bounded memory, no seams). An alpha channel is upscaled by bicubic interpolation; "
        "ICC profile and EXIF are kept.",
        epilog="models: " + "; ".join(_model_lines()),
    )
    up.add_argument("image", metavar="IMAGE", type=Path, nargs="?",
                    help="image file or folder of images")
    up.add_argument("-o", "--output", type=Path, help="output file or folder")
    up.add_argument("-s", "--scale", type=int, default=None, metavar="{2,3,4}",
                    help="upscaling factor (default: the model's only one, else 2; 8 for "
                    "models that have it)")
    up.add_argument("-m", "--model", default=None, metavar="NAME",
                    help=f"upscaler (default: {DEFAULT_UPSCALER}; see --list-models; videos "
                    "also take the multi-frame models compact-vsr, their default at x2 and x4, "
                    "and basicvsr (x4; photomend models fetch basicvsr-reds4))")
    up.add_argument("--noise", type=_noise, default=None, metavar="N",
                    help="srmd: the photo's noise level, sigma in 8-bit units (0-75; default: "
                    "estimated from the photo)")
    up.add_argument("--tile", type=_non_negative, default=None, metavar="N",
                    help="largest tile side in input pixels (default: the model's; 0 = no tiling)")
    up.add_argument("--tile-pad", type=_non_negative, default=None, metavar="N",
                    help="context read around each tile, in input pixels (default: the model's)")
    up.add_argument("--list-models", action="store_true",
                    help="list the upscalers, their scales and whether they are installed")
    up.add_argument("--faces", choices=("gfpgan", "pulse"), default=None,
                    help="gfpgan: restore each face with GFPGAN (gfpgan-v1.4 weights, ONNX); "
                    "pulse: replace each face by one PULSE finds in StyleGAN (torch extra, "
                    "pulse-stylegan-ffhq weights; an invented face, not the person's identity)")
    up.add_argument("--face-strength", type=float, default=1.0, metavar="S",
                    help="gfpgan: blend of the restored face with the input face, 0-1 "
                    "(default: 1, GFPGAN's face)")
    up.add_argument("--face-steps", type=int, default=100, metavar="N",
                    help="PULSE optimisation steps per face (default: 100)")
    up.add_argument("--face-eps", type=float, default=2e-3, metavar="E",
                    help="PULSE's L2 target for the face's downscale (default: 0.002)")
    up.add_argument("--face-seed", type=int, default=None, metavar="S",
                    help="PULSE's random seed (default: a random start)")
    add_output_options(up)
    add_video_options(up)
    up.set_defaults(run=_run_upscale)


def _model_lines() -> list[str]:
    try:
        return [f"{name} (x{', x'.join(map(str, t.scales))})"
                for name, t in available_upscalers().items()]
    except Exception:  # noqa: BLE001  (help text must never break the CLI)
        return ["see --list-models"]


def _run_upscale(args: argparse.Namespace) -> int:
    if args.list_models:
        return _list_models()
    if is_video(args.image):
        if getattr(args, "faces", None):
            raise InputError("--faces works on photos, not videos")
        return run_video(args)
    if args.faces == "pulse":
        args.face_weights = _face_weights(args)
    elif args.faces == "gfpgan":
        _check_gfpgan(args)
    args.model = args.model or DEFAULT_UPSCALER
    if args.image is None or args.output is None:
        raise InputError("photomend upscale needs IMAGE and -o OUT (or --list-models)")
    if args.scale is None:  # a model of one scale (realesrgan-x4plus) needs no -s
        scales = upscaler_class(args.model).traits.scales
        args.scale = scales[0] if len(scales) == 1 else 2
    args.options = {} if args.noise is None else {"noise": args.noise}
    check_upscaler(args.model, args.scale)  # unknown model, scale, missing weights: fail first
    create_upscaler(args.model, None, **args.options)  # an option the model lacks: fail first
    if args.image.is_dir():
        return _upscale_folder(args)
    if not args.image.exists():
        raise InputError(f"{args.image}: no such file or folder")
    out = args.output / args.image.name if args.output.is_dir() else args.output
    if args.model == "compact":  # its network loads in the background while the photo decodes
        from photomend.nn import onnx as nn_onnx
        from photomend.upscaling.compact import weights_path

        nn_onnx.prewarm(weights_path(args.scale))
    bars = StageBars.for_args(args)
    try:
        _upscale_one(args.image, out, args, progress=bars)
    finally:
        bars.close()
    return EXIT_OK


def _list_models() -> int:
    rows = [("NAME", "SCALES", "INSTALLED", "COST", "DESCRIPTION")]
    for name, traits in available_upscalers().items():
        cls: type[Upscaler] = upscaler_class(name)
        ready = cls.installed_scales()
        have = "yes" if ready == traits.scales else ("x" + ", x".join(map(str, ready))
                                                      if ready else "no")
        note = traits.description + (" (default)" if name == DEFAULT_UPSCALER else "")
        rows.append((name, "x" + ", x".join(map(str, traits.scales)), have, traits.cost, note))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    return EXIT_OK


def _upscale_folder(args: argparse.Namespace) -> int:
    src, out_dir = args.image, args.output
    check_folder_output(src, out_dir, overwrite=args.overwrite)
    images = list_images(src)
    if not images:
        raise InputError(f"no images in {src} (looked for {', '.join(IMAGE_SUFFIXES)})")
    make_folder(out_dir, "-o")
    bars = StageBars.for_args(args)
    try:
        return process_folder(
            images, lambda image: _upscale_one(image, out_dir / image.name, args, progress=bars),
            quiet=args.quiet, out_dir=out_dir,
        )
    finally:
        bars.close()


def _upscale_one(image: Path, out: Path, args: argparse.Namespace, *, progress) -> None:
    """Upscale, write and report one image; output and size problems are caught first."""
    started = time.perf_counter()
    protect = claim_output(out, (image,), overwrite=args.overwrite)
    size = _peek_size(image)
    if size is not None:  # refuse an oversized output before decoding the input
        check_output_size(size, args.scale, args.max_pixels)
    with reported_warnings(out.name, quiet=args.quiet):
        loaded = read_image(image, max_pixels=args.max_pixels)
        check_output_size(loaded.size, args.scale, args.max_pixels)
        # 8-bit results stay 8-bit in memory (a 12000x8000 result is 288 MB, not 1.1 GB).
        keep16 = loaded.bit_depth == 16 and format_for_path(out) in ("PNG", "TIFF")
        result = upscale_loaded(
            loaded, args.scale, model=args.model, tile=args.tile, tile_pad=args.tile_pad,
            out_dtype=np.uint16 if keep16 else np.uint8, options=args.options,
            progress=progress,
        )
        if args.faces == "pulse":
            result = _enhance_faces(loaded, result, args)
        elif args.faces == "gfpgan":
            result = _gfpgan_faces(loaded, result, args)
        del loaded  # free the input's pixels before encoding
        write_image(result, out, quality=args.quality, compression=args.compression,
                    overwrite=args.overwrite,
                    protect=protect)
    if not args.quiet:
        width, height = result.size
        report(f"wrote {out} ({width}x{height}, x{args.scale} {args.model}, "
               f"{time.perf_counter() - started:.1f} s)")


def _face_weights(args: argparse.Namespace) -> dict:
    """PULSE's weights, loaded once (missing torch or weights: one line, exit 2)."""
    from photomend.errors import OptionalDependencyError

    if args.face_steps < 1:
        raise InputError(f"--face-steps must be >= 1, got {args.face_steps}")
    if not args.face_eps > 0:
        raise InputError(f"--face-eps must be > 0, got {args.face_eps}")
    try:
        from photomend.faces.pulse_search import installed_weights
    except ImportError as exc:
        raise OptionalDependencyError(f"--faces pulse needs torch: pip install "
                                      f"'photomend[torch]' ({exc})") from None
    return installed_weights()


def _check_gfpgan(args: argparse.Namespace) -> None:
    """Strength in range and the model installed (else one line with the command, exit 2)."""
    from photomend import zoo
    from photomend.faces.gfpgan import DEFAULT_MODEL

    if not 0.0 <= args.face_strength <= 1.0:
        raise InputError(f"--face-strength must be between 0 and 1, got {args.face_strength}")
    zoo.model_path(DEFAULT_MODEL)


def _float_rgb(result) -> np.ndarray:
    rgb = result.rgb
    if rgb.dtype.kind in "ui":
        rgb = rgb.astype(np.float32) / np.float32(np.iinfo(rgb.dtype).max)
    return rgb


def _gfpgan_faces(loaded, result, args: argparse.Namespace):
    """``result`` with GFPGAN's faces pasted in (notes on stdout unless --quiet)."""
    from photomend.faces.gfpgan import restore_faces

    out, faces = restore_faces(loaded.rgb, _float_rgb(result), strength=args.face_strength)
    if not args.quiet:
        if not faces:
            report("note: no face found; the upscaled photo is unchanged")
        else:
            report(f"restored {len(faces)} face(s) with GFPGAN (strength {args.face_strength:g})")
    return result.with_rgb(out) if faces else result


def _enhance_faces(loaded, result, args: argparse.Namespace):
    """``result`` with PULSE's faces pasted in; notes on stderr (unless --quiet)."""
    from photomend.faces.enhance import pulse_faces
    from photomend.faces.pulse_search import IDENTITY_NOTE

    out, reports, faces = pulse_faces(loaded.rgb, _float_rgb(result), steps=args.face_steps, eps=args.face_eps,
                                      seed=args.face_seed, weights=args.face_weights)
    if not args.quiet:
        if not faces:
            report("note: no face found; the upscaled photo is unchanged")
        if faces.skipped_small:
            report(f"note: {faces.skipped_small} face(s) too small for PULSE skipped")
        for k, r in enumerate(reports):
            verdict = "matches" if r.matched else "does NOT match"
            report(f"face {k}: PULSE from {r.lr_side} px, downscale {verdict} the input "
                   f"(L2 {r.l2:.4f}, eps {args.face_eps:g}), {r.seconds:.0f} s")
        if reports:
            report(f"note: {IDENTITY_NOTE}")
    return result.with_rgb(out) if reports else result


def _peek_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file header, or None when PIL cannot tell (read_image will)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                return im.size
    except Exception:  # noqa: BLE001
        return None


def _noise(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value <= 75:
        raise argparse.ArgumentTypeError(f"must be between 0 and 75, got {value:g}")
    return value


def _non_negative(text: str) -> int:
    value = whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value
