"""Train the stain detector shipped as ``src/photomend/data/weights/stains_net.onnx``.

One command, CPU, seeded, ONE torch thread (``--threads 1``, the default)::

    pip install -e ".[torch]" onnx && python training/train_stains.py

A small network (:class:`StainNet`) that runs on the whole scan scaled to 256 px on its long
side (:mod:`photomend.restoration.detect_stains`) and says which pixels are stains or water
marks (the tinted blots with a darker tide line of :func:`photomend.restoration.degrade.degrade`).
The ``learned`` detector adds its detections to the U-Net's (``detect.add_stains``).

Data: ONLY the training photos (``benchmarks/photos.py``: ``TRAINABLE_NATURE`` without
``VALIDATION_PHOTO``, plus ``TRAINABLE_SKIMAGE``: retina, an orange fundus photo, and
immunohistochemistry, brown microscopy, both natural brown/orange content that is not a stain).
Each sample: a random part of a photo (35-100 % of its area) at a random scan size (128-1024 px
long side), varied (hue rotation, so that brown and orange real content is common; saturation,
gamma, exposure, contrast, softness, sharpening: ``train_defects.augment_photo``), damaged by
``degrade`` (stains in 80 % of the damaged samples, every other kind at random as a
distractor; 20 % of the samples have no defect, ageing or not), scaled to 256 px like at
inference, and a 160-px crop of it. Target: the stain pixels (area share at 256 px). Loss: BCE
(positive weight 3) + soft Dice. AdamW, one-cycle, ``--steps`` steps of ``--batch`` crops.

Validation (:data:`VALIDATION_PHOTO` only, never in a training sample), every
``--validate-every`` steps: pixel F1 of the stain mask at 256 px on 1024-px damaged scans of it
(sharp and enlarged from 512 px), at the best threshold whose share of flagged pixels on the
clean photo (128, 256, 512 px) and on ageing alone stays <= 0.3 %. The best checkpoint is
exported to ONNX (opset 17, input ``image`` N x 3 x H x W, H and W multiples of 4) with that
threshold in its metadata (``training/eval_defects_dev.py --stains`` then measures it with the
rest of the learned detector).

The defaults reproduce the shipped weights (best checkpoint: step 1400). The other options
are for the next try (docs/restore.md, sessions 6 and 7): ``--side``, ``--widths``,
``--crop``, ``--ageing``, ``--synthetic`` (generated pictures of discs, :func:`synthetic_picture`),
``--ripples`` (smooth generated pictures with faint colour ripples, :func:`ripple_picture`),
``--post-gray`` / ``--post-hue`` (a share of the samples turned gray / hue-rotated after the
damage: stains without their tint / of any hue), ``--val-seeds`` (a larger validation set)
and ``--init`` (start from a checkpoint: a fine-tune). None has beaten the defaults yet:
``--ageing 0.4``; ``--ripples 2 --post-gray 0.2 --post-hue 0.2 --ageing 0.6``; ``--side 512``;
a colour-only fine-tune of the shipped network.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "training"))

from benchmarks.photos import (  # noqa: E402
    NATURE_DIR,
    TRAINABLE_NATURE,
    TRAINABLE_SKIMAGE,
    VALIDATION_PHOTO,
    _resize_long_side,
    mate_root,
    trainable_skimage_photo,
)
from photomend.restoration.degrade import DEFECT_KINDS, TONES, degrade  # noqa: E402
from photomend.restoration.detect_stains import STAIN_SIDE, to_stain_side  # noqa: E402
from train_defects import augment_photo  # noqa: E402

OUT = ROOT / "src" / "photomend" / "data" / "weights" / "stains_net.onnx"
CACHE = ROOT / "training" / ".cache"
CROP = 160
#: Clean photos / ageing alone may flag at most this share of pixels at the chosen threshold.
MAX_CLEAN = 0.003


# ---------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------


def _conv(cin, cout, stride=1, dilation=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, dilation, dilation), nn.BatchNorm2d(cout),
                         nn.LeakyReLU(0.1, inplace=True))


class StainNet(nn.Module):
    """Two stride-2 levels and four dilated convolutions (1, 2, 4, 8) at 1/4 size (about 150 px
    of context at 256 px), decoded back to full size with skips; 1 logit per pixel."""

    def __init__(self, widths=(12, 24, 32)) -> None:
        super().__init__()
        c0, c1, c2 = widths
        self.e0 = _conv(3, c0)
        self.e1 = nn.Sequential(_conv(c0, c1, 2), _conv(c1, c1))
        self.e2 = nn.Sequential(_conv(c1, c2, 2), _conv(c2, c2), _conv(c2, c2, dilation=2),
                                _conv(c2, c2, dilation=4), _conv(c2, c2, dilation=8))
        self.d1 = _conv(c2 + c1, c1)
        self.d0 = _conv(c1 + c0, c0)
        self.head = nn.Conv2d(c0, 1, 1)

    def forward(self, x):
        x = x - 0.5
        f0 = self.e0(x)
        f1 = self.e1(f0)
        f2 = self.e2(f1)
        y = F.interpolate(f2, scale_factor=2.0, mode="bilinear", align_corners=False)
        y = self.d1(torch.cat([y, f1], 1))
        y = F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=False)
        y = self.d0(torch.cat([y, f0], 1))
        return self.head(y)


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def load_photos(synthetic: int = 0, seed: int = 0, ripples: int = 0) -> list[np.ndarray]:
    """The training photos (float32 RGB, at most 1536 px on the long side), plus ``synthetic``
    generated pictures (:func:`synthetic_picture`) and ``ripples`` smooth ones
    (:func:`ripple_picture`)."""
    folder = mate_root() / NATURE_DIR
    names = [n for n in TRAINABLE_NATURE if n != VALIDATION_PHOTO]
    out = [np.asarray(Image.open(folder / n).convert("RGB")) for n in names]
    out += [trainable_skimage_photo(n) for n in TRAINABLE_SKIMAGE]
    out = [_resize_long_side(p, min(1536, max(p.shape[:2]))).astype(np.float32) / 255
           for p in out]
    rng = np.random.default_rng(seed + 7)
    out += [synthetic_picture(rng) for _ in range(synthetic)]
    rng = np.random.default_rng(seed + 11)
    return out + [ripple_picture(rng) for _ in range(ripples)]


def ripple_picture(rng: np.random.Generator, h: int = 960, w: int = 1280) -> np.ndarray:
    """A smooth generated colour picture like the tests' (``tests/test_restore.py::_clean``):
    gradients, faint colour ripples (products of sines, 150-900 px wavelength, 0.02-0.15
    amplitude per channel) and a few soft blobs, with a little fine noise; the stain network
    must not answer to a ripple's dips (session 6 needed ``detect_stains.tinted`` for that)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.empty((h, w, 3), np.float32)
    for c in range(3):
        g = rng.uniform(0.2, 0.7) + rng.uniform(-0.3, 0.3) * xx / w + rng.uniform(-0.3, 0.3) * yy / h
        for _ in range(int(rng.integers(1, 3))):
            lx, ly = rng.uniform(25, 150, 2) * (w / 256)
            g += (rng.uniform(0.02, 0.15) * np.sin(xx / lx + rng.uniform(0, 6.3))
                  * np.cos(yy / ly + rng.uniform(0, 6.3)))
        out[:, :, c] = g
    for _ in range(int(rng.integers(0, 4))):
        cx, cy, sg = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(40, 250)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sg**2))
        out += blob[:, :, None] * rng.uniform(-0.15, 0.15, 3).astype(np.float32)
    out += rng.normal(0, rng.uniform(0.0, 0.01), out.shape).astype(np.float32)
    return np.clip(out, 0, 1).astype(np.float32)


