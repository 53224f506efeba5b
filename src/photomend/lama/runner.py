"""Running a LaMa generator on photomend arrays (float32 HxWx3 in [0, 1], bool HxW masks).

The input is padded (mirror, bottom/right) to a multiple of 8 as the official predictor and
IOPaint do, the hole is zeroed and the mask appended as a 4th channel; the prediction is cropped
back. Compositing (``mask·pred + (1−mask)·image``) is the engine's job.

Loaded generators are cached per file (path, size, modification time), so repeated calls and
every region of a ``crop`` strategy reuse one network.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from photomend.lama.loading import load_generator, require_torch

_CACHE: dict[tuple[str, int, int], object] = {}
_LOCK = threading.Lock()


def num_threads() -> int:
    """Intra-op threads: ``$PHOTOMEND_THREADS`` or the CPUs this process may use (<= 8), the
    same rule as the ONNX Runtime sessions (:func:`photomend.nn.onnx.num_threads`)."""
    from photomend.nn.onnx import num_threads as shared

    return shared()


def cached_generator(path: str | Path):
    """The generator of ``path``, loaded once per version of the file."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _LOCK:
        gen = _CACHE.get(key)
        if gen is None:
            _CACHE.clear()  # one Big-LaMa (200 MB) in memory at a time
            gen = _CACHE[key] = load_generator(path)
        return gen


def pad_to_multiple(a: np.ndarray, multiple: int, *, min_side: int = 0) -> np.ndarray:
    """``a`` (HxW or HxWxC) mirrored at the bottom/right up to sides that are multiples
    (and at least ``min_side``).

    >>> pad_to_multiple(np.zeros((5, 9), np.float32), 8).shape
    (8, 16)
    """
    h, w = a.shape[:2]
    ph = max(-h % multiple, min_side - h)
    pw = max(-w % multiple, min_side - w)
    ph, pw = ph + (-(h + ph) % multiple), pw + (-(w + pw) % multiple)
    if not (ph or pw):
        return a
    widths = ((0, ph), (0, pw)) + ((0, 0),) * (a.ndim - 2)
    # 'symmetric' (edge pixel repeated) is what the official predictor and IOPaint use; a pad
    # wider than the image (tiny inputs) needs several mirrorings, which np.pad does.
    return np.pad(a, widths, mode="symmetric")


def predict(gen, image: np.ndarray, mask: np.ndarray, *, with_features: bool = False
            ) -> tuple[np.ndarray, np.ndarray | None]:
    """The generator's raw prediction for ``image`` with ``mask`` zeroed (HxWx3 float32), and
    with ``with_features`` its decoder features (h x w x C float32, one vector per
    ``2**(n_downsampling-1)`` px, cropped to cover the image) — else None."""
    torch = require_torch()
    torch.set_num_threads(num_threads())
    h, w = mask.shape
    m = mask.astype(np.float32)[..., None]
    x = np.concatenate([image * (1.0 - m), m], axis=2)
    # The bottleneck's reflect padding needs >= 2 px: sides of at least 2 * 2**n_downsampling.
    x = pad_to_multiple(x, gen.config.pad_multiple, min_side=2 * gen.config.pad_multiple)
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
    with torch.inference_mode():
        if with_features:
            out, feats = gen(t, with_features=True)
        else:
            out, feats = gen(t), None
    pred = out[0, :, :h, :w].permute(1, 2, 0).numpy().astype(np.float32, copy=True)
    if feats is None:
        return pred, None
    step = 2 ** (gen.config.n_downsampling - 1)
    fh, fw = -(-h // step), -(-w // step)
    return pred, feats[0, :, :fh, :fw].permute(1, 2, 0).numpy().astype(np.float32, copy=True)
