"""The faces option of the HTTP API (restore and upscale) and GET /v1/faces, on a random
GFPGAN checkpoint in the release layout (64 px, exported to ONNX as `models import` does)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
pytest.importorskip("torch")
skimage_data = pytest.importorskip("skimage.data")

from fastapi.testclient import TestClient  # noqa: E402

from photomend.server import Settings, create_app  # noqa: E402
from test_faces_gfpgan import exported, installed, models_dir  # noqa: E402,F401

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


ASTRO = skimage_data.astronaut()[::2, ::2].copy()  # 256 px, one face ~50 px wide
ASTRO_PNG = _png(ASTRO)


@pytest.fixture
def client(models_dir):  # noqa: F811
    with TestClient(create_app(Settings(workers=1, executor="thread", max_pixels=4_000_000)),
                    base_url="http://127.0.0.1") as c:
        yield c


def _run(client, op: str, data: dict) -> dict:
    r = client.post(f"/v1/{op}", files={"image": ("astro.png", ASTRO_PNG, "image/png")},
                    data=data)
    assert r.status_code == 202, r.text
    job = r.json()
    deadline = time.monotonic() + 120
    while job["state"] not in ("done", "failed", "cancelled"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
        job = client.get(job["status_url"]).json()
    assert job["state"] == "done", job
    return job


def _image(client, job: dict) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(client.get(job["result_url"]).content)))


def test_missing_weights_refused_with_the_command(client):
    methods = {m["name"]: m for m in client.get("/v1/faces").json()}
    assert set(methods) == {"gfpgan", "pulse"} and not methods["gfpgan"]["installed"]
    r = client.post("/v1/upscale", files={"image": ("a.png", ASTRO_PNG, "image/png")},
                    data={"faces": "gfpgan"})
    assert r.status_code == 422, r.text
    assert "photomend models fetch gfpgan-v1.4" in r.json()["message"]


@pytest.mark.parametrize("data", [{"faces": "codeformer"}, {"faces": "gfpgan",
                                                             "face_strength": "1.5"}])
def test_bad_face_options_are_422(client, installed, data):  # noqa: F811
    r = client.post("/v1/upscale", files={"image": ("a.png", ASTRO_PNG, "image/png")},
                    data=data)
    assert r.status_code == 422, r.text


def _outside_faces(summary: dict, shape, scale: int, pad: float = 1.0) -> np.ndarray:
    """True away from every face box (grown by ``pad`` box sides each way)."""
    keep = np.ones(shape[:2], bool)
    for x0, y0, x1, y1 in summary["boxes"]:
        w, h = (x1 - x0) * pad, (y1 - y0) * pad
        keep[max(0, int((y0 - h) * scale)):int((y1 + h) * scale) + 1,
             max(0, int((x0 - w) * scale)):int((x1 + w) * scale) + 1] = False
    return keep


def test_upscale_with_faces_changes_only_the_face(client, installed):  # noqa: F811
    assert {m["name"]: m["installed"] for m in client.get("/v1/faces").json()}["gfpgan"]
    plain = _image(client, _run(client, "upscale", {"scale": "2"}))
    job = _run(client, "upscale", {"scale": "2", "faces": "gfpgan"})
    assert job["outputs"] == ["image", "faces"]
    summary = json.loads(client.get(job["result_url"], params={"output": "faces"}).content)
    assert summary["faces"] == 1 and summary["method"] == "gfpgan"
    out = _image(client, job)
    assert out.shape == plain.shape == (512, 512, 3)
    away = _outside_faces(summary, out.shape, 2)
    assert away.mean() > 0.5
    assert (out[away] == plain[away]).all()
    assert np.abs(out[~away].astype(int) - plain[~away]).mean() > 1


def test_restore_with_faces_and_strength_zero(client, installed):  # noqa: F811
    base = {"detector": "classical"}
    plain = _image(client, _run(client, "restore", base))
    job = _run(client, "restore", {**base, "faces": "gfpgan"})
    assert job["outputs"] == ["image", "mask", "faces"]
    out = _image(client, job)
    assert np.abs(out.astype(int) - plain).max() > 10  # the face was restored
    zero = _image(client, _run(client, "restore", {**base, "faces": "gfpgan",
                                                     "face_strength": "0"}))
    assert (zero == plain).all()


def test_upscale_with_pulse_reports_each_face_and_the_identity_note(client, monkeypatch):
    from photomend import zoo
    from photomend.faces import pulse_search
    from test_faces_pulse import tiny_weights

    real = zoo.model_path
    monkeypatch.setattr(zoo, "model_path", lambda name: (
        Path("installed") if name.startswith("pulse-") else real(name)))
    monkeypatch.setattr(pulse_search, "installed_weights", lambda: tiny_weights(32))
    methods = {m["name"]: m for m in client.get("/v1/faces").json()}
    assert methods["pulse"]["models"] == ["pulse-stylegan-ffhq", "pulse-gaussian-fit"]
    job = _run(client, "upscale", {"scale": "2", "model": "bicubic", "faces": "pulse",
                                   "face_steps": "2", "face_seed": "1"})
    summary = json.loads(client.get(job["result_url"], params={"output": "faces"}).content)
    assert summary["method"] == "pulse" and summary["faces"] == 1
    (report,) = summary["pulse"]
    assert report["lr_side"] == 32 and isinstance(report["matched"], bool)
    assert "not the person's face" in summary["note"]
    r = client.post("/v1/upscale", files={"image": ("a.png", ASTRO_PNG, "image/png")},
                    data={"faces": "pulse", "face_steps": "0"})
    assert r.status_code == 422, r.text
