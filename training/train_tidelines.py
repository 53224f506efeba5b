"""Fit the tide-line stain model shipped as ``src/photomend/data/weights/tidelines.json``: the
stain step of the learned detector on colour scans (:mod:`photomend.restoration.
detect_tidelines`).

One command, CPU, seeded, no torch (about 3 minutes)::

    python training/train_tidelines.py

Data: ONLY the training photos (``TRAINABLE_NATURE`` without ``VALIDATION_PHOTO``, plus
``TRAINABLE_SKIMAGE`` as clean photos), at 1024 px long side, sharp and enlarged from 512 px,
each with synthetic damage of every kind on a colour scan (``degrade(tone="colour")``, seeds
no other training drew), ageing alone, the clean photo at 512, 768 and 1024 px and two
hue-rotated copies (brown content where the photo had none). Every candidate (a hole closed
by tide-line-like lines, :func:`~photomend.restoration.detect_tidelines.candidates`) is one
sample: a stain when more than half of it (with its outline) is stain, content when less than
a tenth is (the others are left out).

Model: logistic regression on the standardised :data:`~photomend.restoration.
detect_tidelines.FEATURES` (``train_defect_regions.fit``), stains weighted 3 (they are rare:
about 1 candidate in 80). Its threshold is chosen by leave-one-photo-out on the training
photos: the lowest one at which the candidates kept on clean, aged and hue-rotated photos
cover at most 0.05 % of their pixels and whose stain-pixel F1 is best. The validation photo
(TwoWings, never fitted on) is reported: stain recall, false pixels, clean pixels flagged.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "training"))

from benchmarks.photos import (  # noqa: E402
    TRAINABLE_NATURE,
    TRAINABLE_SKIMAGE,
    VALIDATION_PHOTO,
    _resize_long_side,
)
from photomend.restoration.degrade import degrade  # noqa: E402
from photomend.restoration.detect_stains import to_stain_side  # noqa: E402
from photomend.restoration.detect_tidelines import (  # noqa: E402
    BAND,
    FEATURES,
    RIM,
    SIDE,
    assemble,
    line_map,
    measured,
    probabilities,
)
from train_defect_regions import fit, load_photo  # noqa: E402
from train_stains import _hue_rotate  # noqa: E402

OUT = ROOT / "src" / "photomend" / "data" / "weights" / "tidelines.json"
CACHE = ROOT / "training" / ".cache" / "tidelines.pkl"
TAUS = np.round(np.arange(0.3, 0.96, 0.05), 2)
#: Clean, aged and hue-rotated photos may have at most this share of pixels flagged.
MAX_CLEAN = 0.0005
STAIN_WEIGHT = 3.0


def scans(name: str, base_seed: int, seeds: int):
    """(suite, image, stain truth or None, all-defect truth or None) for one photo."""
    full = load_photo(name)
    if name in TRAINABLE_SKIMAGE:
        yield "clean", full, None, None
        return
    sharp = _resize_long_side(full, 1024)
    h, w = sharp.shape[:2]
    soft = cv2.resize(_resize_long_side(full, 512), (w, h), interpolation=cv2.INTER_CUBIC)
    for j, img in enumerate((sharp, soft)):
        for s in range(seeds):
            d = degrade(img, seed=base_seed + 10 * j + s, amount=1.5, tone="colour")
            yield "damaged", d.image, d.kinds.get("stain", np.zeros(d.mask.shape, bool)), d.mask
        yield "clean", degrade(img, seed=base_seed + 10 * j + 9, defects=(), tone="colour").image, \
            None, None
    for side in (512, 768, 1024):
        yield "clean", _resize_long_side(full, side), None, None
    for angle in (2.1, -2.1):
        yield "clean", _hue_rotate(sharp, angle), None, None


def _small_mask(mask: np.ndarray, shape) -> np.ndarray:
    return cv2.resize(mask.astype(np.uint8), shape[1::-1], interpolation=cv2.INTER_AREA) > 0


def collect(names, base_seed: int, seeds: int, log) -> list[dict]:
    """One dict per scan: its candidates' features, boxes, holes and labels, and its truth at
    the tracing size."""
    out = []
    for i, name in enumerate(names):
        for suite, img, stain, truth in scans(name, base_seed + 100 * i, seeds):
            small = to_stain_side(img, SIDE)
            lines = line_map(small)
            cands, X = measured(small, lines)
            st = None if stain is None else _small_mask(stain, small.shape)
            share = []
            for hole, (x, y, bw, bh) in cands:
                region = np.zeros(small.shape[:2], np.uint8)
                region[y:y + bh, x:x + bw] = hole
                region = cv2.dilate(region, np.ones((5, 5), np.uint8)).astype(bool)
                share.append(0.0 if st is None else float(st[region].mean()))
            out.append(dict(photo=name, suite=suite, X=X,
                            cands=cands, share=np.array(share), stain=st,
                            truth=None if truth is None else _small_mask(truth, small.shape),
                            lines=lines.astype(np.float16)))
        log(f"  {name}: {sum(1 for r in out if r['photo'] == name)} scans, "
            f"{sum(len(r['cands']) for r in out if r['photo'] == name)} candidates")
    return out


def stack(rows):
    X = np.concatenate([r["X"] for r in rows])
    share = np.concatenate([r["share"] for r in rows])
    use = (share > 0.5) | (share < 0.1)
    y = share > 0.5
    w = np.where(y, STAIN_WEIGHT, 1.0)
    return X[use], y[use], w[use]


def counts(rows, model, tau, band=BAND, rim=RIM) -> dict:
    """Stain pixels found / all stain pixels, kept pixels off any defect (2 px), kept pixels,
    and clean pixels flagged / clean pixels, pooled over ``rows``."""
    c = dict(found=0, stain=0, false=0, kept=0, clean_flagged=0, clean=0)
    k5 = np.ones((5, 5), np.uint8)  # the benchmark's 2-px tolerance
    for r in rows:
        scored = list(zip(r["cands"], probabilities(r["X"], model))) if len(r["X"]) else []
        keep = assemble(r["lines"].astype(np.float32), scored, tau, band, rim)
        if r["truth"] is None:
            c["clean_flagged"] += int(keep.sum())
            c["clean"] += keep.size
            continue
        near = cv2.dilate(r["truth"].astype(np.uint8), k5).astype(bool)
        c["found"] += int((r["stain"] & keep).sum())
        c["stain"] += int(r["stain"].sum())
        c["false"] += int((keep & ~near).sum())
        c["kept"] += int(keep.sum())
    return c


def rates(c: dict) -> tuple[float, float, float]:
    """(stain recall, share of kept pixels on a defect, F1 of the two) of :func:`counts`."""
    recall = c["found"] / max(c["stain"], 1)
    precision = 1 - c["false"] / max(c["kept"], 1)
    return recall, precision, 2 * precision * recall / max(precision + recall, 1e-9)


def describe(c: dict) -> str:
    recall, precision, f1 = rates(c)
    return (f"stain recall {recall:.3f}, kept pixels on a defect {precision:.3f} (F1 {f1:.3f}), "
            f"clean flagged {100 * c['clean_flagged'] / max(c['clean'], 1):.3f} %")


def choose_threshold(rows, log) -> float:
    """Leave one photo out: the threshold with the best pooled F1 among those that keep the
    clean photos' flags under :data:`MAX_CLEAN`."""
    names = sorted({r["photo"] for r in rows if r["suite"] == "damaged"})
    held = {tau: dict(found=0, stain=0, false=0, kept=0, clean_flagged=0, clean=0) for tau in TAUS}
    for name in names:
        model = fit(*stack([r for r in rows if r["photo"] != name]))
        test = [r for r in rows if r["photo"] == name]
        for tau in TAUS:
            for k, v in counts(test, model, tau).items():
                held[tau][k] += v
    ok = {tau: c for tau, c in held.items() if c["clean_flagged"] <= MAX_CLEAN * c["clean"]}
    log("  leave-one-photo-out by threshold: " + "; ".join(
        f"{t:.2f}: F1 {rates(c)[2]:.3f} clean {100 * c['clean_flagged'] / c['clean']:.3f} %"
        for t, c in held.items()))
    return float(max(ok or held, key=lambda t: rates((ok or held)[t])[2]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--seeds", type=int, default=6, help="damaged scans per photo and sharpness")
    ap.add_argument("--reuse", action="store_true", help="reuse the cached measurements")
    args = ap.parse_args(argv)
    start = time.time()

    def log(msg):
        print(f"[{time.time() - start:6.0f} s] {msg}", flush=True)

    if args.reuse and CACHE.exists():
        train, val = pickle.loads(CACHE.read_bytes())
    else:
        names = [n for n in TRAINABLE_NATURE if n != VALIDATION_PHOTO] + list(TRAINABLE_SKIMAGE)
        log("training photos:")
        train = collect(names, 140_000, args.seeds, log)
        log("validation photo:")
        val = collect([VALIDATION_PHOTO], 150_000, 8, log)
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        CACHE.write_bytes(pickle.dumps((train, val)))
    X, y, _ = stack(train)
    log(f"{len(y)} candidates, {int(y.sum())} stains")
    tau = choose_threshold(train, log)
    model = fit(*stack(train))
    log(f"threshold {tau:.2f}")
    log(f"training photos: {describe(counts(train, model, tau))}")
    log(f"validation photo: {describe(counts(val, model, tau))}")
    weights = {
        "features": list(FEATURES),
        "mean": model["mean"].round(6).tolist(),
        "scale": model["scale"].round(6).tolist(),
        "coef": model["coef"].round(6).tolist(),
        "intercept": round(model["intercept"], 6),
        "threshold": tau,
        "trained_on": "mate-backgrounds TRAINABLE_NATURE (less VALIDATION_PHOTO) + "
                      "TRAINABLE_SKIMAGE, photomend.restoration.degrade(tone='colour')",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(weights, indent=1) + "\n")
    log(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
