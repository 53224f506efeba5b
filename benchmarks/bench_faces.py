"""Benchmark face detection and alignment (``photomend.find_faces``) against OpenCV's Haar
cascade, in the same run, on photos with faces from packages.

    python benchmarks/bench_faces.py --data DIR [--haar-python PY]

DIR holds Debian opencv-doc's sample data (``messi5.jpg``, ``basketball1.png``, ``vtest.avi``;
see bench_objects.py). Photos: scikit-image's ``astronaut`` (one frontal face, 100 px),
``messi5.jpg`` (one, ~32 px; the blurred crowd's faces are < 24 px and not counted),
``basketball1.png`` (one frontal face, ~33 px; the man on the right is in profile and not
counted). Each face's eye centres were placed by hand (:data:`TRUTH_EYES`). Derived photos:
each photo turned by +-20 degrees around its face, the astronaut scaled to face widths 50 and
30 px, the two small faces scaled x1.5, and the astronaut pasted at face widths 24, 32 and 48 px
into a 1920x1080 photo (coffee, tiled); truth eyes follow each transform. ``vtest.avi`` frames
0-399 (every 20th; frames >= 400 are held out for every purpose and never read) hold only
people whose faces are < 12 px: any face >= 24 px found there is a false positive.

A detection finds a face when both truth eyes lie inside its box and its width is 1.2-5x the
inter-ocular distance (so that boxes of either detector's style count); one detection finds at
most one face. Reported per method: recall on faces >= 24 px wide, false positives >= 24 px,
time per photo. For photomend also: the detector's eye keypoints against the face mesh's eye
centres (fraction of the inter-ocular distance; the alignment uses the mesh's points when the
mesh is confident). Haar runs under ``--haar-python`` (OpenCV 4.x; ``haar_faces.py``).
Writes ``results_faces.md`` and ``.json`` next to this file. ``--pulse-steps N`` times PULSE
at 1024 px instead (``results_faces_pulse.md``/``.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from photomend.faces.api import find_faces  # noqa: E402

#: (x, y) of the image-left and image-right eye of every counted face, by hand.
TRUTH_EYES = {
    "astronaut": [[(203.0, 102.5), (247.0, 105.0)]],
    "messi5.jpg": [[(238.0, 107.0), (250.0, 106.0)]],
    "basketball1.png": [[(84.5, 108.5), (97.0, 107.0)]],
}
#: Face width / inter-ocular distance (for "faces >= 24 px wide" from the truth eyes).
FACE_PER_IOD = 2.3
MIN_WIDTH = 24
VIDEO_FRAMES = range(0, 400, 20)


def load_photos(data: Path) -> dict[str, np.ndarray]:
    import cv2
    import skimage.data

    out = {"astronaut": skimage.data.astronaut()}
    for name in ("messi5.jpg", "basketball1.png"):
        out[name] = cv2.imread(str(data / name))[:, :, ::-1]
    return out


def _affine(img, m, size):
    import cv2

    return cv2.warpAffine(img, m, size, flags=cv2.INTER_AREA if m[0, 0] < 1 else
                          cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def _move(eyes, m):
    return [[tuple(np.array([x, y, 1.0]) @ m.T) for x, y in face] for face in eyes]


def cases(data: Path) -> list[tuple[str, np.ndarray, list]]:
    """(name, uint8 RGB photo, truth eyes) of every photo and derived photo."""
    import cv2
    import skimage.data

    photos = load_photos(data)
    out = []
    for name, img in photos.items():
        eyes = TRUTH_EYES[name]
        h, w = img.shape[:2]
        out.append((name, img, eyes))
        c = np.mean(eyes[0], axis=0)
        for ang in (-20, 20):
            m = cv2.getRotationMatrix2D(tuple(c), ang, 1.0)
            out.append((f"{name} turned {ang:+d}", _affine(img, m, (w, h)), _move(eyes, m)))
        scales = (0.5, 0.3) if name == "astronaut" else (1.5,)
        for s in scales:
            m = np.array([[s, 0, 0], [0, s, 0]], np.float64)
            size = (round(w * s), round(h * s))
            out.append((f"{name} x{s}", _affine(img, m, size), _move(eyes, m)))
    coffee = skimage.data.coffee()
    canvas0 = np.tile(coffee, (3, 4, 1))[:1080, :1920]
    astro, eyes = photos["astronaut"], TRUTH_EYES["astronaut"]
    iod = np.linalg.norm(np.subtract(*eyes[0]))
    for width, (x, y) in ((24, (300, 200)), (32, (1200, 700)), (48, (1500, 150))):
        s = width / (FACE_PER_IOD * iod)
        m = np.array([[s, 0, x], [0, s, y]], np.float64)
        small = _affine(astro, np.array([[s, 0, 0], [0, s, 0]]), (round(512 * s),) * 2)
        canvas = canvas0.copy()
        canvas[y:y + small.shape[0], x:x + small.shape[1]] = small
        out.append((f"astronaut {width} px in 1920x1080", canvas, _move(eyes, m)))
    return out


def read_frames(video: Path) -> dict[int, np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(video))
    out, i = {}, 0
    while i <= VIDEO_FRAMES[-1]:
        ok, bgr = cap.read()
        if not ok:
            break
        if i in VIDEO_FRAMES:
            out[i] = np.ascontiguousarray(bgr[:, :, ::-1])
        i += 1
    return out


def match(boxes: list, eyes: list) -> tuple[list[bool], int]:
    """Which truth faces are found, and how many detections >= MIN_WIDTH found none."""
    used = set()
    found = []
    for (lx, ly), (rx, ry) in eyes:
        iod = np.hypot(rx - lx, ry - ly)
        hit = False
        for k, (x0, y0, x1, y1) in enumerate(boxes):
            inside = all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in ((lx, ly), (rx, ry)))
            if k not in used and inside and 1.2 * iod <= x1 - x0 <= 5 * iod:
                used.add(k)
                hit = True
                break
        found.append(hit)
    extra = sum(1 for k, b in enumerate(boxes) if k not in used and b[2] - b[0] >= MIN_WIDTH)
    return found, extra


def aligned_error(face, rgb: np.ndarray) -> float:
    """The issue's alignment error: the landmark model run on the face as aligned (upright, in
    MediaPipe's tracking ROI of the aligned frame) vs the eye centres the alignment used
    (mean of both eyes, fraction of the inter-ocular distance)."""
    from photomend.faces import landmarks

    pts, _ = landmarks.face_mesh_at(rgb, landmarks.aligned_roi(face.mesh, face.matrix))
    eyes = landmarks.five_points(pts)[:2]
    iod = np.linalg.norm(face.points[1] - face.points[0])
    return float(np.linalg.norm(eyes - face.points[:2], axis=1).mean() / iod)


def truth_error(face, truth) -> float:
    """The hand-placed eye centres vs the alignment's (fraction of the hand-placed
    inter-ocular distance; +-1 px of hand placement is 8 % at the 12 px of messi5/basketball1)."""
    truth = np.asarray(truth, np.float64)
    iod = np.linalg.norm(truth[1] - truth[0])
    return float(np.linalg.norm(truth - face.points[:2], axis=1).mean() / iod)


#: The alignment measures (row key -> what it is), each with the single-pass baseline.
MEASURES = {
    "aligned_error": "landmark model on the aligned face vs the alignment's eye centres "
                     "(the issue's measure)",
    "truth_error": "hand-placed eye centres vs the alignment's",
    "template_residual": "the alignment's eye centres in the crop vs the FFHQ template's eyes "
                         "(the 5-point similarity fit's residual: the nose and mouth pull)",
}


def template_residual(face) -> float:
    """Where the alignment puts the face mesh's eye centres vs the FFHQ template's eyes
    (mean of both eyes, fraction of the template's inter-ocular distance): the 5-point
    least-squares fit trades the eyes against the nose and mouth."""
    from photomend.faces.align import FFHQ_5

    eyes = face.points[:2] @ face.matrix[:, :2].T + face.matrix[:, 2]
    iod = np.linalg.norm(FFHQ_5[1] - FFHQ_5[0])
    return float(np.linalg.norm(eyes - FFHQ_5[:2], axis=1).mean() / iod)


def run_haar(python: str, paths: list[str]) -> dict:
    req = json.dumps({"images": paths, "min_size": 20})
    res = subprocess.run([python, str(HERE / "haar_faces.py")], input=req, text=True,
                         capture_output=True, check=True)
    return json.loads(res.stdout)


def run_pulse_speed(steps: int) -> int:
    """PULSE's speed at 1024 px on this CPU: ``steps`` steps of the search on a 32 px input
    with a random generator of the published architecture (the time does not depend on the
    weights); it/s and the projected time of 100 steps go to results_faces_pulse.md/.json."""
    import torch

    from photomend.faces import pulse_search as P
    from photomend.faces.stylegan import Synthesis

    torch.manual_seed(0)
    weights = {"synthesis": Synthesis().eval().requires_grad_(False),
               "fit": {"mean": torch.zeros(512), "std": torch.ones(512)}}
    lr = np.random.default_rng(0).random((32, 32, 3), dtype=np.float32)
    P.pulse(lr, steps=1, seed=1, weights=weights)  # warm-up (allocations, oneDNN kernels)
    cpu = time.process_time()
    res = P.pulse(lr, steps=steps, seed=1, weights=weights)
    cpu = (time.process_time() - cpu) / steps
    out = {"steps": steps, "seconds": round(res.seconds, 1), "it_per_s": round(res.it_per_s, 4),
           "projected_100_steps_s": round(100 / res.it_per_s, 0),
           "cpu_s_per_step": round(cpu, 2),
           "torch_threads": torch.get_num_threads(), **_conditions()}
    md = ("# PULSE speed at 1024 px (bench_faces.py --pulse-steps)\n\n"
          f"{out['date']}, commit {out['commit']}, {out['machine']}, {out['torch_threads']} "
          f"torch threads, 1-minute load average {out['load_average_1min']} (other jobs share "
          "the CPUs: the wall clock is an upper bound; CPU seconds are the work done, so on an "
          "idle machine with 2 threads a step takes about CPU / 2).\n\n"
          "| steps | seconds | it/s | 100 steps (projected) | CPU s / step | target |\n"
          "|---|---|---|---|---|---|\n"
          f"| {steps} | {out['seconds']} | {out['it_per_s']} | {out['projected_100_steps_s']:.0f} s"
          f" | {out['cpu_s_per_step']} | <= 300 s |\n")
    _write("results_faces_pulse", out, md)
    return 0


def run_gfpgan_speed(runs: int) -> int:
    """GFPGAN's speed under ONNX Runtime on one 512 px face: a random model of the published
    architecture exported as ``models import`` does (the time does not depend on the weights),
    one warm-up run, then the median of ``runs`` through photomend's session (wall clock);
    then ``runs`` more through a session that does not spin-wait, timed in process CPU
    seconds (the work done, which other jobs on a shared machine inflate far less than the
    wall clock: on an idle machine with 2 threads, wall ~ CPU / 2). results_faces_gfpgan.*"""
    import tempfile as tf

    import onnxruntime as ort
    import torch

    from photomend.faces import gfpgan
    from photomend.faces.gfpgan_arch import GFPGANv1Clean
    from photomend.nn.onnx import num_threads

    torch.manual_seed(0)
    with tf.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "GFPGANv1.4.pth", Path(tmp) / "g.onnx"
        torch.save({"params_ema": GFPGANv1Clean().state_dict()}, src)
        gfpgan.convert_checkpoint(src, dst)
        sess = gfpgan.session(dst)
        face = np.random.default_rng(0).random((512, 512, 3), dtype=np.float32)
        gfpgan.restore_face(face, sess)
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            gfpgan.restore_face(face, sess)
            times.append(time.perf_counter() - t)
        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        quiet = ort.InferenceSession(str(dst), options, providers=["CPUExecutionProvider"])
        gfpgan.restore_face(face, quiet)
        cpu = []
        for _ in range(runs):
            t = time.process_time()
            gfpgan.restore_face(face, quiet)
            cpu.append(time.process_time() - t)
    out = {"runs": runs, "median_s": round(float(np.median(times)), 2),
           "times_s": [round(t, 2) for t in times], "ort_threads": num_threads(),
           "cpu_s_median": round(float(np.median(cpu)), 2), "cpu_s": [round(t, 2) for t in cpu],
           **_conditions()}
    md = ("# GFPGAN speed, one 512 px face, ONNX Runtime fp32 (bench_faces.py --gfpgan-runs)"
          f"\n\n{out['date']}, commit {out['commit']}, {out['machine']}, {out['ort_threads']} "
          f"ONNX Runtime threads, 1-minute load average {out['load_average_1min']} (other jobs "
          "share the CPUs: the wall clock is an upper bound; CPU seconds are the work done, "
          "without spin-waiting).\n\n| runs | wall median | all | CPU s median | all | target |"
          "\n|---|---|---|---|---|---|\n"
          f"| {runs} | {out['median_s']} s | {out['times_s']} | {out['cpu_s_median']} s | "
          f"{out['cpu_s']} | <= 2 s wall |\n")
    _write("results_faces_gfpgan", out, md)
    return 0


def _conditions() -> dict:
    """Date, commit, machine and the 1-minute load average, for a results file."""
    return {"load_average_1min": round(os.getloadavg()[0], 1),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "date": time.strftime("%Y-%m-%d"),
            "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE,
                                     text=True, capture_output=True).stdout.strip()}


def _write(stem: str, result: dict, md: str) -> None:
    """``benchmarks/STEM.json`` and ``STEM.md``; the Markdown is printed too."""
    (HERE / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    (HERE / f"{stem}.md").write_text(md)
    print(md)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=None, help="opencv-doc examples/data folder")
    p.add_argument("--haar-python", default=None, help="a Python with OpenCV 4.x (Haar peer)")
    p.add_argument("--pulse-steps", type=int, default=None, metavar="N",
                   help="instead: time N steps of PULSE at 1024 px (torch extra)")
    p.add_argument("--gfpgan-runs", type=int, default=None, metavar="N",
                   help="instead: time GFPGAN on a 512 px face N times (torch extra to export)")
    args = p.parse_args(argv)
    if args.gfpgan_runs:
        return run_gfpgan_speed(args.gfpgan_runs)
    if args.pulse_steps:
        return run_pulse_speed(args.pulse_steps)
    if args.data is None:
        p.error("--data is required")
    from PIL import Image

    from photomend.nn.onnx import num_threads

    conditions = _conditions()  # (the commit measured, not one made meanwhile)
    all_cases = cases(args.data)
    frames = read_frames(args.data / "vtest.avi")
    for i, f in frames.items():
        all_cases.append((f"vtest frame {i}", f, []))
    from photomend.faces import api as faces_api

    find_faces(all_cases[0][1])  # load the models once, outside the timing
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for k, (name, img, eyes) in enumerate(all_cases):
            path = os.path.join(tmp, f"{k}.png")
            Image.fromarray(img).save(path)
            paths.append(path)
        haar = run_haar(args.haar_python, paths) if args.haar_python else None
        for k, (name, img, eyes) in enumerate(all_cases):
            t = time.perf_counter()
            faces = find_faces(img)
            dt = time.perf_counter() - t
            big = [e for e in eyes
                   if FACE_PER_IOD * np.hypot(*np.subtract(e[1], e[0])) >= MIN_WIDTH - 0.5]
            ours, extra = match([f.box for f in faces], big)
            matched = [(f, e) for f in faces for e in big if match([f.box], [e])[0][0]]
            errs = [f.eye_error for f, _ in matched if f.eye_error is not None]
            passes, faces_api.ALIGN_PASSES = faces_api.ALIGN_PASSES, 0  # baseline: one pass
            single = [(f, e) for f in find_faces(img) for e in big if match([f.box], [e])[0][0]]
            faces_api.ALIGN_PASSES = passes
            rgb = img.astype(np.float32) / 255
            measures = {}
            for tag, found in (("", matched), ("_single_pass", single)):
                measures["aligned_error" + tag] = [round(aligned_error(f, rgb), 4)
                                                   for f, _ in found]
                measures["truth_error" + tag] = [round(truth_error(f, e), 4) for f, e in found]
                measures["template_residual" + tag] = [round(template_residual(f), 4)
                                                       for f, _ in found]
            row = {"photo": name, "size": list(img.shape[:2][::-1]), "faces": len(big),
                   "photomend": {"found": sum(ours), "false": extra, "seconds": round(dt, 3),
                                 "eye_error": [round(e, 4) for e in errs], **measures,
                                 "skipped_small": faces.skipped_small,
                                 "rejected": faces.rejected}}
            if haar is not None:
                hb = haar["boxes"][paths[k]]
                hf, hx = match(hb, big)
                row["haar"] = {"found": sum(hf), "false": hx,
                               "seconds": round(haar["seconds"][paths[k]], 3)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    res = {**conditions, "threads": num_threads(),  # (the load at the end of the run, not the start)
           "load_average_1min": round(os.getloadavg()[0], 1),
           "haar_opencv": haar["opencv"] if haar else None, "rows": rows}
    res["summary"] = summarise(rows)
    _write("results_faces", res, to_markdown(res))
    return 0


def summarise(rows: list[dict]) -> dict:
    out = {}
    for method in ("photomend", "haar"):
        if method not in rows[0]:
            continue
        faces = sum(r["faces"] for r in rows)
        found = sum(r[method]["found"] for r in rows)
        photo_rows = [r for r in rows if not r["photo"].startswith("vtest")]
        video_rows = [r for r in rows if r["photo"].startswith("vtest")]
        out[method] = {
            "recall": round(found / max(faces, 1), 3), "found": found, "faces": faces,
            "false_photos": sum(r[method]["false"] for r in photo_rows),
            "false_video": sum(r[method]["false"] for r in video_rows),
            "seconds_mean": round(float(np.mean([r[method]["seconds"] for r in rows])), 3),
        }
    errs = [e for r in rows for e in r["photomend"]["eye_error"]]
    out["eye_error"] = {"mean": round(float(np.mean(errs)), 4) if errs else None,
                        "max": round(float(np.max(errs)), 4) if errs else None,
                        "within_3pct": sum(e <= 0.03 for e in errs), "n": len(errs)}
    for key in MEASURES:
        for tag in ("", "_single_pass"):
            res = [e for r in rows for e in r["photomend"][key + tag]]
            out[key + tag] = {"mean": round(float(np.mean(res)), 4) if res else None,
                              "max": round(float(np.max(res)), 4) if res else None,
                              "within_3pct": sum(e <= 0.03 for e in res), "n": len(res)}
    return out


def to_markdown(res: dict) -> str:
    s = res["summary"]
    lines = [f"# Face detection: photomend vs OpenCV Haar cascade ({res['date']}, commit "
             f"{res['commit']}, {res['machine']}, {res['threads']} ONNX Runtime threads; Haar "
             f"under OpenCV {res['haar_opencv']}; 1-minute load average at the end "
             f"{res.get('load_average_1min')}: times are upper bounds when it exceeds 2)", "",
             "Written by benchmarks/bench_faces.py. Recall on frontal faces >= 24 px wide; "
             "false detections >= 24 px wide that match no truth face; vtest.avi frames "
             "0-399 (every 20th) hold no face >= 24 px.", "",
             "| method | recall | false (photos) | false (vtest, 20 frames) | s / photo |",
             "|---|---|---|---|---|"]
    for method in ("photomend", "haar"):
        if method in s:
            m = s[method]
            lines.append(f"| {method} | {m['recall']:.3f} ({m['found']}/{m['faces']}) | "
                         f"{m['false_photos']} | {m['false_video']} | {m['seconds_mean']} |")
    e = s["eye_error"]
    lines += ["", f"Detector eye keypoints vs the face mesh's eye centres (fraction of the "
              f"inter-ocular distance), over {e['n']} found faces: mean {e['mean']}, max "
              f"{e['max']}, {e['within_3pct']} within 3 %. (Alignment uses the mesh's points; "
              f"detections it scores below 0.5 are dropped.)", "",
              "Alignment (eye centres, mean of both eyes, fraction of the inter-ocular "
              "distance, over the found faces): photomend runs the mesh again on the aligned "
              "face until the eyes settle (`faces.api.realign`); the baseline in the same run "
              "is one mesh pass on the detector's tilted crop (`ALIGN_PASSES = 0`).", "",
              "| measure | realigned: mean / max / within 3 % | one pass: mean / max / within "
              "3 % |", "|---|---|---|"]
    for key, what in MEASURES.items():
        a, b = s[key], s[key + "_single_pass"]
        lines.append(f"| {what} | {a['mean']} / {a['max']} / {a['within_3pct']} of {a['n']} | "
                     f"{b['mean']} / {b['max']} / {b['within_3pct']} of {b['n']} |")
    lines += ["",
              "| photo | size | faces | photomend found / false / s | haar found / false / s |",
              "|---|---|---|---|---|"]
    for r in res["rows"]:
        p, h = r["photomend"], r.get("haar")
        hs = f"{h['found']} / {h['false']} / {h['seconds']}" if h else "-"
        lines.append(f"| {r['photo']} | {r['size'][0]}x{r['size'][1]} | {r['faces']} | "
                     f"{p['found']} / {p['false']} / {p['seconds']} | {hs} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
