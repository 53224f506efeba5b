"""Compare defect-detector models on the validation photo and the training photos (never on
benchmark photos): the numbers used to choose what ships.

    python training/eval_defects_dev.py MODEL.onnx [MODEL.onnx ...] [--quick] [--regions]
        [--tears] [--stains NET.onnx|shipped ...] [--stain-thresholds 0.3,0.55]

``--regions``, ``--lines``, ``--tears`` and ``--stains`` add the learned detector's later steps
(the second look at each region, the long faint scratches, the corner-tear rule, a stain
network's detections: ``photomend.restoration.detect_regions.drop_content`` / ``detect.
add_lines`` / ``add_tears`` / ``add_stains``); each
model is reported alone and with each stain network (at its own threshold or each of
``--stain-thresholds``).

Sets (all at 1024 px long side, seeds the training and the calibration never drew):

* ``val``: :data:`benchmarks.photos.VALIDATION_PHOTO` (TwoWings, never in a training crop), sharp
  and enlarged from 512 px, 4 seeds each with all damage, plus faint scratches and
  hairlines-only scans;
* ``dev``: the 8 other mate training photos, sharp and enlarged from 512 px, all damage (every
  model has seen these photos, so the learned scores are optimistic there);
* clean photos (no damage, no ageing) run at their own size (the learned detector enlarges
  them as it does, ``detect.detection_input``): TwoWings at 128, 256, 512 px and
  the training photos at 320 and 512 px: the share of pixels flagged.

Each model runs with its own calibrated threshold and classical support (ONNX metadata); the
classical detector is the reference. The repair gain is the PSNR of
``repair(scan, dilate_mask(pred))`` against the aged, undamaged twin minus that of the scan.
``hairline R`` and ``stain R`` are the recall of those defect kinds' pixels alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from benchmarks.photos import (  # noqa: E402
    NATURE_DIR,
    TRAINABLE_NATURE,
    VALIDATION_PHOTO,
    _resize_long_side,
    mate_root,
)
from photomend.metrics import pooled_scores, tolerant_counts  # noqa: E402
from photomend.restoration.degrade import degrade  # noqa: E402
from photomend.restoration.detect import add_lines, add_tears, detection_input, fuse  # noqa: E402
from photomend.restoration.detect_classical import DEFAULT_THRESHOLD, classical_score  # noqa: E402
from photomend.restoration.detect_learned import (  # noqa: E402
    classical_support,
    default_threshold,
    learned_probability,
)
from photomend.restoration.detect_regions import drop_content  # noqa: E402
from photomend.restoration.detect_stains import (  # noqa: E402
    stain_probability,
    stain_threshold,
    stains_from,
    toned,
)
from photomend.restoration.detect_stains import weights_path as stain_weights  # noqa: E402
from photomend.restoration.pipeline import dilate_mask, repair  # noqa: E402


def _psnr(a, b):
    return 10 * np.log10(1.0 / max(float(np.mean((a.astype(np.float64) - b) ** 2)), 1e-12))


def cases(quick: bool):
    """(set name, Degraded) for the damaged scans and (set, rgb) for the clean photos."""
    folder = mate_root() / NATURE_DIR

    def load(name):
        return np.asarray(Image.open(folder / name).convert("RGB"), np.float32) / 255

    def pair(full):
        sharp = _resize_long_side(full, 1024)
        h, w = sharp.shape[:2]
        soft = cv2.resize(_resize_long_side(full, 512), (w, h), interpolation=cv2.INTER_CUBIC)
        return sharp, soft

    damaged, clean = [], []
    val = load(VALIDATION_PHOTO)
    seeds = (80_000, 80_001) if quick else (80_000, 80_001, 80_002, 80_003)
    for kind, img in zip(("sharp", "soft"), pair(val)):
        for s in seeds:
            damaged.append(("val", degrade(img, seed=s + (100 if kind == "soft" else 0),
                                           amount=1.5)))
        damaged.append(("val faint", degrade(img, seed=81_000 + len(damaged),
                                             defects=("scratch", "hairline"), amount=3.0,
                                             opacity=(0.35, 0.6), scale=1.0)))
        damaged.append(("val hairline", degrade(img, seed=82_000 + len(damaged),
                                                defects=("hairline",), amount=3.0, scale=1.0)))
    for side in (128, 256, 512):
        clean.append(("val clean", _resize_long_side(val, side)))
    names = [n for n in TRAINABLE_NATURE if n != VALIDATION_PHOTO][: 3 if quick else None]
    for i, name in enumerate(names):
        full = load(name)
        for j, img in enumerate(pair(full)):
            damaged.append(("dev", degrade(img, seed=70_000 + 10 * i + j, amount=1.5)))
        for side in (320, 512):
            clean.append(("dev clean", _resize_long_side(full, side)))
    return damaged, clean


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-repair", action="store_true")
    ap.add_argument("--tears", action="store_true",
                    help="add the corner-tear rule (as photomend's learned detector does)")
    ap.add_argument("--lines", action="store_true",
                    help="add the long faint scratches (detect.add_lines, as photomend's "
                         "learned detector does)")
    ap.add_argument("--regions", action="store_true",
                    help="drop the regions the region model judges content "
                         "(detect_regions.drop_content, as photomend's learned detector does)")
    ap.add_argument("--region-model", type=Path, action="append", default=[],
                    metavar="REGIONS.json",
                    help="with --regions: the region model of each MODEL, in order (repeat once "
                         "per MODEL; default: the shipped one for every model)")
    ap.add_argument("--stains", type=Path, action="append", default=[], metavar="NET.onnx",
                    help="also evaluate each model with this stain network's detections added "
                         "(detect.add_stains; repeatable; 'shipped' = the packaged one)")
    ap.add_argument("--stain-thresholds", default="",
                    help="comma-separated stain thresholds to try (default: each network's own)")
    args = ap.parse_args(argv)
    if args.region_model and len(args.region_model) != len(args.models):
        ap.error("give one --region-model per MODEL (or none)")
    region_models = args.region_model or [None] * len(args.models)
    damaged, clean = cases(args.quick)
    classical = [classical_score(d.image) for _, d in damaged]
    classical_clean = [classical_score(img) for _, img in clean]
    # the learned detector runs small photos enlarged (detect.detection_input); the share of
    # pixels flagged is measured at that size
    clean_l = [(s, detection_input(img, "learned")) for s, img in clean]
    classical_clean_l = [classical_score(img) for _, img in clean_l]
    base = {}
    for i, (_, d) in enumerate(damaged):
        base[i] = _psnr(d.image, d.clean)

    def evaluate(label, preds, cpreds):
        res = {}
        for set_name in dict.fromkeys(s for s, _ in damaged):
            idx = [i for i, (s, _) in enumerate(damaged) if s == set_name]
            c = sum(tolerant_counts(preds[i], damaged[i][1].mask) for i in idx)
            p, r, f1 = pooled_scores(c)
            res[set_name] = f"F1 {f1:.3f} (P {p:.2f} R {r:.2f})"
            hc = [tolerant_counts(preds[i], damaged[i][1].kinds["hairline"]) for i in idx
                  if "hairline" in damaged[i][1].kinds]
            if hc:
                res[set_name] += f" hairline R {pooled_scores(sum(hc))[1]:.3f}"
            sc = [tolerant_counts(preds[i], damaged[i][1].kinds["stain"]) for i in idx
                  if "stain" in damaged[i][1].kinds]
            if sc:
                res[set_name] += f" stain R {pooled_scores(sum(sc))[1]:.3f}"
            if set_name in ("val", "dev") and not args.no_repair:
                gains = [_psnr(repair(damaged[i][1].image, dilate_mask(preds[i])),
                               damaged[i][1].clean) - base[i] for i in idx]
                res[set_name] += f" repair {np.mean(gains):+.2f} dB"
        for set_name in dict.fromkeys(s for s, _ in clean):
            fl = [cpreds[i].mean() for i, (s, _) in enumerate(clean) if s == set_name]
            res[set_name] = f"{100 * np.mean(fl):.2f} % (worst {100 * np.max(fl):.2f})"
        print(f"== {label}", flush=True)
        for k, v in res.items():
            print(f"   {k:>13}: {v}", flush=True)

    evaluate("classical", [c > DEFAULT_THRESHOLD for c in classical],
             [c > DEFAULT_THRESHOLD for c in classical_clean])
    if args.tears:
        evaluate("classical + corner tears",
                 [add_tears(c, d.image) > DEFAULT_THRESHOLD for (_, d), c in zip(damaged, classical)],
                 [add_tears(c, img) > DEFAULT_THRESHOLD for (_, img), c in zip(clean, classical_clean)])
    stain_nets = [stain_weights() if str(n) == "shipped" else n for n in args.stains]
    stain_ts = [float(v) for v in args.stain_thresholds.split(",") if v.strip()]
    # the network's map is used on toned scans only (detect_stains.stains_from)
    stain_probs = {n: ([stain_probability(d.image, model=n) if toned(d.image) else None
                        for _, d in damaged],
                       [stain_probability(img, model=n) if toned(img) else None
                        for _, img in clean_l])
                   for n in stain_nets}
    for model, regions in zip(args.models, region_models):
        t, support = default_threshold(model), classical_support(model)

        def score(img, c, model=model, support=support, t=t, regions=regions):
            prob = learned_probability(img, model=model)
            p = fuse(prob, c, support)
            p = drop_content(p, img, prob, c, t, model=regions) if args.regions else p
            p = add_lines(p, prob, img, t) if args.lines else p
            return add_tears(p, img) if args.tears else p

        scores = [score(d.image, c) for (_, d), c in zip(damaged, classical)]
        cscores = [score(img, c) for (_, img), c in zip(clean_l, classical_clean_l)]
        label = f"{model} (threshold {t}, support {support}" + (
            f", regions {regions})" if regions is not None else ")")
        evaluate(label, [s > t for s in scores],
                 [s > t for s in cscores])
        for net in stain_nets:
            sp, csp = stain_probs[net]
            for st in stain_ts or [stain_threshold(net)]:
                found = [stains_from(d.image, q, st) for (_, d), q in zip(damaged, sp)]
                cfound = [stains_from(img, q, st) for (_, img), q in zip(clean_l, csp)]
                evaluate(f"{model} + stains {net} (stain threshold {st})",
                         [(s > t) | f for s, f in zip(scores, found)],
                         [(s > t) | f for s, f in zip(cscores, cfound)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
