"""The operation table of the batch runner: each step name maps to a call of a library verb.

Every operation takes a :class:`~photomend.io.LoadedImage` (float32 RGB + alpha + metadata) and
returns one, so steps chain (restore -> colorize -> upscale) and metadata survives. A step may
also name any importable function, ``"package.module:function"``, called as
``function(image: LoadedImage, *, mask, hints, **options) -> LoadedImage | ndarray``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

import photomend
from photomend.errors import InputError
from photomend.io import LoadedImage, read_image, read_mask


@dataclass(frozen=True)
class Operation:
    """A batch step: which verb it calls and what it needs besides the photo."""

    name: str
    apply: Callable[..., LoadedImage]  # (image, *, mask, hints, max_pixels, **options)
    verb: str | None = None            # photomend.<verb> must exist for the step to be usable
    needs_mask: bool = False
    uses_hints: bool = False
    #: keyword options the step passes through to its verb, or None to accept the verb's own
    options: tuple[str, ...] | None = None
    #: ``check(options)``: raise InputError (e.g. missing weights) before any work
    check: Callable[[Mapping[str, Any]], None] | None = None


def _remove(image: LoadedImage, *, mask: str | None, hints: str | None,
            max_pixels: int | None, resize_mask: bool = False, **options: Any) -> LoadedImage:
    from photomend.removal import remove_array

    if mask is None:
        raise InputError("remove needs a mask")
    hole = read_mask(mask, size=image.size, resize=resize_mask, max_pixels=max_pixels)
    if not hole.any():
        return image  # an empty mask is not an error: written unchanged, as `photomend remove`
    return image.with_rgb(remove_array(image.rgb, hole, **options))


def _remove_auto(image: LoadedImage, **kwargs: Any) -> LoadedImage:
    from photomend.objects.batch_step import remove_auto_step

    return remove_auto_step(image, **kwargs)


def _restore(image: LoadedImage, *, mask: str | None, hints: str | None,
             max_pixels: int | None, **options: Any) -> LoadedImage:
    if mask is not None and "extra_mask" not in options:
        options["extra_mask"] = read_mask(mask, size=image.size, resize=True,
                                          max_pixels=max_pixels)
    result = photomend.restore(image.rgb, max_pixels=max_pixels, **options)
    return with_pixels(image, getattr(result, "image", result))


def _colorize(image: LoadedImage, *, mask: str | None, hints: str | None,
              max_pixels: int | None, **options: Any) -> LoadedImage:
    if hints is not None and "hints" not in options:
        options["hints"] = hints
    return with_pixels(image, photomend.colorize(image.rgb, max_pixels=max_pixels, **options))


def _upscale(image: LoadedImage, *, mask: str | None, hints: str | None,
             max_pixels: int | None, **options: Any) -> LoadedImage:
    return with_pixels(image, photomend.upscale(image.rgb, max_pixels=max_pixels, **options))


#: The face step's options (see :func:`photomend.faces.methods.apply_faces`).
FACE_OPTIONS = ("method", "strength", "steps", "eps", "seed")


def _check_faces(options: Mapping[str, Any]) -> None:
    from photomend.faces.methods import check_faces

    check_faces(**{"method": "gfpgan", **{k: v for k, v in options.items() if k != "seed"}})


def _faces(image: LoadedImage, *, mask: str | None, hints: str | None,
           max_pixels: int | None, **options: Any) -> LoadedImage:
    from photomend.faces.methods import apply_faces

    done = apply_faces(image.rgb, **{"method": "gfpgan", **options})
    return image.with_rgb(done.rgb) if done.summary["faces"] else image


def _check_restore(options: Mapping[str, Any]) -> None:
    """A detector whose model is not installed: refused before any photo (with the command)."""
    if "detector" in options:
        from photomend.restoration.detect import check_detector_ready

        check_detector_ready(options["detector"])


def _video_only(image: LoadedImage, **_: Any) -> LoadedImage:
    raise InputError("upscale_video and remove_video work on videos: a job with one reads the "
                     "videos of its input folder or manifest (photomend.batch.video)")


#: Step name -> operation. ``remove`` takes the options of :func:`photomend.removal.remove_array`
#: plus ``resize_mask``; the others those of their verb.
OPERATIONS: dict[str, Operation] = {
    "remove": Operation("remove", _remove, needs_mask=True,
                        options=("engine", "hd_strategy", "working_size", "seed", "resize_mask")),
    "restore": Operation("restore", _restore, verb="restore", check=_check_restore),
    "colorize": Operation("colorize", _colorize, verb="colorize", uses_hints=True),
    "upscale": Operation("upscale", _upscale, verb="upscale"),
    # videos cut into segments, run by the workers and joined (photomend.batch.video): the
    # options of photomend.video.upscale_video (scale, model) plus segment, crf, preset
    "upscale_video": Operation("upscale_video", _video_only),
    # the same for photomend.video_removal.remove_video: mask or mask_dir, resize_mask, engine,
    # camera, radius, seed (photomend.video_removal.segment.remove_range)
    "remove_video": Operation("remove_video", _video_only),
    # every face restored by GFPGAN (method="gfpgan", strength) or replaced by PULSE's
    # (method="pulse", steps, eps, seed): after restore or upscale in a chain
    "faces": Operation("faces", _faces, options=FACE_OPTIONS, check=_check_faces),
    # remove --auto: people (or other COCO classes) found and removed, no mask needed
    "remove_auto": Operation(
        "remove_auto", lambda image, **kw: _remove_auto(image, **kw), verb="auto_mask",
        options=("auto", "grow", "min_score", "keep", "engine", "hd_strategy", "working_size",
                 "seed")),
}

_NOT_OPTIONS = {"image", "progress", "max_pixels", "rgb", "mask"}


def resolve(op: str) -> Operation:
    """The :class:`Operation` for a step name or ``"module:function"``; InputError otherwise."""
    if op in OPERATIONS:
        operation = OPERATIONS[op]
        if operation.verb is not None and not hasattr(photomend, operation.verb):
            raise InputError(f"operation {op!r} needs photomend.{operation.verb}, which this "
                             "installation does not have")
        return operation
    if ":" in op:
        module, _, name = op.partition(":")
        try:
            func = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise InputError(f"cannot import step {op!r}: {exc}") from None
        return Operation(op, _custom(func))
    known = ", ".join(name for name in OPERATIONS if _available(name))
    raise InputError(f"unknown operation {op!r}; available: {known}, or 'package.module:function'")


def available_operations() -> list[str]:
    """The built-in step names usable in this installation."""
    return [name for name in OPERATIONS if _available(name)]


def check_options(op: Operation, options: Mapping[str, Any]) -> None:
    """Raise InputError for an option the step's verb does not take (before any work)."""
    allowed = op.options
    if allowed is None and op.verb is not None:
        params = inspect.signature(getattr(photomend, op.verb)).parameters
        allowed = tuple(n for n, p in params.items()
                        if n not in _NOT_OPTIONS and p.kind is not inspect.Parameter.VAR_POSITIONAL)
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return
    if allowed is None:
        return
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InputError(f"step {op.name!r} has no option(s) {', '.join(unknown)}; it takes "
                         f"{', '.join(allowed) or 'none'}")
    if op.check is not None:
        op.check(options)


def with_pixels(image: LoadedImage, rgb: Any) -> LoadedImage:
    """``image`` with new float RGB pixels; a carried alpha channel is resized to match."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.float32:
        rgb = read_image(rgb).rgb  # an integer array from a verb: back to the convention
    alpha = image.alpha
    if alpha is not None and alpha.shape != rgb.shape[:2]:
        size = (rgb.shape[1], rgb.shape[0])
        alpha = np.clip(cv2.resize(alpha, size, interpolation=cv2.INTER_CUBIC), 0, 1)
        return LoadedImage(rgb.astype(np.float32), alpha.astype(np.float32), image.bit_depth,
                           image.icc_profile, image.exif, image.format, image.path)
    return image.with_rgb(rgb)


def _custom(func: Callable[..., Any]) -> Callable[..., LoadedImage]:
    def apply(image: LoadedImage, *, mask: str | None, hints: str | None,
              max_pixels: int | None, **options: Any) -> LoadedImage:
        out = func(image, mask=mask, hints=hints, **options)
        return out if isinstance(out, LoadedImage) else with_pixels(image, out)

    return apply


def _available(name: str) -> bool:
    verb = OPERATIONS[name].verb
    return verb is None or hasattr(photomend, verb)
