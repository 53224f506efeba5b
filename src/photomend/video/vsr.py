"""``compact-vsr``: photomend's multi-frame video super-resolution model (x2, x4).

BasicVSR's recipe at the size of our ``compact`` image network: a backward and a forward
recurrent branch carry a 16-channel state through the clip at low resolution; before each
step the neighbour's state is warped to the current frame by OpenCV DIS optical flow
(:mod:`photomend.video.flow`); the upsampler is the ``compact`` network whose first layer
also reads both states (it predicts the residual to bicubic upsampling). Three ONNX graphs
per scale ship in ``photomend/data/weights/vsr_compact_x{s}_{backward,forward,fuse}.onnx``;
the recurrence, the flow and the warping run here in NumPy/OpenCV. Trained by
``training/train_vsr.py``.

Streaming: the clip is cut into windows of ``window`` frames, each run with ``context``
extra frames on both sides (the backward branch needs to see ahead), so memory holds
``window + 2 * context`` low-resolution frames whatever the clip's length.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from importlib.resources import files
from itertools import chain, islice
from pathlib import Path

import cv2
import numpy as np

from photomend.errors import ModelError, UnsupportedScaleError
from photomend.nn import onnx as nn_onnx
from photomend.video.flow import dis_flow, gray_u8, warp

NAME = "compact-vsr"
SCALES = (2, 4)
PARTS = ("backward", "forward", "fuse")
#: Frames output per window, and frames of context read on each side of it.
WINDOW, CONTEXT = 5, 2


def weights_path(scale: int, part: str) -> Path:
    return Path(str(files("photomend") / "data" / "weights" / f"vsr_compact_x{scale}_{part}.onnx"))


def check_scale(scale: int) -> None:
    """UnsupportedScaleError for a scale the model lacks, ModelError for missing weights."""
    if scale not in SCALES:
        raise UnsupportedScaleError(
            f"{NAME} upscales x2 and x4, not x{scale}; pick another --model for x{scale}")
    for part in PARTS:
        path = weights_path(scale, part)
        if not path.is_file():
            raise ModelError(f"the bundled weights {path.name} are missing from {path.parent}; "
                             "reinstall photomend (or run training/train_vsr.py)")


class RecurrentWindows:
    """The streaming of a bidirectional recurrent model: the clip in windows of ``window``
    output frames, each run with ``context`` frames on both sides. Subclasses give
    :meth:`_prepare` (per frame, once), :meth:`_flow` (between two prepared frames, cached per
    pair while both are in memory) and :meth:`_window` (the outputs of one window)."""

    window: int
    context: int
    #: Mirror ``context`` frames at the clip's two ends (frames 2, 1 before frame 0, as
    #: EDVR pads): the first and last frames then get a state from both sides, as every
    #: other frame does, instead of one that starts from zero and jumps a few frames later on
    #: still content. Only at the clip's real ends: a segment read with ``skip`` frames of
    #: context and enough frames after it gets the frames of the whole clip.
    mirror_ends = False

    def _prepare(self, rgb: np.ndarray):
        raise NotImplementedError

    def _flow(self, a, b) -> np.ndarray:
        raise NotImplementedError

    def _window(self, seg: list[np.ndarray], lo: int, out_lo: int, out_hi: int, flow):
        raise NotImplementedError

    def upscale_frames(self, frames: Iterable[np.ndarray], *,
                       skip: int = 0) -> Iterator[np.ndarray]:
        """float32 HxWx3 frames in [0, 1] -> float32 (sH)x(sW)x3 frames, one for one, in order.

        ``skip``: the first ``skip`` frames are context only (not output), and the windows
        start after them: a segment of a longer clip read with ``skip`` frames of context
        before it gets exactly the frames the whole clip would give there, when it starts at
        a multiple of ``window``.
        """
        if self.mirror_ends and self.context > 0:
            yield from self._mirrored(frames, int(skip))
            return
        yield from self._stream(frames, int(skip))

    def _mirrored(self, frames: Iterable[np.ndarray], skip: int) -> Iterator[np.ndarray]:
        k, it = self.context, iter(frames)
        head = list(islice(it, k + 1))
        lead = [np.ascontiguousarray(f, np.float32) for f in head[1:][::-1]] if skip == 0 else []
        fed, exhausted = 0, False
        tail: deque[np.ndarray] = deque(maxlen=k + 1)

        def stream() -> Iterator[np.ndarray]:
            nonlocal fed, exhausted
            yield from lead
            for f in chain(head, it):
                f = np.ascontiguousarray(f, np.float32)
                if f.shape != head[0].shape:  # (numbered here: the inner count has the lead)
                    raise ValueError(f"frame {fed + 1} is {f.shape}, not {head[0].shape}")
                tail.append(f)
                fed += 1
                yield f
            exhausted = True
            yield from list(tail)[-2::-1]  # frames n-2, ..., n-1-k

        for i, out in enumerate(self._stream(stream(), skip + len(lead))):
            if exhausted and skip + i >= fed:
                return  # the outputs of the mirrored tail
            yield out

    def _stream(self, frames: Iterable[np.ndarray], skip: int) -> Iterator[np.ndarray]:
        it = iter(frames)
        w, k = self.window, self.context
        lrs: list[np.ndarray] = []  # lrs[i] is frame base + i
        prepared: list = []  # what _prepare made of each frame
        flows: dict[tuple[int, int], np.ndarray] = {}
        base, start, done = 0, int(skip), False
        while True:
            while not done and base + len(lrs) < start + w + k:
                try:
                    rgb = np.ascontiguousarray(next(it), np.float32)
                except StopIteration:
                    done = True
                    break
                if lrs and rgb.shape != lrs[0].shape:
                    raise ValueError(f"frame {base + len(lrs) + 1} is {rgb.shape}, "
                                     f"not {lrs[0].shape}")
                lrs.append(rgb)
                prepared.append(self._prepare(rgb))
            end = base + len(lrs)
            if start >= end:
                return
            lo, hi = max(base, start - k), min(end, start + w + k)

            def flow(i: int, j: int) -> np.ndarray:
                if (i, j) not in flows:
                    flows[(i, j)] = self._flow(prepared[i - base], prepared[j - base])
                return flows[(i, j)]

            yield from self._window(lrs[lo - base:hi - base], lo, start, min(start + w, end),
                                    flow)
            start += w
            drop = start - k - base
            if drop > 0:
                del lrs[:drop], prepared[:drop]
                base += drop
                for key in [key for key in flows if min(key) < base]:
                    del flows[key]


class MultiFrameUpscaler(RecurrentWindows):
    """Upscale a stream of frames with :data:`NAME`; one instance per clip (it keeps no
    state between calls of :meth:`upscale_frames`).

    >>> up = MultiFrameUpscaler(2)
    >>> frames = [np.full((12, 16, 3), 0.5, np.float32)] * 3
    >>> [f.shape for f in up.upscale_frames(frames)]
    [(24, 32, 3), (24, 32, 3), (24, 32, 3)]
    """

    mirror_ends = True

    def __init__(self, scale: int, *, window: int = WINDOW, context: int = CONTEXT) -> None:
        check_scale(int(scale))
        self.scale, self.window, self.context = int(scale), int(window), int(context)
        if self.window < 1 or self.context < 0:
            raise ValueError(f"window must be >= 1 and context >= 0, got {window}, {context}")
        self.sessions = {p: nn_onnx.session(weights_path(self.scale, p)) for p in PARTS}
        inputs = self.sessions["backward"].get_inputs()
        self.channels = int(inputs[1].shape[1])

    def _prepare(self, rgb: np.ndarray) -> np.ndarray:
        return gray_u8(rgb)

    def _flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return dis_flow(a, b)

    def _window(self, seg: list[np.ndarray], lo: int, out_lo: int, out_hi: int, flow):
        """Outputs of frames [out_lo, out_hi) from the frames ``seg`` = [lo, lo + len(seg))."""
        n = len(seg)
        h, w = seg[0].shape[:2]
        zero = np.zeros((1, self.channels, h, w), np.float32)
        nchw = [f.transpose(2, 0, 1)[None] for f in seg]
        back: list[np.ndarray | None] = [None] * n
        state = zero
        for i in reversed(range(out_lo - lo, n)):
            if i < n - 1:
                state = _warp_nchw(state, flow(lo + i, lo + i + 1))
            state = back[i] = self._run("backward", lr=nchw[i], state=state)
        state = zero
        for i in range(out_hi - lo):
            if i > 0:
                state = _warp_nchw(state, flow(lo + i, lo + i - 1))
            state = self._run("forward", lr=nchw[i], state=state)
            if lo + i >= out_lo:
                residual = self._run("fuse", lr=nchw[i], forward=state, backward=back[i])
                up = cv2.resize(seg[i], (w * self.scale, h * self.scale),
                                interpolation=cv2.INTER_CUBIC)
                up += residual[0].transpose(1, 2, 0)
                yield np.clip(up, 0.0, 1.0, out=up)

    def _run(self, part: str, **inputs: np.ndarray) -> np.ndarray:
        return self.sessions[part].run(None, inputs)[0]


def _warp_nchw(state: np.ndarray, flow: np.ndarray) -> np.ndarray:
    return warp(state[0].transpose(1, 2, 0), flow).transpose(2, 0, 1)[None].copy()
