"""Numba kernels of exemplar completion: patch distance, PatchMatch search, Wexler voting.

A level of the pyramid is described by:

* ``img``: float32 HxWxC, hole pixels holding the current estimate in channels 0-2 (RGB); any
  further channels are guidance (structure lines) that the patch distance compares and the
  vote leaves alone;
* ``targets``: int32 Nx2 (y, x) centres of every patch that overlaps the hole, row-major order;
* ``tindex``: int32 HxW, the row of ``targets`` centred at each pixel, -1 elsewhere;
* ``valid``: bool HxW, True at centres of *source* patches: inside the image and fully known;
* ``nnf``: int32 Nx2, the source centre matched to each target; ``cost``: float32 N, its SSD.

Each kernel has a slow NumPy twin in :mod:`photomend.ops.patchmatch_reference` that the tests
compare against. ``cache=True`` keeps the compile (a few seconds) to the first run of an install.
"""

from __future__ import annotations

import os

import numpy as np

from photomend.jit import PARALLEL_LOCK, import_numba

# The parallel kernels run on numba's OpenMP pool, whose threads by default spin between
# kernels: on 2 cores that halves what the fill's other steps (and other jobs) get. Set before
# the pool's OpenMP runtime loads, at the first parallel kernel; a user's setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import_numba()  # before numba itself: skips its slow scipy.linalg probe (photomend.jit)
from numba import njit, prange  # noqa: E402

INF = np.float32(3.0e38)


@njit(cache=True)
def seed_rng(seed: int) -> None:
    """Seed numba's generator: the search is deterministic for a given seed."""
    np.random.seed(seed)


@njit(cache=True, inline="always")
def patch_ssd(img, ty, tx, sy, sx, r, best):
    """SSD between the patches centred at (ty, tx) and (sy, sx); target pixels outside the image
    are skipped. Stops early (returning a value >= ``best``) once the sum exceeds ``best``."""
    h, w = img.shape[0], img.shape[1]
    d = np.float32(0.0)
    for dy in range(-r, r + 1):
        y = ty + dy
        if y < 0 or y >= h:
            continue
        for dx in range(-r, r + 1):
            x = tx + dx
            if x < 0 or x >= w:
                continue
            for c in range(img.shape[2]):
                e = img[y, x, c] - img[sy + dy, sx + dx, c]
                d += e * e
        if d >= best:
            return d
    return d


@njit(cache=True, parallel=True)
def _compute_costs(img, targets, nnf, cost, r, lam):
    """Recompute the cost of every match after the image estimate changed (targets are
    independent: spread over the cores)."""
    for i in prange(targets.shape[0]):
        dy = nnf[i, 0] - targets[i, 0]
        dx = nnf[i, 1] - targets[i, 1]
        pen = lam * np.float32(dy * dy + dx * dx)
        cost[i] = patch_ssd(img, targets[i, 0], targets[i, 1], nnf[i, 0], nnf[i, 1], r, INF) + pen


@njit(cache=True)
def random_init(targets, valid_yx, nnf):
    """Give every target a random valid source centre."""
    n = valid_yx.shape[0]
    for i in range(targets.shape[0]):
        k = np.random.randint(0, n)
        nnf[i, 0] = valid_yx[k, 0]
        nnf[i, 1] = valid_yx[k, 1]


@njit(cache=True, inline="always")
def _try(img, valid, targets, nnf, cost, i, sy, sx, r, lam):
    h, w = valid.shape
    if sy < 0 or sy >= h or sx < 0 or sx >= w or not valid[sy, sx]:
        return
    if sy == nnf[i, 0] and sx == nnf[i, 1]:
        return
    dy = sy - targets[i, 0]
    dx = sx - targets[i, 1]
    pen = lam * np.float32(dy * dy + dx * dx)
    d = patch_ssd(img, targets[i, 0], targets[i, 1], sy, sx, r, cost[i] - pen) + pen
    if d < cost[i]:
        cost[i] = d
        nnf[i, 0] = sy
        nnf[i, 1] = sx


