"""``photomend.colorize``: the public verb, taking whatever the caller holds."""

from __future__ import annotations

import numpy as np
from PIL import Image

from photomend.api import as_given
from photomend.colorization.core import Progress, colorize_array
from photomend.colorization.hints import HintsSource, read_hints
from photomend.errors import ImageReadError
from photomend.io import ImageSource, read_image


def colorize(
    image: ImageSource,
    *,
    hints: HintsSource | None = None,
    reference: ImageSource | None = None,
    method: str | None = None,
    saturation: float = 1.0,
    max_pixels: int | None = None,
    progress: Progress | None = None,
    model: str | None = None,
) -> np.ndarray | Image.Image:
    """Give a black-and-white photo colour without changing its luminance.

    Parameters
    ----------
    image : path, encoded bytes, PIL image or array (uint8, uint16 or float in [0, 1]; HxW,
        HxWx3 or with alpha). A colour photo is converted to luma first (with a warning).
    hints : colour hints: an image of strokes on a transparent layer (or scribbles on the grey
        photo), a JSON file/bytes, or the parsed JSON (dict/list) of points and strokes; see
        :mod:`photomend.colorization.hints`. Hints of another size are scaled (with a warning).
    reference : a colour photo of a similar scene whose colours are transferred.
    method : 'hints', 'reference' or 'auto' (a published network from the model zoo).
        Default: 'hints' when hints are given, else 'reference' when a reference is given,
        else 'auto'. Hints are combined with a reference or with 'auto' when both are given.
    saturation : chroma multiplier (0 = grey, 1 = as predicted).
    max_pixels : refuse larger inputs (default ``$PHOTOMEND_MAX_PIXELS`` or 200 megapixels).
    progress : ``progress(stage, done, total)``.
    model : the network for 'auto' (``zhang-siggraph17`` or ``zhang-eccv16``; default: the
        first installed).

    Returns
    -------
    The kind it was given, in colour: an array of the same dtype (float in -> float32) with 3
    channels (4 when the input had alpha, passed through untouched); a PIL image in RGB(A);
    for a path or bytes, an 8-bit RGB(A) PIL image whose ``info`` carries ICC and EXIF. The
    luma of the result equals the input's (within rounding: at most 1 grey level on 8 bits).

    Raises
    ------
    InputError : unreadable image, hints or reference; no hints for 'hints'; a malformed
        hints file; 'auto' without installed weights (ModelMissingError says how to get them).

    Examples
    --------
    >>> import numpy as np
    >>> grey = np.tile(np.linspace(0, 255, 32, dtype=np.uint8), (24, 1))
    >>> hints = {"points": [{"x": 4, "y": 12, "color": "#c03020", "radius": 2},
    ...                     {"x": 28, "y": 12, "color": "#2050c0", "radius": 2}]}
    >>> out = colorize(grey, hints=hints)
    >>> out.shape, out.dtype.name
    ((24, 32, 3), 'uint8')
    """
    loaded = read_image(image, max_pixels=max_pixels)
    parsed = None if hints is None else read_hints(hints, size=loaded.size,
                                                   max_pixels=max_pixels)
    ref = None if reference is None else read_reference(reference, max_pixels=max_pixels)
    result = colorize_array(loaded.rgb, hints=parsed, reference=ref, method=method,
                            model=model, saturation=saturation, progress=progress)
    out = loaded.with_rgb(result.rgb)
    return as_given(out, image, color=True)


def read_reference(source: ImageSource, *, max_pixels: int | None = None) -> np.ndarray:
    """The reference photo as float32 RGB; ImageReadError names it as the reference."""
    try:
        return read_image(source, max_pixels=max_pixels).rgb
    except ImageReadError as exc:
        raise ImageReadError(f"reference photo: {exc}") from None
