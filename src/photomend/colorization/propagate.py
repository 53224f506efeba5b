"""Chroma propagation: Levin, Lischinski & Weiss, "Colorization using Optimization" (2004).

Neighbouring pixels with similar luma should get similar chroma. With the affinity
``w_rs = exp(-(Y_r - Y_s)^2 / (2 sigma_rs^2))`` between 8-neighbours (``sigma`` from the local
luma variance, as in the paper) the chroma ``U`` minimises

    sum_{r~s} w_rs (U_r - U_s)^2 + sum_r c_r (U_r - T_r)^2

where ``T`` are the target chroma values and ``c`` their confidence: large for the user's
hints (practically hard constraints), small for the noisy guesses of the reference transfer.
That is one sparse, symmetric positive-definite system ``(L + C) U = C T`` for both Cb and Cr.

Big photos: the system is solved at a *working resolution* (``working_pixels``, default
0.36 MP) and the chroma is brought to full resolution by the fast guided filter (He & Sun
2015) with the full-resolution luma as the guide, so colour edges snap to luma edges. The
system is solved by conjugate gradients preconditioned with an aggregation multigrid V-cycle on
the pixel grid (:class:`Multigrid`; SciPy sparse matrices only), or directly when it is small.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:  # SciPy is imported on first use: `import photomend` stays quick
    import scipy.sparse as sp

#: Pixels of the grid the system is solved on; larger photos are solved on a smaller copy.
WORKING_PIXELS = 360_000
#: Confidence of a user hint (the affinities are at most 1 per neighbour).
HINT_CONFIDENCE = 100.0
#: Affinity floor, so that every pixel is connected to its neighbours however strong the edge.
_AFFINITY_FLOOR = 1e-4
#: Lower bound of the local luma variance in the affinity (luma in [0, 1]).
_MIN_VARIANCE = 1e-5
#: Scale of the local 3x3 variance in the affinity. The paper uses 0.6; 0.05 (sharper colour
#: edges) gave +0.9 dB chroma PSNR over it on the 9 mate-backgrounds photos that are not
#: benchmark photos (TRAINABLE_NATURE), with 0.5 % random hints; see docs/colorize.md.
_VARIANCE_SCALE = 0.05
#: Relative residual at which CG stops: tight when the photo is solved at full resolution,
#: looser on a working grid, whose guided upsampling errs by more (at 12 MP with 0.5 % hints,
#: 1e-4 takes 5 iterations instead of 13 and scores 0.15 dB higher chroma PSNR, not lower).
_CG_TOL = 1e-5
_CG_TOL_WORKING = 1e-4
_DIRECT_MAX = 40_000

Progress = Callable[[str, int, int], None]


def propagate(
    y: np.ndarray,
    targets: np.ndarray,
    confidence: np.ndarray,
    *,
    working_pixels: int = WORKING_PIXELS,
    progress: Progress | None = None,
) -> np.ndarray:
    """Chroma (float32 HxWx2) for the luma ``y`` (HxW) from target chroma ``targets``
    (HxWx2) weighted by ``confidence`` (HxW, 0 = no information; :data:`HINT_CONFIDENCE` for a
    user hint).

    Pixels with zero confidence everywhere give zero chroma (grey).
    """
    h, w = y.shape
    if not np.any(confidence > 0):
        return np.zeros((h, w, 2), np.float32)
    size = working_size((w, h), working_pixels)
    if size != (w, h):
        y_small = cv2.resize(y, size, interpolation=cv2.INTER_AREA)
        conf_small, targets_small = downscale_targets(targets, confidence, size)
    else:
        y_small, conf_small, targets_small = y, confidence, targets
    if progress:
        progress("colorize", 1, 4)
    solved = solve(y_small, targets_small, conf_small,
                   tol=_CG_TOL if size == (w, h) else _CG_TOL_WORKING)
    if progress:
        progress("colorize", 3, 4)
    if size != (w, h):
        solved = guided_upsample(y_small, solved, y)
    return solved


def working_size(size: tuple[int, int], working_pixels: int = WORKING_PIXELS) -> tuple[int, int]:
    """(width, height) of the grid the system is solved on for a photo of ``size``.

    >>> working_size((4000, 3000), 360_000)
    (693, 520)
    """
    w, h = size
    scale = math.sqrt(working_pixels / float(w * h))
    if scale >= 1.0:
        return (w, h)
    return (max(2, round(w * scale)), max(2, round(h * scale)))


def downscale_targets(targets: np.ndarray, confidence: np.ndarray, size: tuple[int, int]
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Confidence and confidence-weighted targets on the working grid.

    A cell's confidence is the sum of its pixels' confidences capped at the largest one (a
    single user hint stays a hint), its target the confidence-weighted mean of their targets.
    """
    conf = confidence.astype(np.float32)
    weighted = targets * conf[..., None]
    mean_conf = cv2.resize(conf, size, interpolation=cv2.INTER_AREA)
    mean_weighted = cv2.resize(weighted, size, interpolation=cv2.INTER_AREA)
    with np.errstate(divide="ignore", invalid="ignore"):
        small_targets = np.where(mean_conf[..., None] > 0, mean_weighted / mean_conf[..., None], 0)
    # A cell's confidence: the sum of its pixels' (cell area x mean), capped at the strongest
    # single confidence, so that one hint pixel in a cell makes a full hint.
    h, w = confidence.shape
    area = (h * w) / float(size[0] * size[1])
    small_conf = np.minimum(mean_conf * np.float32(area), np.float32(conf.max()))
    return small_conf.astype(np.float32), small_targets.astype(np.float32)


