"""Do photomend's ONNX conversions of the UpscalerJS models compute what TF.js computes?

Runs every converted UpscalerJS ESRGAN model (slim/medium/thick x 2/3/4/8) and the original
TF.js layers-model (``@tensorflow/tfjs`` 4.11 in Node, CPU backend, the custom layers registered
exactly as UpscalerJS registers them) on the same inputs — a crop of a held-out benchmark photo
and uniform noise, both in [0, 1] — and writes the max |difference| to
``benchmarks/results_upscalerjs_parity.md``.

    python benchmarks/upscalerjs_parity.py              # needs node + npm (installs tfjs into
                                                        # benchmarks/.cache/tfjs, git-ignored)
    python benchmarks/upscalerjs_parity.py --make-test-fixture

The second form rebuilds ``tests/data/tfjs_tiny/`` (a tiny generated layers-model using every
layer type the converter knows, an input, and TF.js's output on it), which
``tests/test_upscale_published.py`` compares against offline.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
TFJS_DIR = CACHE / "tfjs"
FIXTURE = ROOT / "tests" / "data" / "tfjs_tiny"

REFERENCE_JS = r"""
// node reference.js MODEL_DIR INPUT.f32 H W INPUT_RANGE OUTPUT.f32
const tf = require('@tensorflow/tfjs');
const fs = require('fs');
const path = require('path');
const [dir, inFile, H, W, range, outFile] = process.argv.slice(2);
const first = (inputs) => (Array.isArray(inputs) ? inputs[0] : inputs);
// UpscalerJS's custom layers, as its esrgan model definitions register them
class MultiplyBeta extends tf.layers.Layer {
  constructor() { super({}); this.beta = 0.2; }
  call(inputs) { return tf.mul(first(inputs), this.beta); }
  static get className() { return 'MultiplyBeta'; }
}
tf.serialization.registerClass(MultiplyBeta);
for (const s of [2, 3, 4, 8]) {
  class PixelShuffle extends tf.layers.Layer {
    constructor() { super({}); this.scale = s; }
    computeOutputShape(shape) { return [shape[0], shape[1], shape[2], 3]; }
    call(inputs) { return tf.depthToSpace(first(inputs), this.scale, 'NHWC'); }
    static get className() { return `PixelShuffle${s}x`; }
  }
  tf.serialization.registerClass(PixelShuffle);
}
(async () => {
  await tf.setBackend('cpu');
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'model.json')));
  const specs = [], bufs = [];
  for (const g of meta.weightsManifest) {
    specs.push(...g.weights);
    for (const p of g.paths) bufs.push(fs.readFileSync(path.join(dir, p)));
  }
  const all = Buffer.concat(bufs);
  const data = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const model = await tf.loadLayersModel(tf.io.fromMemory(meta.modelTopology, specs, data));
  const raw = fs.readFileSync(inFile);
  const x = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const y = model.predict(tf.tensor4d(x, [1, +H, +W, 3]).mul(+range)).div(+range);
  fs.writeFileSync(outFile, Buffer.from(new Float32Array(await y.data()).buffer));
  console.log(JSON.stringify({shape: y.shape, backend: tf.getBackend(), tfjs: tf.version.tfjs}));
})();
"""


def ensure_tfjs() -> Path:
    """``@tensorflow/tfjs@4.11.0`` (UpscalerJS's peer dependency) under the git-ignored cache."""
    script = TFJS_DIR / "reference.js"
    if not (TFJS_DIR / "node_modules" / "@tensorflow" / "tfjs").is_dir():
        TFJS_DIR.mkdir(parents=True, exist_ok=True)
        (TFJS_DIR / "package.json").write_text('{"name": "photomend-tfjs-reference", '
                                               '"private": true}\n')
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "@tensorflow/tfjs@4.11.0"],
                       cwd=TFJS_DIR, check=True, capture_output=True)
    script.write_text(REFERENCE_JS)
    return script


