"""Running a LaMa ONNX export with ONNX Runtime (no torch needed).

photomend does not produce ONNX files of LaMa (exporting its FFTs to ONNX is fragile: ONNX
Runtime's DFT kernels disagree with torch's on the exports we tried), but users who have one can
install it (``photomend models import FILE --name big-lama-onnx``). Two layouts are recognised
from the inputs:

* *generator*: one input with 4 channels (image with the hole zeroed, mask) -> RGB;
* *wrapped* (as IOPaint's and most published exports): two inputs, a 3-channel image and a
  1-channel mask -> the inpainted RGB.

An output whose values exceed 1.5 is taken to be in 0..255. An export with a fixed input size
(e.g. 512x512) gets the image resized to it and the prediction resized back; otherwise the image
is padded to a multiple of 8. Decoder features are not available: under CRA the attention comes
from the result's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from photomend.errors import ModelArchitectureError
from photomend.lama.runner import pad_to_multiple


@dataclass(frozen=True)
class OnnxLayout:
    layout: str  # 'generator' or 'wrapped'
    inputs: tuple[str, ...]  # feed order: (x,) or (image, mask)
    size: tuple[int, int] | None  # fixed (h, w), or None for any size


def inspect(sess, name: str = "model") -> OnnxLayout:
    """The layout of a session's inputs, or ModelArchitectureError saying what it has."""
    ins = sess.get_inputs()

    def channels(i):
        shape = i.shape
        return shape[1] if len(shape) == 4 and isinstance(shape[1], int) else None

    def fixed(i):
        h, w = i.shape[2], i.shape[3]
        return (h, w) if isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0 else None

    described = ", ".join(f"{i.name} {list(i.shape)}" for i in ins)
    if len(ins) == 1 and channels(ins[0]) == 4:
        return OnnxLayout("generator", (ins[0].name,), fixed(ins[0]))
    if len(ins) == 2 and {channels(ins[0]), channels(ins[1])} == {3, 1}:
        image, mask = (ins[0], ins[1]) if channels(ins[0]) == 3 else (ins[1], ins[0])
        return OnnxLayout("wrapped", (image.name, mask.name), fixed(image))
    raise ModelArchitectureError(
        f"{name} is not a LaMa ONNX export: expected one 4-channel input or a 3-channel image "
        f"and a 1-channel mask (NCHW), found {described or 'no inputs'}")


def predict_onnx(sess, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The export's prediction for ``image`` (HxWx3 float32) with ``mask`` (bool HxW)."""
    lay = inspect(sess)
    h, w = mask.shape
    m = mask.astype(np.float32)
    if lay.size is not None:
        fh, fw = lay.size
        img = cv2.resize(image, (fw, fh), interpolation=cv2.INTER_AREA)
        m = (cv2.resize(m, (fw, fh), interpolation=cv2.INTER_AREA) > 0).astype(np.float32)
    else:
        img = pad_to_multiple(image, 8, min_side=16)
        m = pad_to_multiple(m, 8, min_side=16)
    nchw = np.ascontiguousarray(img.transpose(2, 0, 1)[None], np.float32)
    m4 = np.ascontiguousarray(m[None, None], np.float32)
    # The hole is zeroed for both layouts: a wrapped export that does not zero it itself would
    # otherwise see the object being removed (the resized mask covers every pixel the resize
    # mixed it into).
    nchw = nchw * (1.0 - m4)
    if lay.layout == "generator":
        feeds = {lay.inputs[0]: np.concatenate([nchw, m4], axis=1)}
    else:
        feeds = {lay.inputs[0]: nchw, lay.inputs[1]: m4}
    out = np.asarray(sess.run(None, feeds)[0], np.float32)[0].transpose(1, 2, 0)
    if out.size and float(out.max()) > 1.5:
        out = out / 255.0
    if lay.size is not None:
        return cv2.resize(np.ascontiguousarray(out), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(out[:h, :w])


def check_file(path: str | Path) -> OnnxLayout:
    """Open ``path`` with ONNX Runtime and check its inputs (for ``models import``)."""
    from photomend.nn.onnx import session

    return inspect(session(path), Path(path).name)