def synthetic_picture(rng: np.random.Generator, h: int = 960, w: int = 1280) -> np.ndarray:
    """A generated colour picture with what real photos have too little of for this detector:
    mottled colour at several scales and many discs of any colour (brown ones included), soft
    like out-of-focus highlights or sharp like balls and cups, none with a tide line: hard
    negatives, and backgrounds the stains are drawn on."""
    out = np.broadcast_to(rng.uniform(0.1, 0.9, 3).astype(np.float32), (h, w, 3)).copy()
    for cell in (8, 32, 128):
        noise = rng.normal(0, 1, (h // cell + 2, w // cell + 2, 3)).astype(np.float32)
        out += cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC) * rng.uniform(0.0, 0.1)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for _ in range(int(rng.integers(10, 40))):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(8, 140)
        disc = (np.hypot(xx - cx, yy - cy) <= r).astype(np.float32)
        sigma = rng.uniform(0.5, 2.0) if rng.random() < 0.5 else rng.uniform(3, 30)
        a = cv2.GaussianBlur(disc, (0, 0), sigma)[:, :, None] * rng.uniform(0.3, 1.0)
        colour = (np.array([0.55, 0.42, 0.25]) * rng.uniform(0.5, 1.4) if rng.random() < 0.3
                  else rng.uniform(0, 1, 3)).astype(np.float32)
        out = out * (1 - a) + colour * a
    return np.clip(out, 0, 1).astype(np.float32)


def _hue_rotate(rgb: np.ndarray, angle: float) -> np.ndarray:
    """Rotate the hue by ``angle`` radians around the gray axis (luma kept roughly)."""
    k = np.array([1, 1, 1], np.float32) / np.sqrt(3)
    c, s = np.cos(angle), np.sin(angle)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]], np.float32)
    rot = c * np.eye(3, dtype=np.float32) + s * kx + (1 - c) * np.outer(k, k)
    return np.clip(rgb @ rot.T.astype(np.float32), 0, 1)


