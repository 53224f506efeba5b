"""One end-to-end removal in this process: read JPEG -> fill -> write JPEG; print a JSON line.

    python benchmarks/remove_file.py METHOD IMAGE MASK OUTPUT [--seed N]

METHOD is ``photomend:<hd_strategy>`` (engine patchmatch), ``telea`` (OpenCV, radius 5) or
``pypatchmatch``. bench_4k.py runs it in a fresh process per measurement, so the reported peak
RSS (``VmHWM``, see :func:`peak_rss_mb`) covers the interpreter, imports, decoding, the fill and the
encoding. photomend reads and writes through :mod:`photomend.io` when it exists, else Pillow;
the peers always use Pillow, with the same JPEG quality (95).
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
from PIL import Image

JPEG_QUALITY = 95


def _pillow_read(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _pillow_read_mask(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("L")) > 0


def _pillow_write(u8: np.ndarray, path: str) -> None:
    Image.fromarray(u8).save(path, quality=JPEG_QUALITY)


def _run_photomend(strategy: str, image: str, mask_path: str, output: str, seed: int) -> dict:
    from photomend import remove_array

    try:
        from photomend.io import read_image, read_mask, write_image
    except ImportError:
        read_image = None
    try:
        from photomend.removal import prewarm
    except ImportError:
        prewarm = None
    t0 = time.perf_counter()
    # As `photomend remove` does: the kernels load in the background while the JPEG decodes.
    warm = prewarm("patchmatch") if prewarm is not None else None
    if read_image is not None:
        loaded = read_image(image)
        mask = read_mask(mask_path, size=loaded.size)
        rgb, io_used = loaded.rgb, "photomend.io"
    else:
        rgb = _pillow_read(image).astype(np.float32) / 255.0
        mask, io_used = _pillow_read_mask(mask_path), "pillow"
    if warm is not None:
        warm.join()
    t1 = time.perf_counter()
    out = remove_array(rgb, mask, engine="patchmatch", hd_strategy=strategy, seed=seed)
    t2 = time.perf_counter()
    if read_image is not None:
        write_image(loaded.with_rgb(out), output, quality=JPEG_QUALITY, overwrite=True)
    else:
        _pillow_write(np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8), output)
    t3 = time.perf_counter()
    return {"read_s": t1 - t0, "fill_s": t2 - t1, "write_s": t3 - t2, "io": io_used}


def _run_peer(method: str, image: str, mask_path: str, output: str, seed: int) -> dict:
    t0 = time.perf_counter()
    u8 = np.ascontiguousarray(_pillow_read(image))
    mask = _pillow_read_mask(mask_path)
    t1 = time.perf_counter()
    hole = mask.astype(np.uint8) * 255
    if method == "telea":
        import cv2

        out = cv2.inpaint(u8, hole, 5, cv2.INPAINT_TELEA)
    elif method == "pypatchmatch":
        from patchmatch import patch_match

        from methods import PYPATCHMATCH_PATCH_SIZE

        patch_match.set_random_seed(seed)
        out = patch_match.inpaint(u8, hole, patch_size=PYPATCHMATCH_PATCH_SIZE)
    else:
        raise SystemExit(f"unknown method {method!r}")
    t2 = time.perf_counter()
    _pillow_write(out, output)
    t3 = time.perf_counter()
    return {"read_s": t1 - t0, "fill_s": t2 - t1, "write_s": t3 - t2, "io": "pillow"}


def peak_rss_mb() -> tuple[float, str]:
    """Peak resident memory of this process in MB (10**6 bytes), and where it was read.

    Linux's ``ru_maxrss`` is the wrong number here: exec keeps the high-water mark of the
    process that forked it, so a child of a benchmark holding 1.4 GB reports at least 1.4 GB.
    ``VmHWM`` in /proc/self/status belongs to the new program image alone.
    """
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6, "VmHWM"
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6, "ru_maxrss"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("method")
    parser.add_argument("image")
    parser.add_argument("mask")
    parser.add_argument("output")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.method.startswith("photomend:"):
        result = _run_photomend(args.method.split(":", 1)[1], args.image, args.mask, args.output, args.seed)
    else:
        result = _run_peer(args.method, args.image, args.mask, args.output, args.seed)
    result["total_s"] = result["read_s"] + result["fill_s"] + result["write_s"]
    result["peak_rss_mb"], result["rss_source"] = peak_rss_mb()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
