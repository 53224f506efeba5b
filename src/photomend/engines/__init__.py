"""Inpainting engines: one module per family, each registering itself on import."""

from photomend.engines.base import (
    Engine,
    EngineTraits,
    ProgressFn,
    available_engines,
    create_engine,
    engine_readiness,
    register_engine,
)
from photomend.engines import patchmatch as _patchmatch  # noqa: F401  (registers "patchmatch" first)
from photomend.engines import opencv as _opencv  # noqa: F401
from photomend.engines import lama as _lama  # noqa: F401  (imports no torch until it runs)

__all__ = [
    "Engine",
    "EngineTraits",
    "ProgressFn",
    "available_engines",
    "create_engine",
    "engine_readiness",
    "register_engine",
]
