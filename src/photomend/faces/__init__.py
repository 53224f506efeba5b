"""Faces: find and align them (MediaPipe face detection and face mesh, embedded as ONNX), and
upsample them with a generative prior (PULSE, torch extra). See docs/faces.md.

Detection and alignment need only ONNX Runtime, NumPy and OpenCV; the networks load with the
first call. :func:`pulse` needs the ``torch`` extra and imported StyleGAN weights. Names are
imported on first use, so that importing the package (the zoo does) costs nothing.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "DEFAULT_MIN_SIZE": "photomend.faces.api",
    "Face": "photomend.faces.api",
    "FaceList": "photomend.faces.api",
    "align_faces": "photomend.faces.api",
    "find_faces": "photomend.faces.api",
    "pulse": "photomend.faces.pulse_search",
    "pulse_faces": "photomend.faces.enhance",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'photomend.faces' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
