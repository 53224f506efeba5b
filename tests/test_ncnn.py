"""The ncnn reader (photomend.upscaling.ncnn) and its conversion to ONNX (ncnn_onnx), on tiny
models generated in the exact published format (tests/ncnn_models.py)."""

from __future__ import annotations

import re

import numpy as np
import onnxruntime as ort
import pytest

from ncnn_models import random_state, rrdb_ncnn, srmd_ncnn, srvgg_ncnn
from photomend.errors import ModelArchitectureError, ModelError
from photomend.upscaling import realesrgan
from photomend.upscaling.ncnn import (
    TAG_FP16,
    TAG_INT8,
    NcnnLayer,
    format_param,
    load_ncnn,
    pack_array,
    parse_param,
)
from photomend.upscaling.ncnn_onnx import check_family, identify, to_onnx
from photomend.upscaling.srmd import BLUR_PCA, SRMDArch, degradation_vector

SRVGG = realesrgan.SRVGGNetArch(scale=4, num_feat=8, num_conv=3)
RRDB = realesrgan.RRDBNetArch(scale=4, num_feat=8, num_block=1, num_grow_ch=4)
SRMD = SRMDArch(scale=3, num_feat=8, num_conv=4)
SRMDNF = SRMDArch(scale=2, num_feat=8, num_conv=3, noise_free=True)


def _fp16_state(arch, seed=0):
    """A random state whose convolution weights are exactly representable in float16 (what the
    published files store), so a float32 reference computes the same network."""
    state = random_state(arch, seed)
    return {k: v.astype(np.float16).astype(np.float32) if v.ndim == 4 else v
            for k, v in state.items()}


def _run(graph, x: np.ndarray, **feeds) -> np.ndarray:
    sess = ort.InferenceSession(graph.model().SerializeToString(),
                                providers=["CPUExecutionProvider"])
    return sess.run(None, {"image": x, **feeds})[0]


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(1).random((1, 3, 11, 13), dtype=np.float32)


# --- .param ---------------------------------------------------------------------------------
def test_parse_param_reads_layers_params_and_arrays():
    net = parse_param("7767517\n2 2\nInput in 0 1 data 0=8 1=8 2=3\n"
                      "Convolution c 1 1 data out 0=4 1=3 5=1 6=108 9=2 -23310=1,2.000000e-01\n")
    conv = net.layers[1]
    assert (conv.type, conv.inputs, conv.outputs) == ("Convolution", ("data",), ("out",))
    assert conv.params == {0: 4, 1: 3, 5: 1, 6: 108, 9: 2, 10: (0.2,)}


def test_format_param_round_trips():
    layers = [NcnnLayer("Input", "in", (), ("x",), {}),
              NcnnLayer("Eltwise", "e", ("x", "x"), ("y",), {0: 1, 1: (0.2, 1.0)})]
    assert parse_param(format_param(layers)).layers == layers


@pytest.mark.parametrize("text, message", [
    ("7767516\n1 1\nInput in 0 1 data\n", "not an ncnn .param file"),
    ("7767517\n2 2\nInput in 0 1 data\n", "declares 2 layers but has 1"),
    ("7767517\n2 2\nInput in 0 1 data\nDeconvolution up 1 1 data out 0=3\n",
     "layer 'up' (Deconvolution) is of a type photomend cannot convert"),
    ("7767517\n2 2\nInput in 0 1 data\nReLU r 1 1 nothing out\n",
     "layer 'r' (ReLU) reads blob 'nothing'"),
    ("7767517\n2 2\nInput in 0 1 data\nReLU r 1 1 data out 0=x\n", "malformed parameter '0=x'"),
    ("7767517\n2 2\nInput in 0 1 data\nReLU r 1 1 data out -23300=2,1\n", "malformed"),
])
def test_bad_param_is_refused_naming_the_line_or_layer(text, message):
    with pytest.raises(ModelError, match=re.escape(message)):
        parse_param(text)


