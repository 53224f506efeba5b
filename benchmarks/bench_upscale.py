"""Super-resolution benchmark: quality on held-out photos, speed and peak memory on 2 MP.

    python benchmarks/bench_upscale.py            # writes benchmarks/results_upscale.md (+ .json)
    python benchmarks/bench_upscale.py --quick    # two skimage photos, x2 only, no speed part

Protocol (the standard SR one): each held-out photo (the five skimage colour photos and the
held-out mate-backgrounds nature photos, long side 512 px, see photos.py) is cropped to a
multiple of the scale, downscaled with antialiased bicubic (PIL ``BICUBIC``, the MATLAB
``imresize`` convention; 8-bit result), upscaled back by every model, rounded to 8 bits, and
compared with the original on the Y channel of BT.601 YCbCr (16-235) with ``scale`` pixels
cropped from every border: PSNR (peak 255) and SSIM (Wang et al.: Gaussian window, sigma 1.5).
Every registered upscaler is measured (zoo models only when installed; others are listed with
the command that installs them); ``bicubic`` is always in the same run, and each row gives its
gain over bicubic on the same photos.

Speed: a 2-megapixel input (the held-out Elephants photo, 1920x1080) upscaled in a fresh
subprocess per model and scale, with the model's default tiling and 8-bit output (what the CLI
does); time of the upscale call after a warm-up call on a small image, output megapixels per
second, and the subprocess's peak RSS (VmHWM: interpreter, imports, input and output
included). Models marked slow are timed on a 0.5 MP input instead (noted in the table).

Target speed: x2 of a 1-megapixel photo (1333x750) with ``compact`` and ``bicubic`` in fresh
subprocesses, median of 5 timed calls after a warm-up (target: <= 1.5 s on 2 cores).

Big: ``photomend upscale`` of a 6000x4000 JPEG x2 with the default model, in a fresh process
(wall time, peak RSS; target <= 2 GB).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from photos import CACHE, benchmark_photos, elephants_4k, load_photo, mate_source  # noqa: E402

from photomend.upscaling import available_upscalers, upscaler_class  # noqa: E402
from photomend.upscaling.api import upscale_array  # noqa: E402

SCALES = (2, 3, 4)
SPEED_SIZES = {"2 MP": (1920, 1080), "0.5 MP": (960, 540), "1 MP": (1333, 750)}
SLOW = ("slow", "very slow")


def bicubic_down(hr_u8: np.ndarray, scale: int) -> np.ndarray:
    """The degradation (same as training/train_sr.py): antialiased bicubic, 8-bit result."""
    h, w = hr_u8.shape[:2]
    return np.asarray(Image.fromarray(hr_u8).resize((w // scale, h // scale), Image.BICUBIC))


def y_channel(rgb_u8: np.ndarray) -> np.ndarray:
    """BT.601 luma in [16, 235] (float64), as in the SR literature (MATLAB rgb2ycbcr)."""
    rgb = rgb_u8.astype(np.float64) / 255.0
    return 16.0 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]


def psnr_y(a: np.ndarray, b: np.ndarray, border: int) -> float:
    ya, yb = (y_channel(x)[border:-border, border:-border] for x in (a, b))
    mse = float(np.mean((ya - yb) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def ssim_y(a: np.ndarray, b: np.ndarray, border: int) -> float:
    from skimage.metrics import structural_similarity

    ya, yb = (y_channel(x)[border:-border, border:-border] for x in (a, b))
    return float(structural_similarity(ya, yb, data_range=255.0, gaussian_weights=True,
                                       sigma=1.5, use_sample_covariance=False))


def quality(photos: list[str], scales: tuple[int, ...]) -> tuple[list[dict], list[str]]:
    """Per (model, scale): mean Y-PSNR / SSIM over ``photos`` and the gain over bicubic."""
    truths = {p: np.rint(load_photo(p) * 255).astype(np.uint8) for p in photos}
    rows, notes = [], []
    for name, traits in available_upscalers().items():
        cls = upscaler_class(name)
        ready = cls.installed_scales()
        for scale in scales:
            if scale not in traits.scales:
                continue
            if scale not in ready:
                try:
                    cls.check(scale)
                    why = "not ready"
                except Exception as exc:  # noqa: BLE001  (ModelMissingError: say how to get it)
                    why = str(exc)
                notes.append(f"`{name}` x{scale} skipped: {why}")
                continue
            row = measure_quality(name, scale, truths)
            row["per_photo"] = {p: round(v, 3) for p, v in row["per_photo"].items()}
            rows.append({"model": name, "scale": scale, **row, "cost": traits.cost})
            print(f"{name} x{scale}: PSNR-Y {rows[-1]['psnr']:.3f} SSIM {rows[-1]['ssim']:.4f}",
                  flush=True)
    for r in rows:
        base = next(b for b in rows if b["model"] == "bicubic" and b["scale"] == r["scale"])
        r["gain"] = r["psnr"] - base["psnr"]
        r["gain_per_photo"] = {p: r["per_photo"][p] - base["per_photo"][p] for p in r["per_photo"]}
    return rows, notes


def measure_quality(name: str, scale: int, truths: dict[str, np.ndarray]) -> dict:
    """Mean Y-PSNR / SSIM of model ``name`` at ``scale`` over ``truths`` (photo -> uint8 HR),
    each bicubic-downscaled and upscaled back; per-photo PSNR and the time taken too."""
    psnrs, ssims, per_photo, t0 = [], [], {}, time.perf_counter()
    for p, hr in truths.items():
        h, w = (hr.shape[0] // scale) * scale, (hr.shape[1] // scale) * scale
        hr = hr[:h, :w]
        lr = bicubic_down(hr, scale).astype(np.float32) / 255.0
        sr = upscale_array(lr, scale, model=name, out_dtype=np.uint8)
        psnrs.append(psnr_y(sr, hr, scale))
        ssims.append(ssim_y(sr, hr, scale))
        per_photo[p] = psnrs[-1]
    return {"psnr": float(np.mean(psnrs)), "ssim": float(np.mean(ssims)),
            "per_photo": per_photo, "seconds": time.perf_counter() - t0}


def time_in_subprocess(name: str, scale: int, path: Path, *, timeout: float,
                       repeats: int = 1) -> dict:
    """Run ``--speed-worker`` on ``path`` in a fresh process: its measurements with
    ``status='ok'``, or just a ``status`` saying why there are none."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--speed-worker", name, str(scale),
           str(path), "--repeats", str(repeats)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": f"timed out (> {timeout:.0f} s)"}
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"status": f"failed: {last[0][:200]}"}
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "status": "ok"}


