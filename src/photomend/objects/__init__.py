"""Automatic masks: people and COCO objects found by NanoDet, people segmented by MediaPipe's
pose model, other objects cut out by GrabCut, and click-to-select. See docs/objects.md.

Only ONNX Runtime, NumPy and OpenCV are used; the networks load with the first call.
"""

from photomend.objects.api import (
    DEFAULT_MIN_SCORE,
    Instance,
    SelectError,
    auto_mask,
    find_objects,
    select_mask,
)
from photomend.objects.classes import COCO_CLASSES, UnknownClassError, parse_classes

__all__ = ["COCO_CLASSES", "DEFAULT_MIN_SCORE", "Instance", "SelectError", "UnknownClassError",
           "auto_mask", "find_objects", "parse_classes", "select_mask"]
