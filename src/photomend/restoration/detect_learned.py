"""The learned defect detector: a small U-Net (``data/weights/defects_unet.onnx``) run with
ONNX Runtime, in tiles, with horizontal-flip test-time augmentation.

The network and its training are in ``training/train_defects.py``; the decision threshold it
was calibrated with is stored in the ONNX metadata (:func:`default_threshold`).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import numpy as np

from photomend.engines import ProgressFn
from photomend.nn import onnx as nn_onnx

#: File name of the shipped weights under ``photomend/data/weights/``.
WEIGHTS = "defects_unet.onnx"
#: The network needs heights and widths that are multiples of this.
MULTIPLE = 8
#: Tile size and context (px) for inference; only each tile's core is kept.
TILE, TILE_PAD = 512, 64  # the U-Net sees about 80-100 px each side; 64 px covers most of it
#: Diameter (px) of the top-hat structuring element of the two feature channels.
TOPHAT_SIZE = 11
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def features(rgb: np.ndarray, classical: np.ndarray | None = None) -> np.ndarray:
    """The network's input, HxWx5 float32: R, G, B and the white and black morphological
    top-hats of the luma (x4, clipped to 1), which point at thin bright and dark structures;
    the network learns which of them are defects. With ``classical`` (the classical
    detector's score map, :func:`photomend.restoration.detect_classical.classical_score`) a
    sixth channel: its line and speck evidence, strong on faint scratches and hairlines.

    >>> features(np.zeros((16, 16, 3), np.float32)).shape
    (16, 16, 5)
    """
    import cv2

    rgb = np.asarray(rgb, np.float32)
    y = np.ascontiguousarray(rgb @ _LUMA)
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (TOPHAT_SIZE, TOPHAT_SIZE))
    white = cv2.morphologyEx(y, cv2.MORPH_TOPHAT, se, borderType=cv2.BORDER_REFLECT)
    black = cv2.morphologyEx(y, cv2.MORPH_BLACKHAT, se, borderType=cv2.BORDER_REFLECT)
    hats = np.clip(np.stack([white, black], axis=2) * 4.0, 0.0, 1.0)
    parts = [rgb, hats]
    if classical is not None:
        parts.append(np.asarray(classical, np.float32)[:, :, None])
    return np.concatenate(parts, axis=2)


def input_channels(model: str | Path | None = None) -> int:
    """Channels the model reads: 5 (:func:`features`) or 6 (with the classical score)."""
    shape = nn_onnx.session(model or weights_path()).get_inputs()[0].shape
    return int(shape[1]) if isinstance(shape[1], int) else 5


def weights_path() -> Path:
    """Path of the shipped defect U-Net."""
    return Path(str(files("photomend") / "data" / "weights" / WEIGHTS))


def default_threshold(model: str | Path | None = None) -> float:
    """The threshold stored with the model (``threshold`` in its ONNX metadata), else 0.5."""
    return nn_onnx.metadata_float(model or weights_path(), "threshold", 0.5)


def hysteresis_margin(model: str | Path | None = None) -> float:
    """How far above the threshold a detection must reach somewhere (``margin`` in the ONNX
    metadata; 0 = plain thresholding). See :func:`photomend.restoration.detect.hysteresis`."""
    return nn_onnx.metadata_float(model or weights_path(), "margin", 0.0)


def classical_support(model: str | Path | None = None) -> float | None:
    """The network probability above which a classical detection is kept (``support`` in the
    ONNX metadata; None: no fusion). See :func:`photomend.restoration.detect.fuse`."""
    return nn_onnx.metadata_float(model or weights_path(), "support", None)


def learned_probability(
    rgb: np.ndarray,
    *,
    model: str | Path | None = None,
    tile: int = TILE,
    tile_pad: int = TILE_PAD,
    tta: bool = True,
    classical: np.ndarray | None = None,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """Defect probability per pixel (float32 HxW in [0, 1]) of ``rgb`` (float32 HxWx3).

    The input channels (:func:`features`) are computed on the whole image first; a model
    with six input channels also reads the classical score (``classical``, computed here
    when not given).

    The image is cut into ``tile`` x ``tile`` pieces read with ``tile_pad`` pixels of context
    on each side (reflected at the border); each piece and its mirror image run one after the
    other, and the two probability maps are averaged (``tta=False``: the piece alone).
    """
    sess = nn_onnx.session(model or weights_path())
    if input_channels(model) == 6:
        if classical is None:
            from photomend.restoration.detect_classical import classical_score

            classical = classical_score(rgb)
        rgb = features(rgb, classical)
    else:
        rgb = features(rgb)
    h, w = rgb.shape[:2]
    tile = max(MULTIPLE, tile // MULTIPLE * MULTIPLE)
    pad = -(-tile_pad // MULTIPLE) * MULTIPLE
    out = np.zeros((h, w), np.float32)
    ys, xs = range(0, h, tile), range(0, w, tile)
    total, done = len(ys) * len(xs), 0
    for y0 in ys:
        for x0 in xs:
            y1, x1 = min(h, y0 + tile), min(w, x0 + tile)
            # context window, reflected beyond the image, padded to a multiple of 8
            cy0, cx0 = y0 - pad, x0 - pad
            ch = -(-(y1 - y0 + 2 * pad) // MULTIPLE) * MULTIPLE
            cw = -(-(x1 - x0 + 2 * pad) // MULTIPLE) * MULTIPLE
            yy = _reflect(np.arange(cy0, cy0 + ch), h)
            xx = _reflect(np.arange(cx0, cx0 + cw), w)
            piece = rgb[yy][:, xx].transpose(2, 0, 1)[None]
            # (the piece and its mirror as two runs, not one batch of two: as fast, and the
            # network's activations take half the memory: 0.3 GB less at the peak of a 12 MP
            # restore, each page of which a fresh process would fault in)
            views = (piece, piece[:, :, :, ::-1]) if tta else (piece,)
            last = done + 1 == total
            prob = 0.0
            for k, view in enumerate(views):
                logits = nn_onnx.run(sess, view, release=last and k + 1 == len(views))[0, 0]
                p = 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))
                prob = prob + (p[:, ::-1] if k else p) / len(views)
            out[y0:y1, x0:x1] = prob[pad:pad + y1 - y0, pad:pad + x1 - x0]
            done += 1
            if progress is not None:
                progress("detect", done, total)
    return out


def _reflect(idx: np.ndarray, n: int) -> np.ndarray:
    """Indices reflected into [0, n) (mirror without repeating the edge), for any overshoot."""
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    idx = np.mod(idx, period)
    return np.where(idx >= n, period - idx, idx)
