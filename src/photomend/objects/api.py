"""Find people and objects in a photo and turn them into removal masks.

``find_objects`` runs NanoDet (:mod:`photomend.objects.detect`); each person's box is checked
and segmented by the pose model on a crop around it (:mod:`photomend.objects.segment`), every
other class is cut out of its box by GrabCut (:mod:`photomend.objects.regions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from photomend.errors import InputError
from photomend.objects.classes import COCO_CLASSES, parse_classes

#: Default minimum detector score of an instance.
DEFAULT_MIN_SCORE = 0.25
#: Boxes scored between WEAK_FLOOR and min_score are checked by the pose model (at most
#: MAX_WEAK_PEOPLE of them, best first, and none lying mostly inside a kept person's box) and
#: kept when it is WEAK_PRESENCE sure of a person. (Boxes above min_score are not checked:
#: on the development frames the pose model's presence score is low for people half hidden
#: or cut by the frame's edge, and rejecting those lost more people than it saved.)
WEAK_FLOOR = 0.15
MAX_WEAK_PEOPLE, WEAK_PRESENCE = 6, 0.9
#: A person's mask stays within its box grown by this fraction of its size each side.
BOX_PAD = 0.15
#: Person probability above which a pixel belongs to the person.
PERSON_THRESHOLD = 0.3
#: Default growth (px) of :func:`auto_mask`, as a fraction of each person's box height
#: (at least 3 px): segmentation edges, hair and motion blur sit just outside the mask.
DEFAULT_GROW_FRACTION = 0.08


class SelectError(InputError):
    """A --select / --keep point outside the photo."""


@dataclass(frozen=True, eq=False)
class Instance:
    """One object found in a photo.

    Attributes
    ----------
    label : COCO class name ("person", "car", ...).
    score : the detector's confidence, 0-1.
    box : (x0, y0, x1, y1) in pixels of the photo, as given (EXIF-rotated photos: as shown).
    mask : bool HxW at the photo's size, True on the object.
    """

    label: str
    score: float
    box: tuple[float, float, float, float]
    mask: np.ndarray

    def to_dict(self) -> dict:
        """JSON-ready summary (no mask): label, score, box, area in pixels."""
        return {"label": self.label, "score": round(self.score, 4),
                "box": [round(v, 1) for v in self.box], "area": int(self.mask.sum())}


def _as_rgb(image) -> np.ndarray:
    """float32 HxWx3 in [0, 1] from a LoadedImage or an array (grey, RGBA, uint8/16, float)."""
    from photomend.io import LoadedImage, read_image

    if isinstance(image, np.ndarray) and image.dtype == np.float32 and image.ndim == 3 \
            and image.shape[2] == 3:
        return image  # already the convention (read only, never modified)
    if not isinstance(image, LoadedImage):
        image = read_image(image)
    return image.rgb


def find_objects(image, classes: str | Sequence[str] = ("person",), *,
                 min_score: float = DEFAULT_MIN_SCORE) -> list[Instance]:
    """The instances of ``classes`` in ``image``, best first.

    Parameters
    ----------
    image : a :class:`photomend.LoadedImage`, a path, bytes or an array (grey, RGB or RGBA;
        uint8, uint16 or float in [0, 1]). Masks and boxes are in the photo's own orientation
        (EXIF rotation applied, as :func:`photomend.read_image` does).
    classes : COCO class names, a sequence or "person,car"; see
        :data:`photomend.objects.COCO_CLASSES`.
    min_score : detector score below which a box is ignored.

    Raises
    ------
    UnknownClassError (an :class:`photomend.InputError`) for a name not in COCO.

    Examples
    --------
    >>> import numpy as np, photomend
    >>> photomend.find_objects(np.zeros((64, 64, 3), np.uint8))
    []
    """
    names = parse_classes(classes)
    if not 0.0 <= min_score <= 1.0:
        raise InputError(f"min_score must be in [0, 1], got {min_score}")
    return _find(_as_rgb(image), names, min_score)


def _find(rgb: np.ndarray, names: tuple[str, ...], min_score: float,
          at: tuple[float, float] | None = None) -> list[Instance]:
    """:func:`find_objects` on float RGB; with ``at``, only the boxes holding that point."""
    from photomend.objects.detect import detect
    from photomend.objects.regions import grabcut_box
    from photomend.objects.segment import segment_person

    ids = [COCO_CLASSES.index(n) for n in names]
    floor = min(min_score, WEAK_FLOOR) if "person" in names else min_score
    h, w = rgb.shape[:2]
    found: list[Instance] = []
    covered = np.zeros((h, w), bool)  # the boxes of the people kept so far
    weak_left = MAX_WEAK_PEOPLE
    for det in detect(rgb, ids, min_score=floor):
        label = COCO_CLASSES[det.class_id]
        if at is not None and not (det.box[0] <= at[0] <= det.box[2]
                                   and det.box[1] <= at[1] <= det.box[3]):
            continue
        if label == "person":
            weak = det.score < min_score
            if weak:
                if weak_left == 0 or _covered_fraction(covered, det.box) > 0.6:
                    continue
                weak_left -= 1
            pm = segment_person(rgb, det.box)
            if weak and pm.presence < WEAK_PRESENCE:
                continue  # a weak box: kept only when the pose model is sure of a person
            # the segmentation, within both the crop's window and the box grown by BOX_PAD
            bx0, by0, bx1, by1 = _padded(det.box, (h, w), BOX_PAD)
            x0, y0, x1, y1 = pm.window
            wx0, wy0, wx1, wy1 = max(x0, bx0), max(y0, by0), min(x1, bx1), min(y1, by1)
            if wx1 <= wx0 or wy1 <= wy0:
                continue
            part = pm.prob[wy0 - y0:wy1 - y0, wx0 - x0:wx1 - x0] > PERSON_THRESHOLD
            if not part.any():
                continue
            mask = np.zeros((h, w), bool)
            mask[wy0:wy1, wx0:wx1] = part
            cx0, cy0, cx1, cy1 = _padded(det.box, (h, w), 0.0)
            covered[cy0:cy1, cx0:cx1] = True
        else:
            if det.score < min_score:
                continue
            mask = grabcut_box(rgb, det.box)
        score = det.score
        found.append(Instance(label, score, det.box, mask))
    return found


def _part_of(box, whole) -> bool:
    """Whether ``box`` is under a quarter of ``whole``'s area and 40 % or more inside it."""
    w = max(0.0, min(box[2], whole[2]) - max(box[0], whole[0]))
    h = max(0.0, min(box[3], whole[3]) - max(box[1], whole[1]))
    area = max((box[2] - box[0]) * (box[3] - box[1]), 1e-6)
    whole_area = (whole[2] - whole[0]) * (whole[3] - whole[1])
    return area < 0.25 * whole_area and w * h >= 0.4 * area


