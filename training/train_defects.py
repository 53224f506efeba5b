"""Train the old-photo defect detector shipped as ``src/photomend/data/weights/defects_unet.onnx``.

One command, CPU, seeded (about 40-60 minutes on one shared core)::

    pip install -e ".[torch]" onnx && python training/train_defects.py

Data: ONLY the training split of Debian's mate-backgrounds nature photos
(``benchmarks/photos.py: TRAINABLE_NATURE``; fetched with ``apt-get download``), with synthetic
damage from :func:`photomend.restoration.degrade.degrade` drawn on random crops. The held-out
photos (``HELD_OUT_NATURE``, Elephants, every scikit-image photo) are never read here.

Network: a small U-Net (:class:`DefectUNet`): the first two convolutions run at full
resolution (stride 1), so hairline scratches survive; three stride-2 levels give context.
Loss: BCE with ``pos_weight`` = clean/defect pixel ratio of the training data + soft Dice.
The decision threshold and hysteresis margin are then calibrated on whole *training* photos
with other seeds (``training/calibrate_defects.py``) and written into the ONNX metadata.

Input: R, G, B and the white and black top-hats of the luma
(:func:`photomend.restoration.detect_learned.features`), which point the network at thin bright and
dark structures from the first step; it learns which of them are defects.

Outputs: the ONNX file (opset 17, input ``image`` N x 5 x H x W, H and W multiples of 8;
output ``logits`` N x 1 x H x W) and a log in ``training/.cache/``.
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

from benchmarks.photos import NATURE_DIR, TRAINABLE_NATURE, mate_root  # noqa: E402
from photomend.restoration.degrade import DEFECT_KINDS, degrade  # noqa: E402
from photomend.restoration.detect_learned import features  # noqa: E402

#: RGB + white and black top-hat (photomend.restoration.detect_learned.features)
IN_CHANNELS = 5

OUT = ROOT / "src" / "photomend" / "data" / "weights" / "defects_unet.onnx"
CACHE = ROOT / "training" / ".cache"


# ---------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout),
                         nn.LeakyReLU(0.1, inplace=True))


class DefectUNet(nn.Module):
    """U-Net with stride-1 first layers; widths (12, 24, 40, 64); 1 logit per pixel."""

    def __init__(self, widths=(12, 24, 40, 64)) -> None:
        super().__init__()
        c0, c1, c2, c3 = widths
        self.e0 = nn.Sequential(_conv(IN_CHANNELS, c0), _conv(c0, c0))
        self.e1 = nn.Sequential(_conv(c0, c1, 2), _conv(c1, c1))
        self.e2 = nn.Sequential(_conv(c1, c2, 2), _conv(c2, c2))
        self.e3 = nn.Sequential(_conv(c2, c3, 2), _conv(c3, c3), _conv(c3, c3))
        self.u2 = nn.ConvTranspose2d(c3, c2, 2, 2)
        self.d2 = _conv(2 * c2, c2)
        self.u1 = nn.ConvTranspose2d(c2, c1, 2, 2)
        self.d1 = _conv(2 * c1, c1)
        self.u0 = nn.ConvTranspose2d(c1, c0, 2, 2)
        self.d0 = _conv(2 * c0, c0)
        self.head = nn.Conv2d(c0, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x[:, :3] - 0.5, x[:, 3:]], 1)
        f0 = self.e0(x)
        f1 = self.e1(f0)
        f2 = self.e2(f1)
        f3 = self.e3(f2)
        y = self.d2(torch.cat([self.u2(f3), f2], 1))
        y = self.d1(torch.cat([self.u1(y), f1], 1))
        y = self.d0(torch.cat([self.u0(y), f0], 1))
        return self.head(y)


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def load_photos(long_sides=(768, 1024, 1400)) -> list[np.ndarray]:
    """The training photos at a few sizes around the detector's working size (uint8 RGB)."""
    folder = mate_root() / NATURE_DIR
    out = []
    for name in TRAINABLE_NATURE:
        rgb = np.asarray(Image.open(folder / name).convert("RGB"))
        h, w = rgb.shape[:2]
        for side in long_sides:
            f = side / max(h, w)
            out.append(cv2.resize(rgb, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA))
    return out


def make_sample(photos, rng: np.random.Generator, crop: int):
    """One (image, mask) training pair: a random crop with random synthetic damage."""
    photo = photos[rng.integers(len(photos))]
    h, w = photo.shape[:2]
    y, x = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
    rgb = photo[y:y + crop, x:x + crop].astype(np.float32) / 255.0
    if rng.random() < 0.5:
        rgb = rgb[:, ::-1]
    if rng.random() < 0.5:
        rgb = np.rot90(rgb)
    roll = rng.random()
    if roll < 0.12:  # ageing only: teach the network that grain, sepia, blur are not defects
        d = degrade(rgb, seed=int(rng.integers(2**31)), defects=(), scale=1.0)
    else:
        kinds = tuple(k for k in DEFECT_KINDS if rng.random() < 0.7) or ("hairline",)
        faint = rng.random() < 0.3
        d = degrade(rgb, seed=int(rng.integers(2**31)), defects=kinds, scale=rng.uniform(0.7, 1.4),
                    amount=rng.uniform(3, 10), opacity=(0.3, 0.65) if faint else (0.35, 1.0),
                    ageing=rng.random() < 0.85)
    return features(d.image), d.mask


def batch(photos, rng, n: int, crop: int):
    xs, ys = zip(*(make_sample(photos, rng, crop) for _ in range(n)))
    x = torch.from_numpy(np.stack([a.transpose(2, 0, 1) for a in xs]).copy())
    y = torch.from_numpy(np.stack(ys)[:, None].astype(np.float32))
    return x, y


