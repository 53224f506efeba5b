"""Colorization of black-and-white photos: the luma is kept, only chroma is predicted.

Methods: colour hints propagated edge-aware (:mod:`.propagate`, Levin et al. 2004), colour
transfer from a reference photo (:mod:`.reference`, Welsh et al. 2002) and the published
automatic networks of Zhang et al. (:mod:`.zhang`, weights from the model zoo).
"""

from photomend.colorization.api import colorize, read_reference
from photomend.colorization.core import METHODS, ColorizeResult, colorize_array
from photomend.colorization.hints import Hints, read_hints

__all__ = ["METHODS", "ColorizeResult", "Hints", "colorize", "colorize_array", "read_hints",
           "read_reference"]
