"""The image file formats photomend writes, by file name suffix.

A module of its own, importing nothing, so that the command line can name them (``--help``,
folder listings) without loading Pillow or NumPy.
"""

#: File name suffix -> format written by :func:`photomend.io.write_image`.
FORMATS_BY_SUFFIX = {
    ".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP",
    ".tif": "TIFF", ".tiff": "TIFF",
}
#: The suffixes of the image files photomend reads in folders and writes.
IMAGE_SUFFIXES = tuple(FORMATS_BY_SUFFIX)
