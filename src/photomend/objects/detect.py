"""NanoDet-m 416 (COCO, 80 classes): boxes and scores from ``data/weights/nanodet.onnx``.

The network predicts, at each cell of three grids (strides 8, 16 and 32 px on its 416x416
input), a score per class and, per side of the box (left, top, right, bottom), a distribution
over ``REG_BINS`` distances 0..10 (in units of the stride): the distance is the expectation of
that distribution (softmax over the bins, times the bin index, times the stride), measured from
the cell's centre. :func:`decode` does exactly that; the argmax of the bins that some ports use
instead rounds every side to a whole stride.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np

#: File name of the shipped weights under ``photomend/data/weights/``.
WEIGHTS = "nanodet.onnx"
#: Side of the square network input, and the strides of its three output grids.
INPUT_SIZE = 416
STRIDES = (8, 16, 32)
#: Bins of each side's distance distribution (distances 0..REG_BINS-1 strides).
REG_BINS = 11
#: Scores below this never leave :func:`detect`; overlapping boxes of one class above
#: NMS_IOU are merged into the best one.
FLOOR_SCORE, NMS_IOU = 0.05, 0.5
#: NanoDet's input normalisation (its training pipeline's, on 0-255 BGR).
_MEAN_BGR = np.array([103.53, 116.28, 123.675], np.float32)
_STD_BGR = np.array([57.375, 57.12, 58.395], np.float32)


@dataclass(frozen=True)
class Detection:
    """One box: ``box`` = (x0, y0, x1, y1) in pixels of the photo, ``class_id`` into COCO."""

    class_id: int
    score: float
    box: tuple[float, float, float, float]


@functools.cache
def weights_path() -> Path:
    """Path of the shipped NanoDet model."""
    return Path(str(files("photomend") / "data" / "weights" / WEIGHTS))


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """The network's input: the photo resized to 416x416 (no padding: the boxes are scaled
    back per axis), BGR, normalised with NanoDet's training mean and std, NCHW float32."""
    import cv2

    small = cv2.resize(np.asarray(rgb, np.float32), (INPUT_SIZE, INPUT_SIZE),
                       interpolation=cv2.INTER_AREA)
    bgr = (np.clip(small[:, :, ::-1], 0, 1) * 255.0 - _MEAN_BGR) / _STD_BGR
    return np.ascontiguousarray(bgr.transpose(2, 0, 1)[None], np.float32)


def decode(scores: dict[int, np.ndarray], regs: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (Nx4, x0 y0 x1 y1 on the 416 input) and scores (Nx80) of every grid cell.

    ``scores[s]`` is (cells, 80) and ``regs[s]`` (cells, 4 * REG_BINS) for stride ``s``, cells in
    row-major order.

    >>> s = {8: np.zeros((52 * 52, 80), np.float32)}
    >>> r = np.full((52 * 52, 44), -30.0, np.float32); r[:, 2] = r[:, 13] = r[:, 24] = r[:, 35] = 30
    >>> boxes, _ = decode(s, {8: r})
    >>> boxes[0].tolist()  # cell (0, 0), centre (4, 4), each side 2 bins x 8 px away
    [-12.0, -12.0, 20.0, 20.0]
    """
    all_boxes, all_scores = [], []
    bins = np.arange(REG_BINS, dtype=np.float32)
    for stride, sc in scores.items():
        n = INPUT_SIZE // stride
        reg = regs[stride].reshape(-1, 4, REG_BINS)
        reg = reg - reg.max(axis=2, keepdims=True)
        prob = np.exp(reg)
        prob /= prob.sum(axis=2, keepdims=True)
        dist = (prob @ bins) * stride  # (cells, 4): left, top, right, bottom
        ys, xs = np.divmod(np.arange(n * n), n)
        cx = (xs + 0.5) * stride
        cy = (ys + 0.5) * stride
        boxes = np.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2], cy + dist[:, 3]], 1)
        all_boxes.append(boxes.astype(np.float32))
        all_scores.append(sc)
    return np.concatenate(all_boxes), np.concatenate(all_scores)


def _outputs_by_stride(names: list[str], outs: list[np.ndarray]):
    scores, regs = {}, {}
    for out in outs:
        out = out.reshape(out.shape[-2], out.shape[-1])
        stride = INPUT_SIZE // int(round(np.sqrt(out.shape[0])))
        (scores if out.shape[1] == 80 else regs)[stride] = out
    return scores, regs


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU) -> list[int]:
    """Indices kept by greedy non-maximum suppression, best first."""
    order = np.argsort(-scores)
    keep: list[int] = []
    area = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    while order.size:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        xx0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx1 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = (xx1 - xx0).clip(0) * (yy1 - yy0).clip(0)
        overlap = inter / np.maximum(area[i] + area[rest] - inter, 1e-6)
        order = rest[overlap <= iou]
    return keep


def detect(rgb: np.ndarray, class_ids: list[int] | None = None, *,
           min_score: float = FLOOR_SCORE, model: str | Path | None = None) -> list[Detection]:
    """NanoDet's boxes on ``rgb`` (float32 HxWx3 in [0, 1]) for ``class_ids`` (all when None),
    best first, in the photo's pixels, after per-class NMS."""
    from photomend.nn import onnx as nn_onnx

    h, w = rgb.shape[:2]
    sess = nn_onnx.session(model or weights_path())
    name = sess.get_inputs()[0].name
    outs = sess.run(None, {name: preprocess(rgb)})
    scores, regs = _outputs_by_stride([o.name for o in sess.get_outputs()], outs)
    boxes, cls_scores = decode(scores, regs)
    boxes = boxes * np.array([w, h, w, h], np.float32) / INPUT_SIZE
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    found: list[Detection] = []
    for c in class_ids if class_ids is not None else range(cls_scores.shape[1]):
        sc = cls_scores[:, c]
        idx = np.flatnonzero(sc >= min_score)
        if idx.size == 0:
            continue
        for k in nms(boxes[idx], sc[idx]):
            i = idx[k]
            found.append(Detection(int(c), float(sc[i]), tuple(float(v) for v in boxes[i])))
    found.sort(key=lambda d: -d.score)
    return found
