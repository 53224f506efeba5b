"""Typed exceptions of photomend.

Front ends map them to what their users see: the CLI to a one-line message and exit code 2
(``InputError``/``OutputError``) or 1 (anything else), the server to 4xx/5xx.
"""


class PhotomendError(Exception):
    """Base class of every error photomend raises on purpose."""


class InputError(PhotomendError, ValueError):
    """The caller's input is unusable: unreadable file, bad mask, unknown engine, ..."""


class ImageReadError(InputError):
    """A file could not be read or decoded as an image."""


class ImageTooLargeError(InputError):
    """An image has more pixels than the configured limit (decompression-bomb guard)."""


class MaskError(InputError):
    """A mask is unusable: wrong size, or it leaves nothing to copy from."""


class UnknownEngineError(InputError):
    """No engine or strategy of that name is registered."""


class OutputError(PhotomendError):
    """An output could not be written (folder missing or not writable, would overwrite an input)."""


class ModelError(InputError):
    """A model is unusable: unknown name, not installed, corrupt file, wrong architecture."""


class UnknownModelError(ModelError):
    """No model of that name is in the zoo."""


class ModelMissingError(ModelError):
    """A known model is not installed; the message says the exact command that installs it."""


class UnsupportedScaleError(InputError):
    """An upscaler was asked for a scale it does not support (or a scale that is not an integer)."""


class ModelArchitectureError(ModelError):
    """A weight file is not the network it was loaded as; the message names the first key that
    differs and its shape."""


class OptionalDependencyError(InputError):
    """A feature needs an optional extra that is not installed; the message names the extra."""


class ColorizeError(InputError):
    """Colorization cannot run on this input: no hints for the hints method, bad settings."""


class HintsError(ColorizeError):
    """Colour hints are unusable: none given, malformed JSON, a bad colour."""


class ImageTooSmallError(InputError):
    """An image is too small for the job (restore needs at least 64 px on each side)."""
