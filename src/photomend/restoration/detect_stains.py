"""Stains and water marks: a tinted blot with a darker tide line, found by a small network that
looks at the whole scan at low resolution (``data/weights/stains_net.onnx``).

The defect U-Net sees 200 px of context through thin-structure features and misses stains
(session 5: recall about 5 %; to it a 30-55 % brown tint with a soft rim looks like photo
content). A stain, however, is large and smooth, so it can be found on a small copy of the scan:
the scan is scaled to :data:`STAIN_SIDE` px on its long side (a stain of the synthetic damage
is then 3-15 px in radius), a network with dilated convolutions (about 150 px of context at
that size, the whole blot and its rim) gives a stain probability per pixel, and the map is
scaled back up. The ``learned`` detector sets its score to 1 where that probability exceeds
the threshold stored in the model's metadata, except regions that differ from their
surroundings neither in colour nor by an edge along their outline (:func:`tinted`), and each
kept region is grown into the pixels around it that the network is less sure of (:func:`grow`)
(:func:`add_stains` in :mod:`photomend.restoration.detect`). Only toned scans are searched
(:func:`toned`): on colour scans the network finds no stain and takes brown objects for ones.
The network and its training are in ``training/train_stains.py``.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import cv2
import numpy as np

from photomend.nn import onnx as nn_onnx
from photomend.ops.morphology import disk, touching
from photomend.restoration.detect import scaled

#: File name of the shipped weights under ``photomend/data/weights/``.
WEIGHTS = "stains_net.onnx"
#: Long side (px) at which the stain network runs.
STAIN_SIDE = 256
#: The network needs heights and widths that are multiples of this.
MULTIPLE = 4


def weights_path() -> Path:
    """Path of the shipped stain network."""
    return Path(str(files("photomend") / "data" / "weights" / WEIGHTS))


def stain_threshold(model: str | Path | None = None) -> float:
    """The decision threshold stored with the model (``threshold`` in its metadata), else 0.5."""
    return nn_onnx.metadata_float(model or weights_path(), "threshold", 0.5)


def stain_side(model: str | Path | None = None) -> int:
    """The long side the model runs at (``side`` in its metadata), else :data:`STAIN_SIDE`."""
    return int(nn_onnx.metadata_float(model or weights_path(), "side", STAIN_SIDE))


def to_stain_side(rgb: np.ndarray, side: int = STAIN_SIDE) -> np.ndarray:
    """``rgb`` scaled to ``side`` px on its long side (:func:`photomend.restoration.detect.
    scaled`: area-averaged when shrinking, cubic when enlarging), the network's input size."""
    rgb = np.asarray(rgb, np.float32)
    return scaled(rgb, side / max(rgb.shape[:2]))


def stain_probability_small(small: np.ndarray, *, model: str | Path | None = None,
                            tta: bool = True) -> np.ndarray:
    """Stain probability (float32 HxW) of an image already at the network's size
    (:func:`to_stain_side`), with horizontal-flip test-time augmentation."""
    sess = nn_onnx.session(model or weights_path())
    h, w = small.shape[:2]
    ph, pw = -h % MULTIPLE, -w % MULTIPLE
    x = np.pad(small, ((0, ph), (0, pw), (0, 0)), mode="reflect").transpose(2, 0, 1)[None]
    batch = np.concatenate([x, x[:, :, :, ::-1]]) if tta else x
    logits = nn_onnx.run(sess, batch, release=True)[:, 0]  # (one run per scan)
    prob = 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))
    prob = 0.5 * (prob[0] + prob[1][:, ::-1]) if tta else prob[0]
    return np.ascontiguousarray(prob[:h, :w], np.float32)


def stain_probability(rgb: np.ndarray, *, model: str | Path | None = None) -> np.ndarray:
    """Stain probability per pixel (float32 HxW in [0, 1], the size of ``rgb``) of ``rgb``
    (float32 HxWx3 RGB in [0, 1]): the network run on the scan scaled to :data:`STAIN_SIDE`
    px, its map scaled back (bilinear)."""
    rgb = np.asarray(rgb, np.float32)
    h, w = rgb.shape[:2]
    prob = stain_probability_small(to_stain_side(rgb, stain_side(model)), model=model)
    if prob.shape != (h, w):
        prob = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(prob, 0.0, 1.0)


