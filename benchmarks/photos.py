"""Benchmark photographs, fetched on first use into ``benchmarks/.cache/`` (git-ignored).

Two sources, both redistributable and reachable through ordinary package clients:

* scikit-image's bundled natural colour photos (``skimage.data``), no download needed;
* Debian's ``mate-backgrounds`` package (``apt-get download`` + ``dpkg -x``): the 12 photos of
  ``usr/share/backgrounds/mate/nature/`` and the 4K ``Elephants_3840x2160.jpg``.

Held-out split (see README.md): of the nature photos sorted by file name, every one whose index
``% 5 == 0`` is HELD OUT — reserved for evaluation; models trained later must never see them.
The list is frozen in :data:`HELD_OUT_NATURE` so a new package version cannot silently move it.
All Elephants files (three sizes of one picture) are held out as well: they are the 4K test.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

CACHE = Path(__file__).resolve().parent / ".cache"
MATE_PACKAGE = "mate-backgrounds"
MATE_ROOT = CACHE / MATE_PACKAGE
NATURE_DIR = "usr/share/backgrounds/mate/nature"
ELEPHANTS_4K = "usr/share/backgrounds/mate/abstract/Elephants_3840x2160.jpg"

#: Natural colour photos of skimage.data; name -> loader attribute (motorcycle: left view).
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle")
#: The nature photos of mate-backgrounds 1.26.0, sorted by name (index % 5 == 0 -> held out).
NATURE_PHOTOS = (
    "Aqua.jpg", "Blinds.jpg", "Dune.jpg", "FreshFlower.jpg", "Garden.jpg", "GreenMeadow.jpg",
    "LadyBird.jpg", "RainDrops.jpg", "Storm.jpg", "TwoWings.jpg", "Wood.jpg", "YellowFlower.jpg",
)  # fmt: skip
HELD_OUT_NATURE = tuple(name for i, name in enumerate(NATURE_PHOTOS) if i % 5 == 0)
TRAINABLE_NATURE = tuple(name for name in NATURE_PHOTOS if name not in HELD_OUT_NATURE)
#: A trainable nature photo that the defect detector's training keeps out of its crops: the
#: validation F1 logged during training (and the choice of the checkpoint that ships) and
#: training/eval_defects_dev.py's "val" set are measured on it.
VALIDATION_PHOTO = "TwoWings.jpg"
HELD_OUT_OTHER = ("abstract/Elephants.jpg", "abstract/Elephants_3840x2160.jpg",
                  "abstract/Elephants_5640x3172.jpg")  # fmt: skip
#: Other colour photos of skimage.data that training MAY use (frozen; never benchmark photos):
#: ``retina`` (1411 px fundus photo: thin dark vessels, real thin structures that are not
#: defects) and ``immunohistochemistry`` (512 px microscopy: a busy, textured colour photo).
#: Not ``cat`` (it is chelsea, a benchmark photo), not ``hubble_deep_field`` (its stars look
#: exactly like dust specks: as negatives they would teach the detector to miss dust), not the
#: grayscale ones (grass, gravel, brick are the busy-texture benchmark), not ``skin``/``lily``
#: (downloaded on demand, not shipped with the package).
TRAINABLE_SKIMAGE = ("retina", "immunohistochemistry")

LONG_SIDE = 512


def benchmark_photos(*, quick: bool = False) -> list[str]:
    """Names of the 512-px benchmark photos: the skimage ones, then the held-out nature ones.

    ``quick`` gives two skimage photos, which need no download.
    """
    if quick:
        return [f"skimage:{n}" for n in SKIMAGE_PHOTOS[:2]]
    return [f"skimage:{n}" for n in SKIMAGE_PHOTOS] + [f"mate:{n}" for n in HELD_OUT_NATURE]


def load_photo(name: str) -> np.ndarray:
    """Float32 HxWx3 RGB in [0, 1], resized so the long side is 512 px, cached as a PNG."""
    cached = CACHE / "photos512" / (name.replace(":", "_").rsplit(".", 1)[0] + ".png")
    if not cached.exists():
        source, _, stem = name.partition(":")
        if source == "skimage":
            rgb = _skimage_photo(stem)
        elif source == "mate":
            if stem not in HELD_OUT_NATURE:
                raise ValueError(f"{stem} is a training photo; the benchmark uses held-out ones only")
            rgb = np.asarray(Image.open(mate_root() / NATURE_DIR / stem).convert("RGB"))
        else:
            raise ValueError(f"unknown photo {name!r}: expected 'skimage:NAME' or 'mate:FILE'")
        cached.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_resize_long_side(rgb, LONG_SIDE)).save(cached)
    return np.asarray(Image.open(cached).convert("RGB"), np.float32) / 255.0


def elephants_4k() -> Path:
    """Path of the 3840x2160 Elephants JPEG (downloads mate-backgrounds on first use)."""
    return mate_root() / ELEPHANTS_4K


def mate_root() -> Path:
    """The extracted mate-backgrounds package; ``apt-get download`` + ``dpkg -x`` on first use."""
    if (MATE_ROOT / NATURE_DIR).is_dir():
        return MATE_ROOT
    debian_package(MATE_PACKAGE, NATURE_DIR)
    found = sorted(p.name for p in (MATE_ROOT / NATURE_DIR).glob("*.jpg"))
    if tuple(found) != NATURE_PHOTOS:
        print(f"warning: {MATE_PACKAGE} nature photos differ from the frozen list: {found}")
    return MATE_ROOT


def mate_source() -> str:
    """Which .deb the photos came from, and its SHA-256 (for the results file)."""
    return package_source(MATE_PACKAGE)


#: Debian's opencv-doc: its sample photos (structure_photos.py) and clips (``tree.avi``,
#: ``Megamind.avi``, ``vtest.avi``: bench_video.py, training/train_vsr.py) live in this folder.
OPENCV_DOC_PACKAGE = "opencv-doc"
OPENCV_DOC_DATA = "usr/share/doc/opencv-doc/examples/data"


def opencv_doc_data() -> Path:
    """opencv-doc's sample data folder, the package extracted into the cache on first use."""
    return debian_package(OPENCV_DOC_PACKAGE, OPENCV_DOC_DATA) / OPENCV_DOC_DATA


