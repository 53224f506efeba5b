"""Train photomend's multi-frame video super-resolution model (``compact-vsr``, x2 and x4) and
export it to ONNX.

Reproducing the shipped weights (CPU, one torch thread, seeded; ~13 min for x2 and ~39 min for
x4 on a busy 2-core machine)::

    pip install torch==2.13.0 onnx av
    python training/train_vsr.py --scales 2                       # x2
    python training/train_vsr.py --scales 4 --sequences 160 160 --pretrained-lr 1e-4 \
        --steps 3000 --frames 7 --temporal 1 --still-real 0.1    # x4

    python training/train_vsr.py --scales 2 --steps 40 --out /tmp/vsr   # a quick smoke run
    python training/train_vsr.py --channels 32         # a wider recurrent state

x2: two short runs (400 steps), the one that did better on the development clips
(``benchmarks/bench_video.py`` without ``--final``) ships. x4 (session 16): trained ten times
longer without the temporal term, the model gained on every clip but its output jumped by up
to 20 levels between frames of a still clip, depending on how far the recurrent state had
travelled since a window started; with ``--temporal 1`` (the change of the error between
consecutive frames is penalised, so a still clip's outputs must stay put) and still real
sequences, 5- and 7-frame runs were compared on the development clips and on still crops,
and the 7-frame one (the streaming windows run the state over up to 7 frames) ships. See
``src/photomend/data/weights/vsr_compact.json`` and docs/video.md; ``tests/test_video_upscale.py``
checks still clips. On a GPU, raise ``--steps``, ``BATCH`` and ``LR_PATCH``, and keep that
test passing.

Model (BasicVSR-like, small): two recurrent branches carry a ``C``-channel state through the
clip at low resolution, one backward (from the last frame to the first) and one forward. At
each frame the state from the neighbouring frame is warped to this frame by OpenCV DIS optical
flow computed on the low-resolution frames (:mod:`photomend.video.flow`, the same code as at
run time), then refined with the frame by a conv + residual block. The upsampler is our
single-frame ``compact`` network whose first convolution also reads both states; it starts
from the shipped ``sr_compact_x{s}.onnx`` weights with zero weights on the state channels, so
training starts exactly at the single-frame model and learns what the neighbours add.
Output: the residual to OpenCV bicubic upsampling, like ``compact``.

Data (sequences of ``T`` frames, random crops, flips, 90-degree turns, time reversal):

* synthetic clips from the nine trainable photos of ``mate-backgrounds``
  (``benchmarks/photos.py: TRAINABLE_NATURE``) with random camera motion: sub-pixel and
  few-pixel pans, zoom, small rotations, a pasted patch moving on its own; a fifth are static;
* real clips from Debian's ``opencv-doc``: ``tree.avi`` and ``Megamind.avi`` without their
  last frames (:data:`DEV_TAIL`) (kept for the benchmark), ``vtest.avi`` frames < 400 only
  (frames 400 and later are held out for every purpose).

Degradation: PIL bicubic downscale of the 8-bit frame (as ``train_sr.py``).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "training"))
sys.path.insert(0, str(ROOT / "src"))
from benchmarks.photos import NATURE_DIR, TRAINABLE_NATURE, mate_root, opencv_doc_data  # noqa: E402
from photomend.video.flow import dis_flow  # noqa: E402
from train_sr import bicubic_down, bicubic_up, build_model  # noqa: E402

WEIGHTS = ROOT / "src" / "photomend" / "data" / "weights"
CACHE = ROOT / "training" / ".cache"
#: The last frames of these clips are kept out of training for the benchmark's held-out clips.
DEV_TAIL = {"tree.avi": 24, "Megamind.avi": 40}
VTEST_HELD_OUT_FROM = 400
STEPS = {2: 400, 4: 300}
CHANNELS = 16
T = 5
BATCH = 4
LR_PATCH = {2: 40, 4: 32}
#: Sequences drawn once per scale: synthetic (clean, from photos) and real (compressed clips).
#: A first run with 160 + 160 and the compact layers at 1e-4 drifted towards the real clips'
#: compression look and lost 0.3 dB to ``compact`` on a clean held-out pan: hence 2:1 and a
#: 20x lower rate for the layers that come from ``compact``.
SEQUENCES = {"synthetic": 240, "real": 120}
#: Weight of the temporal term: Charbonnier on the change of the error between consecutive
#: frames (so a still clip's outputs must not move, and a moving one's must move as the truth
#: does). 0 for the runs before session 16; without it a long run's output jumped by up to 20
#: levels between frames of a still clip, depending on how far the state had travelled.
TEMPORAL = 0.0
#: Share of the real sequences that repeat one frame (a still shot: the state must add nothing
#: that changes with the position in the window).
STILL_REAL = 0.0
PRETRAINED_LR = 5e-6


def clip_ranges() -> dict[str, tuple[int, int]]:
    """Training frame ranges of the real clips (the benchmark keeps the rest)."""
    out = {}
    for name, tail in DEV_TAIL.items():
        path = opencv_doc_data() / name
        cap, n = cv2.VideoCapture(str(path)), 0
        while cap.grab():  # the header's frame count is not always right
            n += 1
        if n - tail <= T:
            raise RuntimeError(f"{path}: {n} frames read, too few to train on")
        out[name] = (0, n - tail)
    out["vtest.avi"] = (0, VTEST_HELD_OUT_FROM)
    return out


def real_sequences(scale: int, rng: np.random.Generator, count: int) -> list[np.ndarray]:
    """``count`` HR crops (T x P x P x 3 uint8) of consecutive frames of the real clips."""
    p = LR_PATCH[scale] * scale
    ranges = clip_ranges()
    names = list(ranges)
    picks = rng.choice(len(names), size=count)
    out = []
    for k, name in enumerate(names):
        lo, hi = ranges[name]
        n_k = int((picks == k).sum())
        starts = sorted(int(s) for s in rng.integers(lo, hi - T, size=n_k))
        cap = cv2.VideoCapture(str(opencv_doc_data() / name))
        frames: dict[int, np.ndarray] = {}
        wanted = {s + t for s in starts for t in range(T)}
        for i in range(max(wanted) + 1):
            ok, bgr = cap.read()
            if not ok:
                break
            if i in wanted:
                frames[i] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        for s in starts:
            h, w = frames[s].shape[:2]
            y, x = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
            still = STILL_REAL > 0 and rng.random() < STILL_REAL
            out.append(np.stack([frames[s if still else s + t][y:y + p, x:x + p]
                                 for t in range(T)]))
    return out


def synthetic_sequences(scale: int, rng: np.random.Generator, count: int) -> list[np.ndarray]:
    """``count`` clips rendered from the trainable photos with random camera motion."""
    from PIL import Image

    p = LR_PATCH[scale] * scale
    root = mate_root() / NATURE_DIR
    photos = []
    for name in TRAINABLE_NATURE:
        full = np.asarray(Image.open(root / name).convert("RGB"))
        for side in (640, 1024):
            h, w = full.shape[:2]
            f = side / max(h, w)
            photos.append(cv2.resize(full, (round(w * f), round(h * f)),
                                     interpolation=cv2.INTER_AREA))
    out = []
    for _ in range(count):
        src = photos[int(rng.integers(len(photos)))]
        h, w = src.shape[:2]
        cx, cy = rng.uniform(p, w - p), rng.uniform(p, h - p)
        static = rng.random() < 0.2
        v = np.zeros(2) if static else rng.uniform(-3, 3, 2) * rng.choice([0.3, 1.0])
        rot = 0.0 if static else rng.uniform(-0.6, 0.6)  # degrees per frame
        zoom = 0.0 if static else rng.uniform(-0.01, 0.01)  # per frame
        patch = None
        if not static and rng.random() < 0.5:
            q = int(rng.integers(p // 5, p // 2))
            py, px = int(rng.integers(0, h - q)), int(rng.integers(0, w - q))
            patch = (src[py:py + q, px:px + q], rng.uniform(0, p - q, 2), rng.uniform(-3, 3, 2))
        frames = []
        for t in range(T):
            a = math.radians(rot * t)
            z = 1 + zoom * t
            # Maps output (x, y) to source: rotate/zoom about the crop centre, then pan.
            c, s = math.cos(a) / z, math.sin(a) / z
            ox, oy = cx + v[0] * t, cy + v[1] * t
            m = np.array([[c, -s, ox - c * p / 2 + s * p / 2],
                          [s, c, oy - s * p / 2 - c * p / 2]], np.float64)
            frame = cv2.warpAffine(src, m, (p, p), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_REFLECT)
            if patch is not None:
                img, pos, pv = patch
                q = img.shape[0]
                x0, y0 = np.clip(pos + pv * t, 0, p - q).astype(int)
                frame[y0:y0 + q, x0:x0 + q] = img
            frames.append(frame)
        out.append(np.stack(frames))
    return out


def sample_batch(seqs: list[np.ndarray], scale: int, rng: np.random.Generator):
    """LR (B,T,3,p,p), bicubic and HR (B,T,3,sp,sp) float32, and flows (B,T,2,p,p) to the
    previous and to the next frame (zeros at the ends)."""
    lrs, bics, hrs, fprev, fnext = [], [], [], [], []
    for i in rng.choice(len(seqs), size=BATCH, replace=False):
        seq = np.rot90(seqs[i], int(rng.integers(0, 4)), axes=(1, 2))
        if rng.random() < 0.5:
            seq = seq[:, :, ::-1]
        if rng.random() < 0.5:
            seq = seq[::-1]
        seq = np.ascontiguousarray(seq)
        lr = [bicubic_down(f, scale).astype(np.float32) / 255 for f in seq]
        bic = [bicubic_up(f, scale) for f in lr]
        zero = np.zeros(lr[0].shape[:2] + (2,), np.float32)
        fp = [zero] + [dis_flow(lr[t], lr[t - 1]) for t in range(1, T)]
        fn = [dis_flow(lr[t], lr[t + 1]) for t in range(T - 1)] + [zero]
        lrs.append(np.stack(lr)), bics.append(np.stack(bic))
        hrs.append(seq.astype(np.float32) / 255)
        fprev.append(np.stack(fp)), fnext.append(np.stack(fn))
    chw = lambda a: np.ascontiguousarray(np.stack(a).transpose(0, 1, 4, 2, 3))  # noqa: E731
    return [chw(a) for a in (lrs, bics, hrs, fprev, fnext)]


def compact_state(scale: int) -> dict:
    """The shipped single-frame compact network's weights as a torch state dict."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(WEIGHTS / f"sr_compact_x{scale}.onnx"))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    state = {k: v for k, v in inits.items() if not k.startswith("onnx::")}
    prelus = sorted((k for k in inits if k.startswith("onnx::PRelu_")),
                    key=lambda k: int(k.rsplit("_", 1)[1]))
    for layer, name in zip(range(1, 2 * len(prelus), 2), prelus):
        state[f"body.{layer}.weight"] = inits[name].reshape(-1)
    return state


