"""photomend's own compact super-resolution networks (``compact``): one per scale x2/x3/x4.

FSRCNN-like and small (31-45 k parameters, ~31 k multiply-adds per input pixel at x2): all
convolutions run at low resolution, a pixel shuffle upsamples at the end, and the network
predicts the residual to bicubic upsampling, which this module adds back. Trained by
``training/train_sr.py`` on photos that ship inside Debian's ``mate-backgrounds`` package (the
benchmark's held-out photos excluded), with bicubic downscaling as the degradation and a
Charbonnier loss. The ONNX files ship in ``photomend/data/weights/sr_compact_x{2,3,4}.onnx``
and run with ONNX Runtime: no download, no torch.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import cv2
import numpy as np

from photomend.errors import ModelError
from photomend.nn import onnx as nn_onnx
from photomend.upscaling.base import Upscaler, UpscalerTraits, register_upscaler
from photomend.upscaling.classic import resize_by

WEIGHTS = "sr_compact_x{scale}.onnx"


def weights_path(scale: int) -> Path:
    """The shipped ONNX file of the x``scale`` network."""
    return Path(str(files("photomend") / "data" / "weights" / WEIGHTS.format(scale=scale)))


@register_upscaler
class CompactSR(Upscaler):
    name = "compact"
    traits = UpscalerTraits(
        description="photomend's own compact CNN (FSRCNN-like, residual to bicubic, "
        "trained on package photos)",
        scales=(2, 3, 4), cost="fast", context=8, tile=512,
    )

    @classmethod
    def check(cls, scale: int) -> None:
        super().check(scale)
        path = weights_path(int(scale))
        if not path.is_file():
            raise ModelError(f"the bundled weights {path.name} are missing from {path.parent}; "
                             "reinstall photomend (or run training/train_sr.py)")

    @classmethod
    def installed_scales(cls) -> tuple[int, ...]:
        return tuple(s for s in cls.traits.scales if weights_path(s).is_file())

    def _forward(self, rgb: np.ndarray, scale: int) -> np.ndarray:
        residual = nn_onnx.run_image(nn_onnx.session(weights_path(scale)), rgb)
        base = resize_by(rgb, scale, cv2.INTER_CUBIC)
        base += residual
        return base
