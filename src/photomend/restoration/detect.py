"""Defect detection at the detector's working size, mapped back to the full-resolution scan."""

from __future__ import annotations

import cv2
import numpy as np

from photomend.engines import ProgressFn
from photomend.errors import ImageTooSmallError, InputError, UnknownEngineError
from photomend.ops.morphology import touching

#: The detectors :func:`detect_defects` knows.
#: ``bopbtl``: the published scratch detector of Bringing Old Photos Back to Life, once
#: installed (:mod:`photomend.restoration.detect_bopbtl`).
DETECTORS = ("learned", "classical", "bopbtl")
#: The learned detector (U-Net fused with the classical detections it supports, a second look
#: at each region, stains and torn corners) since session 7: it wins every benchmark suite by
#: far (benchmarks/results_restore.md) and, with the region step and small photos enlarged,
#: flags no more of clean photos than the classical detector on the validation and training
#: photos (0.61 / 0.16 % vs 0.68 / 1.05 %); on the clean, sharp scikit-image photos at
#: 128-512 px it flags 2.0 % (was 4.9 %), the classical 1.1 % (docs/restore.md).
DEFAULT_DETECTOR = "learned"
#: Long side (px) at which defects are detected; larger scans are scaled down to it first.
WORKING_SIZE = 1024
#: Scans whose long side is below this (px) are enlarged for the ``learned`` detector, by at
#: most :data:`MAX_ENLARGE`: the network was trained on scans of 640-1536 px, and on a small
#: photo real edges are as thin as scratches (session 7, on the training photos at 128, 256,
#: 384 and 512 px: F1 0.28/0.44/0.76/0.74 -> 0.51/0.54/0.80/0.79; clean photos flagged
#: 2.3/1.3/0.8/0.55 % -> 0.95/0.43/0.20/0.25 %).
SMALL_SIDE = 768
MAX_ENLARGE = 2.0
#: Smallest side (px) a scan may have.
MIN_SIDE = 64


def detection_scale(h: int, w: int, detector: str = DEFAULT_DETECTOR) -> float:
    """Factor from an ``h`` x ``w`` scan to the size its defects are detected at: larger scans
    are scaled down to :data:`WORKING_SIZE`; for the ``learned`` detector, scans smaller than
    :data:`SMALL_SIDE` are enlarged toward it, by at most :data:`MAX_ENLARGE`.

    >>> detection_scale(2048, 1536), detection_scale(400, 300, "learned")
    (0.5, 1.92)
    """
    long_side = max(h, w)
    if long_side > WORKING_SIZE:
        return WORKING_SIZE / long_side
    if detector == "learned" and long_side < SMALL_SIDE:
        return min(MAX_ENLARGE, SMALL_SIDE / long_side)
    return 1.0


def scaled(rgb: np.ndarray, f: float) -> np.ndarray:
    """``rgb`` (float32 RGB in [0, 1]) scaled by ``f``: area averaging when shrinking, cubic
    interpolation (clipped to [0, 1]) when enlarging; ``rgb`` itself when the size stays.

    >>> scaled(np.zeros((100, 60, 3), np.float32), 0.5).shape
    (50, 30, 3)
    """
    h, w = rgb.shape[:2]
    size = (max(1, round(w * f)), max(1, round(h * f)))
    if size == (w, h):
        return rgb
    interp = cv2.INTER_AREA if f < 1.0 else cv2.INTER_CUBIC
    return np.clip(cv2.resize(rgb, size, interpolation=interp), 0.0, 1.0)


def detection_input(rgb: np.ndarray, detector: str = DEFAULT_DETECTOR) -> np.ndarray:
    """``rgb`` at the size its defects are detected at (:func:`detection_scale`, :func:`scaled`)."""
    return scaled(rgb, detection_scale(*rgb.shape[:2], detector))


def check_detector(name: str) -> None:
    """Raise UnknownEngineError unless ``name`` is one of :data:`DETECTORS`.

    >>> check_detector("classical")
    """
    if name not in DETECTORS:
        raise UnknownEngineError(f"unknown detector {name!r}; available: {', '.join(DETECTORS)}")


def check_detector_ready(name: str) -> None:
    """:func:`check_detector`, and ModelMissingError (with the command that installs it) when
    ``name`` needs a model that is not installed: for front ends to call before any work.

    >>> check_detector_ready("learned")
    """
    check_detector(name)
    if name == "bopbtl":
        from photomend.restoration.detect_bopbtl import weights_path

        weights_path()


