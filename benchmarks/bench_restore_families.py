"""Restore's defect detectors on damage families they were never tuned on (issue 21).

    python benchmarks/bench_restore_families.py                  # held-out photos, 4 families
    python benchmarks/bench_restore_families.py --split tune     # the photos for choosing constants
    python benchmarks/bench_restore_families.py --quick          # 2 photos per split, no repair
    python benchmarks/bench_restore_families.py --pictures docs --detectors learned top-hat

Damage: the four families of :mod:`photomend.restoration.damage_families` (``degrade``, the
generator the learned detector was trained and tuned on, and ``strokes``, ``folds``,
``surface``, written independently of it), one seeded scan per photo and family, seeds >= 20_000.

Photos, at 1024 px on the long side, frozen splits:

* ``tune``: the TUNE half of opencv-doc's sample photos (``structure_photos.SPLITS``); the only
  photos constants may be chosen on;
* ``heldout``: opencv-doc's HELDOUT half plus the held-out mate-backgrounds nature photos
  (``photos.HELD_OUT_NATURE``). No detector was trained on any of them (the restore training
  uses mate's trainable nature photos and two skimage ones).

Detectors: ``learned`` (the default) and ``classical`` of :func:`photomend.restoration.detect.
detect_defects`, and the issue's **top-hat baseline**: grey (``cv2.COLOR_RGB2GRAY`` of the
8-bit scan) white top-hat and black top-hat with a 9x9 square, each thresholded at 30 (of 255),
the union; with ``--detectors ... bopbtl``, where it is installed (``photomend models fetch
bopbtl-scratch``), the published detector of Bringing Old Photos Back to Life. Scores pooled over the scans of a family with a 2-px tolerance
(:func:`photomend.metrics.tolerant_counts`); per-type recall (thin / wide scratch, dust, crease,
tear, ...) on each type's own truth; "clean flagged" is the share of pixels flagged on the clean
twin (the same ageing and scan effects, no damage). Repair gain: PSNR against the clean twin
after the repair minus before; ``learned`` and ``classical`` repair with restore's own
``repair(dilate_mask(mask))``, the baseline with OpenCV's Telea (radius 3) on its own mask.
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
sys.path.insert(0, str(HERE))

from photos import HELD_OUT_NATURE, NATURE_DIR, _resize_long_side, mate_root
from structure_photos import SPLITS, load_structure_photo

from photomend.metrics import pooled_scores, tolerant_counts
from photomend.restoration.damage_families import FAMILIES, damage
from photomend.restoration.detect import detect_defects
from photomend.restoration.pipeline import dilate_mask, repair

TOL = 2
SIDE = 1024
#: defect type reported -> the kinds of the families that are of that type
TYPES = {
    "thin scratch": ("thin scratch", "hairline"),
    "wide scratch": ("wide scratch", "scratch"),
    "dust": ("dust", "mould"),
    "crease": ("crease", "fold"),
    "crack": ("crack",),
    "tear": ("tear",),
    "stain": ("stain",),
    "flake": ("flake",),
}


def tophat_baseline(rgb: np.ndarray) -> np.ndarray:
    """The issue's baseline: grey white/black top-hat, 9x9 square, threshold 30/255, union."""
    grey = cv2.cvtColor(np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
    se = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9))
    white = cv2.morphologyEx(grey, cv2.MORPH_TOPHAT, se)
    black = cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, se)
    return (white > 30) | (black > 30)


