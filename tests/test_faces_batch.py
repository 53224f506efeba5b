"""The batch runner's ``faces`` step (photomend.batch.operations), on a random GFPGAN
checkpoint in the release layout (64 px, exported to ONNX as `models import` does)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")
skimage_data = pytest.importorskip("skimage.data")

from photomend.batch import JobSpec, Step, run_job  # noqa: E402
from photomend.batch.local import InlineExecutor  # noqa: E402
from photomend.errors import InputError  # noqa: E402
from test_faces_gfpgan import exported, installed, models_dir  # noqa: E402,F401

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _job(tmp_path, steps) -> JobSpec:
    return JobSpec(steps=tuple(steps), input_dir=tmp_path / "in", output_dir=tmp_path / "out")


@pytest.fixture
def photos(tmp_path):
    (tmp_path / "in").mkdir()
    Image.fromarray(skimage_data.astronaut()[::2, ::2].copy()).save(tmp_path / "in" / "a.png")
    Image.fromarray(np.full((64, 80, 3), 128, np.uint8)).save(tmp_path / "in" / "wall.png")
    return tmp_path / "in"


def _run(job):
    return run_job(job, progress=False, executor_factory=InlineExecutor)


def test_missing_weights_and_bad_options_fail_before_work(tmp_path, photos, models_dir):  # noqa: F811
    with pytest.raises(InputError, match="photomend models fetch gfpgan-v1.4"):
        _run(_job(tmp_path, [Step("faces")]))
    with pytest.raises(InputError, match="strength"):
        _run(_job(tmp_path, [Step("faces", {"strength": 3})]))
    with pytest.raises(InputError, match="unknown face method"):
        _run(_job(tmp_path, [Step("faces", {"method": "codeformer"})]))
    assert not (tmp_path / "out").exists()


def test_upscale_then_faces_changes_only_the_face(tmp_path, photos, installed):  # noqa: F811
    up = Step("upscale", {"scale": 2, "model": "bicubic"})
    summary = _run(_job(tmp_path, [up, Step("faces", {"method": "gfpgan", "strength": 1})]))
    assert (summary.done, summary.failed) == (2, [])
    plain = _job(tmp_path / "plain", [up])
    plain = JobSpec(steps=plain.steps, input_dir=photos, output_dir=tmp_path / "plain")
    assert _run(plain).done == 2
    a = np.asarray(Image.open(tmp_path / "out" / "a.png")).astype(int)
    b = np.asarray(Image.open(tmp_path / "plain" / "a.png")).astype(int)
    assert a.shape == b.shape == (512, 512, 3)
    changed = np.any(a != b, axis=2)
    assert 0.005 < changed.mean() < 0.2  # the face, not the photo
    ys, xs = np.nonzero(changed)  # the astronaut's face box at 512 px: x 174-275, y 76-176
    assert 174 < xs.mean() < 275 and 76 < ys.mean() < 176
    wall = np.asarray(Image.open(tmp_path / "out" / "wall.png"))  # no face: unchanged
    assert (wall == np.asarray(Image.open(tmp_path / "plain" / "wall.png"))).all()
