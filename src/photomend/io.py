"""Reading and writing images: the only module that touches files, bytes, PIL and integer pixels.

Inside photomend an image is float32 HxWx3 RGB in [0, 1] and a mask is bool HxW with
True = fill. :func:`read_image` and :func:`read_mask` convert anything a user may hold (a path,
encoded bytes, a PIL image, a NumPy array) into that convention; :func:`encode_image` and
:func:`write_image` convert back, keeping the alpha channel, ICC profile, EXIF and bit depth.
"""

from __future__ import annotations

import io as _io
import os
import re
import secrets
import struct
import warnings
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Union

import cv2
import numpy as np
from PIL import Image, ImageCms, ImageFile

from photomend.errors import (
    ImageReadError,
    InputError,
    MaskError,
    OutputError,
)
from photomend.formats import FORMATS_BY_SUFFIX
from photomend.limits import (  # the limit's constants are also importable from here
    DEFAULT_MAX_PIXELS,  # noqa: F401
    MAX_PIXELS_ENV,  # noqa: F401
    max_pixels_limit,
    too_large,
)


#: What a reader accepts: a path, encoded bytes, a PIL image or an array.
ImageSource = Union[str, "os.PathLike[str]", bytes, Image.Image, np.ndarray]

#: zlib level of PNG output (0-9). 1 is OpenCV's default too: on a 12 MP photo Pillow writes
#: a PNG in 1.3 s at level 1 and 3.6 s at its default 6, for a file 0-8 % larger.
DEFAULT_PNG_COMPRESSION = 1

_ALPHA_FORMATS = {"PNG", "WEBP", "TIFF"}
_16BIT_FORMATS = {"PNG", "TIFF"}
_ORIENTATION_TAG = 0x0112


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """Decoded pixels plus what is needed to write them back faithfully.

    Attributes
    ----------
    rgb : float32 HxWx3 array in [0, 1], EXIF orientation already applied.
    alpha : float32 HxW array in [0, 1], or None. Carried along, never processed.
    bit_depth : 8 or 16 bits per channel of the source (float arrays count as 16).
    icc_profile : the source's RGB ICC profile, or None.
    exif : the source's EXIF block with Orientation reset to 1, or None.
    format : 'JPEG', 'PNG', 'WEBP', 'TIFF', ... or None for in-memory sources.
    path : the file it came from, or None.

    Examples
    --------
    >>> import numpy as np
    >>> img = read_image(np.zeros((2, 3, 3), np.uint8))
    >>> img.size, float(img.with_rgb(img.rgb + 0.5).rgb.max())
    ((3, 2), 0.5)
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    bit_depth: int = 8
    icc_profile: bytes | None = None
    exif: bytes | None = None
    format: str | None = None
    path: Path | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels, the order PIL and the CLI messages use."""
        return self.rgb.shape[1], self.rgb.shape[0]

    def with_rgb(self, rgb: np.ndarray) -> LoadedImage:
        """Return a copy holding new pixels (same size when there is an alpha channel)."""
        rgb = np.asarray(rgb, dtype=np.float32)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 array, got shape {rgb.shape}")
        if self.alpha is not None and self.alpha.shape != rgb.shape[:2]:
            raise ValueError("new pixels must keep the size of the alpha channel")
        return replace(self, rgb=rgb)


@dataclass(frozen=True, eq=False)
class _Pixels:
    """Pixels in their native dtype, before conversion to the float convention."""

    color: np.ndarray  # HxWx1 (gray) or HxWx3 (RGB); uint8, uint16, float or bool
    alpha: np.ndarray | None
    icc: bytes | None = None
    exif: bytes | None = None
    format: str | None = None
    path: Path | None = None


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def read_image(source: ImageSource, *, max_pixels: int | None = None) -> LoadedImage:
    """Read an image into the photomend convention.

    Parameters
    ----------
    source : path, encoded bytes, PIL image, or array (uint8, uint16 or float in [0, 1]; HxW gray,
        HxWx3 RGB or HxWx4 RGBA). JPEG, PNG, WebP and TIFF files are read, 16-bit PNG/TIFF at
        full precision; EXIF orientation is applied.
    max_pixels : refuse images with more pixels; None uses ``$PHOTOMEND_MAX_PIXELS`` or
        :data:`DEFAULT_MAX_PIXELS`. Checked from the header, before decoding.

    Raises
    ------
    ImageReadError : missing, unreadable, corrupt or non-image input.
    ImageTooLargeError : more pixels than the limit.

    Examples
    --------
    >>> import numpy as np
    >>> img = read_image(np.full((4, 6), 255, np.uint8))
    >>> img.rgb.shape, img.rgb.dtype.name, img.bit_depth
    ((4, 6, 3), 'float32', 8)
    """
    px = _load(source, max_pixels, what="image")
    if px.color.dtype == bool:
        raise InputError("boolean arrays are masks, not images")
    rgb = _to_float(px.color)
    if rgb.shape[2] == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    alpha = None if px.alpha is None else _to_float(px.alpha)
    bit_depth = 8 if px.color.dtype == np.uint8 else 16
    return LoadedImage(rgb, alpha, bit_depth, px.icc, px.exif, px.format, px.path)


