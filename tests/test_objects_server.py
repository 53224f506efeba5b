"""``POST /v1/objects``: instances as JSON and their masks as PNGs."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
skimage_data = pytest.importorskip("skimage.data")

from fastapi.testclient import TestClient  # noqa: E402

from photomend.server import Settings, create_app  # noqa: E402

COAT, SKY = (100, 300), (100, 40)


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(workers=1, executor="thread")),
                    base_url="http://127.0.0.1") as c:
        yield c


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


def test_objects_route_gives_instances_and_masks(client):
    files = {"image": ("camera.png", _png(skimage_data.camera()))}
    r = client.post("/v1/objects?wait=true", files=files, data={"classes": "person"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    report = json.loads(r.content)
    assert (report["width"], report["height"]) == (512, 512)
    first = report["instances"][0]
    assert first["label"] == "person" and first["mask"] == "mask_0"
    job = client.post("/v1/objects", files=files).json()
    while job["state"] not in ("done", "failed"):
        job = client.get(job["status_url"]).json()
    assert {"instances", "mask", "mask_0"} <= set(job["outputs"])
    mask = client.get(job["result_url"] + "?output=mask")
    assert mask.headers["content-type"] == "image/png"
    m = np.asarray(Image.open(io.BytesIO(mask.content)).convert("L")) > 127
    assert m[COAT[1], COAT[0]] and not m[SKY[1], SKY[0]]
    own = client.get(job["result_url"] + "?output=mask_0")
    m0 = np.asarray(Image.open(io.BytesIO(own.content)).convert("L")) > 127
    assert m0[COAT[1], COAT[0]] and m0.sum() <= m.sum()


def test_objects_route_rejects_unknown_class(client):
    files = {"image": ("camera.png", _png(skimage_data.camera()))}
    r = client.post("/v1/objects", files=files, data={"classes": "unicorn"})
    assert r.status_code in (400, 422), r.text
    assert "valid classes" in r.json()["message"]


def test_remove_route_accepts_auto_instead_of_a_mask(client):
    camera = skimage_data.camera()
    files = {"image": ("camera.png", _png(camera))}
    r = client.post("/v1/remove?wait=true", files=files, data={"auto": "person",
                                                               "engine": "telea"})
    assert r.status_code == 200, r.text
    out = np.asarray(Image.open(io.BytesIO(r.content)).convert("L"))
    assert out[SKY[1], SKY[0]] == camera[SKY[1], SKY[0]]
    assert np.abs(out.astype(int) - camera).sum() > 10_000
    r = client.post("/v1/remove", files=files, data={"engine": "telea"})
    assert r.status_code == 422 and "auto" in r.json()["message"]
    r = client.post("/v1/remove", files=files, data={"auto": "unicorn"})
    assert r.status_code == 422 and "valid classes" in r.json()["message"]
