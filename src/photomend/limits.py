"""The pixel limit: one number, one message, for the CLI, the Python API, batch jobs and the
server (a guard against decompression bombs, checked from the header before decoding).

Imports nothing heavy, so that the command line can name the default in ``--help``.
"""

from __future__ import annotations

import os

from photomend.errors import ImageTooLargeError, InputError

#: Largest image (width x height) read unless told otherwise.
DEFAULT_MAX_PIXELS = 200_000_000
#: Environment variable that overrides :data:`DEFAULT_MAX_PIXELS`.
MAX_PIXELS_ENV = "PHOTOMEND_MAX_PIXELS"
#: How a user raises the limit: the CLI option (also ``photomend batch``), the Python keyword
#: (also a job file's ``max_pixels``) and the environment variable.
HOW_TO_RAISE = f"raise it with --max-pixels N, max_pixels=N or ${MAX_PIXELS_ENV}"


def max_pixels_limit(max_pixels: int | None = None) -> int:
    """Resolve the pixel limit: ``max_pixels``, else ``$PHOTOMEND_MAX_PIXELS``, else the default.

    >>> max_pixels_limit(1000)
    1000
    """
    if max_pixels is None:
        raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
        if not raw:
            return DEFAULT_MAX_PIXELS
        try:
            max_pixels = int(raw.replace("_", ""))
        except ValueError:
            raise InputError(f"{MAX_PIXELS_ENV} must be a positive integer, got {raw!r}") from None
    if max_pixels <= 0:
        raise InputError(f"the pixel limit must be positive, got {max_pixels}")
    return int(max_pixels)


def too_large(subject: str, limit: int, *, width: int | None = None, height: int | None = None,
              pixels: int | None = None, verb: str = "is") -> ImageTooLargeError:
    """The error for ``subject`` (e.g. 'image photo.png') over ``limit``: the same words
    wherever the limit is checked. ``core`` holds the message without :data:`HOW_TO_RAISE`,
    for front ends that say it their own way (the server: it is the server's limit).

    >>> str(too_large("image a.png", 100, width=20, height=10))
    'image a.png is 20x10 = 200 pixels, over the limit of 100 pixels (raise it with --max-pixels N, max_pixels=N or $PHOTOMEND_MAX_PIXELS)'
    """
    if width is not None and height is not None:
        size = f"{width}x{height} = {width * height:,} pixels"
    elif pixels is not None:
        size = f"{pixels:,} pixels"
    else:
        size = "larger"
    core = f"{subject} {verb} {size}, over the limit of {limit:,} pixels"
    error = ImageTooLargeError(f"{core} ({HOW_TO_RAISE})")
    error.core, error.limit = core, limit
    return error