def affinity_laplacian(y: np.ndarray) -> sp.csr_matrix:
    """Graph Laplacian ``D - W`` of the 8-neighbour luma affinities of ``y`` (HxW)."""
    import scipy.sparse as sp

    h, w = y.shape
    y = y.astype(np.float64)
    mean = cv2.blur(y, (3, 3), borderType=cv2.BORDER_REFLECT)
    var = cv2.blur(y * y, (3, 3), borderType=cv2.BORDER_REFLECT) - mean * mean
    var = np.maximum(var * _VARIANCE_SCALE, _MIN_VARIANCE)
    idx = np.arange(h * w).reshape(h, w)
    rows, cols, vals = [], [], []
    for (ra, ca), (rb, cb) in (
        ((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
        ((slice(None, -1), slice(None)), (slice(1, None), slice(None))),
        ((slice(None, -1), slice(None, -1)), (slice(1, None), slice(1, None))),
        ((slice(None, -1), slice(1, None)), (slice(1, None), slice(None, -1))),
    ):
        diff = y[ra, ca] - y[rb, cb]
        sigma2 = var[ra, ca] + var[rb, cb]  # 2 * mean variance of the pair
        weight = np.exp(-(diff * diff) / sigma2) + _AFFINITY_FLOOR
        rows.append(idx[ra, ca].ravel())
        cols.append(idx[rb, cb].ravel())
        vals.append(weight.ravel())
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    n = h * w
    off = sp.coo_matrix((np.concatenate([v, v]), (np.concatenate([r, c]), np.concatenate([c, r]))),
                        shape=(n, n)).tocsr()
    degree = np.asarray(off.sum(axis=1)).ravel()
    return (sp.diags(degree) - off).tocsr()


def solve(y: np.ndarray, targets: np.ndarray, confidence: np.ndarray, *,
          tol: float = _CG_TOL) -> np.ndarray:
    """Solve ``(L + C) U = C T`` on the grid of ``y`` (CG to relative residual ``tol``);
    returns float32 HxWx2."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    h, w = y.shape
    lap = affinity_laplacian(y)
    c = confidence.astype(np.float64).ravel()
    system = (lap + sp.diags(c)).tocsr()
    rhs = targets.reshape(-1, 2).astype(np.float64) * c[:, None]
    if h * w <= _DIRECT_MAX:
        out = spla.splu(system.tocsc()).solve(rhs)
        return np.asarray(out, np.float32).reshape(h, w, 2)
    guess = _nearest_fill(targets, confidence > 0).reshape(-1, 2).astype(np.float64)
    out = _pcg(system, rhs, guess, Multigrid(system, (h, w)), tol=tol)
    return out.astype(np.float32).reshape(h, w, 2)


class Multigrid:
    """Aggregation multigrid on the pixel grid, used as the preconditioner of CG.

    Each level merges 2x2 pixels (piecewise-constant prolongation ``P``, Galerkin coarse
    operator ``P^T A P``) until a few thousand unknowns remain, which are solved directly.
    One application is a symmetric V-cycle with damped-Jacobi smoothing.
    """

    def __init__(self, system: sp.csr_matrix, shape: tuple[int, int], *, sweeps: int = 2,
                 damping: float = 0.7) -> None:
        import scipy.sparse as sp
        import scipy.sparse.linalg as spla

        self.sweeps, self.damping = sweeps, damping
        self.levels = []
        a, (h, w) = system, shape
        while a.shape[0] > _DIRECT_MAX // 8 and min(h, w) > 2:
            hc, wc = (h + 1) // 2, (w + 1) // 2
            iy, ix = np.mgrid[0:h, 0:w]
            coarse = ((iy // 2) * wc + ix // 2).ravel()
            p = sp.csr_matrix((np.ones(h * w), (np.arange(h * w), coarse)), shape=(h * w, hc * wc))
            pt = p.T.tocsr()
            self.levels.append((a, 1.0 / a.diagonal(), p, pt))
            a, h, w = (pt @ a @ p).tocsr(), hc, wc
        self.coarse = spla.splu(a.tocsc())

    def __call__(self, b: np.ndarray) -> np.ndarray:
        return self._cycle(b, 0)

    def _cycle(self, b: np.ndarray, k: int) -> np.ndarray:
        if k == len(self.levels):
            return self.coarse.solve(b)
        a, dinv, p, pt = self.levels[k]
        om = self.damping
        dinv = dinv[:, None] if b.ndim == 2 else dinv
        x = om * dinv * b
        for _ in range(self.sweeps - 1):
            x += om * dinv * (b - a @ x)
        x += p @ self._cycle(pt @ (b - a @ x), k + 1)
        for _ in range(self.sweeps):
            x += om * dinv * (b - a @ x)
        return x


def _pcg(a: sp.csr_matrix, b: np.ndarray, x: np.ndarray, precond: Callable,
         *, tol: float = _CG_TOL, maxiter: int = 200) -> np.ndarray:
    """Preconditioned conjugate gradients on several right-hand sides (columns) at once."""
    x = x.copy()
    r = b - a @ x
    norm_b = np.maximum(np.linalg.norm(b, axis=0), 1e-30)
    z = precond(r)
    p = z.copy()
    rz = np.einsum("ij,ij->j", r, z)
    for _ in range(maxiter):
        if np.all(np.linalg.norm(r, axis=0) <= tol * norm_b):
            break
        ap = a @ p
        alpha = rz / np.maximum(np.einsum("ij,ij->j", p, ap), 1e-300)
        x += alpha * p
        r -= alpha * ap
        z = precond(r)
        rz_new = np.einsum("ij,ij->j", r, z)
        p = z + (rz_new / np.maximum(rz, 1e-300)) * p
        rz = rz_new
    return x


def _nearest_fill(targets: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Every pixel takes the target of its nearest known pixel (the baseline, and the solver's
    starting point); exact Euclidean distances (OpenCV's distance transform with labels)."""
    if known.all() or not known.any():
        return targets.astype(np.float32)
    _, labels = cv2.distanceTransformWithLabels((~known).astype(np.uint8), cv2.DIST_L2,
                                                cv2.DIST_MASK_PRECISE,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    # Label k (1-based) is the k-th known pixel in row-major order.
    order = np.flatnonzero(known.ravel())
    flat = targets.reshape(-1, targets.shape[-1])
    return flat[order[labels.ravel() - 1]].reshape(targets.shape).astype(np.float32)


def nearest_hint_fill(targets: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Exact nearest-hint fill (SciPy's Euclidean distance transform): the benchmark's peer.
    (:func:`_nearest_fill`, the solver's starting point, uses OpenCV's faster transform, which
    picks a hint up to 0.7 px farther than the nearest for a few pixels.)"""
    from scipy import ndimage

    if known.all() or not known.any():
        return targets.astype(np.float32)
    _, (iy, ix) = ndimage.distance_transform_edt(~known, return_indices=True)
    return targets[iy, ix].astype(np.float32)


def guided_coefficients(y_small: np.ndarray, chroma_small: np.ndarray, *, radius: int = 2,
                        eps: float = 1e-4) -> np.ndarray:
    """Fast guided filter on the working grid: the box-filtered coefficients of
    ``chroma ~ a * luma + b`` in (2r+1)^2 windows, float32 hxwx4 (a_cb, b_cb, a_cr, b_cr)."""
    ksize = (2 * radius + 1, 2 * radius + 1)
    box = lambda a: cv2.blur(a, ksize, borderType=cv2.BORDER_REFLECT)
    guide = y_small.astype(np.float32)
    mean_i = box(guide)
    var_i = box(guide * guide) - mean_i * mean_i
    coef = np.empty(guide.shape + (4,), np.float32)
    for k in range(2):
        p = np.ascontiguousarray(chroma_small[..., k], dtype=np.float32)
        mean_p = box(p)
        a = (box(guide * p) - mean_i * mean_p) / (var_i + eps)
        coef[..., 2 * k] = box(a)
        coef[..., 2 * k + 1] = box(mean_p - a * mean_i)
    return coef


def guided_upsample(y_small: np.ndarray, chroma_small: np.ndarray, y_full: np.ndarray,
                    *, radius: int = 2, eps: float = 1e-4) -> np.ndarray:
    """Fast guided filter (He & Sun 2015): fit ``chroma ~ a * luma + b`` in small windows of
    the working grid, then apply the upsampled ``a``, ``b`` to the full-resolution luma.
    (The NumPy twin of :func:`photomend.colorization.kernels.upsample_compose`.)"""
    coef = guided_coefficients(y_small, chroma_small, radius=radius, eps=eps)
    h, w = y_full.shape
    up = cv2.resize(coef, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.stack([up[..., 0] * y_full + up[..., 1], up[..., 2] * y_full + up[..., 3]],
                    axis=-1).astype(np.float32)