def speed_input(label: str) -> Path:
    path = CACHE / f"upscale_speed_{label.replace(' ', '')}.png"
    if not path.exists():
        w, h = SPEED_SIZES[label]
        big = np.asarray(Image.open(elephants_4k()).convert("RGB"))
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA)).save(path)
    return path


def speed(scales: tuple[int, ...], *, timeout: float, models: list[str] | None = None) -> list[dict]:
    rows = []
    for name, traits in available_upscalers().items():
        if models and name not in models:
            continue
        ready = upscaler_class(name).installed_scales()
        label = "0.5 MP" if traits.cost in SLOW else "2 MP"
        path = speed_input(label)
        for scale in scales:
            if scale not in ready:
                continue
            rec = {"model": name, "scale": scale, "input": label,
                   **time_in_subprocess(name, scale, path, timeout=timeout)}
            rows.append(rec)
            if rec["status"] != "ok":
                continue
            print(f"speed {name} x{scale}: {rec['seconds']:.2f} s, {rec['out_mp_s']:.2f} MP/s, "
                  f"peak RSS {rec['peak_rss_mb']:.0f} MB", flush=True)
    return rows


def big_run(model: str, *, timeout: float) -> dict:
    """``photomend upscale`` of a 6000x4000 JPEG x2 (the CLI path: decode, tiles, 8-bit output,
    JPEG encode) in a fresh process: wall time and peak RSS (target: <= 2 GB)."""
    src = CACHE / "upscale_6000x4000.jpg"
    if not src.exists():
        big = Image.open(elephants_4k()).convert("RGB").resize((6000, 4000), Image.BICUBIC)
        big.save(src, quality=92)
    out = CACHE / "upscale_6000x4000_x2.jpg"
    out.unlink(missing_ok=True)
    code = (
        "import json, time\n"
        "from photomend.cli import main\n"
        "t = time.perf_counter()\n"
        f"rc = main(['upscale', {str(src)!r}, '-s', '2', '-o', {str(out)!r}, '--model', "
        f"{model!r}, '-q'])\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print(json.dumps({'rc': rc, 'seconds': time.perf_counter() - t, "
        "'peak_rss_mb': int(hwm) / 1024}))\n"
    )
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"model": model, "status": f"timed out (> {timeout:.0f} s)"}
    if done.returncode != 0:
        return {"model": model, "status": f"failed: {done.stderr.strip()[-200:]}"}
    rec = json.loads(done.stdout.strip().splitlines()[-1])
    out.unlink(missing_ok=True)
    print(f"6000x4000 x2 {model}: {rec['seconds']:.1f} s, peak RSS {rec['peak_rss_mb']:.0f} MB",
          flush=True)
    return {"model": model, "status": "ok" if rec["rc"] == 0 else f"exit {rec['rc']}", **rec}


