"""Leave-one-family-out: restore's defect detectors on damage families they never saw (issue 21).

    python training/train_families.py --leave-out strokes   # the U-Net's LOFO fits
    python benchmarks/bench_restore_lofo.py [--split tune] [--no-repair] [--unet]

For each family F of :mod:`photomend.restoration.damage_families`, on the photos of
``bench_restore_families.py`` (held-out by default), in one run:

* ``top-hat``: the issue's baseline (grey white/black top-hat, 9x9 square, threshold 30);
* ``chain``: the learned chain of session 12 (the U-Net with its fusion, region, line, stain
  and tear steps: :func:`photomend.restoration.detect.chain_maps`, hysteresis, threshold);
* ``left out``: (when its models exist) the U-Net fine-tuned on every family *but* F
  (``training/.cache/families/lofo_F.onnx``), thresholded at its own calibrated threshold: F is
  damage drawn by code this model never saw. ``degrade`` has none: every run starts from the
  degrade-trained weights;
* ``all families``: (when it exists) the U-Net fine-tuned on every family (``all.onnx``),
  same rule: F was in its training, the photos were not.

(Session 13's stacked per-pixel classifier over the chain's maps was measured here too and
not shipped; it was deleted in session 19 and is in the history at commit a2a68d1:
``photomend/restoration/detect_stacked.py``, ``training/train_stacked.py``.)

The networks run as restore runs them (:func:`photomend.restoration.detect_learned.
learned_probability`: tiles, flip averaging). Writes ``results_restore_lofo[_tune].md`` and a
JSON of the records.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_restore_families as brf  # noqa: E402
import numpy as np  # noqa: E402

from photomend.restoration.damage_families import FAMILIES  # noqa: E402
from photomend.restoration.detect import chain_maps, hysteresis  # noqa: E402
from photomend.restoration.detect_learned import (  # noqa: E402
    default_threshold,
    hysteresis_margin,
    learned_probability,
)
from photomend.restoration.pipeline import dilate_mask, repair  # noqa: E402

MODELS = HERE.parent / "training" / ".cache" / "families"


def chain_detector(rgb):
    _, _, chain = chain_maps(rgb)
    t = default_threshold()
    return hysteresis(chain, t, min(t + hysteresis_margin(), 0.995)) > t


def net_detector(path: Path):
    t = default_threshold(path)
    return lambda rgb: learned_probability(rgb, model=path) > t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=("heldout", "tune"), default="heldout")
    ap.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    ap.add_argument("--models", type=Path, default=MODELS)
    ap.add_argument("--no-repair", action="store_true")
    ap.add_argument("--unet", action="store_true", help="also the U-Net's LOFO fine-tunes")
    ap.add_argument("--quick", action="store_true", help="2 photos")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    out = args.out or HERE / ("results_restore_lofo" + ("_tune" if args.split == "tune" else "")
                              + ".md")
    started = time.perf_counter()
    imgs = brf.photos(args.split, args.quick)
    records = []
    all_path = args.models / "all.onnx"
    brf.DETECTORS["chain"] = chain_detector
    for d in ("chain", "left out", "all families"):
        brf.REPAIRS[d] = lambda rgb, m: repair(rgb, dilate_mask(m))
    for fam in args.families:
        dets = ["top-hat", "chain"]
        lofo = args.models / f"lofo_{fam}.onnx"
        if args.unet and lofo.exists():
            brf.DETECTORS["left out"] = net_detector(lofo)
            dets.append("left out")
        if args.unet and all_path.exists():
            brf.DETECTORS["all families"] = net_detector(all_path)
            dets.append("all families")
        records += brf.run(imgs, [fam], dets, with_repair=not args.no_repair,
                           log=lambda m: print(m, flush=True))
    summ = brf.summary(records)
    description = (
        f"Photos ({args.split}, {brf.SIDE} px long side): {', '.join(imgs)}. 'chain': the "
        "learned chain of session 12 (U-Net + steps); 'left out' / 'all families': the U-Net "
        "fine-tuned without / with the family; 'top-hat': the issue's baseline. Columns as in "
        "results_restore_families.md.")
    brf.write_report(out, f"Leave one damage family out ({args.split} photos)",
                     "python benchmarks/bench_restore_lofo.py", argv, started, description,
                     brf.table(summ, args.families, ["top-hat", "chain", "left out",
                                                     "all families"])
                     + ["", "Mean F1 over the families: " + ", ".join(
                         f"{d} {np.mean([summ[(f, d)]['f1'] for f in args.families]):.3f}"
                         for d in ("top-hat", "chain", "left out", "all families")
                         if all((f, d) in summ for f in args.families)) + "."], records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
