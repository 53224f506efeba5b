"""Video: streaming read and write with PyAV (:mod:`~photomend.video.reader`,
:mod:`~photomend.video.writer`), upscaling clips frame by frame with any image upscaler or with
the multi-frame ``compact-vsr`` model (:mod:`~photomend.video.upscale`,
:mod:`~photomend.video.vsr`). See docs/video.md.

Names are imported on first use, so ``import photomend.video`` loads neither PyAV nor NumPy.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "VideoInfo": "photomend.video.reader",
    "VideoReadError": "photomend.video.reader",
    "probe": "photomend.video.reader",
    "read_frames": "photomend.video.reader",
    "VideoWriter": "photomend.video.writer",
    "write_video": "photomend.video.writer",
    "upscale_video": "photomend.video.upscale",
    "upscale_frames": "photomend.video.upscale",
    "VideoResult": "photomend.video.upscale",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'photomend.video' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = sorted(_LAZY)
