"""Zoo entries of the published BasicVSR checkpoints (MMEditing/mmagic, Apache-2.0; see
:mod:`photomend.zoo` and :mod:`photomend.video.basicvsr`).

The files are listed in mmagic's ``configs/basicvsr/metafile.yml`` (REDS4; Vimeo-90K with
bicubic (BI) or blur-downsampled (BD) inputs) and served by download.openmmlab.com.
OpenMMLab publishes no full SHA-256; the 8 hex digits at the end of each file name are the
start of it, checked on import (``--trust`` for your own weights of this architecture).
``photomend models fetch NAME`` downloads the file, ``photomend models import FILE`` takes one
you downloaded; either needs torch once, to check the layout and write the ONNX graphs.
"""

from __future__ import annotations

from pathlib import Path

from photomend import zoo

SCALE = 4
DOWNLOADS = "https://download.openmmlab.com/mmediting/restorers/basicvsr"
#: zoo name -> published file (mmagic configs/basicvsr/metafile.yml); the part of each file
#: name after the date is the first 8 hex digits of its SHA-256 (OpenMMLab's naming).
PUBLISHED = {
    "basicvsr-reds4": "basicvsr_reds4_20120409-0e599677.pth",
    "basicvsr-vimeo90k-bi": "basicvsr_vimeo90k_bi_20210409-d2d8f760.pth",
    "basicvsr-vimeo90k-bd": "basicvsr_vimeo90k_bd_20210409-0154dd64.pth",
}
DEFAULT_MODEL = "basicvsr-reds4"
_TRAINED_ON = {"basicvsr-reds4": "REDS (bicubic x4)",
               "basicvsr-vimeo90k-bi": "Vimeo-90K (bicubic x4)",
               "basicvsr-vimeo90k-bd": "Vimeo-90K (Gaussian blur + x4 subsampling)"}


def _convert(spec: zoo.ModelSpec, source: Path, dest: Path) -> None:
    from photomend.video import basicvsr

    basicvsr._convert(spec, source, dest)


for _name, _file in PUBLISHED.items():
    zoo.register_model(zoo.ModelSpec(
        name=_name, task="video-upscale", scale=SCALE,
        source=f"{DOWNLOADS}/{_file}", license="Apache-2.0",
        filename=f"{_name}.zip", published_filename=_file,
        sha256_prefix=_file.rsplit("-", 1)[1].split(".")[0],
        description=f"BasicVSR x4 video super-resolution (mmagic, trained on "
                    f"{_TRAINED_ON[_name]}; ~6.3 M params), ONNX graphs written on import "
                    "(needs torch once)",
        convert=_convert, fetch=zoo.download_source))
