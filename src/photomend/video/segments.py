"""Long videos in resumable segments: each segment is upscaled into its own file (atomic),
a rerun after a crash or a kill starts at the first segment that is not there yet, and the
segments are joined without re-encoding (their H.264 packets copied into one file, the audio
copied from the source).

Segments are cut by frame number (``frames`` output frames each); the multi-frame model also
reads :data:`photomend.video.vsr.CONTEXT` frames on each side of a segment and places its
windows as in the whole clip, so when ``frames`` is a multiple of
:data:`photomend.video.vsr.WINDOW` (the default 250 is) each frame is upscaled exactly as
without segments.
Segments are encoded without B-frames, so the joined file's timestamps stay monotonic.

The work folder ``OUT.parts/`` (beside the output) holds the finished segments and
``plan.json`` (source, scale, model, cut points: a rerun with other settings starts afresh);
it is removed after a successful join.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

from photomend.errors import InputError
from photomend.upscaling.base import ProgressFn
from photomend.video import vsr
from photomend.video.reader import probe, read_frames, require_av
from photomend.video.upscale import (
    MULTI_FRAME,
    VideoResult,
    _upscaled,
    check_video_model,
    default_video_model,
)
from photomend.video.writer import VideoWriter, check_output


def frame_times(path: str | os.PathLike[str]) -> tuple[list[int], Fraction]:
    """Presentation timestamps of every video frame (sorted, from the packets: no decoding),
    relative to the stream start, and the stream's time base."""
    from photomend.video.reader import open_video

    container, stream = open_video(path)
    try:
        pts = sorted(p.pts for p in container.demux(stream) if p.pts is not None and p.size)
        origin = stream.start_time if stream.start_time is not None else (pts[0] if pts else 0)
        return [p - origin for p in pts], Fraction(stream.time_base)
    finally:
        container.close()


def upscale_video_segments(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    scale: int = 2,
    *,
    model: str | None = None,
    frames: int = 250,
    crf: int = 18,
    preset: str = "medium",
    overwrite: bool = False,
    progress: ProgressFn | None = None,
    on_segment: Callable[[int, int], None] | None = None,
) -> VideoResult:
    """:func:`photomend.video.upscale_video` in segments of ``frames`` frames that survive a
    crash: rerun the same call to resume. ``on_segment(done, total)`` is called after each
    segment is safely on disk. Output: .mp4/.mov/.mkv only."""
    av = require_av()
    scale = int(scale)
    name = model or default_video_model(scale)
    check_video_model(name, scale)
    if frames < 1:
        raise InputError(f"segment length must be at least one frame, got {frames}")
    source = Path(source)
    output = check_output(output, source, overwrite=overwrite)
    if not output.suffix:
        raise InputError("segments are joined into a video file: name OUT.mp4/.mov/.mkv")
    info = probe(source)
    times, tb = frame_times(source)
    total = len(times)
    cuts = list(range(0, total, frames))
    work = output.with_name(output.name + ".parts")
    plan = {"source": str(source.resolve()), "size": source.stat().st_size,
            "mtime": source.stat().st_mtime_ns, "scale": scale, "model": name,
            "frames": frames, "total": total, "crf": crf, "preset": preset}
    plan_path = work / "plan.json"
    if work.is_dir() and (not plan_path.is_file() or json.loads(plan_path.read_text()) != plan):
        shutil.rmtree(work)  # another job's leftovers: start afresh
    work.mkdir(exist_ok=True)
    plan_path.write_text(json.dumps(plan))
    started = time.perf_counter()
    context = vsr.CONTEXT if name in MULTI_FRAME else 0
    done_frames = 0
    for k, first in enumerate(cuts):
        last = min(first + frames, total)
        part = work / f"{k:05d}.mkv"
        if not part.is_file():
            _segment(source, part, scale, name, times, tb, first, last, context, info,
                     crf=crf, preset=preset)
        done_frames = last
        if progress is not None:
            progress("frames", done_frames, total)
        if on_segment is not None:
            on_segment(k + 1, len(cuts))
    parts = [work / f"{k:05d}.mkv" for k in range(len(cuts))]
    width, height = _join(parts, output, source if info.audio else None, av,
                          rotation=info.rotation)
    shutil.rmtree(work, ignore_errors=True)
    return VideoResult(output=output, frames=total, width=width, height=height, model=name,
                       seconds=time.perf_counter() - started)


def _segment(source, part, scale, name, times, tb, first, last, context, info, *, crf, preset):
    """Upscale frames [first, last) (reading ``context`` more on each side) into ``part``."""
    lo, hi = max(0, first - context), min(len(times), last + context)
    start = float(times[lo] * tb)
    stop = float(times[hi - 1] * tb)
    pts: list[int] = []

    def lows():
        n = 0
        for frame in read_frames(source, start=max(0.0, start - 1e-6),
                                 duration=stop - start + 1e-3):
            if n >= hi - lo:
                break
            pts.append(frame.pts)
            n += 1
            yield frame.rgb

    with VideoWriter(part, fps=info.fps, time_base=tb, rotation=info.rotation, crf=crf,
                     preset=preset, overwrite=True, source=source, bframes=0) as writer:
        for i, up in enumerate(_upscaled(lows(), scale, name, skip=first - lo)):
            if first + i >= last:
                break  # the context after the segment: read, not output
            writer.write(up, pts[first - lo + i])


def _join(parts: list[Path], output: Path, audio_from: Path | None, av, *,
          rotation: int = 0) -> tuple[int, int]:
    """Copy the segments' video packets, then the source's audio, into ``output`` (atomic)."""
    tmp = output.with_name(f".{output.name}.join.tmp{output.suffix}")
    fmt = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}[output.suffix.lower()]
    try:
        with av.open(str(parts[0])) as first:
            template = first.streams.video[0]
            size = (template.codec_context.width, template.codec_context.height)
            with av.open(str(tmp), "w", format=fmt) as out:
                ostream = out.add_stream_from_template(template)
                if rotation:
                    ostream.set_display_rotation(rotation)
                astreams = []
                if audio_from is not None:
                    src = av.open(str(audio_from))
                    astreams = [(a, out.add_stream_from_template(a)) for a in src.streams.audio]
                for path in parts:
                    with av.open(str(path)) as seg:
                        for packet in seg.demux(seg.streams.video[0]):
                            if packet.dts is None:
                                continue
                            packet.stream = ostream
                            out.mux(packet)
                if astreams:
                    lookup = {a.index: o for a, o in astreams}
                    origin = {a.index: a.start_time or 0 for a, _ in astreams}
                    for packet in src.demux(*[a for a, _ in astreams]):
                        if packet.dts is None:
                            continue
                        packet.pts -= origin[packet.stream.index]
                        packet.dts -= origin[packet.stream.index]
                        packet.stream = lookup[packet.stream.index]
                        out.mux(packet)
                    src.close()
        os.replace(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return size
