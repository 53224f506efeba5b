"""The colorization pipeline on arrays: luma in, chroma predicted, luma out unchanged.

:func:`colorize_array` combines up to three sources of chroma on a working grid of at most
:data:`~photomend.colorization.propagate.WORKING_PIXELS` pixels:

* ``auto``: a published network's prediction (weak targets everywhere),
* ``reference``: colours transferred from a reference photo (weak targets everywhere),
* ``hints``: the user's colour hints (strong targets where given),

solves the edge-aware propagation over them (when there are hints or a reference), brings the
chroma to full resolution with a guided filter steered by the full-resolution luma, and
recombines it with the photo's own luma (:func:`~photomend.colorization.colorspace.compose`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from photomend.colorization import kernels
from photomend.colorization import propagate as prop
from photomend.colorization.hints import Hints
from photomend.errors import ColorizeError
from photomend.jit import PARALLEL_LOCK

METHODS = ("hints", "reference", "auto")
#: Confidence of a network's prediction when hints are combined with it.
AUTO_CONFIDENCE = 0.05
#: Channel spread (on [0, 1]) above which a photo counts as colour (JPEG noise allowed).
GRAY_TOLERANCE = 1.5 / 255
GRAY_PHOTO_NOTE = ("the photo has colour: it was converted to luma (grey) first, so its own "
                   "colours are ignored")

Progress = Callable[[str, int, int], None]


@dataclass
class ColorizeResult:
    """rgb: float32 HxWx3; method: what ran; out_of_gamut: share of pixels whose chroma had to
    shrink to stay in sRGB with the luma unchanged; notes: what the user should know."""

    rgb: np.ndarray
    method: str
    out_of_gamut: float = 0.0
    notes: list[str] = field(default_factory=list)


def resolve_method(method: str | None, *, hints: bool, reference: bool,
                   names: tuple[str, str] = ("hints=", "reference=")) -> str:
    """The method to run: ``method`` checked against what was given, or the default (hints if
    any, else reference if any, else auto). ``names``: how the front end calls the hints and
    the reference input (Python keywords by default; CLI flags, HTTP parts), for the errors.

    >>> resolve_method(None, hints=False, reference=True)
    'reference'
    """
    if method is None:
        return "hints" if hints else "reference" if reference else "auto"
    if method not in METHODS:
        raise ColorizeError(f"unknown colorize method {method!r}; choose from "
                            f"{', '.join(METHODS)}")
    if method == "hints" and not hints:
        raise ColorizeError(f"method 'hints' needs colour hints ({names[0]}): an image of "
                            "strokes on a transparent background, or JSON points/strokes")
    if method == "reference" and not reference:
        raise ColorizeError(f"method 'reference' needs a reference photo ({names[1]})")
    return method


def colorize_array(
    rgb: np.ndarray,
    *,
    hints: Hints | None = None,
    reference: np.ndarray | None = None,
    method: str | None = None,
    model: str | None = None,
    saturation: float = 1.0,
    working_pixels: int = prop.WORKING_PIXELS,
    progress: Progress | None = None,
) -> ColorizeResult:
    """Colorize a float32 HxWx3 photo (grey, or colour that is converted to luma first).

    ``hints`` are on the photo's grid (:func:`photomend.colorization.hints.read_hints`),
    ``reference`` a float32 RGB photo of any size. ``method``: 'hints', 'reference' or 'auto'
    (default: hints if given, else reference if given, else auto). Hints are combined with a
    reference or with auto when both are given. ``model``: the zoo network for 'auto'
    (default: the first installed of :data:`photomend.colorization.zhang.MODELS`).
    """
    saturation = float(saturation)
    if not math.isfinite(saturation) or saturation < 0:
        raise ColorizeError(f"saturation must be a number >= 0, got {saturation}")
    if hints is not None and hints.weight.shape != rgb.shape[:2]:
        raise ColorizeError("hints must be on the photo's pixel grid")
    method = resolve_method(method, hints=hints is not None, reference=reference is not None)
    notes = []
    rgb = np.ascontiguousarray(rgb, dtype=np.float32)
    if kernels.has_colour(rgb, np.float32(GRAY_TOLERANCE)):
        notes.append(GRAY_PHOTO_NOTE)
        warnings.warn(GRAY_PHOTO_NOTE, stacklevel=3)
    if progress:
        progress("colorize", 0, 4)
    h, w = rgb.shape[:2]
    y = np.empty((h, w), np.float32)
    with PARALLEL_LOCK:  # parallel kernels: one at a time (photomend.jit)
        kernels.luma_of(rgb, y)
    size = prop.working_size((w, h), working_pixels)
    y_small = cv2.resize(y, size, interpolation=cv2.INTER_AREA) if size != (w, h) else y
    targets = np.zeros((size[1], size[0], 2), np.float32)
    conf = np.zeros((size[1], size[0]), np.float32)
    hint_conf = hint_targets = None
    if hints is not None:
        hint_conf = hints.weight * np.float32(prop.HINT_CONFIDENCE)
        if size != (w, h):
            hint_conf, hint_targets = prop.downscale_targets(hints.cbcr, hint_conf, size)
        else:
            hint_targets = hints.cbcr
    if method == "auto":
        from photomend.colorization import zhang

        known = None if hint_conf is None else hint_conf > 0
        targets = zhang.predict_chroma(y_small, model=model, hint_cbcr=hint_targets,
                                       hint_mask=known)
        conf[:] = AUTO_CONFIDENCE
    elif reference is not None:
        from photomend.colorization import reference as ref

        targets = ref.transfer(y_small, reference)
        conf[:] = ref.TRANSFER_CONFIDENCE
    if progress:
        progress("colorize", 1, 4)
    if hint_conf is not None:
        total = conf + hint_conf
        with np.errstate(divide="ignore", invalid="ignore"):
            targets = np.where(total[..., None] > 0,
                               (targets * conf[..., None] + hint_targets * hint_conf[..., None])
                               / total[..., None], 0).astype(np.float32)
        conf = total
    if method == "auto" and hints is None:
        chroma_small = targets  # the network's own prediction, no propagation needed
    else:
        tol = prop._CG_TOL if size == (w, h) else prop._CG_TOL_WORKING
        chroma_small = prop.solve(y_small, targets, conf, tol=tol)
    if progress:
        progress("colorize", 3, 4)
    out = np.empty((h, w, 3), np.float32)
    if size != (w, h):  # guided upsampling and recombination in one pass at full resolution
        coef = prop.guided_coefficients(y_small, chroma_small)
        with PARALLEL_LOCK:
            shrunk = kernels.upsample_compose(y, coef, saturation, out) / float(h * w)
    else:
        chroma = np.ascontiguousarray(chroma_small, dtype=np.float32)
        with PARALLEL_LOCK:
            shrunk = kernels.compose_rgb(y, chroma, saturation, out) / float(h * w)
    if shrunk > 0.001:
        notes.append(f"{shrunk:.1%} of the pixels had colours outside sRGB at their luma; their "
                     "saturation was reduced so the luma stays unchanged")
    if progress:
        progress("colorize", 4, 4)
    return ColorizeResult(out, method, shrunk, notes)