def debian_package(package: str, probe: str) -> Path:
    """``CACHE/package``: the Debian package extracted there on first use.

    It counts as present when the folder ``probe`` (a path inside the package) exists; otherwise
    ``apt-get download`` + ``dpkg -x`` fetch it, and ``SOURCE`` in the folder records the .deb's
    name and SHA-256 (see :func:`package_source`).
    """
    root = CACHE / package
    if (root / probe).is_dir():
        return root
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found: the {package} photos need a Debian system")
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(["apt-get", "download", package], cwd=tmp,
                              capture_output=True, text=True)  # fmt: skip
        debs = list(Path(tmp).glob(f"{package}_*.deb"))
        if done.returncode != 0 or not debs:
            raise RuntimeError(
                f"apt-get download {package} failed (run `apt-get update` first?):\n"
                + done.stderr.strip()
            )
        staging = Path(tmp) / "x"
        subprocess.run(["dpkg", "-x", str(debs[0]), str(staging)], check=True)
        (staging / "SOURCE").write_text(f"{debs[0].name} sha256={_sha256(debs[0])}\n")
        root.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(root, ignore_errors=True)
        shutil.move(str(staging), root)
    return root


def package_source(package: str) -> str:
    """Which .deb ``CACHE/package`` came from, and its SHA-256, or "not downloaded"."""
    path = CACHE / package / "SOURCE"
    return path.read_text().strip() if path.exists() else "not downloaded"


def _skimage_photo(stem: str) -> np.ndarray:
    import skimage.data

    if stem not in SKIMAGE_PHOTOS:
        raise ValueError(f"unknown skimage photo {stem!r}; choose from {SKIMAGE_PHOTOS}")
    if stem == "motorcycle":
        return skimage.data.stereo_motorcycle()[0]
    return getattr(skimage.data, stem)()


def trainable_skimage_photo(stem: str) -> np.ndarray:
    """uint8 HxWx3 RGB of a :data:`TRAINABLE_SKIMAGE` photo at its native size."""
    import skimage.data

    if stem not in TRAINABLE_SKIMAGE:
        raise ValueError(f"{stem!r} is not a trainable skimage photo; choose from "
                         f"{TRAINABLE_SKIMAGE}")
    return np.ascontiguousarray(getattr(skimage.data, stem)()[:, :, :3])


def _resize_long_side(rgb: np.ndarray, long_side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = long_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(rgb, size, interpolation=interp)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