# --- .bin -----------------------------------------------------------------------------------
def _one_conv(storage: str, *, bias: bool = True):
    w = np.arange(2 * 3 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 3) / 64
    b = np.array([0.5, -1.0], np.float32)
    param = ("7767517\n2 2\nInput in 0 1 data\n"
             f"Convolution conv 1 1 data out 0=2 1=3 4=1 5={int(bias)} 6=54\n").encode()
    data = pack_array(w, storage) + (pack_array(b, "raw") if bias else b"")
    return param, data, w, b


@pytest.mark.parametrize("storage", ["fp32", "fp16"])
def test_weights_in_fp32_and_fp16_storage(storage):
    param, data, w, b = _one_conv(storage)
    if storage == "fp16":
        assert int.from_bytes(data[:4], "little") == TAG_FP16 == 0x01306B47
        assert len(data) == 4 + 54 * 2 + 8  # 108 bytes of halves, already 4-aligned
    net = load_ncnn(param, data)
    assert np.array_equal(net.weights["conv"]["weight"], w.ravel())
    assert np.array_equal(net.weights["conv"]["bias"], b)


def test_weights_in_a_quantisation_table():
    param, _, w, b = _one_conv("fp32")
    table = np.linspace(-1, 1, 256, dtype=np.float32)
    index = np.arange(54, dtype=np.uint8) * 4
    data = (b"\x01\x00\x00\x00" + table.tobytes() + index.tobytes() + b"\0\0"  # 54 -> 56
            + b.tobytes())
    net = load_ncnn(param, data)
    assert np.array_equal(net.weights["conv"]["weight"], table[index])


def test_int8_weights_are_refused_naming_the_layer():
    param, _, _, _ = _one_conv("fp32")
    data = TAG_INT8.to_bytes(4, "little") + bytes(56) + bytes(8)
    with pytest.raises(ModelError, match="layer 'conv' \\(Convolution\\): int8 weights"):
        load_ncnn(param, data)


def test_bin_of_the_wrong_length_is_refused_naming_the_layer():
    param, data, _, _ = _one_conv("fp16")
    with pytest.raises(ModelError, match="too short: it ends inside layer 'conv' "
                                         "\\(Convolution\\) \\(bias: 8 bytes needed, 4 left\\)"):
        load_ncnn(param, data[:-4])
    with pytest.raises(ModelError, match="too long: 4 bytes are left after layer 'conv'"):
        load_ncnn(param, data + b"\0\0\0\0")


def test_weight_size_must_fit_the_kernel():
    param = b"7767517\n2 2\nInput in 0 1 data\nConvolution c 1 1 data out 0=2 1=3 6=50\n"
    with pytest.raises(ModelError, match="layer 'c' .*weight size 50"):
        load_ncnn(param, b"")


# --- families and ONNX ----------------------------------------------------------------------
@pytest.mark.parametrize("storage", ["fp16", "fp32"])
def test_srvgg_matches_our_pth_conversion(image, storage):
    state = _fp16_state(SRVGG)
    net = load_ncnn(*srvgg_ncnn(state, SRVGG, storage=storage))
    assert identify(net) == SRVGG
    got = _run(to_onnx(net, SRVGG), image)
    expected = _run(realesrgan.build_onnx(state, SRVGG), image)
    assert got.shape == (1, 3, 44, 52)
    assert np.abs(got - expected).max() < 1e-5


def test_rrdbnet_matches_our_pth_conversion(image):
    state = _fp16_state(RRDB)
    net = load_ncnn(*rrdb_ncnn(state, RRDB))
    assert identify(net) == RRDB
    assert set(check_family(net, RRDB)) == set(RRDB.shapes())
    got = _run(to_onnx(net, RRDB), image)
    expected = _run(realesrgan.build_onnx(state, RRDB), image)
    assert np.abs(got - expected).max() < 1e-5


