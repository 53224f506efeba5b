"""LaMa (Suvorov et al., WACV 2022): the FFC-ResNet inpainting generator, its weights, its zoo
entry. Used through the ``lama`` engine (:mod:`photomend.engines.lama`).

Importing this package never imports torch: :mod:`photomend.lama.model` (the network) is
imported only when weights are loaded, and a missing torch is reported by
:func:`require_torch` with the extra that installs it (``photomend[torch]``).
"""

from photomend.lama.config import BIG_LAMA, LamaConfig, expected_shapes, parameter_count
from photomend.lama.loading import (
    build_generator,
    check_state,
    load_generator,
    read_weights,
    require_torch,
    save_converted,
)

__all__ = [
    "BIG_LAMA",
    "LamaConfig",
    "build_generator",
    "check_state",
    "expected_shapes",
    "load_generator",
    "parameter_count",
    "read_weights",
    "require_torch",
    "save_converted",
]
