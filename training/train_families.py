"""Fine-tune the defect U-Net on the damage families (issue 21), with leave-one-family-out runs.

One command per run, CPU, seeded, one torch thread::

    pip install -e ".[torch]" onnx
    python training/train_families.py                       # all families: the shipped weights
    python training/train_families.py --leave-out surface   # a leave-one-family-out run

The shipped detector (``defects_unet.onnx``, ``training/train_defects.py``) learned one
generator, :func:`photomend.restoration.degrade.degrade`. This script starts from its weights
(read back from the ONNX file, batch norm already folded into the convolutions, so the network
here has none) and fine-tunes it on scans drawn by every family of
:mod:`photomend.restoration.damage_families` but ``--leave-out``. A run that leaves a family out
measures how the detector does on damage drawn by code it never saw (report it on that family
only); the run with every family is the one shipped. Starting from the degrade-trained weights
means ``--leave-out degrade`` is no leave-one-out at all: that run is not made.

Photos: the mate-backgrounds nature photos of ``TRAINABLE_NATURE`` and the opencv-doc photos of
the structure benchmark's ``tune`` split, less two validation photos (``TwoWings.jpg`` and
``home.jpg``) that choose the checkpoint and the threshold. The held-out photos of
``benchmarks/bench_restore_families.py`` (the structure ``heldout`` split and
``HELD_OUT_NATURE``) are never read here.

Data: a pool of whole scans (``--pool`` per family), each a training photo at a random long
side of 640-1400 px, varied before the damage is drawn (``train_defects.augment_photo``), then
damaged by its family with a random seed; a batch takes crops from the pool (flipped and
rotated): 40 % centred on a defect pixel, 40 % anywhere, 20 % from the scan's clean twin (its
ageing and scan effects without the defects: what must not be flagged).

Validation: every ``--validate-every`` steps, whole scans of the two validation photos at
1024 px, two seeds per training family, plus their clean twins. The threshold is the one of
0.30-0.97 with the best F1 (2 px tolerance) pooled over those scans among those that flag at
most 1 % of the clean twins' pixels, F1 being the mean over the families of each family's
pooled F1; the checkpoint with the best such F1 is exported, with its threshold in the ONNX
metadata.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "training"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from photos import NATURE_DIR, TRAINABLE_NATURE, VALIDATION_PHOTO, _resize_long_side, mate_root  # noqa: E402
from structure_photos import SPLITS, load_structure_photo  # noqa: E402
from train_defects import DefectUNet, augment_photo, loss_fn  # noqa: E402

from photomend.metrics import pooled_scores, tolerant_counts  # noqa: E402
from photomend.restoration.damage_families import FAMILIES, damage  # noqa: E402
from photomend.restoration.detect_learned import features, weights_path  # noqa: E402

CACHE = ROOT / "training" / ".cache" / "families"
VALIDATION = ("mate:" + VALIDATION_PHOTO, "opencv:home.jpg")
THRESHOLDS = np.round(np.arange(0.30, 0.975, 0.01), 2)
TOL = 2


def load(name: str, side: int) -> np.ndarray:
    """A training or validation photo (``mate:`` or ``opencv:`` name), float RGB, long side
    ``side``."""
    from PIL import Image

    kind, stem = name.split(":", 1)
    if kind == "opencv":
        return load_structure_photo(stem, side)
    rgb = np.asarray(Image.open(mate_root() / NATURE_DIR / stem).convert("RGB"), np.float32)
    return _resize_long_side(rgb / 255, side)


def training_names() -> list[str]:
    names = [f"mate:{n}" for n in TRAINABLE_NATURE] + [f"opencv:{n}" for n in SPLITS["tune"]]
    return [n for n in names if n not in VALIDATION]


# ---------------------------------------------------------------------------------------------
# Network: the shipped U-Net without batch norm (folded into the convolutions of the ONNX file)
# ---------------------------------------------------------------------------------------------


def folded_unet() -> DefectUNet:
    model = DefectUNet()
    for mod in model.modules():
        if isinstance(mod, nn.Sequential):
            for i, sub in enumerate(mod):
                if isinstance(sub, nn.BatchNorm2d):
                    mod[i] = nn.Identity()
    return model


def load_onnx_weights(model: DefectUNet, path: Path) -> DefectUNet:
    """``model`` (from :func:`folded_unet`) with the weights of an exported ONNX file: its
    Conv and ConvTranspose nodes in graph order are the network's in module order, except the
    transposed ones and the head, which keep their names."""
    import onnx
    from onnx import numpy_helper

    g = onnx.load(str(path)).graph
    init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    convs = [n for n in g.node if n.op_type == "Conv" and n.input[1] in init
             and not n.input[1].startswith("head")]
    targets = [m for name, m in model.named_modules()
               if isinstance(m, nn.Conv2d) and not name.startswith("head")]
    if len(convs) != len(targets):
        raise ValueError(f"{path}: {len(convs)} convolutions, the network has {len(targets)}")
    state = {}
    names = {id(m): name for name, m in model.named_modules()}
    for node, conv in zip(convs, targets):
        state[names[id(conv)] + ".weight"] = torch.from_numpy(init[node.input[1]].copy())
        state[names[id(conv)] + ".bias"] = torch.from_numpy(init[node.input[2]].copy())
    for k in ("u2", "u1", "u0", "head"):
        for p in ("weight", "bias"):
            state[f"{k}.{p}"] = torch.from_numpy(init[f"{k}.{p}"].copy())
    model.load_state_dict(state)
    return model


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


class Scan:
    def __init__(self, image, clean, mask, family):
        self.image = np.round(image * 255).astype(np.uint8)
        self.clean = np.round(clean * 255).astype(np.uint8)
        self.mask = mask
        self.family = family
        self.defects = np.argwhere(mask)


def make_pool(families, per_family: int, seed: int, say) -> list[Scan]:
    rng = np.random.default_rng(seed)
    names = training_names()
    sources = {n: load(n, 1400) for n in names}
    pool = []
    for fam in families:
        for _ in range(per_family):
            rgb = sources[names[rng.integers(len(names))]]
            side = int(rng.integers(640, 1401))
            rgb = augment_photo(_resize_long_side(rgb, side), rng)
            d = damage(rgb, fam, seed=int(rng.integers(2**31)))
            pool.append(Scan(d.image, d.clean, d.mask, fam))
        say(f"pool: {per_family} {fam} scans")
    return pool


def sample(pool: list[Scan], rng: np.random.Generator, crop: int):
    scan = pool[rng.integers(len(pool))]
    h, w = scan.mask.shape
    roll = rng.random()
    if roll < 0.4 and len(scan.defects):
        cy, cx = scan.defects[rng.integers(len(scan.defects))]
        y = int(np.clip(cy - crop // 2 + rng.integers(-crop // 3, crop // 3 + 1), 0, h - crop))
        x = int(np.clip(cx - crop // 2 + rng.integers(-crop // 3, crop // 3 + 1), 0, w - crop))
    else:
        y, x = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
    src = scan.clean if roll >= 0.8 else scan.image
    rgb = src[y:y + crop, x:x + crop].astype(np.float32) / 255
    m = scan.mask[y:y + crop, x:x + crop] if roll < 0.8 else np.zeros((crop, crop), bool)
    k = int(rng.integers(4))
    rgb, m = np.rot90(rgb, k), np.rot90(m, k)
    if rng.random() < 0.5:
        rgb, m = rgb[:, ::-1], m[:, ::-1]
    return features(np.ascontiguousarray(rgb)), np.ascontiguousarray(m)


def batch(pool, rng, n: int, crop: int):
    xs, ys = zip(*(sample(pool, rng, crop) for _ in range(n)))
    x = torch.from_numpy(np.stack([a.transpose(2, 0, 1) for a in xs]).copy())
    y = torch.from_numpy(np.stack(ys)[:, None].astype(np.float32))
    return x, y


# ---------------------------------------------------------------------------------------------
# Validation and threshold
# ---------------------------------------------------------------------------------------------


def validation_set(families) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    out = []
    for name in VALIDATION:
        rgb = load(name, 1024)
        for fam in families:
            for s in range(2):
                d = damage(rgb, fam, seed=90_000 + 10 * FAMILIES.index(fam) + s)
                out.append((fam, features(d.image), features(d.clean), d.mask))
    return out


@torch.no_grad()
def probability(model, feats: np.ndarray) -> np.ndarray:
    model.eval()
    h, w = feats.shape[:2]
    ph, pw = -h % 8, -w % 8
    x = np.pad(feats, ((0, ph), (0, pw), (0, 0)), mode="reflect")
    logits = model(torch.from_numpy(x.transpose(2, 0, 1)[None].copy()))[0, 0, :h, :w]
    return torch.sigmoid(logits).numpy()


def calibrate(probs, cleans, masks, fams, max_clean: float = 0.01) -> tuple[float, float]:
    """(threshold, F1) among :data:`THRESHOLDS` flagging at most ``max_clean`` of the clean
    twins' pixels (the highest threshold if none does); F1 is the mean over the families of
    the F1 pooled over each family's scans (pooled over all scans, the stains' large areas
    would outweigh every scratch)."""
    best = (float(THRESHOLDS[-1]), -1.0)
    for t in THRESHOLDS:
        flagged = np.mean([(c > t).mean() for c in cleans])
        if flagged > max_clean:
            continue
        f1 = float(np.mean(list(family_f1(probs, masks, fams, t).values())))
        if f1 > best[1]:
            best = (float(t), f1)
    return best


def family_f1(probs, masks, fams, t: float) -> dict[str, float]:
    out = {}
    for fam in dict.fromkeys(fams):
        counts = sum(tolerant_counts(p > t, m, tol=TOL)
                     for p, m, f in zip(probs, masks, fams) if f == fam)
        out[fam] = pooled_scores(counts)[2]
    return out


def validate(model, vset) -> dict:
    probs = [probability(model, f) for _, f, _, _ in vset]
    cleans = [probability(model, c) for _, _, c, _ in vset]
    masks, fams = [v[3] for v in vset], [v[0] for v in vset]
    t, f1 = calibrate(probs, cleans, masks, fams)
    per = family_f1(probs, masks, fams, t)
    clean = float(np.mean([(c > t).mean() for c in cleans]))
    return {"threshold": t, "f1": f1, "clean": clean, **{f"f1 {k}": v for k, v in per.items()}}


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--leave-out", choices=[f for f in FAMILIES if f != "degrade"], default=None)
    ap.add_argument("--steps", type=int, default=900)
    ap.add_argument("--batch", type=int, default=6)
    ap.add_argument("--crop", type=int, default=192)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--pos-weight", type=float, default=20.0)
    ap.add_argument("--pool", type=int, default=60, help="scans per family in the pool")
    ap.add_argument("--validate-every", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--start", type=Path, default=weights_path(), help="ONNX weights to start from")
    ap.add_argument("--out", type=Path, default=None, help="ONNX output (default in the cache)")
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    tag = f"lofo_{args.leave_out}" if args.leave_out else "all"
    CACHE.mkdir(parents=True, exist_ok=True)
    log_path = CACHE / f"{tag}.log"
    log = log_path.open("w")
    started = time.perf_counter()

    def say(msg: str) -> None:
        line = f"[{(time.perf_counter() - started) / 60:5.1f} min] {msg}"
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    families = [f for f in FAMILIES if f != args.leave_out]
    say(f"run {tag}: families {families}, args {vars(args)}")
    model = load_onnx_weights(folded_unet(), args.start)
    pool = make_pool(families, args.pool, args.seed, say)
    vset = validation_set(families)
    v = validate(model, vset)
    say("validation step 0: " + ", ".join(f"{k} {x:.3f}" for k, x in v.items()))
    best = dict(v, step=0)
    best_path = CACHE / f"{tag}_best.pt"
    torch.save({"state": model.state_dict(), "val": best}, best_path)
    rng = np.random.default_rng(args.seed + 1)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps,
                                                pct_start=0.1)
    running = 0.0
    for step in range(1, args.steps + 1):
        model.train()
        x, y = batch(pool, rng, args.batch, args.crop)
        loss = loss_fn(model(x), y, args.pos_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
        if step % 50 == 0:
            say(f"step {step}/{args.steps} loss {running:.4f}")
        if step % args.validate_every == 0 or step == args.steps:
            v = validate(model, vset)
            mark = ""
            if v["f1"] > best["f1"]:
                best, mark = dict(v, step=step), " (best)"
                torch.save({"state": model.state_dict(), "val": best}, best_path)
            say(f"validation step {step}: " + ", ".join(f"{k} {x:.3f}" for k, x in v.items())
                + mark)
    model.load_state_dict(torch.load(best_path)["state"])
    out = args.out or CACHE / f"{tag}.onnx"
    export(model, out, best, families, args)
    say(f"exported {out} (step {best['step']}, threshold {best['threshold']})")
    return 0


def export(model, path: Path, val: dict, families, args) -> None:
    import onnx

    model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = CACHE / f"export_{path.stem}.onnx"
    torch.onnx.export(model, torch.zeros(1, 5, 64, 64), str(tmp), input_names=["image"],
                      output_names=["logits"],
                      dynamic_axes={"image": {0: "n", 2: "h", 3: "w"},
                                    "logits": {0: "n", 2: "h", 3: "w"}},
                      opset_version=17, dynamo=False)
    m = onnx.load(str(tmp))
    meta = {"threshold": f"{val['threshold']:.2f}", "multiple": "8", "margin": "0.00",
            "pos_weight": f"{args.pos_weight:.1f}",
            "trained_on": ("mate-backgrounds TRAINABLE_NATURE + opencv-doc structure tune "
                           f"photos; damage families {', '.join(families)}"),
            "checkpoint_step": str(val["step"]),
            "args": json.dumps({k: str(v) for k, v in vars(args).items()})}
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(m, str(path))
    tmp.unlink()


if __name__ == "__main__":
    sys.exit(main())
