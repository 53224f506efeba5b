"""photomend: repair photographs on a plain CPU.

The public API is a few verbs; see :func:`remove`.
"""

from photomend.api import remove
from photomend.colorization.api import colorize
from photomend.errors import (
    ImageReadError,
    ImageTooLargeError,
    InputError,
    MaskError,
    OutputError,
    PhotomendError,
    UnknownEngineError,
)
from photomend.io import LoadedImage, read_image, read_mask, write_image
from photomend.removal import remove_array
from photomend.restoration.pipeline import RestoreResult, restore
from photomend.upscaling.api import upscale, upscale_array

__version__ = "0.1.0"

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
    "restore",
    "upscale",
    "upscale_array",
    "write_image",
]
