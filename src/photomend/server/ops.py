"""What the server can run: one :class:`Operation` per library verb.

An operation names its uploaded parts and its options (a pydantic model, which also documents
the route in the OpenAPI schema), a ``check`` run when the request arrives (decode everything,
so a broken upload is a 4xx answer rather than a failed job) and a ``run`` executed by a worker:
decode with :func:`photomend.io.read_image`, call the library verb, encode with
:func:`photomend.io.encode_image`. There is no image logic here beyond that.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from photomend.api import check_engine
from photomend.engines import ProgressFn
import numpy as np

from photomend.errors import ColorizeError, InputError, MaskError
from photomend.hd import STRATEGIES
from photomend.io import DEFAULT_PNG_COMPRESSION, encode_image, read_image, read_mask
from photomend.removal import DEFAULT_ENGINE, DEFAULT_HD_STRATEGY, remove_array
from photomend.restoration.detect import DEFAULT_DETECTOR

#: Output format name (the ``format`` option) -> (encoder name, media type, file suffix).
OUTPUT_FORMATS = {
    "png": ("PNG", "image/png", ".png"),
    "jpeg": ("JPEG", "image/jpeg", ".jpg"),
    "webp": ("WEBP", "image/webp", ".webp"),
    "tiff": ("TIFF", "image/tiff", ".tif"),
}
OutputFormat = Literal["png", "jpeg", "webp", "tiff"]

#: A worker's answer: output name -> (encoded bytes, media type, suffix); "image" comes first.
Outputs = dict[str, tuple[bytes, str, str]]


def sniff_format(data: bytes) -> str | None:
    """The upload's format from its first bytes ('JPEG', 'PNG', 'WEBP', 'TIFF') or None.

    >>> sniff_format(b"\\x89PNG\\r\\n\\x1a\\n...."), sniff_format(b"GIF89a")
    ('PNG', None)
    """
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    return None


class Options(BaseModel):
    """Options every operation takes: how the result is encoded."""

    model_config = ConfigDict(extra="forbid")

    format: OutputFormat = Field("png", description="encoding of the result")
    quality: int = Field(95, ge=1, le=100, description="JPEG/WebP quality")
    compression: int = Field(
        DEFAULT_PNG_COMPRESSION, ge=0, le=9,
        description="PNG compression: 1 fastest (default), 9 smallest, 0 none; TIFF: 0 "
        "uncompressed, else LZW")


class RemoveOptions(Options):
    engine: str = Field(DEFAULT_ENGINE, description="inpainting engine, see GET /v1/engines")
    hd_strategy: Literal[STRATEGIES] = Field(  # type: ignore[valid-type]
        DEFAULT_HD_STRATEGY, description="how large photos are handled")
    working_size: int = Field(512, ge=32, le=8192, description="long side for resize/cra")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="seed of randomised engines")
    auto: str | None = Field(None, description="also remove every instance of these COCO "
                             "classes, e.g. 'person' or 'person,car' (the mask is then optional)")


class FaceOptions(BaseModel):
    """The face step of restore and upscale (see GET /v1/faces)."""

    face_strength: float = Field(1.0, ge=0, le=1, description="gfpgan: blend of the restored "
                                 "face with the input face (1: GFPGAN's face)")


def _check_faces(opts, method: str | None) -> None:
    if method is None:
        return
    from photomend.faces.methods import check_faces

    check_faces(method, strength=opts.face_strength, steps=getattr(opts, "face_steps", 100))


def _apply_faces(loaded, result, opts, method: str | None, progress: ProgressFn, outputs):
    """``result`` (a LoadedImage) with the faces of ``loaded`` restored or replaced; adds the
    'faces' JSON output (what was found and done)."""
    if method is None:
        return result
    import json

    from photomend.faces.methods import apply_faces

    done = apply_faces(_float_rgb(loaded.rgb), _float_rgb(result.rgb), method=method, strength=opts.face_strength,
                       steps=getattr(opts, "face_steps", 100),
                       seed=getattr(opts, "face_seed", None), progress=progress)
    outputs["faces"] = (json.dumps(done.summary).encode(), "application/json", ".json")
    return result.with_rgb(done.rgb) if done.summary["faces"] else result


def _float_rgb(rgb: np.ndarray) -> np.ndarray:
    if rgb.dtype.kind in "ui":
        return rgb.astype(np.float32) / np.float32(np.iinfo(rgb.dtype).max)
    return rgb


@dataclass(frozen=True)
class Operation:
    """One verb the server offers as ``POST /v1/<name>``."""

    name: str
    summary: str
    options: type[Options]
    #: Uploaded parts: name -> required?
    files: dict[str, bool]
    #: ``check(files, options, max_pixels)``: raise InputError for unusable input.
    check: Callable[[dict[str, bytes], Any, int], None]
    #: ``run(files, options, max_pixels, progress) -> Outputs``, in a worker.
    run: Callable[[dict[str, bytes], Any, int, ProgressFn], Outputs]


def _encode(loaded, options: Options) -> tuple[bytes, str, str]:
    fmt, media, suffix = OUTPUT_FORMATS[options.format]
    data = encode_image(loaded, fmt, quality=options.quality, compression=options.compression)
    return data, media, suffix


# --- remove ---------------------------------------------------------------------------------


def _check_remove(files: dict[str, bytes], opts: RemoveOptions, max_pixels: int) -> None:
    check_engine(opts.engine)
    if opts.auto:
        from photomend.objects.classes import parse_classes

        parse_classes(opts.auto)
    elif "mask" not in files:
        raise InputError("send a 'mask' part, or set 'auto' (e.g. auto=person)")
    loaded = read_image(files["image"], max_pixels=max_pixels)
    if "mask" not in files:
        return
    hole = read_mask(files["mask"], size=loaded.size, max_pixels=max_pixels)
    if hole.all():
        raise MaskError("the mask covers the whole image: there is nothing left to copy from")


def _run_remove(files: dict[str, bytes], opts: RemoveOptions, max_pixels: int,
                progress: ProgressFn) -> Outputs:
    loaded = read_image(files["image"], max_pixels=max_pixels)
    if "mask" in files:
        hole = read_mask(files["mask"], size=loaded.size, max_pixels=max_pixels)
    else:
        hole = np.zeros(loaded.rgb.shape[:2], bool)
    if opts.auto:
        from photomend.objects.api import auto_mask

        hole = hole | auto_mask(loaded, opts.auto)
    rgb = remove_array(loaded.rgb, hole, engine=opts.engine, hd_strategy=opts.hd_strategy,
                       working_size=opts.working_size, seed=opts.seed, progress=progress,
                       in_place=True)  # (the photo decoded for this request)
    return {"image": _encode(loaded.with_rgb(rgb), opts)}


REMOVE = Operation(
    name="remove",
    summary="Remove what the mask marks (any non-zero pixel or alpha) and fill the hole.",
    options=RemoveOptions,
    files={"image": True, "mask": False},
    check=_check_remove,
    run=_run_remove,
)


# --- upscale --------------------------------------------------------------------------------


class UpscaleOptions(Options, FaceOptions):
    scale: int = Field(2, ge=1, le=8, description="the factor: 2, 3, 4 (8 for some models)")
    model: str | None = Field(None, description="upscaler, see GET /v1/upscalers "
                              "(default: the bundled compact network)")
    faces: Literal["gfpgan", "pulse"] | None = Field(
        None, description="also restore each face (gfpgan) or replace it by one PULSE invents "
        "in StyleGAN (pulse: not the person's identity; minutes a face); adds the 'faces' "
        "JSON output. See GET /v1/faces")
    face_steps: int = Field(100, ge=1, le=1000, description="pulse: optimisation steps a face")
    face_seed: int | None = Field(None, ge=0, le=2**31 - 1, description="pulse: random seed")


def _upscale_model(opts: UpscaleOptions) -> str:
    from photomend.upscaling.api import DEFAULT_UPSCALER

    return opts.model or DEFAULT_UPSCALER


def _check_upscale(files: dict[str, bytes], opts: UpscaleOptions, max_pixels: int) -> None:
    from photomend.upscaling.api import check_output_size, check_upscaler

    check_upscaler(_upscale_model(opts), opts.scale)
    _check_faces(opts, opts.faces)
    loaded = read_image(files["image"], max_pixels=max_pixels)
    check_output_size(loaded.size, opts.scale, max_pixels)


def _run_upscale(files: dict[str, bytes], opts: UpscaleOptions, max_pixels: int,
                 progress: ProgressFn) -> Outputs:
    from photomend.upscaling.api import check_output_size, upscale_loaded

    loaded = read_image(files["image"], max_pixels=max_pixels)
    check_output_size(loaded.size, opts.scale, max_pixels)
    result = upscale_loaded(loaded, opts.scale, model=_upscale_model(opts), progress=progress)
    extra: Outputs = {}
    result = _apply_faces(loaded, result, opts, opts.faces, progress, extra)
    return {"image": _encode(result, opts), **extra}


UPSCALE = Operation(
    name="upscale",
    summary="Upscale the image by an integer factor (super-resolution). With 'faces', the "
    "faces are also restored or replaced and a 'faces' JSON output says what was done.",
    options=UpscaleOptions,
    files={"image": True},
    check=_check_upscale,
    run=_run_upscale,
)


# --- restore --------------------------------------------------------------------------------


class RestoreOptions(Options, FaceOptions):
    detector: Literal["learned", "classical", "bopbtl"] = Field(DEFAULT_DETECTOR,
                                                      description="defect detector")
    threshold: float | None = Field(None, gt=0, lt=1, description="lower finds more defects "
                                    "(default: the detector's calibrated threshold)")
    detect_only: bool = Field(False, description="only find the defects: the job's only output "
                              "is 'mask' (to edit and send back as the mask part)")
    colorize: bool = Field(False, description="also colorize (needs an installed zoo model)")
    upscale: int | None = Field(None, ge=2, le=4, description="also upscale by this factor")
    faces: Literal["gfpgan"] | None = Field(
        None, description="also restore each face with GFPGAN (adds the 'faces' JSON output; "
        "see GET /v1/faces)")


def _mask_layer(loaded, mask) -> tuple[bytes, str, str]:
    """A mask as a PNG layer: white and opaque where True, transparent elsewhere (both its
    colour and its alpha read back as the same mask with :func:`photomend.io.read_mask`)."""
    from photomend.io import LoadedImage

    m = mask.astype(np.float32)
    layer = LoadedImage(np.repeat(m[:, :, None], 3, axis=2), alpha=m)
    return encode_image(layer, "PNG"), "image/png", ".png"


def _restore_masks(files, loaded, max_pixels):
    def read(name):
        data = files.get(name)
        return None if data is None else read_mask(data, size=loaded.size, max_pixels=max_pixels)

    return read("mask"), read("extra_mask")


def _check_restore(files: dict[str, bytes], opts: RestoreOptions, max_pixels: int) -> None:
    from photomend.restoration.detect import check_detector_ready, check_size

    loaded = read_image(files["image"], max_pixels=max_pixels)
    check_size(loaded.size[1], loaded.size[0])
    mask, _extra = _restore_masks(files, loaded, max_pixels)
    if mask is not None and (opts.colorize or opts.upscale or opts.detect_only):
        raise InputError("with a mask part (the pixels to fill, detection skipped) run "
                         "colorize and upscale as separate steps, and not detect_only")
    if not opts.detect_only:
        _check_faces(opts, opts.faces)
    if mask is not None and mask.all():
        raise MaskError("the mask covers the whole image: there is nothing left to copy from")
    if mask is None:  # (a detector whose model is not installed: 422 now, with the command)
        check_detector_ready(opts.detector)
    if opts.upscale is not None:
        from photomend.upscaling.api import check_output_size

        check_output_size(loaded.size, opts.upscale, max_pixels)


def _run_restore(files: dict[str, bytes], opts: RestoreOptions, max_pixels: int,
                 progress: ProgressFn) -> Outputs:
    from photomend.restoration.detect import detect_defects
    from photomend.restoration.pipeline import dilate_mask, repair, restore_loaded

    loaded = read_image(files["image"], max_pixels=max_pixels)
    mask, extra = _restore_masks(files, loaded, max_pixels)
    if opts.detect_only:
        found = dilate_mask(detect_defects(loaded.rgb, detector=opts.detector,
                                           threshold=opts.threshold, progress=progress))
        return {"mask": _mask_layer(loaded, found if extra is None else found | extra)}
    if mask is not None:  # the user's edited mask: fill exactly that
        result = loaded.with_rgb(repair(loaded.rgb, mask, progress=progress, in_place=True))
    else:  # (in place: the scan decoded for this request)
        result, mask = restore_loaded(
            loaded, detector=opts.detector, threshold=opts.threshold, extra_mask=extra,
            colorize=opts.colorize or None, upscale=opts.upscale, max_pixels=max_pixels,
            progress=progress, in_place=True)
    extra: Outputs = {}
    result = _apply_faces(result, result, opts, opts.faces, progress, extra)
    return {"image": _encode(result, opts), "mask": _mask_layer(loaded, mask), **extra}


RESTORE = Operation(
    name="restore",
    summary="Find the scratches, dust, cracks and tears of an old scan and fill them. Outputs "
    "'image' and 'mask' (a PNG layer of what was filled). With a 'mask' part, exactly that is "
    "filled (no detection); 'extra_mask' is added to what the detector finds. With "
    "faces=gfpgan, the faces of the repaired photo are restored too ('faces' JSON output).",
    options=RestoreOptions,
    files={"image": True, "mask": False, "extra_mask": False},
    check=_check_restore,
    run=_run_restore,
)


# --- colorize -------------------------------------------------------------------------------


class ColorizeOptions(Options):
    method: Literal["hints", "reference", "auto"] | None = Field(
        None, description="default: hints if given, else reference if given, else auto")
    saturation: float = Field(1.0, ge=0, le=4, description="chroma multiplier")
    model: str | None = Field(None, description="the zoo network for 'auto'")


def _colorize_inputs(files, opts: ColorizeOptions, max_pixels: int):
    from photomend.colorization.api import read_reference
    from photomend.colorization.core import resolve_method
    from photomend.colorization.hints import read_hints

    loaded = read_image(files["image"], max_pixels=max_pixels)
    hints = None if "hints" not in files else read_hints(files["hints"], size=loaded.size,
                                                         max_pixels=max_pixels)
    ref = None if "reference" not in files else read_reference(files["reference"],
                                                               max_pixels=max_pixels)
    method = resolve_method(opts.method, hints=hints is not None, reference=ref is not None,
                            names=_COLORIZE_PARTS)
    return loaded, hints, ref, method


#: How the errors name the hints and the reference input: the request's file parts.
_COLORIZE_PARTS = ("a 'hints' file part", "a 'reference' file part")


def _check_colorize(files: dict[str, bytes], opts: ColorizeOptions, max_pixels: int) -> None:
    from photomend.colorization.zhang import find_model, installed_model, no_colour_source

    _, _, _, method = _colorize_inputs(files, opts, max_pixels)
    if method == "auto" and opts.model is None and installed_model() is None:
        if opts.method is None:  # nothing given at all: say every way there is
            raise ColorizeError(no_colour_source(*_COLORIZE_PARTS))
        find_model()  # method=auto: says which network to fetch


def _run_colorize(files: dict[str, bytes], opts: ColorizeOptions, max_pixels: int,
                  progress: ProgressFn) -> Outputs:
    from photomend.colorization.core import colorize_array

    loaded, hints, ref, _ = _colorize_inputs(files, opts, max_pixels)
    result = colorize_array(loaded.rgb, hints=hints, reference=ref, method=opts.method,
                            model=opts.model, saturation=opts.saturation, progress=progress)
    return {"image": _encode(loaded.with_rgb(result.rgb), opts)}


COLORIZE = Operation(
    name="colorize",
    summary="Give a black-and-white photo colour without changing its luminance: from colour "
    "hints (a PNG layer of strokes, or JSON points/strokes), a reference photo, or a network.",
    options=ColorizeOptions,
    files={"image": True, "hints": False, "reference": False},
    check=_check_colorize,
    run=_run_colorize,
)

#: Parts that may be JSON rather than an image.
JSON_PARTS = {"hints"}


@functools.cache
def operations() -> dict[str, Operation]:
    """The operations this installation offers (a verb appears once the library has it)."""
    ops = {"remove": REMOVE}
    if _has("photomend.restoration.pipeline", "restore_loaded"):
        ops["restore"] = RESTORE
    if _has("photomend.colorization.core", "colorize_array"):
        ops["colorize"] = COLORIZE
    if _has("photomend.upscaling.api", "upscale_loaded"):
        ops["upscale"] = UPSCALE
    if _has("photomend.objects.service", "OBJECTS"):
        ops["objects"] = importlib.import_module("photomend.objects.service").OBJECTS
    return ops


def _has(module: str, name: str) -> bool:
    try:
        return hasattr(importlib.import_module(module), name)
    except ImportError:
        return False
