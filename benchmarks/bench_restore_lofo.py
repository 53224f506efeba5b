"""Leave-one-family-out: restore's defect detectors on damage families they never saw (issue 21).

    python training/train_stacked.py                        # the stacked classifier's fits
    python training/train_families.py --leave-out strokes   # (optional) the U-Net's LOFO fits
    python benchmarks/bench_restore_lofo.py [--split tune] [--no-repair]

For each family F of :mod:`photomend.restoration.damage_families`, on the photos of
``bench_restore_families.py`` (held-out by default), in one run:

* ``top-hat``: the issue's baseline (grey white/black top-hat, 9x9 square, threshold 30);
* ``chain``: the learned chain of session 12 (the U-Net with its fusion, region, line, stain
  and tear steps: :func:`photomend.restoration.detect.chain_maps`, hysteresis, threshold);
* ``stacked left out``: the stacked per-pixel classifier (:mod:`photomend.restoration.
  detect_stacked`) fitted without F (``training/.cache/stacked/lofo_F.npz``, its own
  threshold): F's drawing code and ageing never reached the fit, the photos never did;
* ``stacked``: the stacked classifier fitted on every family (``all.npz``; F was in its fit);
* ``left out``: (when its models exist) the U-Net fine-tuned on every family *but* F
  (``training/.cache/families/lofo_F.onnx``), thresholded at its own calibrated threshold: F is
  damage drawn by code this model never saw. ``degrade`` has none: every run starts from the
  degrade-trained weights;
* ``all families``: (when it exists) the U-Net fine-tuned on every family (``all.onnx``),
  same rule: F was in its training, the photos were not.

``--tears``: the stacked detectors' masks with the torn corners of the tear rule
(:func:`photomend.restoration.detect_tears.corner_tears`) added, as chosen on the training
photos (``training/train_stacked.py`` prints both).

The networks run as restore runs them (:func:`photomend.restoration.detect_learned.
learned_probability`: tiles, flip averaging). Writes ``results_restore_lofo[_tune].md`` and a
JSON of the records.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_restore_families as brf  # noqa: E402
import numpy as np  # noqa: E402

from photomend.restoration import detect_stacked  # noqa: E402
from photomend.restoration.damage_families import FAMILIES  # noqa: E402
from photomend.restoration.detect import chain_maps, hysteresis  # noqa: E402
from photomend.restoration.detect_learned import (  # noqa: E402
    default_threshold,
    hysteresis_margin,
    learned_probability,
)
from photomend.restoration.detect_tears import corner_tears  # noqa: E402
from photomend.restoration.pipeline import dilate_mask, repair  # noqa: E402

MODELS = HERE.parent / "training" / ".cache" / "families"
STACKED = HERE.parent / "training" / ".cache" / "stacked"
_MAPS: dict[str, tuple] = {}


def maps(rgb):
    """(chain score, stacked features) of a 1024-px scan, kept for the scan's next detectors."""
    key = hashlib.sha1(rgb.tobytes()).hexdigest()
    if key not in _MAPS:
        if len(_MAPS) >= 4:
            _MAPS.pop(next(iter(_MAPS)))
        classical, prob, chain = chain_maps(rgb)
        X = detect_stacked.features(rgb, chain, prob, detect_stacked.half_probability(rgb),
                                    classical)
        _MAPS[key] = (chain, X)
    return _MAPS[key]


def chain_detector(rgb):
    chain, _ = maps(rgb)
    t = default_threshold()
    return hysteresis(chain, t, min(t + hysteresis_margin(), 0.995)) > t


def stacked_detector(path: Path, tears: bool):
    model = detect_stacked.load_model(path)
    names = [str(n) for n in model.get("features", detect_stacked.FEATURE_NAMES)]
    rows = [detect_stacked.FEATURE_NAMES.index(n) for n in names]

    def detect(rgb):
        _, X = maps(rgb)
        f, h, w = X[rows].shape
        p = detect_stacked.probability(X[rows].reshape(f, h * w), model).reshape(h, w)
        found = p > float(model["threshold"])
        return found | corner_tears(rgb) if tears else found
    return detect


def net_detector(path: Path):
    t = default_threshold(path)
    return lambda rgb: learned_probability(rgb, model=path) > t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=("heldout", "tune"), default="heldout")
    ap.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    ap.add_argument("--models", type=Path, default=MODELS)
    ap.add_argument("--no-repair", action="store_true")
    ap.add_argument("--stacked", type=Path, default=STACKED, help="the stacked fits' folder")
    ap.add_argument("--tears", action="store_true",
                    help="stacked: set to 1 on the torn corners of the tear rule")
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
    for d in ("chain", "stacked left out", "stacked", "left out", "all families"):
        brf.REPAIRS[d] = lambda rgb, m: repair(rgb, dilate_mask(m))
    for fam in args.families:
        dets = ["top-hat", "chain"]
        if (args.stacked / f"lofo_{fam}.npz").exists():
            brf.DETECTORS["stacked left out"] = stacked_detector(
                args.stacked / f"lofo_{fam}.npz", args.tears)
            dets.append("stacked left out")
        if (args.stacked / "all.npz").exists():
            brf.DETECTORS["stacked"] = stacked_detector(args.stacked / "all.npz", args.tears)
            dets.append("stacked")
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
        "learned chain of session 12 (U-Net + steps); 'stacked left out': the stacked "
        "classifier fitted without this family (never saw its drawing code or ageing); "
        "'stacked': fitted on every family (F in its fit; not shipped); 'left out' / "
        "'all families': the U-Net fine-tuned without / with the family; 'top-hat': the "
        "issue's baseline. The stacked fits read only training photos. Columns as in results_restore_families.md.")
    brf.write_report(out, f"Leave one damage family out ({args.split} photos)",
                     "python benchmarks/bench_restore_lofo.py", argv, started, description,
                     brf.table(summ, args.families, ["top-hat", "chain", "stacked left out",
                                                     "stacked", "left out", "all families"])
                     + ["", "Mean F1 over the families: " + ", ".join(
                         f"{d} {np.mean([summ[(f, d)]['f1'] for f in args.families]):.3f}"
                         for d in ("top-hat", "chain", "stacked left out", "stacked")
                         if all((f, d) in summ for f in args.families)) + "."], records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