def read_mask(
    source: ImageSource,
    *,
    size: tuple[int, int],
    resize: bool = False,
    max_pixels: int | None = None,
) -> np.ndarray:
    """Read a mask: a bool HxW array, True where content is removed.

    Any non-zero pixel means "remove". When the mask has an alpha channel that is not fully
    opaque (strokes painted on a transparent layer), the alpha alone is the mask; otherwise the
    colour channels are used. EXIF orientation is applied, as for images.

    Parameters
    ----------
    source : path, bytes, PIL image or array (bool, uint8, uint16 or float; gray, LA, RGB, RGBA).
    size : (width, height) of the image the mask belongs to.
    resize : scale a mask of another size instead of raising :class:`MaskError`. Scaling is
        conservative (area-weighted, then any coverage counts) so thin strokes survive a
        downscale: filling slightly too much is harmless, leaving part of an object is not.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((4, 4), np.uint8); m[1, 1] = 255
    >>> int(read_mask(m, size=(8, 8), resize=True).sum())
    4
    """
    px = _load(source, max_pixels, what="mask")
    if px.alpha is not None and not _is_opaque(px.alpha):
        mask = px.alpha != 0
    else:
        mask = np.any(px.color != 0, axis=2)
    width, height = size
    if mask.shape != (height, width):
        if not resize:
            core = (f"mask is {mask.shape[1]}x{mask.shape[0]} but the image is {width}x{height} "
                    "(width x height)")
            error = MaskError(f"{core}; pass --resize-mask (resize_mask=True) to scale it")
            error.core = core  # without the CLI/Python advice, for the server
            raise error
        mask = resize_mask(mask, (width, height))
    return mask


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale a bool mask to ``size`` (width, height), keeping every stroke (see :func:`read_mask`).

    >>> import numpy as np
    >>> resize_mask(np.eye(100, dtype=bool), (10, 10)).diagonal().all()
    np.True_
    """
    # uint16 rather than float32 halves the memory on huge masks; a stroke only vanishes below
    # 1/131070 coverage, far below any real downscale.
    src = mask.astype(np.uint16) * np.uint16(65535)
    return cv2.resize(src, tuple(size), interpolation=cv2.INTER_AREA) > 0


def _load(source: ImageSource, max_pixels: int | None, *, what: str) -> _Pixels:
    limit = max_pixels_limit(max_pixels)
    if isinstance(source, np.ndarray):
        _check_size(source.shape[1] if source.ndim > 1 else 0, source.shape[0], limit, what)
        return _pixels_from_array(source, what)
    if isinstance(source, Image.Image):
        _check_size(*source.size, limit, what)
        return _pixels_from_pil(source, None, None, what)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, path, name = bytes(source), None, f"{what} data"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        data, name = _read_file(path, what), f"{what} {path}"
    else:
        raise InputError(
            f"cannot read {what} from {type(source).__name__}: "
            "expected a path, bytes, a PIL image or a NumPy array"
        )
    if not data:
        raise ImageReadError(f"cannot read {name}: it is empty")
    im = _open_pil(data, limit, name)
    _check_size(*im.size, limit, what, name)
    return _pixels_from_pil(im, data, path, name)


def _read_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        problem = "no such file"
    except IsADirectoryError:
        problem = "it is a folder, not a file"
    except PermissionError:
        problem = "permission denied"
    except OSError as exc:
        problem = exc.strerror or str(exc)
    raise ImageReadError(f"cannot read {what} {path}: {problem}")


def _open_pil(data: bytes, limit: int, name: str) -> Image.Image:
    # Pillow has its own bomb guard: a warning above MAX_IMAGE_PIXELS, an error above twice that.
    # We check against our own limit right after opening, so lift Pillow's to ours: then it can
    # only speak about images we refuse anyway. (Raised, never lowered: other Pillow users in the
    # process keep at least the protection they had. No catch_warnings: it is not thread-safe.)
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < limit:
        Image.MAX_IMAGE_PIXELS = limit
    try:
        return Image.open(_io.BytesIO(data))
    except Image.DecompressionBombError as exc:  # more than twice Pillow's own limit
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise too_large(name, limit, pixels=int(found.group(1)) if found else None) from None
    except Image.UnidentifiedImageError:
        raise ImageReadError(
            f"cannot read {name}: not an image file (or a format Pillow cannot decode)"
        ) from None
    except Exception as exc:  # noqa: BLE001  (Pillow raises many types on malformed headers)
        raise ImageReadError(f"cannot read {name}: {_one_line(exc)}") from None


def _check_size(width: int, height: int, limit: int, what: str, name: str | None = None) -> None:
    if width * height > limit:
        raise too_large(name or what, limit, width=width, height=height)


def _pixels_from_array(arr: np.ndarray, what: str) -> _Pixels:
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4) or 0 in arr.shape:
        raise InputError(f"expected an HxW, HxWx3 or HxWx4 {what} array, got shape {arr.shape}")
    allowed = (np.uint8, np.uint16, np.bool_) if what == "mask" else (np.uint8, np.uint16)
    if not (arr.dtype.type in allowed or np.issubdtype(arr.dtype, np.floating)):
        raise InputError(f"unsupported {what} array dtype {arr.dtype}; use uint8, uint16 or float")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise InputError(f"the {what} array contains NaN or infinite values")
    channels = arr.shape[2]
    alpha = arr[:, :, -1] if channels in (2, 4) else None
    color = arr[:, :, :1] if channels <= 2 else arr[:, :, :3]
    return _Pixels(color, alpha)


def _pixels_from_pil(
    im: Image.Image, data: bytes | None, path: Path | None, name: str
) -> _Pixels:
    icc = im.info.get("icc_profile") or None
    try:
        color, alpha, icc, decoded_by_pillow = _decode(im, data, icc)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001  (corrupt data surfaces as any Pillow type)
        raise ImageReadError(f"cannot decode {name}: {_one_line(exc)}") from None
    exif, orientation = _exif_and_orientation(im, decoded_by_pillow)
    if orientation != 1:
        color = _orient(color, orientation)
        alpha = None if alpha is None else _orient(alpha, orientation)
    return _Pixels(color, alpha, icc, exif, im.format, path)


def _decode(im: Image.Image, data: bytes | None, icc: bytes | None):
    """Return (color HxWxC, alpha HxW or None, icc, decoded_by_pillow) in the native dtype."""
    if data is not None and _is_16bit(im):
        # Pillow truncates 16-bit RGB(A) PNG/TIFF to 8 bits; OpenCV keeps them (in BGR order).
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if arr is not None and arr.dtype == np.uint16:
            if arr.ndim == 2:
                arr = arr[:, :, None]
            color = arr[:, :, 2::-1] if arr.shape[2] >= 3 else arr[:, :, :1]
            alpha = arr[:, :, 3] if arr.shape[2] == 4 else None
            return np.ascontiguousarray(color), alpha, _rgb_profile(icc), False
    if data is not None:
        # One decoder call for the whole file instead of one per 64 kB block: Pillow releases
        # the GIL inside each call, so a thread loading kernels meanwhile (removal.prewarm)
        # no longer makes every block wait for the GIL (4K JPEG beside it: 1.1-1.8 s -> 0.7 s).
        im.decodermaxblock = max(len(data), ImageFile.MAXBLOCK)
    im.load()
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(im)
        if arr.min(initial=0) < 0 or arr.max(initial=0) > 65535:
            raise ImageReadError(f"unsupported 32-bit integer image (mode {mode})")
        return arr.astype(np.uint16)[:, :, None], None, _rgb_profile(icc), True
    if mode == "F":
        return np.clip(np.asarray(im, np.float32), 0, 1)[:, :, None], None, None, True
    if mode == "CMYK":
        im, icc = _cmyk_to_srgb(im, icc)
    if mode in ("1", "L", "LA", "La"):
        im = im.convert("LA" if mode in ("LA", "La") else "L")
    elif mode not in ("RGB", "RGBA"):
        has_alpha = mode in ("PA", "RGBa") or "transparency" in im.info
        im = im.convert("RGBA" if has_alpha else "RGB")
    arr = np.asarray(im)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    has_alpha = arr.shape[2] in (2, 4)
    color = arr[:, :, :-1] if has_alpha else arr
    alpha = arr[:, :, -1] if has_alpha else None
    return color, alpha, _rgb_profile(icc), True


def _is_16bit(im: Image.Image) -> bool:
    if im.format not in _16BIT_FORMATS:
        return False
    rawmodes = []
    for tile in getattr(im, "tile", []) or []:
        args = tile[3]
        rawmodes.append(args[0] if isinstance(args, tuple) else args)
    return im.mode.startswith("I;16") or any(";16" in str(r) for r in rawmodes)


def _rgb_profile(icc: bytes | None) -> bytes | None:
    # Gray pixels become RGB here, and a GRAY/CMYK profile cannot describe RGB data: drop it
    # rather than write a file whose profile contradicts its pixels.
    return icc if icc and icc[16:20] == b"RGB " else None


def _cmyk_to_srgb(im: Image.Image, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    if icc:
        try:
            srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
            src = ImageCms.ImageCmsProfile(_io.BytesIO(icc))
            out = ImageCms.profileToProfile(im, src, srgb, outputMode="RGB")
            return out, srgb.tobytes()
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: fall back to Pillow's naive conversion below
    return im.convert("RGB"), None


def _exif_and_orientation(im: Image.Image, decoded_by_pillow: bool) -> tuple[bytes | None, int]:
    raw = im.info.get("exif") or None
    try:
        if im.format == "PNG" and not decoded_by_pillow:
            # getexif() would decode the whole PNG again to find an eXIf chunk after the pixels;
            # writers put it before them, where Image.open already found it.
            exif = Image.Exif()
            if raw:
                exif.load(raw)
        else:
            exif = im.getexif()
        orientation = int(exif.get(_ORIENTATION_TAG, 1))
        if raw and orientation != 1:
            exif[_ORIENTATION_TAG] = 1  # the pixels are rotated now; don't let viewers rotate again
            raw = exif.tobytes()
    except Exception:  # noqa: BLE001  (malformed EXIF is common; the photo must stay readable)
        return raw, 1
    return raw, orientation if 1 <= orientation <= 8 else 1


def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (as PIL.ImageOps.exif_transpose does) to an HxW[xC] array."""
    if orientation in (5, 6, 7, 8):  # the four that swap width and height
        a = np.swapaxes(a, 0, 1)
        orientation = {5: 1, 6: 2, 7: 3, 8: 4}[orientation]
    if orientation == 2:
        a = a[:, ::-1]
    elif orientation == 3:
        a = a[::-1, ::-1]
    elif orientation == 4:
        a = a[::-1]
    return np.ascontiguousarray(a)


