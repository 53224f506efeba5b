"""The stacked defect classifier: a small per-pixel network over the learned chain's maps and
cheap image features that do not depend on how a defect was drawn (issue 21).

The U-Net alone learns its training generator's drawing code; the stack asks, per pixel, what
old-photo damage has in common whoever drew it: the U-Net's probability (at the working size
and at half of it, where wide creases become thin), the chain's final score, the classical
line/speck score, white and black top-hats at four widths, Hessian ridge strength at three
scales, the local noise level, the colour's distance from a median background, and the shift
of lightness and chroma from a blurred background (stains). Features are logarithms where they
are ratios at heart, so a linear layer can compare a response with the local noise.

Measured in issue 21 and **not shipped** (docs/restore.md, session 13): fitted leave one
family out by ``training/train_stacked.py`` (fits in ``training/.cache/stacked``, with their
thresholds), it beat the chain on three of the four held-out families but not on their mean,
and flagged 1.6 % of the clean twins of one of them and about 4 % of a clean real photo.
``benchmarks/bench_restore_lofo.py`` measures it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

#: The features, in the order :func:`features` stacks them.
FEATURE_NAMES = (
    "chain", "prob", "prob half", "classical", "chain near", "prob near",
    "white 3", "white 9", "white 17", "white 33", "black 3", "black 9", "black 17", "black 33",
    "bright ridge 1", "bright ridge 2", "bright ridge 4", "dark ridge 1", "dark ridge 2",
    "dark ridge 4", "noise", "texture", "colour distance 5", "colour distance 31",
    "lightness shift", "chroma shift", "chroma", "luma",
)
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_EPS = 1e-3


def half_probability(rgb: np.ndarray) -> np.ndarray:
    """The U-Net's probability on ``rgb`` at half its size (no flip averaging), back at full
    size: on the half-size scan a 6-px crease is 3 px wide, the width the net knows best.

    >>> half_probability(np.full((64, 96, 3), 0.5, np.float32)).shape
    (64, 96)
    """
    from photomend.restoration.detect import scaled
    from photomend.restoration.detect_classical import classical_score
    from photomend.restoration.detect_learned import learned_probability

    h, w = rgb.shape[:2]
    half = scaled(rgb, 0.5)
    p = learned_probability(half, classical=classical_score(half), tta=False)
    return cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def _log(x: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(x, 0.0) + _EPS)


def _down(x: np.ndarray, f: int) -> np.ndarray:
    h, w = x.shape[:2]
    return cv2.resize(x, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)


def _up(x: np.ndarray, h: int, w: int) -> np.ndarray:
    return cv2.resize(x, (w, h), interpolation=cv2.INTER_LINEAR)


def _hats(y: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return (cv2.morphologyEx(y, cv2.MORPH_TOPHAT, se, borderType=cv2.BORDER_REFLECT),
            cv2.morphologyEx(y, cv2.MORPH_BLACKHAT, se, borderType=cv2.BORDER_REFLECT))


def _ridges(y: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(bright, dark) ridge strength: sigma^2 times the Hessian eigenvalue across the ridge."""
    g = cv2.GaussianBlur(y, (0, 0), sigma)
    dxx = cv2.Sobel(g, cv2.CV_32F, 2, 0, ksize=3)
    dyy = cv2.Sobel(g, cv2.CV_32F, 0, 2, ksize=3)
    dxy = cv2.Sobel(g, cv2.CV_32F, 1, 1, ksize=3)
    half_tr = 0.5 * (dxx + dyy)
    root = np.sqrt((0.5 * (dxx - dyy)) ** 2 + dxy ** 2)
    s2 = sigma * sigma
    return s2 * np.maximum(root - half_tr, 0), s2 * np.maximum(half_tr + root, 0)


