"""High-resolution strategies (placeholder, being written)."""
from __future__ import annotations
import numpy as np
from photomend.engines import Engine, ProgressFn


def run_strategy(name: str, engine: Engine, rgb: np.ndarray, mask: np.ndarray, *, working_size: int = 512, progress: ProgressFn | None = None) -> np.ndarray:
    return engine.inpaint(rgb, mask, progress=progress)
