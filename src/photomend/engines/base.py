"""The interface every inpainting engine implements, and the registry that names them.

Convention inside photomend: images are float32 HxWx3 RGB in [0, 1]; masks are bool HxW with
True = pixel to fill. Engines never see files, alpha channels or full-resolution strategies:
:mod:`photomend.hd` owns those, so an engine's ``inpaint`` only fills the array it is given.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from photomend.errors import UnknownEngineError

#: ``progress(stage, done, total)``: called by long-running work; front ends draw bars with it.
ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class EngineTraits:
    """What an engine declares about itself, so strategies can plan around it."""

    #: A one-line description for ``photomend engines``.
    description: str
    #: Largest image (pixels) the engine handles in reasonable time; ``auto`` works below it.
    max_pixels: int = 1_000_000
    #: True when the engine synthesises texture (exemplar/learned), False for diffusion fills.
    synthesises_texture: bool = True
    #: ``readiness() -> None`` when the engine can run now, else one line saying what is
    #: missing and how to get it (the ``models import`` command, the extra to install). Must be
    #: cheap and import nothing heavy; None: always ready.
    readiness: Callable[[], str | None] | None = None
    #: True when the first call loads JIT-compiled (numba) kernels from disk, which
    #: :func:`photomend.removal.prewarm` can do in the background while a photo decodes.
    compiled_kernels: bool = False
    #: True when the engine's cost at full resolution grows with the hole only (it refines its
    #: coarse result level by level instead of searching anew): ``auto`` and ``crop`` then fill
    #: every region natively in its crop, never through CRA's blown-up working-size fill.
    refines_natively: bool = False


class Engine:
    """Base class: subclasses set ``name`` and ``traits`` and implement :meth:`_inpaint`."""

    name: ClassVar[str]
    traits: ClassVar[EngineTraits]

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = int(seed)

    def load_kernels(self) -> None:
        """Load the compiled kernels that a small fill does not reach (nothing by default);
        :func:`photomend.removal.prewarm` calls it in its background thread."""

    def inpaint(
        self, image: np.ndarray, mask: np.ndarray, *, progress: ProgressFn | None = None
    ) -> np.ndarray:
        """Return a copy of ``image`` with the pixels under ``mask`` filled.

        ``image`` is float32 HxWx3 in [0, 1], ``mask`` bool HxW. Pixels outside the mask are
        returned unchanged; the caller's arrays are never modified.
        """
        if not mask.any():
            return image.copy()
        out = self._inpaint(np.ascontiguousarray(image, np.float32), mask.astype(bool), progress)
        return self._finished(out, image, mask)

    def inpaint_in_place(
        self, image: np.ndarray, mask: np.ndarray, *, progress: ProgressFn | None = None
    ) -> np.ndarray:
        """:meth:`inpaint` for a caller that gives ``image`` up: an engine may write its fill
        into it and return it (a 4K float photo is 100 MB, and a fresh process pays for every
        new page it touches). By default the same as :meth:`inpaint` (a new array)."""
        return self.inpaint(image, mask, progress=progress)

    @staticmethod
    def _finished(out: np.ndarray, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``out`` clipped to [0, 1], float32, with the pixels outside ``mask`` from ``image``.

        ``out`` is reused when it is a float32 array of its own (engines return new arrays);
        the copy is a masked ``copyto``, not fancy indexing (0.8 s -> 0.05 s at 4K).
        """
        own = (out.dtype == np.float32 and out.flags.writeable and out.flags.c_contiguous
               and not np.may_share_memory(out, image))
        out = np.clip(out, 0.0, 1.0, out=out if own else None).astype(np.float32, copy=False)
        np.copyto(out, image, where=~mask[..., None] if out.ndim == 3 else ~mask)
        return out

    def _inpaint(
        self, image: np.ndarray, mask: np.ndarray, progress: ProgressFn | None
    ) -> np.ndarray:
        raise NotImplementedError

    def inpaint_with_features(
        self, image: np.ndarray, mask: np.ndarray, *, progress: ProgressFn | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`inpaint`, plus a feature map CRA may compute its attention from.

        The features are float32 h x w x C covering the image (any resolution; learned engines
        return a decoder layer). None (this default): CRA compares the filled pixels.
        """
        return self.inpaint(image, mask, progress=progress), None


_REGISTRY: dict[str, type[Engine]] = {}

#: The built-in engines and the module that registers each, in the order ``photomend engines``
#: lists them. A module is imported on the first use of one of its engines, so that choosing
#: ``telea`` never loads numba (``patchmatch``) and listing nothing loads no engine at all.
BUILTIN_ENGINES = {
    "patchmatch": "photomend.engines.patchmatch",
    "telea": "photomend.engines.opencv",
    "ns": "photomend.engines.opencv",
    "lama": "photomend.engines.lama",
    "migan": "photomend.engines.migan",
    "migan-patchmatch": "photomend.engines.migan_patchmatch",
}


def _readiness_in(module: str, function: str) -> Callable[[], str | None]:
    """A readiness check that imports ``module`` only when it is asked."""

    def readiness() -> str | None:
        return getattr(importlib.import_module(module), function)()

    return readiness


#: The traits of the built-in engines, known without importing their modules (numba, torch):
#: ``photomend engines``, :func:`engine_traits` and the CLI's engine check read them here. Each
#: engine class declares the same traits (tests/test_engines.py checks that they agree).
BUILTIN_TRAITS = {
    "patchmatch": EngineTraits(
        description="multi-scale PatchMatch exemplar fill (default): sharp texture, no download",
        max_pixels=1_000_000,
        compiled_kernels=True,
        refines_natively=True,
    ),
    "telea": EngineTraits(
        description="OpenCV fast marching (Telea): very fast, smooth, no texture",
        max_pixels=400_000_000,
        synthesises_texture=False,
    ),
    "ns": EngineTraits(
        description="OpenCV Navier-Stokes diffusion: fast, smooth, no texture",
        max_pixels=400_000_000,
        synthesises_texture=False,
    ),
    "lama": EngineTraits(
        description="Big-LaMa learned inpainting (Fourier convolutions): large holes, "
        "structure; needs the weights and torch (or an ONNX export)",
        max_pixels=1_000_000,
        readiness=_readiness_in("photomend.engines.lama", "_readiness"),
    ),
    "migan": EngineTraits(
        description="MI-GAN learned inpainting (ONNX pipeline, 28 MB): fast, object "
        "removal; needs `photomend models fetch migan`",
        max_pixels=1_000_000,
        readiness=_readiness_in("photomend.engines.migan", "_readiness"),
    ),
    "migan-patchmatch": EngineTraits(
        description="PatchMatch guided by MI-GAN's fill: the photo's own patches, laid out "
        "as MI-GAN continues the structure; needs `photomend models fetch migan`",
        max_pixels=1_000_000,
        readiness=_readiness_in("photomend.engines.migan", "_readiness"),
        compiled_kernels=True,
        refines_natively=True,
    ),
}


def register_engine(cls: type[Engine]) -> type[Engine]:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def _engine_class(name: str) -> type[Engine] | None:
    """The class registered as ``name``, importing its built-in module if need be."""
    if name not in _REGISTRY and name in BUILTIN_ENGINES:
        # (An engine with compiled kernels imports numba when it first needs them, not here:
        # a fresh process loads them in the background meanwhile, photomend.removal.prewarm.)
        importlib.import_module(BUILTIN_ENGINES[name])
    return _REGISTRY.get(name)


def engine_names() -> list[str]:
    """Names of the built-in and registered engines, without importing any engine.

    >>> engine_names()[:3]
    ['patchmatch', 'telea', 'ns']
    """
    return list(dict.fromkeys([*BUILTIN_ENGINES, *_REGISTRY]))


def engine_traits(name: str) -> EngineTraits | None:
    """The traits of engine ``name``, or None for an unknown name. A built-in engine's module is
    not imported (its traits are in :data:`BUILTIN_TRAITS`).

    >>> engine_traits("patchmatch").compiled_kernels
    True
    """
    cls = _REGISTRY.get(name)
    if cls is not None:
        return cls.traits
    return BUILTIN_TRAITS.get(name)


def available_engines() -> dict[str, EngineTraits]:
    """Names of all engines and their traits: the built-in ones first, in their order, then the
    registered ones. Imports no built-in engine's module."""
    return {name: traits for name in engine_names()
            if (traits := engine_traits(name)) is not None}


def engine_readiness(name: str) -> str | None:
    """None when engine ``name`` can run now, else what is missing and how to get it.

    >>> engine_readiness("telea") is None
    True
    """
    traits = engine_traits(name)
    if traits is None:
        raise KeyError(name)
    return None if traits.readiness is None else traits.readiness()


def create_engine(name: str, **options: Any) -> Engine:
    """Instantiate the engine called ``name``.

    >>> create_engine("telea").name
    'telea'
    """
    cls = _engine_class(name)
    if cls is None:
        known = ", ".join(sorted(engine_names()))
        raise UnknownEngineError(f"unknown engine {name!r}; available: {known}")
    return cls(**options)
