"""MediaPipe's face mesh (``face_landmark``, 468 points) on a crop around a detected face.

MediaPipe's ``face_landmark_front_cpu`` graph turns a detection into the model's crop like this
(``FaceDetectionFrontDetectionToRoi``): a square centred on the detection's box, rotated so that
the line from the right eye keypoint to the left one is horizontal, with side 1.5x the box's
long side; the crop (192x192, values in [0, 1]) gives 468 (x, y, z) points in crop pixels and a
face-presence logit. :func:`roi` builds that square, :func:`face_mesh` runs the model and maps
the points back onto the photo.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import numpy as np

WEIGHTS = "face_landmark.onnx"
INPUT_SIZE = 192
ROI_SCALE = 1.5
#: Mesh indices: the contour (16 points, corners included) of the subject's right and left
#: eye, nose tip, mouth corners (subject's right, left).
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
NOSE_TIP = 1
MOUTH = (61, 291)


def weights_path() -> Path:
    return Path(str(files("photomend") / "data" / "weights" / WEIGHTS))


def roi(box, keypoints: np.ndarray, scale: float = ROI_SCALE) -> np.ndarray:
    """2x3 affine map from photo pixels to the 192x192 crop of ``box`` (x0, y0, x1, y1),
    rotated by the eye line of ``keypoints`` (6x2, MediaPipe's order).

    >>> m = roi((0, 0, 100, 100), np.array([[30, 40], [70, 40]] + [[50, 50]] * 4, float))
    >>> (m @ [50, 50, 1]).round(3).tolist()  # the box's centre is the crop's centre
    [96.0, 96.0]
    """
    x0, y0, x1, y1 = box
    (rx, ry), (lx, ly) = keypoints[0], keypoints[1]
    angle = np.arctan2(ly - ry, lx - rx)  # the eye line's slope in the photo
    side = max(x1 - x0, y1 - y0) * scale
    s = INPUT_SIZE / max(side, 1e-6)
    c, si = np.cos(-angle) * s, np.sin(-angle) * s
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    m = np.array([[c, -si, 0.0], [si, c, 0.0]])
    m[:, 2] = np.array([INPUT_SIZE / 2, INPUT_SIZE / 2]) - m[:, :2] @ [cx, cy]
    return m


def aligned_roi(mesh: np.ndarray, matrix: np.ndarray, scale: float = ROI_SCALE) -> np.ndarray:
    """2x3 map from photo pixels to the model's crop of a face already meshed and aligned:
    MediaPipe's tracking ROI (the square around the previous mesh's bounding box, sides x1.5,
    ``FaceLandmarksToRoi``) taken in the aligned frame of ``matrix`` (photo -> FFHQ crop), so
    the model sees the face upright as the alignment made it.

    >>> mesh = np.array([[10.0, 10.0], [30.0, 50.0]])
    >>> m = aligned_roi(mesh, np.array([[2.0, 0, 0], [0, 2.0, 0]]))
    >>> (m @ [20, 30, 1]).round(3).tolist()  # the mesh box's centre is the crop's centre
    [96.0, 96.0]
    """
    p = mesh @ matrix[:, :2].T + matrix[:, 2]
    (x0, y0), (x1, y1) = p.min(0), p.max(0)
    s = INPUT_SIZE / max(max(x1 - x0, y1 - y0) * scale, 1e-6)
    to_crop = np.array([[s, 0.0, INPUT_SIZE / 2 - s * (x0 + x1) / 2],
                        [0.0, s, INPUT_SIZE / 2 - s * (y0 + y1) / 2]])
    return to_crop[:, :2] @ matrix + np.hstack([np.zeros((2, 2)), to_crop[:, 2:]])


def face_mesh(rgb: np.ndarray, box, keypoints: np.ndarray, *,
              model: str | Path | None = None) -> tuple[np.ndarray, float]:
    """The 468 mesh points (468x2, photo pixels) and the model's face score (0-1) for one
    detection on ``rgb`` (float32 HxWx3 in [0, 1]). Crops reaching past the photo's border
    are padded with black."""
    return face_mesh_at(rgb, roi(box, keypoints), model=model)


def face_mesh_at(rgb: np.ndarray, m: np.ndarray, *,
                 model: str | Path | None = None) -> tuple[np.ndarray, float]:
    """:func:`face_mesh` on the crop that ``m`` (2x3, photo -> 192 px crop) cuts."""
    import cv2

    from photomend.nn import onnx as nn_onnx

    crop = cv2.warpAffine(np.asarray(rgb, np.float32), m, (INPUT_SIZE, INPUT_SIZE),
                          flags=cv2.INTER_AREA if abs(np.linalg.det(m[:, :2])) < 1
                          else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    sess = nn_onnx.session(model or weights_path())
    outs = sess.run(None, {sess.get_inputs()[0].name: np.ascontiguousarray(crop[None])})
    pts = next(o for o in outs if o.size == 468 * 3).reshape(468, 3)[:, :2].astype(np.float64)
    flag = float(next(o for o in outs if o.size == 1).reshape(()))
    inv = cv2.invertAffineTransform(m)
    back = pts @ inv[:, :2].T + inv[:, 2]
    score = float(1.0 / (1.0 + np.exp(-np.clip(flag, -50, 50))))
    return back, score


def five_points(mesh: np.ndarray) -> np.ndarray:
    """5x2: eye centres (mean of each eye's contour; image-left eye first), nose tip, mouth
    corners (image-left first), for a frontal face; the order of :data:`align.FFHQ_5`."""
    right = mesh[list(RIGHT_EYE)].mean(0)
    left = mesh[list(LEFT_EYE)].mean(0)
    return np.stack([right, left, mesh[NOSE_TIP], mesh[MOUTH[0]], mesh[MOUTH[1]]])
