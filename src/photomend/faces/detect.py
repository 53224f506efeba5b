"""MediaPipe face detection (BlazeFace short range, and the full-range sparse model) in ONNX.

Both networks score a fixed set of SSD anchors on a square input (the photo letterboxed into it,
centred, zero border, values in [-1, 1]) and regress, per anchor, a box (centre offset, width,
height) and six keypoints (right eye, left eye, nose tip, mouth centre, right ear, left ear; the
*subject's* right, i.e. the one on the image's left for a frontal face), in input pixels
relative to the anchor's centre. :func:`anchors` rebuilds MediaPipe's ``SsdAnchorsCalculator``
grid, :func:`decode` its ``TensorsToDetectionsCalculator`` and :func:`weighted_nms` its
weighted non-maximum suppression (overlapping boxes are averaged, weighted by score, rather than
dropped). The options are those of MediaPipe's ``face_detection_short_range.pbtxt`` and
``face_detection_full_range.pbtxt`` (0.10.14).

Small faces in a large photo shrink below what a 128 or 192 px input can see; :func:`detect`
therefore also runs the full-range model on overlapping square tiles when the photo is large.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class DetectorSpec:
    """One MediaPipe face detector: its file, input side, anchor layout and score floor."""

    weights: str
    size: int
    strides: tuple[int, ...]
    anchors_per_cell_extra: bool  # interpolated_scale_aspect_ratio = 1.0 adds an anchor
    min_score: float


SHORT_RANGE = DetectorSpec("face_detection_short_range.onnx", 128, (8, 16, 16, 16), True, 0.5)
FULL_RANGE = DetectorSpec("face_detection_full_range_sparse.onnx", 192, (4,), False, 0.6)
DETECTORS = {"short": SHORT_RANGE, "full": FULL_RANGE}
#: MediaPipe's NMS overlap (IoU) and the raw-score clipping before the sigmoid.
NMS_IOU, SCORE_CLIP = 0.3, 100.0
#: Keypoint names, in the model's order.
KEYPOINTS = ("right_eye", "left_eye", "nose", "mouth", "right_ear", "left_ear")


@dataclass(frozen=True)
class RawFace:
    """A detection in photo pixels: ``box`` (x0, y0, x1, y1), ``keypoints`` 6x2 (x, y)."""

    score: float
    box: tuple[float, float, float, float]
    keypoints: np.ndarray


def weights_path(spec: DetectorSpec) -> Path:
    return Path(str(files("photomend") / "data" / "weights" / spec.weights))


def anchors(spec: DetectorSpec) -> np.ndarray:
    """(N, 2) anchor centres, normalised to [0, 1], in the model's output order.

    Consecutive layers with the same stride share one grid (MediaPipe groups them), each layer
    adding one anchor per aspect ratio (here only 1.0) and, when ``interpolated_scale_aspect_ratio``
    is 1.0, one more; all anchors have size 1 (``fixed_anchor_size``).

    >>> anchors(SHORT_RANGE).shape, anchors(FULL_RANGE).shape
    ((896, 2), (2304, 2))
    >>> anchors(SHORT_RANGE)[:3].tolist()  # two anchors at cell (0, 0), then cell (1, 0)
    [[0.03125, 0.03125], [0.03125, 0.03125], [0.09375, 0.03125]]
    """
    out = []
    strides = list(spec.strides)
    i = 0
    while i < len(strides):
        j = i
        per_cell = 0
        while j < len(strides) and strides[j] == strides[i]:
            per_cell += 2 if spec.anchors_per_cell_extra else 1
            j += 1
        n = int(np.ceil(spec.size / strides[i]))
        ys, xs = np.divmod(np.arange(n * n), n)
        centres = np.stack([(xs + 0.5) / n, (ys + 0.5) / n], 1)
        out.append(np.repeat(centres, per_cell, axis=0))
        i = j
    return np.concatenate(out).astype(np.float32)


def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray, spec: DetectorSpec
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (N, 4: x0 y0 x1 y1), keypoints (N, 6, 2) normalised to the square input, and
    sigmoid scores (N,), for every anchor.

    >>> raw = np.zeros((896, 16), np.float32); raw[0, 2:4] = 64  # a box half the input wide
    >>> b, k, s = decode(raw, np.zeros(896, np.float32), SHORT_RANGE)
    >>> b[0].tolist(), float(s[0])
    ([-0.21875, -0.21875, 0.28125, 0.28125], 0.5)
    """
    a = anchors(spec)
    raw = raw_boxes.reshape(-1, raw_boxes.shape[-1]).astype(np.float32) / spec.size
    cx, cy = raw[:, 0] + a[:, 0], raw[:, 1] + a[:, 1]
    w, h = raw[:, 2], raw[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
    kps = raw[:, 4:16].reshape(-1, 6, 2) + a[:, None, :]
    s = np.clip(raw_scores.reshape(-1).astype(np.float64), -SCORE_CLIP, SCORE_CLIP)
    return boxes, kps, (1.0 / (1.0 + np.exp(-s))).astype(np.float32)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    xx0 = np.maximum(box[0], boxes[:, 0])
    yy0 = np.maximum(box[1], boxes[:, 1])
    xx1 = np.minimum(box[2], boxes[:, 2])
    yy1 = np.minimum(box[3], boxes[:, 3])
    inter = (xx1 - xx0).clip(0) * (yy1 - yy0).clip(0)
    area = lambda b: (b[..., 2] - b[..., 0]).clip(0) * (b[..., 3] - b[..., 1]).clip(0)  # noqa: E731
    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-9)


