"""Zoo entries of the published colorization networks (see :mod:`photomend.zoo`).

The official PyTorch state dicts of Zhang et al. are published on the authors' S3 bucket
(linked from github.com/richzhang/colorization, BSD-2-Clause). ``photomend models fetch NAME``
downloads one (or the user downloads it and runs ``photomend models import FILE``);
:func:`photomend.colorization.zhang.convert` checks
every key and shape against the published architecture and writes an ONNX file. The file
names carry the first 8 hex digits of the published file's SHA-256 (torch.hub convention);
the full hash is not published, so photomend records the hash of what was imported.
"""

from __future__ import annotations

from photomend import zoo
from photomend.colorization import zhang

_BUCKET = "https://colorizers.s3.us-east-2.amazonaws.com"

#: name -> (architecture, published file, description)
PUBLISHED = {
    "zhang-siggraph17": ("siggraph17", "siggraph17-df00044c.pth",
                         "Zhang et al. SIGGRAPH 2017 user-guided colorization net (auto mode, "
                         "~34 M params)"),
    "zhang-eccv16": ("eccv16", "colorization_release_v2-9b330a0b.pth",
                     "Zhang et al. ECCV 2016 colorful image colorization net (~32 M params)"),
}

for _name, (_arch, _file, _description) in PUBLISHED.items():
    zoo.register_model(zoo.ModelSpec(
        name=_name, task="colorize", source=f"{_BUCKET}/{_file}", license="BSD-2-Clause",
        filename=f"{_name}.onnx", description=_description, convert=zhang.convert,
        published_filename=_file, extra={"arch": _arch}, fetch=zoo.download_source,
    ))
