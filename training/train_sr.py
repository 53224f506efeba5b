"""Train photomend's compact super-resolution networks (x2, x3, x4) and export them to ONNX.

One command reproduces the shipped weights (CPU, one torch thread, seeded)::

    pip install torch==2.13.0 onnx
    python training/train_sr.py            # all three scales, ~35 min on one core
    python training/train_sr.py --scales 2 --steps 200 --out /tmp/sr   # a quick smoke run

Data: ONLY the nine trainable nature photos of Debian's ``mate-backgrounds``
(``benchmarks/photos.py: TRAINABLE_NATURE``; the held-out photos and every skimage photo are
never read here). Each photo is used at three sizes (long side 512, 768 and 1024 px, area
downscaling) so that the network sees detail at the scales photos are usually viewed at.

Degradation: bicubic downscaling with antialiasing (PIL ``BICUBIC``, the MATLAB ``imresize``
convention used by the SR literature) of the 8-bit high-resolution image, quantised to 8 bits.

Network (:class:`CompactSR`, FSRCNN-like, all at low resolution): 5x5 feature conv -> 1x1
shrink -> four 3x3 mapping convs -> 1x1 expand -> 3x3 conv to 3*r*r channels -> pixel shuffle.
It predicts the *residual* to OpenCV's bicubic upsampling of its input; the shipped ONNX file
holds only the network, and :mod:`photomend.upscale.compact` adds the bicubic image back.
Loss: Charbonnier (smooth L1) on the output. The x2 network is trained from scratch; the x3 and
x4 networks start from its body (everything but the last conv) and are fine-tuned whole.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.photos import NATURE_DIR, TRAINABLE_NATURE, mate_root  # noqa: E402

WEIGHTS = ROOT / "src" / "photomend" / "data" / "weights"
CACHE = ROOT / "training" / ".cache"
SIZES = (512, 768, 1024)
#: Steps per scale (x2 from scratch, x3/x4 fine-tuned from the x2 body).
STEPS = {2: 6000, 3: 2500, 4: 2500}
BATCH = 16
LR_PATCH = 40


def bicubic_down(hr_u8: np.ndarray, scale: int) -> np.ndarray:
    """The SR degradation: antialiased bicubic downscale of an 8-bit image, 8-bit result."""
    h, w = hr_u8.shape[:2]
    return np.asarray(Image.fromarray(hr_u8).resize((w // scale, h // scale), Image.BICUBIC))


def bicubic_up(lr: np.ndarray, scale: int) -> np.ndarray:
    """What the network's residual is added to: OpenCV bicubic upsampling (float32)."""
    h, w = lr.shape[:2]
    return cv2.resize(lr, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)


