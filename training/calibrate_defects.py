"""Choose the defect detector's decision threshold, hysteresis margin and classical support,
and store them in the ONNX metadata (``threshold``, ``margin``, ``support``), which
:mod:`photomend.restoration.detect` reads.

    python training/calibrate_defects.py [--model src/photomend/data/weights/defects_unet.onnx]

``train_defects.py`` runs this at its end. Calibration uses ONLY the training photos
(``TRAINABLE_NATURE``, whole photos at 1024 px long side) with synthetic damage from seeds the
training never drew and no crop: the statistics of a real scan (few defect pixels), unlike the
dense training crops. Objective: the best tolerant F1 (2 px) such that ageing alone (no
defects) flags at most 0.5 % of the pixels and the clean photos at 320 and 512 px (run at that
size, no ageing: sharp photos, where real thin edges look most like scratches) at most 1.5 %
(the classical detector flags about 1 % of them).

``support`` (:func:`photomend.restoration.detect.fuse`): the classical detections are added
where the network's probability exceeds it; "none" in the grid = the network alone.
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
    TRAINABLE_SKIMAGE,
    mate_root,
    trainable_skimage_photo,
)
from photomend.metrics import pooled_scores, tolerant_counts  # noqa: E402
from photomend.restoration.degrade import degrade  # noqa: E402
from photomend.restoration.detect import detection_input, fuse, hysteresis  # noqa: E402
from photomend.restoration.detect_classical import classical_score  # noqa: E402
from photomend.restoration.detect_learned import learned_probability, weights_path  # noqa: E402

THRESHOLDS = np.round(np.arange(0.5, 0.991, 0.02), 3)
MARGINS = (0.0, 0.03)
SUPPORTS = (None, 0.2, 0.4, 0.7)
MAX_AGEING_FLAGGED = 0.005
MAX_CLEAN_FLAGGED = 0.015
SEEDS = (50_000, 50_001)


def calibrate(model: Path, log=print, skimage=(), enlarge: bool = False
              ) -> tuple[float, float, float | None]:
    """(threshold, margin, support) with the best F1 on the training photos (``skimage``: also
    these photos of ``TRAINABLE_SKIMAGE``). ``enlarge``: the clean photos at 320 and 512 px
    are run enlarged, as the learned detector runs small scans since session 7
    (``detect.detection_input``), rather than at their own size."""
    folder = mate_root() / NATURE_DIR
    damaged, aged, clean = [], [], []

    def maps(img):
        return learned_probability(img, model=model), classical_score(img)

    def load(name):
        if name in TRAINABLE_SKIMAGE:
            return trainable_skimage_photo(name).astype(np.float32) / 255
        return np.asarray(Image.open(folder / name).convert("RGB"), np.float32) / 255

    for name in TRAINABLE_NATURE + tuple(skimage):
        full = load(name)
        h, w = full.shape[:2]
        f = 1024 / max(h, w)
        rgb = cv2.resize(full, (round(w * f), round(h * f)),
                         interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
        hh, ww = rgb.shape[:2]
        soft = cv2.resize(cv2.resize(rgb, (ww // 2, hh // 2), interpolation=cv2.INTER_AREA),
                          (ww, hh), interpolation=cv2.INTER_CUBIC)
        for seed, img in zip(SEEDS, (rgb, soft)):
            d = degrade(img, seed=seed, amount=1.5)
            damaged.append((*maps(d.image), d.mask))
            aged.append(maps(degrade(img, seed=seed, defects=()).image))
        for side in (320, 512):
            g = side / max(h, w)
            small = cv2.resize(full, (round(w * g), round(h * g)), interpolation=cv2.INTER_AREA)
            clean.append(maps(detection_input(small, "learned") if enlarge else small))
        log(f"calibration: {name} done")
    best = (-1.0, 0.5, 0.0, None)
    for support in SUPPORTS:
        def score(p, c):
            return fuse(p, c, support)

        for margin in MARGINS:
            for t in THRESHOLDS:
                hi = min(t + margin, 0.995)

                def flags(p, c):
                    return hysteresis(score(p, c), t, hi) > t

                fp = np.mean([flags(p, c).mean() for p, c in aged])
                fc = np.mean([flags(p, c).mean() for p, c in clean])
                if fp > MAX_AGEING_FLAGGED or fc > MAX_CLEAN_FLAGGED:
                    continue
                f1 = pooled_scores(sum(tolerant_counts(flags(p, c), m) for p, c, m in damaged))[2]
                if f1 > best[0]:
                    best = (f1, float(t), float(margin), support)
                    log(f"  support {support} threshold {t:.2f} margin {margin:.2f}: F1 {f1:.3f}, "
                        f"ageing flags {100 * fp:.3f} %, clean photos {100 * fc:.2f} %")
    log(f"calibrated: threshold {best[1]:.2f}, margin {best[2]:.2f}, support {best[3]} (F1 "
        f"{best[0]:.3f} on the training photos)")
    return best[1], best[2], best[3]


def metadata(t: float, margin: float, support: float | None) -> dict[str, str]:
    """The ONNX metadata entries for a calibration (``support`` "none": no fusion)."""
    return {"threshold": f"{t:.2f}", "margin": f"{margin:.2f}",
            "support": "none" if support is None else f"{support:.2f}",
            "calibration": "training/calibrate_defects.py"}


def write_metadata(model: Path, values: dict[str, str]) -> None:
    import onnx

    m = onnx.load(str(model))
    props = {p.key: p.value for p in m.metadata_props}
    props.update(values)
    del m.metadata_props[:]
    for k, v in props.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    tmp = model.with_suffix(".tmp")
    onnx.save(m, str(tmp))
    tmp.replace(model)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=weights_path())
    ap.add_argument("--skimage", action="store_true",
                    help="also calibrate on the scikit-image photos of TRAINABLE_SKIMAGE")
    ap.add_argument("--enlarge", action="store_true",
                    help="run the clean 320/512-px photos enlarged, as the learned detector "
                         "runs small scans (session 8 experiment; not what ships)")
    args = ap.parse_args(argv)
    t, margin, support = calibrate(args.model, skimage=TRAINABLE_SKIMAGE if args.skimage else (),
                                   enlarge=args.enlarge)
    write_metadata(args.model, metadata(t, margin, support))
    print(f"wrote threshold {t:.2f}, margin {margin:.2f}, support {support} into {args.model}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
