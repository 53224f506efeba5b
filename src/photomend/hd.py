"""High-resolution strategies: how an engine that works best on ~0.25–1 MP fills a 4K–100 MP photo.

* ``original``: run the engine on the full image.
* ``resize``: run it at the working size (long side ``working_size``) and blow the fill up —
  fast, but the fill is as soft as the small copy. The baseline ``cra`` must beat.
* ``cra``: ``resize`` plus Contextual Residual Aggregation (:mod:`photomend.ops.cra`), which
  transfers the photo's own full-resolution detail into the hole.
* ``crop``: fill a padded crop around each hole region at native resolution; a region whose crop
  is too big for the engine (more than its ``max_pixels``) is filled with ``cra`` inside its crop.
* ``auto`` (default): ``original`` when the whole image is within the engine's ``max_pixels``;
  otherwise ``crop`` for each region whose padded crop is within it (native detail, local
  context) and ``cra`` over the whole photo for the larger regions (global context).

An engine that ``refines_natively`` (patchmatch: its pyramid only refines the doubled matches on
levels finer than ~1 MP) has no size limit in ``crop`` and ``auto``: every region is filled in
its crop at native resolution, from full-resolution patches, so a big hole at 4K is as sharp as
the photo instead of a blown-up working-size fill.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from photomend.engines import Engine, ProgressFn
from photomend.errors import InputError, UnknownEngineError
from photomend.ops.cra import aggregate_residual, prepare_aggregation, upsample_rows

STRATEGIES = ("auto", "cra", "crop", "resize", "original")

#: Context kept around a hole region in ``crop`` (px, and fraction of the region's size).
CROP_MARGIN_PX = 64
CROP_MARGIN_FRAC = 0.5


def run_strategy(
    name: str,
    engine: Engine,
    rgb: np.ndarray,
    mask: np.ndarray,
    *,
    working_size: int = 512,
    progress: ProgressFn | None = None,
    in_place: bool = False,
    merge_max_pixels: int | None = None,
) -> np.ndarray:
    """Fill ``mask`` in ``rgb`` with ``engine`` using the high-resolution strategy ``name``.

    ``in_place`` (``auto``, ``crop``, ``original``): ``rgb`` is the caller's scratch copy,
    which may be filled and returned instead of a copy (a 12 MP float image is 144 MB;
    restore's thick fill passes its own Telea result; the ``photomend`` command the photo it
    decoded). For the strategies that fill crop by crop (``auto`` on a big photo, ``crop``):
    ``merge_max_pixels``: overlapping crops merge only while their union stays within this size
    or within the bigger of the two (see :func:`_regions`).
    """
    try:
        fn = _STRATEGY_FUNCS[name]
    except KeyError:
        raise UnknownEngineError(
            f"unknown hd strategy {name!r}; available: {', '.join(STRATEGIES)}"
        ) from None
    if working_size < 32:
        raise InputError(f"working size must be at least 32 px, got {working_size}")
    return fn(engine, rgb, mask, working_size, progress, in_place=in_place,
              merge_max_pixels=merge_max_pixels)


# Every strategy takes the options of run_strategy as keywords; those that have no use for one
# ignore it (``**_``).
def _original(engine, rgb, mask, working_size, progress, *, in_place=False, **_):
    if in_place:
        return engine.inpaint_in_place(rgb, mask, progress=progress)
    return engine.inpaint(rgb, mask, progress=progress)


def _small_fill(engine, rgb, mask, working_size, progress):
    """The engine's fill at the working size."""
    small, small_mask = _working_copy(rgb, mask, working_size)
    return engine.inpaint(small, small_mask, progress=progress)


def _working_copy(rgb, mask, working_size):
    """The image and mask at the working size (long side ``working_size``)."""
    h, w = mask.shape
    f = working_size / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    # Any working pixel touched by the hole is hole: the object must not leak into the fill.
    small_mask = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
    return small, small_mask


