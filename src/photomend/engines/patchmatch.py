"""Multi-scale exemplar completion (Wexler et al. 2007, with Barnes et al.'s PatchMatch search).

Coarse to fine: the coarsest level is seeded by a smooth diffusion fill, then at each level a few
EM iterations alternate PatchMatch (find, for every patch overlapping the hole, its nearest
fully-known patch) and voting (every hole pixel becomes the weighted mean of what the patches
covering it propose). The matches are doubled up to the next level, where voting them gives that
level's starting image, so structure found at the coarse levels carries to full resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from photomend.engines.base import BUILTIN_TRAITS, Engine, ProgressFn, register_engine
from photomend.engines.opencv import diffusion_fill
from photomend.errors import MaskError
from photomend.ops import colour_guard, structure_lines
from photomend.ops.grey import channel_mean
from photomend.ops.spread import spread, spread_many


@dataclass(frozen=True)
class _Level:
    img: np.ndarray  # float32 HxWx3
    hole: np.ndarray  # bool HxW


def _downsample(level: _Level) -> _Level:
    """Half size, averaging the known pixels only (the "pull" of push-pull interpolation).

    A coarse pixel is hole only where all the fine pixels under it are. So the hole shrinks
    towards the coarse levels, and they carry the rim's colours inwards (a diffusion-like
    estimate of the low frequencies); the patches then add what the rim cannot tell.
    The hole's own pixels get zero weight, so the removed object never leaks colour. Measured
    at 512 px on the training photos (2 seeds), against a pyramid whose hole grows (any mixed
    pixel is hole): the voted fill +2.2 to +2.6 dB masked PSNR on strokes and blobs, the final
    fill +0.007 to +0.013 masked SSIM on every mask kind.
    """
    h, w = level.hole.shape
    size = (max(1, (w + 1) // 2), max(1, (h + 1) // 2))
    known = (~level.hole).astype(np.float32)
    weight = cv2.resize(known, size, interpolation=cv2.INTER_AREA)
    img = cv2.resize(level.img * known[..., None], size, interpolation=cv2.INTER_AREA)
    img /= np.maximum(weight, 1e-6)[..., None]
    hole = weight <= 1e-6
    img[hole] = 0.0
    return _Level(img, hole)


def _source_centres(hole: np.ndarray, r: int) -> np.ndarray:
    """bool HxW: centres of patches that lie inside the image and contain no hole pixel."""
    h, w = hole.shape
    known = (~hole).astype(np.uint8)
    full = cv2.erode(known, np.ones((2 * r + 1, 2 * r + 1), np.uint8), borderValue=0) > 0
    full[:r] = False
    full[h - r :] = False
    full[:, :r] = False
    full[:, w - r :] = False
    return full


def _targets(hole: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres of all patches overlapping the hole (row-major), and the index map."""
    near = cv2.dilate(hole.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0
    ys, xs = np.nonzero(near)
    targets = np.stack([ys, xs], axis=1).astype(np.int32)
    tindex = np.full(hole.shape, -1, np.int32)
    tindex[ys, xs] = np.arange(len(ys), dtype=np.int32)
    return targets, tindex


def _hole_lowpass(img: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian low-pass of ``img`` over the hole's pixels only (normalised convolution)."""
    hole = mask.astype(np.float32)
    low = cv2.GaussianBlur(img * hole[..., None], (0, 0), sigma)
    return low / np.maximum(cv2.GaussianBlur(hole, (0, 0), sigma), 1e-6)[..., None]


def _fine(grey: np.ndarray) -> np.ndarray:
    """Fine detail of a grey image: its 4-neighbour Laplacian (what the eye reads as grain and
    sharpness, and what :func:`photomend.metrics.detail_ratio` compares)."""
    return cv2.Laplacian(grey, cv2.CV_32F)


def _surrounding_detail(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per pixel, the RMS fine detail (:func:`_fine`) of the known pixels around it: a
    normalised convolution at sigma 6 px, falling back to 18 and 54 px deep inside large holes.
    Known pixels within 2 px of the hole are left out (seam)."""
    known = (~mask).astype(np.float32)
    clean = cv2.erode(known, np.ones((5, 5), np.uint8))
    return np.sqrt(spread(_fine(channel_mean(image)) ** 2, clean, (6.0, 18.0, 54.0)))


@register_engine
class PatchMatchEngine(Engine):
    """Exemplar completion; sharp texture, no weights, deterministic for a given ``seed``.

    >>> import numpy as np
    >>> img = np.random.default_rng(0).random((48, 48, 3), dtype=np.float32)
    >>> hole = np.zeros((48, 48), bool); hole[20:28, 20:28] = True
    >>> out = PatchMatchEngine(seed=1).inpaint(img, hole)
    >>> bool(np.array_equal(out[~hole], img[~hole]))
    True
    """

    name = "patchmatch"
    traits = BUILTIN_TRAITS["patchmatch"]

    def __init__(self, *, seed: int = 0, line_weight: float | None = None) -> None:
        """``line_weight``: the structure lines' weight instead of :attr:`line_weight` (0: no
        line guidance; restore's thick fill, where the line entering a defect is often the
        scratch itself)."""
        super().__init__(seed=seed)
        if line_weight is not None:
            self.line_weight = float(line_weight)

    #: Patch radius (7x7 patches).
    radius = 3
    #: The pyramid stops when the coarse hole is this thin (distance to known, px) or the image
    #: this small: there a diffusion start is good enough for the search to take over.
    coarsest_hole_depth = 3.0
    coarsest_side = 24
    #: EM iterations at the coarsest and at the finest level (linear in between).
    em_coarse, em_fine = 6, 2
    #: Extra EM iterations with sharp weights at the finest level, for the texture.
    em_sharp = 1
    #: PatchMatch scans per EM iteration.
    pm_iters = 2
    #: Weight of the structure-line guidance channels in the patch distance (0: off).
    line_weight = 0.5
    #: Refill voted pixels whose colour occurs nowhere around the hole (ops.colour_guard).
    colour_guard = True
    #: Width (px, finest level) of the band around the hole that sources may not touch.
    halo = 3

    def load_kernels(self) -> None:
        """The banded scan of photos larger than ``lines_side``, on a tiny level, when numba's
        cache holds it. Compiling it takes about 5 s on 2 cores: a first run on a small photo
        (``photomend example``) does not need it and should not wait for it; a big photo
        compiles it when it first scans."""
        from photomend.jit import is_cached
        from photomend.ops import patchmatch_kernels as k

        if not is_cached(k._banded_scan):
            return

        img = np.zeros((16, 16, 3), np.float32)
        hole = np.zeros((16, 16), bool)
        hole[6:9, 6:9] = True
        targets, tindex = _targets(hole, self.radius)
        valid = _source_centres(hole, self.radius)
        nnf = np.argwhere(valid).astype(np.int32)[np.zeros(len(targets), int)]
        cost = np.zeros(len(targets), np.float32)
        k.patchmatch(img, targets, tindex, valid, nnf, cost, self.radius, 1, 4, np.float32(0.0),
                     banded=True)

    def _pyramid(self, image: np.ndarray, mask: np.ndarray) -> list[_Level]:
        levels = [_Level(image, mask)]
        while True:
            cur = levels[-1]
            depth = cv2.distanceTransform(cur.hole.astype(np.uint8), cv2.DIST_L2, 3).max()
            if depth <= self.coarsest_hole_depth or min(cur.hole.shape) < 2 * self.coarsest_side:
                break
            nxt = _downsample(cur)
            if not nxt.hole.any() or _source_centres(nxt.hole, self.radius).sum() < 64:
                break  # nothing left to fill there, or (almost) nothing to copy from
            levels.append(nxt)
        return levels[::-1]

    def _inpaint(self, image: np.ndarray, mask: np.ndarray, progress: ProgressFn | None) -> np.ndarray:
        searched = list(self._search(image, mask, progress))
        win = self._window(mask)
        # (each full-size vote dropped once its window is copied, the output made after the
        # composition: at the peak of a 4K fill, 170 of 580 MB less, each page of which a fresh
        # process faults in)
        parts = [np.ascontiguousarray(image[win]), np.ascontiguousarray(mask[win])]
        while searched:
            parts.append(np.ascontiguousarray(searched.pop(0)[win]))
        if parts[0].shape == image.shape:  # the whole image: no second full-size copy
            return self._compose(*parts)
        composed = self._compose(*parts)
        del parts
        out = image.copy()
        out[win] = composed
        return out

    def _window(self, mask: np.ndarray) -> tuple[slice, slice]:
        """Where the finishing steps (colour guard, texture) look: everything for a hole up to
        ``refine_pixels``; for a bigger one its bounding box and ``context_px`` around, which is
        all their widest filters reach (a 4K crop is mostly photo they would blur for nothing)."""
        if np.count_nonzero(mask) <= self.refine_pixels:
            return slice(None), slice(None)
        ys, xs = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
        m, (h, w) = self.context_px, mask.shape
        return (slice(max(0, ys[0] - m), min(h, ys[-1] + 1 + m)),
                slice(max(0, xs[0] - m), min(w, xs[-1] + 1 + m)))

    def inpaint_layers(
        self, image: np.ndarray, mask: np.ndarray, *, progress: ProgressFn | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`inpaint` and the same fill without its texture, from one
        search: ``(fill, structure)``. CRA blows the structure up and takes the fine detail from
        the full-resolution photo instead; the working-size texture, blown up, would only add
        blotches a few full-resolution pixels wide.
        """
        if not mask.any():
            return image.copy(), image.copy()
        image = np.ascontiguousarray(image, np.float32)
        mask = mask.astype(bool)
        voted, sharp, trust = self._search(image, mask, progress)
        fill = self._compose(image, mask, voted, sharp, trust)
        # Blown up by CRA, a step between the fill and the rim becomes an outline several
        # full-resolution pixels wide: next to the rim the structure follows a diffusion fill,
        # which continues the rim's colours (measured on the TUNE photos at 4K: seam ratio
        # 1.78 -> 1.41, masked PSNR +0.1 dB).
        diffusion = diffusion_fill(image, mask, cv2.INPAINT_TELEA, 3)
        depth = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
        a = (1.0 - np.exp(-depth / self.rim_depth))[..., None]
        smooth = a * _hole_lowpass(voted, mask, self.texture_sigma) + (1.0 - a) * diffusion
        structure = image.copy()
        structure[mask] = smooth[mask]
        return self._finished(fill, image, mask), self._finished(structure, image, mask)

    def _search(self, image: np.ndarray, mask: np.ndarray, progress: ProgressFn | None):
        """The pyramid of PatchMatch + voting: (voted fill, sharp-vote fill, match trust)."""
        r = self.radius
        if not _source_centres(mask, r).any():
            raise MaskError(
                "the mask leaves no 7x7 area of known pixels: there is nothing to copy from"
            )
        levels = self._pyramid(image, mask)
        guide = self._guidance(image, mask)
        # The kernels (numba) are imported only now: in a fresh process a background thread
        # (photomend.removal.prewarm) loads them while this one builds the pyramid and finds
        # the structure lines, instead of waiting for them at the engine's import.
        from photomend.ops import patchmatch_kernels as k

        k.seed_rng(self.seed)
        # A photo larger than the size the structure is tuned at scans in bands on all the
        # cores (2 cores: a 4K fill 3.5 -> 2.8 s on the TUNE photos, masked PSNR -0.1 +- 0.07
        # dB, the other metrics as before); a smaller one keeps the sequential scan (0.4 s).
        banded = max(mask.shape) > self.lines_side
        n = len(levels)
        npix = np.float32(3 * (2 * r + 1) ** 2)
        prev_tindex = prev_nnf = None
        for li, level in enumerate(levels):
            h, w = level.hole.shape
            if li == 0:
                # Smooth start at the coarsest level: detail comes from the patches.
                rgb = diffusion_fill(level.img, level.hole, cv2.INPAINT_TELEA, 3)
            else:
                # Start from the coarser result, blown up, so the first costs are meaningful.
                up = cv2.resize(img[..., :3], (w, h), interpolation=cv2.INTER_LINEAR)
                rgb = level.img.copy()
                rgb[level.hole] = up[level.hole]
                del up, img  # (not kept through the level's search: a 4K crop's are 30 MB each)
            # A big level (4K and up) only refines the doubled matches: they are right up to a
            # pixel or two, so one local scan (or, at the finest level, none) does what a full
            # search would, at a fraction of its cost; the structure lines have done their work
            # at the coarser levels.
            refining = li > 0 and int(np.count_nonzero(level.hole)) > self.refine_pixels
            img = rgb if guide is None or refining else np.ascontiguousarray(
                np.concatenate([rgb, guide(level, w / mask.shape[1])], axis=2))
            valid = _source_centres(self._halo(level.hole, w / mask.shape[1]), r)
            if not valid.any():
                valid = _source_centres(level.hole, r)
            valid_yx = np.argwhere(valid).astype(np.int32)
            targets, tindex = _targets(level.hole, r)
            hole_yx = np.argwhere(level.hole).astype(np.int32)
            prior = self._vote_prior(level.hole, targets)
            nnf = np.empty_like(targets)
            cost = np.empty(len(targets), np.float32)
            # Locality prior: a far source must beat a near one by this much (per px², scaled so
            # the prior weighs the same at every level).
            lam = np.float32(self.locality * npix / max(level.hole.shape) ** 2)
            if prev_nnf is None:
                k.random_init(targets, valid_yx, nnf)
            else:
                k.upsample_nnf(prev_tindex, prev_nnf, targets, valid, valid_yx, nnf)
                if not refining:
                    # The doubled matches give this level its first estimate of the hole.
                    k.compute_costs(img, targets, nnf, cost, r, lam)
                    k.vote(img, hole_yx, tindex, nnf, cost, r, *self._weights(cost, npix), prior)
            frac = li / max(1, n - 1)
            n_em = round(self.em_coarse + (self.em_fine - self.em_coarse) * frac)
            pm_iters, max_radius = self.pm_iters, max(level.hole.shape)
            if refining:
                n_em, pm_iters, max_radius = 1, (0 if li == n - 1 else self.refine_scans), self.refine_radius
            for _ in range(n_em):
                k.compute_costs(img, targets, nnf, cost, r, lam)
                if pm_iters:
                    k.patchmatch(img, targets, tindex, valid, nnf, cost, r, pm_iters, max_radius, lam,
                                 banded=banded)
                k.vote(img, hole_yx, tindex, nnf, cost, r, *self._weights(cost, npix), prior)
            prev_tindex, prev_nnf = tindex, nnf
            if progress is not None:
                progress("patchmatch levels", li + 1, n)
        voted = np.ascontiguousarray(img[..., :3])
        if self.colour_guard:
            win = self._window(mask)
            voted[win] = colour_guard.replace_foreign(np.ascontiguousarray(voted[win]), mask[win])
        # Trust comes from the soft estimate: averaged votes reproduce a source exactly only
        # where the photo repeats itself. After the sharp votes below, every copied patch
        # matches its own source, so their costs say nothing about regularity.
        # (The patch distance alone: the costs also hold the locality penalty.)
        plain = np.empty_like(cost)
        k.compute_costs(img, targets, nnf, plain, r, np.float32(0.0))
        trust = self._match_trust(mask, targets, plain / npix)
        # Sharp-weight EM at the finest level: the estimate and its matches converge to
        # textured sources (soft votes make soft images, which then match soft sources).
        sharp = img.copy()
        for i in range(self.em_sharp):
            if i == 0:  # sharp is still img: its costs are the plain ones plus the locality term
                offset = nnf - targets  # (int, as the kernel squares it, then float32)
                np.add(plain, lam * (offset * offset).sum(axis=1).astype(np.float32), out=cost)
            else:
                k.compute_costs(sharp, targets, nnf, cost, r, lam)
            if not refining:  # (refined: the soft vote's matches, only weighted sharply)
                k.patchmatch(sharp, targets, tindex, valid, nnf, cost, r, pm_iters, max_radius, lam,
                             banded=banded)
            k.vote(sharp, hole_yx, tindex, nnf, cost, r,
                   *self._weights(cost, npix, self.sharp_percentile), prior)
        return voted, sharp[..., :3], trust

    def _guidance(self, image: np.ndarray, mask: np.ndarray):
        """``guide(level, scale) -> HxWx2``: the structure-line map of
        :mod:`photomend.ops.structure_lines` at a pyramid level, weighted by ``line_weight``;
        None when the weight is 0 or the photo has no line that crosses the hole."""
        if self.line_weight <= 0:
            return None
        grey, hole = channel_mean(image), mask
        # Lines are found on a copy of at most ``lines_side`` px (LSD and the rim's diffusion
        # fill cost seconds at 4K, and the segment lengths are tuned at that size).
        s0 = min(1.0, self.lines_side / max(mask.shape))
        if s0 < 1.0:
            size = (max(1, round(mask.shape[1] * s0)), max(1, round(mask.shape[0] * s0)))
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
            hole = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
        segments = structure_lines.find_segments(grey, hole)
        lines, continued = structure_lines.complete_lines(segments, hole)
        if not lines:
            return None
        weight = np.float32(self.line_weight)

        def guide(level: _Level, scale: float) -> np.ndarray:
            return weight * structure_lines.guidance(level.hole.shape, continued, lines,
                                                     level.hole, scale=scale / s0)

        return guide

    def _halo(self, hole: np.ndarray, scale: float) -> np.ndarray:
        """The hole grown by ``halo`` px (at the finest level; fewer at coarser ones): patches
        touching that band are not copied, since a mask drawn tight leaves the removed object's
        fringe (its halo, its shadow's edge) right outside it."""
        px = int(round(self.halo * scale))
        if px < 1:
            return hole
        return cv2.dilate(hole.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)) > 0

    def _vote_prior(self, hole: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Per target patch, Wexler et al.'s confidence ``vote_gamma ** -d``, d = the distance
        (px) of its centre from the known region: patches anchored by known pixels near the
        rim outvote the guesses deep inside. Measured at 512 px (benchmark photos): +0.15 to
        +0.2 dB masked PSNR on every mask kind with gamma 1.3 (their value), less with 1.6+."""
        depth = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)
        d = depth[targets[:, 0], targets[:, 1]]
        # Deeper than ~330 px (4K holes) gamma ** -d underflows float32, and the vote of the
        # deep pixels turns to noise: compress the depths there into the representable range
        # (only the ratios between the few patches covering a pixel matter).
        deepest = float(d.max(initial=0.0))
        if deepest > self.prior_depth_max:
            d = d * np.float32(self.prior_depth_max / deepest)
        return np.power(np.float32(self.vote_gamma), -d).astype(np.float32)

    def _match_trust(self, mask: np.ndarray, targets: np.ndarray, cost: np.ndarray) -> np.ndarray:
        """Per pixel, how well the patches covering it were matched, in [0, 1].

        1 where the photo repeats itself exactly (regular texture: copy it), falling towards 0
        as the mean patch error grows past ``trust_error`` (an RMS of ~0.002 per channel).
        """
        size = (2 * self.radius + 1,) * 2
        err = np.zeros(mask.shape, np.float32)
        err[targets[:, 0], targets[:, 1]] = cost
        has = np.zeros(mask.shape, np.float32)
        has[targets[:, 0], targets[:, 1]] = 1.0
        mean_err = cv2.blur(err, size) / np.maximum(cv2.blur(has, size), 1e-6)
        return np.exp(-mean_err / self.trust_error)

    def _compose(self, image, mask, voted, sharp, trust) -> np.ndarray:
        """The voted fill plus the fine texture of the sharp vote, as loud as the photo around.

        Averaged votes are faithful but soft; single votes are sharp but now and then
        misplaced. The texture is the sharp vote minus its low-pass taken over hole pixels only
        (a low-pass across the rim would count the step between fill and photo as texture),
        achromatic (a single vote may bring a pixel of a foreign hue), and faded in over the
        first ``texture_fade`` px from the rim (seam residue there, not texture). Its gain is
        set per pixel so that the fill's fine detail (the voted fill's own plus the texture's)
        matches the detail of the photo around the hole, at most ``texture_gain_max``: a fill
        as loud as its surroundings whatever the photo, not a constant tuned on some photos.
        Where the matches are exact (``trust`` near 1: regular texture) the voted fill is taken
        as it is.
        """
        # (Each full-size temporary is dropped as soon as it is used: on a 12 MP scan every
        # plane is 46 MB, and the peak memory of a restore is reached here.)
        around = _surrounding_detail(image, mask) ** 2
        depth = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
        fade = np.clip(depth / self.texture_fade, 0.0, 1.0)
        del depth
        low = _hole_lowpass(sharp, mask, self.texture_sigma)
        np.subtract(sharp, low, out=low)
        texture = fade * channel_mean(low)
        del low, fade
        # Fine detail (as _surrounding_detail measures it) of the voted fill, dv, and of the
        # texture, dt: the gain g solves, per pixel over a local window,
        # mean((dv + g dt)^2) = the detail around (they are correlated: both come from the
        # same sources, so their energies do not simply add).
        dv = _fine(channel_mean(voted))
        dt = _fine(texture)
        a, b, c = spread_many((dt * dt, dv * dt, dv * dv), mask.astype(np.float32), (6.0, 18.0))
        del dv, dt
        c -= around
        del around
        root = np.sqrt(np.maximum(b * b - a * c, 0.0))
        gain = np.where(c < 0, (root - b) / np.maximum(a, 1e-10), 0.0)
        del root, a, b, c
        texture *= np.minimum(gain, self.texture_gain_max) * (1.0 - trust)
        del gain
        out = image.copy()
        out[mask] = voted[mask] + texture[mask][:, None]
        return out

    #: Confidence of a patch's vote: vote_gamma ** -(distance of its centre from known pixels).
    vote_gamma = 1.3
    #: Voting weights: sigma = this percentile of the patch distances (soft) / (sharp).
    sigma_percentile = 75
    sharp_percentile = 1
    #: Gaussian sigma (px) splitting the sharp vote's texture from its low-pass.
    texture_sigma = 1.0
    #: Distance from the rim (px) over which the texture fades in.
    texture_fade = 3.0
    #: Depth (px from the rim, working size) over which CRA's structure turns from a diffusion
    #: fill into the voted fill.
    rim_depth = 3.0
    #: Most the texture is amplified to reach the detail of the photo around the hole (even
    #: the sharp vote is softer than the photo: it averages a few patches).
    texture_gain_max = 3.0
    #: Mean squared patch error (per pixel and channel) at which the matches lose most trust.
    trust_error = 3e-6
    locality = 0.03
    #: Levels whose hole has more pixels than this (a 512-px photo's holes, even a quarter of
    #: it, have fewer) only refine the doubled matches: one EM iteration, one scan, random
    #: search within ``refine_radius``; the finest level then votes the matches, soft and
    #: sharp, without a scan. On the TUNE photos at 1024 px the metrics are those of the full search (PSNR
    #: 14.90 dB both, edge F1 0.422 vs 0.426, detail 0.59 both) in half the time.
    refine_pixels = 70_000
    refine_radius = 4
    #: PatchMatch scans on a refined level below the finest (the finest only votes).
    refine_scans = 1
    #: Deepest hole distance (px) kept as it is in the vote prior (see :meth:`_vote_prior`).
    prior_depth_max = 250.0
    #: Long side (px) of the copy the structure lines are found on.
    lines_side = 1024
    #: Context (px) around a big hole's bounding box for the colour guard and the texture pass
    #: (:meth:`_window`): the reach of their widest Gaussian (sigma 54 px, truncated at 4 sigma).
    context_px = 224

    def _weights(
        self, cost: np.ndarray, npix: np.float32, percentile: float | None = None
    ) -> tuple[np.float32, np.float32]:
        # Wexler et al.: sigma = 75th percentile of the patch distances of this iteration.
        q = self.sigma_percentile if percentile is None else percentile
        sigma2 = max(float(np.percentile(cost / npix, q)), 1e-6)
        return np.float32(1.0 / (2.0 * sigma2)), npix
