"""Zoo entry of the LaMa engine: Big-LaMa (Suvorov et al., WACV 2022; Apache-2.0).

Published twice, as the authors' Lightning checkpoint (``big-lama.zip`` → ``models/best.ckpt``)
and as IOPaint's TorchScript trace (``big-lama.pt``). Neither source documents a SHA-256:
IOPaint checks ``big-lama.pt`` by MD5 (recorded in ``extra``), so the entry has ``sha256=None``
and the install record keeps the hash of what was imported. ``photomend models import FILE``
accepts either file (and a bare generator state dict) and writes photomend's own file: the
generator's tensors and config, readable with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path

from photomend.zoo import ModelSpec, register_model

OFFICIAL_URL = "https://huggingface.co/smartywu/big-lama/resolve/main/big-lama.zip"
IOPAINT_URL = "https://github.com/Sanster/models/releases/download/add_big_lama/big-lama.pt"
#: MD5 of IOPaint's big-lama.pt as IOPaint records it (iopaint/model/lama.py, LAMA_MODEL_MD5).
IOPAINT_MD5 = "e3aa4aaa15225a33ec84f9f4bc47e500"


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
    how_to_get=(
        f"download {IOPAINT_URL} (or the official {OFFICIAL_URL}, unzipped: "
        "big-lama/models/best.ckpt) and run `photomend models import big-lama.pt` "
        "(or `photomend models import best.ckpt --name big-lama`); it needs torch: "
        "pip install 'photomend[torch]'"
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
    source="an ONNX export of Big-LaMa you have (photomend does not publish one)",
    license="Apache-2.0",
    filename="big-lama.onnx",
    description="Big-LaMa as ONNX (engine 'lama' without torch; no decoder features for CRA)",
    convert=_convert_onnx,
    how_to_get="run `photomend models import FILE.onnx --name big-lama-onnx` with your export "
    "(inputs: image + mask, or one 4-channel tensor)",
))