def test_trailing_bicubic_resize_makes_x4_a_x2(image):
    state = _fp16_state(SRVGG)
    net = load_ncnn(*srvgg_ncnn(state, SRVGG, resize=0.5))
    assert identify(net) == SRVGG
    got = _run(to_onnx(net, SRVGG), image)
    x4 = _run(realesrgan.build_onnx(state, SRVGG), image)
    assert got.shape == (1, 3, 22, 26)
    # bicubic (a = -0.75) x0.5 at half-pixel centres: taps 2i-1 .. 2i+2 at distances 1.5, 0.5,
    # 0.5, 1.5; edge pixels repeated (as ncnn does)
    taps = np.array([-0.09375, 0.59375, 0.59375, -0.09375], np.float32)
    p = np.pad(x4[0], ((0, 0), (1, 1), (1, 1)), mode="edge")
    rows = sum(t * p[:, k:k + 44:2] for k, t in enumerate(taps))
    expected = sum(t * rows[:, :, k:k + 52:2] for k, t in enumerate(taps))
    assert np.abs(got[0] - expected).max() < 1e-5


def _conv_np(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    out = np.zeros((w.shape[0], h, wd), np.float64)
    for dy in range(3):
        for dx in range(3):
            out += np.einsum("oi,ihw->ohw", w[:, :, dy, dx], xp[:, dy:dy + h, dx:dx + wd])
    return out + b[:, None, None]


def _srmd_reference(state, arch: SRMDArch, x: np.ndarray, deg: np.ndarray) -> np.ndarray:
    h, w = x.shape[1:]
    y = np.concatenate([x, np.broadcast_to(deg.reshape(-1, 1, 1), (deg.size, h, w))])
    for k in range(arch.num_conv):
        y = _conv_np(y, state[f"conv{k}.weight"], state[f"conv{k}.bias"])
        if k < arch.num_conv - 1:
            y = np.maximum(y, 0)
    r = arch.scale
    c = y.shape[0] // (r * r)
    return y.reshape(c, r, r, h, w).transpose(0, 3, 1, 4, 2).reshape(c, h * r, w * r)


@pytest.mark.parametrize("arch", [SRMD, SRMDNF], ids=["srmd", "srmdnf"])
def test_srmd_matches_a_numpy_reference(image, arch):
    state = _fp16_state(arch)
    net = load_ncnn(*srmd_ncnn(state, arch))
    assert identify(net) == arch
    deg = degradation_vector(7.0, noise_free=arch.noise_free)
    got = _run(to_onnx(net, arch), image, degradation=deg)
    expected = _srmd_reference(state, arch, image[0], deg.ravel())
    assert got.shape == (1, 3, 11 * arch.scale, 13 * arch.scale)
    assert np.abs(got[0] - expected).max() < 1e-4


def test_degradation_vector_is_the_blur_then_the_noise():
    v = degradation_vector(5.0).ravel()
    assert np.array_equal(v[:15], BLUR_PCA) and v[15] == pytest.approx(5 / 255)
    with pytest.raises(ModelError.__mro__[1], match="between 0 and 75"):
        degradation_vector(80.0)


def test_another_family_is_refused_naming_both():
    net = load_ncnn(*srmd_ncnn(_fp16_state(SRMD), SRMD))
    with pytest.raises(ModelArchitectureError, match="is SRMD x3 .* not SRVGGNetCompact x4"):
        to_onnx(net, SRVGG)
    other = SRMDArch(scale=3, num_feat=16, num_conv=4)
    with pytest.raises(ModelArchitectureError, match="not SRMD x3 \\(4 convs, 16 features\\)"):
        check_family(net, other)


def test_unsupported_layer_parameters_are_refused_naming_the_layer():
    param, data, _, _ = _one_conv("fp32")
    net = load_ncnn(param.replace(b"4=1", b"4=-233"), data)
    from photomend.upscaling.ncnn_onnx import translate
    from photomend.upscaling.onnx_graph import GraphBuilder

    g = GraphBuilder()
    with pytest.raises(ModelError, match="layer 'conv' \\(Convolution\\): 'same'"):
        translate(net, g, g.input)