def weighted_nms(boxes: np.ndarray, kps: np.ndarray, scores: np.ndarray,
                 iou: float = NMS_IOU) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """MediaPipe's weighted NMS: the best remaining detection takes every other one that
    overlaps it by more than ``iou``; its box and keypoints become their score-weighted mean,
    its score stays its own. Returns (score, box, keypoints), best first.

    >>> b = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [50, 50, 60, 60]], np.float32)
    >>> out = weighted_nms(b, np.zeros((3, 6, 2), np.float32), np.array([0.9, 0.9, 0.8]))
    >>> [(s, bx.tolist()) for s, bx, _ in out]
    [(0.9, [1.0, 0.0, 11.0, 10.0]), (0.8, [50.0, 50.0, 60.0, 60.0])]
    """
    order = np.argsort(-scores, kind="stable")
    out = []
    while order.size:
        top = order[0]
        overlap = _iou(boxes[top], boxes[order])
        take = order[overlap > iou]
        take = take if take.size else order[:1]
        wts = scores[take][:, None]
        box = (boxes[take] * wts).sum(0) / wts.sum()
        kp = (kps[take] * wts[:, :, None]).sum(0) / wts.sum()
        out.append((float(scores[top]), box, kp))
        order = order[overlap <= iou]
    return out


def letterbox(rgb: np.ndarray, size: int) -> tuple[np.ndarray, float, float, float]:
    """The model's input (1, size, size, 3) in [-1, 1] and the map back: photo = (input -
    (px, py)) / scale, in input pixels."""
    import cv2

    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(np.asarray(rgb, np.float32), (nw, nh),
                       interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    canvas = np.full((size, size, 3), -1.0, np.float32)  # zero border in [0, 255] = -1 here
    px, py = (size - nw) // 2, (size - nh) // 2
    canvas[py:py + nh, px:px + nw] = small * 2.0 - 1.0
    return canvas[None], scale, float(px), float(py)


def _run(sess, x: np.ndarray, spec: DetectorSpec) -> tuple[np.ndarray, np.ndarray]:
    outs = sess.run(None, {sess.get_inputs()[0].name: x})
    boxes = next(o for o in outs if o.shape[-1] == 16)
    scores = next(o for o in outs if o.shape[-1] == 1)
    return boxes[0], scores[0]


def detect_window(rgb: np.ndarray, spec: DetectorSpec, *, min_score: float | None = None,
                  model: str | Path | None = None) -> list[RawFace]:
    """Faces found by one model on the whole of ``rgb`` (float32 HxWx3 in [0, 1]), photo
    pixels, before NMS across windows (the model's own NMS is applied)."""
    from photomend.nn import onnx as nn_onnx

    sess = nn_onnx.session(model or weights_path(spec))
    x, scale, px, py = letterbox(rgb, spec.size)
    raw_boxes, raw_scores = _run(sess, x, spec)
    boxes, kps, scores = decode(raw_boxes, raw_scores, spec)
    floor = spec.min_score if min_score is None else min_score
    keep = scores >= floor
    found = []
    for score, box, kp in weighted_nms(boxes[keep], kps[keep], scores[keep]):
        box = (box * spec.size - [px, py, px, py]) / scale
        kp = (kp * spec.size - [px, py]) / scale
        found.append(RawFace(score, tuple(float(v) for v in box), kp.astype(np.float64)))
    return found


def tile_windows(h: int, w: int, tile: int) -> list[tuple[int, int, int, int]]:
    """Square windows of side ``tile`` overlapping by half, covering an h x w photo.

    >>> tile_windows(100, 250, 100)
    [(0, 0, 100, 100), (50, 0, 150, 100), (100, 0, 200, 100), (150, 0, 250, 100)]
    """
    def starts(n: int) -> list[int]:
        if n <= tile:
            return [0]
        step = tile // 2
        s = list(range(0, n - tile, step)) + [n - tile]
        return sorted(set(s))

    return [(x, y, min(x + tile, w), min(y + tile, h)) for y in starts(h) for x in starts(w)]
