"""Choose the constants of the top-hat floor (``restoration/detect_tophat.py``) and which of the
learned detector's post-processing steps to keep, on the TUNE photos and the TUNED families only.

    python training/tune_restore_floor.py [--families degrade strokes]

TUNE photos: opencv-doc's TUNE half (``benchmarks/structure_photos.SPLITS['tune']``), 1024 px;
families ``degrade`` and ``strokes`` by default (``folds`` and ``surface`` stay held out, as do
the HELDOUT photos: ``benchmarks/bench_restore_families.py`` judges on those). Seeds 30_000+,
none of the benchmark's. The network runs once per scan; every variant reuses its output:

* the learned detector's steps switched off one at a time (``fuse``, ``drop_content``,
  ``add_lines``, ``add_stains``, ``add_tears``), each with and without the top-hat floor;
* the floor's constants varied one at a time around the module's values.

Prints pooled F1 per family and the share of the clean twins' pixels flagged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from structure_photos import SPLITS, load_structure_photo

from photomend.metrics import pooled_scores, tolerant_counts
from photomend.restoration import detect as D
from photomend.restoration import detect_tophat as T
from photomend.restoration.damage_families import damage

STEPS = ("fuse", "drop_content", "add_lines", "add_stains", "add_tears")
ALL_STEPS = True
#: the learned variant the floor's grid was added to (the first round, every step ablated,
#: found add_tears costing 0.01 F1 on these scans, which hold few tears; it was kept for the
#: torn corners the issue asks for, and the chosen constants rechecked on "learned")
BASE = "learned -add_tears"
CACHE = ROOT / "training" / ".cache" / "tune_restore_floor"


def learned_variants(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """The learned detector's mask (a 1024-px scan: detected at its own size), and the masks
    with each step left out."""
    from photomend.restoration.detect_classical import classical_score
    from photomend.restoration.detect_learned import (
        classical_support,
        default_threshold,
        hysteresis_margin,
        learned_probability,
    )
    from photomend.restoration.detect_regions import drop_content

    assert D.detection_scale(*rgb.shape[:2]) == 1.0
    classical = classical_score(rgb)
    prob = learned_probability(rgb, classical=classical)
    t, margin = default_threshold(), hysteresis_margin()
    out = {}
    for off in ("none", *(STEPS if ALL_STEPS else ("add_tears",))):
        s = prob if off == "fuse" else D.fuse(prob, classical, classical_support())
        if off != "drop_content":
            s = drop_content(s, rgb, prob, classical, t)
        if off != "add_lines":
            s = D.add_lines(s, prob, rgb, t)
        if off != "add_stains":
            s = D.add_stains(s, rgb)
        if off != "add_tears":
            s = D.add_tears(s, rgb)
        out[f"learned -{off}" if off != "none" else "learned"] = \
            D.hysteresis(s, t, min(t + margin, 0.995)) > t
    return out


GRID = {
    "SIZES": [(9,), (9, 17), (13,), (13, 21)],
    "MIN_RESPONSE": [30 / 255, 45 / 255, 60 / 255],
    "LEVEL_K": [4.0, 6.0, 9.0],
    "LEVEL_WINDOW": [21, 41, 81],
    "LINE_LENGTH": [30, 60, 100],
    "LINE_ASPECT": [5.0, 8.0],
    "SPECK_AREA": [0, 20, 60],
    "SPECK_K": [6.0, 8.0, 12.0, 20.0],
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--families", nargs="+", default=["degrade", "strokes"])
    ap.add_argument("--steps", action="store_true",
                    help="the ablation of every step (default: add_tears only)")
    args = ap.parse_args(argv)
    global ALL_STEPS
    ALL_STEPS = args.steps
    cases = []
    for fi, family in enumerate(args.families):
        for pi, name in enumerate(SPLITS["tune"]):
            rgb = load_structure_photo(name, 1024)
            d = damage(rgb, family, seed=30_000 + 100 * fi + pi)
            cached = CACHE / f"{family}_{name}_{int(args.steps)}.npz"
            if cached.exists():
                z = np.load(cached)
                lv = {k[2:]: z[k] for k in z.files if k.startswith("v:")}
                lc = z["clean"]
            else:
                lv = learned_variants(d.image)
                lc = D.detect_defects(d.clean)
                CACHE.mkdir(parents=True, exist_ok=True)
                np.savez_compressed(cached, clean=lc, **{f"v:{k}": v for k, v in lv.items()})
            cases.append((family, d, lv, lc))
            print(f"{family} {name}: learned F1 "
                  f"{pooled_scores(tolerant_counts(lv['learned'], d.mask))[2]:.3f}", flush=True)
    defaults = {k: getattr(T, k) for k in GRID}

    def evaluate(label: str, pick) -> None:
        per = {}
        clean = []
        for family, d, lv, lc in cases:
            pred, cpred = pick(d, lv, lc)
            per[family] = per.get(family, 0) + tolerant_counts(pred, d.mask)
            clean.append(cpred.mean())
        f1s = {f: pooled_scores(c) for f, c in per.items()}
        print(f"{label:<40} " + "  ".join(
            f"{f}: P {p:.3f} R {r:.3f} F1 {f1:.3f}" for f, (p, r, f1) in f1s.items())
            + f"  mean F1 {np.mean([v[2] for v in f1s.values()]):.3f}"
            + f"  clean {100 * np.mean(clean):.2f} %", flush=True)

    evaluate("top-hat floor alone", lambda d, lv, lc: (T.tophat_defects(d.image),
                                                       T.tophat_defects(d.clean)))
    variants = cases[0][2]
    for v in variants:
        evaluate(v, lambda d, lv, lc, v=v: (lv[v], lc))
        evaluate(v + " + floor", lambda d, lv, lc, v=v: (lv[v] | T.tophat_defects(d.image),
                                                         lc | T.tophat_defects(d.clean)))
    for key, values in GRID.items():
        for value in values:
            setattr(T, key, value)
            evaluate(f"learned + floor {key}={value if key != 'MIN_RESPONSE' else round(value * 255)}",
                     lambda d, lv, lc: (lv[BASE] | T.tophat_defects(d.image),
                                        lc | T.tophat_defects(d.clean)))
        setattr(T, key, defaults[key])
    return 0


if __name__ == "__main__":
    sys.exit(main())
