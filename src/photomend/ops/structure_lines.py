"""Structure first (Sun et al. 2005, structure propagation): the straight lines that enter a hole,
which of them continue through it, and a guidance map that makes the patch search follow them.

1. :func:`find_segments`: line segments of the photo (LSD, Grompone von Gioi et al.) on a copy
   whose hole is diffusion-filled, so the hole's own border is not taken for a line.
2. :func:`complete_lines`: every segment that ends at the hole and points into it is a *ray*.
   Two rays that lie on one line from opposite sides are *joined* straight through the hole (a
   floor slab, a window sill, the edge of a box); two rays whose lines cross inside the hole meet
   at that corner. A ray with no partner stops at the hole: a line whose continuation nobody can
   see is as often an object's edge as a structure.
3. :func:`guidance`: a two-channel map, per pixel the orientation (cos 2θ, sin 2θ) of the lines
   through it, with a Gaussian profile across each line. Outside the hole it draws the photo's
   segments that the completed lines continue; inside, the completed lines. Appended to the image as extra channels of
   the patch distance, it makes a hole patch on a completed line look for a source patch with a
   line of the same direction at the same place, and a hole patch off every line look for a
   source off them. Only the continued segments are drawn outside: drawn everywhere, the
   segments of a busy façade would leave the sky as the only line-free source, and a hole
   patch off every line would copy it (measured on a training photo: a sky-blue blob).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Shortest segment (px at the engine's working level) that counts: shorter ones are texture.
MIN_LENGTH = 12.0
#: A ray's end may stop this far (px) short of the hole: LSD ends segments a little early.
REACH = 6.0
#: Two rays are joined when their directions differ by at most this (degrees) and each one's
#: end lies within ``JOIN_OFFSET`` px (or ``JOIN_SLOPE`` of the gap) of the other's line.
JOIN_ANGLE = 6.0
JOIN_OFFSET = 2.0
JOIN_SLOPE = 0.04
#: Rays whose lines cross inside the hole at an angle of at least this (degrees) meet there,
#: if each line is extrapolated by no more than its own visible length, and is at least
#: ``CORNER_LENGTH`` px long (a corner guessed from two short strokes is usually texture).
CORNER_ANGLE = 25.0
CORNER_LENGTH = 24.0
#: Profile of a line across its direction in the guidance map (Gaussian sigma, px).
LINE_SIGMA = 1.0


@dataclass(frozen=True)
class Ray:
    """A segment's end ``end`` (x, y) at the hole, pointing into it along ``u`` (unit vector);
    the line crosses the hole from ``t_in`` to ``t_out`` px ahead of ``end``."""

    segment: int
    length: float
    end: np.ndarray
    u: np.ndarray
    t_in: float
    t_out: float


def find_segments(grey: np.ndarray, hole: np.ndarray, *, min_length: float = MIN_LENGTH) -> np.ndarray:
    """Line segments (N x 4 float32: x0, y0, x1, y1) of ``grey`` (float32 HxW in [0, 1]) that lie
    outside ``hole``; a segment running into the hole is cut where it reaches it."""
    u8 = np.clip(grey * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if hole.any():
        u8 = cv2.inpaint(u8, hole.astype(np.uint8), 3, cv2.INPAINT_TELEA)
    found = cv2.createLineSegmentDetector(cv2.LSD_REFINE_STD).detect(u8)[0]
    if found is None:
        return np.zeros((0, 4), np.float32)
    clear = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, 3) >= 1.5
    return _clear_parts(found.reshape(-1, 4), clear, min_length)


def _clear_parts(found: np.ndarray, clear: np.ndarray, min_length: float) -> np.ndarray:
    """Of each segment (N x 4 float32) at least ``min_length`` px long, the longest run of its
    pixels (one per px, as ``np.linspace`` spaces them) on ``clear``, kept where that run is at
    least ``min_length`` long; all segments at once (a loop over the 1,000-2,000 segments of a
    photo cost 0.1 s of a 4K removal).

    >>> clear = np.ones((10, 40), bool); clear[:, 20:24] = False
    >>> _clear_parts(np.float32([[2, 5, 37, 5], [2, 2, 5, 2]]), clear, 10.0).round(1).tolist()
    [[2.0, 5.0, 19.0, 5.0]]
    """
    h, w = clear.shape
    x0, y0, x1, y1 = (found[:, i] for i in range(4))
    dx, dy = x1 - x0, y1 - y0
    n = np.hypot(dx, dy).astype(np.int64) + 1
    keep = np.flatnonzero(n >= min_length)
    if not len(keep):
        return np.zeros((0, 4), np.float32)
    n = n[keep]
    seg = np.repeat(np.arange(len(keep)), n)  # (each sample's segment, among the kept)
    first = np.concatenate([[0], np.cumsum(n)[:-1]])
    k = np.arange(len(seg)) - first[seg]  # (its index along the segment)
    step = 1.0 / np.maximum(n - 1, 1).astype(np.float64)
    t = k * step[seg]  # (np.linspace(0, 1, n), bit for bit)
    t[(first + n - 1)[n > 1]] = 1.0
    ox, oy, ex, ey = x0[keep][seg], y0[keep][seg], dx[keep][seg], dy[keep][seg]
    xs = np.clip(np.rint(ox + t * ex).astype(int), 0, w - 1)
    ys = np.clip(np.rint(oy + t * ey).astype(int), 0, h - 1)
    ok = clear[ys, xs]
    # Runs of True that do not cross from one segment into the next.
    starts_new = ok & ~np.concatenate([[False], ok[:-1]])
    starts_new[first] = ok[first]
    ends = ok & ~np.concatenate([ok[1:], [False]])
    ends[first + n - 1] = ok[first + n - 1]
    run_a, run_b = np.flatnonzero(starts_new), np.flatnonzero(ends) + 1
    if not len(run_a):
        return np.zeros((0, 4), np.float32)
    run_seg, length = seg[run_a], run_b - run_a
    # Per segment the first of its longest runs: sort by segment, longest first, then start.
    order = np.lexsort((run_a, -length, run_seg))
    best = order[np.concatenate([[True], run_seg[order][1:] != run_seg[order][:-1]])]
    best = best[length[best] >= min_length]
    a, b = run_a[best], run_b[best] - 1
    j = keep[run_seg[best]]
    ta, tb = t[a], t[b]
    return np.stack([x0[j] + ta * dx[j], y0[j] + ta * dy[j],
                     x0[j] + tb * dx[j], y0[j] + tb * dy[j]], axis=1).astype(np.float32)


def rays(segments: np.ndarray, hole: np.ndarray) -> list[Ray]:
    """The segment ends that point into the hole within :data:`REACH` px, with where their
    line enters and leaves it (a line that runs out of the image inside the hole never leaves).

    Every end is marched at once, in steps of 0.5 px from 1 px ahead (a Python loop over the
    steps of thousands of ends cost 0.3-0.8 s of a 4K removal): first as far as the hole may
    start, then, for the ends that entered it, until the line leaves the hole or the image.

    >>> hole = np.zeros((20, 40), bool); hole[:, 20:30] = True
    >>> [(r.segment, float(r.t_in), float(r.t_out)) for r in rays(np.array([[5, 10, 17, 10]]), hole)]
    [(0, 2.5, 12.5)]
    """
    h, w = hole.shape
    seg = np.asarray(segments, np.float64).reshape(-1, 4)
    if not len(seg):
        return []
    # Ray 2i runs on from (x1, y1), ray 2i + 1 from (x0, y0): the order of the loop it replaced.
    ends = seg[:, [2, 3, 0, 1]].reshape(-1, 2)
    others = seg[:, [0, 1, 2, 3]].reshape(-1, 2)
    u = ends - others
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    steps = int((REACH - 1.0) // 0.5) + 2  # t = 1 .. the first step beyond REACH
    entered, t_in, i_in = _march(ends, u, hole, 1.0, steps, entering=True)
    out = []
    if entered.any():
        idx = np.flatnonzero(entered)
        far = 2 * (h + w) + 4  # enough steps to leave any image
        _, t_end, _ = _march(ends[idx], u[idx], hole, t_in[idx] + 0.5, far, entering=False)
        lengths = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])
        for j, r in enumerate(idx):
            out.append(Ray(int(r // 2), float(lengths[r // 2]), ends[r].copy(), u[r].copy(),
                           float(t_in[r]), float(t_end[j])))
    return out


def _march(ends, u, hole, t0, steps: int, *, entering: bool):
    """Walk rays from ``t0`` in 0.5 px steps; a step outside the image ends the walk. With
    ``entering``: (found, t, index) of the first step in the hole; else of the first step out
    of the hole or of the image (the walk ends there either way)."""
    h, w = hole.shape
    t0 = np.broadcast_to(np.asarray(t0, np.float64), (len(ends),))
    ts = t0[:, None] + 0.5 * np.arange(steps)[None, :]
    xs = np.rint(ends[:, :1] + ts * u[:, :1]).astype(np.int64)
    ys = np.rint(ends[:, 1:] + ts * u[:, 1:]).astype(np.int64)
    inside = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    in_hole = inside & hole[np.clip(ys, 0, h - 1), np.clip(xs, 0, w - 1)]
    if entering:
        alive = np.cumprod(inside, axis=1).astype(bool)  # before the walk left the image
        hit = in_hole & alive
    else:
        hit = ~in_hole  # out of the hole, or out of the image
    found = hit.any(axis=1)
    first = np.argmax(hit, axis=1)
    return found, ts[np.arange(len(ends)), first], first


def complete_lines(segments: np.ndarray, hole: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The lines drawn through the hole: polylines (K x 2 float, x, y) from one ray's end to its
    partner's, straight for joined rays and through the corner for rays that meet; and the
    segments they continue (the rows of ``segments`` used).

    >>> hole = np.zeros((64, 96), bool); hole[20:44, 40:56] = True
    >>> segs = np.array([[5, 32, 36, 32], [90, 32, 60, 32]], np.float32)  # one line, cut
    >>> lines, used = complete_lines(segs, hole)
    >>> [p.round().tolist() for p in lines], used.tolist()
    ([[[36.0, 32.0], [60.0, 32.0]]], [[5.0, 32.0, 36.0, 32.0], [90.0, 32.0, 60.0, 32.0]])
    """
    rs = rays(segments, hole)
    pairs = []
    cos_join = np.cos(np.radians(JOIN_ANGLE))
    for a in range(len(rs)):
        for b in range(a + 1, len(rs)):
            ra, rb = rs[a], rs[b]
            if ra.segment == rb.segment or float(ra.u @ rb.u) > -cos_join:
                continue
            gap = rb.end - ra.end
            along = float(gap @ ra.u)
            if along <= ra.t_in:
                continue  # b must lie ahead of a, across the hole
            tol = max(JOIN_OFFSET, JOIN_SLOPE * along)
            off_a = abs(_cross(ra.u, gap))
            off_b = abs(_cross(rb.u, -gap))
            if off_a <= tol and off_b <= tol:
                pairs.append(((off_a + off_b) / tol, a, b, None))
    sin_corner = np.sin(np.radians(CORNER_ANGLE))
    h, w = hole.shape
    for a in range(len(rs)):
        for b in range(a + 1, len(rs)):
            ra, rb = rs[a], rs[b]
            s = _cross(ra.u, rb.u)
            if (ra.segment == rb.segment or abs(s) < sin_corner
                    or min(ra.length, rb.length) < CORNER_LENGTH):
                continue
            gap = rb.end - ra.end
            ta, tb = _cross(gap, rb.u) / s, _cross(gap, ra.u) / s
            if not (ra.t_in <= ta <= min(ra.t_out, ra.t_in + ra.length)
                    and rb.t_in <= tb <= min(rb.t_out, rb.t_in + rb.length)):
                continue
            x = ra.end + ta * ra.u
            if not hole[min(h - 1, int(round(x[1]))), min(w - 1, int(round(x[0])))]:
                continue
            # Corners rank after every straight join: a joined line is the stronger evidence.
            pairs.append((1.0 + (ta + tb) / max(h, w), a, b, x))
    used: set[int] = set()
    lines = []
    for _, a, b, corner in sorted(pairs, key=lambda p: p[0]):
        if a in used or b in used:
            continue
        used.update((a, b))
        pts = [rs[a].end] + ([] if corner is None else [corner]) + [rs[b].end]
        lines.append(np.asarray(pts, np.float64))
    rows = sorted({rs[i].segment for i in used})
    return lines, segments[rows].reshape(-1, 4)


