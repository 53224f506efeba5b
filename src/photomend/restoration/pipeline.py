"""The old-photo pipeline: detect defects -> dilate a little -> fill -> (colorize) -> (upscale).

:func:`restore_loaded` works on a :class:`~photomend.io.LoadedImage` (the CLI uses it);
:func:`restore` is the public verb (``photomend.restore``) that takes and returns whatever the
caller holds.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any, Union

import cv2
import numpy as np

from photomend.api import as_given
from photomend.engines import ProgressFn
from photomend.errors import InputError, MaskError
from photomend.io import ImageSource, LoadedImage, read_image, read_mask
from photomend.ops.morphology import disk, touching
from photomend.removal import prewarm, remove_array
from photomend.restoration.detect import (
    DEFAULT_DETECTOR,
    WORKING_SIZE,
    check_detector,
    check_size,
    check_threshold,
    detect_defects,
)

NO_DEFECTS_MESSAGE = "no defects found: the scan is returned unchanged"
#: Dilation of the detected mask, in pixels of the detector's working size.
DILATE = 2
#: Components at most this thick (px at working size, radius) are thin: filled by diffusion.
THIN_RADIUS = 3.0
#: The thick fill's crops merge only while their union stays within this size (or within the
#: bigger of the two): a merged crop saves the work the two would repeat on their overlap, but
#: each of its pixels costs the fill ~160 bytes at once. The 12 MP bench scan's defects chained
#: into one 4.8 MP crop: ~0.8 GB at the peak of its restore, 0.2 GB less with this cap, as fast;
#: TUNE photos as 12 MP scans: the same repair, or +0.12 dB. (Removal keeps merging: capping its
#: 4K boxes moved TUNE's fills both ways, home.jpg's façade -0.8 dB, edge F1 0.20 -> 0.13.)
MERGE_MAX_PIXELS = 1_000_000

#: What ``colorize=`` accepts: True (the default method), a method name, or keyword options
#: of :func:`photomend.colorization.core.colorize_array` (``method``, ``reference``, ``hints``,
#: ``saturation``, ``model``).
ColorizeOption = Union[bool, str, dict, None]


@dataclass(frozen=True, eq=False)
class RestoreResult:
    """What :func:`restore` returns.

    Attributes
    ----------
    image : the restored photo, the kind the caller gave (array, PIL image).
    mask : bool HxW at the input's size: the pixels that were filled (detected defects,
        dilated, plus any ``extra_mask``).
    """

    image: Any
    mask: np.ndarray

    @property
    def found(self) -> bool:
        """Whether anything was filled."""
        return bool(self.mask.any())

    def __iter__(self):  # image, mask = photomend.restore(...)
        return iter((self.image, self.mask))


def restore(
    image: ImageSource,
    *,
    detector: str = DEFAULT_DETECTOR,
    threshold: float | None = None,
    extra_mask: ImageSource | None = None,
    colorize: ColorizeOption = None,
    upscale: int | None = None,
    max_pixels: int | None = None,
    progress: ProgressFn | None = None,
) -> RestoreResult:
    """Find the scratches, dust, cracks, folds, stains and tears of an old scan and fill them.

    Parameters
    ----------
    image : path, encoded bytes, PIL image or array (uint8, uint16 or float in [0, 1]; HxW,
        HxWx3 or HxWx4). Gray or colour, 8 or 16 bits, with or without alpha (passed through).
    detector : 'learned' (the shipped U-Net and its later steps, default) or 'classical'
        (top-hats and line filters, no weights).
    threshold : decision threshold on the detector's score in (0, 1); lower finds more.
        None: the detector's calibrated default.
    extra_mask : more pixels to fill (the user's strokes for what the detector missed): any
        image whose non-zero pixels (or alpha) mark them, the size of ``image``.
    colorize : also colorize the restored photo: True (``auto``, needs a zoo model), a method
        name, or a dict of options (``method``, ``reference``, ``hints``, ``saturation``).
    upscale : also upscale the restored photo by this factor (2, 3 or 4): with SRMD when it is
        installed (``photomend models fetch srmd-x2`` ...), else with the default upscaler.
    max_pixels : refuse larger inputs (default ``$PHOTOMEND_MAX_PIXELS`` or 200 megapixels).
    progress : ``progress(stage, done, total)``.

    Returns
    -------
    RestoreResult(image, mask): ``image`` is the kind it was given (see
    :func:`photomend.remove`); ``mask`` is bool HxW at the input's size. When nothing is
    found the image comes back unchanged, with a warning.

    Raises
    ------
    InputError : unreadable image or mask, an image under 64 px (ImageTooSmallError), an unknown
        detector, a threshold outside (0, 1), a mask of another size, an image over the pixel limit.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.full((96, 96, 3), 100, np.uint8)
    >>> img[10:86, 47] = 240                              # a bright scratch
    >>> out, mask = restore(img, detector="classical")
    >>> bool(mask[48, 47]), abs(int(out[48, 47, 0]) - 100) <= 2  # found, filled from around it
    (True, True)
    """
    loaded = read_image(image, max_pixels=max_pixels)
    extra = None
    if extra_mask is not None:
        extra = read_mask(extra_mask, size=loaded.size, max_pixels=max_pixels)
    result, mask = restore_loaded(loaded, detector=detector, threshold=threshold,
                                  extra_mask=extra, colorize=colorize, upscale=upscale,
                                  max_pixels=max_pixels, progress=progress)
    if not mask.any():
        warnings.warn(NO_DEFECTS_MESSAGE, stacklevel=2)
    hole = mask if result.size == loaded.size else None
    out = as_given(result, image, hole=hole, color=bool(colorize))
    return RestoreResult(image=out, mask=mask)


def restore_loaded(
    loaded: LoadedImage,
    *,
    detector: str = DEFAULT_DETECTOR,
    threshold: float | None = None,
    extra_mask: np.ndarray | None = None,
    colorize: ColorizeOption = None,
    upscale: int | None = None,
    max_pixels: int | None = None,
    progress: ProgressFn | None = None,
    in_place: bool = False,
) -> tuple[LoadedImage, np.ndarray]:
    """(restored image, filled mask) of a loaded scan; metadata and alpha are kept.

    ``in_place=True``: the caller gives ``loaded.rgb`` up, and the repair may be written into
    it (the command line does so with the scan it decoded: 144 MB less to touch at 12 MP)."""
    check_detector(detector)
    check_threshold(threshold)
    w, h = loaded.size
    check_size(h, w)
    if upscale is not None:
        from photomend.upscaling.api import check_output_size, scan_upscaler
        from photomend.upscaling.base import check_upscaler

        check_upscaler(scan_upscaler(int(upscale)), int(upscale))
        check_output_size(loaded.size, int(upscale), max_pixels)
    if extra_mask is not None and extra_mask.shape != (h, w):
        raise MaskError(f"the extra mask is {extra_mask.shape[1]}x{extra_mask.shape[0]} but the "
                        f"scan is {w}x{h}")
    rgb, mask = restore_array(loaded.rgb, detector=detector, threshold=threshold,
                              extra_mask=extra_mask, progress=progress, in_place=in_place)
    result = loaded.with_rgb(rgb)
    if colorize:
        result = _colorize(result, colorize, max_pixels, progress)
    if upscale is not None:
        from photomend.upscaling.api import scan_upscaler, upscale_loaded

        # SRMD when installed: it takes the scan's noise level (estimated) as an input
        result = upscale_loaded(result, int(upscale), model=scan_upscaler(int(upscale)),
                                progress=progress)
    return result, mask


def restore_array(
    rgb: np.ndarray,
    *,
    detector: str = DEFAULT_DETECTOR,
    threshold: float | None = None,
    extra_mask: np.ndarray | None = None,
    seed: int = 0,
    progress: ProgressFn | None = None,
    in_place: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Detect, dilate, fill: (restored float32 HxWx3, filled bool HxW mask) of ``rgb``.

    An empty mask returns an unchanged copy (``rgb`` itself when ``in_place``: see
    :func:`repair`).
    """
    rgb = np.asarray(rgb, np.float32)
    mask = detect_defects(rgb, detector=detector, threshold=threshold, progress=progress)
    if mask.any() or extra_mask is not None:
        # PatchMatch's compiled kernels (a fresh process: ~0.65 s of CPU, mostly holding the
        # GIL) load in the background from here, beside the mask's dilation and the Telea fill
        # of the thin defects, which leave a core free; not beside the detector's network,
        # which keeps both cores of a small machine busy.
        prewarm("patchmatch")
    mask = dilate_mask(mask)
    if extra_mask is not None:
        mask = mask | np.asarray(extra_mask, bool)
    advice = "try a higher threshold or the other detector"
    if mask.all():
        raise MaskError(f"the defects cover the whole scan: there is nothing left to copy from; "
                        f"{advice}")
    try:
        return repair(rgb, mask, seed=seed, progress=progress, in_place=in_place), mask
    except MaskError as exc:  # e.g. defects everywhere but in a few specks
        raise MaskError(f"the defects found ({mask.mean():.0%} of the scan once grown) leave "
                        f"too little to copy from ({exc}); {advice}") from None


def dilate_mask(mask: np.ndarray, radius: float = DILATE) -> np.ndarray:
    """``mask`` grown by ``radius`` pixels of the working size (scaled to the mask's size)."""
    if not mask.any():
        return mask
    r = max(1, round(radius * max(mask.shape) / WORKING_SIZE)) if max(mask.shape) > WORKING_SIZE \
        else max(1, round(radius))
    return cv2.dilate(mask.astype(np.uint8), disk(r)).astype(bool)


def repair(rgb: np.ndarray, mask: np.ndarray, *, seed: int = 0,
           progress: ProgressFn | None = None, in_place: bool = False) -> np.ndarray:
    """Fill ``mask``: thin defects (scratches, hairlines, dust, cracks) by OpenCV's Telea
    diffusion, which is exact enough across a few pixels and fast at any size; the thick ones
    (tears, stains, big specks) by the PatchMatch engine with the ``auto`` HD strategy (CRA for
    large regions of big scans). A new array, unless ``in_place`` (the caller gives ``rgb``
    up: the fill may be written into it)."""
    if not mask.any():
        return rgb if in_place else rgb.copy()
    thin, thick = split_thin(mask)
    out = rgb
    if thin.any():
        out = remove_array(out, thin, engine="telea", hd_strategy="original", progress=progress,
                           in_place=in_place)
    if thick.any():
        # (into the Telea result when there is one: it is ours; the caller's rgb only when
        # given up)
        out = _fill_thick(out, thick, seed=seed, progress=progress,
                          in_place=in_place or not np.may_share_memory(out, rgb))
    return out


def _fill_thick(rgb: np.ndarray, mask: np.ndarray, *, seed: int,
                progress: ProgressFn | None, in_place: bool = False) -> np.ndarray:
    """PatchMatch with the ``auto`` HD strategy, without its structure-line guidance: the line
    entering a defect is as often the stretch of the scratch the detector missed as an edge of
    the photo, and continued into the hole it redraws the scratch (seen on the 12 MP bench
    scan once its defects were filled in crops of their own: the lines are found at native
    scale there). On the TUNE photos at 1024 px, with the learned detector's masks, the repair
    gains moved by at most 0.2 dB either way, mean 0.0."""
    from photomend.engines import create_engine
    from photomend.hd import run_strategy

    engine = create_engine("patchmatch", seed=seed, line_weight=0.0)
    return run_strategy("auto", engine, rgb, mask, progress=progress, in_place=in_place,
                        merge_max_pixels=MERGE_MAX_PIXELS)


def split_thin(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(thin, thick) parts of ``mask``: a component is thick when it contains a disc of radius
    above :data:`THIN_RADIUS` working-size pixels."""
    scale = max(1.0, max(mask.shape) / WORKING_SIZE)
    m8 = mask.astype(np.uint8)
    dist = cv2.distanceTransform(m8, cv2.DIST_L2, 3)
    core = dist > THIN_RADIUS * scale + 1.0
    if not core.any():
        return mask, np.zeros_like(mask)
    thick = touching(mask.astype(bool), core)
    return mask & ~thick, thick


def _colorize(result: LoadedImage, option: ColorizeOption, max_pixels, progress) -> LoadedImage:
    from photomend.colorization.core import colorize_array
    from photomend.colorization.hints import read_hints

    if option is True:
        kwargs: dict = {}
    elif isinstance(option, str):
        kwargs = {"method": option}
    elif isinstance(option, dict):
        kwargs = dict(option)
    else:
        raise InputError(f"colorize must be True, a method name or a dict, got {option!r}")
    if kwargs.get("hints") is not None:
        kwargs["hints"] = read_hints(kwargs["hints"], size=result.size, max_pixels=max_pixels)
    if kwargs.get("reference") is not None and not isinstance(kwargs["reference"], np.ndarray):
        kwargs["reference"] = read_image(kwargs["reference"], max_pixels=max_pixels).rgb
    elif isinstance(kwargs.get("reference"), np.ndarray):
        kwargs["reference"] = read_image(kwargs["reference"]).rgb
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "the photo has colour: converted to luma" is expected
        colored = colorize_array(result.rgb, progress=progress, **kwargs)
    return replace(result, rgb=colored.rgb)
