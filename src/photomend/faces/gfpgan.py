"""GFPGAN face restoration (v1.3 / v1.4, Apache-2.0) under ONNX Runtime: no torch at run time.

``photomend models fetch gfpgan-v1.4`` (or ``models import GFPGANv1.4.pth``) checks every key and
shape of the release file's ``params_ema`` against :mod:`photomend.faces.gfpgan_arch` and
exports an ONNX file once (this needs torch); :func:`restore_faces` then finds the faces,
aligns each to the 512 px FFHQ template, restores it, blends it with the input face by
``strength`` (1: GFPGAN's face, 0: the input's) and pastes it back under a feathered mask.
The noise of the StyleGAN2 decoder is the checkpoint's stored noise (the official code draws
new noise at every call), so results are repeatable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from photomend.faces.align import paste_face, warp_face

SIZE = 512
RELEASES = "https://github.com/TencentARC/GFPGAN/releases/download"
PUBLISHED = {"gfpgan-v1.3": f"{RELEASES}/v1.3.0/GFPGANv1.3.pth",
             "gfpgan-v1.4": f"{RELEASES}/v1.3.4/GFPGANv1.4.pth"}
DEFAULT_MODEL = "gfpgan-v1.4"


def convert_checkpoint(source: Path, dest: Path, *, size: int | None = None) -> None:
    """Layout-check ``source`` (a GFPGANv1Clean .pth: ``params_ema``, else ``params``, else the
    state dict itself) and export it to ONNX (float32, 1x3xSxS in [-1, 1] -> the same)."""
    import torch

    from photomend.faces.gfpgan_arch import GFPGANv1Clean
    from photomend.nn.torch_export import export_onnx, load_torch_file

    size = size or SIZE
    state = load_torch_file(Path(source), Path(source).name)
    for key in ("params_ema", "params"):
        if isinstance(state.get(key), dict):
            state = state[key]
            break
    export_onnx(GFPGANv1Clean(size), state, dest, torch.zeros(1, 3, size, size),
                what=Path(source).name, label="a GFPGAN v1.3/v1.4 checkpoint",
                input_names=["face"], output_names=["restored"])


def _convert(spec, source: Path, dest: Path) -> None:
    from photomend.nn.torch_export import require_torch

    require_torch(spec.name)
    convert_checkpoint(source, dest)


def session(path: str | Path):
    from photomend.nn import onnx as nn_onnx

    return nn_onnx.session(Path(path))


def restore_face(crop: np.ndarray, sess) -> np.ndarray:
    """GFPGAN on one aligned face of the model's side (512 px) (float32 HxWx3 in [0, 1]) -> the restored face."""
    x = np.ascontiguousarray((crop.transpose(2, 0, 1)[None] * 2 - 1).astype(np.float32))
    out = sess.run(None, {sess.get_inputs()[0].name: x})[0][0]
    return ((np.clip(out, -1, 1) + 1) / 2).transpose(1, 2, 0).astype(np.float32)


def restore_faces(original: np.ndarray, target: np.ndarray | None = None, *,
                  strength: float = 1.0, model: str = DEFAULT_MODEL, faces=None,
                  progress=None):
    """``target`` (default: ``original``; e.g. its upscale) with every face found on
    ``original`` restored by GFPGAN and pasted back; returns (photo, faces). Pixels outside the
    faces' feathered masks are unchanged; no face: an unchanged copy. ``progress(stage, done,
    total)`` is called after each face."""
    from photomend import zoo
    from photomend.errors import InputError
    from photomend.faces.api import find_faces

    if not 0.0 <= strength <= 1.0:
        raise InputError(f"face strength must be between 0 and 1, got {strength}")
    target = original if target is None else target
    faces = find_faces(original) if faces is None else faces
    out = np.array(target, np.float32, copy=True)
    if not faces or strength == 0:
        return out, faces
    sess = session(zoo.model_path(model))
    size = int(sess.get_inputs()[0].shape[-1])  # 512 for the published models
    sy, sx = target.shape[0] / original.shape[0], target.shape[1] / original.shape[1]
    for k, face in enumerate(faces):
        m = face.matrix_for(size).copy()
        m[:, 0] /= sx
        m[:, 1] /= sy
        crop = warp_face(out, m, size)
        out, _ = paste_face(out, restore_face(crop, sess), m, strength=strength)
        if progress is not None:
            progress("faces", k + 1, len(faces))
    return out, faces
