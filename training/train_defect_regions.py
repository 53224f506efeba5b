"""Fit the region model shipped as ``src/photomend/data/weights/defect_regions.json``: the
learned detector's second look, which drops detected regions that look like photo content
(:mod:`photomend.restoration.detect_regions`).

One command, CPU, seeded, no torch (about 10 minutes)::

    python training/train_defect_regions.py

Data: ONLY the training photos (``TRAINABLE_NATURE`` without ``VALIDATION_PHOTO``, plus
``TRAINABLE_SKIMAGE``), each at 1024 px long side, sharp and enlarged from 512 px (soft, like
an old print), with synthetic damage from seeds no other training drew (all damage, and faint
scratches), ageing alone, and the clean photo at 320 and 512 px (sharp photos, where real
thin edges look most like scratches). Each scan goes through the shipped detector's learned
path up to the region step (U-Net probability, classical fusion, the calibrated threshold);
every region above the threshold is one sample, labelled damage when at least half of its
pixels lie within 2 px of a true defect (the benchmark's tolerance).

Model: logistic regression on the standardised :data:`~photomend.restoration.detect_regions.
FEATURES`, L2-penalised, each region weighted by the square root of its area (big regions
weigh more, as in a pixel score, but a thousand specks still count). Its threshold is chosen
by leave-one-photo-out on the training photos: the one with the best pooled pixel F1 of the
whole learned detector on the damaged scans. The validation photo (TwoWings, never fitted
on) is reported before and after: F1 on damaged scans, share of pixels flagged on clean ones.

``--pixel-threshold`` (experiments only: the detector judges the regions at the network's
calibrated threshold, which the shipped model was fitted at) fits the model to the regions
above another threshold; ``--reuse`` refits from the cached measurements. ``--model CANDIDATE.onnx
--out CANDIDATE.json`` (session 8) fits a region model for another, calibrated U-Net (its own
threshold and support), for ``training/eval_defects_dev.py --region-model``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from pathlib import Path

os.environ.setdefault("PHOTOMEND_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from scipy.optimize import minimize  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from benchmarks.photos import (  # noqa: E402
    NATURE_DIR,
    TRAINABLE_NATURE,
    TRAINABLE_SKIMAGE,
    VALIDATION_PHOTO,
    _resize_long_side,
    mate_root,
    trainable_skimage_photo,
)
from photomend.metrics import _dilated, pooled_scores, tolerant_counts  # noqa: E402
from photomend.restoration.degrade import degrade  # noqa: E402
from photomend.restoration.detect import detection_input, fuse  # noqa: E402
from photomend.restoration.detect_classical import classical_score  # noqa: E402
from photomend.restoration.detect_learned import (  # noqa: E402
    classical_support,
    default_threshold,
    learned_probability,
)
from photomend.restoration.detect_regions import (  # noqa: E402
    FEATURES,
    damage_probability,
    region_features,
)
from photomend.restoration.detect_stains import stains  # noqa: E402
from photomend.restoration.detect_tears import corner_tears  # noqa: E402

OUT = ROOT / "src" / "photomend" / "data" / "weights" / "defect_regions.json"
CACHE = ROOT / "training" / ".cache" / "defect_regions.pkl"
TAUS = np.round(np.arange(0.1, 0.71, 0.05), 2)
L2 = 1.0
#: Long sides (px) of the clean, untouched photos among the samples.
CLEAN_SIDES = (320, 512)


def load_photo(name: str) -> np.ndarray:
    if name in TRAINABLE_SKIMAGE:
        return trainable_skimage_photo(name).astype(np.float32) / 255
    path = mate_root() / NATURE_DIR / name
    return np.asarray(Image.open(path).convert("RGB"), np.float32) / 255


def scans(name: str, base_seed: int, damaged_seeds: int, clean_sides=CLEAN_SIDES):
    """(suite, image, truth mask) for one photo: damaged, faint, aged-only and clean scans."""
    full = load_photo(name)
    sharp = _resize_long_side(full, 1024)
    h, w = sharp.shape[:2]
    soft = cv2.resize(_resize_long_side(full, 512), (w, h), interpolation=cv2.INTER_CUBIC)
    for j, img in enumerate((sharp, soft)):
        seed = base_seed + 10 * j
        for s in range(damaged_seeds):
            d = degrade(img, seed=seed + s, amount=1.5)
            yield "damaged", d.image, d.mask
        d = degrade(img, seed=seed + 5, defects=("scratch", "hairline"), amount=3.0,
                    opacity=(0.35, 0.6), scale=1.0)
        yield "faint", d.image, d.mask
        d = degrade(img, seed=seed + 6, defects=())
        yield "clean", d.image, d.mask
    for side in clean_sides:
        img = _resize_long_side(full, side)
        yield "clean", img, np.zeros(img.shape[:2], bool)


def measure(rgb: np.ndarray, truth: np.ndarray, threshold: float, support, model=None) -> dict:
    """The learned path up to the region step, the regions' features and labels (at the
    detection size: small clean photos are enlarged as the detector does)."""
    rgb = detection_input(rgb, "learned")
    if rgb.shape[:2] != truth.shape:
        truth = cv2.resize(truth.astype(np.uint8), rgb.shape[1::-1],
                           interpolation=cv2.INTER_NEAREST).astype(bool)
    classical = classical_score(rgb)
    prob = learned_probability(rgb, classical=classical, model=model)
    fused = fuse(prob, classical, support)
    found = fused > threshold
    labels, X = region_features(rgb, prob, fused, classical, found)
    near = _dilated(truth, 2)
    n = X.shape[0] + 1
    size = np.bincount(labels.ravel(), minlength=n)[1:]
    hits = np.bincount(labels.ravel(), weights=near.ravel(), minlength=n)[1:]
    return dict(X=X, size=size, damage=hits >= 0.5 * size, labels=labels, truth=truth,
                certain=stains(rgb) | corner_tears(rgb))


def collect(names, base_seed, damaged_seeds, log, threshold=None,
            clean_sides=CLEAN_SIDES, model=None) -> list[tuple[str, str, dict]]:
    """The measurements of every scan of ``names`` through the U-Net ``model`` (default: the
    shipped one) at its calibrated threshold and classical support."""
    threshold = default_threshold(model) if threshold is None else threshold
    support = classical_support(model)
    out = []
    for i, name in enumerate(names):
        for suite, img, truth in scans(name, base_seed + 100 * i, damaged_seeds, clean_sides):
            out.append((name, suite, measure(img, truth, threshold, support, model)))
        log(f"  {name}: {sum(1 for n, _, _ in out if n == name)} scans")
    return out


def fit(X: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float = L2) -> dict:
    """L2-penalised logistic regression on standardised features."""
    mean, scale = X.mean(0), X.std(0) + 1e-9
    Z = np.hstack([(X - mean) / scale, np.ones((len(X), 1))])
    t = y.astype(np.float64)
    wsum = weight.sum()

    def loss(beta):
        z = Z @ beta
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        ll = np.sum(weight * (np.logaddexp(0, z) - t * z)) / wsum
        grad = Z.T @ (weight * (p - t)) / wsum
        reg = 0.5 * l2 * np.sum(beta[:-1] ** 2) / len(X)
        return ll + reg, grad + np.append(l2 * beta[:-1] / len(X), 0.0)

    beta = minimize(loss, np.zeros(Z.shape[1]), jac=True, method="L-BFGS-B",
                    options={"maxiter": 2000}).x
    return dict(mean=mean, scale=scale, coef=beta[:-1], intercept=float(beta[-1]))


def stack(rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X = np.concatenate([m["X"] for _, _, m in rows])
    y = np.concatenate([m["damage"] for _, _, m in rows])
    w = np.sqrt(np.concatenate([m["size"] for _, _, m in rows]).astype(np.float64))
    return X, y, w


def scores(rows, keep_of) -> dict[str, np.ndarray]:
    """Pooled tolerant counts per suite of the learned detector (regions kept by ``keep_of``,
    plus stains and torn corners, as in ``defect_score``)."""
    total: dict[str, np.ndarray] = {}
    for _, suite, m in rows:
        keep = np.concatenate([[False], keep_of(m)])
        pred = keep[m["labels"]] | m["certain"]
        total[suite] = total.get(suite, 0) + tolerant_counts(pred, m["truth"])
    return total


def describe(counts: dict[str, np.ndarray], pixels: dict[str, int]) -> str:
    parts = []
    for suite, c in counts.items():
        if suite == "clean":
            parts.append(f"clean flagged {100 * c[1] / pixels[suite]:.2f} %")
        else:
            p, r, f1 = pooled_scores(c)
            parts.append(f"{suite} F1 {f1:.3f} (P {p:.2f} R {r:.2f})")
    return ", ".join(parts)


def choose_threshold(rows, log) -> float:
    """The threshold with the best pooled F1 on damaged + faint scans, leave one photo out."""
    names = sorted({n for n, _, _ in rows})
    held = {tau: 0 for tau in TAUS}
    for name in names:
        model = fit(*stack([r for r in rows if r[0] != name]))
        test = [r for r in rows if r[0] == name and r[1] != "clean"]
        for tau in TAUS:
            c = scores(test, lambda m, tau=tau: damage_probability(m["X"], model) >= tau)
            held[tau] = held[tau] + sum(c.values())
    f1 = {tau: pooled_scores(c)[2] for tau, c in held.items()}
    log("  leave-one-photo-out F1 by threshold: "
        + " ".join(f"{t:.2f}:{f:.4f}" for t, f in f1.items()))
    return float(max(f1, key=f1.get))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--seeds", type=int, default=3, help="damaged scans per photo and sharpness")
    ap.add_argument("--reuse", action="store_true", help="reuse the cached measurements")
    ap.add_argument("--pixel-threshold", type=float, default=None,
                    help="regions of the score above this (default: the network's calibrated "
                         "threshold)")
    ap.add_argument("--cache", type=Path, default=None,
                    help=f"measurements cache (default {CACHE.relative_to(ROOT)}; with --model, "
                         "next to --out)")
    ap.add_argument("--model", type=Path, default=None,
                    help="the defect U-Net (ONNX, calibrated) whose outputs the region model is "
                         "fitted on (default: the shipped one); use with --out")
    ap.add_argument("--clean-sides", default=",".join(map(str, CLEAN_SIDES)),
                    help="long sides of the clean photos among the samples")
    args = ap.parse_args(argv)
    if args.model is not None and args.out == OUT:
        ap.error("--model needs --out (the shipped region model goes with the shipped U-Net)")
    if args.cache is None:
        args.cache = CACHE if args.model is None else args.out.with_suffix(".pkl")
    start = time.time()

    def log(msg):
        print(f"[{time.time() - start:6.0f} s] {msg}", flush=True)

    if args.reuse and args.cache.exists():
        train, val = pickle.loads(args.cache.read_bytes())
    else:
        names = [n for n in TRAINABLE_NATURE if n != VALIDATION_PHOTO] + list(TRAINABLE_SKIMAGE)
        log("training photos:")
        sides = tuple(int(v) for v in args.clean_sides.split(","))
        train = collect(names, 120_000, args.seeds, log, args.pixel_threshold, sides, args.model)
        log("validation photo:")
        val = collect([VALIDATION_PHOTO], 130_000, 4, log, args.pixel_threshold, sides,
                      args.model)
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        args.cache.write_bytes(pickle.dumps((train, val)))
    X, y, w = stack(train)
    log(f"{len(y)} regions from {len(train)} scans, {y.mean():.0%} damage")
    tau = choose_threshold(train, log)
    model = fit(X, y, w)
    everything = lambda m: np.ones(len(m["X"]), bool)  # noqa: E731
    judged = lambda m: damage_probability(m["X"], model) >= tau  # noqa: E731
    for label, rows in (("training photos", train), ("validation photo", val)):
        pixels: dict[str, int] = {}
        for _, suite, m in rows:
            pixels[suite] = pixels.get(suite, 0) + m["truth"].size
        log(f"{label}, before: {describe(scores(rows, everything), pixels)}")
        log(f"{label}, after:  {describe(scores(rows, judged), pixels)}")
    weights = {
        "features": list(FEATURES),
        "mean": model["mean"].round(6).tolist(),
        "scale": model["scale"].round(6).tolist(),
        "coef": model["coef"].round(6).tolist(),
        "intercept": round(model["intercept"], 6),
        "threshold": tau,
        "pixel_threshold": round(float(args.pixel_threshold
                                       or default_threshold(args.model)), 4),
        "trained_by": "training/train_defect_regions.py",
    }
    log("coefficients: " + ", ".join(f"{n} {c:+.2f}" for n, c in
                                     sorted(zip(FEATURES, model["coef"]), key=lambda t: -abs(t[1]))))
    args.out.write_text(json.dumps(weights, indent=1) + "\n", encoding="utf-8")
    log(f"threshold {tau}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
