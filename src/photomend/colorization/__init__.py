"""Colorization of black-and-white photos: the luma is kept, only chroma is predicted.

Methods: colour hints propagated edge-aware (:mod:`.propagate`, Levin et al. 2004), colour
transfer from a reference photo (:mod:`.reference`, Welsh et al. 2002) and the published
automatic networks of Zhang et al. (:mod:`.zhang`, weights from the model zoo).

The names below load on first use, so that importing a submodule (the model zoo imports
:mod:`.zhang` to list its entries) does not load the numba kernels of :mod:`.core`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "colorize": "photomend.colorization.api",
    "read_reference": "photomend.colorization.api",
    "METHODS": "photomend.colorization.core",
    "ColorizeResult": "photomend.colorization.core",
    "colorize_array": "photomend.colorization.core",
    "Hints": "photomend.colorization.hints",
    "read_hints": "photomend.colorization.hints",
}

__all__ = ["METHODS", "ColorizeResult", "Hints", "colorize", "colorize_array", "read_hints",
           "read_reference"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