def features(rgb: np.ndarray, chain: np.ndarray, prob: np.ndarray, prob_half: np.ndarray,
             classical: np.ndarray) -> np.ndarray:
    """FxHxW float32 features (:data:`FEATURE_NAMES`) of ``rgb`` (float32 HxWx3 in [0, 1], at
    the detection size) and the chain's maps of the same size.

    >>> z = np.zeros((64, 64), np.float32)
    >>> features(np.full((64, 64, 3), 0.5, np.float32), z, z, z, z).shape
    (28, 64, 64)
    """
    rgb = np.ascontiguousarray(rgb, np.float32)
    h, w = rgb.shape[:2]
    y = np.ascontiguousarray(rgb @ _LUMA)
    out = [_logit(chain), _logit(prob), _logit(prob_half), _logit(np.minimum(classical, 1.0)),
           _logit(cv2.GaussianBlur(chain, (0, 0), 3)), _logit(cv2.GaussianBlur(prob, (0, 0), 3))]
    y2, y4 = _down(y, 2), _down(y, 4)
    hats = [_hats(y, 3), _hats(y, 9), tuple(_up(t, h, w) for t in _hats(y2, 9)),
            tuple(_up(t, h, w) for t in _hats(y4, 9))]
    out += [_log(t[0]) for t in hats] + [_log(t[1]) for t in hats]
    ridges = [_ridges(y, 1.0), _ridges(y, 2.0), tuple(_up(r, h, w) for r in _ridges(y2, 2.0))]
    out += [_log(r[0]) for r in ridges] + [_log(r[1]) for r in ridges]
    u8 = np.round(np.clip(y, 0, 1) * 255).astype(np.uint8)
    dev = np.abs(y - cv2.medianBlur(u8, 3).astype(np.float32) / 255)
    out.append(_log(cv2.GaussianBlur(dev, (0, 0), 8)))  # local noise (mean absolute deviation)
    out.append(_log(np.sqrt(np.maximum(cv2.GaussianBlur(y * y, (0, 0), 4)
                                       - cv2.GaussianBlur(y, (0, 0), 4) ** 2, 0))))
    c8 = np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    med5 = cv2.medianBlur(c8, 5).astype(np.float32) / 255
    med31 = _up(cv2.medianBlur(_down(c8, 2), 15).astype(np.float32) / 255, h, w)
    out.append(_log(np.linalg.norm(rgb - med5, axis=2)))
    out.append(_log(np.linalg.norm(rgb - med31, axis=2)))
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)  # L 0-100, a/b about -128..127
    bg = _up(cv2.GaussianBlur(_down(lab, 4), (0, 0), 6), h, w)
    out.append((lab[..., 0] - bg[..., 0]) / 20)
    out.append(_log(np.hypot(lab[..., 1] - bg[..., 1], lab[..., 2] - bg[..., 2]) / 20))
    out.append(_log(np.hypot(lab[..., 1], lab[..., 2]) / 50))
    out.append(y)
    return np.stack(out).astype(np.float32, copy=False)


def load_model(path: str | Path) -> dict[str, np.ndarray]:
    """The classifier's arrays (a ``train_stacked.py`` fit): ``mean``, ``scale``, the layers
    ``w0, b0, w1, b1, ...``, the ``threshold`` and the ``features`` it reads."""
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def probability(X: np.ndarray, model: dict[str, np.ndarray]) -> np.ndarray:
    """Defect probability of each column of ``X`` (F x N): standardised, then the layers
    ``w0, b0, w1, b1, ...`` (``w`` F_in x F_out) with ReLU between them and a sigmoid at the
    end.

    >>> m = {"mean": np.zeros(2), "scale": np.ones(2), "w0": np.array([[1.0], [-1.0]]),
    ...      "b0": np.zeros(1)}
    >>> probability(np.array([[2.0, 0.0], [2.0, 30.0]], np.float32), m).round(3).tolist()
    [0.5, 0.0]
    """
    n_layers = sum(1 for k in model if k[0] == "w" and k[1:].isdigit())
    z = (X - model["mean"].astype(np.float32)[:, None]) * (
        1.0 / model["scale"].astype(np.float32))[:, None]
    for i in range(n_layers):
        z = model[f"w{i}"].astype(np.float32).T @ z
        z += model[f"b{i}"].astype(np.float32)[:, None]
        if i < n_layers - 1:
            np.maximum(z, 0, out=z)
    return (1.0 / (1.0 + np.exp(-np.clip(z[0], -30, 30)))).astype(np.float32)


def stacked_score(rgb: np.ndarray, chain: np.ndarray, prob: np.ndarray, classical: np.ndarray,
                  model: dict[str, np.ndarray]) -> np.ndarray:
    """The stacked classifier's defect probability (float32 HxW) for ``rgb`` at the detection
    size and the chain's maps of it (:func:`photomend.restoration.detect.chain_maps`)."""
    X = features(rgb, chain, prob, half_probability(rgb), classical)
    if "features" in model:  # a fit on some of the features
        X = X[[FEATURE_NAMES.index(str(n)) for n in model["features"]]]
    f, h, w = X.shape
    return probability(X.reshape(f, h * w), model).reshape(h, w)