def _cross(a: np.ndarray, b: np.ndarray) -> float:
    return float(a[0] * b[1] - a[1] * b[0])


def guidance(
    shape: tuple[int, int], segments: np.ndarray, lines: list[np.ndarray], hole: np.ndarray,
    *, scale: float = 1.0, bins: int = 8,
) -> np.ndarray:
    """Float32 HxWx2 orientation map (see the module docstring) at ``shape``, for segments and
    lines given at a resolution ``scale`` times larger (a coarser pyramid level: 0.5, 0.25...).
    Segments are drawn outside ``hole`` (at ``shape``), completed lines everywhere.

    >>> g = guidance((32, 32), np.array([[2, 16, 30, 16]], np.float32), [], np.zeros((32, 32), bool))
    >>> round(float(g[16, 16, 0]), 2), round(float(g[16, 16, 1]), 2), float(g[4, 16, 0])
    (1.0, 0.0, 0.0)
    """
    h, w = shape
    segs = np.zeros((bins, h, w), np.uint8)
    for x0, y0, x1, y1 in np.asarray(segments, np.float64).reshape(-1, 4):
        _draw(segs, np.array([x0, y0]), np.array([x1, y1]), scale, bins)
    drawn = np.zeros((bins, h, w), np.uint8)
    for pts in lines:
        for p, q in zip(pts[:-1], pts[1:]):
            _draw(drawn, np.asarray(p, np.float64), np.asarray(q, np.float64), scale, bins)
    segs[:, hole] = 0
    canvases = np.maximum(segs, drawn).astype(np.float32) / 255.0
    angles = (np.arange(bins) + 0.0) * np.pi / bins
    out = np.stack([np.tensordot(np.cos(2 * angles), canvases, 1),
                    np.tensordot(np.sin(2 * angles), canvases, 1)], axis=2).astype(np.float32)
    # An anti-aliased line blurred by sigma peaks at about 1 / (sqrt(2 pi) sigma) of its ink:
    # scale the peak to 1 or a little more, and clip (crossing lines would add up).
    out = cv2.GaussianBlur(out, (0, 0), LINE_SIGMA) * np.float32(np.sqrt(2 * np.pi) * LINE_SIGMA)
    return np.clip(out, -1.0, 1.0)


def _draw(canvases: np.ndarray, p: np.ndarray, q: np.ndarray, scale: float, bins: int) -> None:
    """Draw segment p-q (scaled) anti-aliased into the canvas of its orientation bin."""
    theta = np.arctan2(q[1] - p[1], q[0] - p[0]) % np.pi
    b = int(theta / np.pi * bins + 0.5) % bins
    cv2.line(canvases[b], _fixed(p * scale), _fixed(q * scale), 255, 1, cv2.LINE_AA, shift=4)


def _fixed(p: np.ndarray) -> tuple[int, int]:
    """A point in OpenCV's 4-bit fixed point (``shift=4``)."""
    return int(round(p[0] * 16)), int(round(p[1] * 16))
