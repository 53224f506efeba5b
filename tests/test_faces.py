"""photomend.faces: detection, mesh, alignment and paste-back (known answers on the astronaut
photo), the CLI, and every bad input named in issue 26 (no face, face at the border, tiny
faces, bad options)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from photomend.cli import main
from photomend.faces import align, detect
from photomend.faces.api import find_faces
from photomend.faces.landmarks import five_points

skimage_data = pytest.importorskip("skimage.data")
#: The astronaut's eye centres (image-left first), read off the photo by hand.
EYES = np.array([[203.0, 102.5], [247.0, 105.0]])


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage_data.astronaut().astype(np.float32) / 255


@pytest.fixture(scope="module")
def astro_faces(astronaut):
    return find_faces(astronaut)


def test_anchor_grids_match_mediapipe():
    short, full = detect.anchors(detect.SHORT_RANGE), detect.anchors(detect.FULL_RANGE)
    assert short.shape == (896, 2) and full.shape == (2304, 2)
    # 16x16 cells x 2 anchors at stride 8, then 8x8 cells x 6 anchors (three stride-16 layers)
    assert np.allclose(short[510:514], [[31 / 32, 31 / 32]] * 2 + [[1 / 16, 1 / 16]] * 2)
    assert np.allclose(full[-1], [95 / 96, 95 / 96])


def test_decode_box_and_keypoints():
    raw = np.zeros((2304, 16), np.float32)
    raw[0] = [9.6, 0, 19.2, 38.4] + [0, 0] * 6  # shifted 0.05 right, 0.1 x 0.2 of the input
    raw[0, 4:6] = [19.2, 19.2]
    boxes, kps, scores = detect.decode(raw, np.full(2304, 1e9, np.float32), detect.FULL_RANGE)
    cx = 1 / 96 + 0.05
    assert np.allclose(boxes[0], [cx - 0.05, 1 / 96 - 0.1, cx + 0.05, 1 / 96 + 0.1])
    assert np.allclose(kps[0, 0], [1 / 96 + 0.1] * 2) and scores[0] == 1.0


def test_astronaut_one_face_eyes_where_they_are(astro_faces):
    assert len(astro_faces) == 1
    face = astro_faces[0]
    assert face.score > 0.8 and face.mesh_score > 0.9
    iod = np.linalg.norm(EYES[1] - EYES[0])
    assert np.linalg.norm(face.points[:2] - EYES, axis=1).max() < 0.1 * iod
    det_eyes = np.array([face.keypoints["right_eye"], face.keypoints["left_eye"]])
    assert np.linalg.norm(det_eyes - EYES, axis=1).max() < 0.15 * iod
    assert face.eye_error < 0.1


def test_aligned_crop_puts_the_eyes_on_the_template(astronaut, astro_faces):
    face = astro_faces[0]
    m = face.matrix_for(256)
    eyes = face.points[:2] @ m[:, :2].T + m[:, 2]
    assert np.abs(eyes - align.FFHQ_5[:2] / 2).max() < 4  # least squares over 5 points
    # the mesh found on the aligned crop agrees
    crop = align.warp_face(astronaut, m, 256)
    again = find_faces(crop, detector="short")
    assert len(again) == 1
    assert np.abs(again[0].points[:2] - align.FFHQ_5[:2] / 2).max() < 0.08 * 63


def test_rotated_photo_gives_the_same_aligned_face(astronaut, astro_faces):
    import cv2

    rot = cv2.getRotationMatrix2D((225, 120), 25, 1.0)
    turned = cv2.warpAffine(astronaut, rot, (512, 512), borderMode=cv2.BORDER_REFLECT_101)
    faces = find_faces(turned)
    assert len(faces) == 1
    a = align.warp_face(astronaut, astro_faces[0].matrix_for(128), 128)
    b = align.warp_face(turned, faces[0].matrix_for(128), 128)
    assert np.abs(a - b)[16:112, 16:112].mean() < 0.06


def test_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.random((5, 2)) * 100
    ang, s, t = 0.3, 1.7, np.array([12.0, -4.0])
    r = s * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    m = align.similarity(src, src @ r.T + t)
    assert np.allclose(m[:, :2], r) and np.allclose(m[:, 2], t)


def test_five_points_order():
    mesh = np.zeros((468, 2))
    mesh[[33, 133]] = [[10, 0], [20, 0]]
    got = five_points(mesh)
    assert got.shape == (5, 2) and 0 < got[0, 0] < 20  # the image-left eye's contour mean


def test_paste_leaves_pixels_outside_the_mask_unchanged(astronaut, astro_faces):
    m = astro_faces[0].matrix_for(128)
    face = np.ones((128, 128, 3), np.float32)
    out, weight = align.paste_face(astronaut, face, m)
    outside = weight == 0
    assert outside.mean() > 0.8
    assert np.array_equal(out[outside], astronaut[outside])
    x, y = astro_faces[0].points[2]
    assert out[int(y), int(x)].min() > 0.99  # the nose is fully replaced
    same, _ = align.paste_face(astronaut, face, m, strength=0.0)
    assert np.array_equal(same, astronaut)
    with pytest.raises(ValueError):
        align.paste_face(astronaut, face, m, strength=1.5)


def test_no_face_is_an_empty_list():
    faces = find_faces(np.full((120, 200, 3), 0.5, np.float32))
    assert faces == [] and faces.skipped_small == 0


def test_face_at_the_border_is_found_and_aligned(astronaut):
    cut = astronaut[60:300, 215:]  # the left half of the face is outside the photo
    faces = find_faces(cut)
    assert len(faces) >= 1
    crop = align.warp_face(cut, faces[0].matrix_for(128), 128)
    assert crop.shape == (128, 128, 3) and np.isfinite(crop).all()


def test_tiny_faces_are_skipped_and_counted(astronaut):
    faces = find_faces(astronaut, min_size=500)
    assert len(faces) == 0 and faces.skipped_small == 1


def test_small_face_in_a_large_photo_found_through_tiles(astronaut):
    import cv2

    small = cv2.resize(astronaut, (160, 160), interpolation=cv2.INTER_AREA)  # face ~31 px
    canvas = np.full((1200, 1600, 3), 0.45, np.float32)
    canvas[700:860, 1100:1260] = small
    whole = find_faces(canvas, detector="short")
    tiled = find_faces(canvas)
    assert len(tiled) == 1 and not whole
    x0, y0, x1, y1 = tiled[0].box
    assert 1130 < (x0 + x1) / 2 < 1175 and 715 < (y0 + y1) / 2 < 760


@pytest.mark.parametrize("layout", ["grey", "rgba", "uint16"])
def test_layouts(astronaut, layout):
    if layout == "grey":
        img = astronaut.mean(axis=2)
    elif layout == "rgba":
        img = np.dstack([astronaut, np.ones(astronaut.shape[:2], np.float32)])
    else:
        img = (astronaut * 65535).astype(np.uint16)
    assert len(find_faces(img)) == 1


def test_bad_options(astronaut):
    from photomend.errors import InputError

    with pytest.raises(InputError, match="detector"):
        find_faces(astronaut, detector="huge")
    with pytest.raises(InputError, match="min_score"):
        find_faces(astronaut, min_score=2)


@pytest.fixture(scope="module")
def astro_png(tmp_path_factory):
    path = tmp_path_factory.mktemp("photos") / "astro.png"
    Image.fromarray(skimage_data.astronaut()).save(path)
    return path


def test_cli_json_overlay_and_crops(astro_png, tmp_path, capsys):
    overlay, crops = tmp_path / "ov.png", tmp_path / "crops"
    assert main(["faces", str(astro_png), "--overlay", str(overlay), "--aligned-dir",
                 str(crops), "--size", "128"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["faces"]) == 1 and out["skipped_small"] == 0
    assert Image.open(overlay).size == (512, 512)
    assert Image.open(crops / "face_0.png").size == (128, 128)


def test_cli_no_face_note(tmp_path, capsys):
    path = tmp_path / "flat.png"
    Image.fromarray(np.full((40, 60, 3), 128, np.uint8)).save(path)
    assert main(["faces", str(path)]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out)["faces"] == [] and "no face found" in cap.err


@pytest.mark.parametrize("argv, needle", [
    (["--min-score", "3"], "min_score"),
    (["--size", "8"], "--size"),
])
def test_cli_bad_input_one_line_exit_2(astro_png, capsys, argv, needle):
    assert main(["faces", str(astro_png), *argv]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and needle in err[0]


def test_cli_missing_file(tmp_path, capsys):
    assert main(["faces", str(tmp_path / "nope.jpg")]) == 2
    assert "nope.jpg" in capsys.readouterr().err
