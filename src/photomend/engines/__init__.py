"""Inpainting engines: one module per family, each registering itself when imported.

The built-in modules are imported on the first use of one of their engines (see
:data:`photomend.engines.base.BUILTIN_ENGINES`), so this package loads no engine by itself.
"""

from photomend.engines.base import (
    BUILTIN_ENGINES,
    Engine,
    EngineTraits,
    ProgressFn,
    available_engines,
    create_engine,
    engine_names,
    engine_readiness,
    engine_traits,
    register_engine,
)

__all__ = [
    "BUILTIN_ENGINES",
    "Engine",
    "EngineTraits",
    "ProgressFn",
    "available_engines",
    "create_engine",
    "engine_names",
    "engine_readiness",
    "engine_traits",
    "register_engine",
]
