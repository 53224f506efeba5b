"""The interface every upscaler implements, and the registry that names them.

An upscaler turns a float32 HxWx3 RGB tile in [0, 1] into a float32 (sH)x(sW)x3 tile. It
never sees files, alpha channels or whole large photos: :mod:`photomend.upscaling.tiling` cuts
big images into overlapping tiles, and :mod:`photomend.upscaling.api` owns alpha, metadata and
pixel limits. The base class owns padding to the network's multiple and clipping, so a
subclass's :meth:`Upscaler._forward` sees only arrays it can take.

Families register their classes with :func:`register_upscaler` in their own module (one file
per family); the modules in :data:`UPSCALER_MODULES` are imported on first use of the registry.
Models whose weights come from the model zoo (:mod:`photomend.zoo`) name their zoo entries per
scale in :meth:`Upscaler.zoo_models`; :func:`create_upscaler` checks they are installed and
raises :class:`~photomend.errors.ModelMissingError` (with the command that installs them)
before any slow work.

>>> sorted(n for n in available_upscalers() if n in ("bicubic", "lanczos"))
['bicubic', 'lanczos']
>>> create_upscaler("bicubic").upscale_tile(np.zeros((4, 5, 3), np.float32), 2).shape
(8, 10, 3)
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np

from photomend import zoo
from photomend.errors import InputError, UnknownModelError, UnsupportedScaleError

#: ``progress(stage, done, total)``: called by long-running work; front ends draw bars with it.
ProgressFn = Callable[[str, int, int], None]

#: Modules whose import registers upscalers (a missing module of this list is skipped).
UPSCALER_MODULES: list[str] = [
    "photomend.upscaling.classic",
    "photomend.upscaling.compact",
    "photomend.upscaling.published",
]


@dataclass(frozen=True)
class UpscalerTraits:
    """What an upscaler declares about itself."""

    #: One line for ``photomend upscale --help`` and the benchmark table.
    description: str
    #: The integer factors it can upscale by.
    scales: tuple[int, ...]
    #: Input tiles are padded (reflect) to a multiple of this and the output cropped back.
    pad_multiple: int = 1
    #: Cost hint: 'instant' (interpolation), 'fast' (compact CNN), 'slow', 'very slow'.
    cost: str = "fast"
    #: Context, in input pixels, each tile needs on every side so that tiled == untiled.
    context: int = 8
    #: Default input tile side (pixels); 0 = whole image at once.
    tile: int = 512
    #: 'builtin' (ships with photomend) or 'zoo' (weights installed with ``photomend models``).
    source: str = "builtin"


class Upscaler:
    """Base class: subclasses set ``name`` and ``traits`` and implement :meth:`_forward`.

    Instances hold no per-call state, so one instance may serve several calls (and threads).
    """

    name: ClassVar[str]
    traits: ClassVar[UpscalerTraits]
    #: Keyword options the model takes (``create_upscaler(name, noise=5)``; SRMD's noise).
    options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **options) -> None:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            takes = ", ".join(self.options) or "no options"
            raise InputError(f"upscaler {self.name!r} has no option {unknown[0]!r} "
                             f"(it takes {takes})")

    def prepare(self, rgb: np.ndarray) -> "Upscaler":
        """The instance that upscales the tiles of the whole image ``rgb`` (float32 HxWx3):
        ``self``, or a copy whose automatic settings (SRMD's noise level) are measured on the
        whole image once, so that every tile gets the same."""
        return self

    @classmethod
    def zoo_models(cls, scale: int) -> tuple[str, ...]:
        """Zoo entries (:func:`photomend.zoo.get_model` names) needed to upscale by ``scale``."""
        return ()

    @classmethod
    def check(cls, scale: int) -> None:
        """Raise before any slow work: UnsupportedScaleError for a scale this model lacks,
        ModelMissingError (with the install command) when a zoo file is not installed,
        ModelError when it is corrupt."""
        scale = _as_scale(scale)
        if scale not in cls.traits.scales:
            have = ", ".join(f"x{s}" for s in cls.traits.scales)
            raise UnsupportedScaleError(
                f"upscaler {cls.name!r} cannot upscale x{scale}; it supports {have}"
            )
        for entry in cls.zoo_models(scale):
            zoo.model_path(entry)

    @classmethod
    def installed_scales(cls) -> tuple[int, ...]:
        """The scales whose weights are present (all of them for built-in models)."""
        ready = []
        for s in cls.traits.scales:
            try:
                if all(zoo.installed_path(m) is not None for m in cls.zoo_models(s)):
                    ready.append(s)
            except InputError:
                pass
        return tuple(ready)

    def upscale_tile(self, rgb: np.ndarray, scale: int) -> np.ndarray:
        """Upscale one tile: float32 HxWx3 in [0, 1] -> float32 (scale*H)x(scale*W)x3 in [0, 1].

        The tile is padded (reflect, bottom/right) to ``traits.pad_multiple`` and the result
        cropped back. The caller's array is never modified.
        """
        scale = _as_scale(scale)
        if scale not in self.traits.scales:
            self.check(scale)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise InputError(f"upscale_tile expects an HxWx3 array, got shape {rgb.shape}")
        h, w = rgb.shape[:2]
        m = max(1, int(self.traits.pad_multiple))
        ph, pw = -h % m, -w % m
        x = np.ascontiguousarray(rgb, np.float32)
        if ph or pw:
            mode = "reflect" if (h > ph and w > pw) else "edge"
            x = np.pad(x, ((0, ph), (0, pw), (0, 0)), mode=mode)
        out = self._forward(x, scale)
        expected = (x.shape[0] * scale, x.shape[1] * scale, 3)
        if out.shape != expected:
            raise RuntimeError(f"{self.name}: _forward returned {out.shape}, expected {expected}")
        out = out[: h * scale, : w * scale]
        return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)

    def _forward(self, rgb: np.ndarray, scale: int) -> np.ndarray:
        """float32 HxWx3 (H, W multiples of pad_multiple) -> float32 (sH)x(sW)x3 (unclipped)."""
        raise NotImplementedError


_REGISTRY: dict[str, type[Upscaler]] = {}
_loaded = False


def register_upscaler(cls: type[Upscaler]) -> type[Upscaler]:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in UPSCALER_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # an optional family not built (yet): skip it
            if exc.name != module:
                raise


def available_upscalers(*, installed_only: bool = False) -> dict[str, UpscalerTraits]:
    """Names of the registered upscalers and their traits, in registration order.

    ``installed_only`` leaves out zoo models with no scale installed.
    """
    _load()
    return {
        name: cls.traits
        for name, cls in _REGISTRY.items()
        if not installed_only or cls.installed_scales()
    }


def upscaler_class(name: str) -> type[Upscaler]:
    """The class registered as ``name``; UnknownModelError listing the names otherwise."""
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(_REGISTRY)
        raise UnknownModelError(f"unknown upscaler {name!r}; available: {known}") from None


def check_upscaler(name: str, scale: int) -> type[Upscaler]:
    """Validate ``name`` and ``scale`` (and installed weights) before any slow work."""
    cls = upscaler_class(name)
    cls.check(scale)
    return cls


def create_upscaler(name: str, scale: int | None = None, **options) -> Upscaler:
    """Instantiate the upscaler called ``name`` with its ``options``; with ``scale``, also
    :func:`check_upscaler`.

    >>> create_upscaler("lanczos").name
    'lanczos'
    """
    cls = check_upscaler(name, scale) if scale is not None else upscaler_class(name)
    return cls(**options)


def _as_scale(scale: int) -> int:
    try:
        value = int(scale)
    except (TypeError, ValueError):
        raise UnsupportedScaleError(f"scale must be an integer, got {scale!r}") from None
    if value != scale or value < 1:
        raise UnsupportedScaleError(f"scale must be a positive integer, got {scale!r}")
    return value