def build_vsr(scale: int, channels: int, torch):
    nn, F = torch.nn, torch.nn.functional

    class Propagate(nn.Module):
        """One recurrent step: (frame, state warped from the neighbour) -> this frame's state."""

        def __init__(self, c: int):
            super().__init__()
            self.inp = nn.Conv2d(3 + c, c, 3, padding=1, padding_mode="replicate")
            self.a1 = nn.PReLU(c)
            self.c1 = nn.Conv2d(c, c, 3, padding=1, padding_mode="replicate")
            self.a2 = nn.PReLU(c)
            self.c2 = nn.Conv2d(c, c, 3, padding=1, padding_mode="replicate")

        def forward(self, lr, state):
            f = self.a1(self.inp(torch.cat([lr - 0.5, state], 1)))
            return f + self.c2(self.a2(self.c1(f)))

    class Fuse(nn.Module):
        """The compact network reading the frame and both states: residual to bicubic."""

        def __init__(self, c: int):
            super().__init__()
            compact = build_model(scale, torch)
            compact.load_state_dict({k: torch.from_numpy(np.array(v))
                                     for k, v in compact_state(scale).items()})
            first = compact.body[0]
            wide = nn.Conv2d(3 + 2 * c, first.out_channels, first.kernel_size)
            with torch.no_grad():
                wide.weight.zero_()
                wide.weight[:, :3] = first.weight
                wide.bias.copy_(first.bias)
            compact.body[0] = wide
            self.compact = compact

        def forward(self, lr, fwd, bwd):
            m, r = self.compact, self.compact.radius
            x = F.pad(torch.cat([lr - 0.5, fwd, bwd], 1), (r, r, r, r), mode="replicate")
            xl = x[:, :3, r - 2:-(r - 2), r - 2:-(r - 2)]
            return m.shuffle(m.head(m.body(x)) + m.linear(xl))

    class VSR(nn.Module):
        def __init__(self, c: int):
            super().__init__()
            self.c = c
            self.backward_step, self.forward_step = Propagate(c), Propagate(c)
            self.fuse = Fuse(c)

        def forward(self, lr, fprev, fnext):  # (B,T,3,h,w), (B,T,2,h,w) x2 -> residuals
            b, t, _, h, w = lr.shape
            zero = lr.new_zeros(b, self.c, h, w)
            back = [None] * t
            state = zero
            for i in reversed(range(t)):
                if i < t - 1:
                    state = warp(state, fnext[:, i])
                state = back[i] = self.backward_step(lr[:, i], state)
            outs, state = [], zero
            for i in range(t):
                if i > 0:
                    state = warp(state, fprev[:, i])
                state = self.forward_step(lr[:, i], state)
                outs.append(self.fuse(lr[:, i], state, back[i]))
            return torch.stack(outs, 1)

    def warp(x, flow):  # bilinear, border: as cv2.remap(..., BORDER_REPLICATE)
        b, _, h, w = x.shape
        gy, gx = torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype),
                                indexing="ij")
        sx = (gx + flow[:, 0]) * (2 / max(w - 1, 1)) - 1
        sy = (gy + flow[:, 1]) * (2 / max(h - 1, 1)) - 1
        grid = torch.stack([sx, sy], -1)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)

    return VSR(channels)