def one_mp_target(*, timeout: float) -> list[dict]:
    """The issue's speed target: x2 of a 1 MP photo, compact against bicubic in the same run."""
    rows = []
    for name in ("bicubic", "compact"):
        rec = {"model": name, "scale": 2, "input": "1 MP",
               **time_in_subprocess(name, 2, speed_input("1 MP"), timeout=timeout, repeats=5)}
        rows.append(rec)
        if rec["status"] == "ok":
            print(f"1 MP x2 {name}: median {rec['seconds']:.2f} s", flush=True)
    return rows


def speed_worker(name: str, scale: int, path: str, repeats: int = 1) -> None:
    """Run in a fresh process: one warm-up call, ``repeats`` timed calls (median), then VmHWM."""
    rgb = np.asarray(Image.open(path).convert("RGB"), np.float32) / 255.0
    upscale_array(rgb[:64, :64], scale, model=name, out_dtype=np.uint8)
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = upscale_array(rgb, scale, model=name, out_dtype=np.uint8)
        times.append(time.perf_counter() - t0)
    seconds = float(np.median(times))
    print(json.dumps({"seconds": seconds, "out_mp_s": out.shape[0] * out.shape[1] / 1e6 / seconds,
                      "in_size": f"{rgb.shape[1]}x{rgb.shape[0]}",
                      "peak_rss_mb": _vmhwm_mb()}))


