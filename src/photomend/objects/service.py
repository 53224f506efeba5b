"""``POST /v1/objects``: the server operation that finds people and objects (see
:mod:`photomend.server.ops` for what an operation is).

Outputs: ``instances`` (JSON: label, score, box, area and the name of each instance's mask
output), ``mask`` (the union of the instances' masks, grown as ``auto_mask`` grows them, as
a PNG layer: white and opaque = remove) and ``mask_0``, ``mask_1``, ... (each instance's own mask).
"""

from __future__ import annotations

import json

import numpy as np
from pydantic import Field

from photomend.engines import ProgressFn
from photomend.io import LoadedImage, encode_image, read_image
from photomend.server.ops import Operation, Options, Outputs

#: At most this many per-instance mask outputs.
MAX_INSTANCE_MASKS = 50


class ObjectsOptions(Options):
    classes: str = Field("person", description="comma-separated COCO class names, or 'all'")
    min_score: float = Field(0.25, ge=0.0, le=1.0, description="detector confidence needed")
    grow: int | None = Field(None, ge=0, le=512, description="px added around each mask "
                             "(default: 8 % of each person's height)")


def _classes(opts: ObjectsOptions):
    from photomend.objects.classes import COCO_CLASSES, parse_classes

    return COCO_CLASSES if opts.classes.strip().lower() == "all" else parse_classes(opts.classes)


def _check(files: dict[str, bytes], opts: ObjectsOptions, max_pixels: int) -> None:
    _classes(opts)
    read_image(files["image"], max_pixels=max_pixels)


def _png_mask(mask: np.ndarray) -> tuple[bytes, str, str]:
    """A PNG layer: white and opaque where True, transparent elsewhere (as restore's masks:
    :func:`photomend.io.read_mask` reads back the same mask from its colour or its alpha)."""
    m = mask.astype(np.float32)
    layer = LoadedImage(np.repeat(m[:, :, None], 3, axis=2), alpha=m)
    return encode_image(layer, "PNG"), "image/png", ".png"


def _run(files: dict[str, bytes], opts: ObjectsOptions, max_pixels: int,
         progress: ProgressFn) -> Outputs:
    from photomend.objects.api import find_objects, instance_masks

    loaded = read_image(files["image"], max_pixels=max_pixels)
    found = find_objects(loaded, _classes(opts), min_score=opts.min_score)
    width, height = loaded.size
    listing = []
    outputs: Outputs = {}
    for k, inst in enumerate(found):
        row = inst.to_dict()
        if k < MAX_INSTANCE_MASKS:
            row["mask"] = f"mask_{k}"
        listing.append(row)
    body = json.dumps({"width": width, "height": height, "instances": listing}).encode()
    outputs["instances"] = (body, "application/json", ".json")
    outputs["mask"] = _png_mask(instance_masks(found, opts.grow, loaded.rgb.shape[:2]))
    for k, inst in enumerate(found[:MAX_INSTANCE_MASKS]):
        outputs[f"mask_{k}"] = _png_mask(inst.mask)
    return outputs


OBJECTS = Operation(
    name="objects",
    summary="Find people and COCO objects: their boxes (JSON) and masks (PNGs).",
    options=ObjectsOptions,
    files={"image": True},
    check=_check,
    run=_run,
)

