"""``photomend upscale CLIP.mp4 -s 2 -o OUT.mp4``: the video half of ``photomend upscale``.

:mod:`photomend.cli.upscale` hands a video input here (by suffix, see
:data:`photomend.video.reader.VIDEO_SUFFIXES`); the work is :func:`photomend.video.upscale_video`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from photomend.cli.common import EXIT_OK, FrameBars, report, reported_warnings


def add_video_options(parser: argparse.ArgumentParser) -> None:
    """The options only videos take (the rest are ``photomend upscale``'s own)."""
    group = parser.add_argument_group("videos (IMAGE may be a video: mp4, mov, mkv, avi, webm)")
    group.add_argument("--start", type=_seconds, default=None, metavar="T",
                       help="start at T seconds (default: the beginning)")
    group.add_argument("--duration", type=_seconds, default=None, metavar="D",
                       help="upscale D seconds (default: to the end)")
    group.add_argument("--crf", type=int, default=18, metavar="Q",
                       help="H.264 quality, 0-51, lower is better (default: 18)")
    group.add_argument("--segments", type=int, default=None, metavar="N",
                       help="work in resumable segments of N frames (kept in OUT.parts/; "
                       "rerun the same command after a crash to go on; joined without "
                       "re-encoding)")


def is_video(path: Path | None) -> bool:
    from photomend.video.reader import VIDEO_SUFFIXES

    return path is not None and path.suffix.lower() in VIDEO_SUFFIXES and not path.is_dir()


def run_video(args: argparse.Namespace) -> int:
    """Upscale the video ``args.image`` into ``args.output`` with a frames/s and ETA bar."""
    from photomend.errors import InputError
    from photomend.video.reader import probe
    from photomend.video.upscale import check_video_model, default_video_model, upscale_video

    if args.image is None or args.output is None:
        raise InputError("photomend upscale needs CLIP and -o OUT.mp4")
    scale = 2 if args.scale is None else args.scale
    model = args.model or default_video_model(scale)
    check_video_model(model, scale)
    if not 0 <= args.crf <= 51:
        raise InputError(f"--crf must be between 0 and 51, got {args.crf}")
    out = args.output / (args.image.stem + ".mp4") if args.output.is_dir() else args.output
    info = probe(args.image)
    bar = FrameBars(enabled=not args.quiet and sys.stderr.isatty(), default="upscale")
    with reported_warnings(args.image.name, quiet=args.quiet):
        try:
            if args.segments is not None:
                if args.start is not None or args.duration is not None:
                    raise InputError("--segments works on whole clips (no --start/--duration)")
                from photomend.video.segments import upscale_video_segments

                result = upscale_video_segments(args.image, out, scale, model=model,
                                                frames=args.segments, crf=args.crf,
                                                overwrite=args.overwrite, progress=bar)
            else:
                result = upscale_video(args.image, out, scale, model=model, start=args.start,
                                       duration=args.duration, crf=args.crf,
                                       overwrite=args.overwrite, progress=bar)
        finally:
            bar.close()
    if not args.quiet:
        report(f"wrote {result.output} ({result.frames} frames, {result.width}x{result.height}, "
               f"x{scale} {model}, {result.seconds:.1f} s, {result.frames_per_second:.2f} "
               f"frames/s; source {info.width}x{info.height} at {float(info.fps):.3g} fps)")
    return EXIT_OK


def _seconds(text: str) -> float:
    """Seconds as ``12.5``, ``1:02.5`` or ``1:00:02``."""
    try:
        value = 0.0
        for part in text.split(":"):
            value = value * 60 + float(part)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds or [H:]M:S, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value
