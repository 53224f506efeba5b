"""Super-resolution: the upscaler registry, tiling, and the models (one module per family)."""

from photomend.upscaling.base import (
    ProgressFn,
    Upscaler,
    UpscalerTraits,
    available_upscalers,
    check_upscaler,
    create_upscaler,
    register_upscaler,
    upscaler_class,
)

__all__ = [
    "ProgressFn", "Upscaler", "UpscalerTraits", "available_upscalers", "check_upscaler",
    "create_upscaler", "register_upscaler", "upscaler_class",
]
