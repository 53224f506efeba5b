"""Would int8 quantisation of Real-ESRGAN x4plus's trunk keep its quality? (It is ~3x faster.)

    python benchmarks/int8_x4plus.py            # needs realesrgan-x4plus installed

Static quantisation with ONNX Runtime (QDQ, per-channel int8 weights, uint8 activations,
min/max calibration) of every convolution but the first and the last four, calibrated on
18 random 48x48 crops of six *non*-held-out mate-backgrounds photos downscaled x4; then the
fp32 and int8 networks upscale the centre 64x64 (x4 -> 256x256) of four scikit-image photos
downscaled x4 (bicubic), and the Y-PSNR (BT.601, 4 px border cropped, 8-bit) of each against
the original is printed, with the int8 vs fp32 PSNR and the time of each. The issue's bar:
int8 within 0.1 dB Y-PSNR of fp32. Prints a Markdown table; writes nothing.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from photos import NATURE_DIR, mate_root  # noqa: E402

from photomend import zoo  # noqa: E402

CALIBRATION = ("Blinds.jpg", "Dune.jpg", "FreshFlower.jpg", "GreenMeadow.jpg", "LadyBird.jpg",
               "RainDrops.jpg")  # none is held out (photos.HELD_OUT_NATURE)
TEST = ("astronaut", "coffee", "chelsea", "rocket")


def calibration_tiles() -> list[np.ndarray]:
    root = mate_root()
    rng = np.random.default_rng(0)
    tiles = []
    for name in CALIBRATION:
        im = Image.open(root / NATURE_DIR / name).convert("RGB")
        im = im.resize((im.width // 4, im.height // 4), Image.BICUBIC)
        a = np.asarray(im, np.float32) / 255
        for _ in range(3):
            y, x = rng.integers(0, a.shape[0] - 48), rng.integers(0, a.shape[1] - 48)
            tiles.append(a[y:y + 48, x:x + 48].transpose(2, 0, 1)[None].copy())
    return tiles


def quantize(src: Path, dest: Path) -> None:
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter([{"image": t} for t in calibration_tiles()])

        def get_next(self):
            return next(self.feeds, None)

    convs = [n.name for n in onnx.load(str(src)).graph.node if n.op_type == "Conv"]
    quantize_static(str(src), str(dest), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, nodes_to_exclude=convs[:1] + convs[-4:],
                    calibrate_method=CalibrationMethod.MinMax)


def y_psnr(a: np.ndarray, b: np.ndarray) -> float:
    w = np.array([65.481, 128.553, 24.966], np.float32)
    ya, yb = (a @ w)[4:-4, 4:-4], (b @ w)[4:-4, 4:-4]
    return float(10 * np.log10(255.0**2 / np.mean((ya - yb) ** 2)))


def main() -> None:
    import onnxruntime as ort
    import skimage.data

    fp32 = zoo.model_path("realesrgan-x4plus")
    with tempfile.TemporaryDirectory() as tmp:
        int8 = Path(tmp) / "x4plus_int8.onnx"
        quantize(fp32, int8)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        sessions = {k: ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"])
                    for k, p in (("fp32", fp32), ("int8", int8))}
        print("| photo | fp32 Y-PSNR | int8 Y-PSNR | int8 - fp32 (dB) | int8 vs fp32 PSNR | "
              "fp32 s | int8 s |\n|---|---|---|---|---|---|---|")
        for name in TEST:
            im = getattr(skimage.data, name)()[..., :3]
            h, w = im.shape[:2]
            hr = Image.fromarray(im).crop((w // 2 - 128, h // 2 - 128, w // 2 + 128, h // 2 + 128))
            lr = np.asarray(hr.resize((64, 64), Image.BICUBIC), np.float32) / 255
            truth = np.asarray(hr, np.float32) / 255
            outs, secs = {}, {}
            for key, sess in sessions.items():
                start = time.perf_counter()
                y = sess.run(None, {"image": lr.transpose(2, 0, 1)[None].copy()})[0][0]
                secs[key] = time.perf_counter() - start
                outs[key] = np.round(np.clip(y.transpose(1, 2, 0), 0, 1) * 255) / 255
            p32, p8 = y_psnr(outs["fp32"], truth), y_psnr(outs["int8"], truth)
            print(f"| {name} | {p32:.2f} | {p8:.2f} | {p8 - p32:+.2f} | "
                  f"{y_psnr(outs['int8'], outs['fp32']):.1f} | {secs['fp32']:.1f} | "
                  f"{secs['int8']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