def check_threshold(threshold: float | None) -> None:
    if threshold is not None and not 0.0 < float(threshold) < 1.0:
        raise InputError(f"threshold must be between 0 and 1 (exclusive), got {threshold}")


def check_size(h: int, w: int) -> None:
    if min(h, w) < MIN_SIDE:
        raise ImageTooSmallError(
            f"the scan is {w}x{h}: restore needs at least {MIN_SIDE} px on each side"
        )


def defect_score(
    rgb: np.ndarray, *, detector: str = DEFAULT_DETECTOR, progress: ProgressFn | None = None
) -> tuple[np.ndarray, float, float]:
    """(score map at the detection size, default threshold, hysteresis margin) for ``rgb``.

    The map is float32 in [0, 1], of the size of :func:`detection_input` (the scan's own size
    for a scan of 768-1024 px, or any scan with ``classical``). For ``learned`` it is the
    chain's score (:func:`chain_maps`); for ``bopbtl`` the published network's probability,
    at the scan's size. (A stacked per-pixel classifier over the chain's maps
    was measured in issue 21 and not shipped: docs/restore.md, session 13.)
    """
    check_detector(detector)
    h, w = rgb.shape[:2]
    check_size(h, w)
    if detector == "bopbtl":  # (the network scales the scan itself: 256 px short side)
        from photomend.restoration.detect_bopbtl import THRESHOLD, full_size_probability

        return _in_one_step(full_size_probability, rgb, progress), THRESHOLD, 0.0
    small = detection_input(rgb, detector)
    if detector == "classical":
        from photomend.restoration.detect_classical import DEFAULT_THRESHOLD, classical_score

        return _in_one_step(classical_score, small, progress), DEFAULT_THRESHOLD, 0.0
    from photomend.restoration.detect_learned import default_threshold, hysteresis_margin

    _, _, score = chain_maps(small, progress)
    return score, default_threshold(), hysteresis_margin()


def _in_one_step(score_fn, image: np.ndarray, progress: ProgressFn | None) -> np.ndarray:
    """``score_fn(image)``, reported as one step of ``detect``."""
    if progress is not None:
        progress("detect", 0, 1)
    score = score_fn(image)
    if progress is not None:
        progress("detect", 1, 1)
    return score


