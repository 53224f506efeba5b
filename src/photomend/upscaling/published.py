"""Upscalers on published weights, installed with ``photomend models``.

* ``esrgan-slim``, ``esrgan-medium``, ``esrgan-thick``: UpscalerJS ESRGAN (x2, x3, x4, x8; one
  zoo entry per scale, e.g. ``esrgan-medium-x4``: ``photomend models fetch esrgan-medium-x4``);
* ``realesrgan-x4plus``, ``realesrnet-x4plus``, ``realesrgan-x2plus``,
  ``realesrgan-x4plus-anime-6b``, ``realesr-general-x4v3``, ``realesr-animevideov3``:
  Real-ESRGAN checkpoints (``photomend models import RealESRGAN_x4plus.pth``).

All run the converted ONNX file with ONNX Runtime (:mod:`photomend.nn.onnx`), loaded lazily
from :func:`photomend.zoo.model_path` on first use; a missing one raises ModelMissingError with
the command that installs it. The classes are built from the tables in
:mod:`photomend.upscaling.zoo_entries`.

>>> from photomend.upscaling import upscaler_class
>>> upscaler_class("esrgan-medium").zoo_models(4)
('esrgan-medium-x4',)
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar

import numpy as np

from photomend import zoo
from photomend.nn import onnx as nn_onnx
from photomend.upscaling.base import Upscaler, UpscalerTraits, register_upscaler
from photomend.upscaling.zoo_entries import REALESRGAN, UPSCALERJS, upscalerjs_entry

_VERIFIED: set[tuple[str, int, int]] = set()
_LOCK = threading.Lock()


def _verified_path(entry: str) -> Path:
    """``zoo.model_path(entry)``, whose SHA-256 check runs once per installed file version
    (not once per tile)."""
    path = zoo.installed_path(entry)
    if path is not None:
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        if key in _VERIFIED:
            return path
    path = zoo.model_path(entry)  # raises ModelMissingError / ModelError
    stat = path.stat()
    with _LOCK:
        _VERIFIED.add((str(path), stat.st_mtime_ns, stat.st_size))
    return path


class PublishedUpscaler(Upscaler):
    """An ONNX network from the zoo per scale; subclasses set ``entries`` {scale: zoo name}."""

    entries: ClassVar[dict[int, str]] = {}

    @classmethod
    def zoo_models(cls, scale: int) -> tuple[str, ...]:
        entry = cls.entries.get(int(scale))
        return (entry,) if entry else ()

    def _forward(self, rgb: np.ndarray, scale: int) -> np.ndarray:
        sess = nn_onnx.session(_verified_path(self.entries[scale]))
        return nn_onnx.run_image(sess, rgb)


def _make(name: str, traits: UpscalerTraits, entries: dict[int, str], doc: str):
    cls = type(_class_name(name), (PublishedUpscaler,),
               {"name": name, "traits": traits, "entries": dict(entries), "__doc__": doc,
                "__module__": __name__})
    register_upscaler(cls)
    globals()[cls.__name__] = cls
    return cls


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))


#: Per UpscalerJS size: (cost, default input tile, context in input pixels). Context 16 makes
#: tiled == untiled: measured max difference 0 (slim), 6e-5/255 (medium, thick) with 64/48-px
#: tiles on a photo (docs/upscale.md).
_UPSCALERJS_RUN = {"slim": ("slow", 256, 16), "medium": ("slow", 256, 16),
                   "thick": ("very slow", 192, 16)}

for _pkg in UPSCALERJS.values():
    _cost, _tile, _context = _UPSCALERJS_RUN[_pkg.size]
    _make(
        f"esrgan-{_pkg.size}",
        UpscalerTraits(description=f"{_pkg.description}; photomend models fetch "
                       f"esrgan-{_pkg.size}", scales=_pkg.scales, cost=_cost,
                       context=_context, tile=_tile, source="zoo"),
        {s: upscalerjs_entry(_pkg.size, s) for s in _pkg.scales},
        f"UpscalerJS ESRGAN {_pkg.size} ({_pkg.package}@{_pkg.version}, MIT).",
    )

for _rel in REALESRGAN.values():
    _big = _rel.arch.__class__.__name__ == "RRDBNetArch"
    _make(
        _rel.name,
        UpscalerTraits(description=f"{_rel.description}; photomend models import "
                       f"{_rel.filename}", scales=(_rel.arch.scale,),
                       pad_multiple=2 if _rel.arch.scale == 2 else 1,
                       cost="very slow" if _big else "slow", context=16,
                       tile=192 if _big else 256, source="zoo"),
        {_rel.arch.scale: _rel.name},
        f"Real-ESRGAN {_rel.filename} (release {_rel.release}, BSD-3-Clause).",
    )