def make_sample(photos, rng: np.random.Generator, crop: int = CROP, side: int = STAIN_SIDE,
                ageing: float = 0.85, post_gray: float = 0.0, post_hue: float = 0.0,
                tone: str | None = None, hue: float = 0.5, on_stain: float = 0.0):
    """(input HxWx3, target HxW) at the network's size, a ``crop`` x ``crop`` piece.
    ``tone``: the ageing's toning (None: drawn); ``hue``: share of photos hue-rotated;
    ``on_stain``: share of the crops of a stained scan centred on a stain pixel."""
    src = photos[rng.integers(len(photos))]
    h, w = src.shape[:2]
    area = rng.uniform(0.35, 1.0)
    aspect = np.clip((w / h) * np.exp(rng.normal(0, 0.2)), 1 / 1.55, 1.55)
    ch = int(min(h, np.sqrt(area * h * w / aspect)))
    cw = int(min(w, ch * aspect))
    ch = int(min(h, cw / aspect))
    y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    rgb = src[y0:y0 + ch, x0:x0 + cw]
    scan_side = int(rng.uniform(512, 1024)) if rng.random() < 0.7 else int(rng.uniform(128, 512))
    rgb = _resize_long_side(rgb, scan_side)
    if rng.random() < 0.5:
        rgb = rgb[:, ::-1]
    if rng.random() < 0.3:
        rgb = np.rot90(rgb)
    rgb = np.ascontiguousarray(rgb)
    if rng.random() < hue:
        rgb = _hue_rotate(rgb, rng.uniform(-np.pi, np.pi))
    rgb = augment_photo(rgb, rng, strong=rng.random() < 0.5)
    seed = int(rng.integers(2**31))
    if rng.random() < 0.2:
        d = degrade(rgb, seed=seed, defects=(), ageing=rng.random() < 0.7, tone=tone)
    else:
        kinds = tuple(k for k in DEFECT_KINDS if k != "stain" and rng.random() < 0.5)
        if rng.random() < 0.8:
            kinds += ("stain",)
        d = degrade(rgb, seed=seed, defects=kinds or ("dust",), amount=rng.uniform(1, 4),
                    ageing=rng.random() < ageing, tone=tone)
    small = to_stain_side(d.image, side)
    if post_gray > 0 and rng.random() < post_gray:     # the stain's tint gone: shape and rim
        small = np.repeat(small @ np.array([0.299, 0.587, 0.114], np.float32), 3).reshape(
            small.shape)
    elif post_hue > 0 and rng.random() < post_hue:     # a stain of any hue, not only brown
        small = _hue_rotate(small, rng.uniform(-np.pi, np.pi))
    sh, sw = small.shape[:2]
    stain = d.kinds.get("stain")
    target = (np.zeros((sh, sw), np.float32) if stain is None else
              cv2.resize(stain.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA))
    if min(sh, sw) < crop:
        py, px = max(0, crop - sh), max(0, crop - sw)
        small = np.pad(small, ((0, py), (0, px), (0, 0)), mode="reflect")
        target = np.pad(target, ((0, py), (0, px)), mode="reflect")
        sh, sw = target.shape
    y, x = rng.integers(0, sh - crop + 1), rng.integers(0, sw - crop + 1)
    if on_stain > 0 and target.max() >= 0.5 and rng.random() < on_stain:
        ys, xs = np.nonzero(target >= 0.5)
        k = rng.integers(len(ys))
        y = int(np.clip(ys[k] - crop // 2 + rng.integers(-crop // 4, crop // 4 + 1), 0, sh - crop))
        x = int(np.clip(xs[k] - crop // 2 + rng.integers(-crop // 4, crop // 4 + 1), 0, sw - crop))
    return small[y:y + crop, x:x + crop], target[y:y + crop, x:x + crop]


def batch(photos, rng, n, side=STAIN_SIDE, crop=CROP, ageing=0.85, post_gray=0.0,
          post_hue=0.0, tone=None, hue=0.5, on_stain=0.0):
    xs, ys = zip(*(make_sample(photos, rng, crop=crop, side=side, ageing=ageing,
                               post_gray=post_gray, post_hue=post_hue, tone=tone, hue=hue,
                               on_stain=on_stain)
                   for _ in range(n)))
    x = torch.from_numpy(np.stack([a.transpose(2, 0, 1) for a in xs]).astype(np.float32))
    y = torch.from_numpy(np.stack(ys)[:, None].astype(np.float32))
    return x, y


def loss_fn(logits, target, pos_weight=3.0):
    bce = F.binary_cross_entropy_with_logits(logits, target, pos_weight=torch.tensor(pos_weight))
    p = torch.sigmoid(logits)
    dice = 1 - (2 * (p * target).sum() + 1) / (p.sum() + target.sum() + 1)
    return bce + dice


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def validation_set(seed: int = 61_000, side: int = STAIN_SIDE, seeds: int = 3,
                   tone: str | None = None):
    """[(input at 256 px, stain target bool or None for clean/ageing-only)] of the validation
    photo: 1024-px scans sharp and soft, 3 seeds each, all damage (amount 1.5, like the
    benchmark); ageing alone; clean at 128, 256, 512 px."""
    full = np.asarray(Image.open(mate_root() / NATURE_DIR / VALIDATION_PHOTO).convert("RGB"))
    full = full.astype(np.float32) / 255
    sharp = _resize_long_side(full, 1024)
    h, w = sharp.shape[:2]
    soft = cv2.resize(_resize_long_side(full, 512), (w, h), interpolation=cv2.INTER_CUBIC)
    out = []
    for i, img in enumerate((sharp, soft)):
        for s in range(seeds):
            d = degrade(img, seed=seed + 10 * i + s + (100 * (s // 10)), amount=1.5, tone=tone)
            small = to_stain_side(d.image, side)
            st = d.kinds.get("stain", np.zeros(d.mask.shape, bool)).astype(np.float32)
            t = cv2.resize(st, small.shape[1::-1], interpolation=cv2.INTER_AREA) >= 0.5
            out.append((small, t))
        out.append((to_stain_side(degrade(img, seed=seed + 50 + i, defects=(), tone=tone).image,
                                  side), None))
    for long_side in (128, 256, 512):
        out.append((to_stain_side(_resize_long_side(full, long_side), side), None))
    return out


@torch.no_grad()
def predict(model, small: np.ndarray) -> np.ndarray:
    model.eval()
    h, w = small.shape[:2]
    ph, pw = -h % 4, -w % 4
    x = np.pad(small, ((0, ph), (0, pw), (0, 0)), mode="reflect").transpose(2, 0, 1)[None]
    x = torch.from_numpy(np.ascontiguousarray(x, np.float32))
    p = torch.sigmoid(model(x)) + torch.sigmoid(model(x.flip(-1))).flip(-1)
    return (p / 2)[0, 0, :h, :w].numpy()


def validate(model, vset) -> dict:
    probs = [predict(model, s) for s, _ in vset]
    best = {"f1": 0.0, "threshold": 0.5, "precision": 0.0, "recall": 0.0, "clean": 0.0}
    for t in np.round(np.arange(0.3, 0.96, 0.05), 2):
        clean = max((p > t).mean() for p, (_, m) in zip(probs, vset) if m is None)
        if clean > MAX_CLEAN:
            continue
        tp = sum(((p > t) & m).sum() for p, (_, m) in zip(probs, vset) if m is not None)
        npred = sum((p > t).sum() for p, (_, m) in zip(probs, vset) if m is not None)
        ntrue = sum(m.sum() for _, m in vset if m is not None)
        pr, rc = tp / max(npred, 1), tp / max(ntrue, 1)
        f1 = 2 * pr * rc / (pr + rc) if pr + rc else 0.0
        if f1 > best["f1"]:
            best = {"f1": float(f1), "threshold": float(t), "precision": float(pr),
                    "recall": float(rc), "clean": float(clean)}
    return best


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--validate-every", type=int, default=100)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--tag", default="stains_net")
    ap.add_argument("--side", type=int, default=STAIN_SIDE, help="long side the network runs at")
    ap.add_argument("--widths", default="12,24,32")
    ap.add_argument("--crop", type=int, default=CROP)
    ap.add_argument("--synthetic", type=int, default=0,
                    help="generated pictures added to the training photos (synthetic_picture)")
    ap.add_argument("--ageing", type=float, default=0.85,
                    help="share of the damaged samples with global ageing (degrade's ageing is "
                         "sepia or monochrome 70 %% of the time: a lower share shows the network "
                         "more stains on colour photos)")
    ap.add_argument("--ripples", type=int, default=0,
                    help="smooth generated pictures with colour ripples (ripple_picture)")
    ap.add_argument("--post-gray", type=float, default=0.0,
                    help="share of samples turned gray after the damage (stain without tint)")
    ap.add_argument("--post-hue", type=float, default=0.0,
                    help="share of samples hue-rotated after the damage (stains of any hue)")
    ap.add_argument("--val-seeds", type=int, default=3,
                    help="damaged validation scans per version (sharp, soft) of the photo")
    ap.add_argument("--tone", choices=TONES, default=None,
                    help="every scan (training and validation) of this ageing toning (default: "
                         "drawn); 'colour' trains the network for colourful scans")
    ap.add_argument("--hue", type=float, default=0.5,
                    help="share of the photos hue-rotated before the damage")
    ap.add_argument("--on-stain", type=float, default=0.0,
                    help="share of the crops of a stained scan centred on a stain")
    ap.add_argument("--pos-weight", type=float, default=3.0, help="BCE weight of stain pixels")
    ap.add_argument("--init", type=Path, default=None,
                    help="start from this checkpoint's weights (a fine-tune)")
    ap.add_argument("--time-check", action="store_true", help="time 5 steps and exit")
    ap.add_argument("--export-only", action="store_true")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    CACHE.mkdir(parents=True, exist_ok=True)
    log = (CACHE / f"train_{args.tag}.log").open("a")

    def say(msg):
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    model = StainNet(tuple(int(v) for v in args.widths.split(",")))
    best_path = CACHE / f"{args.tag}_best.pt"
    if args.init is not None:
        model.load_state_dict(torch.load(args.init, weights_only=False)["state"])
    if not args.export_only:
        photos = load_photos(args.synthetic, args.seed, args.ripples)
        vset = validation_set(side=args.side, seeds=args.val_seeds, tone=args.tone)
        say(f"{len(photos)} photos; {sum(p.numel() for p in model.parameters())} parameters; "
            f"args {vars(args)}")
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps,
                                                    pct_start=0.05)
        started, data_t, running, best_f1 = time.perf_counter(), 0.0, 0.0, -1.0
        if args.init is not None:                # the starting point competes too
            v = validate(model, vset)
            best_f1 = v["f1"]
            torch.save({"state": model.state_dict(), "step": 0, "val": v}, best_path)
            say(f"validation step 0 (init {args.init}): "
                + ", ".join(f"{k} {x:.3f}" for k, x in v.items()))
        for step in range(1, args.steps + 1):
            t0 = time.perf_counter()
            x, y = batch(photos, rng, args.batch, args.side, args.crop, args.ageing,
                         args.post_gray, args.post_hue, args.tone, args.hue, args.on_stain)
            data_t += time.perf_counter() - t0
            model.train()
            loss = loss_fn(model(x), y, args.pos_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
            if args.time_check and step == 5:
                say(f"time check: {(time.perf_counter() - started) / 5:.2f} s/step "
                    f"({data_t / 5:.2f} s data)")
                return 0
            if step % 50 == 0:
                say(f"step {step}/{args.steps} loss {running:.4f} "
                    f"{(time.perf_counter() - started) / 60:.1f} min (data {data_t / 60:.1f})")
            if step % args.validate_every == 0 or step == args.steps:
                v = validate(model, vset)
                state = {"state": model.state_dict(), "step": step, "val": v}
                torch.save(state, CACHE / f"{args.tag}_last.pt")
                mark = ""
                if v["f1"] > best_f1:
                    best_f1, mark = v["f1"], " (best)"
                    torch.save(state, best_path)
                say(f"validation step {step}: " + ", ".join(f"{k} {x:.3f}" for k, x in v.items())
                    + mark)
    ckpt = torch.load(best_path, weights_only=False)
    model.load_state_dict(ckpt["state"])
    export(model, args.out, ckpt["val"]["threshold"], ckpt["step"], args)
    say(f"exported step {ckpt['step']} ({ckpt['val']}) to {args.out} "
        f"({args.out.stat().st_size / 1024:.0f} KiB)")
    return 0


def export(model, path: Path, threshold: float, step, args) -> None:
    import onnx

    model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = CACHE / "export_stains.onnx"
    torch.onnx.export(model, torch.zeros(1, 3, 64, 64), str(tmp), input_names=["image"],
                      output_names=["logits"],
                      dynamic_axes={"image": {0: "n", 2: "h", 3: "w"},
                                    "logits": {0: "n", 2: "h", 3: "w"}},
                      opset_version=17, dynamo=False)
    m = onnx.load(str(tmp))
    meta = {"threshold": str(threshold), "multiple": "4", "side": str(args.side),
            "widths": args.widths,
            "checkpoint_step": str(step),
            "trained_on": "mate-backgrounds TRAINABLE_NATURE + TRAINABLE_SKIMAGE + "
                          "photomend.restoration.degrade",
            "args": json.dumps({k: str(v) for k, v in vars(args).items() if k != "out"})}
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(m, str(path))


if __name__ == "__main__":
    sys.exit(main())