def _to_float(a: np.ndarray) -> np.ndarray:
    if a.dtype in (np.uint8, np.uint16):  # divided in place: one full-size array, not two
        out = a.astype(np.float32)
        out /= np.float32(255 if a.dtype == np.uint8 else 65535)
        return out
    return np.clip(a, 0.0, 1.0).astype(np.float32)  # clip always copies: caller's array is safe


def _is_opaque(alpha: np.ndarray) -> bool:
    if alpha.dtype == np.bool_:
        return bool(alpha.all())
    full = np.iinfo(alpha.dtype).max if alpha.dtype.kind == "u" else 1.0
    return bool((alpha >= full).all())


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def to_uint8(a: np.ndarray) -> np.ndarray:
    """Convert float pixels in [0, 1] to uint8, rounding to nearest.

    >>> to_uint8(np.array([0.0, 0.5, 1.0], np.float32))
    array([  0, 128, 255], dtype=uint8)
    """
    if a.dtype == np.uint8:  # already 8-bit (e.g. a large upscaled image kept compact)
        return a
    a = np.asarray(a)
    out = np.empty(a.shape, np.uint8)
    if a.ndim == 0 or a.size == 0:
        return _to_uint8_block(a, out)
    # A block of rows at a time through one small float buffer (the same values as
    # rint(clip(a, 0, 1) * 255) in one go, without a float copy of the whole image).
    rows = max(1, _BLOCK_ELEMENTS // max(1, a[0].size))
    buf = np.empty((min(rows, len(a)), *a.shape[1:]), np.result_type(a.dtype, np.float32))
    for y in range(0, len(a), rows):
        block = a[y : y + rows]
        _to_uint8_block(block, out[y : y + rows], buf[: len(block)])
    return out


#: Elements per block of :func:`to_uint8` (1 MB of float32: stays in the CPU's cache).
_BLOCK_ELEMENTS = 1 << 18


def _to_uint8_block(a: np.ndarray, out: np.ndarray, buf: np.ndarray | None = None) -> np.ndarray:
    scaled = np.multiply(a, 255.0, dtype=np.result_type(a.dtype, np.float32), out=buf)
    np.clip(scaled, 0.0, 255.0, out=scaled)
    np.rint(scaled, out=scaled)
    out[...] = scaled
    return out


def to_uint16(a: np.ndarray) -> np.ndarray:
    """Convert float pixels in [0, 1] to uint16, rounding to nearest.

    >>> to_uint16(np.array([0.0, 1.0], np.float32))
    array([    0, 65535], dtype=uint16)
    """
    if a.dtype == np.uint16:  # already 16-bit
        return a
    return np.rint(np.clip(a, 0.0, 1.0) * 65535.0).astype(np.uint16)


def format_for_path(path: str | os.PathLike[str]) -> str:
    """The format :func:`write_image` uses for ``path``, from its suffix.

    >>> format_for_path("out/photo.JPG")
    'JPEG'
    """
    suffix = Path(path).suffix.lower()
    try:
        return FORMATS_BY_SUFFIX[suffix]
    except KeyError:
        known = ", ".join(FORMATS_BY_SUFFIX)
        raise OutputError(
            f"cannot write {path}: unknown file type {suffix or '(no suffix)'}; use one of {known}"
        ) from None


def encode_image(image: LoadedImage, format: str, *, quality: int = 95,
                 compression: int = DEFAULT_PNG_COMPRESSION) -> bytes:
    """Encode ``image`` as a JPEG, PNG, WEBP or TIFF file in memory.

    Keeps the ICC profile and EXIF, and the alpha channel where the format has one (JPEG does
    not: it is dropped with a warning). 16-bit sources are written as 16-bit PNG/TIFF and 8-bit
    elsewhere. 16-bit TIFFs are encoded by OpenCV, which cannot embed an ICC profile or EXIF:
    they are dropped with a warning. ``quality`` (1-100) is that of JPEG and WebP;
    ``compression`` (0-9) is PNG's zlib level (0 none, 1 fastest, 9 smallest); a TIFF is
    uncompressed at 0 and LZW otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> encode_image(read_image(np.zeros((2, 2, 3), np.uint8)), "PNG")[:4]
    b'\\x89PNG'
    """
    fmt = {"JPG": "JPEG", "TIF": "TIFF"}.get(format.upper().lstrip("."), format.upper().lstrip("."))
    if fmt not in {"JPEG", "PNG", "WEBP", "TIFF"}:
        raise OutputError(f"cannot encode {format!r}: use JPEG, PNG, WEBP or TIFF")
    if not 1 <= int(quality) <= 100:
        raise InputError(f"quality must be between 1 and 100, got {quality}")
    if not 0 <= int(compression) <= 9:
        raise InputError(f"compression must be between 0 and 9, got {compression}")
    alpha = image.alpha
    if alpha is not None and fmt not in _ALPHA_FORMATS:
        warnings.warn(f"{fmt} has no alpha channel: transparency dropped", stacklevel=2)
        alpha = None
    try:
        if image.bit_depth == 16 and fmt in _16BIT_FORMATS:
            return _encode_16bit(image, alpha, fmt, int(compression))
        return _encode_8bit(image, alpha, fmt, int(quality), int(compression))
    except (OSError, ValueError, cv2.error) as exc:
        raise OutputError(f"cannot encode the image as {fmt}: {_one_line(exc)}") from None


def _encode_8bit(image: LoadedImage, alpha: np.ndarray | None, fmt: str, quality: int,
                 compression: int) -> bytes:
    pixels = to_uint8(image.rgb)
    if alpha is not None:
        pixels = np.dstack([pixels, to_uint8(alpha)])
    params: dict[str, object] = {}
    if image.icc_profile:
        params["icc_profile"] = image.icc_profile
    if image.exif:
        params["exif"] = image.exif
    if fmt in ("JPEG", "WEBP"):
        params["quality"] = quality
    if fmt == "PNG":
        params["compress_level"] = compression
    if fmt == "TIFF" and compression:
        params["compression"] = "tiff_lzw"  # lossless, and every TIFF reader knows it
    buf = _io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt, **params)
    return buf.getvalue()


