"""``--detector bopbtl``: the published scratch detector of "Bringing Old Photos Back to Life"
(Wan et al., CVPR 2020; github.com/microsoft/Bringing-Old-Photos-Back-to-Life, MIT licence),
trained by its authors on their own labelled scans of real old photos.

Its weights are a GitHub release file (``global_checkpoints.zip``, with the restoration
networks; the detector is ``checkpoints/detection/FT_Epoch_latest.pt`` inside), which cannot be
downloaded where only package registries are reachable, so ``photomend models fetch
bopbtl-scratch`` downloads it where GitHub is reachable, and ``photomend models import
global_checkpoints.zip`` (or the ``.pt`` alone) installs a copy fetched elsewhere. Import checks
every key and shape against :class:`photomend.restoration.bopbtl_arch.ScratchUNet` and writes an
ONNX file (torch needed once: ``pip install 'photomend[torch]'``); detection runs on ONNX
Runtime.

Detection follows the official ``Global/detection.py`` as ``run.py`` calls it
(``--input_size full_size``): the scan is resized (bicubic) to multiples of 16, made grey
(ITU-R 601 luma, 8 bits), normalised to [-1, 1] and resized (bilinear) to 256 px on its short
side; the network's sigmoid is scaled back with nearest-neighbour sampling and thresholded at
0.4. So the network sees every scan at about 256 x 384 px, whatever its size: it finds scratches
a few pixels wide at that size, and its mask is blocky on a big scan (a 4000 px scan: one
network pixel per 16 x 16). ``tools/bopbtl_parity.py`` checks the conversion and this
preprocessing against the official code.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from photomend import zoo
from photomend.errors import ModelArchitectureError, ModelError

MODEL_NAME = "bopbtl-scratch"
RELEASE_URL = ("https://github.com/microsoft/Bringing-Old-Photos-Back-to-Life/releases/download/"
               "v1.0/global_checkpoints.zip")
#: The detector's checkpoint inside the release zip (any folder above it is accepted).
MEMBER = "checkpoints/detection/FT_Epoch_latest.pt"
#: The official decision threshold on the sigmoid (``detection.py``: ``P >= 0.4``).
THRESHOLD = 0.4
#: The network's input: this many px on the short side, both sides multiples of 16.
SHORT_SIDE = 256


def _rounded16(n: float) -> int:
    return int(round(n / 16) * 16)  # (Python's round, half to even, as the official code)


def network_size(height: int, width: int) -> tuple[int, int]:
    """(height, width) the network reads for a scan of ``height`` x ``width`` px.

    >>> network_size(3000, 4000)
    (256, 336)
    """
    h, w = _rounded16(height), _rounded16(width)
    if h < w:
        return SHORT_SIDE, _rounded16(w / h * SHORT_SIDE)
    return _rounded16(h / w * SHORT_SIDE), SHORT_SIDE


def network_input(rgb: np.ndarray) -> np.ndarray:
    """The network's 1x1xHxW float32 input for ``rgb`` (float HxWx3 in [0, 1])."""
    height, width = rgb.shape[:2]
    if min(height, width) < 8:
        raise ModelError(f"the scan is {width}x{height}: too small for the {MODEL_NAME} detector")
    u8 = np.rint(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)
    im = Image.fromarray(np.ascontiguousarray(u8[:, :, :3]), "RGB")
    size = (_rounded16(width), _rounded16(height))
    if size != im.size:
        im = im.resize(size, Image.BICUBIC)
    grey = np.asarray(im.convert("L"), np.float32) / np.float32(255.0)
    x = (grey - np.float32(0.5)) / np.float32(0.5)
    nh, nw = network_size(height, width)
    # (OpenCV's bilinear resize samples as torch's F.interpolate(..., align_corners=False))
    x = cv2.resize(x, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(x[None, None])


def weights_path() -> Path:
    """The installed ONNX file (ModelMissingError with the install command otherwise)."""
    return zoo.model_path(MODEL_NAME)


def probability(rgb: np.ndarray, *, model: str | Path | None = None) -> np.ndarray:
    """The detector's sigmoid at the network's size (:func:`network_size`), float32."""
    from photomend.nn.onnx import session

    sess = session(model or weights_path())
    x = network_input(rgb)
    logit = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    # (the logistic function as tanh: no overflow warning on a very sure logit)
    return (0.5 + 0.5 * np.tanh(0.5 * logit[0, 0])).astype(np.float32)


def full_size_probability(rgb: np.ndarray, *, model: str | Path | None = None) -> np.ndarray:
    """:func:`probability` scaled to the scan's size with nearest-neighbour sampling (as the
    official code scales it back)."""
    p = probability(rgb, model=model)
    h, w = rgb.shape[:2]
    return cv2.resize(p, (w, h), interpolation=cv2.INTER_NEAREST)


# --- the zoo entry -----------------------------------------------------------------------------


def _checkpoint(source: Path, workdir: Path) -> Path:
    """The ``.pt`` file: ``source`` itself, or the detector's member of the release zip."""
    if not zipfile.is_zipfile(source):
        return source
    with zipfile.ZipFile(source) as zf:
        names = [n for n in zf.namelist() if n == MEMBER or n.endswith("/" + MEMBER)]
        if not names:
            raise ModelArchitectureError(
                f"{source.name} holds no {MEMBER}: not the release's global_checkpoints.zip")
        target = workdir / "FT_Epoch_latest.pt"
        with zf.open(names[0]) as src, open(target, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    return target


def convert_checkpoint(source: Path, dest: Path) -> None:
    """Layout-check the published checkpoint (``model_state``: the U-Net's state dict) and
    export it to ONNX (1x1xHxW in [-1, 1] -> 1x1xHxW logits; H and W free)."""
    import torch

    from photomend.nn.torch_export import export_onnx, load_torch_file
    from photomend.restoration.bopbtl_arch import ScratchUNet

    with tempfile.TemporaryDirectory() as tmp:
        path = _checkpoint(Path(source), Path(tmp))
        state = load_torch_file(path, Path(source).name)
    if isinstance(state.get("model_state"), dict):
        state = state["model_state"]
    export_onnx(ScratchUNet(), state, dest, torch.zeros(1, 1, SHORT_SIDE, SHORT_SIDE),
                what=Path(source).name, label="the published scratch detector",
                input_names=["grey"], output_names=["logit"],
                dynamic_axes={"grey": {2: "height", 3: "width"},
                              "logit": {2: "height", 3: "width"}})


def _convert(spec: zoo.ModelSpec, source: Path, dest: Path) -> None:
    from photomend.nn.torch_export import require_torch

    require_torch(spec.name)
    convert_checkpoint(source, dest)


SPEC = zoo.register_model(zoo.ModelSpec(
    name=MODEL_NAME, task="restore", source=RELEASE_URL, license="MIT",
    filename=f"{MODEL_NAME}.onnx", published_filename="global_checkpoints.zip",
    description="Bringing Old Photos Back to Life's scratch detector (U-Net, 38 M params, "
                "restore --detector bopbtl), from its release zip (all of BOPBTL's "
                "checkpoints); exported to ONNX on import (needs torch once)",
    convert=_convert, fetch=zoo.download_source))