def _resize(engine, rgb, mask, working_size, progress, **_):
    if max(mask.shape) <= working_size:
        return _original(engine, rgb, mask, working_size, progress)
    result = _small_fill(engine, rgb, mask, working_size, progress)
    h, w = mask.shape
    up = upsample_rows(result, (h, w), 0, h)
    out = rgb.copy()
    out[mask] = up[mask]
    return out


def _cra(engine, rgb, mask, working_size, progress, **_):
    if max(mask.shape) <= working_size:
        return _original(engine, rgb, mask, working_size, progress)
    small, small_mask = _working_copy(rgb, mask, working_size)
    # The full-resolution half of the aggregation needs no fill: done before the engine runs,
    # so that in a fresh process it overlaps the loading of the engine's kernels (prewarm).
    prepared = prepare_aggregation(rgb, mask, small)
    if hasattr(engine, "inpaint_layers"):
        # An engine that can give its fill without its own (working-size) texture: CRA blows
        # that structure up and adds the photo's full-resolution detail, but compares cells on
        # the textured fill, so that textured hole cells attend to textured known cells.
        result, structure = engine.inpaint_layers(small, small_mask, progress=progress)
        return aggregate_residual(rgb, mask, small, structure, match_image=result,
                                  prepared=prepared)
    result, feats = engine.inpaint_with_features(small, small_mask, progress=progress)
    # Outside the hole only a rim of a few px is touched: the feathered seam.
    return aggregate_residual(rgb, mask, small, result, features=feats, prepared=prepared)


@dataclass(frozen=True)
class _Region:
    y0: int
    y1: int
    x0: int
    x1: int
    labels: tuple[int, ...]

    @property
    def pixels(self) -> int:
        return (self.y1 - self.y0) * (self.x1 - self.x0)


