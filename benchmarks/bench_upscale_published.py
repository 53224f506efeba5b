"""Published super-resolution weights vs bicubic and our compact CNN, on held-out photos.

    python benchmarks/bench_upscale_published.py                # all three UpscalerJS sizes
    python benchmarks/bench_upscale_published.py --models bicubic,compact   # refresh some rows

Writes ``benchmarks/results_upscale_published.md`` (+ ``.json``). The protocol and helpers are
those of ``bench_upscale.py`` (antialiased bicubic downscale, 8-bit, Y-channel PSNR/SSIM with
``scale`` border pixels cropped, the same held-out photos); this script only restricts the
models to the published ones (installed: ``photomend models fetch esrgan-medium-x4`` ...), our
compact CNN and the bicubic/lanczos peers, all measured in the same run, and times them on a
smaller input because the published networks are heavy: ``--speed-size`` (default 480x270,
0.13 MP) upscaled in a fresh process per model and scale with the model's default tiles.
``--models`` re-measures only the named models and keeps the other rows of the last run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import bench_upscale as bench
from photos import CACHE, benchmark_photos, elephants_4k, load_photo

from photomend.upscaling import upscaler_class

MODELS = ("bicubic", "lanczos", "compact", "esrgan-slim", "esrgan-medium", "esrgan-thick")
SCALES = (2, 3, 4)


def quality(models, photos, scales) -> list[dict]:
    truths = {p: np.rint(load_photo(p) * 255).astype(np.uint8) for p in photos}
    rows = []
    for name in models:
        cls = upscaler_class(name)
        for scale in scales:
            if scale not in cls.installed_scales():
                print(f"{name} x{scale}: not installed, skipped", flush=True)
                continue
            rows.append({"model": name, "scale": scale,
                         **bench.measure_quality(name, scale, truths), "cost": cls.traits.cost,
                         "measured": dt.datetime.now().strftime("%Y-%m-%d %H:%M")})
            print(f"{name} x{scale}: PSNR-Y {rows[-1]['psnr']:.3f} SSIM {rows[-1]['ssim']:.4f} "
                  f"({rows[-1]['seconds']:.0f} s)", flush=True)
    return rows


def speed(models, scales, size: tuple[int, int], timeout: float) -> list[dict]:
    w, h = size
    path = CACHE / f"upscale_speed_{w}x{h}.png"
    if not path.exists():
        big = np.asarray(Image.open(elephants_4k()).convert("RGB"))
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA)).save(path)
    rows = []
    for name in models:
        ready = upscaler_class(name).installed_scales()
        for scale in scales:
            if scale not in ready:
                continue
            rec = {"model": name, "scale": scale,
                   **bench.time_in_subprocess(name, scale, path, timeout=timeout)}
            rows.append(rec)
            if rec["status"] != "ok":
                continue
            print(f"speed {name} x{scale}: {rec['seconds']:.2f} s, {rec['out_mp_s']:.3f} MP/s, "
                  f"peak RSS {rec['peak_rss_mb']:.0f} MB", flush=True)
    return rows


def _merge(old: list[dict], new: list[dict], models) -> list[dict]:
    kept = [r for r in old if r["model"] not in models]
    return kept + new


def write_markdown(result: dict, path: Path) -> None:
    env = result["env"]
    q = result["quality"]
    base = {r["scale"]: r for r in q if r["model"] == "bicubic"}
    compact = {r["scale"]: r for r in q if r["model"] == "compact"}
    lines = [
        "# Published super-resolution models vs bicubic and our compact CNN",
        "",
        f"Written by `python benchmarks/bench_upscale_published.py` on {env['date']} at commit "
        f"{env['commit']}; {env['cpu']}, {env['cores']} cores shared with other work (times are "
        f"noisy), onnxruntime {env['onnxruntime']}, {env['threads']} threads. Protocol of "
        "`bench_upscale.py`: antialiased bicubic downscale (8-bit), upscale, Y-channel (BT.601) "
        "PSNR/SSIM with `scale` border pixels cropped, mean over the photos.",
        "",
        "Quality is deterministic, so rows re-measured later with `--models` (see the "
        "`measured` column; the compact CNN's weights were still being trained) compare with "
        "the others.",
        "",
        f"Photos ({len(result['photos'])}, held out from training): "
        f"{', '.join(result['photos'])}.",
        "",
        "| model | scale | PSNR-Y (dB) | SSIM-Y | vs bicubic (dB) | vs compact (dB) | "
        "min / max vs bicubic | cost | measured |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(q, key=lambda r: (r["scale"], r["psnr"])):
        b = base.get(r["scale"])
        c = compact.get(r["scale"])
        gains = [r["per_photo"][p] - b["per_photo"][p] for p in r["per_photo"]] if b else [0]
        vs_c = f"{r['psnr'] - c['psnr']:+.2f}" if c else "n/a"
        vs_b = f"{r['psnr'] - b['psnr']:+.2f}" if b else "n/a"
        lines.append(f"| {r['model']} | x{r['scale']} | {r['psnr']:.2f} | {r['ssim']:.4f} | "
                     f"{vs_b} | {vs_c} | {min(gains):+.2f} / {max(gains):+.2f} | {r['cost']} | "
                     f"{r.get('measured', '')} |")
    if result["speed"]:
        w, h = result["speed_size"]
        lines += [
            "",
            f"## Speed ({w}x{h} input, {w * h / 1e6:.2f} MP)",
            "",
            "Fresh process per row, default tiles, 8-bit output, timed after a warm-up call; "
            "output megapixels per second; peak RSS = VmHWM of that process.",
            "",
            "| model | scale | time (s) | output MP/s | peak RSS (MB) |",
            "|---|---|---|---|---|",
        ]
        for r in sorted(result["speed"], key=lambda r: (r["scale"], r["model"])):
            if r["status"] != "ok":
                lines.append(f"| {r['model']} | x{r['scale']} | {r['status']} | | |")
            else:
                lines.append(f"| {r['model']} | x{r['scale']} | {r['seconds']:.2f} | "
                             f"{r['out_mp_s']:.3f} | {r['peak_rss_mb']:.0f} |")
    # keep the section bench_ncnn_speed.py writes between its markers
    old = path.read_text() if path.exists() else ""
    begin, end = "<!-- ncnn-speed -->", "<!-- /ncnn-speed -->"
    if begin in old and end in old:
        lines += ["", old[old.index(begin):old.index(end) + len(end)]]
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--scales", default=",".join(map(str, SCALES)))
    ap.add_argument("--quick", action="store_true", help="two skimage photos")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--speed-size", default="480x270")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--out", type=Path, default=HERE / "results_upscale_published.md")
    args = ap.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    scales = tuple(int(s) for s in args.scales.split(","))
    size = tuple(int(v) for v in args.speed_size.split("x"))
    photos = benchmark_photos(quick=args.quick)
    json_path = args.out.with_suffix(".json")
    old = json.loads(json_path.read_text()) if json_path.exists() else {}
    if old and (old.get("photos") != photos or tuple(old.get("speed_size", ())) != size):
        old = {}  # another protocol: start afresh
    rows = quality(models, photos, scales)
    speed_rows = [] if args.no_speed else speed(models, scales, size, args.timeout)
    result = {
        "env": bench.environment(), "photos": photos, "speed_size": list(size),
        "quality": _merge(old.get("quality", []), rows, models),
        "speed": _merge(old.get("speed", []), speed_rows, models if speed_rows else []),
    }
    json_path.write_text(json.dumps(result, indent=1) + "\n")
    write_markdown(result, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
