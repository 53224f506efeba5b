"""Faces in an upscaled photo replaced by PULSE's: detect -> align -> PULSE -> paste back.

Each face is found on the input photo, cut FFHQ-aligned at the largest power-of-two side
(16-128 px) that does not upsample it, searched for by
:func:`photomend.faces.pulse_search.pulse`, and the 1024 px result is warped onto the upscaled photo under a feathered mask (pixels outside it
are left exactly as the upscaler made them). PULSE invents the face: see ``IDENTITY_NOTE``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from photomend.faces.align import paste_face, warp_face
from photomend.faces.api import FaceList, find_faces

#: PULSE's input side is chosen among these (all divide 1024).
LR_SIDES = (16, 32, 64, 128)


@dataclass(frozen=True)
class FaceReport:
    """What happened to one face: its box on the input, PULSE's input side, whether the
    result's downscale matched within eps, that L2, the seconds taken."""

    box: tuple[float, float, float, float]
    lr_side: int
    matched: bool
    l2: float
    seconds: float

    def to_dict(self) -> dict:
        return {"box": [round(v, 1) for v in self.box], "lr_side": self.lr_side,
                "matched": self.matched, "l2": round(self.l2, 6),
                "seconds": round(self.seconds, 1)}


def lr_side_for(face, sides=LR_SIDES) -> int:
    """The largest side in ``sides`` at which the aligned crop is not upsampled (the crop of
    side s covers 512/s template px per photo px; the matrix's scale is template px per photo
    px), else the smallest.

    >>> class F: matrix = np.array([[2.0, 0, 0], [0, 2.0, 0]])  # 2 template px per photo px
    >>> lr_side_for(F)  # the face spans 256 photo px: 128 px crop is a downscale
    128
    """
    scale = float(np.sqrt(abs(np.linalg.det(face.matrix[:, :2]))))  # template px per photo px
    native = 512.0 / scale  # photo px across the 512 template
    fitting = [s for s in sides if s <= native]
    return max(fitting) if fitting else min(sides)


def pulse_faces(original: np.ndarray, upscaled: np.ndarray, *, steps: int = 100,
                eps: float = 2e-3, seed: int | None = None, weights: dict | None = None,
                faces: FaceList | None = None, progress=None
                ) -> tuple[np.ndarray, list[FaceReport], FaceList]:
    """``upscaled`` (float32, any integer multiple or not of ``original``'s size) with every
    face found on ``original`` replaced by PULSE's; returns the photo, one report per face and
    the faces. No face: the photo is returned unchanged (a copy)."""
    from photomend.faces.pulse_search import installed_weights, pulse

    faces = find_faces(original) if faces is None else faces
    out = np.array(upscaled, np.float32, copy=True)
    if not faces:
        return out, [], faces
    weights = weights or installed_weights()
    res = weights["synthesis"].resolution
    sy = upscaled.shape[0] / original.shape[0]
    sx = upscaled.shape[1] / original.shape[1]
    reports = []
    for k, face in enumerate(faces):
        side = min(lr_side_for(face), res)
        lr = warp_face(original, face.matrix_for(side), side)
        result = pulse(lr, steps=steps, eps=eps, seed=seed, weights=weights)
        # the map from the upscaled photo to the result's crop
        m = face.matrix_for(res).copy()
        m[:, 0] /= sx
        m[:, 1] /= sy
        out, _ = paste_face(out, result.image, m)
        reports.append(FaceReport(face.box, side, result.matched, result.l2, result.seconds))
        if progress is not None:
            progress(k + 1, len(faces))
    return out, reports, faces
