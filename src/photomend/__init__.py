"""photomend: repair photographs on a plain CPU.

The public API is a few verbs; see :func:`remove`.
"""

from photomend.errors import (
    ImageReadError,
    ImageTooLargeError,
    InputError,
    MaskError,
    OutputError,
    PhotomendError,
    UnknownEngineError,
)
from photomend.remove import remove_array

__version__ = "0.1.0"

__all__ = [
    "ImageReadError",
    "ImageTooLargeError",
    "InputError",
    "MaskError",
    "OutputError",
    "PhotomendError",
    "UnknownEngineError",
    "remove_array",
    "__version__",
]
