"""Video super-resolution benchmark: held-out clips, bicubic vs our single-frame ``compact`` vs
the multi-frame ``compact-vsr``, in one run; temporal flicker; frames/s and peak memory.

    python benchmarks/bench_video.py            # dev clips only -> results_video_dev.md
    python benchmarks/bench_video.py --final    # also vtest.avi frames >= 400, once at the end
                                                # -> results_video.md (+ .json)

Clips (none seen in training, see training/train_vsr.py):

* ``tree`` -- the last 24 frames of Debian opencv-doc's ``tree.avi`` (320x240, hand-held);
* ``Megamind`` -- the last 40 frames of ``Megamind.avi`` (720x528, animated film);
* ``pan`` -- 30 frames rendered from a held-out mate-backgrounds photo with a slow pan, zoom
  and rotation (640x360);
* ``vtest`` (``--final`` only) -- ``vtest.avi`` frames 400-519 (768x576, static camera,
  people walking): the held-out frames, run once for the final table.

Protocol: frames cropped to a multiple of 4, downscaled x2 or x4 with antialiased bicubic (PIL,
8-bit: the degradation used in training and in bench_upscale.py), upscaled back, rounded to 8
bits, scored against the originals on the BT.601 Y channel with ``scale`` pixels of border
cropped: PSNR and SSIM, averaged over frames. Flicker: the warping error between consecutive
output frames -- frame t-1 warped onto frame t by DIS flow computed on the *original* frames,
mean |Y difference| in 8-bit levels over pixels whose flow passes a forward-backward check
(occlusions excluded); the originals' own warping error is the floor.

Speed: ``upscale_video`` end to end (decode, upscale, H.264 encode) of a 640x360 clip in a
fresh subprocess per model and scale; frames/s and peak RSS (VmHWM). Memory flatness:
``compact-vsr`` x2 on a short and an 8x longer 320x180 clip.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "src"))
from benchmarks.bench_upscale import (  # noqa: E402
    bicubic_down,
    environment,
    psnr_y,
    ssim_y,
    y_channel,
)
from benchmarks.photos import HELD_OUT_NATURE, NATURE_DIR, mate_root, opencv_doc_data  # noqa: E402

MODELS = ("bicubic", "compact", "compact-vsr")
SCALES = (2, 4)


def clip_frames(name: str, first: int, last: int | None) -> np.ndarray:
    """RGB uint8 frames [first, last) of an opencv-doc clip (last=None: to the end)."""
    path = opencv_doc_data() / name
    cap, frames, i = cv2.VideoCapture(str(path)), [], 0
    while True:
        ok, bgr = cap.read()
        if not ok or (last is not None and i >= last):
            break
        if i >= first:
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        i += 1
    if not frames:
        raise RuntimeError(f"{path}: no frames {first}-{last} could be read")
    return np.stack(frames)


def pan_frames(n: int = 30, size: tuple[int, int] = (360, 640), seed: int = 7) -> np.ndarray:
    """A held-out photo filmed by a slowly panning, zooming, turning camera."""
    from PIL import Image

    photo = np.asarray(Image.open(mate_root() / NATURE_DIR / HELD_OUT_NATURE[0]).convert("RGB"))
    h0, w0 = photo.shape[:2]
    f = 1280 / max(h0, w0)
    photo = cv2.resize(photo, (round(w0 * f), round(h0 * f)), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(seed)
    h, w = size
    cx, cy = photo.shape[1] / 2, photo.shape[0] / 2
    v = rng.uniform(0.8, 1.6, 2) * rng.choice([-1, 1], 2)
    frames = []
    for t in range(n):
        a, z = math.radians(0.15 * t), 1 + 0.004 * t
        c, s = math.cos(a) / z, math.sin(a) / z
        ox, oy = cx + v[0] * t, cy + v[1] * t
        m = np.array([[c, -s, ox - c * w / 2 + s * h / 2], [s, c, oy - s * w / 2 - c * h / 2]])
        frames.append(cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                                     borderMode=cv2.BORDER_REFLECT))
    return np.stack(frames)


def clips(final: bool) -> dict[str, np.ndarray]:
    out = {"tree": clip_frames("tree.avi", 44, None),
           "Megamind": clip_frames("Megamind.avi", 230, None),
           "pan": pan_frames()}
    if final:
        out["vtest"] = clip_frames("vtest.avi", 400, 520)
    for k, v in out.items():
        h, w = v.shape[1] // 4 * 4, v.shape[2] // 4 * 4
        out[k] = np.ascontiguousarray(v[:, :h, :w])
    return out


def gt_flows(frames: np.ndarray):
    """For t >= 1: (flow t -> t-1, valid mask) from the original frames."""
    from photomend.video.flow import dis_flow

    out = [None]
    for t in range(1, len(frames)):
        fwd = dis_flow(frames[t].astype(np.float32) / 255, frames[t - 1].astype(np.float32) / 255)
        bwd = dis_flow(frames[t - 1].astype(np.float32) / 255, frames[t].astype(np.float32) / 255)
        from photomend.video.flow import warp

        back_at = warp(bwd, fwd)
        err = np.sum((fwd + back_at) ** 2, axis=2)
        mag = np.sum(fwd ** 2, axis=2) + np.sum(back_at ** 2, axis=2)
        h, w = fwd.shape[:2]
        gx, gy = np.meshgrid(np.arange(w), np.arange(h))
        inside = ((gx + fwd[..., 0] >= 0) & (gx + fwd[..., 0] <= w - 1)
                  & (gy + fwd[..., 1] >= 0) & (gy + fwd[..., 1] <= h - 1))
        out.append((fwd, (err < 0.01 * mag + 0.5) & inside))
    return out


def warping_error(prev: np.ndarray, cur: np.ndarray, flow_valid) -> float:
    from photomend.video.flow import warp

    flow, valid = flow_valid
    yp, yc = y_channel(prev).astype(np.float32), y_channel(cur).astype(np.float32)
    return float(np.abs(yc - warp(yp, flow))[valid].mean())


def quality(frames: np.ndarray, flows, scale: int, model: str) -> dict:
    from photomend.video.upscale import upscale_frames

    lows = (bicubic_down(f, scale).astype(np.float32) / 255 for f in frames)
    psnrs, ssims, flick = [], [], []
    prev = None
    t0 = time.perf_counter()
    for t, up in enumerate(upscale_frames(lows, scale, model=model)):
        out = np.clip(up * 255 + 0.5, 0, 255).astype(np.uint8)
        psnrs.append(psnr_y(out, frames[t], scale))
        ssims.append(ssim_y(out, frames[t], scale))
        if prev is not None:
            flick.append(warping_error(prev, out, flows[t]))
        prev = out
    return {"psnr": float(np.mean(psnrs)), "ssim": float(np.mean(ssims)),
            "flicker": float(np.mean(flick)), "frames": len(psnrs),
            "seconds": time.perf_counter() - t0}


def speed_worker(clip: str, scale: int, model: str) -> None:
    from photomend.video.reader import probe
    from photomend.video.upscale import upscale_video

    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        r = upscale_video(clip, Path(d) / "out.mp4", scale, model=model)
        seconds = time.perf_counter() - t0
    status = Path("/proc/self/status").read_text().splitlines()
    rss = next(int(ln.split()[1]) / 1024 for ln in status if ln.startswith("VmHWM:"))
    print(json.dumps({"frames": r.frames, "seconds": seconds, "fps": r.frames / seconds,
                      "peak_rss_mb": rss, "in": f"{probe(clip).width}x{probe(clip).height}"}))


def run_worker(*args) -> dict:
    cmd = [sys.executable, __file__, "--worker", *map(str, args)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def speed(tmp: Path) -> tuple[list[dict], list[dict]]:
    from photomend.video.writer import write_video

    clip = tmp / "speed_640x360.mp4"
    write_video(clip, (f.astype(np.float32) / 255 for f in pan_frames(16)), fps=25)
    rows = []
    for scale in SCALES:
        for model in MODELS:
            r = run_worker(clip, scale, model)
            rows.append({"model": model, "scale": scale, **r})
            print(f"speed x{scale} {model}: {r['fps']:.2f} frames/s, {r['peak_rss_mb']:.0f} MB",
                  flush=True)
    small = pan_frames(64, (180, 320), seed=3)
    mem = []
    for n in (24, 192):
        path = tmp / f"mem_{n}.mp4"
        frames = (small[i % 64 if (i // 64) % 2 == 0 else 63 - i % 64] for i in range(n))
        write_video(path, (f.astype(np.float32) / 255 for f in frames), fps=25)
        r = run_worker(path, 2, "compact-vsr")
        mem.append({"frames": n, **r})
        print(f"memory: {n} frames -> {r['peak_rss_mb']:.0f} MB", flush=True)
    return rows, mem


def write_markdown(result: dict, path: Path) -> None:
    env = result["environment"]
    lines = [f"# Video super-resolution ({env['date']}, commit {env['commit']})", "",
             f"CPU: {env['cpu']}, {env['cores']} cores (load average at the start: "
             f"{result['load']}), ONNX Runtime {env['onnxruntime']}, {env['threads']} threads. "
             "Protocol in `benchmarks/bench_video.py`.", "",
             "Y-PSNR (dB) / SSIM, mean over frames; flicker = warping error between consecutive "
             "output frames (8-bit Y levels, lower is steadier; `original` = the clip's own).", ""]
    for scale in result["scales"]:
        lines += [f"## x{scale}", "",
                  "| clip | frames | model | Y-PSNR | SSIM | vs bicubic | vs compact | flicker |",
                  "|---|---|---|---|---|---|---|---|"]
        for clip, per in result["quality"].items():
            rows = per[f"x{scale}"]
            base, single = rows["bicubic"]["psnr"], rows["compact"]["psnr"]
            for model in MODELS:
                r = rows[model]
                lines.append(f"| {clip} | {r['frames']} | {model} | {r['psnr']:.2f} | "
                             f"{r['ssim']:.4f} | {r['psnr'] - base:+.2f} | "
                             f"{r['psnr'] - single:+.2f} | {r['flicker']:.2f} |")
            lines.append(f"| {clip} | | original | | | | | {per['original_flicker']:.2f} |")
        lines.append("")
    if result.get("speed"):
        lines += ["## Speed (640x360 input, `upscale_video` end to end: decode, upscale, "
                  "H.264 encode; fresh process each)", "",
                  "| scale | model | frames/s | peak RSS (MB) |", "|---|---|---|---|"]
        for r in result["speed"]:
            lines.append(f"| x{r['scale']} | {r['model']} | {r['fps']:.2f} | "
                         f"{r['peak_rss_mb']:.0f} |")
        lines += ["", "Memory in the clip's length (`compact-vsr` x2, 320x180):", "",
                  "| frames | peak RSS (MB) |", "|---|---|"]
        lines += [f"| {m['frames']} | {m['peak_rss_mb']:.0f} |" for m in result["memory"]]
        lines.append("")
    path.write_text("\n".join(lines))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--final", action="store_true",
                    help="also the held-out vtest.avi frames >= 400 (run once, at the end)")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--scales", type=int, nargs="+", default=list(SCALES))
    ap.add_argument("--clips", nargs="+", default=None, help="only these clips")
    ap.add_argument("--out", default=None, metavar="STEM",
                    help="write benchmarks/STEM.md and .json (default: results_video with "
                         "--final, else results_video_dev); for a partial run beside the full one")
    ap.add_argument("--worker", nargs=3, metavar=("CLIP", "SCALE", "MODEL"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        speed_worker(args.worker[0], int(args.worker[1]), args.worker[2])
        return 0
    result = {"environment": environment(), "load": " ".join(
        Path("/proc/loadavg").read_text().split()[:3]), "quality": {}, "scales": args.scales}
    for name, frames in clips(args.final).items():
        if args.clips and name not in args.clips:
            continue
        flows = gt_flows(frames)
        floor = float(np.mean([warping_error(frames[t - 1], frames[t], flows[t])
                               for t in range(1, len(frames))]))
        per = {"original_flicker": floor, "size": f"{frames.shape[2]}x{frames.shape[1]}"}
        for scale in args.scales:
            per[f"x{scale}"] = {}
            for model in MODELS:
                r = quality(frames, flows, scale, model)
                per[f"x{scale}"][model] = r
                print(f"{name} x{scale} {model}: {r['psnr']:.2f} dB, SSIM {r['ssim']:.4f}, "
                      f"flicker {r['flicker']:.2f} ({r['seconds']:.0f} s)", flush=True)
        result["quality"][name] = per
    if not args.no_speed:
        with tempfile.TemporaryDirectory() as d:
            result["speed"], result["memory"] = speed(Path(d))
    stem = args.out or ("results_video" if args.final else "results_video_dev")
    (HERE / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    write_markdown(result, HERE / f"{stem}.md")
    print(f"wrote {HERE / (stem + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
