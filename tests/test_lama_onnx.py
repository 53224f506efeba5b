"""The ``lama`` engine on an ONNX export (ONNX Runtime, no torch): both input layouts, fixed
and free sizes, 0..255 outputs, ``models import --name big-lama-onnx``, and a non-LaMa ONNX.

The tiny ONNX files in tests/data stand in for a user's export (their maths is a stand-in, the
plumbing is what is tested); ``python tests/test_lama_onnx.py`` regenerates them (needs onnx).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from photomend.cli import main  # noqa: E402
from photomend.engines import create_engine, engine_readiness  # noqa: E402
from photomend.errors import ModelArchitectureError  # noqa: E402
from photomend.lama.onnx_runner import check_file  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
#: The stand-in generator: y = sigmoid(W x) over the 4 input channels.
W = np.array([[1.0, 0.0, 0.0, 2.0], [0.0, 1.0, 0.0, -2.0], [0.0, 0.0, 1.0, 0.5]], np.float32)
FILL = 0.25  # the stand-in wrapped export fills the hole with this value, output x255


def _scene(h=40, w=56):
    rng = np.random.default_rng(0)
    img = rng.random((h, w, 3), dtype=np.float32)
    mask = np.zeros((h, w), bool)
    mask[10:20, 15:30] = True
    return img, mask


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTOMEND_MODELS", str(tmp_path / "models"))
    return tmp_path / "models"


def test_generator_layout_through_models_import(cache):
    assert main(["models", "import", str(DATA / "lama_onnx_generator.onnx"),
                 "--name", "big-lama-onnx", "--trust", "--quiet"]) == 0
    assert engine_readiness("lama") is None
    eng = create_engine("lama", attention="decoder")
    img, mask = _scene()
    if eng.backend == "torch":  # a torch big-lama is not installed here, so ONNX is chosen
        pytest.fail("expected the ONNX backend")
    out, feats = eng.inpaint_with_features(img, mask)
    assert feats is None  # no decoder features from an export: CRA uses the pixels
    x = np.dstack([img * ~mask[..., None], mask]).astype(np.float32)
    expected = 1.0 / (1.0 + np.exp(-(x @ W.T)))
    assert np.abs(out[mask] - expected[mask]).max() < 1e-5
    assert np.array_equal(out[~mask], img[~mask])


@pytest.mark.parametrize("name", ["lama_onnx_wrapped.onnx", "lama_onnx_wrapped_512.onnx"])
def test_wrapped_layout_any_size_and_fixed_size(name):
    img, mask = _scene()
    out = create_engine("lama", weights=DATA / name).inpaint(img, mask)
    assert out.shape == img.shape
    assert np.abs(out[mask] - FILL).max() < 1e-3  # 0..255 output detected and rescaled
    assert np.array_equal(out[~mask], img[~mask])


def test_an_onnx_file_that_is_not_lama(cache, capsys):
    with pytest.raises(ModelArchitectureError, match=r"not a LaMa ONNX export.*\[1, 5"):
        check_file(DATA / "not_lama.onnx")
    code = main(["models", "import", str(DATA / "not_lama.onnx"), "--name", "big-lama-onnx",
                 "--trust"])
    assert code == 2 and "not a LaMa ONNX export" in capsys.readouterr().err


def _make_files() -> None:  # pragma: no cover - regenerates the committed test data
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def save(nodes, inputs, outputs, inits, name):
        graph = helper.make_graph(nodes, name, inputs, outputs, inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        onnx.save(model, DATA / name)

    def t(name, c, h="h", w="w"):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, c, h, w])

    save([helper.make_node("Conv", ["x", "W"], ["z"]), helper.make_node("Sigmoid", ["z"], ["y"])],
         [t("x", 4)], [t("y", 3)], [numpy_helper.from_array(W[:, :, None, None], "W")],
         "lama_onnx_generator.onnx")
    for name, size in (("lama_onnx_wrapped.onnx", ("h", "w")),
                       ("lama_onnx_wrapped_512.onnx", (512, 512))):
        nodes = [helper.make_node("Sub", ["one", "mask"], ["keep"]),
                 helper.make_node("Mul", ["image", "keep"], ["kept"]),
                 helper.make_node("Mul", ["mask", "fill"], ["filled"]),
                 helper.make_node("Add", ["kept", "filled"], ["z"]),
                 helper.make_node("Mul", ["z", "scale"], ["output"])]
        inits = [numpy_helper.from_array(np.array(v, np.float32), n)
                 for n, v in (("one", 1.0), ("fill", FILL), ("scale", 255.0))]
        save(nodes, [t("image", 3, *size), t("mask", 1, *size)], [t("output", 3, *size)],
             inits, name)
    save([helper.make_node("Identity", ["x"], ["y"])], [t("x", 5)], [t("y", 5)], [],
         "not_lama.onnx")


if __name__ == "__main__":  # pragma: no cover
    _make_files()
