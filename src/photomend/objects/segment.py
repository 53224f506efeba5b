"""Person masks: MediaPipe's pose landmark model (BlazePose GHUM full,
``data/weights/pose_landmark_full.onnx``) run on a square crop around each detected person.

Besides the 33 landmarks the model gives a segmentation logit map of its 256x256 input and a
pose-presence score; :func:`segment_person` returns both, the map warped back onto the photo.
MediaPipe feeds the model a crop in which the body fills about 80 % of the side
(``ROI_MARGIN``); a detector's box around a person is turned into such a crop here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np

#: File name of the shipped weights under ``photomend/data/weights/``.
WEIGHTS = "pose_landmark_full.onnx"
#: Side of the model's square input.
INPUT_SIZE = 256
#: Side of the crop = this x the long side of the person's box.
ROI_MARGIN = 1.25
#: Logits are clipped to +-LOGIT_CLIP before the sigmoid (the map's far background reaches
#: logits that overflow float32's exp).
LOGIT_CLIP = 20.0


@dataclass(frozen=True)
class PersonMask:
    """``prob``: float32 probability of "person" on the crop's window of the photo
    (``window`` = (x0, y0, x1, y1), integer pixels, clipped to the photo); ``presence``: the
    model's confidence that the crop holds a person, 0-1."""

    prob: np.ndarray
    window: tuple[int, int, int, int]
    presence: float


@functools.cache
def weights_path() -> Path:
    """Path of the shipped pose landmark model."""
    return Path(str(files("photomend") / "data" / "weights" / WEIGHTS))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -LOGIT_CLIP, LOGIT_CLIP)))


def crop_transform(box: tuple[float, float, float, float], margin: float = ROI_MARGIN
                   ) -> np.ndarray:
    """2x3 affine map from photo pixels to the model's 256x256 input: a square of side
    ``margin`` x the box's long side, centred on the box.

    >>> m = crop_transform((100, 0, 140, 200))
    >>> (m @ [120, 100, 1]).round(3).tolist()  # the box's centre goes to the input's centre
    [128.0, 128.0]
    """
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0, 1.0) * margin
    scale = INPUT_SIZE / side
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return np.array([[scale, 0, INPUT_SIZE / 2 - scale * cx],
                     [0, scale, INPUT_SIZE / 2 - scale * cy]], np.float64)


def _outputs(sess, x: np.ndarray) -> tuple[np.ndarray, float]:
    name = sess.get_inputs()[0].name
    outs = sess.run(None, {name: x})
    seg, flag = None, 1.0
    for out in outs:
        if out.ndim == 4 and out.shape[1] == out.shape[2] and out.shape[-1] == 1:
            seg = out[0, :, :, 0]
        elif out.size == 1:
            flag = float(out.reshape(()))
    if seg is None:
        raise RuntimeError("the pose model has no segmentation output")
    return seg, flag


def segment_person(rgb: np.ndarray, box: tuple[float, float, float, float], *,
                   model: str | Path | None = None) -> PersonMask:
    """The person probability around ``box`` in ``rgb`` (float32 HxWx3 in [0, 1])."""
    import cv2

    from photomend.nn import onnx as nn_onnx

    h, w = rgb.shape[:2]
    m = crop_transform(box)
    crop = cv2.warpAffine(np.asarray(rgb, np.float32), m, (INPUT_SIZE, INPUT_SIZE),
                          flags=cv2.INTER_AREA if m[0, 0] < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    sess = nn_onnx.session(model or weights_path())
    logits, flag = _outputs(sess, np.ascontiguousarray(np.clip(crop, 0, 1)[None]))
    if logits.shape[0] != INPUT_SIZE:
        logits = cv2.resize(logits, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
    presence = float(_sigmoid(np.float32(flag))) if not 0.0 <= flag <= 1.0 else flag
    # the crop's window on the photo
    inv = cv2.invertAffineTransform(m)
    corners = inv @ np.array([[0, 0, 1], [INPUT_SIZE, INPUT_SIZE, 1]], np.float64).T
    x0, y0 = (max(0, int(np.floor(v))) for v in corners[:, 0])
    x1, y1 = min(w, int(np.ceil(corners[0, 1]))), min(h, int(np.ceil(corners[1, 1])))
    if x1 <= x0 or y1 <= y0:
        return PersonMask(np.zeros((0, 0), np.float32), (0, 0, 0, 0), presence)
    shift = m.copy()
    shift[:, 2] += m[:, :2] @ [x0, y0]  # window pixel (0, 0) is photo pixel (x0, y0)
    prob = _sigmoid(logits.astype(np.float32))
    back = cv2.warpAffine(prob, shift, (x1 - x0, y1 - y0),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return PersonMask(back.astype(np.float32), (x0, y0, x1, y1), presence)