def chain_maps(small: np.ndarray, progress: ProgressFn | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(classical score, network probability, chain score) of ``small`` (the scan at the
    detection size). The chain score is the network's
    probability, fused with the classical detections it supports (:func:`fuse`) when the
    model's metadata asks for it, less the regions above the default threshold that look like
    photo content (:func:`~photomend.restoration.detect_regions.drop_content`), raised along
    the faint stretches of the scratches found (:func:`add_lines`), then set to 1 on the
    stains (:func:`add_stains`) and torn corners (:func:`add_tears`) that the network misses:
    the ``learned`` detector's score."""
    from photomend.restoration.detect_classical import classical_score
    from photomend.restoration.detect_learned import (
        classical_support,
        default_threshold,
        learned_probability,
    )
    from photomend.restoration.detect_regions import drop_content

    classical = classical_score(small)  # fused, an input channel and a region feature
    prob = learned_probability(small, classical=classical, progress=progress)
    score = fuse(prob, classical, classical_support())
    threshold = default_threshold()
    score = drop_content(score, small, prob, classical, threshold)
    score = add_lines(score, prob, small, threshold)
    return classical, prob, add_tears(add_stains(score, small), small)


def add_lines(score: np.ndarray, prob: np.ndarray, rgb: np.ndarray,
              threshold: float) -> np.ndarray:
    """``score`` raised on the faint stretches, under the network's threshold, of the
    scratches found in it above ``threshold`` (the default one, whatever the caller's, so the
    map does not depend on it): :func:`photomend.restoration.detect_lines.long_lines`,
    straight runs of the network's moderate probability ``prob`` (session 9), a step of the
    ``learned`` detector. Each line takes the highest score found on it, so a caller's
    higher threshold drops the lines it drops the detections of.
    """
    from photomend.restoration.detect_lines import long_lines

    return inherit(score, long_lines(prob, rgb, score > threshold))


def inherit(score: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """``score`` with every 8-connected region of ``regions`` raised to its highest score.

    >>> score = np.zeros((3, 5), np.float32); score[1, 0] = 0.97; score[1, 3] = 0.5
    >>> lines = np.zeros((3, 5), bool); lines[1, :] = True
    >>> out = inherit(score, lines)
    >>> bool((out[1] == np.float32(0.97)).all()), float(out[0, 0])
    (True, 0.0)
    """
    if not regions.any():
        return score
    n, labels = cv2.connectedComponents(regions.astype(np.uint8), connectivity=8)
    best = np.zeros(n, np.float32)
    np.maximum.at(best, labels[regions], score[regions])
    return np.where(regions, np.maximum(score, best[labels]), score).astype(np.float32)


def add_tears(score: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """``score`` set to 1 on the torn corners of ``rgb`` (:func:`photomend.restoration.
    detect_tears.corner_tears`: uniform paper or scanner-bed patches in a corner, behind a
    sharp edge), which the network misses: the ``learned`` detector's last step."""
    from photomend.restoration.detect_tears import corner_tears

    return _certain(score, corner_tears(rgb))


def add_stains(score: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """``score`` set to 1 on the stains and water marks of ``rgb`` (:func:`photomend.
    restoration.detect_stains.stains`: on a toned scan a small network run on the scan at
    256 px, session 6; on a colour scan the closed tide lines of :mod:`photomend.restoration.
    detect_tidelines`, session 8), which the U-Net misses: a step of the ``learned``
    detector."""
    from photomend.restoration.detect_stains import stains

    return _certain(score, stains(rgb))


def _certain(score: np.ndarray, found: np.ndarray) -> np.ndarray:
    """``score`` set to 1 where ``found`` (a rule's or a second network's detections)."""
    if not found.any():
        return score
    return np.where(found, np.float32(1.0), score).astype(np.float32)


def fuse(prob: np.ndarray, classical: np.ndarray, support: float | None) -> np.ndarray:
    """The learned probability map with the classical detector's detections added where the
    network gives them at least ``support``: set to 1 there (``support`` None: no fusion,
    ``prob`` itself).

    The classical line filters find faint scratches and hairlines that the network scores
    just under its threshold; the network's weak support keeps out the real thin edges the
    line filters also flag. (Calibrated on the training photos: ``support`` in the ONNX
    metadata, see ``training/calibrate_defects.py``.)

    >>> p = np.array([[0.95, 0.6, 0.1]], np.float32); c = np.array([[0.0, 0.8, 0.8]], np.float32)
    >>> fuse(p, c, 0.4).tolist()
    [[0.949999988079071, 1.0, 0.10000000149011612]]
    """
    from photomend.restoration.detect_classical import DEFAULT_THRESHOLD

    if support is None:
        return prob
    return np.where((classical > DEFAULT_THRESHOLD) & (prob > support), np.float32(1.0),
                    prob).astype(np.float32)


def hysteresis(score: np.ndarray, low: float, high: float) -> np.ndarray:
    """``score`` with every connected region above ``low`` that never exceeds ``high`` set to
    0: a faint stretch of a scratch is kept when the scratch is clear elsewhere, an isolated
    faint blip is dropped.

    >>> s = np.zeros((5, 9), np.float32); s[2, 1:4] = [0.6, 0.9, 0.6]; s[2, 6] = 0.6
    >>> int((hysteresis(s, 0.5, 0.8) > 0.5).sum())
    3
    """
    if high <= low:
        return score
    above = score > low
    if not above.any():
        return score
    # the background keeps its (low) scores
    keep = touching(above, score > high) | ~above
    return np.where(keep, score, 0.0).astype(np.float32)


def detect_defects(
    rgb: np.ndarray,
    *,
    detector: str = DEFAULT_DETECTOR,
    threshold: float | None = None,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """Bool HxW mask of the defects of ``rgb`` (float32 HxWx3 RGB in [0, 1]), full size.

    ``threshold`` is the decision threshold on the detector's score (lower finds more; None:
    the detector's own default).

    >>> import numpy as np
    >>> img = np.full((96, 96, 3), 0.4, np.float32); img[10:86, 47] = 0.95
    >>> m = detect_defects(img, detector="classical")
    >>> bool(m[48, 47]), bool(m[48, 20])
    (True, False)
    """
    check_threshold(threshold)
    rgb = np.asarray(rgb, np.float32)
    score, default, margin = defect_score(rgb, detector=detector, progress=progress)
    t = default if threshold is None else float(threshold)
    score = hysteresis(score, t, min(t + margin, 0.995))
    h, w = rgb.shape[:2]
    if score.shape[0] > h:  # detected on an enlarged copy: a pixel a quarter covered counts
        found = (score > t).astype(np.float32)
        return cv2.resize(found, (w, h), interpolation=cv2.INTER_AREA) >= 0.25
    if score.shape != (h, w):
        score = cv2.resize(score, (w, h), interpolation=cv2.INTER_LINEAR)
    return score > t