def _vmhwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_markdown(result: dict, path: Path) -> None:
    env = result["env"]
    lines = [
        "# Upscale benchmark",
        "",
        f"Written by `python benchmarks/bench_upscale.py` on {env['date']} at commit "
        f"{env['commit']}; {env['cpu']}, {env['cores']} cores (shared with other work, so "
        f"times are noisy), Python {env['python']}, onnxruntime {env['onnxruntime']}, "
        f"ONNX Runtime threads {env['threads']}.",
        "",
        "## Quality (held-out photos, bicubic degradation)",
        "",
        f"Photos ({len(result['photos'])}): {', '.join(result['photos'])} (long side 512 px; "
        f"mate-backgrounds from {env['photos_deb']}). Mean over the photos of Y-channel (BT.601) "
        "PSNR and SSIM with `scale` border pixels cropped; gain = PSNR − bicubic's PSNR on the "
        "same photos in this run; min/max gain over the photos.",
        "",
        "| model | scale | PSNR-Y (dB) | SSIM-Y | gain vs bicubic (dB) | min / max gain | cost |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(result["quality"], key=lambda r: (r["scale"], r["psnr"])):
        g = list(r["gain_per_photo"].values())
        lines.append(f"| {r['model']} | x{r['scale']} | {r['psnr']:.2f} | {r['ssim']:.4f} | "
                     f"{r['gain']:+.2f} | {min(g):+.2f} / {max(g):+.2f} | {r['cost']} |")
    for note in result["notes"]:
        lines.append(f"\n{note}")
    if result["speed"]:
        lines += [
            "",
            "## Speed and memory",
            "",
            "Input: the held-out Elephants photo resized to 1920x1080 (2 MP; 960x540 for slow "
            "models), upscaled in a fresh process with the model's default tiles and 8-bit output. "
            "Time of the upscale call after a warm-up call (ONNX session created); MP/s = output "
            "megapixels per second; peak RSS = VmHWM of that process (Python, imports, input and "
            "output included).",
            "",
            *([f"Speed measured for: {', '.join(result['speed_models'])} "
               "(`--speed-models`); the other models were not timed in this run.", ""]
              if result.get("speed_models") else []),
            "| model | scale | input | time (s) | output MP/s | peak RSS (MB) |",
            "|---|---|---|---|---|---|",
        ]
        for r in result["speed"]:
            if r["status"] != "ok":
                lines.append(f"| {r['model']} | x{r['scale']} | {r['input']} | {r['status']} | | |")
                continue
            lines.append(f"| {r['model']} | x{r['scale']} | {r['in_size']} | {r['seconds']:.2f} | "
                         f"{r['out_mp_s']:.2f} | {r['peak_rss_mb']:.0f} |")
    target = result.get("one_mp")
    if target:
        ok = {r["model"]: r for r in target if r["status"] == "ok"}
        lines += ["", "## Target: x2 of a 1-megapixel photo", "",
                  "1333x750 input (the held-out Elephants photo, area-downscaled), fresh process, "
                  "median of 5 calls after a warm-up; default tiles, 8-bit output. Target: "
                  "compact <= 1.5 s on 2 cores.", "",
                  "| model | median time (s) | × bicubic |", "|---|---|---|"]
        base = ok.get("bicubic", {}).get("seconds")
        for r in target:
            if r["status"] != "ok":
                lines.append(f"| {r['model']} | {r['status']} | |")
                continue
            ratio = f"{r['seconds'] / base:.1f}" if base else ""
            lines.append(f"| {r['model']} | {r['seconds']:.2f} | {ratio} |")
        if "compact" in ok:
            verdict = "met" if ok["compact"]["seconds"] <= 1.5 else "NOT met"
            lines.append(f"\nVerdict: {ok['compact']['seconds']:.2f} s, target <= 1.5 s: "
                         f"**{verdict}**.")
    big = result.get("big")
    if big:
        lines += ["", "## 6000x4000 x2 through the CLI", "",
                  "`photomend upscale big.jpg -s 2 -o out.jpg` (24 MP JPEG in, 96 MP JPEG out; "
                  "decode, tiles, 8-bit output, encode) in a fresh process. Target: peak RSS "
                  "<= 2 GB.", "", "| model | status | wall time (s) | peak RSS (MB) |",
                  "|---|---|---|---|"]
        for r in big:
            lines.append(f"| {r['model']} | {r['status']} | {r.get('seconds', float('nan')):.1f} "
                         f"| {r.get('peak_rss_mb', float('nan')):.0f} |")
    path.write_text("\n".join(lines) + "\n")


def environment() -> dict:
    import onnxruntime

    from photomend.nn.onnx import num_threads

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=HERE, capture_output=True,
                                  text=True).stdout.strip()
        except OSError:
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no", "--", "../src"):
        commit += " + uncommitted changes in src/"
    cpu = next((ln.split(":", 1)[1].strip() for ln in
                Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")),
               platform.processor())
    return {"date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "commit": commit, "cpu": cpu,
            "cores": os.cpu_count(), "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__, "threads": num_threads(),
            "photos_deb": mate_source()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="two skimage photos, x2, no speed")
    ap.add_argument("--no-speed", action="store_true", help="skip the speed/memory part")
    ap.add_argument("--timeout", type=float, default=600, help="per speed run, seconds")
    ap.add_argument("--speed-models", default="",
                    help="comma-separated models for the speed part (default: every installed one)")
    ap.add_argument("--out", type=Path, default=HERE / "results_upscale.md")
    ap.add_argument("--speed-worker", nargs=3, metavar=("MODEL", "SCALE", "IMAGE"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--repeats", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.speed_worker:
        name, scale, path = args.speed_worker
        speed_worker(name, int(scale), path, args.repeats)
        return 0
    photos = benchmark_photos(quick=args.quick)
    scales = (2,) if args.quick else SCALES
    env = environment()
    rows, notes = quality(photos, scales)
    speed_models = [m for m in args.speed_models.split(",") if m] or None
    speed_rows = [] if (args.quick or args.no_speed) else speed(scales, timeout=args.timeout,
                                                                  models=speed_models)
    one_mp = [] if (args.quick or args.no_speed) else one_mp_target(timeout=args.timeout)
    big = [] if (args.quick or args.no_speed) else [big_run("compact", timeout=args.timeout)]
    result = {"env": env, "photos": photos, "quality": rows, "notes": notes, "speed": speed_rows,
              "one_mp": one_mp, "big": big, "speed_models": speed_models}
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    write_markdown(result, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