def charbonnier(diff):
    """The loss of every term: mean sqrt(diff^2 + 1e-6) (a smooth L1)."""
    return (diff * diff + 1e-6).sqrt().mean()


def train(scale: int, steps: int, channels: int, seed: int, torch, log) -> object:
    rng = np.random.default_rng(seed + scale)
    torch.manual_seed(seed + scale)
    t0 = time.time()
    seqs = (synthetic_sequences(scale, rng, SEQUENCES["synthetic"])
            + real_sequences(scale, rng, SEQUENCES["real"]))
    log(f"x{scale}: {len(seqs)} sequences of {T} frames ready in {time.time() - t0:.0f}s")
    model = build_vsr(scale, channels, torch)
    pretrained = [p for n, p in model.named_parameters()
                  if n.startswith("fuse.") and not n.startswith("fuse.compact.body.0.")]
    fresh = [p for n, p in model.named_parameters()
             if not (n.startswith("fuse.") and not n.startswith("fuse.compact.body.0."))]
    opt = torch.optim.Adam([{"params": fresh, "lr": 1e-3},
                            {"params": pretrained, "lr": PRETRAINED_LR}])
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, steps) / steps)) * 0.95 + 0.05)
    single = build_vsr(scale, channels, torch).fuse  # the shipped single-frame model, frozen
    running = base = 0.0
    every = 25
    for step in range(1, steps + 1):
        lr, bic, hr, fp, fn = (torch.from_numpy(a) for a in sample_batch(seqs, scale, rng))
        out = bic + model(lr, fp, fn)
        err = out - hr
        loss = frame_loss = charbonnier(err)
        if TEMPORAL:
            loss = frame_loss + TEMPORAL * charbonnier(err[:, 1:] - err[:, :-1])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running += frame_loss.item()
        with torch.no_grad():
            b, t = lr.shape[:2]
            zero = lr.new_zeros(b * t, channels, *lr.shape[3:])
            flat = lr.flatten(0, 1)
            ref = bic.flatten(0, 1) + single(flat, zero, zero)
            base += charbonnier(ref - hr.flatten(0, 1)).item()
        if step % every == 0 or step == steps:
            n = every if step % every == 0 else step % every
            log(f"x{scale} step {step}/{steps} loss {running / n:.5f} (single-frame compact "
                f"on the same batches {base / n:.5f}) {time.time() - t0:.0f}s")
            running = base = 0.0
        if step % 100 == 0 or step == steps:
            torch.save(model.state_dict(), CACHE / f"vsr_x{scale}.pt")
    return model


