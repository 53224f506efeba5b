"""Long videos in resumable segments: each segment is processed into its own file (atomic),
a rerun after a crash or a kill starts at the first segment that is not there yet, and the
segments are joined without re-encoding (their H.264 packets copied into one file, the audio
copied from the source).

Any frame-by-frame video operation can be cut this way: a :class:`RangeOp` says how many
frames of ``context`` it reads on each side of a range and turns the frames of a range into
its outputs (:func:`range_op` builds the registered ones: ``upscale_video``,
``remove_video``). The steps are
separate so that ``photomend batch`` runs the segments on several workers
(:mod:`photomend.batch.video`): :func:`plan_segments` (cut points and the work folder),
:func:`run_segment` (one segment, any process that sees the files), :func:`join_segments`.

Segments are cut by frame number (``frames`` output frames each); the multi-frame models
also read their context frames on each side of a segment and place their windows as in the
whole clip, so when ``frames`` is a multiple of the model's window (5 for compact-vsr, 10 for
BasicVSR; the default 250 is both) each frame is upscaled exactly as without segments.
Segments are encoded without B-frames, so the joined file's timestamps stay monotonic.

The work folder ``OUT.parts/`` (beside the output) holds the finished segments and
``plan.json`` (source, operation and its settings, cut points, timestamps: a rerun with other
settings starts afresh); it is removed after a successful join.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from photomend.errors import InputError
from photomend.upscaling.base import ProgressFn
from photomend.video.reader import Frame, probe, read_frames, require_av
from photomend.video.upscale import (
    VideoResult,
    _upscaled,
    check_video_model,
    default_video_model,
    window_context,
)
from photomend.video.writer import VideoWriter, check_output

PLAN = "plan.json"


@dataclass(frozen=True)
class RangeOp:
    """A video operation cut into segments.

    name, settings : what decides the output (JSON-able; recorded in the plan).
    context : frames read before and after each segment (not output).
    run : ``run(frames, skip)`` -> the output frames of ``frames`` (decoded, in order) from
        the ``skip``-th on; it may yield more than the segment needs (they are not read).
    """

    name: str
    settings: dict[str, Any]
    context: int
    run: Callable[[Iterator[Frame], int], Iterator[np.ndarray]] = field(compare=False)
    #: optional: ``prepare(plan)``, once per video when it is planned (in the driver), for
    #: what every segment shares (e.g. a pass over the whole clip, kept in ``plan.work``)
    prepare: Callable[[SegmentPlan], None] | None = field(default=None, compare=False)
    #: optional: ``bind(plan)`` -> the operation for that video (its masks, its prepared
    #: files), called before each segment runs
    bind: Callable[[SegmentPlan], RangeOp] | None = field(default=None, compare=False)


def upscale_range(scale: int = 2, model: str | None = None) -> RangeOp:
    """:func:`photomend.video.upscale_video` as a :class:`RangeOp` (checks model and scale).

    >>> op = upscale_range(2, "compact-vsr"); (op.name, op.context)
    ('upscale_video', 2)
    """
    scale = int(scale)
    name = model or default_video_model(scale)
    check_video_model(name, scale)

    def run(frames: Iterator[Frame], skip: int) -> Iterator[np.ndarray]:
        return _upscaled((f.rgb for f in frames), scale, name, skip=skip)

    return RangeOp("upscale_video", {"scale": scale, "model": name},
                   window_context(name)[1], run)


def _remove_range(**options: Any) -> RangeOp:
    from photomend.video_removal.segment import remove_range

    return remove_range(**options)


#: Operation name -> factory of its :class:`RangeOp` from keyword options.
RANGE_OPS: dict[str, Callable[..., RangeOp]] = {"upscale_video": upscale_range,
                                                "remove_video": _remove_range}


def range_op(name: str, **options: Any) -> RangeOp:
    """The registered operation ``name`` with ``options``; InputError for an unknown one."""
    try:
        factory = RANGE_OPS[name]
    except KeyError:
        raise InputError(f"no video operation {name!r}; known: {', '.join(RANGE_OPS)}") from None
    try:
        return factory(**options)
    except TypeError as exc:
        raise InputError(f"bad options for {name}: {exc}") from None


@dataclass(frozen=True)
class SegmentPlan:
    """Where a segmented job stands: read from and written to ``work/plan.json``."""

    source: Path
    output: Path
    work: Path
    key: dict[str, Any]        # what decides the output: another key starts afresh
    cuts: tuple[tuple[int, int], ...]  # [first, last) output frames of each segment
    times: tuple[int, ...]     # every frame's pts (time base ticks, from the stream start)
    time_base: Fraction
    fps: Fraction
    rotation: int
    audio: bool

    @property
    def total(self) -> int:
        return len(self.times)

    def part(self, k: int) -> Path:
        return self.work / f"{k:05d}.mkv"

    def missing(self) -> list[int]:
        """Segments not on disk yet, in order."""
        return [k for k in range(len(self.cuts)) if not self.part(k).is_file()]

    def save(self) -> None:
        data = {"source": str(self.source), "output": str(self.output), "key": self.key,
                "cuts": self.cuts, "times": self.times, "time_base": str(self.time_base),
                "fps": str(self.fps), "rotation": self.rotation, "audio": self.audio}
        tmp = self.work / f".{PLAN}.tmp"
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.work / PLAN)


def load_plan(work: str | os.PathLike[str]) -> SegmentPlan | None:
    """The plan saved in ``work``, or None when there is none (or it is unreadable)."""
    work = Path(work)
    try:
        d = json.loads((work / PLAN).read_text())
        return SegmentPlan(Path(d["source"]), Path(d["output"]), work, d["key"],
                           tuple(tuple(c) for c in d["cuts"]), tuple(d["times"]),
                           Fraction(d["time_base"]), Fraction(d["fps"]), int(d["rotation"]),
                           bool(d["audio"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def work_folder(output: str | os.PathLike[str]) -> Path:
    output = Path(output)
    return output.with_name(output.name + ".parts")


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


def plan_segments(source: str | os.PathLike[str], output: str | os.PathLike[str], op: RangeOp,
                  *, frames: int = 250, crf: int = 18, preset: str = "medium",
                  overwrite: bool = False) -> SegmentPlan:
    """Cut ``source`` into segments of ``frames`` frames for ``op``; reuse the work folder of an
    interrupted run with the same source, operation and settings, else start it afresh."""
    require_av()
    if frames < 1:
        raise InputError(f"segment length must be at least one frame, got {frames}")
    source = Path(source)
    output = check_output(output, source, overwrite=overwrite)
    if not output.suffix:
        raise InputError("segments are joined into a video file: name OUT.mp4/.mov/.mkv")
    info = probe(source)
    times, tb = frame_times(source)
    if not times:
        raise InputError(f"{source}: no video frames")
    stat = source.stat()
    key = {"source": str(source.resolve()), "size": stat.st_size, "mtime": stat.st_mtime_ns,
           "op": op.name, "settings": op.settings, "frames": int(frames), "crf": int(crf),
           "preset": preset, "total": len(times)}
    work = work_folder(output)
    old = load_plan(work)
    if work.is_dir() and (old is None or old.key != json.loads(json.dumps(key))):
        shutil.rmtree(work)  # another job's leftovers: start afresh
    work.mkdir(exist_ok=True)
    cuts = tuple((a, min(a + frames, len(times))) for a in range(0, len(times), frames))
    plan = SegmentPlan(source, output, work, key, cuts, tuple(times), tb, info.fps,
                       info.rotation, bool(info.audio))
    if old is None or old.key != plan.key:
        plan.save()
    if op.prepare is not None:
        op.prepare(plan)
    return plan


def run_segment(plan: SegmentPlan, k: int, op: RangeOp) -> Path:
    """Write segment ``k`` of ``plan`` (frames ``plan.cuts[k]``, reading ``op.context`` more on
    each side) into ``plan.part(k)`` atomically; a segment already there is kept."""
    part = plan.part(k)
    if part.is_file():
        return part
    if op.bind is not None:
        op = op.bind(plan)
    first, last = plan.cuts[k]
    times, tb = plan.times, plan.time_base
    lo, hi = max(0, first - op.context), min(plan.total, last + op.context)
    start, stop = float(times[lo] * tb), float(times[hi - 1] * tb)
    reader = read_frames(plan.source, start=max(0.0, start - 1e-6),
                         duration=stop - start + 1e-3)

    def frames() -> Iterator[Frame]:  # numbered as in the whole clip
        for n, frame in enumerate(reader):
            if n >= hi - lo:
                return
            yield replace(frame, index=lo + n)

    with VideoWriter(part, fps=plan.fps, time_base=tb, rotation=plan.rotation,
                     crf=plan.key["crf"], preset=plan.key["preset"], overwrite=True,
                     source=plan.source, bframes=0) as writer:
        # the context after the segment is read, not output (nor asked for)
        for i, out in enumerate(islice(op.run(frames(), first - lo), last - first)):
            writer.write(out, times[first + i])
    return part


def join_segments(plan: SegmentPlan, *, overwrite: bool = False) -> tuple[int, int]:
    """Join every segment of ``plan`` (all must be done) into ``plan.output`` with the
    source's audio; removes the work folder. Returns the output's (width, height)."""
    missing = plan.missing()
    if missing:
        raise InputError(f"cannot join {plan.output.name}: segment {missing[0]} of "
                         f"{len(plan.cuts)} is not done")
    check_output(plan.output, plan.source, overwrite=overwrite)
    size = _join([plan.part(k) for k in range(len(plan.cuts))], plan.output,
                 plan.source if plan.audio else None, require_av(), rotation=plan.rotation)
    shutil.rmtree(plan.work, ignore_errors=True)
    return size


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
    op = upscale_range(scale, model)
    plan = plan_segments(source, output, op, frames=frames, crf=crf, preset=preset,
                         overwrite=overwrite)
    started = time.perf_counter()
    for k, (_, last) in enumerate(plan.cuts):
        run_segment(plan, k, op)
        if progress is not None:
            progress("frames", last, plan.total)
        if on_segment is not None:
            on_segment(k + 1, len(plan.cuts))
    width, height = join_segments(plan, overwrite=overwrite)
    return VideoResult(output=plan.output, frames=plan.total, width=width, height=height,
                       model=op.settings["model"], seconds=time.perf_counter() - started)


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
                if template.average_rate:  # not the segment's codec rate (its time base)
                    ostream.codec_context.framerate = template.average_rate
                if rotation:
                    ostream.set_display_rotation(rotation)
                astreams = []
                if audio_from is not None:
                    src = av.open(str(audio_from))
                    astreams = [(a, out.add_stream_from_template(a)) for a in src.streams.audio]
                for path in parts:
                    with av.open(str(path)) as seg:
                        for packet in seg.demux(seg.streams.video[0]):
                            if packet.pts is None or not packet.size:
                                continue  # the demuxer's flush packet
                            if packet.dts is None:  # Matroska may leave it out; no B-frames:
                                packet.dts = packet.pts  # decoded in presentation order
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