def _encode_16bit(image: LoadedImage, alpha: np.ndarray | None, fmt: str,
                  compression: int) -> bytes:
    # Pillow cannot write 16-bit RGB; OpenCV can, in BGR order.
    pixels = to_uint16(image.rgb)[:, :, ::-1]
    if alpha is not None:
        pixels = np.dstack([pixels, to_uint16(alpha)])
    if fmt == "PNG":
        params = [cv2.IMWRITE_PNG_COMPRESSION, compression]
    else:  # OpenCV's TIFF codes: 1 none, 5 LZW
        params = [cv2.IMWRITE_TIFF_COMPRESSION, 5 if compression else 1]
    ok, buf = cv2.imencode(".png" if fmt == "PNG" else ".tiff", np.ascontiguousarray(pixels),
                           params)
    if not ok:
        raise OutputError(f"OpenCV could not encode a 16-bit {fmt}")
    data = buf.tobytes()
    if fmt == "PNG":
        return _png_with_metadata(data, image.icc_profile, image.exif)
    if image.icc_profile or image.exif:
        warnings.warn("16-bit TIFF output: ICC profile and EXIF not kept", stacklevel=3)
    return data


def _png_with_metadata(png: bytes, icc: bytes | None, exif: bytes | None) -> bytes:
    """Insert iCCP and eXIf chunks right after IHDR (both must precede the pixel data)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    extra = b""
    if icc:
        # Profile name, NUL, compression method 0 (zlib), compressed profile.
        extra += chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc))
    if exif:
        extra += chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif)
    end_of_ihdr = 8 + 4 + 4 + 13 + 4  # signature, then IHDR's length, type, 13-byte body, CRC
    return png[:end_of_ihdr] + extra + png[end_of_ihdr:]


def write_image(
    image: LoadedImage,
    path: str | os.PathLike[str],
    *,
    quality: int = 95,
    compression: int = DEFAULT_PNG_COMPRESSION,
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Write ``image`` to ``path`` atomically, in the format its suffix names.

    The file is encoded by :func:`encode_image`, written to a temporary file in the destination
    folder and renamed into place, so a failure never leaves a partial output.

    Parameters
    ----------
    quality : JPEG/WebP quality, 1-100.
    compression : PNG zlib level, 0-9 (TIFF: 0 uncompressed, else LZW); see
        :func:`encode_image`.
    overwrite : replace an existing file; without it an existing ``path`` raises OutputError.
    protect : paths never written over, even with ``overwrite`` (pass the inputs).

    Raises
    ------
    OutputError : unknown suffix, existing or protected file, missing or read-only folder.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "black.png")
    >>> write_image(read_image(np.zeros((2, 2, 3), np.uint8)), out).name
    'black.png'
    """
    dest = Path(path)
    fmt = format_for_path(dest)
    check_destination(dest, overwrite=overwrite, protect=protect)
    data = encode_image(image, fmt, quality=quality, compression=compression)
    _atomic_write(dest, data, overwrite=overwrite)
    return dest