def export(model, scale: int, out: Path, torch) -> list[Path]:
    """Three graphs per scale: backward step, forward step, fuse (the run-time loop is NumPy)."""
    model.eval()
    c = model.c
    lr, st = torch.zeros(1, 3, 24, 32), torch.zeros(1, c, 24, 32)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for part, module, args, names in (
        ("backward", model.backward_step, (lr, st), ["lr", "state"]),
        ("forward", model.forward_step, (lr, st), ["lr", "state"]),
        ("fuse", model.fuse, (lr, st, st), ["lr", "forward", "backward"]),
    ):
        path = out / f"vsr_compact_x{scale}_{part}.onnx"
        dyn = {n: {2: "h", 3: "w"} for n in names}
        dyn["out"] = {2: "oh", 3: "ow"}
        torch.onnx.export(module, args, str(path), input_names=names, output_names=["out"],
                          dynamic_axes=dyn, opset_version=17, dynamo=False)
        paths.append(path)
    return paths


def main(argv=None) -> int:
    global PRETRAINED_LR, T, TEMPORAL, STILL_REAL, CACHE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--steps", type=int, default=None, help="steps per scale (default: STEPS)")
    ap.add_argument("--channels", type=int, default=CHANNELS, help="recurrent state width")
    ap.add_argument("--out", type=Path, default=WEIGHTS, help="folder of the .onnx files")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sequences", type=int, nargs=2, metavar=("SYNTHETIC", "REAL"),
                    default=None, help="sequences drawn per scale (default: SEQUENCES)")
    ap.add_argument("--pretrained-lr", type=float, default=None,
                    help="learning rate of the layers taken from compact (default: "
                    "PRETRAINED_LR)")
    ap.add_argument("--frames", type=int, default=T, help="frames per training sequence")
    ap.add_argument("--temporal", type=float, default=TEMPORAL,
                    help="weight of the temporal-consistency term (default: TEMPORAL)")
    ap.add_argument("--still-real", type=float, default=STILL_REAL,
                    help="share of real sequences that repeat one frame (default: STILL_REAL)")
    ap.add_argument("--cache", type=Path, default=CACHE,
                    help="folder of the checkpoints and the log (one per concurrent run)")
    ap.add_argument("--export-only", action="store_true",
                    help="export the last checkpoint of each scale (an interrupted run)")
    args = ap.parse_args(argv)
    import torch

    T, TEMPORAL, STILL_REAL = args.frames, args.temporal, args.still_real
    if args.sequences:
        SEQUENCES.update(synthetic=args.sequences[0], real=args.sequences[1])
    if args.pretrained_lr is not None:
        PRETRAINED_LR = args.pretrained_lr
    CACHE = args.cache
    torch.set_num_threads(1)
    CACHE.mkdir(parents=True, exist_ok=True)
    log_path = CACHE / "train_vsr.log"

    def log(msg: str) -> None:
        print(msg, flush=True)
        with open(log_path, "a") as f:
            f.write(msg + "\n")

    meta = {}
    meta_path = args.out / "vsr_compact.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
    for scale in args.scales:
        started = time.time()
        steps = args.steps or STEPS[scale]
        if args.export_only:
            model = build_vsr(scale, args.channels, torch)
            model.load_state_dict(torch.load(CACHE / f"vsr_x{scale}.pt", map_location="cpu"))
        else:
            log(f"== x{scale} {time.strftime('%Y-%m-%d %H:%M:%S')} steps={steps} T={T} "
                f"batch={BATCH} patch={LR_PATCH[scale]} channels={args.channels} "
                f"seed={args.seed} temporal={TEMPORAL} still_real={STILL_REAL}")
            model = train(scale, steps, args.channels, args.seed, torch, log)
        paths = export(model, scale, args.out, torch)
        meta[f"x{scale}"] = {
            "steps": steps, "frames_per_sequence": T, "batch": BATCH,
            "lr_patch": LR_PATCH[scale], "channels": args.channels, "seed": args.seed,
            "sequences": SEQUENCES, "pretrained_lr": PRETRAINED_LR,
            "temporal": TEMPORAL, "still_real": STILL_REAL,
            "real_clips": clip_ranges(), "photos": list(TRAINABLE_NATURE),
            "minutes": round((time.time() - started) / 60, 1),
            "init": f"fuse from sr_compact_x{scale}.onnx (state channels zero)",
        }
        log(f"wrote {', '.join(p.name for p in paths)} after {meta[f'x{scale}']['minutes']} min")
    if not args.export_only or not meta_path.is_file():
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