def run_tfjs(model_dir: Path, x: np.ndarray, input_range: float) -> tuple[np.ndarray, dict]:
    """The TF.js layers-model in ``model_dir`` applied to ``x`` (HxWx3 in [0, 1])."""
    script = ensure_tfjs()
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "in.f32", Path(tmp) / "out.f32"
        np.ascontiguousarray(x, np.float32).tofile(inp)
        done = subprocess.run(["node", str(script), str(model_dir), str(inp), str(x.shape[0]),
                               str(x.shape[1]), str(input_range), str(out)],
                              cwd=TFJS_DIR, check=True, capture_output=True, text=True)
        info = json.loads(done.stdout.strip().splitlines()[-1])
        y = np.fromfile(out, np.float32).reshape(info["shape"][1:])
    return y, info


def run_onnx(path: Path, x: np.ndarray) -> np.ndarray:
    from photomend.nn import onnx as nn_onnx

    return nn_onnx.run_image(nn_onnx.session(path), x)


def test_inputs() -> dict[str, np.ndarray]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    inputs = {"noise 24x20": np.random.default_rng(0).random((24, 20, 3), np.float32)}
    try:
        from photos import load_photo

        photo = load_photo("skimage:astronaut")  # a benchmark photo (512 px), no download
        h, w = photo.shape[:2]
        inputs["photo crop 32x32 (astronaut)"] = photo[h // 2: h // 2 + 32, w // 2: w // 2 + 32].copy()
    except Exception as exc:  # noqa: BLE001 — the noise input is enough to compare
        print(f"(no benchmark photo: {exc})", file=sys.stderr)
    return inputs


def check_published(out_md: Path) -> None:
    from photomend import zoo
    from photomend.upscaling.zoo_entries import UPSCALERJS, upscalerjs_entry

    inputs = test_inputs()
    rows = []
    worst = 0.0
    for pkg in UPSCALERJS.values():
        for scale in pkg.scales:
            name = upscalerjs_entry(pkg.size, scale)
            if zoo.installed_path(name) is None:
                zoo.fetch_model(name)
            onnx_path = zoo.model_path(name)
            tgz = zoo.cache_dir() / "downloads" / pkg.tarball
            with tempfile.TemporaryDirectory() as tmp, tarfile.open(tgz) as tar:
                members = [m for m in tar.getmembers()
                           if m.name.startswith(f"package/models/x{scale}/")]
                tar.extractall(tmp, members=members, filter="data")
                model_dir = Path(tmp) / "package" / "models" / f"x{scale}"
                for label, x in inputs.items():
                    t0 = time.perf_counter()
                    ref, info = run_tfjs(model_dir, x, pkg.input_range)
                    t_tfjs = time.perf_counter() - t0
                    got = run_onnx(onnx_path, x)
                    diff = float(np.abs(got - ref).max())
                    worst = max(worst, diff)
                    rows.append((name, label, f"{diff:.2e}", info["tfjs"]))
                    print(name, label, f"max|diff| {diff:.2e}", f"(tfjs {t_tfjs:.1f} s)")
    lines = [
        "# UpscalerJS models: photomend's ONNX conversion vs the original TF.js model",
        "",
        "Command: `python benchmarks/upscalerjs_parity.py` (TF.js CPU backend in Node; "
        "inputs in [0, 1]; outputs compared in [0, 1] before clipping).",
        "",
        "| model | input | max abs diff | tfjs |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
        f"Worst case: **{worst:.2e}** (target <= 1e-3).",
        "",
    ]
    out_md.write_text("\n".join(lines))
    print(f"wrote {out_md}; worst {worst:.2e}")


# --- the tiny test fixture ----------------------------------------------------------------
def _conv(name, inbound, filters, kernel, activation="linear"):
    return {"class_name": "Conv2D", "name": name, "inbound_nodes": [[[inbound, 0, 0, {}]]],
            "config": {"name": name, "filters": filters, "kernel_size": [kernel, kernel],
                       "strides": [1, 1], "padding": "same", "data_format": "channels_last",
                       "dilation_rate": [1, 1], "groups": 1, "activation": activation,
                       "use_bias": True}}


def _layer(kind, name, inbound, **config):
    return {"class_name": kind, "name": name,
            "inbound_nodes": [[[i, 0, 0, {}] for i in inbound]] if inbound else [],
            "config": {"name": name, **config}}


def make_fixture() -> None:
    """A tiny layers-model with every supported layer type, its input and TF.js's output."""
    rng = np.random.default_rng(3)
    layers = [
        _layer("InputLayer", "LR", [], batch_input_shape=[None, None, None, 3],
               dtype="float32"),
        _conv("F_m1", "LR", 8, 3),
        _conv("F_1", "F_m1", 4, 3, activation="relu"),
        _conv("F_even", "F_m1", 4, 2),  # even kernel: TF's SAME pads more at the end
        _layer("Activation", "F_even_relu", ["F_even"], activation="relu"),
        _conv("F_1x1", "F_m1", 4, 1),
        _layer("LeakyReLU", "F_1x1_lrelu", ["F_1x1"], alpha=0.1),
        _layer("Concatenate", "Concat", ["F_m1", "F_1", "F_even_relu", "F_1x1_lrelu"], axis=3),
        _conv("LFF", "Concat", 8, 3),
        _layer("MultiplyBeta", "multiply_beta", ["LFF"], beta=0.2),
        _layer("Add", "LRL", ["F_m1", "multiply_beta"]),
        _layer("UpSampling2D", "UPsample", ["LRL"], size=[2, 2], data_format="channels_last",
               interpolation="nearest"),
        _conv("UP_conv", "UPsample", 3, 3, activation="tanh"),
        _conv("PreShuffle", "LRL", 12, 3),
        _layer("PixelShuffle2x", "pixel_shuffle", ["PreShuffle"], scale=2),
        _layer("Add", "SR", ["UP_conv", "pixel_shuffle"]),
    ]
    weights, blobs = [], []
    for layer in layers:
        if layer["class_name"] != "Conv2D":
            continue
        cfg = layer["config"]
        cin = {"LR": 3, "F_m1": 8, "Concat": 20, "UPsample": 8, "LRL": 8}[
            layer["inbound_nodes"][0][0][0]]
        k = cfg["kernel_size"][0]
        kernel = rng.normal(0, 0.3, (k, k, cin, cfg["filters"])).astype(np.float32)
        bias = rng.normal(0, 0.1, cfg["filters"]).astype(np.float32)
        for suffix, arr in (("kernel", kernel), ("bias", bias)):
            weights.append({"name": f"{cfg['name']}/{suffix}", "shape": list(arr.shape),
                            "dtype": "float32"})
            blobs.append(arr.tobytes())
    half = len(weights) // 2  # two weight groups, to exercise multi-shard reading
    model = {
        "format": "layers-model", "generatedBy": "photomend test fixture",
        "convertedBy": "benchmarks/upscalerjs_parity.py --make-test-fixture",
        "modelTopology": {"keras_version": "2.11.0", "backend": "tensorflow",
                          "model_config": {"class_name": "Functional", "config": {
                              "name": "tiny", "layers": layers, "input_layers": [["LR", 0, 0]],
                              "output_layers": [["SR", 0, 0]]}}},
        "weightsManifest": [
            {"paths": ["group1-shard1of1.bin"], "weights": weights[:half]},
            {"paths": ["group2-shard1of1.bin"], "weights": weights[half:]},
        ],
    }
    if FIXTURE.exists():
        shutil.rmtree(FIXTURE)
    FIXTURE.mkdir(parents=True)
    (FIXTURE / "model.json").write_text(json.dumps(model, indent=1) + "\n")
    (FIXTURE / "group1-shard1of1.bin").write_bytes(b"".join(blobs[:half]))
    (FIXTURE / "group2-shard1of1.bin").write_bytes(b"".join(blobs[half:]))
    x = np.random.default_rng(4).random((7, 9, 3), np.float32)
    for input_range in (1.0, 255.0):
        y, info = run_tfjs(FIXTURE, x, input_range)
        np.save(FIXTURE / f"tfjs_output_range{int(input_range)}.npy", y)
    np.save(FIXTURE / "input.npy", x)
    print(f"wrote {FIXTURE} (TF.js {info['tfjs']}, output {y.shape})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--make-test-fixture", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" /
                        "results_upscalerjs_parity.md")
    args = parser.parse_args()
    if args.make_test_fixture:
        make_fixture()
    else:
        check_published(args.out)


if __name__ == "__main__":
    main()
