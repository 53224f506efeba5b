"""Zoo entries of the LaMa engine: Big-LaMa (Suvorov et al., WACV 2022; Apache-2.0).

``big-lama`` (torch): published twice, as the authors' Lightning checkpoint (``big-lama.zip`` →
``models/best.ckpt``) and as IOPaint's TorchScript trace (``big-lama.pt``). Neither source
documents a SHA-256: IOPaint checks ``big-lama.pt`` by MD5 (recorded in ``extra``, and checked
by ``photomend models fetch big-lama``, which downloads IOPaint's file), so the entry has
``sha256=None`` and the install record keeps the hash of what was imported. ``photomend models
import FILE`` accepts either file (and a bare generator state dict) and writes photomend's own
file: the generator's tensors and config, readable with ``torch.load(weights_only=True)``.

``big-lama-onnx`` (no torch): Carve's ONNX export ``lama_fp32.onnx`` on Hugging Face
(Apache-2.0 on its model card; fixed 512x512, inputs ``image`` float 0..1 and ``mask`` 1 = fill,
output 0..255), checked by its SHA-256 (the Git LFS object id). Another export of yours is
imported with ``--trust``.
"""

from __future__ import annotations

from pathlib import Path

from photomend import zoo
from photomend.zoo import ModelSpec, register_model

OFFICIAL_URL = "https://huggingface.co/smartywu/big-lama/resolve/main/big-lama.zip"
IOPAINT_URL = "https://github.com/Sanster/models/releases/download/add_big_lama/big-lama.pt"
#: MD5 of IOPaint's big-lama.pt as IOPaint records it (iopaint/model/lama.py, LAMA_MODEL_MD5).
IOPAINT_MD5 = "e3aa4aaa15225a33ec84f9f4bc47e500"


#: Carve's ONNX export of Big-LaMa: address, SHA-256 (Git LFS object id) and size.
ONNX_URL = "https://huggingface.co/Carve/LaMa-ONNX/resolve/main/lama_fp32.onnx"
ONNX_SHA256 = "1faef5301d78db7dda502fe59966957ec4b79dd64e16f03ed96913c7a4eb68d6"
ONNX_SIZE = 208_044_816


def _fetch_torch(spec: ModelSpec, workdir: Path) -> Path:
    """Download IOPaint's big-lama.pt (MD5 checked), once torch is known to be there for the
    conversion (not 196 MB for nothing)."""
    from photomend.lama.loading import require_torch

    require_torch()
    return zoo.download_source(spec, workdir)


def _convert(spec: ModelSpec, source: Path, dest: Path) -> None:
    from photomend.lama.loading import check_state, read_weights, save_converted

    state, _ = read_weights(source)
    cfg = check_state(state, name=source.name)
    save_converted(state, cfg, dest)


BIG_LAMA_SPEC = register_model(ModelSpec(
    name="big-lama",
    task="inpaint",
    source=IOPAINT_URL,
    license="Apache-2.0",
    filename="big-lama.pth",
    published_filename="big-lama.pt",
    description="Big-LaMa FFC-ResNet inpainter (51 M parameters), engine 'lama'",
    convert=_convert,
    fetch=_fetch_torch,
    how_to_get=(
        "run `photomend models fetch big-lama` (needs torch: pip install 'photomend[torch]') "
        "or, without torch, `photomend models fetch big-lama-onnx`; or download "
        f"{IOPAINT_URL} (or the official {OFFICIAL_URL}: big-lama/models/best.ckpt) and run "
        "`photomend models import big-lama.pt` (or `... best.ckpt --name big-lama`)"
    ),
    extra={"md5": {"big-lama.pt": IOPAINT_MD5}, "official": OFFICIAL_URL,
           "paper": "https://arxiv.org/abs/2109.07161"},
))


def _convert_onnx(spec: ModelSpec, source: Path, dest: Path) -> None:
    import shutil

    from photomend.lama.onnx_runner import check_file

    check_file(source)
    shutil.copyfile(source, dest)


BIG_LAMA_ONNX_SPEC = register_model(ModelSpec(
    name="big-lama-onnx",
    task="inpaint",
    source=ONNX_URL,
    license="Apache-2.0",
    filename="big-lama.onnx",
    published_filename="lama_fp32.onnx",
    sha256=ONNX_SHA256,
    size=ONNX_SIZE,
    description="Big-LaMa as ONNX, Carve's 512x512 export (engine 'lama' without torch; "
    "no decoder features for CRA)",
    fetch=zoo.download_source,
    convert=_convert_onnx,
    how_to_get="run `photomend models fetch big-lama-onnx` (or, with an export of your own, "
    "`photomend models import FILE.onnx --name big-lama-onnx --trust`; inputs: image + mask, "
    "or one 4-channel tensor)",
    extra={"model_card": "https://huggingface.co/Carve/LaMa-ONNX"},
))
