"""Leave-one-family-out: the defect U-Net on damage families it never saw (issue 21).

    python training/train_families.py --leave-out strokes   # and folds, surface: the models
    python training/train_families.py                       # every family: the shipped one
    python benchmarks/bench_restore_lofo.py [--split tune] [--no-repair]

For each family F of :mod:`photomend.restoration.damage_families`, on the photos of
``bench_restore_families.py`` (held-out by default), in one run:

* ``top-hat``: the issue's baseline (grey white/black top-hat, 9x9 square, threshold 30);
* ``learned``: restore's default detector (:func:`photomend.restoration.detect.detect_defects`,
  the shipped weights and every step of its pipeline);
* ``left out``: the U-Net fine-tuned on every family *but* F
  (``training/.cache/families/lofo_F.onnx``), thresholded at its own calibrated threshold: F is
  damage drawn by code this model never saw. ``degrade`` has none: every run starts from the
  degrade-trained weights;
* ``all families``: the U-Net fine-tuned on every family (``all.onnx``), same rule: F was in
  its training, the photos were not.

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

from photomend.restoration.damage_families import FAMILIES  # noqa: E402
from photomend.restoration.detect_learned import default_threshold, learned_probability  # noqa: E402
from photomend.restoration.pipeline import dilate_mask, repair  # noqa: E402

MODELS = HERE.parent / "training" / ".cache" / "families"


def net_detector(path: Path):
    t = default_threshold(path)
    return lambda rgb: learned_probability(rgb, model=path) > t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=("heldout", "tune"), default="heldout")
    ap.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    ap.add_argument("--models", type=Path, default=MODELS)
    ap.add_argument("--no-repair", action="store_true")
    ap.add_argument("--quick", action="store_true", help="2 photos")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    out = args.out or HERE / ("results_restore_lofo" + ("_tune" if args.split == "tune" else "")
                              + ".md")
    started = time.perf_counter()
    imgs = brf.photos(args.split, args.quick)
    records = []
    all_path = args.models / "all.onnx"
    for fam in args.families:
        dets = ["top-hat", "learned"]
        lofo = args.models / f"lofo_{fam}.onnx"
        if lofo.exists():
            brf.DETECTORS["left out"] = net_detector(lofo)
            dets.append("left out")
        if all_path.exists():
            brf.DETECTORS["all families"] = net_detector(all_path)
            dets.append("all families")
        for d in ("left out", "all families"):
            brf.REPAIRS[d] = lambda rgb, m: repair(rgb, dilate_mask(m))
        records += brf.run(imgs, [fam], dets, with_repair=not args.no_repair,
                           log=lambda m: print(m, flush=True))
    summ = brf.summary(records)
    description = (
        f"Photos ({args.split}, {brf.SIDE} px long side): {', '.join(imgs)}. 'left out': the "
        "U-Net fine-tuned without this family (never saw its drawing code); 'all families': "
        "fine-tuned with it; 'learned': restore's current default; 'top-hat': the issue's "
        "baseline. Columns as in results_restore_families.md.")
    brf.write_report(out, f"Leave one damage family out ({args.split} photos)",
                     "python benchmarks/bench_restore_lofo.py", argv, started, description,
                     brf.table(summ, args.families, ["top-hat", "learned", "left out",
                                                     "all families"]), records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
