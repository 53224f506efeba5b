"""Train photomend's compact super-resolution networks (x2, x3, x4) and export them to ONNX.

One command reproduces the shipped weights (CPU, one torch thread, seeded)::

    pip install torch==2.13.0 onnx
    python training/train_sr.py            # x2, then x3 and x4 from its body (~80 min, 1 core)
    python training/train_sr.py --jobs 2   # x3 and x4 side by side after x2 (same result)
    python training/train_sr.py --scales 2 --steps 200 --out /tmp/sr   # a quick smoke run
    python training/train_sr.py --export-only   # export the last checkpoints of a stopped run
    python training/train_sr.py --scales 2 --resume main   # only the refine cycles after x2's main run

Data: ONLY the nine trainable nature photos of Debian's ``mate-backgrounds``
(``benchmarks/photos.py: TRAINABLE_NATURE``; the held-out photos and every skimage photo are
never read here). Each photo is used at three sizes (long side 512, 768 and 1024 px, area
downscaling) so that the network sees detail at the scales photos are usually viewed at.

Degradation: bicubic downscaling with antialiasing (PIL ``BICUBIC``, the MATLAB ``imresize``
convention used by the SR literature) of the 8-bit high-resolution image, quantised to 8 bits.

Network (:class:`CompactSR`, FSRCNN-like, all at low resolution, widths in :data:`ARCH`): 5x5
feature conv -> 1x1 shrink -> four 3x3 mapping convs -> 1x1 expand -> 3x3 conv to 3*r*r
channels -> pixel shuffle.
It predicts the *residual* to OpenCV's bicubic upsampling of its input; the shipped ONNX file
holds only the network, and :mod:`photomend.upscaling.compact` adds the bicubic image back.
A linear 5x5 path beside the deep one learns the bulk (a sharpening filter per sub-pixel)
within a few hundred steps; the deep path refines it. Loss: Charbonnier (smooth L1) on the
output. Patches: of 48 random crops per batch, the 12 with the most residual energy (what
bicubic misses) plus 4 others, since the photos have large smooth areas. x2 is trained from
scratch; x3 and x4 start from its body (:data:`INIT_FROM`), each with its own seed, so
``--jobs`` does not change the result.
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
SIZES = (320, 448, 640, 896)
#: Steps per scale (each scale is trained from scratch, independently of the others).
STEPS = {2: 5000, 3: 2500, 4: 2500}
#: Gentler cosine cycles after the main one (warm restarts at lower peak rates): scale ->
#: ((steps, peak learning rate), ...). The loss was still falling at the end of the main runs.
REFINE = {2: ((2500, 3e-4), (2500, 1e-4)), 3: ((1500, 3e-4),), 4: ((1500, 3e-4),)}
#: x3 and x4 start from the trained x2 body (FSRCNN's observation: the feature, shrinking and
#: mapping layers transfer across scales, only the upsampling head is scale-specific), so they
#: need half the steps.
INIT_FROM = {3: 2, 4: 2}
#: Widths of :class:`CompactSR`: d features, s shrunk channels, m mapping convs, e expanded.
ARCH = {"d": 48, "s": 24, "m": 4, "e": 32}
BATCH = 16
CANDIDATES = 48
DETAILED = 12
LR_PATCH = 48
CHECKPOINT_EVERY = 500


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
    """A batch of aligned crops (LR, bicubic, HR) with flips and 90-degree rotations.

    Of CANDIDATES random crops, the DETAILED ones with the most residual energy (HR - bicubic:
    what the network has to learn) are kept, plus random ones: the photos have large smooth
    areas (bokeh, sky) that teach the network nothing.
    """
    weights = np.array([d[0].shape[0] * d[0].shape[1] for d in data], float)
    picks = rng.choice(len(data), size=CANDIDATES, p=weights / weights.sum())
    p, s = LR_PATCH, scale
    cands = []
    for i in picks:
        lr, bic, hr = data[i]
        y = int(rng.integers(0, lr.shape[0] - p + 1))
        x = int(rng.integers(0, lr.shape[1] - p + 1))
        crops = [lr[y:y + p, x:x + p], bic[y * s:(y + p) * s, x * s:(x + p) * s],
                 hr[y * s:(y + p) * s, x * s:(x + p) * s]]
        cands.append((float(np.mean((crops[2] - crops[1]) ** 2)), crops))
    order = np.argsort([-c[0] for c in cands], kind="stable")
    rest = rng.choice(order[DETAILED:], size=BATCH - DETAILED, replace=False)
    chosen = [cands[j][1] for j in list(order[:DETAILED]) + list(rest)]
    lrs, bics, hrs = [], [], []
    for crops in chosen:
        k, flip = int(rng.integers(0, 4)), bool(rng.integers(0, 2))
        crops = [np.rot90(c, k) for c in crops]
        if flip:
            crops = [c[:, ::-1] for c in crops]
        for dst, c in zip((lrs, bics, hrs), crops):
            dst.append(np.ascontiguousarray(c.transpose(2, 0, 1)))
    return [np.stack(v) for v in (lrs, bics, hrs)]


def build_model(scale: int, torch, arch: dict | None = None):
    nn = torch.nn

    class CompactSR(nn.Module):
        """FSRCNN-like residual network at low resolution with a pixel-shuffle head."""

        def __init__(self, scale: int, d: int, s: int, m: int, e: int):
            super().__init__()
            layers = [nn.Conv2d(3, d, 5), nn.PReLU(d),
                      nn.Conv2d(d, s, 1), nn.PReLU(s)]
            for _ in range(m):
                layers += [nn.Conv2d(s, s, 3), nn.PReLU(s)]
            layers += [nn.Conv2d(s, e, 1), nn.PReLU(e)]
            self.body = nn.Sequential(*layers)
            self.head = nn.Conv2d(e, 3 * scale * scale, 3)
            self.radius = 2 + m + 1  # receptive radius of body + head, in LR pixels
            # A linear path (a learned sharpening filter per sub-pixel): it learns within a few
            # hundred steps what bicubic lacks most, and the deep path refines it.
            self.linear = nn.Conv2d(3, 3 * scale * scale, 5)
            self.shuffle = nn.PixelShuffle(scale)
            for layer in self.body:
                if isinstance(layer, nn.Conv2d):
                    nn.init.kaiming_normal_(layer.weight, a=0.25, nonlinearity="leaky_relu")
                    nn.init.zeros_(layer.bias)
            for layer in (self.head, self.linear):
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)

        def forward(self, x):  # x: LR in [0, 1]; returns the residual to bicubic(x)
            # Edge padding once at the input (not zeros at every layer): image borders, and
            # training crops' borders, look like a continued image.
            r = self.radius
            x = torch.nn.functional.pad(x - 0.5, (r, r, r, r), mode="replicate")
            return self.shuffle(self.head(self.body(x)) + self.linear(x[:, :, r - 2:-(r - 2),
                                                                        r - 2:-(r - 2)]))

    return CompactSR(scale, **(arch or ARCH))


def least_squares_linear(data, scale: int, rng: np.random.Generator, *, batches: int = 150):
    """Closed-form start for the linear path: the 5x5 filter per output sub-pixel that best
    predicts the residual (HR - bicubic) on training crops, by ridge least squares.

    Returns (weight (3*s*s, 3, 5, 5), bias (3*s*s,)) in PyTorch conv + PixelShuffle layout.
    """
    k, r = 5, 2
    xs, ys = [], []
    for _ in range(batches):
        lr, bic, hr = sample_batch(data, scale, rng)  # N x 3 x p x p (and p*s)
        res = hr - bic
        n, _, p, _ = lr.shape
        for _ in range(4):
            yy = rng.integers(r, p - r, size=(n, 16))
            xx = rng.integers(r, p - r, size=(n, 16))
            idx = np.arange(n)[:, None]
            patch = np.stack([lr[idx, :, yy + dy, xx + dx]
                              for dy in range(-r, r + 1) for dx in range(-r, r + 1)], -1)
            xs.append(patch.reshape(n * 16, 3 * k * k) - 0.5)  # (c, ky, kx) order
            sub = np.stack([res[idx, :, yy * scale + i, xx * scale + j]
                            for i in range(scale) for j in range(scale)], -1)
            ys.append(sub.reshape(n * 16, 3 * scale * scale))  # (c, i, j): PixelShuffle order
    x = np.concatenate(xs).astype(np.float64)
    x = np.concatenate([x, np.ones((len(x), 1))], 1)
    y = np.concatenate(ys).astype(np.float64)
    gram = x.T @ x + 1e-4 * len(x) * 1e-4 * np.eye(x.shape[1])
    w = np.linalg.solve(gram, x.T @ y)  # (76, 3*s*s)
    weight = w[:-1].T.reshape(3 * scale * scale, 3, k, k).astype(np.float32)
    return weight, w[-1].astype(np.float32)


def body_checkpoint(scale: int, tag: str = "") -> Path:
    """Weights of a scale: the main run's latest (``tag=""``), its end (``"main"``: what x3/x4
    start from, so they need not wait for x2's refinement) or the end of refine cycle k
    (``"refine<k>"``)."""
    return CACHE / f"sr_compact_x{scale}{'_' + tag if tag else ''}.pt"


def train_scale(scale: int, steps: int, torch, *, seed: int = 0, refine: tuple = (),
                resume: str | None = None, log=print):
    """Train the x``scale`` network: a main cosine run of ``steps`` (x3/x4 start from the saved
    x2 body, :data:`INIT_FROM`), then the ``refine`` cycles, each (steps, peak rate).
    ``resume`` ("main", "refine1", ...) loads that stage's checkpoint and runs only the cycles
    after it; each cycle has its own seed, so a resumed run ends where a whole one does."""
    model = build_model(scale, torch)
    data = training_set(scale)
    done = 0  # refine cycles already in the loaded weights
    if resume:
        model.load_state_dict(torch.load(body_checkpoint(scale, resume), map_location="cpu"))
        done = 0 if resume == "main" else int(resume.removeprefix("refine"))
        log(f"x{scale}: resumed from {body_checkpoint(scale, resume).name}")
    else:
        torch.manual_seed(seed + scale)
        parent = INIT_FROM.get(scale)
        if parent is not None:
            state = torch.load(body_checkpoint(parent, "main"), map_location="cpu")
            body = {k[len("body."):]: v for k, v in state.items() if k.startswith("body.")}
            model.body.load_state_dict(body)
            log(f"x{scale}: body initialised from x{parent} "
                f"({body_checkpoint(parent, 'main').name})")
        weight, bias = least_squares_linear(data, scale,
                                            np.random.default_rng(seed + 100 + scale))
        with torch.no_grad():
            model.linear.weight.copy_(torch.from_numpy(weight))
            model.linear.bias.copy_(torch.from_numpy(bias))
        run_cycle(model, data, scale, steps, 1e-3, np.random.default_rng(seed + scale), torch,
                  log=log, tag="", checkpoint=body_checkpoint(scale))
        torch.save(model.state_dict(), body_checkpoint(scale, "main"))
    for k, (refine_steps, peak) in enumerate(refine, start=1):
        if k <= done:
            continue
        torch.manual_seed(seed + scale + 1000 * k)
        run_cycle(model, data, scale, refine_steps, peak,
                  np.random.default_rng(seed + scale + 1000 * k), torch, log=log,
                  tag=f"refine{k} ", checkpoint=body_checkpoint(scale, f"refine{k}"))
    return model


def run_cycle(model, data, scale: int, steps: int, peak: float, rng, torch, *, log, tag: str,
              checkpoint: Path):
    """One cosine cycle of Adam from ``peak`` down to 2 % of it; checkpoints as it goes."""
    opt = torch.optim.Adam(model.parameters(), lr=peak)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, steps) / steps)) * 0.98 + 0.02)
    t0, running, base = time.time(), 0.0, 0.0
    for step in range(1, steps + 1):
        lr, bic, hr = (torch.from_numpy(a) for a in sample_batch(data, scale, rng))
        out = bic + model(lr)
        loss = torch.sqrt((out - hr) ** 2 + 1e-6).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running += loss.item()
        with torch.no_grad():
            base += torch.sqrt((bic - hr) ** 2 + 1e-6).mean().item()
        if step % 250 == 0 or step == steps:
            n = 250 if step % 250 == 0 else step % 250
            log(f"x{scale} {tag}step {step}/{steps} loss {running / n:.5f} "
                f"(bicubic on the same batches {base / n:.5f}) {time.time() - t0:.0f}s")
            running = base = 0.0
        if step % CHECKPOINT_EVERY == 0 or step == steps:
            # Kept so an interrupted run can still be exported (--export-only).
            torch.save(model.state_dict(), checkpoint)


def export(model, scale: int, path: Path, torch) -> None:
    model.eval()
    x = torch.zeros(1, 3, 32, 40)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model, (x,), str(path), input_names=["lr"], output_names=["residual"],
        dynamic_axes={"lr": {2: "h", 3: "w"}, "residual": {2: "sh", 3: "sw"}},
        opset_version=17, dynamo=False,
    )


def run_scale(scale: int, steps: int, out: Path, seed: int, export_only: bool = False,
              refine: tuple = (), resume: str | None = None) -> None:
    """Train (unless ``export_only``), export and record one scale (its own process with --jobs)."""
    import torch

    torch.set_num_threads(1)
    log_path = CACHE / f"train_sr_x{scale}.log"

    def log(msg: str) -> None:
        print(msg, flush=True)
        with open(log_path, "a") as f:
            f.write(msg + "\n")

    started = time.time()
    if export_only:
        model = build_model(scale, torch)
        last = max(CACHE.glob(f"sr_compact_x{scale}*.pt"), key=lambda p: p.stat().st_mtime)
        model.load_state_dict(torch.load(last, map_location="cpu"))
        log(f"== x{scale} exported from {last.name}")
    else:
        log(f"== x{scale} {time.strftime('%Y-%m-%d %H:%M:%S')} steps={steps} refine={refine} "
            f"seed={seed} arch={ARCH} photos={list(TRAINABLE_NATURE)}")
        model = train_scale(scale, steps, torch, seed=seed, refine=refine, resume=resume,
                            log=log)
    path = out / f"sr_compact_x{scale}.onnx"
    export(model, scale, path, torch)
    meta = {"scale": scale, "steps": steps, "batch": BATCH, "lr_patch": LR_PATCH, "seed": seed,
            "arch": ARCH, "init_from": INIT_FROM.get(scale), "refine": refine,
            "photos": list(TRAINABLE_NATURE), "sizes": SIZES,
            "minutes": round((time.time() - started) / 60, 1),
            "degradation": "PIL BICUBIC downscale of 8-bit HR, 8-bit LR",
            "output": "residual to cv2.INTER_CUBIC upsampling of the input"}
    if not export_only:
        (CACHE / f"sr_compact_x{scale}.json").write_text(json.dumps(meta, indent=2))
    log(f"wrote {path} ({path.stat().st_size} bytes) after {meta['minutes']} min")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4])
    ap.add_argument("--steps", type=int, default=None, help="steps per scale (default: STEPS)")
    ap.add_argument("--out", type=Path, default=WEIGHTS, help="folder of the .onnx files")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1,
                    help="x3 and x4 trained at once after x2, one process (one thread) each; "
                    "the result is the same as with --jobs 1")
    ap.add_argument("--export-only", action="store_true",
                    help="export the last checkpoint of each scale (an interrupted run)")
    ap.add_argument("--resume", metavar="STAGE",
                    help="start from each scale's checkpoint at the end of STAGE (main, refine1, "
                    "...) and run only the cycles after it (a run interrupted there)")
    args = ap.parse_args(argv)
    CACHE.mkdir(parents=True, exist_ok=True)
    def refine(s: int) -> tuple:
        return tuple((args.steps // 2 if args.steps else steps, peak)
                     for steps, peak in REFINE.get(s, ()))

    jobs = [(s, args.steps or STEPS[s], args.out, args.seed, args.export_only, refine(s),
             args.resume) for s in args.scales]
    # Parents first: x3 and x4 start from the x2 body.
    first = [j for j in jobs if j[0] not in INIT_FROM]
    then = [j for j in jobs if j[0] in INIT_FROM]
    for job in first:
        run_scale(*job)
    if args.jobs > 1 and len(then) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            for f in [pool.submit(run_scale, *job) for job in then]:
                f.result()
    else:
        for job in then:
            run_scale(*job)
    return 0


if __name__ == "__main__":
    sys.exit(main())
