"""Colour hints ("scribbles"): where the user says which colour a part of the photo has.

Two ways to give them:

* **An image** the size of the photo. With an alpha channel: strokes painted on a transparent
  layer; every pixel with alpha > 0 is a hint, its colour the hint colour (partly transparent
  edge pixels count in proportion to their alpha). Without transparency: scribbles painted on
  the grey photo itself, as in Levin et al.; every pixel that is not grey is a hint.
* **JSON**: ``{"size": [W, H], "points": [...], "strokes": [...]}`` or a bare list of points and
  strokes. A point is ``{"x": 10, "y": 20, "color": "#ff8800", "radius": 2}``, a stroke is
  ``{"points": [[x, y], ...], "color": [255, 136, 0], "width": 5}``. Coordinates are pixels of
  the photo (x right, y down); ``size`` (optional) names the canvas they refer to. Colours are
  ``"#rrggbb"`` or ``[r, g, b]`` in 0-255. ``radius`` defaults to 0 (one pixel), ``width`` to 3.

Only the chroma of a hint is used: the luma always comes from the photo, so a light and a dark
shade of the same hue give the same result.

A hints image (or JSON ``size``) of another size than the photo is **scaled** to it with a
warning: the strokes keep their place relative to the picture (a scaled copy of the photo
keeps its hints).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from photomend.colorization.colorspace import chroma
from photomend.errors import HintsError, ImageReadError
from photomend.io import ImageSource, read_image

#: Channel spread above which a pixel of an opaque hints image counts as coloured.
_COLOURED = 4.0 / 255
#: Stroke width (pixels) when JSON does not say.
DEFAULT_WIDTH = 3


@dataclass(frozen=True, eq=False)
class Hints:
    """Hints on the photo's pixel grid.

    weight : float32 HxW in [0, 1]; 0 = no hint, 1 = a full hint (partly transparent stroke
        edges lie in between).
    cbcr : float32 HxWx2, the hint chroma where ``weight > 0`` (0 elsewhere).
    """

    weight: np.ndarray
    cbcr: np.ndarray

    @property
    def count(self) -> int:
        """How many pixels carry a hint."""
        return int(np.count_nonzero(self.weight))


HintsSource = ImageSource | dict | list


def read_hints(source: HintsSource, *, size: tuple[int, int],
               max_pixels: int | None = None) -> Hints:
    """Read hints for a photo of ``size`` (width, height); see the module docstring.

    Raises HintsError when there are none or the JSON is malformed, ImageReadError when the
    file cannot be read.
    """
    if isinstance(source, (dict, list)):
        hints = _from_json(source, size, "hints")
    elif _looks_like_json(source):
        hints = _from_json(_load_json(source), size, _name(source))
    else:
        hints = _from_image(source, size, max_pixels)
    if hints.count == 0:
        raise HintsError(f"{_name(source)} holds no colour hints (no non-transparent or "
                         "coloured pixels, or no points/strokes)")
    return hints


def _name(source: object) -> str:
    if isinstance(source, (str, os.PathLike)):
        return f"hints file {source}"
    return "hints"


def _looks_like_json(source: object) -> bool:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).suffix.lower() == ".json"
    if isinstance(source, (bytes, bytearray)):
        return bytes(source[:64]).lstrip()[:1] in (b"{", b"[")
    return False


def _load_json(source: str | os.PathLike | bytes):
    try:
        text = Path(source).read_bytes() if not isinstance(source, (bytes, bytearray)) else source
        return json.loads(text)
    except FileNotFoundError:
        raise ImageReadError(f"cannot read {_name(source)}: no such file") from None
    except OSError as exc:
        raise ImageReadError(f"cannot read {_name(source)}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise HintsError(f"{_name(source)} is not valid JSON: {exc}") from None


def _from_image(source: ImageSource, size: tuple[int, int], max_pixels: int | None) -> Hints:
    loaded = read_image(source, max_pixels=max_pixels)
    rgb = loaded.rgb
    if loaded.alpha is not None and float(loaded.alpha.min()) < 1.0:
        weight = loaded.alpha.astype(np.float32)
    else:
        spread = rgb.max(axis=2) - rgb.min(axis=2)
        weight = (spread > _COLOURED).astype(np.float32)
    cbcr = chroma(rgb)
    if loaded.size != tuple(size):
        warnings.warn(f"the hints image is {loaded.size[0]}x{loaded.size[1]} but the photo is "
                      f"{size[0]}x{size[1]}: hints scaled to the photo", stacklevel=3)
        weight, cbcr = _scale(weight, cbcr, size)
    cbcr = np.where(weight[..., None] > 0, cbcr, 0).astype(np.float32)
    return Hints(weight, cbcr)


def _scale(weight: np.ndarray, cbcr: np.ndarray, size: tuple[int, int]
           ) -> tuple[np.ndarray, np.ndarray]:
    """Resize hints keeping thin strokes: area-weighted, colour weighted by the hint weight."""
    shrink = size[0] * size[1] < weight.shape[0] * weight.shape[1]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_NEAREST
    w = cv2.resize(weight, tuple(size), interpolation=interp)
    wc = cv2.resize(cbcr * weight[..., None], tuple(size), interpolation=interp)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(w[..., None] > 0, wc / w[..., None], 0)
    if shrink:  # a stroke thinner than the new pixel still counts as a full hint there
        w = np.minimum(1.0, w * (weight.size / float(size[0] * size[1])))
    return w.astype(np.float32), c.astype(np.float32)


def _from_json(data, size: tuple[int, int], name: str) -> Hints:
    width, height = size
    if isinstance(data, list):
        data = {"points": [d for d in data if "x" in d or "y" in d],
                "strokes": [d for d in data if "points" in d]}
    if not isinstance(data, dict):
        raise HintsError(f"{name}: expected a JSON object or list, got {type(data).__name__}")
    unknown = set(data) - {"size", "points", "strokes"}
    if unknown:
        raise HintsError(f"{name}: unknown keys {sorted(unknown)}; expected size, points, "
                         "strokes")
    sx = sy = 1.0
    if "size" in data:
        try:
            cw, ch = (float(v) for v in data["size"])
        except (TypeError, ValueError):
            raise HintsError(f"{name}: size must be [width, height]") from None
        if cw <= 0 or ch <= 0:
            raise HintsError(f"{name}: size must be positive, got {data['size']}")
        if (cw, ch) != (width, height):
            warnings.warn(f"the hints were drawn on a {cw:g}x{ch:g} canvas but the photo is "
                          f"{width}x{height}: hints scaled to the photo", stacklevel=4)
            sx, sy = width / cw, height / ch
    canvas = np.zeros((height, width, 3), np.float32)
    weight = np.zeros((height, width), np.uint8)
    scale = (sx + sy) / 2
    try:
        for i, point in enumerate(data.get("points", [])):
            colour = _colour(point.get("color"), f"{name}: point {i}")
            centre = (round(float(point["x"]) * sx), round(float(point["y"]) * sy))
            radius = max(0, round(float(point.get("radius", 0)) * scale))
            cv2.circle(canvas, centre, radius, colour, -1)
            cv2.circle(weight, centre, radius, 1, -1)
        for i, stroke in enumerate(data.get("strokes", [])):
            colour = _colour(stroke.get("color"), f"{name}: stroke {i}")
            pts = np.array([[float(x) * sx, float(y) * sy] for x, y in stroke["points"]])
            pts = np.rint(pts).astype(np.int32).reshape(-1, 1, 2)
            thickness = max(1, round(float(stroke.get("width", DEFAULT_WIDTH)) * scale))
            cv2.polylines(canvas, [pts], False, colour, thickness)
            cv2.polylines(weight, [pts], False, 1, thickness)
    except (KeyError, TypeError, ValueError) as exc:
        raise HintsError(f"{name}: malformed point or stroke ({type(exc).__name__}: {exc}); "
                         "the format is in docs/colorize.md") from None
    mask = weight.astype(np.float32)
    cbcr = np.where(mask[..., None] > 0, chroma(canvas), 0).astype(np.float32)
    return Hints(mask, cbcr)


def _colour(value, where: str) -> tuple[float, float, float]:
    if isinstance(value, str) and value.startswith("#") and len(value) == 7:
        try:
            return tuple(int(value[i:i + 2], 16) / 255.0 for i in (1, 3, 5))
        except ValueError:
            pass
    elif isinstance(value, (list, tuple)) and len(value) == 3:
        try:
            rgb = tuple(float(v) for v in value)
        except (TypeError, ValueError):
            rgb = ()
        if rgb and all(0 <= v <= 255 for v in rgb):
            return tuple(v / 255.0 for v in rgb)
    raise HintsError(f"{where}: colour must be \"#rrggbb\" or [r, g, b] in 0-255, got {value!r}")