def telea(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    if not mask.any():
        return rgb.copy()
    u8 = np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    out = cv2.inpaint(u8, mask.astype(np.uint8), 3, cv2.INPAINT_TELEA)
    return out.astype(np.float32) / 255


DETECTORS = {
    "learned": lambda rgb: detect_defects(rgb, detector="learned"),
    "classical": lambda rgb: detect_defects(rgb, detector="classical"),
    "top-hat": tophat_baseline,
    # (Bringing Old Photos Back to Life's published detector: only where it is installed,
    # ``photomend models fetch bopbtl-scratch``; ``--detectors ... bopbtl``)
    "bopbtl": lambda rgb: detect_defects(rgb, detector="bopbtl"),
}
REPAIRS = {"learned": lambda rgb, m: repair(rgb, dilate_mask(m)),
           "classical": lambda rgb, m: repair(rgb, dilate_mask(m)),
           "top-hat": telea,
           "bopbtl": lambda rgb, m: repair(rgb, dilate_mask(m))}


def photos(split: str, quick: bool) -> dict[str, np.ndarray]:
    names = SPLITS[split][: 2 if quick else None]
    out = {f"opencv:{n}": load_structure_photo(n, SIDE) for n in names}
    if split == "heldout" and not quick:
        for n in HELD_OUT_NATURE:
            rgb = np.asarray(Image.open(mate_root() / NATURE_DIR / n).convert("RGB"), np.float32)
            out[f"mate:{n}"] = _resize_long_side(rgb / 255, SIDE)
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def run(imgs: dict, families, detectors, *, with_repair: bool, log) -> list[dict]:
    records = []
    for fi, family in enumerate(families):
        for pi, (name, rgb) in enumerate(imgs.items()):
            seed = 20_000 + 100 * fi + pi
            d = damage(rgb, family, seed=seed)
            for det in detectors:
                t0 = time.perf_counter()
                pred = DETECTORS[det](d.image)
                took = time.perf_counter() - t0
                rec = {"family": family, "photo": name, "seed": seed, "detector": det,
                       "seconds": took, "counts": tolerant_counts(pred, d.mask, tol=TOL).tolist(),
                       "types": {}, "clean flagged": float(DETECTORS[det](d.clean).mean())}
                for t, kinds in TYPES.items():
                    truth = np.zeros_like(d.mask)
                    for k in kinds:
                        if k in d.kinds:
                            truth |= d.kinds[k]
                    if truth.any():
                        rec["types"][t] = tolerant_counts(pred, truth, tol=TOL)[2:].tolist()
                if with_repair:
                    rec["psnr before"] = psnr(d.image, d.clean)
                    rec["psnr after"] = psnr(REPAIRS[det](d.image, pred), d.clean)
                records.append(rec)
                f1 = pooled_scores(np.array(rec["counts"]))[2]
                log(f"{family:>8} {name:>26} {det:>9}: F1 {f1:.3f} ({took:.1f} s)"
                    + (f", gain {rec['psnr after'] - rec['psnr before']:+.2f} dB"
                       if with_repair else ""))
    return records


def picture(d, preds: dict[str, np.ndarray], path: Path, width: int = 1600) -> None:
    """The scan, then per detector its mask against the truth: hits white, misses red, false
    marks cyan (a found pixel within the tolerance of a true one is a hit)."""
    from photomend.metrics import _dilated

    panels = [d.image]
    for pred in preds.values():
        near_pred, near_truth = _dilated(pred, TOL), _dilated(d.mask, TOL)
        v = np.zeros(d.image.shape, np.float32)
        v[d.mask & near_pred] = (1, 1, 1)
        v[d.mask & ~near_pred] = (1, 0.15, 0.15)
        v[pred & ~near_truth] = (0.1, 0.9, 1)
        panels.append(v)
    sheet = np.concatenate(panels, axis=1)
    h, w = sheet.shape[:2]
    sheet = cv2.resize(sheet, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)
    Image.fromarray(np.round(np.clip(sheet, 0, 1) * 255).astype(np.uint8)).save(path, quality=88)


def pictures(folder: Path, detectors) -> None:
    """Truth vs found for two held-out scans (families ``folds`` and ``surface``, the first
    HELDOUT photo with structure) per detector: ``folder/restore_families_<family>.jpg``."""
    name = SPLITS["heldout"][2]
    rgb = load_structure_photo(name, SIDE)
    folder.mkdir(parents=True, exist_ok=True)
    for family in ("folds", "surface"):
        d = damage(rgb, family, seed=20_000 + 100 * FAMILIES.index(family) + 2)
        picture(d, {det: DETECTORS[det](d.image) for det in detectors},
                folder / f"restore_families_{family}.jpg")


def summary(records: list[dict]) -> dict:
    """(family, detector) -> pooled precision, recall, F1, per-type recall, gain, clean %."""
    out = {}
    for r in records:
        key = (r["family"], r["detector"])
        s = out.setdefault(key, {"counts": np.zeros(4, np.int64), "types": {}, "gain": [],
                                 "clean": [], "n": 0})
        s["counts"] += np.array(r["counts"])
        s["n"] += 1
        for t, c in r["types"].items():
            s["types"][t] = s["types"].get(t, np.zeros(2, np.int64)) + np.array(c)
        if "psnr after" in r:
            s["gain"].append(r["psnr after"] - r["psnr before"])
        s["clean"].append(r["clean flagged"])
    for s in out.values():
        s["precision"], s["recall"], s["f1"] = pooled_scores(s["counts"])
        s["type recall"] = {t: c[0] / max(c[1], 1) for t, c in s["types"].items()}
        s["mean gain"] = float(np.mean(s["gain"])) if s["gain"] else float("nan")
        s["clean %"] = 100 * float(np.mean(s["clean"]))
        s["clean max %"] = 100 * float(np.max(s["clean"]))
    return out


def table(summ: dict, families, detectors) -> list[str]:
    types = [t for t in TYPES if any(t in s["type recall"] for s in summ.values())]
    lines = ["| family | detector | precision | recall | F1 | F1 - top-hat | "
             + " | ".join(f"{t} recall" for t in types)
             + " | repair gain (dB) | clean flagged (mean / worst) |",
             "|---" * (8 + len(types)) + "|"]
    for fam in families:
        base = summ.get((fam, "top-hat"))
        for det in detectors:
            s = summ.get((fam, det))
            if s is None:
                continue
            rel = f"{s['f1'] - base['f1']:+.3f}" if base and det != "top-hat" else ""
            tr = " | ".join(f"{s['type recall'][t]:.2f}" if t in s["type recall"] else ""
                            for t in types)
            lines.append(f"| {fam} | {det} | {s['precision']:.3f} | {s['recall']:.3f} | "
                         f"**{s['f1']:.3f}** | {rel} | {tr} | {s['mean gain']:+.2f} | "
                         f"{s['clean %']:.2f} % / {s['clean max %']:.2f} % |")
    return lines


def write_report(out: Path, title: str, script: str, argv, started: float, description: str,
                 body: list[str], records: list[dict]) -> None:
    """The Markdown report (title, the command with its commit, machine and load, the
    description, ``body``) to ``out`` and the records to ``out`` with ``.json``; printed too."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], check=False,
                            capture_output=True, text=True, cwd=HERE).stdout.strip()
    cmd = " ".join([script, *(argv or sys.argv[1:])])
    lines = [
        f"# {title}",
        "",
        (f"`{cmd}` at commit {commit}, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, "
         f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (shared; load "
         f"{os.getloadavg()[0]:.1f} at the end), {time.perf_counter() - started:.0f} s."),
        "",
        description,
        "",
        *body,
    ]
    text = "\n".join(lines) + "\n"
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(records, indent=1))
    print(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=("heldout", "tune"), default="heldout")
    ap.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    ap.add_argument("--detectors", nargs="+", choices=list(DETECTORS),
                    default=["learned", "classical", "top-hat"])
    ap.add_argument("--quick", action="store_true", help="2 photos, no repair")
    ap.add_argument("--no-repair", action="store_true")
    ap.add_argument("--out", type=Path, default=None,
                    help="markdown file (default results_restore_families[_tune].md)")
    ap.add_argument("--pictures", type=Path, default=None,
                    help="only draw truth vs found for two held-out scans into this folder")
    args = ap.parse_args(argv)
    if args.pictures:
        pictures(args.pictures, args.detectors)
        return 0
    out = args.out or HERE / ("results_restore_families"
                              + ("_tune" if args.split == "tune" else "") + ".md")
    started = time.perf_counter()
    imgs = photos(args.split, args.quick)
    records = run(imgs, args.families, args.detectors,
                  with_repair=not (args.quick or args.no_repair), log=lambda m: print(m, flush=True))
    summ = summary(records)
    description = (
        f"Photos ({args.split}, {SIDE} px long side): {', '.join(imgs)}. One scan per photo "
        f"and family. Precision / recall / F1 pooled over the family's scans, {TOL}-px "
        "tolerance; 'F1 - top-hat' is against the issue's top-hat baseline in this same run; "
        "repair gain is the mean PSNR gain against the aged, undamaged twin (baseline: top-hat "
        "+ Telea); clean flagged: share of the clean twin's pixels flagged. See the script's "
        "docstring.")
    times = "Mean detection time per 1024-px scan: " + ", ".join(
        f"{det} {np.mean([r['seconds'] for r in records if r['detector'] == det]):.2f} s"
        for det in args.detectors) + "."
    write_report(out, f"Restore on damage families ({args.split} photos)",
                 "python benchmarks/bench_restore_families.py", argv, started, description,
                 [*table(summ, args.families, args.detectors), "", times], records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