def _covered_fraction(covered: np.ndarray, box) -> float:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    part = covered[y0:y1, x0:x1]
    return float(part.mean()) if part.size else 1.0


def _padded(box, shape, pad: float) -> tuple[int, int, int, int]:
    """The box grown by ``pad`` x its size each side, in whole pixels within the photo."""
    h, w = shape
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    return (int(max(0, x0 - pad * bw)), int(max(0, y0 - pad * bh)),
            int(min(w, np.ceil(x1 + pad * bw))), int(min(h, np.ceil(y1 + pad * bh))))


def _check_points(points, shape) -> list[tuple[float, float]]:
    h, w = shape
    out = []
    for p in points or ():
        x, y = float(p[0]), float(p[1])
        if not (0 <= x < w and 0 <= y < h):
            raise SelectError(f"point {x:g},{y:g} is outside the {w}x{h} image")
        out.append((x, y))
    return out


def grow_mask(mask: np.ndarray, px: int) -> np.ndarray:
    """``mask`` dilated by a disc of radius ``px`` (a copy).

    >>> m = np.zeros((9, 9), bool); m[4, 4] = True
    >>> int(grow_mask(m, 2).sum()), int(grow_mask(m, 0).sum())
    (17, 1)
    """
    import cv2

    if px <= 0 or not mask.any():
        return mask.copy()
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    y0, y1 = max(0, rows[0] - px), min(h, rows[-1] + px + 1)
    x0, x1 = max(0, cols[0] - px), min(w, cols[-1] + px + 1)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    out = np.zeros_like(mask, dtype=bool)
    # only the mask's bounding box plus the radius: the rest cannot change
    out[y0:y1, x0:x1] = cv2.dilate(mask[y0:y1, x0:x1].astype(np.uint8), k,
                                   borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
    return out


def instance_masks(instances: Sequence[Instance], grow: int | None, shape) -> np.ndarray:
    """Union of the instances' masks, each grown by ``grow`` px (None: by
    DEFAULT_GROW_FRACTION of its box height, at least 3 px)."""
    out = np.zeros(shape, bool)
    for inst in instances:
        px = grow if grow is not None else max(
            3, int(round(DEFAULT_GROW_FRACTION * (inst.box[3] - inst.box[1]))))
        out |= grow_mask(inst.mask, int(px))
    return out


def auto_mask(image, classes: str | Sequence[str] = "person", *, grow: int | None = None,
              min_score: float = DEFAULT_MIN_SCORE, keep: Sequence[tuple[float, float]] = (),
              select: Sequence[tuple[float, float]] = (),
              instances: Sequence[Instance] | None = None) -> np.ndarray:
    """One bool HxW mask, ready for :func:`photomend.remove`: every instance of ``classes``,
    except those under a ``keep`` point (x, y) and the small ones lying largely on them, plus the object under each ``select`` point
    (see :func:`select_mask`). ``grow`` widens each instance's mask by that many px (default:
    8 % of its height). ``classes`` may be empty when only ``select`` is used.

    >>> import numpy as np
    >>> int(auto_mask(np.zeros((32, 32, 3), np.float32)).sum())
    0
    """
    rgb = _as_rgb(image)
    shape = rgb.shape[:2]
    keep = _check_points(keep, shape)
    select = _check_points(select, shape)
    if instances is None:
        instances = find_objects(rgb, classes, min_score=min_score) if classes else []
    kept = [i for i in instances if any(i.mask[int(y), int(x)] for x, y in keep)]
    # a small box lying largely on a kept one (his hand, her bag) goes with it
    kept += [i for i in instances if any(_part_of(i.box, k.box) for k in kept)]
    chosen = [i for i in instances if not any(i is k for k in kept)]
    mask = instance_masks(chosen, grow, shape)
    for point in select:
        mask |= grow_mask(select_mask(rgb, point, instances=instances),
                          2 if grow is None else int(grow))
    return mask


def select_mask(image, point: tuple[float, float], *,
                instances: Sequence[Instance] | None = None) -> np.ndarray:
    """Bool HxW mask of the object under ``point`` (x, y): the smallest instance (of any COCO
    class, or of ``instances`` already found) whose mask holds the point, else a region grown
    from the point that stops at edges and leaves out the instances found.

    Raises SelectError when the point is outside the image.
    """
    rgb = _as_rgb(image)
    (x, y), = _check_points([point], rgb.shape[:2])
    found = _find(rgb, COCO_CLASSES, DEFAULT_MIN_SCORE, at=(x, y))
    instances = list(instances or ()) + found
    hits = [i for i in instances if i.mask[int(y), int(x)]]
    if hits:
        return min(hits, key=lambda i: int(i.mask.sum())).mask.copy()
    from photomend.objects.regions import grow_from_point

    region = grow_from_point(rgb, (x, y))
    for inst in instances:
        region &= ~inst.mask
    return region
