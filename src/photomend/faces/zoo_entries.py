"""Zoo entries of PULSE's StyleGAN (see :mod:`photomend.zoo` and
:mod:`photomend.faces.pulse_search`).

PULSE (github.com/adamian98/pulse) publishes NVIDIA's StyleGAN FFHQ generator, converted to
PyTorch state dicts, on Google Drive (``synthesis.pt``, ``mapping.pt``; links from its
``PULSE.py``) and the mapped-latent Gaussian fit in its repository (``gaussian_fit.pt``).
Google Drive serves large files behind a confirmation page, so the two networks are installed
with ``photomend models import FILE``; the fit can be fetched. Import checks every key and
shape against :mod:`photomend.faces.stylegan` (torch extra) and stores the state dict as
published. Weights: NVIDIA's StyleGAN FFHQ model, CC BY-NC 4.0 (non-commercial use only).

GFPGAN v1.3 / v1.4 (Apache-2.0) are GitHub release files: ``models fetch`` downloads them, and
import (torch needed once) checks their layout and writes an ONNX file
(:mod:`photomend.faces.gfpgan`).
"""

from __future__ import annotations

from pathlib import Path

from photomend import zoo
from photomend.errors import ModelArchitectureError, OptionalDependencyError

SYNTHESIS_URL = "https://drive.google.com/uc?id=1TCViX1YpQyRsklTVYEJwdbmK91vklCo8"
MAPPING_URL = "https://drive.google.com/uc?id=14R6iHGf5iuVx3DMNsACAl7eBr7Vdpd0k"
FIT_URL = "https://raw.githubusercontent.com/adamian98/pulse/master/gaussian_fit.pt"
FIT_SHA256 = "6c638855d24ea56d40512cc6d8e7a6cac4c3db6fec232a0bf58e0f78d6336d16"
LICENCE = "CC-BY-NC-4.0 (NVIDIA StyleGAN FFHQ weights; PULSE code)"


def _convert(spec: zoo.ModelSpec, source: Path, dest: Path) -> None:
    """Check ``source``'s layout (keys and shapes) and copy it into the cache."""
    try:
        from photomend.faces import pulse_search as pulse
    except ImportError as exc:  # torch missing
        raise OptionalDependencyError(
            f"{spec.name} needs torch: pip install 'photomend[torch]' ({exc})") from None
    from photomend.errors import ModelError

    loader = {"synthesis": pulse.load_synthesis, "mapping": pulse.load_mapping,
              "fit": pulse.load_gaussian_fit}[spec.extra["part"]]
    try:
        loader(source)
    except ModelError as exc:
        raise ModelArchitectureError(f"{source.name} is not PULSE's {spec.published_filename}: "
                                     f"{exc}") from None
    zoo.copy_atomically(source, dest)


def _how(name: str, url: str, filename: str) -> str:
    return (f"download {filename} from {url} (linked from github.com/adamian98/pulse) and run "
            f"`photomend models import {filename} --name {name}`")


zoo.register_model(zoo.ModelSpec(
    name="pulse-stylegan-ffhq", task="faces", source=SYNTHESIS_URL, license=LICENCE,
    filename="pulse-stylegan-ffhq-synthesis.pt", published_filename="synthesis.pt",
    description="StyleGAN v1 FFHQ 1024 synthesis network as published by PULSE (~26 M params)",
    convert=_convert, extra={"part": "synthesis"},
    how_to_get=_how("pulse-stylegan-ffhq", SYNTHESIS_URL, "synthesis.pt")))
zoo.register_model(zoo.ModelSpec(
    name="pulse-stylegan-ffhq-mapping", task="faces", source=MAPPING_URL, license=LICENCE,
    filename="pulse-stylegan-ffhq-mapping.pt", published_filename="mapping.pt",
    description="StyleGAN v1 FFHQ mapping network (PULSE); only needed without the gaussian fit",
    convert=_convert, extra={"part": "mapping"},
    how_to_get=_how("pulse-stylegan-ffhq-mapping", MAPPING_URL, "mapping.pt")))
zoo.register_model(zoo.ModelSpec(
    name="pulse-gaussian-fit", task="faces", source=FIT_URL, license=LICENCE,
    filename="pulse-gaussian-fit.pt", published_filename="gaussian_fit.pt", sha256=FIT_SHA256,
    description="PULSE's Gaussian fit of StyleGAN's mapped latents (mean, std)",
    convert=_convert, fetch=zoo.download_source, extra={"part": "fit"}))


def _convert_gfpgan(spec: zoo.ModelSpec, source: Path, dest: Path) -> None:
    from photomend.faces import gfpgan

    gfpgan._convert(spec, source, dest)


for _name, _url in {"gfpgan-v1.3": "v1.3.0/GFPGANv1.3.pth",
                    "gfpgan-v1.4": "v1.3.4/GFPGANv1.4.pth"}.items():
    zoo.register_model(zoo.ModelSpec(
        name=_name, task="faces",
        source=f"https://github.com/TencentARC/GFPGAN/releases/download/{_url}",
        license="Apache-2.0", filename=f"{_name}.onnx", published_filename=_url.split("/")[1],
        description=f"GFPGAN {_name[-4:]} face restoration (clean architecture, 512 px), "
                    "exported to ONNX on import (needs torch once)",
        convert=_convert_gfpgan, fetch=zoo.download_source))
