"""``photomend remove CLIP.mp4 -o OUT.mp4``: the video half of ``photomend remove``.

:mod:`photomend.cli.remove` hands a video input here (by suffix); the work is
:func:`photomend.video_removal.remove_video`.
"""

from __future__ import annotations

import argparse
import sys

from photomend.cli.common import EXIT_OK, FrameBars, report, reported_warnings
from photomend.cli.upscale_video import _seconds


def add_video_options(parser: argparse.ArgumentParser) -> None:
    """The options only videos take (the rest are ``photomend remove``'s own)."""
    from photomend.video_removal.defaults import CAMERAS, DEFAULT_RADIUS

    group = parser.add_argument_group(
        "videos (IMAGE may be a video: mp4, mov, mkv, avi, webm; --mask is then one mask for "
        "every frame or a folder of masks numbered by frame, --keep X,Y@T keeps the instance "
        "under X,Y at T seconds in every frame; see docs/video_remove.md)")
    group.add_argument("--start", type=_seconds, default=None, metavar="T",
                       help="start at T seconds (default: the beginning)")
    group.add_argument("--duration", type=_seconds, default=None, metavar="D",
                       help="process D seconds (default: to the end)")
    group.add_argument("--crf", type=int, default=18, metavar="Q",
                       help="H.264 quality, 0-51, lower is better (default: 18)")
    group.add_argument("--camera", choices=CAMERAS, default="auto",
                       help="static: temporal background; moving: optical flow; auto: "
                       "decided for each window of frames (default)")
    group.add_argument("--radius", type=int, default=DEFAULT_RADIUS, metavar="N",
                       help="copy from up to N frames before and after each frame "
                       f"(default: {DEFAULT_RADIUS}; memory: 2N+1 frames)")
    group.add_argument("--segments", type=int, default=None, metavar="N",
                       help="work in resumable segments of N frames (kept in OUT.parts/; "
                       "rerun the same command after a crash to go on)")


def run_video(args: argparse.Namespace) -> int:
    """Remove from the video ``args.image`` into ``args.output`` with a frames/s bar."""
    from photomend.errors import InputError
    from photomend.video_removal.api import remove_video

    if args.select:
        raise InputError("--select works on photos; for a video use --auto with --keep, or "
                         "--mask")
    if args.compare is not None or args.mask_out is not None:
        raise InputError("--compare and --mask-out work on photos, not videos")
    if not 0 <= args.crf <= 51:
        raise InputError(f"--crf must be between 0 and 51, got {args.crf}")
    if args.radius < 1:
        raise InputError(f"--radius must be at least 1, got {args.radius}")
    out = args.output / (args.image.stem + ".mp4") if args.output.is_dir() else args.output
    bar = FrameBars(enabled=not args.quiet and sys.stderr.isatty(),
                    names={"detect": "find", "scan": "scan"}, default="remove")
    with reported_warnings(args.image.name, quiet=args.quiet):
        try:
            if args.segments is not None:
                if args.start is not None or args.duration is not None:
                    raise InputError("--segments works on whole clips (no --start/--duration)")
                from photomend.video_removal.segment import remove_video_segments

                result = remove_video_segments(
                    args.image, out, args.mask, auto=args.auto or None, keep=args.keep,
                    grow=args.grow, min_score=args.min_score, frames=args.segments,
                    resize_mask=args.resize_mask, engine=args.engine, camera=args.camera,
                    radius=args.radius, crf=args.crf, seed=args.seed,
                    overwrite=args.overwrite, progress=bar)
            else:
                result = remove_video(
                    args.image, out, args.mask, auto=args.auto or None, keep=args.keep,
                    grow=args.grow, min_score=args.min_score, resize_mask=args.resize_mask,
                    engine=args.engine, camera=args.camera, radius=args.radius,
                    start=args.start, duration=args.duration, crf=args.crf, seed=args.seed,
                    overwrite=args.overwrite, progress=bar)
        finally:
            bar.close()
    if not args.quiet:
        st = result.stats
        hole = st.copied + st.remembered + st.carried + st.invented
        share = (lambda n: f"{100 * n / hole:.1f}%") if hole else (lambda n: "0%")
        tracked = (f"; {result.tracks} instance(s) tracked, {result.kept} kept"
                   if args.auto else "")
        report(f"wrote {result.output} ({result.frames} frames, {result.width}x{result.height}, "
               f"{result.seconds:.1f} s, {result.frames_per_second:.2f} frames/s; "
               f"{st.filled} frames had a hole: {share(st.copied)} copied from other frames, "
               f"{share(st.remembered + st.carried)} carried, {share(st.invented)} invented on "
               f"{len(st.key_frames)} key frame(s){tracked})")
    return EXIT_OK


def keep_point(text: str) -> tuple[float, ...]:
    """``X,Y`` or ``X,Y@T`` (T in seconds, for videos) (argparse type)."""
    where, _, when = text.partition("@")
    try:
        x, y = (float(v) for v in where.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X,Y or X,Y@T, got {text!r}") from None
    if not when:
        return x, y
    try:
        return x, y, _seconds(when)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected X,Y@T with T in seconds, got {text!r}") \
            from None