# ---------------------------------------------------------------------------------------------
# Loss, metric
# ---------------------------------------------------------------------------------------------


def loss_fn(logits: torch.Tensor, target: torch.Tensor, pos_weight: float) -> torch.Tensor:
    bce = F.binary_cross_entropy_with_logits(logits, target,
                                             pos_weight=torch.tensor(pos_weight))
    p = torch.sigmoid(logits)
    inter = (p * target).sum()
    dice = 1 - (2 * inter + 1) / (p.sum() + target.sum() + 1)
    return bce + dice


def tolerant_counts(pred: np.ndarray, truth: np.ndarray, tol: int = 2):
    """(true positives of pred, |pred|, truth found, |truth|) with a ``tol``-px tolerance."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tol + 1, 2 * tol + 1))
    dt = cv2.dilate(truth.astype(np.uint8), k).astype(bool)
    dp = cv2.dilate(pred.astype(np.uint8), k).astype(bool)
    return int((pred & dt).sum()), int(pred.sum()), int((truth & dp).sum()), int(truth.sum())


def f1_from(c) -> float:
    tp, np_, found, nt = c
    p = tp / np_ if np_ else 1.0
    r = found / nt if nt else 1.0
    return 2 * p * r / (p + r) if p + r else 0.0


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1100)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=160)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--time-check", action="store_true", help="time 5 steps and exit")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    CACHE.mkdir(parents=True, exist_ok=True)
    log = (CACHE / "train_defects.log").open("a")

    def say(msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    photos = load_photos()
    say(f"{len(photos)} training images ({len(TRAINABLE_NATURE)} photos x 3 sizes); "
        f"args {vars(args)}")

    # pos_weight = clean/defect pixel ratio over 64 training samples
    prng = np.random.default_rng(args.seed + 1)
    frac = np.mean([make_sample(photos, prng, args.crop)[1].mean() for _ in range(64)])
    pos_weight = float((1 - frac) / max(frac, 1e-6))
    say(f"defect fraction {frac:.4f} -> pos_weight {pos_weight:.1f}")

    model = DefectUNet()
    say(f"parameters: {sum(p.numel() for p in model.parameters())}")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps,
                                                pct_start=0.1)
    started = time.perf_counter()
    gen_time, running = 0.0, 0.0
    for step in range(1, args.steps + 1):
        t0 = time.perf_counter()
        x, y = batch(photos, rng, args.batch, args.crop)
        gen_time += time.perf_counter() - t0
        model.train()
        loss = loss_fn(model(x), y, pos_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
        if args.time_check and step == 5:
            el = time.perf_counter() - started
            say(f"time check: {el / 5:.2f} s/step ({gen_time / 5:.2f} s data)")
            return 0
        if step % 100 == 0 or step == args.steps:
            el = time.perf_counter() - started
            say(f"step {step}/{args.steps} loss {running:.4f} lr {sched.get_last_lr()[0]:.2e} "
                f"{el / 60:.1f} min (data {gen_time / 60:.1f} min)")
        if step % 250 == 0 or step == args.steps:  # checkpoints (and an ONNX to try out)
            torch.save(model.state_dict(), CACHE / "defects_unet.pt")
            export(model, CACHE / "defects_unet_latest.onnx", 0.5, pos_weight, args)

    threshold = choose_threshold(model, photos, args, say)
    export(model, args.out, threshold, pos_weight, args)
    say(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB), threshold {threshold}")
    # the threshold and hysteresis margin that ship: calibrated on whole training photos
    from calibrate_defects import calibrate, write_metadata

    t, margin = calibrate(args.out, log=say)
    write_metadata(args.out, {"threshold": f"{t:.2f}", "margin": f"{margin:.2f}",
                              "calibration": "training/calibrate_defects.py"})
    return 0


@torch.no_grad()
def choose_threshold(model, photos, args, say) -> float:
    """Threshold with the best pooled tolerant F1 on 48 validation crops (training photos)."""
    model.eval()
    vrng = np.random.default_rng(args.seed + 12345)
    samples = [make_sample(photos, vrng, 256) for _ in range(48)]
    probs = []
    for img, _ in samples:
        x = torch.from_numpy(img.transpose(2, 0, 1)[None].copy())
        p = torch.sigmoid(model(x)) + torch.sigmoid(model(x.flip(-1))).flip(-1)
        probs.append((p / 2)[0, 0].numpy())
    best = (0.0, 0.5)
    for t in np.arange(0.3, 0.96, 0.05):
        c = np.sum([tolerant_counts(p > t, m) for p, (_, m) in zip(probs, samples)], 0)
        f1 = f1_from(c)
        say(f"threshold {t:.2f}: validation F1 {f1:.3f}")
        best = max(best, (f1, round(float(t), 2)))
    return best[1]


def export(model, path: Path, threshold: float, pos_weight: float, args) -> None:
    import onnx

    model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, IN_CHANNELS, 64, 64)
    tmp = CACHE / "export.onnx"
    torch.onnx.export(model, dummy, str(tmp), input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "n", 2: "h", 3: "w"},
                                    "logits": {0: "n", 2: "h", 3: "w"}},
                      opset_version=17, dynamo=False)
    m = onnx.load(str(tmp))
    meta = {"threshold": str(threshold), "multiple": "8", "pos_weight": f"{pos_weight:.1f}",
            "trained_on": "mate-backgrounds TRAINABLE_NATURE + photomend.restoration.degrade",
            "args": json.dumps({k: str(v) for k, v in vars(args).items() if k != "out"})}
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(m, str(path))


if __name__ == "__main__":
    sys.exit(main())
