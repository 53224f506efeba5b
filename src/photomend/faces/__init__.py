"""Faces: find and align them (MediaPipe face detection and face mesh, embedded as ONNX), and
upsample them with a generative prior (PULSE, torch extra). See docs/faces.md.

Detection and alignment need only ONNX Runtime, NumPy and OpenCV; the networks load with the
first call. :func:`pulse` needs the ``torch`` extra and imported StyleGAN weights.
"""

from photomend.faces.api import DEFAULT_MIN_SIZE, Face, FaceList, align_faces, find_faces

__all__ = ["DEFAULT_MIN_SIZE", "Face", "FaceList", "align_faces", "find_faces", "pulse"]


def __getattr__(name: str):
    if name == "pulse":
        from photomend.faces.pulse import pulse

        return pulse
    raise AttributeError(f"module 'photomend.faces' has no attribute {name!r}")