def stains(rgb: np.ndarray, *, model: str | Path | None = None,
           threshold: float | None = None) -> np.ndarray:
    """Bool HxW mask of the stains of ``rgb``. On a toned scan (:func:`toned`):
    :func:`stain_probability` above ``threshold`` (None: the model's calibrated threshold),
    less the regions :func:`tinted` drops, each kept region then grown into the pixels around
    it above :data:`GROW` (:func:`grow`). On a colour scan: the stains found by their tide
    line (:func:`photomend.restoration.detect_tidelines.tideline_stains`)."""
    return stains_from(rgb, None, threshold, model=model)


def stains_from(rgb: np.ndarray, prob: np.ndarray | None, threshold: float | None, *,
                model: str | Path | None = None) -> np.ndarray:
    """:func:`stains` with the stain network's probability map ``prob`` (the size of ``rgb``)
    when it is already computed (None: computed here, only if needed): on a toned scan the
    regions above ``threshold`` (None: the model's) that :func:`tinted` keeps, grown
    (:func:`grow`); on a colour scan the tide-line stains (the network is neither loaded nor
    run, ``prob`` and ``threshold`` not used)."""
    if not toned(rgb):
        from photomend.restoration.detect_tidelines import tideline_stains

        return tideline_stains(rgb)
    t = stain_threshold(model) if threshold is None else float(threshold)
    if prob is None:
        prob = stain_probability(rgb, model=model)
    return grow(prob, tinted(rgb, prob > t))


#: A scan is toned (monochrome, sepia or any other one-hue toning: every colour on one line
#: through gray) when the spread of its colours across that line (:func:`cross_hue_spread`)
#: is at most this. Damaged scans of the training photos (session 8): sepia and monochrome
#: 0.0005-0.0069 (0.008 with strong per-channel noise), colour 0.013 and up except a photo
#: that is nearly gray itself (0.005-0.007); clean training photos 0.011-0.07.
TONED_SPREAD = 0.01
#: Long side (px) of the copy :func:`cross_hue_spread` measures: small enough that scanner
#: noise averages out, large enough to keep the photo's colours.
SPREAD_SIDE = 128


def cross_hue_spread(rgb: np.ndarray) -> float:
    """Standard deviation of the chroma of ``rgb`` (scaled to :data:`SPREAD_SIDE` px; pixels
    near black or white left out, if enough remain) across its main direction: about 0 for a
    monochrome or toned print, whose colours all lie on one line through gray, and larger the
    more hues a photo has.

    >>> y = np.linspace(0.1, 0.9, 64, dtype=np.float32)[None, :, None]
    >>> sepia = y * np.array([1.07, 0.95, 0.75], np.float32)       # one hue, any brightness
    >>> round(cross_hue_spread(sepia), 4)
    0.0
    >>> green = y * np.array([0.6, 1.0, 0.5], np.float32)
    >>> colour = np.concatenate([sepia, green], 1)                     # a second hue
    >>> cross_hue_spread(colour) > TONED_SPREAD
    True
    """
    x = to_stain_side(rgb, SPREAD_SIDE).reshape(-1, 3).astype(np.float64)
    # clipped pixels leave the line (a sepia highlight is 1.07 x its luma in red, cut at 1)
    unclipped = (x.max(1) < 0.95) & (x.min(1) > 0.03)
    if unclipped.sum() >= 50:
        x = x[unclipped]
    chroma = np.stack([(x[:, 0] - x[:, 1]) / np.sqrt(2),
                       (x[:, 0] + x[:, 1] - 2 * x[:, 2]) / np.sqrt(6)])
    if chroma.shape[1] < 2:
        return 0.0
    return float(np.sqrt(max(np.linalg.eigvalsh(np.cov(chroma))[0], 0.0)))


def toned(rgb: np.ndarray) -> bool:
    """Whether ``rgb`` is a toned scan (:data:`TONED_SPREAD`), the scans the stain network
    was trained for (most old prints are monochrome or toned)."""
    return cross_hue_spread(rgb) <= TONED_SPREAD


#: A kept stain region takes in the connected pixels whose stain probability exceeds this.
GROW = 0.3


