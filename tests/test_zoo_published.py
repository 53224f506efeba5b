"""Zoo entries with a published address are fetched over HTTP (``photomend models fetch NAME``):
registry-wide checks, then Big-LaMa's ONNX export, Big-LaMa's torch file (torch checked
before any download) and a Real-ESRGAN ``.pth`` with no published hash, each from a local HTTP
server publishing a generated stand-in under the published file name."""

from __future__ import annotations

import hashlib
import http.server
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from photomend import zoo
from photomend.cli import main
from photomend.engines import create_engine, engine_readiness
from photomend.errors import OptionalDependencyError

DATA = Path(__file__).resolve().parent / "data"


def _published_at_url(spec: zoo.ModelSpec) -> bool:
    """A plain file address (Google Drive answers large files with a confirmation page)."""
    return (spec.source.startswith(("https://", "http://"))
            and "drive.google.com" not in spec.source)


@pytest.mark.parametrize("name", sorted(s.name for s in zoo.list_models()
                                        if _published_at_url(s)))
def test_every_entry_with_an_address_can_be_fetched(name):
    spec = zoo.get_model(name)
    assert spec.fetch is not None and spec.convert is not None
    assert f"photomend models fetch {name}" in spec.instructions()
    filename = spec.published_filename or spec.source.rsplit("/", 1)[-1]
    assert spec.source.endswith(filename)  # download_source saves it under that name


@pytest.mark.parametrize("name, url", [
    ("migan", "https://huggingface.co/andraniksargsyan/migan/resolve/main/"
              "migan_pipeline_v2.onnx"),
    ("big-lama", "https://github.com/Sanster/models/releases/download/add_big_lama/big-lama.pt"),
    ("big-lama-onnx", "https://huggingface.co/Carve/LaMa-ONNX/resolve/main/lama_fp32.onnx"),
    ("realesrgan-x2plus", "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.2.1/"
                          "RealESRGAN_x2plus.pth"),
    ("realesr-general-x4v3", "https://github.com/xinntao/Real-ESRGAN/releases/download/"
                             "v0.2.5.0/realesr-general-x4v3.pth"),
])
def test_published_addresses(name, url):
    spec = zoo.get_model(name)
    assert url in (spec.source, spec.extra.get("url"))
    if name != "big-lama" and not name.startswith("realesr"):  # (those publish no SHA-256)
        assert len(spec.sha256) == 64


class _Serve(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802
        self.server.log.append(self.path)
        body = self.server.files.get(self.path.rsplit("/", 1)[-1])
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def publish(tmp_path, monkeypatch):
    """``publish(name, data, **changes)``: entry ``name`` pointed at a local server that
    publishes ``data`` under the entry's published file name."""
    monkeypatch.setenv("PHOTOMEND_MODELS", str(tmp_path / "models"))
    for var in ("PHOTOMEND_OFFLINE", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(var, raising=False)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Serve)
    srv.files, srv.log = {}, []
    threading.Thread(target=srv.serve_forever, daemon=True).start()

    def point(name: str, data: bytes, **changes) -> zoo.ModelSpec:
        spec = zoo.get_model(name)
        filename = spec.published_filename or spec.source.rsplit("/", 1)[-1]
        srv.files[filename] = data
        spec = replace(spec, source=f"http://127.0.0.1:{srv.server_port}/dl/{filename}",
                       **changes)
        monkeypatch.setitem(zoo._REGISTRY, name, spec)
        return spec

    point.server = srv
    yield point
    srv.shutdown()
    srv.server_close()


def test_big_lama_onnx_is_fetched_checked_and_run_without_torch(publish, monkeypatch):
    data = (DATA / "lama_onnx_wrapped_512.onnx").read_bytes()  # a fixed 512x512 export
    publish("big-lama-onnx", data, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    assert "models fetch big-lama-onnx" in engine_readiness("lama")
    assert main(["models", "fetch", "big-lama-onnx", "--quiet"]) == 0
    assert zoo.read_record(zoo.installed_path("big-lama-onnx"))["verified"]
    from photomend.engines import lama as lama_engine

    monkeypatch.setattr(lama_engine, "_has", lambda module: module != "torch")
    assert engine_readiness("lama") is None
    eng = create_engine("lama")
    assert eng.backend == "onnx"
    img = np.random.default_rng(0).random((40, 56, 3), dtype=np.float32)
    mask = np.zeros((40, 56), bool)
    mask[10:20, 15:30] = True
    out = eng.inpaint(img, mask)
    assert np.abs(out[mask] - 0.25).max() < 0.02  # the stand-in's fill, 0..255 rescaled


def test_big_lama_onnx_with_another_hash_is_refused(publish, capsys):
    publish("big-lama-onnx", (DATA / "lama_onnx_wrapped_512.onnx").read_bytes())
    assert main(["models", "fetch", "big-lama-onnx"]) == 2
    err = capsys.readouterr().err
    assert "SHA-256" in err and len(err.strip().splitlines()) == 1
    assert zoo.installed_path("big-lama-onnx") is None


def test_big_lama_without_torch_downloads_nothing(publish, monkeypatch, capsys):
    publish("big-lama", b"not fetched")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(OptionalDependencyError, match="photomend\\[torch\\]"):
        zoo.fetch_model("big-lama")
    assert publish.server.log == []


def test_big_lama_md5_is_checked(publish, capsys):
    pytest.importorskip("torch")
    publish("big-lama", b"a corrupt download")  # the entry keeps IOPaint's MD5
    assert main(["models", "fetch", "big-lama"]) == 2
    err = capsys.readouterr().err
    assert "MD5" in err and zoo.installed_path("big-lama") is None


def test_realesrgan_pth_over_http_without_a_published_hash(publish, tmp_path, monkeypatch):
    from test_upscale_published import _random_state, _write_pth

    from photomend.upscaling import zoo_entries

    release = zoo_entries.REALESRGAN["realesr-general-x4v3"]
    pth = tmp_path / release.filename
    _write_pth(pth, _random_state(release.arch, 0), "params", monkeypatch)
    spec = publish("realesr-general-x4v3", pth.read_bytes())
    assert spec.sha256 is None and spec.fetch is zoo.download_source
    assert main(["models", "fetch", "realesr-general-x4v3", "--quiet"]) == 0
    record = zoo.read_record(zoo.installed_path("realesr-general-x4v3"))
    assert record["source_sha256"] == zoo.sha256_of(pth) and not record["verified"]


def test_an_onnx_export_that_does_not_zero_the_hole_does_not_see_the_object(tmp_path):
    """The lama engine zeroes the hole before a wrapped export sees it (Carve's and others'
    graphs are not documented to do it themselves)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def t(name, c):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, c, 512, 512])

    graph = helper.make_graph(  # output = image x 255: it ignores the mask entirely
        [helper.make_node("Mul", ["image", "scale"], ["output"])], "echo",
        [t("image", 3), t("mask", 1)], [t("output", 3)],
        [numpy_helper.from_array(np.array(255.0, np.float32), "scale")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "echo.onnx")
    eng = create_engine("lama", weights=tmp_path / "echo.onnx")
    img = np.random.default_rng(0).random((300, 400, 3), dtype=np.float32)
    mask = np.zeros((300, 400), bool)
    mask[100:150, 120:200] = True
    dark, light = img.copy(), img.copy()
    dark[mask], light[mask] = 0.0, 1.0
    assert np.array_equal(eng.inpaint(dark, mask), eng.inpaint(light, mask))