def check_destination(
    dest: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> None:
    """Raise OutputError if :func:`write_image` would refuse ``dest`` (call before slow work)."""
    dest = Path(dest)
    for other in protect:
        if _same_file(dest, Path(other)):
            raise OutputError(f"refusing to write {dest}: it is one of the inputs")
    if dest.is_dir():
        raise OutputError(f"cannot write {dest}: it is a folder")
    if dest.exists() and not overwrite:
        raise OutputError(f"{dest} already exists (use --overwrite / overwrite=True to replace it)")
    parent = dest.parent
    if not parent.is_dir():
        problem = "is not a folder" if parent.exists() else "does not exist"
        raise OutputError(f"cannot write {dest}: {parent} {problem}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {dest}: folder {parent} is not writable")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def _atomic_write(dest: Path, data: bytes, *, overwrite: bool) -> None:
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.tmp")
    try:
        # os.open with 0o666 lets the umask pick the final permissions, unlike mkstemp's 0o600.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise OutputError(f"cannot write {dest}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite or not _link_no_clobber(tmp, dest):
            os.replace(tmp, dest)
    except FileExistsError:
        raise OutputError(
            f"{dest} already exists (use --overwrite / overwrite=True to replace it)"
        ) from None
    except OSError as exc:
        raise OutputError(f"cannot write {dest}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _link_no_clobber(tmp: Path, dest: Path) -> bool:
    """Hard-link ``tmp`` to ``dest`` unless ``dest`` exists (atomically, unlike exists() + rename).

    Returns False where the file system has no hard links, so the caller falls back to a rename.
    """
    try:
        os.link(tmp, dest)
    except FileExistsError:
        raise
    except OSError:
        return False
    return True


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
