"""photomend: repair photographs on a plain CPU.

The public API is a few verbs; see :func:`remove`. Each name below is imported on first use
(a module-level ``__getattr__``), so ``import photomend`` and the ``photomend`` command pay
only for what they use: NumPy, OpenCV, numba and ONNX Runtime load with the verb that needs
them.

>>> import photomend
>>> callable(photomend.remove_array)
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from photomend.errors import (
    ImageReadError,
    ImageTooLargeError,
    InputError,
    MaskError,
    OutputError,
    PhotomendError,
    UnknownEngineError,
)

__version__ = "0.1.0"

#: Public name -> the module that defines it, imported on first access.
_LAZY = {
    "remove": "photomend.api",
    "colorize": "photomend.colorization.api",
    "auto_mask": "photomend.objects.api",
    "find_objects": "photomend.objects.api",
    "find_faces": "photomend.faces.api",
    "select_mask": "photomend.objects.api",
    "LoadedImage": "photomend.io",
    "read_image": "photomend.io",
    "read_mask": "photomend.io",
    "write_image": "photomend.io",
    "remove_array": "photomend.removal",
    "RestoreResult": "photomend.restoration.pipeline",
    "restore": "photomend.restoration.pipeline",
    "upscale": "photomend.upscaling.api",
    "upscale_array": "photomend.upscaling.api",
    "upscale_video": "photomend.video.upscale",
    "remove_video": "photomend.video_removal.api",
}

if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from photomend.api import remove
    from photomend.colorization.api import colorize
    from photomend.faces.api import find_faces
    from photomend.objects.api import auto_mask, find_objects, select_mask
    from photomend.io import LoadedImage, read_image, read_mask, write_image
    from photomend.removal import remove_array
    from photomend.restoration.pipeline import RestoreResult, restore
    from photomend.upscaling.api import upscale, upscale_array
    from photomend.video.upscale import upscale_video
    from photomend.video_removal.api import remove_video


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'photomend' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ImageReadError",
    "ImageTooLargeError",
    "InputError",
    "LoadedImage",
    "MaskError",
    "OutputError",
    "PhotomendError",
    "RestoreResult",
    "UnknownEngineError",
    "__version__",
    "colorize",
    "read_image",
    "read_mask",
    "remove",
    "remove_array",
    "remove_video",
    "restore",
    "upscale",
    "upscale_array",
    "upscale_video",
    "write_image",
]