@njit(cache=True, inline="always")
def _propagate(img, valid, targets, tindex, nnf, before, lo, hi, cost, i, step, r, lam):
    """Propagation for target ``i``: the neighbours already visited in this scan suggest their
    shifted matches, read from ``nnf`` for targets ``lo`` to ``hi`` (this band's) and from
    ``before`` for the others (another band's, as they were before the scan)."""
    h, w = valid.shape
    ty = targets[i, 0]
    tx = targets[i, 1]
    nx = tx + step
    if 0 <= nx < w:
        k = tindex[ty, nx]
        if k >= 0:
            src = nnf if lo <= k < hi else before
            _try(img, valid, targets, nnf, cost, i, src[k, 0], src[k, 1] - step, r, lam)
    ny = ty + step
    if 0 <= ny < h:
        k = tindex[ny, tx]
        if k >= 0:
            src = nnf if lo <= k < hi else before
            _try(img, valid, targets, nnf, cost, i, src[k, 0] - step, src[k, 1], r, lam)


@njit(cache=True)
def _scan(img, targets, tindex, valid, nnf, cost, r, iters, max_radius, lam):
    """Improve ``nnf`` in place: ``iters`` alternating scans of propagation + random search
    (one sequential scan of all targets; numba's seeded generator)."""
    n = targets.shape[0]
    for it in range(iters):
        forward = it % 2 == 0
        step = -1 if forward else 1
        for j in range(n):
            i = j if forward else n - 1 - j
            _propagate(img, valid, targets, tindex, nnf, nnf, 0, n, cost, i, step, r, lam)
            # Random search in exponentially shrinking windows around the current best.
            rad = max_radius
            while rad >= 1:
                sy = nnf[i, 0] + np.random.randint(-rad, rad + 1)
                sx = nnf[i, 1] + np.random.randint(-rad, rad + 1)
                _try(img, valid, targets, nnf, cost, i, sy, sx, r, lam)
                rad //= 2


#: :func:`_banded_scan` runs this many bands of targets at once (a fixed number, so that the
#: result does not depend on how many cores run them).
BANDS = 8
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_XS_MUL = np.uint64(0x2545F4914F6CDD1D)


