"""photomend.objects: people found and masked, click-to-select, bad input.

Known answers on scikit-image's ``camera`` photo (a man with a tripod, sky behind him) and
``astronaut``; both ship inside scikit-image (the ``test`` extra).
"""

from __future__ import annotations

import io

import numpy as np
import pytest

import photomend
from photomend.errors import InputError
from photomend.objects import COCO_CLASSES, SelectError, UnknownClassError
from photomend.objects.detect import REG_BINS, decode

skimage_data = pytest.importorskip("skimage.data")

#: Points on ``camera`` (x, y): his coat, his face, the open sky above the grass.
COAT, FACE, SKY = (100, 300), (240, 120), (100, 40)


@pytest.fixture(scope="module")
def camera() -> np.ndarray:
    return skimage_data.camera()  # 512x512 uint8 grey


@pytest.fixture(scope="module")
def camera_people(camera):
    return photomend.find_objects(camera)


def test_person_found_and_covered(camera, camera_people):
    man = camera_people[0]  # best first; a weaker box may hold his hand on the camera
    assert man.label == "person" and man.score > 0.5
    assert man.mask.shape == camera.shape
    for x, y in (COAT, FACE):
        assert man.mask[y, x]
    assert not man.mask[SKY[1], SKY[0]]
    assert 0.15 < man.mask.mean() < 0.35  # the man, not the whole frame
    for other in camera_people[1:]:  # only parts of him (the hand on the camera)
        assert other.label == "person" and other.mask.sum() < 0.1 * man.mask.sum()
        x0, y0, x1, y1 = man.box
        assert x0 < other.box[0] < x1 and y0 < other.box[1] < y1


def test_auto_mask_covers_the_person_and_grows(camera, camera_people):
    tight = photomend.auto_mask(camera, "person", grow=0, instances=camera_people)
    grown = photomend.auto_mask(camera, "person", grow=8, instances=camera_people)
    assert np.array_equal(tight, np.logical_or.reduce([p.mask for p in camera_people]))
    assert grown.sum() > tight.sum() and (grown | tight).sum() == grown.sum()


def test_removal_with_auto_mask_changes_only_the_person(camera, camera_people):
    mask = photomend.auto_mask(camera, instances=camera_people)
    rgb = photomend.read_image(camera).rgb
    out = photomend.remove_array(rgb, mask, engine="telea")
    assert np.array_equal(out[~mask], rgb[~mask])
    assert np.abs(out[mask] - rgb[mask]).mean() > 0.05


def test_keep_point_keeps_that_person(camera, camera_people):
    mask = photomend.auto_mask(camera, keep=[COAT], instances=camera_people)
    assert not mask.any()


def test_sky_point_selects_the_sky_not_the_person(camera, camera_people):
    sky = photomend.select_mask(camera, SKY, instances=camera_people)
    assert sky[SKY[1], SKY[0]]
    assert not (sky & camera_people[0].mask).any()
    assert not sky[FACE[1], FACE[0]]
    assert not sky[COAT[1], COAT[0]] and not sky[480, 400]  # not the grass either
    assert sky[:60].mean() > 0.8


def test_point_on_person_selects_the_person(camera, camera_people):
    sel = photomend.select_mask(camera, COAT)
    inter = (sel & camera_people[0].mask).sum()
    assert inter / camera_people[0].mask.sum() > 0.95


def test_colour_photo(camera):
    people = photomend.find_objects(skimage_data.astronaut())
    assert [p.label for p in people] == ["person"]
    assert people[0].mask[200, 250]  # her face


@pytest.mark.parametrize("variant", ["uint16", "rgba", "float", "exif"])
def test_layouts_give_masks_in_the_photos_orientation(camera, camera_people, variant, tmp_path):
    from PIL import Image

    ref = camera_people[0].mask
    if variant == "uint16":
        image = camera.astype(np.uint16) * 257
    elif variant == "rgba":
        image = np.dstack([camera] * 3 + [np.full_like(camera, 200)])
    elif variant == "float":
        image = camera.astype(np.float32) / 255
    else:  # stored turned a quarter anticlockwise; EXIF orientation 6 turns it back
        buf = io.BytesIO()
        exif = Image.Exif()
        exif[0x0112] = 6
        Image.fromarray(np.rot90(camera)).save(buf, "JPEG", quality=95, exif=exif)
        image = photomend.read_image(buf.getvalue())
    people = photomend.find_objects(image)
    assert people and people[0].label == "person"
    mask = people[0].mask  # the best (a JPEG's noise may add a weak second box)
    assert mask.shape == ref.shape
    iou = (mask & ref).sum() / (mask | ref).sum()
    assert iou > 0.9


def test_no_people_finds_nothing():
    flat = np.full((120, 160, 3), 0.5, np.float32)
    assert photomend.find_objects(flat) == []
    assert not photomend.auto_mask(flat).any()


def test_invalid_input(camera):
    with pytest.raises(UnknownClassError, match="valid classes: person, bicycle"):
        photomend.find_objects(camera, "pedestrian")
    with pytest.raises(InputError, match="min_score"):
        photomend.find_objects(camera, min_score=1.5)
    with pytest.raises(SelectError, match="outside"):
        photomend.select_mask(camera, (512, 10))
    with pytest.raises(SelectError):
        photomend.auto_mask(camera, keep=[(-1, 5)])


def test_decode_is_the_expectation_over_bins():
    """A side whose distribution is split evenly between bins 2 and 3 lies 2.5 strides out
    (the argmax some ports use would say 2)."""
    reg = np.full((13 * 13, 4 * REG_BINS), -30.0, np.float32)
    for side in range(4):
        reg[:, side * REG_BINS + 2] = reg[:, side * REG_BINS + 3] = 10.0
    boxes, scores = decode({32: np.zeros((13 * 13, len(COCO_CLASSES)), np.float32)}, {32: reg})
    cx = cy = 16.0  # cell (0, 0) of the stride-32 grid
    assert np.allclose(boxes[0], [cx - 80, cy - 80, cx + 80, cy + 80])
    assert scores.shape == (169, 80)


def test_grow_mask_matches_a_full_frame_dilation():
    import cv2

    from photomend.objects.api import grow_mask

    m = np.zeros((300, 400), bool)
    m[50:120, 60:90] = True
    m[0:10, 390:400] = True  # at the border
    for px in (1, 7, 40):
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
        assert np.array_equal(grow_mask(m, px), cv2.dilate(m.astype(np.uint8), k).astype(bool))


@pytest.mark.parametrize("name", ["nanodet.onnx", "pose_landmark_full.onnx"])
def test_shipped_weights_match_the_hashes_in_the_data_readme(name):
    import hashlib
    from importlib.resources import files

    data = files("photomend") / "data"
    digest = hashlib.sha256((data / "weights" / name).read_bytes()).hexdigest()
    readme = (data / "README.md").read_text(encoding="utf-8")
    assert f"| `weights/{name}` | `{digest}` |" in readme
