"""Benchmark automatic person masks (``photomend.find_objects`` / ``remove --auto person``).

    python benchmarks/bench_objects.py --data DIR [--hog-python PY] [--split dev|heldout]

DIR holds Debian opencv-doc's sample data (``messi5.jpg``, ``basketball1.png``, ``vtest.avi``:
``apt-get download opencv-doc && dpkg -x opencv-doc*.deb X``, then
``X/usr/share/doc/opencv-doc/examples/data``). ``vtest.avi`` is a static camera, so the
temporal median of a stretch of it is the empty scene: pixels that differ from it are the
walking people (the truth mask), and the median is the true background behind them (the
clean plate). Frames 0-399 are for development; frames 400 and later are held out (never
tuned on) and run with ``--split heldout``, once.

Per method: person-pixel recall (truth pixels inside the mask), mask area / truth area,
people found / people visible (truth blobs of >= BLOB_MIN px with >= 50 % of their pixels
masked), and the clean-plate masked PSNR (the removal against the median, over the truth mask
grown by 4 px). Peers in the same run: OpenCV's HOG people detector (default SVM, run by
``hog_boxes.py`` under ``--hog-python``, an interpreter with OpenCV 4.x: OpenCV 5 has no HOG)
with box masks + Telea, and the same boxes + photomend's engine. Also the time of
``find_objects`` on a 1920x1080 photo and of ``remove --auto person`` on a 4K one.
Writes ``results_objects[_heldout].md`` and ``.json`` next to this file.
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

import photomend  # noqa: E402
from photomend.objects.api import find_objects, instance_masks  # noqa: E402
from photomend.removal import remove_array  # noqa: E402

DEV_FRAMES = range(0, 400)
HELDOUT_FRAMES = range(400, 795)
#: Frames scored (every STEP-th of the split) and frames the median is taken over.
STEP, MEDIAN_STEP = 20, 2
#: Truth mask: a channel differs from the median by more than this (0-1), cleaned.
DIFF_THRESHOLD = 0.12
BLOB_MIN = 150
#: Hand-placed points on the people in the two photos (x, y), one per visible person.
PHOTO_PEOPLE = {"messi5.jpg": [(240, 150)], "basketball1.png": [(90, 250), (530, 250)]}


def read_frames(video: Path, frames: range) -> dict[int, np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(video))
    out, i = {}, 0
    while i < frames.stop:
        ok, bgr = cap.read()
        if not ok:
            break
        if i >= frames.start:
            out[i] = np.ascontiguousarray(bgr[:, :, ::-1]).astype(np.float32) / 255
        i += 1
    return out


def truth_mask(frame: np.ndarray, plate: np.ndarray) -> np.ndarray:
    """The moving people: pixels far from the empty scene, opened, closed, holes filled and
    small blobs dropped."""
    import cv2
    from scipy import ndimage

    diff = (np.abs(frame - plate).max(axis=2) > DIFF_THRESHOLD).astype(np.uint8)
    diff = cv2.morphologyEx(diff, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    diff = cv2.morphologyEx(diff, cv2.MORPH_CLOSE,
                            cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
    filled = ndimage.binary_fill_holes(diff)
    labels, n = ndimage.label(filled)
    sizes = ndimage.sum(filled, labels, range(1, n + 1))
    keep = np.zeros(n + 1, bool)
    keep[1:] = sizes >= BLOB_MIN
    return keep[labels]


def box_mask(boxes, shape) -> np.ndarray:
    h, w = shape
    m = np.zeros((h, w), bool)
    for x0, y0, x1, y1 in boxes:
        m[max(0, int(y0)):min(h, int(math.ceil(y1))), max(0, int(x0)):min(w, int(math.ceil(x1)))] = True
    return m


def scores(mask: np.ndarray, truth: np.ndarray) -> dict:
    from scipy import ndimage

    labels, n = ndimage.label(truth)
    found = 0
    for k in range(1, n + 1):
        blob = labels == k
        if (mask & blob).sum() >= 0.5 * blob.sum():
            found += 1
    t = int(truth.sum())
    return {"recall": float((mask & truth).sum() / max(t, 1)),
            "area_ratio": float(mask.sum() / max(t, 1)), "found": found, "visible": int(n)}


def clean_plate_psnr(result: np.ndarray, plate: np.ndarray, truth: np.ndarray) -> float:
    from photomend.metrics import masked_psnr

    return masked_psnr(result, plate, truth, dilate=4)


def hog_boxes(python: str | None, video: Path, frames, photos) -> dict:
    """{"frame:N@U" / "photo:P@U": boxes}, run under ``python`` (OpenCV 4.x)."""
    if python is None:
        return {}
    req = {"video": str(video), "frames": list(frames), "photos": [str(p) for p in photos],
           "upscale": [1, 2]}
    out = subprocess.run([python, str(HERE / "hog_boxes.py")], input=json.dumps(req),
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def run_video(args, frames: range) -> dict:
    video = args.data / "vtest.avi"
    all_frames = read_frames(video, frames)
    plate = np.median(np.stack([all_frames[i] for i in sorted(all_frames)[::MEDIAN_STEP]]),
                      axis=0).astype(np.float32)
    scored = sorted(all_frames)[::STEP]
    hog = hog_boxes(args.hog_python, video, scored, [])
    methods = {"ours (auto mask + patchmatch)": [], "ours mask + telea": []}
    if hog:
        methods.update({"HOG 1x boxes + telea": [], "HOG 2x boxes + telea": [],
                        "HOG 2x boxes + patchmatch": []})
    timing = []
    for i in scored:
        frame = all_frames[i]
        truth = truth_mask(frame, plate)
        t = time.perf_counter()
        inst = find_objects(frame, "person")
        timing.append(time.perf_counter() - t)
        ours = instance_masks(inst, None, frame.shape[:2])
        masks = {"ours (auto mask + patchmatch)": (ours, "patchmatch"),
                 "ours mask + telea": (ours, "telea")}
        if hog:
            for up in (1, 2):
                m = box_mask(hog["boxes"][f"frame:{i}@{up}"], frame.shape[:2])
                masks[f"HOG {up}x boxes + telea"] = (m, "telea")
                if up == 2:
                    masks["HOG 2x boxes + patchmatch"] = (m, "patchmatch")
        for name, (m, engine) in masks.items():
            row = {"frame": i, **scores(m, truth)}
            result = remove_array(frame, m, engine=engine) if m.any() else frame
            row["psnr"] = clean_plate_psnr(result, plate, truth) if truth.any() else None
            methods[name].append(row)
    summary = {}
    for name, rows in methods.items():
        ok = [r for r in rows if r["visible"]]
        summary[name] = {
            "recall": float(np.mean([r["recall"] for r in ok])),
            "area_ratio": float(np.mean([r["area_ratio"] for r in ok])),
            "found": int(sum(r["found"] for r in ok)), "visible": int(sum(r["visible"] for r in ok)),
            "psnr": float(np.mean([r["psnr"] for r in ok if r["psnr"] is not None
                                   and math.isfinite(r["psnr"])])),
        }
    return {"frames": scored, "summary": summary, "rows": methods,
            "find_objects_s_mean": float(np.mean(timing))}


def run_photos(args) -> dict:
    out = {}
    photos = [args.data / n for n in PHOTO_PEOPLE]
    hog = hog_boxes(args.hog_python, args.data / "vtest.avi", [], photos)
    for path in photos:
        image = photomend.read_image(path)
        t = time.perf_counter()
        inst = find_objects(image, "person")
        secs = time.perf_counter() - t
        mask = instance_masks(inst, None, image.rgb.shape[:2])
        people = PHOTO_PEOPLE[path.name]
        row = {"instances": len(inst), "found": sum(bool(mask[y, x]) for x, y in people),
               "visible": len(people), "mask_fraction": float(mask.mean()), "seconds": secs}
        if hog:
            for up in (1, 2):
                m = box_mask(hog["boxes"][f"photo:{path}@{up}"], image.rgb.shape[:2])
                row[f"hog{up}x_found"] = sum(bool(m[y, x]) for x, y in people)
        out[path.name] = row
    return out


def run_timing(args) -> dict:
    """find_objects on 1920x1080 and remove --auto person on 3840x2160, from a dev frame of
    vtest.avi (people: those of frame 200) scaled up."""
    import cv2

    frame = read_frames(args.data / "vtest.avi", range(200, 201))[200]
    hd = cv2.resize(frame, (1920, 1080), interpolation=cv2.INTER_CUBIC)
    uhd = cv2.resize(frame, (3840, 2160), interpolation=cv2.INTER_CUBIC)
    find_objects(hd)  # load the networks
    t, c = time.perf_counter(), time.process_time()
    for _ in range(3):
        inst = find_objects(hd)
    hd_s, hd_cpu = (time.perf_counter() - t) / 3, (time.process_time() - c) / 3
    t, c = time.perf_counter(), time.process_time()
    inst4k = find_objects(uhd)
    mask = instance_masks(inst4k, None, uhd.shape[:2])
    remove_array(uhd, mask)
    uhd_s, uhd_cpu = time.perf_counter() - t, time.process_time() - c
    return {"find_objects_1080p_s": hd_s, "find_objects_1080p_cpu_s": hd_cpu,
            "people_1080p": len(inst), "remove_auto_4k_s": uhd_s, "remove_auto_4k_cpu_s": uhd_cpu,
            "people_4k": len(inst4k), "load": os.getloadavg()[0]}


def markdown(res: dict) -> str:
    lines = [f"# Automatic person masks ({res['split']})", "",
             f"photomend {res['commit']}, {res['machine']}, {res['threads']} threads, "
             f"HOG: OpenCV {res.get('hog_opencv', 'n/a')}"
             + (f"; load average {res['load_before']:.1f} at the start, "
                f"{res['load_after']:.1f} at the end (other jobs shared the CPUs: the times are "
                "upper bounds)" if "load_before" in res else "") + ".", ""]
    v = res["video"]
    lines += [f"vtest.avi frames {v['frames'][0]}-{v['frames'][-1]} every {STEP}th "
              f"({len(v['frames'])} frames); truth = pixels off the median of the split's frames.",
              "", "| method | person-pixel recall | mask area / truth | people found / visible |"
              " clean-plate masked PSNR (dB) |", "|---|---|---|---|---|"]
    for name, s in v["summary"].items():
        lines.append(f"| {name} | {100 * s['recall']:.1f} % | {s['area_ratio']:.2f} | "
                     f"{s['found']} / {s['visible']} | {s['psnr']:.2f} |")
    lines += ["", f"find_objects on a 768x576 frame: {v['find_objects_s_mean']:.2f} s (mean)."]
    if "photos" in res:
        lines += ["", "| photo | instances | people found / visible (ours) | HOG 1x / 2x found |"
                  " mask % | find_objects s |", "|---|---|---|---|---|---|"]
        for name, r in res["photos"].items():
            hog = f"{r.get('hog1x_found', '-')} / {r.get('hog2x_found', '-')}"
            lines.append(f"| {name} | {r['instances']} | {r['found']} / {r['visible']} | {hog} | "
                         f"{100 * r['mask_fraction']:.1f} | {r['seconds']:.2f} |")
    if "timing" in res:
        t = res["timing"]
        cpu = (f" (CPU time, both threads: {t['find_objects_1080p_cpu_s']:.2f} s and "
               f"{t['remove_auto_4k_cpu_s']:.2f} s; load average {t['load']:.1f})"
               if "load" in t else "")
        at = f"At {t['commit']}: f" if "commit" in t else "F"
        lines += ["", f"{at}ind_objects on 1920x1080 ({t['people_1080p']} people): "
                  f"{t['find_objects_1080p_s']:.2f} s; remove --auto person on 3840x2160 "
                  f"({t['people_4k']} people, detection + patchmatch): "
                  f"{t['remove_auto_4k_s']:.2f} s{cpu}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="opencv-doc examples/data folder")
    p.add_argument("--hog-python", default=None, help="a Python with OpenCV 4.x for the HOG peer")
    p.add_argument("--split", choices=("dev", "heldout"), default="dev")
    p.add_argument("--timing-only", action="store_true",
                   help="only the 1920x1080 / 4K times (merged into the dev results)")
    args = p.parse_args(argv)
    from photomend.nn.onnx import num_threads

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, text=True,
                            capture_output=True).stdout.strip()
    res = {"split": args.split, "commit": commit, "threads": num_threads(),
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
           "load_before": os.getloadavg()[0]}
    if args.timing_only:
        path = HERE / "results_objects.json"
        res = json.loads(path.read_text())
        res["timing"] = run_timing(args)
        res["timing"]["commit"] = commit
        path.write_text(json.dumps(res, indent=1))
        md = markdown(res)
        (HERE / "results_objects.md").write_text(md)
        print(md)
        return 0
    if args.split == "dev":
        res["video"] = run_video(args, DEV_FRAMES)
        res["photos"] = run_photos(args)
        res["timing"] = run_timing(args)
    else:
        res["video"] = run_video(args, HELDOUT_FRAMES)
    res["load_after"] = os.getloadavg()[0]
    if args.hog_python:
        res["hog_opencv"] = subprocess.run(
            [args.hog_python, "-c", "import cv2; print(cv2.__version__)"],
            capture_output=True, text=True).stdout.strip()
    stem = "results_objects" + ("" if args.split == "dev" else "_heldout")
    (HERE / f"{stem}.json").write_text(json.dumps(res, indent=1))
    md = markdown(res)
    (HERE / f"{stem}.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
