"""Reproduce photomend's face weights from the PyPI wheel they ship in.

Run once, in the conversion environment of ``tools/convert_detectors.py``
(``pip install photomend[convert]``; TensorFlow and tf2onnx are never needed at run time)::

    pip download --no-deps mediapipe==0.10.14
    python tools/convert_faces.py \\
        mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl

It takes three MediaPipe models (Apache-2.0) out of the wheel, converts each with
``tf2onnx --tflite --opset 13``, stores it as fp16 with float32 inputs and outputs, and writes
into ``src/photomend/data/weights/``:

- ``face_detection_short_range.onnx`` (BlazeFace, 128x128 input, faces within ~2 m),
- ``face_detection_full_range_sparse.onnx`` (192x192 input, faces within ~5 m),
- ``face_landmark.onnx`` (468 face-mesh points on a 192x192 crop, plus a face score).

The hashes of every input and output are printed, and each fp16 model is checked against its
fp32 conversion (and against the file it replaces) with the helpers of convert_detectors, and
against TensorFlow Lite's interpreter running the wheel's original file.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_detectors import (  # noqa: E402
    OUT_DIR,
    _input_name,
    _replace,
    _say_hash,
    _staged,
    _tf2onnx,
    to_fp16,
)

#: wheel member -> (shipped file, input side)
MODELS = {
    "mediapipe/modules/face_detection/face_detection_short_range.tflite":
        ("face_detection_short_range.onnx", 128),
    "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite":
        ("face_detection_full_range_sparse.onnx", 192),
    "mediapipe/modules/face_landmark/face_landmark.tflite": ("face_landmark.onnx", 192),
}


def densify(tflite: Path) -> Path:
    """The model with its sparse weights stored dense (tf2onnx crashes on DENSIFY).

    The full-range model keeps most convolution weights sparse and fp16: each is a constant fed
    through a DENSIFY op (and then DEQUANTIZE). TensorFlow Lite's interpreter computes every
    DENSIFY output once; those values become plain constant buffers and the DENSIFY ops are
    dropped. Other models are returned unchanged."""
    import numpy as np
    import tensorflow as tf
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(tflite))
    graph = model.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    dense_ops = [op for op in graph.operators
                 if codes[op.opcodeIndex] == schema.BuiltinOperator.DENSIFY]
    if not dense_ops:
        return tflite
    interp = tf.lite.Interpreter(str(tflite), experimental_preserve_all_tensors=True)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    interp.set_tensor(inp["index"], np.zeros(inp["shape"], inp["dtype"]))
    interp.invoke()
    for op in dense_ops:
        out = op.outputs[0]
        value = np.ascontiguousarray(interp.get_tensor(out))
        buf = schema.BufferT()
        buf.data = np.frombuffer(value.tobytes(), np.uint8)
        model.buffers.append(buf)
        graph.tensors[out].buffer = len(model.buffers) - 1
        graph.tensors[out].sparsity = None
        sparse_in = graph.tensors[op.inputs[0]]  # no longer read by any op: same dense data
        sparse_in.sparsity = None
        sparse_in.buffer = graph.tensors[out].buffer
    graph.operators = [op for op in graph.operators if op not in dense_ops]
    out_path = tflite.with_name(tflite.stem + "_dense.tflite")
    flatbuffer_utils.write_model(model, str(out_path))
    print(f"  densified {len(dense_ops)} sparse weights")
    return out_path


def convert(wheel: Path, member: str, work: Path) -> Path:
    import numpy as np

    name, side = MODELS[member]
    with zipfile.ZipFile(wheel) as zf:
        zf.extract(member, work)
    tflite = work / member
    _say_hash(tflite, member)
    tflite = densify(tflite)
    fp32 = work / name.replace(".onnx", "_fp32.onnx")
    _tf2onnx(["--tflite", str(tflite), "--output", str(fp32), "--opset", "13"])
    out = _staged(OUT_DIR / name)
    to_fp16(fp32, out, member)
    x = np.random.default_rng(0).random((1, side, side, 3), dtype=np.float32)
    check_against_tflite(work / member, out, x)
    return _replace(fp32, out, {_input_name(fp32): x})


def check_against_tflite(tflite: Path, onnx_path: Path, x) -> None:
    """The converted (fp16) model against TensorFlow Lite's interpreter on the original file:
    the largest difference of each output, printed."""
    import numpy as np
    import onnxruntime as ort
    import tensorflow as tf

    interp = tf.lite.Interpreter(str(tflite))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    ref = {tuple(d["shape"]): interp.get_tensor(d["index"]) for d in interp.get_output_details()}
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    for out in sess.run(None, {sess.get_inputs()[0].name: x}):
        a = ref[tuple(out.shape)]
        print(f"  ONNX fp16 vs TFLite: output {out.shape} max |diff| "
              f"{float(np.max(np.abs(a - out))):.4f} (output range {float(np.ptp(a)):.1f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel", type=Path, help="mediapipe-0.10.14-*.whl")
    parser.add_argument("--only", choices=sorted(v[0] for v in MODELS.values()), action="append",
                        help="convert only this file (repeatable)")
    args = parser.parse_args(argv)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    _say_hash(args.wheel, "PyPI mediapipe==0.10.14")
    outputs = []
    with tempfile.TemporaryDirectory() as tmp:
        for member, (name, _) in MODELS.items():
            if args.only and name not in args.only:
                continue
            outputs.append(convert(args.wheel, member, Path(tmp)))
    print("outputs:")
    for path in outputs:
        _say_hash(path, f"{path.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
