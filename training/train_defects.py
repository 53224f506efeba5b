"""Train the old-photo defect detector shipped as ``src/photomend/data/weights/defects_unet.onnx``.

One command, CPU, seeded, ONE torch thread (``--threads 1``, the default)::

    pip install -e ".[torch]" onnx && python training/train_defects.py

Two stages. The main run: 4400 steps of 6 crops of 208 px, AdamW + one-cycle schedule (max lr
3e-3); on our shared 2-core machine about 1 s a step, 75 minutes including validation. Then
the hard-negative fine-tune (:func:`finetune`) of the main run's best-validation checkpoint
(step 2200): 1500 steps of 6 crops of 192 px (max lr 1e-3), about 0.65 s a step, 17 minutes,
adding small photos run at their own size, enlargements from up to 6x smaller, sharpened
photos and 30 % clean crops. The shipped weights are the fine-tune's best-validation
checkpoint (fine-tune step 1000, validation F1 0.69 with clean small photos counted), then
calibrated (2-3 minutes): threshold 0.92, classical support 0.4. ``--resume finetune`` skips
the main run (it starts from ``training/.cache/defects_unet_best.pt``); ``--export-only``
skips training and exports + calibrates the best checkpoint saved so far
(``training/.cache/defects_unet_ft_best.pt``, or the main run's with ``--finetune-steps 0``).

Data: ONLY the training split of Debian's mate-backgrounds nature photos
(``benchmarks/photos.py: TRAINABLE_NATURE``; fetched with ``apt-get download``), with synthetic
damage from :func:`photomend.restoration.degrade.degrade` drawn on random crops. One of them,
:data:`VALIDATION_PHOTO`, is kept out of the training crops: every ``--validate-every`` steps
the tolerant F1 (2 px) on whole 1024-px scans of it (sharp and soft, all damage and faint
scratches, plus ageing alone, which may flag at most 1 %) is logged, and the checkpoint with the
best validation F1 is the one exported. The held-out photos (``HELD_OUT_NATURE``, Elephants,
the scikit-image benchmark photos ``SKIMAGE_PHOTOS``) are never read here. ``--skimage
finetune|all`` adds the two scikit-image colour photos that are not benchmark photos
(``benchmarks/photos.py: TRAINABLE_SKIMAGE``: retina, immunohistochemistry) to the fine-tune
or to both stages; the default, ``none``, is what the shipped weights were trained with
(session 5: the fine-tune with them was no clear gain on the validation photo; compare models
with ``training/eval_defects_dev.py``). ``--stain-steps N`` adds a third stage
(:func:`stain_stage`, from the fine-tune's best checkpoint; ``--resume stains`` starts there):
stain pixels weighted ``--stain-weight`` in the BCE, every other batch 2 crops of
``--stain-crop`` px; the default, 0, is what ships (session 5: 600 steps at weight 4 or 10 only
lowered the validation F1; the best checkpoint stayed the start). ``--resume faint
--faint-steps N`` (session 8, not shipped) runs only the faint-scratch stage
(:func:`faint_stage`) from ``--faint-start`` (default: the shipped checkpoint), with more
faint, scratch-only and hairline crops; its checkpoints and ONNX (calibrated) go to
``training/.cache/s8/`` (``--faint-tag``), never to the shipped file.

Generalisation from 8 photos: the photo is varied *before* damage is drawn (softness: scaled
down 1.3-3x and back up, or blurred; saturation, gray, gamma, exposure, contrast), crops are
taken at four sizes (640-1536 px long side), half of them centred on hard negatives (thin real
edges and highlights: the top 3 % of the clean photo's top-hat response), and a quarter of the
damaged crops are hairline-focused; a third of the defects are faint (30-65 % opacity), one
crop in eight has ageing only.

Network: a small U-Net (:class:`DefectUNet`, 268 k parameters): the first two convolutions
run at full resolution (stride 1), so hairline scratches survive; three stride-2 levels and a
dilated bottleneck give ~200 px of context. Loss: BCE with ``pos_weight`` = clean/defect pixel
ratio of the training data + soft Dice. The decision threshold and hysteresis margin are then
calibrated on whole *training* photos with other seeds (``training/calibrate_defects.py``) and
written into the ONNX metadata.

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

from benchmarks.photos import (  # noqa: E402
    NATURE_DIR,
    TRAINABLE_NATURE,
    TRAINABLE_SKIMAGE,
    VALIDATION_PHOTO,
    mate_root,
    trainable_skimage_photo,
)
from photomend.metrics import tolerant_counts  # noqa: E402
from photomend.restoration.degrade import DEFECT_KINDS, degrade  # noqa: E402
from photomend.restoration.detect_classical import classical_score  # noqa: E402
from photomend.restoration.detect_learned import features  # noqa: E402

#: RGB + white and black top-hat (photomend.restoration.detect_learned.features); the
#: fine-tune can add a sixth, the classical detector's score (``--finetune-channels 6``: tried
#: in session 4, not shipped: no better on the validation photo)
IN_CHANNELS = 5

OUT = ROOT / "src" / "photomend" / "data" / "weights" / "defects_unet.onnx"
CACHE = ROOT / "training" / ".cache"


# ---------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------


def _conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, dilation, dilation), nn.BatchNorm2d(cout),
                         nn.LeakyReLU(0.1, inplace=True))


class DefectUNet(nn.Module):
    """U-Net with stride-1 first layers; widths (12, 24, 48, 80); 1 logit per pixel.

    The 1/8-resolution bottleneck uses dilated convolutions (dilation 2 and 4), which widen the
    field of view to about 200 px at little cost: enough context to tell a scratch from a real
    thin edge in a busy texture, and to see a whole stain.
    """

    def __init__(self, widths=(12, 24, 48, 80), in_channels: int = IN_CHANNELS) -> None:
        super().__init__()
        c0, c1, c2, c3 = widths
        self.in_channels = in_channels
        self.e0 = nn.Sequential(_conv(in_channels, c0), _conv(c0, c0))
        self.e1 = nn.Sequential(_conv(c0, c1, 2), _conv(c1, c1))
        self.e2 = nn.Sequential(_conv(c1, c2, 2), _conv(c2, c2))
        self.e3 = nn.Sequential(_conv(c2, c3, 2), _conv(c3, c3, dilation=2),
                                _conv(c3, c3, dilation=4))
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


class Photo:
    """A training photo at one size, with the places where hard negatives are (thin real
    structures and highlights: pixels whose clean top-hat response is in the top 3 %)."""

    def __init__(self, rgb: np.ndarray) -> None:
        self.rgb = rgb
        hats = features(rgb.astype(np.float32) / 255.0)[:, :, 3:5].max(2)
        cut = np.quantile(hats, 0.97)
        ys, xs = np.nonzero(hats >= max(cut, 1e-3))
        self.hard = np.stack([ys, xs], 1) if len(ys) else np.zeros((0, 2), int)


def load_photos(long_sides=(640, 896, 1152, 1536), names=None, skimage=()) -> list[Photo]:
    """The training photos at a few sizes around the detector's working size (uint8 RGB).

    ``names`` defaults to ``TRAINABLE_NATURE`` without :data:`VALIDATION_PHOTO`; ``skimage``
    adds photos of ``benchmarks/photos.py: TRAINABLE_SKIMAGE`` (retina, immunohistochemistry)."""
    folder = mate_root() / NATURE_DIR
    names = names or [n for n in TRAINABLE_NATURE if n != VALIDATION_PHOTO]
    sources = [np.asarray(Image.open(folder / name).convert("RGB")) for name in names]
    sources += [trainable_skimage_photo(name) for name in skimage]
    return [Photo(_resize_long(rgb, side)) for rgb in sources for side in long_sides]


def _resize_long(rgb: np.ndarray, side: int) -> np.ndarray:
    """``rgb`` scaled to ``side`` px on its long side (0: unchanged, the native size)."""
    h, w = rgb.shape[:2]
    if not side:
        return rgb
    f = side / max(h, w)
    return cv2.resize(rgb, (round(w * f), round(h * f)),
                      interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)


def _crop(photo: Photo, rng: np.random.Generator, crop: int) -> np.ndarray:
    """A crop; half of them centred on a hard negative (a thin real edge or a highlight)."""
    h, w = photo.rgb.shape[:2]
    if len(photo.hard) and rng.random() < 0.5:
        cy, cx = photo.hard[rng.integers(len(photo.hard))]
        y = int(np.clip(cy - crop // 2 + rng.integers(-crop // 4, crop // 4 + 1), 0, h - crop))
        x = int(np.clip(cx - crop // 2 + rng.integers(-crop // 4, crop // 4 + 1), 0, w - crop))
    else:
        y, x = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
    return photo.rgb[y:y + crop, x:x + crop].astype(np.float32) / 255.0


def augment_photo(rgb: np.ndarray, rng: np.random.Generator, strong: bool = False) -> np.ndarray:
    """Vary the *photo* before damage is drawn on it, so that the network learns what makes
    a defect rather than the look of nine photos: softness (a print or small original scanned
    and enlarged), exposure, contrast, gamma, saturation, gray photos.

    ``strong`` (the hard-negative fine-tune): enlargements from up to 6x smaller (a 128-512 px
    photo brought to the working size) and, one time in four, unsharp masking (the halos of a
    sharpened digital photo are thin bright and dark lines along real edges)."""
    h, w = rgb.shape[:2]
    if rng.random() < 0.4:  # soft: down by 1.3-3x (strong: 1.3-6x) and back up
        f = rng.uniform(1.3, 6.0 if strong else 3.0)
        small = cv2.resize(rgb, (max(8, round(w / f)), max(8, round(h / f))),
                           interpolation=cv2.INTER_AREA)
        rgb = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    elif rng.random() < 0.2:
        rgb = cv2.GaussianBlur(rgb, (0, 0), rng.uniform(0.5, 1.5))
    if strong and rng.random() < 0.25:  # sharpened: unsharp mask
        blur = cv2.GaussianBlur(rgb, (0, 0), rng.uniform(0.7, 2.0))
        rgb = np.clip(rgb + rng.uniform(0.3, 1.5) * (rgb - blur), 0, 1)
    y = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    if rng.random() < 0.2:
        rgb = np.repeat(y[:, :, None], 3, 2)
    else:
        rgb = y[:, :, None] + rng.uniform(0.5, 1.5) * (rgb - y[:, :, None])
    rgb = np.clip(rgb, 0, 1) ** np.exp(rng.normal(0, 0.25))
    rgb = (rgb - 0.5) * rng.uniform(0.7, 1.3) + 0.5 + rng.normal(0, 0.06)
    return np.clip(rgb, 0, 1).astype(np.float32)


def make_sample(photos, rng: np.random.Generator, crop: int, clean: float = 0.12,
                strong: bool = False, channels: int = IN_CHANNELS, stains: bool = False,
                faint: float = 0.35, faint_opacity: tuple[float, float] = (0.3, 0.65),
                hairline: float = 0.23, lines: float = 0.0, faint_mask: bool = False):
    """One (features, mask) training pair: a random crop with random synthetic damage.

    A share ``clean`` of the crops has no defects (the main run: ageing only; the fine-tune,
    ``strong``: ageing only or nothing at all, see :func:`augment_photo` for the rest).
    ``stains``: also return the mask of the stain pixels (the stain stage weights them).
    Of the damaged crops, a share ``hairline`` is hairline-focused and a share ``lines`` has
    scratches and hairlines only (as in the benchmark's faint suite); a share ``faint`` of the
    damaged crops draws its defects at ``faint_opacity``. ``faint_mask``: also return the
    defect mask of a faint crop (all False otherwise; the faint stage weights those pixels).
    The defaults are what the shipped weights were trained with."""
    photo = photos[rng.integers(len(photos))]
    rgb = _crop(photo, rng, crop)
    if rng.random() < 0.5:
        rgb = rgb[:, ::-1]
    if rng.random() < 0.5:
        rgb = np.rot90(rgb)
    rgb = augment_photo(np.ascontiguousarray(rgb), rng, strong)
    roll = rng.random()
    if roll < clean:  # ageing only: teach the network that grain, sepia, blur are not defects
        d = degrade(rgb, seed=int(rng.integers(2**31)), defects=(), scale=1.0,
                    ageing=not strong or rng.random() < 0.5)
    else:
        if roll < clean + hairline:  # hairline-focused: thin faint scratches are the hardest
            kinds = ("hairline",) + tuple(k for k in DEFECT_KINDS if rng.random() < 0.3)
        elif roll < clean + hairline + lines:  # scratches and hairlines only
            kinds = ("scratch", "hairline")
        else:
            kinds = tuple(k for k in DEFECT_KINDS if rng.random() < 0.7) or ("hairline",)
        is_faint = rng.random() < faint
        d = degrade(rgb, seed=int(rng.integers(2**31)), defects=kinds, scale=rng.uniform(0.7, 1.4),
                    amount=rng.uniform(2, 8), opacity=faint_opacity if is_faint else (0.35, 1.0),
                    ageing=rng.random() < 0.85)
        if faint_mask:
            return _features(d.image, channels), d.mask, d.mask if is_faint else \
                np.zeros_like(d.mask)
    if faint_mask:
        return _features(d.image, channels), d.mask, np.zeros_like(d.mask)
    if stains:
        stain = d.kinds.get("stain")
        return (_features(d.image, channels), d.mask,
                np.zeros_like(d.mask) if stain is None else stain)
    return _features(d.image, channels), d.mask


def _features(rgb: np.ndarray, channels: int) -> np.ndarray:
    """The network input (5 channels, or 6 with the classical detector's score)."""
    return features(rgb, classical_score(rgb) if channels == 6 else None)


def batch(photos, rng, n: int, crop: int, stain_weight: float | None = None,
          faint_weight: float | None = None, **kw):
    """``n`` samples as tensors ``(x, y)``; with ``stain_weight``, ``(x, y, w)`` where ``w`` is
    the per-pixel BCE weight: ``stain_weight`` on stain pixels, 1 elsewhere; likewise
    ``faint_weight`` on the defect pixels of faint crops (the faint stage)."""
    if stain_weight is None and faint_weight is None:
        xs, ys = zip(*(make_sample(photos, rng, crop, **kw) for _ in range(n)))
    elif faint_weight is not None:
        xs, ys, ss = zip(*(make_sample(photos, rng, crop, faint_mask=True, **kw)
                           for _ in range(n)))
        stain_weight = faint_weight
    else:
        xs, ys, ss = zip(*(make_sample(photos, rng, crop, stains=True, **kw) for _ in range(n)))
    x = torch.from_numpy(np.stack([a.transpose(2, 0, 1) for a in xs]).copy())
    y = torch.from_numpy(np.stack(ys)[:, None].astype(np.float32))
    if stain_weight is None:
        return x, y
    w = 1 + (stain_weight - 1) * torch.from_numpy(np.stack(ss)[:, None].astype(np.float32))
    return x, y, w


# ---------------------------------------------------------------------------------------------
# Loss, metric
# ---------------------------------------------------------------------------------------------


def loss_fn(logits: torch.Tensor, target: torch.Tensor, pos_weight: float,
            weight: torch.Tensor | None = None) -> torch.Tensor:
    if weight is None:
        bce = F.binary_cross_entropy_with_logits(logits, target,
                                                 pos_weight=torch.tensor(pos_weight))
    else:  # per-pixel weights (the stain stage)
        bce = (F.binary_cross_entropy_with_logits(logits, target,
                                                  pos_weight=torch.tensor(pos_weight),
                                                  reduction="none") * weight).mean()
    p = torch.sigmoid(logits)
    inter = (p * target).sum()
    dice = 1 - (2 * inter + 1) / (p.sum() + target.sum() + 1)
    return bce + dice


def f1_from(c) -> float:
    tp, np_, found, nt = c
    p = tp / np_ if np_ else 1.0
    r = found / nt if nt else 1.0
    return 2 * p * r / (p + r) if p + r else 0.0


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


#: Indices of the faint-scratch scans (sharp, soft) in :func:`validation_set`: their F1 at the
#: chosen threshold is logged as ``faint f1`` (not used to choose checkpoints)
FAINT_SCANS = (1, 4)


def validation_set(seed: int = 60_000, clean_small: bool = False, channels: int = IN_CHANNELS
                   ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """(features, mask, hairline mask) of :data:`VALIDATION_PHOTO` at 1024 px, sharp and soft
    (enlarged from half size), each with whole-scan damage as in a real scan, plus ageing
    alone (mask all False).

    ``clean_small`` (the fine-tune) adds clean photos with no defects and no ageing, the false
    positives a user sees first: the photo at 320 and 512 px (run at that size) and enlarged
    from 256 px to 1024 px."""
    rgb = np.asarray(Image.open(mate_root() / NATURE_DIR / VALIDATION_PHOTO).convert("RGB"))
    extra = []
    if clean_small:
        for side in (320, 512):
            img = _resize_long(rgb, side).astype(np.float32) / 255
            extra.append((_features(img, channels), np.zeros(img.shape[:2], bool), None))
        img = _resize_long(_resize_long(rgb, 256), 1024).astype(np.float32) / 255
        extra.append((_features(img, channels), np.zeros(img.shape[:2], bool), None))
    sharp = _resize_long(rgb, 1024).astype(np.float32) / 255
    h, w = sharp.shape[:2]
    soft = cv2.resize(cv2.resize(sharp, (w // 2, h // 2), interpolation=cv2.INTER_AREA), (w, h),
                      interpolation=cv2.INTER_CUBIC)
    out = []
    for i, img in enumerate((sharp, soft)):
        d = degrade(img, seed=seed + i, amount=1.5, scale=1.0)
        out.append((_features(d.image, channels), d.mask, d.kinds.get("hairline")))
        d = degrade(img, seed=seed + 10 + i, defects=("hairline", "scratch"), amount=3.0,
                    opacity=(0.35, 0.6), scale=1.0)
        out.append((_features(d.image, channels), d.mask, d.kinds.get("hairline")))
        d = degrade(img, seed=seed + 20 + i, defects=())
        out.append((_features(d.image, channels), d.mask, None))
    return out + extra


@torch.no_grad()
def predict(model, feats: np.ndarray) -> np.ndarray:
    """Probability map of one whole image (flip TTA), padded to a multiple of 8."""
    model.eval()
    h, w = feats.shape[:2]
    ph, pw = -h % 8, -w % 8
    x = np.pad(feats, ((0, ph), (0, pw), (0, 0)), mode="reflect").transpose(2, 0, 1)[None]
    x = torch.from_numpy(np.ascontiguousarray(x))
    p = torch.sigmoid(model(x)) + torch.sigmoid(model(x.flip(-1))).flip(-1)
    return (p / 2)[0, 0, :h, :w].numpy()


def validate(model, vset) -> dict:
    """Best pooled tolerant F1 over thresholds on the validation scans (ageing alone must flag
    at most 1 %), with the hairline recall and ageing share at that threshold."""
    probs = [predict(model, f) for f, _, _ in vset]
    best = {"f1": -1.0}
    for t in np.round(np.arange(0.3, 0.985, 0.02), 2):
        ageing = np.mean([(p > t).mean() for p, (_, m, _) in zip(probs, vset) if not m.any()])
        if ageing > 0.01:
            continue
        c = np.sum([tolerant_counts(p > t, m) for p, (_, m, _) in zip(probs, vset) if m.any()], 0)
        f1 = f1_from(c)
        if f1 > best["f1"]:
            hc = np.sum([tolerant_counts(p > t, hm) for p, (_, _, hm) in zip(probs, vset)
                         if hm is not None], 0)
            fc = np.sum([tolerant_counts(probs[i] > t, vset[i][1]) for i in FAINT_SCANS], 0)
            best = {"f1": float(f1), "threshold": float(t),
                    "precision": float(c[0] / max(c[1], 1)), "recall": float(c[2] / max(c[3], 1)),
                    "hairline recall": float(hc[2] / max(hc[3], 1)), "ageing": float(ageing),
                    "faint f1": float(f1_from(fc))}
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=4400)
    ap.add_argument("--batch", type=int, default=6)
    ap.add_argument("--crop", type=int, default=208)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--validate-every", type=int, default=200)
    ap.add_argument("--stop-at", type=int, default=None,
                    help="stop after this many steps (the schedule still spans --steps)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--time-check", action="store_true", help="time 5 steps and exit")
    ap.add_argument("--export-only", action="store_true",
                    help="skip training: export and calibrate the best checkpoint saved so far")
    ap.add_argument("--finetune-steps", type=int, default=1500,
                    help="steps of the hard-negative fine-tune after the main run (0: none)")
    ap.add_argument("--finetune-lr", type=float, default=1e-3)
    ap.add_argument("--finetune-channels", type=int, choices=(5, 6), default=5,
                    help="6: also feed the network the classical detector's score")
    ap.add_argument("--skimage", choices=("none", "finetune", "all"), default="none",
                    help="where the scikit-image photos of TRAINABLE_SKIMAGE are also used "
                         "(the main run and/or the fine-tune; tried in session 5 for the "
                         "fine-tune, not shipped: no clear gain on the validation photo)")
    ap.add_argument("--stain-steps", type=int, default=0,
                    help="steps of the stain stage after the fine-tune (0: none)")
    ap.add_argument("--stain-lr", type=float, default=5e-4)
    ap.add_argument("--stain-weight", type=float, default=4.0,
                    help="BCE weight of stain pixels in the stain stage")
    ap.add_argument("--stain-crop", type=int, default=320,
                    help="crop size of every other batch (2 crops) in the stain stage")
    ap.add_argument("--resume", choices=("finetune", "stains", "faint"), default=None,
                    help="skip the main run (finetune) or the main run and the fine-tune "
                         "(stains): start from the best checkpoint saved so far; faint: "
                         "only the faint stage, from --faint-start")
    ap.add_argument("--faint-steps", type=int, default=0,
                    help="steps of the faint-scratch stage (session 8, not shipped; 0: none); "
                         "use with --resume faint")
    ap.add_argument("--faint-start", type=Path, default=CACHE / "defects_unet_ft_best.pt",
                    help="checkpoint the faint stage starts from (default: the shipped one)")
    ap.add_argument("--faint-lr", type=float, default=5e-4)
    ap.add_argument("--faint-share", type=float, default=0.6,
                    help="share of the damaged crops drawn faint in the faint stage")
    ap.add_argument("--faint-opacity", default="0.25,0.6",
                    help="opacity range of the faint crops' defects in the faint stage")
    ap.add_argument("--faint-lines", type=float, default=0.25,
                    help="share of the crops with scratches and hairlines only")
    ap.add_argument("--faint-hairline", type=float, default=0.25,
                    help="share of the crops that are hairline-focused")
    ap.add_argument("--faint-clean", type=float, default=0.3,
                    help="share of the crops with no defects (ageing only or nothing)")
    ap.add_argument("--faint-weight", type=float, default=1.0,
                    help="BCE weight of the defect pixels of faint crops")
    ap.add_argument("--faint-tag", default="faint",
                    help="checkpoints training/.cache/s8/defects_unet_TAG_{best,last}.pt and "
                         "(without --out) training/.cache/s8/defects_unet_TAG.onnx")
    args = ap.parse_args(argv)
    if args.resume == "faint" and not args.faint_steps:
        ap.error("--resume faint needs --faint-steps")
    if args.faint_steps and args.out == OUT:  # a candidate never replaces the shipped file
        args.out = CACHE / "s8" / f"defects_unet_{args.faint_tag}.onnx"

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

    model = DefectUNet()
    best_path = CACHE / "defects_unet_best.pt"
    if not args.export_only and args.resume is None:
        photos = load_photos(skimage=TRAINABLE_SKIMAGE if args.skimage == "all" else ())
        say(f"{len(photos)} training images ({len(TRAINABLE_NATURE) - 1} mate photos "
            f"{'+ ' + str(TRAINABLE_SKIMAGE) if args.skimage == 'all' else ''} x 4 sizes; "
            f"{VALIDATION_PHOTO} kept for validation); args {vars(args)}")

        # pos_weight = clean/defect pixel ratio over 64 training samples
        prng = np.random.default_rng(args.seed + 1)
        frac = np.mean([make_sample(photos, prng, args.crop)[1].mean() for _ in range(64)])
        pos_weight = float((1 - frac) / max(frac, 1e-6))
        say(f"defect fraction {frac:.4f} -> pos_weight {pos_weight:.1f}")
        vset = validation_set()
        say(f"parameters: {sum(p.numel() for p in model.parameters())}")
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps,
                                                    pct_start=0.05)
        started = time.perf_counter()
        gen_time, running, best_f1 = 0.0, 0.0, -1.0
        last = min(args.steps, args.stop_at or args.steps)
        for step in range(1, last + 1):
            t0 = time.perf_counter()
            x, y = batch(photos, rng, args.batch, args.crop)
            gen_time += time.perf_counter() - t0
            loss = train_step(model, opt, sched, x, y, pos_weight)
            running = 0.98 * running + 0.02 * loss if step > 1 else loss
            if args.time_check and step == 5:
                el = time.perf_counter() - started
                say(f"time check: {el / 5:.2f} s/step ({gen_time / 5:.2f} s data)")
                return 0
            if step % 50 == 0 or step == args.steps:
                el = time.perf_counter() - started
                say(f"step {step}/{args.steps} loss {running:.4f} lr {sched.get_last_lr()[0]:.2e} "
                    f"{el / 60:.1f} min (data {gen_time / 60:.1f} min)")
            if step % args.validate_every == 0 or step == last:
                v = validate(model, vset)
                torch.save({"state": model.state_dict(), "step": step, "val": v,
                            "pos_weight": pos_weight}, CACHE / "defects_unet.pt")
                mark = ""
                if v["f1"] > best_f1:
                    best_f1, mark = v["f1"], " (best)"
                    torch.save({"state": model.state_dict(), "step": step, "val": v,
                                "pos_weight": pos_weight}, best_path)
                say(f"validation step {step}: " + ", ".join(
                    f"{k} {val:.3f}" for k, val in v.items()) + mark)

    ft_best = CACHE / "defects_unet_ft_best.pt"
    if args.finetune_steps and args.resume != "faint":
        model = DefectUNet(in_channels=args.finetune_channels)
        if not args.export_only and args.resume != "stains":
            finetune(model, best_path, ft_best, args, say)
        best_path = ft_best
    if args.faint_steps:
        fa_best = CACHE / "s8" / f"defects_unet_{args.faint_tag}_best.pt"
        start = args.faint_start if args.resume == "faint" else best_path
        if not args.export_only:
            faint_stage(model, start, fa_best, args, say)
        best_path = fa_best
    if args.stain_steps:
        st_best = CACHE / "defects_unet_st_best.pt"
        if not args.export_only:
            stain_stage(model, best_path, st_best, args, say)
        best_path = st_best
    ckpt = torch.load(best_path, weights_only=False)  # our own checkpoint (numpy scalars)
    model.load_state_dict(ckpt["state"])
    say(f"exporting the best checkpoint: step {ckpt['step']}, validation {ckpt['val']}")
    export(model, args.out, ckpt["val"]["threshold"], ckpt["pos_weight"], args)
    say(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    # the threshold and hysteresis margin that ship: calibrated on whole training photos
    from calibrate_defects import calibrate, metadata, write_metadata

    t, margin, support = calibrate(args.out, log=say)
    write_metadata(args.out, metadata(t, margin, support) | {"checkpoint_step": str(ckpt["step"])})
    return 0


def finetune(model, start: Path, best_path: Path, args, say) -> None:
    """The hard-negative fine-tune: from the main run's best checkpoint, ``--finetune-steps``
    steps (one-cycle, max lr ``--finetune-lr``) on the training photos at the main run's sizes
    plus small ones run at their own size (320 and 448 px: a small photo is detected at its own
    size, where real thin edges are as sharp as scratches) and the native size; photos
    enlarged from up to 6x smaller and sharpened ones (:func:`augment_photo` ``strong``); 30 %
    of the crops clean (half with ageing, half untouched). The checkpoint with the best
    validation F1 -- with the clean small photos of :func:`validation_set` counted with ageing
    alone, at most 1 % flagged -- is kept in ``best_path``."""
    ckpt = torch.load(start, weights_only=False)
    state = dict(ckpt["state"])
    first = "e0.0.0.weight"  # the first convolution: zero weights for the extra input channel
    extra = model.in_channels - state[first].shape[1]
    if extra > 0:
        w = state[first]
        state[first] = torch.cat([w, w.new_zeros(w.shape[0], extra, *w.shape[2:])], 1)
    model.load_state_dict(state)
    pos_weight = ckpt["pos_weight"]
    rng, photos, more = _stage_data(args, 1000)
    channels = model.in_channels
    crop = 192  # fits the 320-px photos (200 px on the short side)
    say(f"fine-tune from step {ckpt['step']} ({ckpt['val']}): {len(photos)} training images "
        f"(skimage photos: {more or 'none'}), "
        f"{args.finetune_steps} steps of {args.batch} crops of {crop} px, max lr "
        f"{args.finetune_lr}")

    def next_batch(step):
        return batch(photos, rng, args.batch, crop, clean=0.3, strong=True, channels=channels)

    _run_stage(model, "fine-tune", f"{ckpt['step']}+", args.finetune_steps, args.finetune_lr,
               next_batch, pos_weight, channels, best_path, CACHE / "defects_unet_ft.pt", args,
               say)


def faint_stage(model, start: Path, best_path: Path, args, say) -> None:
    """The faint-scratch stage (session 8, not shipped): from ``start`` (by default the
    shipped fine-tune checkpoint), ``--faint-steps`` steps (one-cycle, max lr ``--faint-lr``)
    on the fine-tune's data with more faint defects (a share ``--faint-share`` of the damaged
    crops at ``--faint-opacity``), more crops with scratches and hairlines only
    (``--faint-lines``) and hairline-focused ones (``--faint-hairline``); clean crops and hard
    negatives as in the fine-tune. The defect pixels of faint crops weigh ``--faint-weight``
    in the BCE. The best-validation checkpoint (as in :func:`finetune`; step 0 is the start)
    is kept in ``best_path``."""
    ckpt = torch.load(start, weights_only=False)
    model.load_state_dict(ckpt["state"])
    pos_weight = ckpt["pos_weight"]
    rng, photos, _ = _stage_data(args, 3000)
    channels = model.in_channels
    lo, hi = (float(v) for v in args.faint_opacity.split(","))
    weight = None if args.faint_weight == 1.0 else args.faint_weight
    best_path.parent.mkdir(parents=True, exist_ok=True)
    say(f"faint stage from {ckpt['step']} ({ckpt['val']}): {len(photos)} training images, "
        f"{args.faint_steps} steps, max lr {args.faint_lr}, faint share {args.faint_share} at "
        f"opacity {lo}-{hi}, lines {args.faint_lines}, hairline {args.faint_hairline}, clean "
        f"{args.faint_clean}, faint weight {args.faint_weight}")

    def next_batch(step):
        return batch(photos, rng, args.batch, 192, clean=args.faint_clean, strong=True,
                     channels=channels, faint=args.faint_share, faint_opacity=(lo, hi),
                     hairline=args.faint_hairline, lines=args.faint_lines, faint_weight=weight)

    _run_stage(model, "faint", f"{ckpt['step']}+f", args.faint_steps, args.faint_lr, next_batch,
               pos_weight, channels, best_path,
               best_path.with_name(best_path.name.replace("_best", "_last")), args, say,
               keep=True)


def _stage_data(args, offset: int):
    """``(rng, photos, extra scikit-image photos)`` of a stage after the main run (the
    fine-tune's data: the training photos at their sizes and at 320/448 px), its random
    generators (torch's and ``rng``) seeded ``--seed`` + ``offset``."""
    torch.manual_seed(args.seed + offset)
    rng = np.random.default_rng(args.seed + offset)
    more = TRAINABLE_SKIMAGE if args.skimage != "none" else ()
    photos = load_photos(skimage=more) + load_photos(long_sides=(320, 448, 0), skimage=more)
    return rng, photos, more


def stain_stage(model, start: Path, best_path: Path, args, say) -> None:
    """The stain stage (session 5): from the fine-tune's best checkpoint, ``--stain-steps``
    steps (one-cycle, max lr ``--stain-lr``) on the fine-tune's data, with the stain pixels
    weighted ``--stain-weight`` in the BCE and every other batch 2 crops of ``--stain-crop`` px
    (from the photos that big) instead of 6 of 192 px, so that whole stains are seen. The
    checkpoint with the best validation F1 (as in :func:`finetune`; step 0 is the start) is
    kept in ``best_path``."""
    ckpt = torch.load(start, weights_only=False)
    model.load_state_dict(ckpt["state"])
    pos_weight = ckpt["pos_weight"]
    rng, photos, _ = _stage_data(args, 2000)
    big = [p for p in photos if min(p.rgb.shape[:2]) >= args.stain_crop]
    channels = model.in_channels
    say(f"stain stage from {ckpt['step']} ({ckpt['val']}): {len(photos)} training images "
        f"({len(big)} for {args.stain_crop}-px crops), {args.stain_steps} steps, stain weight "
        f"{args.stain_weight}, max lr {args.stain_lr}")

    def next_batch(step):
        if step % 2 == 0:
            return batch(big, rng, 2, args.stain_crop, clean=0.3, strong=True,
                         channels=channels, stain_weight=args.stain_weight)
        return batch(photos, rng, args.batch, 192, clean=0.3, strong=True,
                     channels=channels, stain_weight=args.stain_weight)

    _run_stage(model, "stain", f"{ckpt['step']}+s", args.stain_steps, args.stain_lr, next_batch,
               pos_weight, channels, best_path, CACHE / "defects_unet_st.pt", args, say)


def _run_stage(model, name: str, tag: str, steps: int, lr: float, next_batch,
               pos_weight: float, channels: int, best_path: Path, last_path: Path, args,
               say, keep: bool = False) -> None:
    """The loop the fine-tune and the stain stage share: validate the start (step 0), then
    ``steps`` AdamW steps (one-cycle, max lr ``lr``) on the batches ``next_batch(step)`` ->
    ``(x, y)`` or ``(x, y, weight)``, validating every ``--validate-every`` steps and at the
    end. The last state goes to ``last_path``, the best-validation one (the start included) to
    ``best_path``; checkpoints are labelled ``tag`` + step. ``keep``: every validated state is
    also kept, in ``last_path`` with ``_last`` replaced by the step (``_s200``)."""
    vset = validation_set(clean_small=True, channels=channels)
    v = validate(model, vset)
    say(f"{name} validation step 0: " + ", ".join(f"{k} {x:.3f}" for k, x in v.items()))
    best_f1 = v["f1"]
    torch.save({"state": model.state_dict(), "step": f"{tag}0", "val": v,
                "pos_weight": pos_weight}, best_path)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    started, running = time.perf_counter(), 0.0
    for step in range(1, steps + 1):
        x, y, *weight = next_batch(step)
        loss = train_step(model, opt, sched, x, y, pos_weight, *weight)
        running = 0.98 * running + 0.02 * loss if step > 1 else loss
        if step % 50 == 0:
            say(f"{name} step {step}/{steps} loss {running:.4f} "
                f"{(time.perf_counter() - started) / 60:.1f} min")
        if step % args.validate_every == 0 or step == steps:
            v = validate(model, vset)
            state = {"state": model.state_dict(), "step": f"{tag}{step}", "val": v,
                     "pos_weight": pos_weight}
            torch.save(state, last_path)
            if keep:
                torch.save(state, last_path.with_name(
                    last_path.name.replace("_last", f"_s{step}")))
            mark = ""
            if v["f1"] > best_f1:
                best_f1, mark = v["f1"], " (best)"
                torch.save(state, best_path)
            say(f"{name} validation step {step}: " + ", ".join(
                f"{k} {x:.3f}" for k, x in v.items()) + mark)


def train_step(model, opt, sched, x, y, pos_weight: float, weight=None) -> float:
    """One optimiser and scheduler step on the batch ``(x, y)``; returns the loss."""
    model.train()
    loss = loss_fn(model(x), y, pos_weight, weight)
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    return loss.item()


def export(model, path: Path, threshold: float, pos_weight: float, args) -> None:
    import onnx

    model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, model.in_channels, 64, 64)
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
