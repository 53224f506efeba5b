"""The batch step ``remove_auto`` (see :mod:`photomend.batch.operations`)."""

from __future__ import annotations

from photomend.io import LoadedImage


def remove_auto_step(image: LoadedImage, *, mask: str | None, hints: str | None,
                     max_pixels: int | None, auto=("person",), grow: int | None = None,
                     min_score: float = 0.25, keep=(), **options) -> LoadedImage:
    """The batch step ``remove_auto``: ``photomend remove --auto`` on each photo
    (``steps = [{ op = "remove_auto", auto = ["person"] }]``); ``options`` go to
    :func:`photomend.removal.remove_array` (engine, hd_strategy, working_size, seed)."""
    from photomend.objects.api import auto_mask
    from photomend.removal import remove_array

    hole = auto_mask(image, list(auto), grow=grow, min_score=min_score,
                     keep=[tuple(p) for p in keep])
    if not hole.any():
        return image  # nobody found: written unchanged, as `photomend remove --auto`
    return image.with_rgb(remove_array(image.rgb, hole, **options))
