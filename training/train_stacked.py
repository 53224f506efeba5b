"""Fit the stacked defect classifier (issue 21), with leave-one-family-out fits. One command::

    pip install -e ".[torch]"
    python training/train_stacked.py            # maps cache, the LOFO fits, the all-family fit

The classifier (:mod:`photomend.restoration.detect_stacked`) reads, per pixel, the learned
chain's maps and cheap image features. It is fitted on scans of photos **the chain never
trained on** (stacking needs the chain's maps as they are on new photos): the opencv-doc photos
of the structure benchmark's ``tune`` split and ``TwoWings.jpg`` (the chain's validation
photo), at 1024 px, each damaged by every family of :mod:`photomend.restoration.damage_families`
with ``--seeds`` seeds (>= 30 000; the benchmark's are 20 000-20 400 and its photos others),
plus one clean twin (ageing and scan effects only) per photo and family. The held-out photos of
``benchmarks/bench_restore_families.py`` are never read.

Samples per damaged scan: up to 3000 defect pixels, 3000 pixels anywhere outside the 2-px
tolerance band around the defects and 1500 "hard" ones there (a chain map above 0.2); per clean
twin 2000 anywhere and 1500 hard. The band itself is not sampled (the benchmark does not count
it either way).

Fits: for each family F, a fit without F's scans (damaged and clean: F's ageing is F's drawing
code too) -> ``.cache/stacked/lofo_F.npz``; the fit on every family -> ``all.npz`` (not
shipped: docs/restore.md, session 13).
Each fit's threshold is the one of 0.05-0.99 with the best mean F1 (2-px tolerance, pooled per
family) over its own families' whole fit scans among those that flag at most 1 % of their clean
twins' pixels. The left-out family's fit scans, which its model never saw, give the LOFO
score printed at the end (chosen on: training photos only), next to the chain's F1 on the same
scans; each fit is also scored with the torn-corner rule's detections added (``+tears``).

Network: standardised features -> ``--hidden`` ReLU layers -> sigmoid (``--hidden`` empty:
logistic regression); Adam, binary cross-entropy, one torch thread, seeded.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from photos import (  # noqa: E402
    NATURE_DIR,
    TRAINABLE_NATURE,
    VALIDATION_PHOTO,
    _resize_long_side,
    mate_root,
)
from structure_photos import SPLITS, load_structure_photo  # noqa: E402

from photomend.metrics import disk, pooled_scores, tolerant_counts  # noqa: E402
from photomend.restoration.damage_families import FAMILIES, damage  # noqa: E402
from photomend.restoration.detect import chain_maps, hysteresis  # noqa: E402
from photomend.restoration.detect_learned import default_threshold, hysteresis_margin  # noqa: E402
from photomend.restoration.detect_tears import corner_tears  # noqa: E402
from photomend.restoration.detect_stacked import (  # noqa: E402
    FEATURE_NAMES,
    features,
    half_probability,
    probability,
)

CACHE = ROOT / "training" / ".cache" / "stacked"
PHOTOS = tuple(f"opencv:{n}" for n in SPLITS["tune"]) + (f"mate:{VALIDATION_PHOTO}",)
SIDE, TOL = 1024, 2
THRESHOLDS = np.round(np.arange(0.05, 0.995, 0.01), 2)
MAX_CLEAN = 0.01


def load(name: str) -> np.ndarray:
    from PIL import Image

    kind, stem = name.split(":", 1)
    if kind == "opencv":
        return load_structure_photo(stem, SIDE)
    rgb = np.asarray(Image.open(mate_root() / NATURE_DIR / stem).convert("RGB"), np.float32)
    return _resize_long_side(rgb / 255, SIDE)


def scans(seeds: int, kinds: bool = False, clean_only: tuple[str, ...] = ()):
    """(key, family, image, truth mask or None for a clean twin[, its tears' mask or None]) of
    every fit scan; the photos of ``clean_only`` give their clean twins only."""
    for pi, name in enumerate(PHOTOS + clean_only):
        rgb = load(name)
        for fi, fam in enumerate(FAMILIES):
            for s in range(seeds if name in PHOTOS else 1):
                if name not in PHOTOS:
                    d = damage(rgb, fam, seed=30_000 + 100 * fi + pi)
                    stem = f"{name.split(':')[1].split('.')[0]}_{fam}_{s}"
                    yield stem + "_clean", fam, d.clean, None, *((None,) if kinds else ())
                    continue
                d = damage(rgb, fam, seed=30_000 + 1000 * s + 100 * fi + pi)
                stem = f"{name.split(':')[1].split('.')[0]}_{fam}_{s}"
                tear = (d.kinds.get("tear"),) if kinds else ()
                yield stem, fam, d.image, d.mask, *tear
                if s == 0:
                    yield stem + "_clean", fam, d.clean, None, *((None,) if kinds else ())


def maps(key: str, img: np.ndarray) -> tuple[np.ndarray, ...]:
    """(chain, prob, prob half, classical) of a fit scan, cached as float16."""
    path = CACHE / "maps" / f"{key}.npz"
    if path.exists():
        with np.load(path) as z:
            return tuple(z[k].astype(np.float32) for k in ("chain", "prob", "half", "classical"))
    classical, prob, chain = chain_maps(img)
    half = half_probability(img)
    # as stored: a fresh run fits on the same (float16) values as a cached one
    chain, prob, half, classical = (x.astype(np.float16).astype(np.float32)
                                    for x in (chain, prob, half, classical))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, chain=chain.astype(np.float16), prob=prob.astype(np.float16),
                        half=half.astype(np.float16), classical=classical.astype(np.float16))
    tmp.replace(path)
    return chain, prob, half, classical


def scan_features(key: str, img: np.ndarray) -> np.ndarray:
    chain, prob, half, classical = maps(key, img)
    return features(img, chain, prob, half, classical)


def sample(X: np.ndarray, truth: np.ndarray | None, rng: np.random.Generator):
    """Sampled columns of ``X`` (F x H x W) and their labels, as described in the docstring."""
    f = X.shape[0]
    flat = X.reshape(f, -1)
    hard = (np.maximum(X[0], X[1]) > np.log(0.2 / 0.8)).ravel()  # chain or prob above 0.2
    if truth is None:
        neg = np.ones(flat.shape[1], bool)
        pos_idx = np.zeros(0, np.int64)
        n_any = 2000
    else:
        band = cv2.dilate(truth.astype(np.uint8), disk(TOL)).astype(bool).ravel()
        neg = ~band
        pos_idx = np.flatnonzero(truth.ravel())
        pos_idx = rng.choice(pos_idx, min(3000, len(pos_idx)), replace=False)
        n_any = 3000
    any_idx = np.flatnonzero(neg)
    any_idx = rng.choice(any_idx, min(n_any, len(any_idx)), replace=False)
    hard_idx = np.flatnonzero(neg & hard)
    hard_idx = rng.choice(hard_idx, min(1500, len(hard_idx)), replace=False)
    idx = np.concatenate([pos_idx, any_idx, hard_idx])
    y = np.concatenate([np.ones(len(pos_idx)), np.zeros(len(any_idx) + len(hard_idx))])
    return flat[:, idx].T.copy(), y.astype(np.float32)


def fit(X: np.ndarray, y: np.ndarray, hidden: list[int], epochs: int, seed: int) -> dict:
    """The classifier's arrays (see :func:`photomend.restoration.detect_stacked.probability`)."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    mean = X.mean(0)
    scale = X.std(0) + 1e-6
    Xt = torch.from_numpy(((X - mean) / scale).astype(np.float32))
    yt = torch.from_numpy(y)
    sizes = [X.shape[1], *hidden, 1]
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    pos_w = torch.tensor(float((y == 0).sum() / max((y == 1).sum(), 1)))
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(Xt), generator=gen)
        for a in range(0, len(Xt), 4096):
            b = perm[a:a + 4096]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                net(Xt[b])[:, 0], yt[b], pos_weight=pos_w)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    model = {"mean": mean.astype(np.float32), "scale": scale.astype(np.float32)}
    lin = [m for m in net if isinstance(m, torch.nn.Linear)]
    for i, m in enumerate(lin):
        model[f"w{i}"] = m.weight.detach().numpy().T.astype(np.float32)
        model[f"b{i}"] = m.bias.detach().numpy().astype(np.float32)
    return model