def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels, stats) of the 8-connected hole components (OpenCV's; row 0 is the background).
    The labels are 16-bit while they fit (they live through the whole fill: 16 MB less at 4K)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return (labels.astype(np.uint16) if n <= 65536 else labels), stats


def _regions(mask: np.ndarray, components: tuple[np.ndarray, np.ndarray] | None = None,
             merge_max_pixels: int | None = None) -> list[_Region]:
    """Connected hole regions with their padded crop boxes. Two overlapping boxes are merged
    when their union is no bigger than the two together (a cluster of specks: one crop) and,
    given ``merge_max_pixels``, within that size or the bigger of the two; otherwise each keeps
    its own crop. (Merging every overlap made the dozens of specks and
    tears of a scan one crop the size of the scan: a 12 MP restore held ~2 GB for a fill that
    touches 2.5 % of it.)"""
    _, stats = components if components is not None else _components(mask)
    h, w = mask.shape
    boxes = []
    for i in range(1, len(stats)):
        x, y, bw, bh = stats[i, :4]
        m = max(CROP_MARGIN_PX, round(CROP_MARGIN_FRAC * max(bw, bh)))
        boxes.append([max(0, y - m), min(h, y + bh + m), max(0, x - m), min(w, x + bw + m), {i}])
    area = lambda b: (b[1] - b[0]) * (b[3] - b[2])  # noqa: E731
    merged = True
    while merged:  # few regions in practice; quadratic merge is fine
        merged = False
        for a in range(len(boxes)):
            for b in range(a + 1, len(boxes)):
                p, q = boxes[a], boxes[b]
                if not (p[0] < q[1] and q[0] < p[1] and p[2] < q[3] and q[2] < p[3]):
                    continue
                union = [min(p[0], q[0]), max(p[1], q[1]), min(p[2], q[2]), max(p[3], q[3]),
                         p[4] | q[4]]
                capped = merge_max_pixels is not None and area(union) > max(
                    merge_max_pixels, area(p), area(q))
                if area(union) <= area(p) + area(q) and not capped:
                    boxes[a] = union
                    del boxes[b]
                    merged = True
                    break
            if merged:
                break
    return [_Region(b[0], b[1], b[2], b[3], tuple(sorted(b[4]))) for b in boxes]


def _fill_regions(
    engine: Engine, rgb: np.ndarray, mask: np.ndarray, working_size: int,
    progress: ProgressFn | None, *, big: Callable | None, in_place: bool = False,
    merge_max_pixels: int | None = None,
) -> np.ndarray:
    """Fill each region that fits the engine in its crop at native resolution; hand the rest to
    ``big`` over the whole photo, or (``big=None``) to ``cra`` inside their crops.

    The crops are filled one after the other, the biggest first, each from the photo as filled
    so far: a crop fills every hole still open in it (an open hole is never a source) and keeps
    the components that lie wholly inside it, so a speck inside a tear's crop is filled once,
    there, and a component cut by the crop's edge waits for a crop that holds it whole (its
    own region's always does)."""
    components = _components(mask)
    labels, stats = components
    regions = _regions(mask, components, merge_max_pixels)
    limit = float("inf") if engine.traits.refines_natively else engine.traits.max_pixels
    out: np.ndarray | None = rgb if in_place else None  # (else copied when first needed)

    def is_big(reg: _Region) -> bool:
        return big is not None and reg.pixels > limit

    big_labels = [i for reg in regions if is_big(reg) for i in reg.labels]
    done = np.zeros(len(stats), bool)  # components filled and kept
    done[0] = True  # (the background)
    keepable = ~done
    keepable[big_labels] = False  # (never kept by a crop: ``big`` fills them over the photo)
    order = sorted((r for r in regions if not is_big(r)), key=lambda r: -r.pixels)
    x, y, bw, bh = (stats[:, k] for k in range(4))
    for n, reg in enumerate(order):
        if progress is not None and n:
            progress("regions", n, len(order))
        if done[list(reg.labels)].all():
            continue  # every component was kept by a bigger crop that held it whole
        sl = (slice(reg.y0, reg.y1), slice(reg.x0, reg.x1))
        inside = ((y >= reg.y0) & (y + bh <= reg.y1) & (x >= reg.x0) & (x + bw <= reg.x1)
                  & keepable)
        src = rgb if out is None else out
        open_mask = mask[sl] & ~done[labels[sl]]
        fill = _original if reg.pixels <= limit else _cra
        sub = fill(engine, src[sl], open_mask, working_size, None)
        if len(regions) == 1 and sub.shape == rgb.shape and fill is _original:
            # One region whose crop is the photo: the engine's fill (the pixels outside the
            # mask untouched) is the result. (CRA also feathers a rim outside: not kept here.)
            out = sub
        else:
            keep = open_mask & inside[labels[sl]]
            out = rgb.copy() if out is None else out
            out[sl][keep] = sub[keep]
        done |= inside
    if progress is not None and order:
        progress("regions", len(order), len(order))
    if big_labels:
        big_mask = np.isin(labels, big_labels)
        # (from the photo with the small regions filled: their object is no source either)
        filled = big(engine, rgb if out is None else out, big_mask, working_size, progress)
        out = rgb.copy() if out is None else out
        out[big_mask] = filled[big_mask]
    return rgb.copy() if out is None else out


def _crop(engine, rgb, mask, working_size, progress, **crops):
    return _fill_regions(engine, rgb, mask, working_size, progress, big=None, **crops)


def _auto(engine, rgb, mask, working_size, progress, **crops):
    if mask.size <= engine.traits.max_pixels:
        return _original(engine, rgb, mask, working_size, progress, **crops)
    return _fill_regions(engine, rgb, mask, working_size, progress, big=_cra, **crops)


_STRATEGY_FUNCS = {
    "auto": _auto,
    "cra": _cra,
    "crop": _crop,
    "resize": _resize,
    "original": _original,
}
