"""Choose the constants of the long-faint-scratch step (``photomend.restoration.detect_lines``)
on scans of the training photos (never benchmark photos): prints one row per setting.

    python training/tune_lines.py [--quick]

Scans: the 9 training photos (``benchmarks.photos.TRAINABLE_NATURE``, the validation photo
included) at 1024 px, each damaged five ways with seeds the other scripts never draw: faint
scratches and hairlines (35-60 % opacity), all damage, hairlines only, all damage on colour
scans, and ageing alone. For each, the learned detector runs once without the step; each
setting then adds its line pixels. Scores as the benchmark's (pooled precision / recall / F1,
2-px tolerance); for ageing alone the mean and worst share of pixels flagged. About 8 minutes
(``--quick``: 3 photos).

Session 9 chose ``CLIP 0.6, MIN_CONTRAST 0.3, MIN_PROB 0.3, MAX_MISFIT 0.03`` (among the rows
that raise the faint scans most, the one that lowers no other set's F1; chosen with every
line kept, before the rule that a line must touch a detection was added).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from benchmarks.photos import NATURE_DIR, TRAINABLE_NATURE, _resize_long_side, mate_root  # noqa: E402
from photomend.metrics import pooled_scores, tolerant_counts  # noqa: E402
from photomend.ops.morphology import touching  # noqa: E402
from photomend.restoration import detect_lines  # noqa: E402
from photomend.restoration.degrade import degrade  # noqa: E402
from photomend.restoration.detect import detect_defects  # noqa: E402
from photomend.restoration.detect_classical import classical_score  # noqa: E402
from photomend.restoration.detect_learned import learned_probability  # noqa: E402

SETS = {
    "faint": dict(defects=("scratch", "hairline"), amount=3.0, opacity=(0.35, 0.6), scale=1.0),
    "all": dict(amount=1.5),
    "hairline": dict(defects=("hairline",), amount=3.0, scale=1.0),
    "colour": dict(amount=1.5, tone="colour"),
    "ageing": dict(defects=()),
}
GRID = dict(CLIP=(0.45, 0.6, 0.8), MIN_CONTRAST=(0.25, 0.3, 0.35), MIN_PROB=(0.2, 0.3),
            MAX_MISFIT=(0.03, 1.0))


def scans(quick: bool) -> dict[str, list[dict]]:
    """Per set, the scans with their truth, the network's probability and the detection
    without the line step."""
    folder = mate_root() / NATURE_DIR
    no_lines = detect_lines.long_lines
    detect_lines.long_lines = lambda prob, rgb, detected: np.zeros(prob.shape, bool)
    out: dict[str, list[dict]] = {s: [] for s in SETS}
    try:
        for i, name in enumerate(TRAINABLE_NATURE[: 3 if quick else None]):
            full = np.asarray(Image.open(folder / name).convert("RGB"), np.float32) / 255
            img = _resize_long_side(full, 1024)
            for k, (set_name, kwargs) in enumerate(SETS.items()):
                d = degrade(img, seed=93_000 + 10 * i + k, **kwargs)
                prob = learned_probability(d.image, classical=classical_score(d.image))
                out[set_name].append(dict(rgb=d.image, truth=d.mask, prob=prob,
                                          base=detect_defects(d.image)))
                print(f"{set_name:>8} {name}", file=sys.stderr, flush=True)
    finally:
        detect_lines.long_lines = no_lines
    return out


def row(data: dict[str, list[dict]], add) -> str:
    cells = []
    for set_name, items in data.items():
        preds = [it["base"] | add(it) for it in items]
        if set_name == "ageing":
            flagged = [100 * p.mean() for p in preds]
            cells.append(f"{np.mean(flagged):.2f} % (worst {np.max(flagged):.2f})")
        else:
            p, r, f1 = pooled_scores(sum(tolerant_counts(q, it["truth"])
                                         for q, it in zip(preds, items)))
            cells.append(f"{f1:.3f} ({p:.2f}/{r:.2f})")
    return " | ".join(cells)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    data = scans(args.quick)
    print("| setting | " + " | ".join(f"{s} F1 (P/R)" if s != "ageing" else "ageing flagged"
                                      for s in SETS) + " |")
    print("|---" * (len(SETS) + 1) + "|")
    print(f"| without the step | {row(data, lambda it: np.zeros_like(it['truth']))} |", flush=True)
    shipped = {k: getattr(detect_lines, k) for k in GRID}
    for items in data.values():
        for it in items:
            it["misfit"] = detect_lines.grey_blend_misfit(it["rgb"])
    try:
        for clip in GRID["CLIP"]:
            detect_lines.CLIP = clip
            for items in data.values():
                for it in items:
                    it["contrast"] = detect_lines.line_contrast(it["prob"])
            for values in itertools.product(*list(GRID.values())[1:]):
                setting = dict(zip(GRID, (clip, *values)))
                for k, v in setting.items():
                    setattr(detect_lines, k, v)
                label = ", ".join(f"{k} {v}" for k, v in setting.items())
                mark = " (shipped)" if setting == shipped else ""
                cells = row(data, lambda it: touching(detect_lines.line_pixels(
                    it["prob"], it["contrast"], it["misfit"]), it["base"]))
                print(f"| {label}{mark} | {cells} |", flush=True)
                if mark:
                    cells = row(data, lambda it: detect_lines.line_pixels(
                        it["prob"], it["contrast"], it["misfit"]))
                    print(f"| {label}, also lines nothing was detected on | {cells} |",
                          flush=True)
    finally:
        for k, v in shipped.items():
            setattr(detect_lines, k, v)
    return 0


if __name__ == "__main__":
    sys.exit(main())
