"""Benchmark video object removal (``photomend.remove_video`` / ``fill_frames``) against
per-frame peers run in the same process: photomend's image ``remove_array`` (patchmatch)
and OpenCV's Telea, each applied frame by frame with the same masks.

    python benchmarks/bench_video_remove.py --data DIR [--split dev|heldout] [--parts ...]

DIR holds Debian opencv-doc's sample data (``vtest.avi``, ``Megamind.avi``; see
bench_objects.py). Parts:

- ``static``: vtest.avi (still camera, pedestrians). The temporal median of the split's
  frames is the empty scene; the people mask of each frame is where it differs from it
  (bench_objects.truth_mask), grown by GROW px. Every frame of the split is filled by ours
  (one streaming pass); every STEP-th frame and the frame after it (for flicker) by the peers.
  Frames 0-399 are for development; 400 on are held out (``--split heldout``, run once).
- ``auto``: the same frames with ``--auto person`` masks (find_objects on every frame,
  tracked) for ours and the peers (first AUTO_FRAMES frames of the split: detection is slow).
- ``moving``: clips made from photos (skimage's astronaut, coffee, chelsea) with a camera path
  (pan + slow zoom) and a pasted moving object; truth = the clip without it.
- ``logo``: Megamind.avi (a moving animated scene) with a fixed logo box; truth = the clip.
- ``speed``: frames/s of ours on 640x360 with a 5 % mask and on 1920x1080 (vtest scaled up).

Scores, on the scored frames: masked PSNR and SSIM against the truth over the mask grown by
4 px; flicker = mean |(out[t+1] - out[t]) - (truth[t+1] - truth[t])| (0-255) over both
frames' masks, after warping frame t+1 onto frame t with the true camera motion (moving clips;
for the still vtest truth this is mean |out[t+1] - out[t]|); s/frame. Writes results_video_remove[_heldout].md / .json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from bench_objects import read_frames, truth_mask  # noqa: E402

from photomend.metrics import masked_psnr, masked_ssim  # noqa: E402
from photomend.removal import remove_array  # noqa: E402
from photomend.video_removal.stream import FillStats, clip_background, fill_frames  # noqa: E402

DEV_FRAMES = range(0, 400)
HELDOUT_FRAMES = range(400, 795)
STEP, MEDIAN_STEP, GROW = 20, 2, 4
AUTO_FRAMES = 100
PEERS = ("per-frame patchmatch", "per-frame telea")


def grow(mask: np.ndarray, px: int) -> np.ndarray:
    import cv2

    if px <= 0:
        return mask
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(mask.astype(np.uint8), k).astype(bool)


def telea(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    import cv2

    u8 = (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
    out = cv2.inpaint(u8, mask.astype(np.uint8), 3, cv2.INPAINT_TELEA)
    return out.astype(np.float32) / 255


def peer(name: str, rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    if not mask.any():
        return rgb
    if name == "per-frame telea":
        return telea(rgb, mask)
    return remove_array(rgb, mask, engine="patchmatch")


def flicker(a, b, ta, tb, region, warp=None) -> float:
    """Temporal error: mean |(b - a) - (tb - ta)| over ``region`` (0-255), the output's change
    between two frames against the truth's (for a still truth: just |b - a|); ``warp`` maps
    frame b onto frame a (moving clips)."""
    if not region.any():
        return float("nan")
    if warp is not None:
        b, tb = warp(b), warp(tb)
    return float(255 * np.abs((b - a) - (tb - ta))[region].mean())


def score(outs: dict, truths: dict, masks: dict, pairs, warp=None) -> dict:
    """PSNR/SSIM on the first frame of each pair, flicker over each pair."""
    ps, ss, fl = [], [], []
    for a, b in pairs:
        if masks[a].any():
            ps.append(masked_psnr(outs[a], truths[a], masks[a], dilate=4))
            ss.append(masked_ssim(outs[a], truths[a], masks[a], dilate=4))
        region = masks[a] | masks[b]
        if b in outs and region.any():
            fl.append(flicker(outs[a], outs[b], truths[a], truths[b], region,
                              None if warp is None else (lambda im, a=a, b=b: warp(im, a, b))))
    finite = [p for p in ps if math.isfinite(p)]
    return {"psnr": float(np.mean(finite)) if finite else float("inf"),
            "ssim": float(np.mean(ss)) if ss else float("nan"),
            "flicker": float(np.nanmean(fl)) if fl else float("nan"), "frames": len(ps)}


def compare(frames: list, masks: list, truths: list, pairs, *, camera="auto",
            radius=24, warp=None, peers=PEERS) -> dict:
    """Ours on every frame (streaming), the peers on the frames of ``pairs``."""
    stats = FillStats()
    need = sorted({i for p in pairs for i in p})
    t = time.perf_counter()
    bg = clip_background(zip(frames, masks)) if camera != "moving" else None
    outs = {i: o for i, o in enumerate(fill_frames(zip(frames, masks), radius=radius,
                                                   camera=camera, stats=stats, background=bg))
            if i in need}  # (only the scored frames are kept: memory)
    ours_s = (time.perf_counter() - t) / len(frames)
    T, M = dict(enumerate(truths)), dict(enumerate(masks))
    res = {"ours": {**score(outs, T, M, pairs, warp), "s_per_frame": ours_s,
                    "stats": {k: v for k, v in vars(stats).items() if k != "key_frames"},
                    "key_frames": stats.key_frames}}
    for name in peers:
        t = time.perf_counter()
        po = {i: peer(name, frames[i], masks[i]) for i in need}
        res[name] = {**score(po, T, M, pairs, warp),
                     "s_per_frame": (time.perf_counter() - t) / len(need)}
    return res


def vtest(args, frames_range: range, *, scale: float) -> tuple[list, list, np.ndarray]:
    import cv2

    got = read_frames(args.data / "vtest.avi", frames_range)
    idx = sorted(got)
    frames = [got[i] for i in idx]
    if scale != 1:
        h, w = frames[0].shape[:2]
        size = (round(w * scale), round(h * scale))
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    plate = np.median(np.stack(frames[::MEDIAN_STEP]), axis=0).astype(np.float32)
    return idx, frames, plate


def run_static(args, frames_range: range) -> dict:
    idx, frames, plate = vtest(args, frames_range, scale=args.scale)
    masks = [grow(truth_mask(f, plate), GROW) for f in frames]
    pairs = [(k, k + 1) for k in range(0, len(frames) - 1, STEP)]
    res = compare(frames, masks, [plate] * len(frames), pairs, radius=args.radius)
    res["mask_fraction"] = float(np.mean([m.mean() for m in masks]))
    res["size"] = list(frames[0].shape[1::-1])
    res["frames"] = [idx[0], idx[-1]]
    return res


def run_auto(args, frames_range: range) -> dict:
    from photomend.video_removal.masks import track_instances, track_masks

    sub = range(frames_range.start, frames_range.start + AUTO_FRAMES)
    idx, frames, _ = vtest(args, sub, scale=args.scale)
    _, _, plate = vtest(args, frames_range, scale=args.scale)  # the split's empty scene
    t = time.perf_counter()
    tracks, n, shape = track_instances(iter(frames), ("person",))
    detect_s = (time.perf_counter() - t) / n
    masks = list(track_masks(tracks, n, shape))
    pairs = [(k, k + 1) for k in range(0, len(frames) - 1, STEP // 2)]
    res = compare(frames, masks, [plate] * len(frames), pairs, radius=args.radius)
    truth = [truth_mask(f, plate) for f in frames]
    res["recall"] = float(np.mean([(m & t).sum() / max(t.sum(), 1) for m, t in zip(masks, truth,
                                                                                  strict=True)]))
    res["tracks"] = len(tracks)
    res["bridged"] = int(sum(m.bridged for tr in tracks for m in tr.frames.values()))
    res["detect_s_per_frame"] = detect_s
    res["frames"] = [idx[0], idx[-1]]
    # people the median left in the plate make a bad truth: score where ours is sure too
    return res


def camera_clip(photo: np.ndarray, n: int, size: tuple[int, int], seed: int):
    """Frames of a camera moving over ``photo`` (pan + slow zoom), a pasted object moving
    across; returns (frames, masks, truths, homographies frame->photo)."""
    import cv2

    rng = np.random.default_rng(seed)
    h, w = size
    ph, pw = photo.shape[:2]
    vx, vy = rng.uniform(-1.5, 1.5, 2)
    zoom = rng.uniform(-0.002, 0.002)
    obj_h, obj_w = int(h * 0.45), int(w * 0.12)
    yy, xx = np.mgrid[0:obj_h, 0:obj_w]
    blob = ((xx - obj_w / 2) / (obj_w / 2)) ** 2 + ((yy - obj_h / 2) / (obj_h / 2)) ** 2 <= 1
    colour = np.stack([0.2 + 0.6 * yy / obj_h, 0.3 + 0.2 * np.sin(xx / 3.0),
                       0.7 - 0.4 * yy / obj_h], axis=2).astype(np.float32)
    frames, masks, truths, homs = [], [], [], []
    for i in range(n):
        s = 1.0 + zoom * i
        cx, cy = pw / 2 + vx * i, ph / 2 + vy * i
        # frame pixel (x, y) -> photo (cx + (x - w/2) / s, cy + (y - h/2) / s)
        H = np.array([[1 / s, 0, cx - w / 2 / s], [0, 1 / s, cy - h / 2 / s], [0, 0, 1]])
        truth = cv2.warpPerspective(photo, H, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                    borderMode=cv2.BORDER_REFLECT)
        x0 = int(w * 0.1 + i * w * 0.6 / n)
        y0 = int(h * 0.3 + 6 * np.sin(i / 4))
        frame, mask = truth.copy(), np.zeros((h, w), bool)
        mask[y0:y0 + obj_h, x0:x0 + obj_w] = blob
        frame[mask] = colour[blob]
        frames.append(frame)
        masks.append(grow(mask, 2))
        truths.append(truth)
        homs.append(H)
    return frames, masks, truths, homs


def run_moving(args) -> dict:
    import cv2
    from skimage import data

    photos = {"astronaut": data.astronaut(), "coffee": data.coffee(), "chelsea": data.chelsea()}
    out = {}
    for k, (name, img) in enumerate(photos.items()):
        photo = img.astype(np.float32) / 255
        photo = cv2.resize(photo, (photo.shape[1] * 2, photo.shape[0] * 2),
                           interpolation=cv2.INTER_CUBIC).clip(0, 1)
        frames, masks, truths, homs = camera_clip(photo, 48, (240, 360), seed=k)

        def warp(im, a, b, homs=homs):
            # out[b] seen from frame a: frame a pixel -> photo -> frame b
            m = np.linalg.inv(homs[b]) @ homs[a]
            return cv2.warpPerspective(im, m, (im.shape[1], im.shape[0]),
                                       flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

        pairs = [(j, j + 1) for j in range(0, len(frames) - 1, 4)]
        out[name] = compare(frames, masks, truths, pairs, radius=args.radius, warp=warp)
    return out


def run_logo(args) -> dict:
    import cv2

    cap = cv2.VideoCapture(str(args.data / "Megamind.avi"))
    frames = []
    while len(frames) < 120:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(np.ascontiguousarray(bgr[:, :, ::-1]).astype(np.float32) / 255)
    h, w = frames[0].shape[:2]
    mask = np.zeros((h, w), bool)
    mask[int(h * 0.04):int(h * 0.04) + h // 8, int(w * 0.72):int(w * 0.72) + w // 4] = True
    pairs = [(j, j + 1) for j in range(0, len(frames) - 1, 10)]
    res = compare(frames, [mask] * len(frames), frames, pairs, radius=args.radius)
    res["size"], res["frames"], res["mask_fraction"] = [w, h], len(frames), float(mask.mean())
    return res


def run_speed(args) -> dict:
    import cv2

    _, frames, _ = vtest(args, range(0, 60), scale=1.0)
    out = {}
    for name, (w, h) in {"640x360": (640, 360), "1920x1080": (1920, 1080)}.items():
        clip = [cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) for f in frames]
        mask = np.zeros((h, w), bool)  # a 5 % box that slides (a moving object)
        bw, bh = int(w * 0.2), int(h * 0.25)
        masks = []
        for i in range(len(clip)):
            m = mask.copy()
            x0 = int(i * (w - bw) / len(clip))
            m[h // 3:h // 3 + bh, x0:x0 + bw] = True
            masks.append(m)
        for camera in ("static", "moving"):
            t, c = time.perf_counter(), time.process_time()
            for _ in fill_frames(zip(clip, masks), camera=camera, radius=args.radius):
                pass
            out[f"{name} {camera}"] = {"frames_per_s": len(clip) / (time.perf_counter() - t),
                                       "cpu_s_per_frame": (time.process_time() - c) / len(clip),
                                       "mask_fraction": float(np.mean([m.mean() for m in masks]))}
        if name == "640x360":  # the whole command: decode, background pass, fill, encode
            import tempfile

            from photomend.video.writer import write_video
            from photomend.video_removal.api import remove_video

            with tempfile.TemporaryDirectory() as d:
                src, logo = Path(d) / "clip.mp4", Path(d) / "mask.png"
                write_video(src, clip, fps=25)
                fixed = np.zeros((h, w), np.uint8)
                fixed[h // 3:h // 3 + bh, w // 3:w // 3 + bw] = 255
                cv2.imwrite(str(logo), fixed)
                t, c = time.perf_counter(), time.process_time()
                r = remove_video(src, Path(d) / "out.mp4", logo)
                out[f"{name} remove_video"] = {
                    "frames_per_s": r.frames / (time.perf_counter() - t),
                    "cpu_s_per_frame": (time.process_time() - c) / r.frames,
                    "mask_fraction": float((fixed > 0).mean())}
    return out


def markdown(res: dict) -> str:
    lines = [f"# Video object removal ({res['split']})", "",
             f"photomend {res['commit']}, {res['machine']}; load average {res['load_before']:.1f} "
             f"at the start, {res['load_after']:.1f} at the end (shared CPUs: times are upper "
             "bounds). PSNR/SSIM: masked, against the truth, over the mask grown by 4 px. "
             "Flicker: mean |(out[t+1] - out[t]) - (truth[t+1] - truth[t])| in both frames' "
             "masks (0-255; moving clips: after warping by the true camera motion; vtest's "
             "truth is still, so there it is mean |out[t+1] - out[t]|); lower is better.", ""]
    if res.get("note"):
        lines += [res["note"], ""]
    for n, old in enumerate(res.get("earlier_runs", []), start=1):
        parts = []
        for part in ("static", "auto"):
            if part in old:
                o, pm = old[part]["ours"], old[part]["per-frame patchmatch"]
                parts.append(f"{part}: {o['psnr']:.2f} dB vs per-frame patchmatch {pm['psnr']:.2f}"
                             f", flicker {o['flicker']:.2f} vs {pm['flicker']:.2f} "
                             f"({o['flicker'] / pm['flicker']:.3f}x)")
        lines += [f"Earlier run {n} of this split (code {old['commit']}): " + "; ".join(parts)
                  + ".", ""]

    def table(title: str, part: dict, note: str = "") -> None:
        lines.extend([f"## {title}", ""] + ([note, ""] if note else []))
        lines.append("| method | masked PSNR (dB) | masked SSIM | flicker | s/frame |")
        lines.append("|---|---|---|---|---|")
        for name in ("ours", *PEERS):
            if name in part:
                r = part[name]
                lines.append(f"| {'photomend video (ours)' if name == 'ours' else name} | "
                             f"{r['psnr']:.2f} | {r['ssim']:.3f} | {r['flicker']:.2f} | "
                             f"{r['s_per_frame']:.3f} |")
        if "ours" in part and "stats" in part["ours"]:
            s = part["ours"]["stats"]
            hole = max(1, s["copied"] + s["remembered"] + s["carried"] + s["invented"])
            lines.extend(["", f"Ours: {100 * s['copied'] / hole:.1f} % of the hole pixels copied "
                      f"from other frames (the clip's background included), "
                      f"{100 * (s['remembered'] + s['carried']) / hole:.1f} % "
                      f"from the background memory / previous output, "
                      f"{100 * s['invented'] / hole:.2f} % invented by the image engine on "
                      f"{len(part['ours']['key_frames'])} key frame(s); still-camera windows: "
                      f"{s['static_frames']}, moving: {s['moving_frames']}."])
        lines.append("")

    if "static" in res:
        s = res["static"]
        table("Static camera: vtest.avi, people masks", s,
              f"Frames {s['frames'][0]}-{s['frames'][1]} at {s['size'][0]}x{s['size'][1]}; "
              f"masks = pixels off the temporal median, grown {GROW} px "
              f"({100 * s['mask_fraction']:.1f} % of the frame); peers on every {STEP}th frame "
              "and the next one.")
    if "auto" in res:
        a = res["auto"]
        table("Static camera: vtest.avi, --auto person masks", a,
              f"Frames {a['frames'][0]}-{a['frames'][1]}; {a['tracks']} tracks, "
              f"{a['bridged']} missed frames bridged, person-pixel recall "
              f"{100 * a['recall']:.1f} %, detection {a['detect_s_per_frame']:.2f} s/frame "
              "(not in s/frame below). Truth: the temporal median.")
    if "moving" in res:
        for name, part in res["moving"].items():
            table(f"Moving camera: {name} (48 frames, 360x240, pan + zoom, pasted object)", part)
    if "logo" in res:
        lg = res["logo"]
        table("Fixed logo box on Megamind.avi", lg,
              f"{lg['frames']} frames at {lg['size'][0]}x{lg['size'][1]}, mask "
              f"{100 * lg['mask_fraction']:.1f} % of the frame; truth = the clip itself.")
    if "speed" in res:
        lines += ["## Speed (ours)", "", "| clip | camera | frames/s | CPU s/frame |",
                  "|---|---|---|---|"]
        for key, r in res["speed"].items():
            size, camera = key.split()
            if camera == "remove_video":
                camera = "auto, whole command (mp4 in and out, fixed mask)"
            lines.append(f"| {size}, {100 * r['mask_fraction']:.1f} % mask | {camera} | "
                         f"{r['frames_per_s']:.2f} | {r['cpu_s_per_frame']:.3f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="opencv-doc examples/data folder")
    p.add_argument("--split", choices=("dev", "heldout"), default="dev")
    p.add_argument("--parts", default="static,auto,moving,logo,speed")
    p.add_argument("--frames", default=None, metavar="A:B",
                   help="only these vtest frames (development runs; not written)")
    p.add_argument("--scale", type=float, default=1.0, help="vtest scale (development runs)")
    p.add_argument("--radius", type=int, default=24)
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--note", default=None, help="a paragraph for the report (how the method "
                   "was chosen, which run of the held-out split this is)")
    p.add_argument("--merge", action="store_true",
                   help="update these parts in the existing results (the others are kept)")
    args = p.parse_args(argv)
    parts = set(args.parts.split(","))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, text=True,
                            capture_output=True).stdout.strip()
    stem = "results_video_remove" + ("" if args.split == "dev" else "_heldout")
    res = {"split": args.split, "commit": commit, "load_before": os.getloadavg()[0],
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs"}
    if args.merge and (HERE / f"{stem}.json").is_file():
        old = json.loads((HERE / f"{stem}.json").read_text())
        res = {**old, "commit": f"{old['commit']} ({', '.join(sorted(parts))}: {commit})"}
    elif args.split == "heldout" and (HERE / f"{stem}.json").is_file():
        # a held-out split is run once per method: the earlier runs stay on record
        old = json.loads((HERE / f"{stem}.json").read_text())
        res["earlier_runs"] = old.pop("earlier_runs", []) + [old]
    if args.note:
        res["note"] = args.note
    rng = DEV_FRAMES if args.split == "dev" else HELDOUT_FRAMES
    if args.frames:
        a, b = (int(v) for v in args.frames.split(":"))
        rng = range(a, b)
        if args.split == "dev" and b > DEV_FRAMES.stop:
            raise SystemExit("frames 400 and later are held out: use --split heldout")
    for part, fn in (("static", lambda: run_static(args, rng)),
                     ("auto", lambda: run_auto(args, rng)),
                     ("moving", lambda: run_moving(args)), ("logo", lambda: run_logo(args)),
                     ("speed", lambda: run_speed(args))):
        if part in parts and not (args.split == "heldout" and part not in ("static", "auto")):
            t = time.perf_counter()
            res[part] = fn()
            print(f"{part}: {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    res["load_after"] = os.getloadavg()[0]
    md = markdown(res)
    print(md)
    if not args.no_write and not args.frames:
        (HERE / f"{stem}.json").write_text(json.dumps(res, indent=1))
        (HERE / f"{stem}.md").write_text(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