def grow(prob: np.ndarray, seeds: np.ndarray, low: float = GROW) -> np.ndarray:
    """The connected regions of ``prob > low`` (or ``seeds``) that hold a pixel of ``seeds``:
    a hysteresis threshold. The network is sure of a stain's middle and less of its edge and
    of a stain it finds in part (validation photo and training photos' scans: stain recall
    0.35 to 0.38 and 0.74 to 0.79, clean photos unchanged; session 7). Growing comes after
    :func:`tinted`, which judges the sure part alone (a grown region of a faint colour ripple
    would differ more from its ring).

    >>> p = np.array([[0.9, 0.4, 0.1, 0.4]], np.float32)
    >>> grow(p, p > 0.55).astype(int).tolist()
    [[1, 1, 0, 0]]
    """
    if not seeds.any():
        return seeds
    return touching((prob > low) | seeds, seeds)


#: A found region is kept when its mean colour differs from the ring of pixels around it by at
#: least this (RGB distance) ...
MIN_CHANGE = 0.03
#: ... or when its outline is an edge of the scan: the 90th percentile of the gradient
#: magnitude (RGB, per pixel at :data:`STAIN_SIDE` px) on a band along the outline reaches this.
MIN_EDGE = 0.012


def _gradient(rgb: np.ndarray) -> np.ndarray:
    """Gradient magnitude (RGB norm of the Sobel derivatives, per pixel) of ``rgb`` scaled to
    :data:`STAIN_SIDE` px, scaled back to the size of ``rgb``."""
    h, w = rgb.shape[:2]
    small = to_stain_side(rgb, STAIN_SIDE)
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3) / 8
    g = np.sqrt((gx**2 + gy**2).sum(2))
    if g.shape != (h, w):
        g = cv2.resize(g, (w, h), interpolation=cv2.INTER_LINEAR)
    return g


def tinted(rgb: np.ndarray, found: np.ndarray) -> np.ndarray:
    """``found`` without the regions that are neither tinted nor outlined: regions whose mean
    colour hardly differs from the ring of pixels around them (< :data:`MIN_CHANGE`) *and*
    whose outline is no edge of the scan (:data:`MIN_EDGE`).

    A stain blends what it covers at least 30 % toward a brown, a clear change unless the
    photo is that brown already, and it has a darker tide line, an edge even then. The network
    also answers, now and then, to the dips of a faint colour ripple of a smooth picture:
    neither a colour change (0.01-0.025) nor an edge (gradient 0.003-0.005), so dropped. The
    colour check alone (session 6) also dropped real stains found in part, whose ring lies
    inside the stain, and stains on a scan of their own colour (validation stain recall 0.35
    to 0.24); with the edge they are kept (session 7).

    >>> yy, xx = np.mgrid[0:64, 0:64].astype(np.float32)
    >>> img = np.stack([0.5 + 0 * xx, 0.5 + 0 * xx, 0.5 + 0.03 * np.sin(xx / 6)], 2)  # a ripple
    >>> m = (np.sin(xx / 6) < -0.7) & (yy > 8) & (yy < 56)
    >>> bool(tinted(img, m).any())
    False
    >>> img = np.full((64, 64, 3), 0.5, np.float32); m = np.zeros((64, 64), bool)
    >>> m[20:40, 20:40] = True; img[m] = (0.45, 0.38, 0.28)                    # a stain
    >>> bool((tinted(img, m) == m).all())
    True
    """
    if not found.any():
        return found
    rgb = np.asarray(rgb, np.float32)
    h, w = found.shape
    n, labels = cv2.connectedComponents(found.astype(np.uint8), connectivity=8)
    out = found.copy()
    grad = None
    b = max(1, round(2 * max(h, w) / STAIN_SIDE))       # 2 px at the network's size
    band_k = disk(b)
    for i in range(1, n):
        comp = labels == i
        r = max(3, round(0.5 * np.sqrt(comp.sum() / np.pi)))
        k = disk(r)
        ring = cv2.dilate(comp.astype(np.uint8), k).astype(bool) & ~found
        if not ring.any():
            continue
        if float(np.linalg.norm(rgb[comp].mean(0) - rgb[ring].mean(0))) >= MIN_CHANGE:
            continue
        c8 = comp.astype(np.uint8)
        band = cv2.dilate(c8, band_k).astype(bool) & ~cv2.erode(c8, band_k).astype(bool)
        grad = _gradient(rgb) if grad is None else grad
        if float(np.quantile(grad[band], 0.9)) < MIN_EDGE:
            out[comp] = False
    return out
