"""PLACEHOLDER being written: temporary telea-backed patchmatch."""
import cv2
import numpy as np
from photomend.engines.base import Engine, EngineTraits, register_engine


@register_engine
class PatchMatchEngine(Engine):
    name = "patchmatch"
    traits = EngineTraits(description="placeholder")

    def _inpaint(self, image, mask, progress):
        u8 = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
        filled = cv2.inpaint(u8, mask.astype(np.uint8), 5, cv2.INPAINT_TELEA)
        return filled.astype(np.float32) / 255.0
