"""Finding the files that belong to an image: its mask, its colour hints, ... by file name.

One rule, shared by the CLI's folder modes (``remove --mask``, ``colorize --hints``, ``restore
--extra-mask``) and the batch runner: the companion of ``photo.jpg`` in a folder is
``photo.png``, then ``photo_<tag>.png``, then ``photo.*`` and ``photo_<tag>.*`` (image suffixes;
hints may also be JSON), never the image itself.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from photomend.formats import IMAGE_SUFFIXES
#: Colour hints are an image of strokes or a JSON list of points/strokes.
HINT_SUFFIXES = (*IMAGE_SUFFIXES, ".json")


def find_companion(image: str | os.PathLike[str], folder: str | os.PathLike[str], *,
                   tag: str, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> Path | None:
    """The file in ``folder`` that belongs to ``image``: stem.png, stem_TAG.png, stem.*,
    stem_TAG.* (``suffixes`` only; never ``image`` itself), or None.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); _ = (d / "a_mask.png").write_bytes(b"")
    >>> find_companion("photos/a.jpg", d, tag="mask").name
    'a_mask.png'
    """
    image, folder = Path(image), Path(folder)
    stem = glob.escape(image.stem)
    candidates = [folder / f"{image.stem}.png", folder / f"{image.stem}_{tag}.png"]
    candidates += sorted(folder.glob(f"{stem}.*")) + sorted(folder.glob(f"{stem}_{tag}.*"))
    for path in candidates:
        if (path.stem in (image.stem, f"{image.stem}_{tag}") and path.is_file()
                and path.suffix.lower() in suffixes and not _same_file(path, image)):
            return path
    return None


class CompanionIndex:
    """:func:`find_companion` for many images of one folder: the folder is listed once, not
    once per image (archives hold hundreds of thousands of masks).

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); _ = (d / "a.tif").write_bytes(b"")
    >>> CompanionIndex(d, tag="mask").find("photos/a.jpg").name
    'a.tif'
    """

    def __init__(self, folder: str | os.PathLike[str], *, tag: str,
                 suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> None:
        self.folder, self.tag = Path(folder), tag
        self.by_stem: dict[str, list[str]] = {}
        with os.scandir(self.folder) as entries:
            for entry in entries:
                if entry.is_file() and Path(entry.name).suffix.lower() in suffixes:
                    self.by_stem.setdefault(Path(entry.name).stem, []).append(entry.name)
        for names in self.by_stem.values():
            names.sort()

    def find(self, image: str | os.PathLike[str]) -> Path | None:
        """The same answer as ``find_companion(image, folder, tag=tag, suffixes=...)``."""
        image = Path(image)
        plain, tagged = image.stem, f"{image.stem}_{self.tag}"
        names = self.by_stem.get(plain, []), self.by_stem.get(tagged, [])
        ordered = [n for n in (f"{plain}.png", f"{tagged}.png") if n in names[0] + names[1]]
        for name in ordered + names[0] + names[1]:
            path = self.folder / name
            if not _same_file(path, image):
                return path
        return None


def find_mask(image: str | os.PathLike[str], folder: str | os.PathLike[str]) -> Path | None:
    """The mask of ``image`` in ``folder``: stem.png, stem_mask.png, then stem.* / stem_mask.*."""
    return find_companion(image, folder, tag="mask")


def find_hints(image: str | os.PathLike[str], folder: str | os.PathLike[str]) -> Path | None:
    """The colour hints of ``image`` in ``folder``: stem.png, stem_hints.png, then stem.* /
    stem_hints.* (images or JSON)."""
    return find_companion(image, folder, tag="hints", suffixes=HINT_SUFFIXES)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
