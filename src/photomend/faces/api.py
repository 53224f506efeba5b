"""Find faces in a photo and align them to the FFHQ template.

:func:`find_faces` runs MediaPipe's two face detectors (short range on the whole photo, full
range on the whole photo and, for large photos, on overlapping tiles so that small faces stay
visible), merges their answers, refines each face with the 468-point face mesh and returns the
similarity transform to a 512 px FFHQ crop. Only ONNX Runtime, NumPy and OpenCV are used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from photomend.errors import InputError
from photomend.faces import align, detect, landmarks

#: Faces whose box is narrower than this (px) are skipped and counted: too small to restore.
DEFAULT_MIN_SIZE = 16
#: Side (px) of the full-range model's tiles on large photos, and when they are used.
TILE = 384
TILE_ABOVE = 1.5 * TILE
#: A face the mesh scores below this is dropped (counted in ``rejected``): MediaPipe's own
#: default face-presence threshold (FaceLandmarker's min_face_presence_confidence).
MESH_MIN_SCORE = 0.5
#: Detections of different windows/models overlapping more than this are one face.
MERGE_IOU = 0.3
#: Each face is detected again on a square crop this many times its box's side, seen by the
#: short-range model at its full 128 px: on a whole photo a 30 px face covers only a few of
#: the input's pixels and its keypoints are off by a quarter of the eye distance.
REFINE_CROP = 2.5
DETECTOR_CHOICES = ("auto", "short", "full")
#: The mesh is run again on the face as aligned (upright, in MediaPipe's tracking ROI) until
#: the eye centres move less than ALIGN_TOL x the inter-ocular distance, at most
#: ALIGN_PASSES times: the first mesh sees the face tilted and framed by the detector's box.
ALIGN_PASSES = 3
ALIGN_TOL = 0.01


@dataclass(frozen=True, eq=False)
class Face:
    """One face found in a photo (pixels of the photo as given, EXIF rotation applied).

    Attributes
    ----------
    score : detector confidence, 0-1.
    box : (x0, y0, x1, y1).
    keypoints : the detector's six points (dict name -> (x, y)), subject's right eye first.
    points : the points used for alignment: eye centres, nose tip, mouth corners (5x2, from
        the face mesh) or, with ``mesh=False``, the detector's eye centres, nose tip and mouth
        centre (4x2).
    matrix : 2x3 map from photo pixels to a 512 px FFHQ-aligned crop.
    mesh_score : the face mesh's confidence (None when the mesh was not run).
    eye_error : distance between the detector's and the mesh's eye centres, as a fraction of
        the inter-ocular distance (mean of both eyes; None without the mesh).
    """

    score: float
    box: tuple[float, float, float, float]
    keypoints: dict
    points: np.ndarray
    matrix: np.ndarray
    mesh_score: float | None = None
    eye_error: float | None = None
    mesh: np.ndarray | None = field(default=None, repr=False)

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    def matrix_for(self, size: int) -> np.ndarray:
        """The map to a ``size`` px aligned crop (instead of 512)."""
        m = self.matrix.copy()
        m *= size / 512.0
        return m

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        r = lambda v: round(float(v), 1)  # noqa: E731
        return {"score": round(self.score, 4), "box": [r(v) for v in self.box],
                "keypoints": {k: [r(x), r(y)] for k, (x, y) in self.keypoints.items()},
                "points": [[r(x), r(y)] for x, y in self.points],
                "mesh_score": None if self.mesh_score is None else round(self.mesh_score, 4),
                "eye_error": None if self.eye_error is None else round(self.eye_error, 4)}


class FaceList(list):
    """A list of :class:`Face`, best first, with ``skipped_small``: faces found but narrower
    than the minimum size, and ``rejected``: detections the face mesh did not confirm (neither
    listed)."""

    skipped_small: int = 0
    rejected: int = 0


def _as_rgb(image) -> np.ndarray:
    from photomend.io import LoadedImage, read_image

    if not isinstance(image, LoadedImage):
        image = read_image(image)
    return image.rgb


def _windows(rgb: np.ndarray, detector: str) -> list[detect.RawFace]:
    h, w = rgb.shape[:2]
    found: list[detect.RawFace] = []
    if detector in ("auto", "short"):
        found += detect.detect_window(rgb, detect.SHORT_RANGE)
    if detector in ("auto", "full"):
        found += detect.detect_window(rgb, detect.FULL_RANGE)
        if max(h, w) > TILE_ABOVE:
            for x0, y0, x1, y1 in detect.tile_windows(h, w, TILE):
                for f in detect.detect_window(rgb[y0:y1, x0:x1], detect.FULL_RANGE):
                    bx0, by0, bx1, by1 = f.box
                    # a face cut by an inner tile edge is whole in a neighbouring tile
                    cut = ((bx0 < 1 and x0 > 0) or (by0 < 1 and y0 > 0)
                           or (bx1 > x1 - x0 - 1 and x1 < w) or (by1 > y1 - y0 - 1 and y1 < h))
                    if not cut:
                        found.append(detect.RawFace(
                            f.score, (bx0 + x0, by0 + y0, bx1 + x0, by1 + y0),
                            f.keypoints + [x0, y0]))
    return found


def _merge(found: list[detect.RawFace]) -> list[detect.RawFace]:
    if not found:
        return []
    boxes = np.array([f.box for f in found], np.float64)
    kps = np.stack([f.keypoints for f in found])
    scores = np.array([f.score for f in found])
    return [detect.RawFace(s, tuple(float(v) for v in b), k)
            for s, b, k in detect.weighted_nms(boxes, kps, scores, MERGE_IOU)]


def _refine_detection(rgb: np.ndarray, raw: detect.RawFace) -> detect.RawFace:
    """``raw`` detected again on a crop around it (kept as is when the crop finds nothing)."""
    import cv2

    x0, y0, x1, y1 = raw.box
    side = max(x1 - x0, y1 - y0) * REFINE_CROP
    size = detect.SHORT_RANGE.size
    s = size / max(side, 1.0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    m = np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]])
    crop = cv2.warpAffine(np.asarray(rgb, np.float32), m, (size, size),
                          flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT_101)
    again = detect.detect_window(crop, detect.SHORT_RANGE)
    if not again:
        return raw
    best = min(again, key=lambda f: np.hypot(f.box[0] + f.box[2] - size,
                                              f.box[1] + f.box[3] - size))
    bx0, by0, bx1, by1 = best.box
    if not (bx0 < size / 2 < bx1 and by0 < size / 2 < by1):
        return raw
    back = lambda p: (np.asarray(p, np.float64) - m[:, 2]) / s  # noqa: E731
    box = tuple(float(v) for v in np.concatenate([back([bx0, by0]), back([bx1, by1])]))
    return detect.RawFace(raw.score, box, back(best.keypoints))


def find_faces(image, *, detector: str = "auto", min_score: float | None = None,
               min_size: float = DEFAULT_MIN_SIZE, mesh: bool = True) -> FaceList:
    """The faces in ``image``, best first.

    Parameters
    ----------
    image : a :class:`photomend.LoadedImage`, a path, bytes or an array (grey, RGB or RGBA;
        uint8, uint16 or float in [0, 1]).
    detector : "auto" (both MediaPipe models, tiles on large photos), "short" (BlazeFace short
        range: faces filling much of the photo) or "full" (full range only).
    min_score : detector confidence a face needs (default: the models' own, 0.5 / 0.6).
    min_size : faces narrower than this (px) are skipped and counted in ``skipped_small``.
    mesh : refine each face with the 468-point face mesh (eye centres, mouth corners) and
        drop the detections it scores below 0.5 (counted in ``rejected``).

    Examples
    --------
    >>> import numpy as np
    >>> faces = find_faces(np.zeros((64, 64, 3), np.float32))
    >>> len(faces), faces.skipped_small
    (0, 0)
    """
    if detector not in DETECTOR_CHOICES:
        raise InputError(f"unknown face detector {detector!r}: choose one of "
                         f"{', '.join(DETECTOR_CHOICES)}")
    if min_score is not None and not 0.0 <= min_score <= 1.0:
        raise InputError(f"min_score must be between 0 and 1, got {min_score}")
    if min_size < 0:
        raise InputError(f"min_size must be >= 0, got {min_size}")
    rgb = _as_rgb(image)
    faces = FaceList()
    for raw in _merge(_windows(rgb, detector)):
        if min_score is not None and raw.score < min_score:
            continue
        if raw.box[2] - raw.box[0] < min_size:
            faces.skipped_small += 1
            continue
        face = _refine(rgb, _refine_detection(rgb, raw), mesh)
        if face.mesh_score is not None and face.mesh_score < MESH_MIN_SCORE:
            faces.rejected += 1
            continue
        faces.append(face)
    return faces


def _refine(rgb: np.ndarray, raw: detect.RawFace, use_mesh: bool) -> Face:
    kp = raw.keypoints
    det_points = np.stack([kp[0], kp[1], kp[2], kp[3]])
    keypoints = {name: (float(x), float(y)) for name, (x, y) in zip(detect.KEYPOINTS, kp)}
    if not use_mesh:
        return Face(raw.score, raw.box, keypoints, det_points, align.align_matrix(det_points))
    pts, mesh_score = landmarks.face_mesh(rgb, raw.box, kp)
    five = landmarks.five_points(pts)
    iod = float(np.linalg.norm(five[1] - five[0]))
    err = float(np.mean(np.linalg.norm(five[:2] - kp[:2], axis=1)) / max(iod, 1e-6))
    matrix = align.align_matrix(five)
    if mesh_score >= MESH_MIN_SCORE:
        pts, five, matrix = realign(rgb, pts, five, matrix)
    return Face(raw.score, raw.box, keypoints, five, matrix, mesh_score, err, pts)


def realign(rgb: np.ndarray, pts: np.ndarray, five: np.ndarray, matrix: np.ndarray,
            passes: int | None = None, tol: float = ALIGN_TOL):
    """The mesh run again on the aligned face and the alignment fitted again, until the eye
    centres settle (at most ``passes``, default :data:`ALIGN_PASSES`); returns (mesh, five
    points, matrix)."""
    for _ in range(ALIGN_PASSES if passes is None else passes):
        new_pts, score = landmarks.face_mesh_at(rgb, landmarks.aligned_roi(pts, matrix))
        if score < MESH_MIN_SCORE:
            break
        new_five = landmarks.five_points(new_pts)
        iod = max(float(np.linalg.norm(new_five[1] - new_five[0])), 1e-6)
        moved = float(np.linalg.norm(new_five[:2] - five[:2], axis=1).max()) / iod
        pts, five, matrix = new_pts, new_five, align.align_matrix(new_five)
        if moved < tol:
            break
    return pts, five, matrix


def align_faces(image, faces, *, size: int = 512) -> list[np.ndarray]:
    """Each face's FFHQ-aligned ``size`` px crop (float32 HxWx3; reflected past the border)."""
    rgb = _as_rgb(image)
    return [align.warp_face(rgb, f.matrix_for(size), size) for f in faces]