def threshold_counts(p: np.ndarray, truth: np.ndarray | None) -> np.ndarray:
    """Per threshold of :data:`THRESHOLDS`: the tolerant counts (``metrics.tolerant_counts``)
    of ``p > t``, or [flagged, pixels] for a clean twin (``truth`` None)."""
    def above(v):  # how many of v exceed each threshold
        return len(v) - np.searchsorted(np.sort(v), THRESHOLDS, side="right")

    if truth is None:
        return np.stack([above(p.ravel()), np.full(len(THRESHOLDS), p.size)], 1)
    near_truth = cv2.dilate(truth.astype(np.uint8), disk(TOL)).astype(bool)
    best_near = cv2.dilate(p, disk(TOL))  # a true pixel is found at t if this exceeds t
    return np.stack([above(p[near_truth]), above(p.ravel()), above(best_near[truth]),
                     np.full(len(THRESHOLDS), int(truth.sum()))], 1)


def f1(c: np.ndarray) -> np.ndarray:
    prec = c[:, 0] / np.maximum(c[:, 1], 1)
    rec = c[:, 2] / np.maximum(c[:, 3], 1)
    return 2 * prec * rec / np.maximum(prec + rec, 1e-9)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--hidden", type=int, nargs="*", default=[32, 16])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--drop", nargs="*", default=[], choices=FEATURE_NAMES,
                    help="features left out (ablation)")
    ap.add_argument("--out", type=Path, default=CACHE)
    ap.add_argument("--clean-photos", action="store_true",
                    help="also the clean twins of mate's other trainable photos (the chain's "
                         "training photos), as negatives")
    args = ap.parse_args(argv)
    extra = tuple(f"mate:{n}" for n in TRAINABLE_NATURE if n != VALIDATION_PHOTO) \
        if args.clean_photos else ()
    keep = np.array([n not in args.drop for n in FEATURE_NAMES])
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    Xs, ys, fams = [], [], []
    for key, fam, img, truth in scans(args.seeds, clean_only=extra):
        a, b = sample(scan_features(key, img), truth, rng)
        Xs.append(a[:, keep])
        ys.append(b)
        fams += [fam] * len(b)
        print(f"{time.perf_counter() - t0:6.0f} s {key}: {int(b.sum())} defect samples",
              flush=True)
    X, y, fams = np.concatenate(Xs), np.concatenate(ys), np.array(fams)
    runs = {f"lofo_{f}": [g for g in FAMILIES if g != f] for f in FAMILIES}
    runs["all"] = list(FAMILIES)
    models = {}
    for name, train in runs.items():
        sel = np.isin(fams, train)
        models[name] = fit(X[sel], y[sel], args.hidden, args.epochs, seed=1)
        print(f"{time.perf_counter() - t0:6.0f} s fitted {name} on {int(sel.sum())} samples",
              flush=True)
    # thresholds: whole fit scans, counts per model, variant, family and kind (damaged / clean)
    counts: dict = {}
    chain_counts = {f: np.zeros(4, np.int64) for f in FAMILIES}
    for key, fam, img, truth, tear in scans(args.seeds, kinds=True, clean_only=extra):
        X = scan_features(key, img)[keep]
        if truth is not None:  # the reference: the chain as restore thresholds it
            t = default_threshold()
            found = hysteresis(maps(key, img)[0], t, min(t + hysteresis_margin(), 0.995)) > t
            chain_counts[fam] += tolerant_counts(found, truth, tol=TOL)
        tears = corner_tears(img).astype(np.float32)
        f_, h, w = X.shape
        kind = "dmg" if truth is not None else "clean"
        for m, model in models.items():
            p = probability(X.reshape(f_, h * w), model).reshape(h, w)
            for v, pv in (("", p), ("+tears", np.maximum(p, tears))):
                c = counts.setdefault((m + v, fam, kind), 0)
                counts[(m + v, fam, kind)] = c + threshold_counts(pv, truth)
                if tear is not None and tear.any():
                    c = counts.setdefault((m + v, fam, "tear"), 0)
                    counts[(m + v, fam, "tear")] = c + threshold_counts(pv, tear)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"\nfeatures: {', '.join(n for n, k in zip(FEATURE_NAMES, keep) if k)}; hidden "
          f"{args.hidden}; fit photos {', '.join(PHOTOS)}")
    print("| model | threshold | fit families F1 (mean) | clean flagged | left-out family F1 "
          "(its fit photos) | its tear recall |\n|---|---|---|---|---|---|")
    for m, model in models.items():
        for v in ("", "+tears"):
            train = runs[m]
            f1s = np.mean([f1(counts[(m + v, f, "dmg")]) for f in train], 0)
            clean = sum(counts[(m + v, f, "clean")] for f in train)
            flagged = clean[:, 0] / np.maximum(clean[:, 1], 1)
            i = int(np.argmax(np.where(flagged <= MAX_CLEAN, f1s, -1)))
            out_fam = [f for f in FAMILIES if f not in train] or list(FAMILIES)
            left = np.mean([f1(counts[(m + v, f, "dmg")])[i] for f in out_fam])
            tc = sum(counts.get((m + v, f, "tear"), np.zeros((1, 4))) for f in out_fam)
            tear_rec = tc[min(i, len(tc) - 1), 2] / max(tc[min(i, len(tc) - 1), 3], 1)
            print(f"| {m}{v} | {THRESHOLDS[i]:.2f} | {f1s[i]:.3f} | {100 * flagged[i]:.2f} % | "
                  f"{left:.3f} | {tear_rec:.2f} |")
            if v == "":
                model["threshold"] = np.float32(THRESHOLDS[i])
                model["features"] = np.array([n for n, k in zip(FEATURE_NAMES, keep) if k])
                np.savez(args.out / f"{m}.npz", **model)
    print("chain (restore's learned chain) on the same scans: " + ", ".join(
        f"{f} {pooled_scores(chain_counts[f])[2]:.3f}" for f in FAMILIES))
    print(f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
