"""Fill functions of photomend's optional engines for ``bench_structure.py --variant``
(``(holed_rgb_float32, mask_bool, seed) -> float32 RGB``), e.g.::

    photomend models fetch migan
    python benchmarks/bench_structure.py --split heldout --4k \\
        --variant migan=engine_fills:migan --variant migan-patchmatch=engine_fills:migan_patchmatch
"""

from __future__ import annotations

import numpy as np

from photomend import remove_array


def migan(rgb: np.ndarray, mask: np.ndarray, seed: int) -> np.ndarray:
    """MI-GAN alone (its published ONNX pipeline)."""
    return remove_array(rgb, mask, engine="migan", seed=seed)


def migan_patchmatch(rgb: np.ndarray, mask: np.ndarray, seed: int) -> np.ndarray:
    """PatchMatch guided by MI-GAN's fill (the default of ``photomend remove`` once MI-GAN is
    installed)."""
    return remove_array(rgb, mask, engine="migan-patchmatch", seed=seed)