def training_set(scale: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(lr, bicubic, hr) float32 triples, one per trainable photo and size."""
    root = mate_root() / NATURE_DIR
    out = []
    for name in TRAINABLE_NATURE:
        full = np.asarray(Image.open(root / name).convert("RGB"))
        for side in SIZES:
            h, w = full.shape[:2]
            f = side / max(h, w)
            hr = cv2.resize(full, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
            hh, ww = hr.shape[0] // scale * scale, hr.shape[1] // scale * scale
            hr = hr[:hh, :ww]
            lr = bicubic_down(hr, scale).astype(np.float32) / 255
            out.append((lr, bicubic_up(lr, scale), hr.astype(np.float32) / 255))
    return out


def sample_batch(data, scale: int, rng: np.random.Generator):
    """A batch of aligned random crops (LR, bicubic, HR) with flips and 90-degree rotations."""
    weights = np.array([d[0].shape[0] * d[0].shape[1] for d in data], float)
    picks = rng.choice(len(data), size=BATCH, p=weights / weights.sum())
    lrs, bics, hrs = [], [], []
    p, s = LR_PATCH, scale
    for i in picks:
        lr, bic, hr = data[i]
        y = int(rng.integers(0, lr.shape[0] - p + 1))
        x = int(rng.integers(0, lr.shape[1] - p + 1))
        crops = [lr[y:y + p, x:x + p], bic[y * s:(y + p) * s, x * s:(x + p) * s],
                 hr[y * s:(y + p) * s, x * s:(x + p) * s]]
        k, flip = int(rng.integers(0, 4)), bool(rng.integers(0, 2))
        crops = [np.rot90(c, k) for c in crops]
        if flip:
            crops = [c[:, ::-1] for c in crops]
        for dst, c in zip((lrs, bics, hrs), crops):
            dst.append(np.ascontiguousarray(c.transpose(2, 0, 1)))
    return [np.stack(v) for v in (lrs, bics, hrs)]


def build_model(scale: int, torch):
    nn = torch.nn

    class CompactSR(nn.Module):
        """FSRCNN-like residual network at low resolution with a pixel-shuffle head."""

        def __init__(self, scale: int, d: int = 48, s: int = 16, m: int = 4, e: int = 32):
            super().__init__()
            layers = [nn.Conv2d(3, d, 5, padding=2), nn.PReLU(d),
                      nn.Conv2d(d, s, 1), nn.PReLU(s)]
            for _ in range(m):
                layers += [nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s)]
            layers += [nn.Conv2d(s, e, 1), nn.PReLU(e)]
            self.body = nn.Sequential(*layers)
            self.head = nn.Conv2d(e, 3 * scale * scale, 3, padding=1)
            self.shuffle = nn.PixelShuffle(scale)
            nn.init.zeros_(self.head.bias)
            nn.init.normal_(self.head.weight, std=1e-3)

        def forward(self, x):  # x: LR in [0, 1]; returns the residual to bicubic(x)
            return self.shuffle(self.head(self.body(x - 0.5)))

    return CompactSR(scale)


def train_scale(scale: int, steps: int, torch, *, init=None, seed: int = 0, log=print):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed + scale)
    model = build_model(scale, torch)
    if init is not None:
        model.body.load_state_dict(init.body.state_dict())
    data = training_set(scale)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3 if init is None else 5e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, steps) / steps)) * 0.98 + 0.02)
    t0, running = time.time(), 0.0
    for step in range(1, steps + 1):
        lr, bic, hr = (torch.from_numpy(a) for a in sample_batch(data, scale, rng))
        out = bic + model(lr)
        loss = torch.sqrt((out - hr) ** 2 + 1e-6).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running += loss.item()
        if step % 250 == 0 or step == steps:
            with torch.no_grad():
                base = torch.sqrt((bic - hr) ** 2 + 1e-6).mean().item()
            log(f"x{scale} step {step}/{steps} loss {running / 250:.5f} "
                f"(bicubic on this batch {base:.5f}) {time.time() - t0:.0f}s")
            running = 0.0
    return model


def export(model, scale: int, path: Path, torch) -> None:
    model.eval()
    x = torch.zeros(1, 3, 32, 40)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model, (x,), str(path), input_names=["lr"], output_names=["residual"],
        dynamic_axes={"lr": {2: "h", 3: "w"}, "residual": {2: "sh", 3: "sw"}},
        opset_version=17, dynamo=False,
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4])
    ap.add_argument("--steps", type=int, default=None, help="steps per scale (default: STEPS)")
    ap.add_argument("--out", type=Path, default=WEIGHTS, help="folder of the .onnx files")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    CACHE.mkdir(parents=True, exist_ok=True)
    log_path = CACHE / "train_sr.log"

    def log(msg: str) -> None:
        print(msg, flush=True)
        with open(log_path, "a") as f:
            f.write(msg + "\n")

    log(f"== train_sr {time.strftime('%Y-%m-%d %H:%M:%S')} scales={args.scales} "
        f"photos={list(TRAINABLE_NATURE)}")
    base = None
    need_base = any(s != 2 for s in args.scales)
    for scale in ([2] if need_base and 2 not in args.scales else []) + sorted(args.scales):
        steps = args.steps or STEPS[scale]
        model = train_scale(scale, steps, torch, init=None if scale == 2 else base,
                            seed=args.seed, log=log)
        if scale == 2:
            base = model
        if scale in args.scales:
            path = args.out / f"sr_compact_x{scale}.onnx"
            export(model, scale, path, torch)
            meta = {"scale": scale, "steps": steps, "batch": BATCH, "lr_patch": LR_PATCH,
                    "seed": args.seed, "photos": list(TRAINABLE_NATURE), "sizes": SIZES,
                    "degradation": "PIL BICUBIC downscale of 8-bit HR, 8-bit LR",
                    "output": "residual to cv2.INTER_CUBIC upsampling of the input"}
            (CACHE / f"sr_compact_x{scale}.json").write_text(json.dumps(meta, indent=2))
            log(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
