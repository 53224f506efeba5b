"""Removing objects and people from videos: each hole is filled from the frames that saw
behind it (temporal background for a still camera, optical-flow propagation for a moving
one); the image engine invents only what no frame saw, once, and later frames carry it.
See docs/video_remove.md.

Names are imported on first use, so ``import photomend.video_removal`` loads neither NumPy
nor OpenCV.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "fill_frames": "photomend.video_removal.stream",
    "FillStats": "photomend.video_removal.stream",
    "remove_video": "photomend.video_removal.api",
    "RemoveVideoResult": "photomend.video_removal.api",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'photomend.video_removal' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = sorted(_LAZY)