@njit(cache=True, inline="always")
def _splitmix(x):
    """A well-mixed 64-bit value of ``x`` (SplitMix64's finaliser): a band's generator seed."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    x = x ^ (x >> np.uint64(31))
    return x if x != np.uint64(0) else _GOLDEN


@njit(cache=True, inline="always")
def _offset(state, rad):
    """(next state, a uniform integer in [-rad, rad]): xorshift64*, one per band."""
    state ^= state >> np.uint64(12)
    state ^= state << np.uint64(25)
    state ^= state >> np.uint64(27)
    v = (state * _XS_MUL) >> np.uint64(11)
    return state, np.int64(v % np.uint64(2 * rad + 1)) - rad


@njit(cache=True)
def draw_seed():
    """A seed for one :func:`_banded_scan` call from numba's seeded generator (:func:`seed_rng`):
    the calls of a fill differ, and a fill is deterministic."""
    return np.random.randint(0, 2**62)


@njit(cache=True, parallel=True)
def _banded_scan(img, targets, tindex, valid, nnf, cost, r, iters, max_radius, lam, seed):
    """:func:`_scan` on all the cores: each scan runs :data:`BANDS` contiguous bands of targets (rows of the hole) side by side,
    each with its own generator. Within a band, propagation takes the neighbour's match of this
    scan, as in one sequential scan; across a band's edge, the neighbour's match from before
    the scan (another band may be changing it): the same result on any number of cores, and a
    good match crosses a band's edge one scan later.
    """
    n = targets.shape[0]
    for it in range(iters):
        forward = it % 2 == 0
        step = -1 if forward else 1
        before = nnf.copy()
        for b in prange(BANDS):
            lo = n * b // BANDS
            hi = n * (b + 1) // BANDS
            state = _splitmix(np.uint64(seed) + np.uint64(it * BANDS + b) * _GOLDEN)
            for j in range(hi - lo):
                i = lo + j if forward else hi - 1 - j
                _propagate(img, valid, targets, tindex, nnf, before, lo, hi, cost, i, step, r,
                           lam)
                # Random search in exponentially shrinking windows around the current best.
                rad = max_radius
                while rad >= 1:
                    state, oy = _offset(state, rad)
                    state, ox = _offset(state, rad)
                    _try(img, valid, targets, nnf, cost, i, nnf[i, 0] + oy, nnf[i, 1] + ox, r,
                         lam)
                    rad //= 2


@njit(cache=True, parallel=True)
def _vote(img, hole_yx, tindex, nnf, cost, r, inv_two_sigma2, npix, prior):
    """Wexler voting, in place: each hole pixel becomes the weighted mean of the source pixels
    that the patches covering it propose; weight = exp(-mean SSD / (2 sigma^2)) * ``prior[k]``
    (float32 N, a per-target confidence: Wexler et al.'s gamma^-distance to the known region).

    Sources are fully known, so writing hole pixels in place never changes what is read, and
    the hole pixels can be spread over the cores.
    """
    h, w = tindex.shape
    # One weight per patch, not one per (patch, pixel): each patch covers (2r+1)^2 pixels.
    weight = np.empty(cost.shape[0], np.float32)
    for k in prange(cost.shape[0]):
        weight[k] = np.exp(-(cost[k] / npix) * inv_two_sigma2) * prior[k]
    for m in prange(hole_yx.shape[0]):
        y = hole_yx[m, 0]
        x = hole_yx[m, 1]
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        ws = 0.0
        for dy in range(-r, r + 1):
            ty = y - dy
            if ty < 0 or ty >= h:
                continue
            for dx in range(-r, r + 1):
                tx = x - dx
                if tx < 0 or tx >= w:
                    continue
                k = tindex[ty, tx]
                if k < 0:
                    continue
                wt = weight[k]
                sy = nnf[k, 0] + dy
                sx = nnf[k, 1] + dx
                a0 += wt * img[sy, sx, 0]
                a1 += wt * img[sy, sx, 1]
                a2 += wt * img[sy, sx, 2]
                ws += wt
        if ws > 0.0:
            img[y, x, 0] = a0 / ws
            img[y, x, 1] = a1 / ws
            img[y, x, 2] = a2 / ws


@njit(cache=True)
def upsample_nnf(coarse_tindex, coarse_nnf, targets, valid, valid_yx, nnf):
    """Initialise a fine level's matches from the coarser level's (offsets doubled).

    A target whose coarse parent had no match, or whose doubled match is not a valid source
    here, gets a random valid source; the search repairs it.
    """
    ch, cw = coarse_tindex.shape
    h, w = valid.shape
    n_valid = valid_yx.shape[0]
    for i in range(targets.shape[0]):
        y = targets[i, 0]
        x = targets[i, 1]
        cy = min(y // 2, ch - 1)
        cx = min(x // 2, cw - 1)
        k = coarse_tindex[cy, cx]
        ok = False
        if k >= 0:
            sy = 2 * coarse_nnf[k, 0] + (y - 2 * cy)
            sx = 2 * coarse_nnf[k, 1] + (x - 2 * cx)
            if 0 <= sy < h and 0 <= sx < w and valid[sy, sx]:
                nnf[i, 0] = sy
                nnf[i, 1] = sx
                ok = True
        if not ok:
            j = np.random.randint(0, n_valid)
            nnf[i, 0] = valid_yx[j, 0]
            nnf[i, 1] = valid_yx[j, 1]




def compute_costs(img, targets, nnf, cost, r, lam):
    """Recompute the cost of every match after the image estimate changed (the targets are
    spread over the cores)."""
    with PARALLEL_LOCK:  # (see photomend.jit)
        _compute_costs(img, targets, nnf, cost, r, lam)


def patchmatch(img, targets, tindex, valid, nnf, cost, r, iters, max_radius, lam, *,
               banded=False):
    """Improve ``nnf`` in place: ``iters`` alternating scans of propagation + random search;
    ``banded``: in bands spread over the cores (:func:`_banded_scan`), else in one sequential
    scan (:func:`_scan`)."""
    if not banded:
        _scan(img, targets, tindex, valid, nnf, cost, r, iters, max_radius, lam)
        return
    seed = draw_seed()
    with PARALLEL_LOCK:  # (see photomend.jit)
        _banded_scan(img, targets, tindex, valid, nnf, cost, r, iters, max_radius, lam, seed)


def vote(img, hole_yx, tindex, nnf, cost, r, inv_two_sigma2, npix, prior):
    """Wexler voting, in place (see :func:`_vote`); the hole pixels are spread over the cores."""
    with PARALLEL_LOCK:  # (see photomend.jit)
        _vote(img, hole_yx, tindex, nnf, cost, r, inv_two_sigma2, npix, prior)
