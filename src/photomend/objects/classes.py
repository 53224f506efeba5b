"""The 80 COCO class names NanoDet was trained on, in the order of its score channels."""

from __future__ import annotations

from photomend.errors import InputError

COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich",
    "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)


class UnknownClassError(InputError):
    """A class name that is not one of :data:`COCO_CLASSES`."""


def parse_classes(classes: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Validated class names from ``"person,car"`` or a sequence; ``_`` may stand for a space.

    >>> parse_classes("person, traffic_light")
    ('person', 'traffic light')
    >>> parse_classes("persons")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    photomend.objects.classes.UnknownClassError: unknown class 'persons'; valid classes: person, ...
    """
    if isinstance(classes, str):
        classes = classes.split(",")
    names = []
    for raw in classes:
        name = str(raw).strip().lower().replace("_", " ")
        if not name:
            continue
        if name not in COCO_CLASSES:
            raise UnknownClassError(
                f"unknown class {raw.strip()!r}; valid classes: {', '.join(COCO_CLASSES)}"
            )
        if name not in names:
            names.append(name)
    if not names:
        raise UnknownClassError(f"no class given; valid classes: {', '.join(COCO_CLASSES)}")
    return tuple(names)
