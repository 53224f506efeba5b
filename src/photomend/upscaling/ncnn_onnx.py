"""An ncnn model (:mod:`photomend.upscaling.ncnn`) as one of our families, and as ONNX.

:func:`identify` names the family a graph is: Real-ESRGAN ``RRDBNet`` or ``SRVGGNetCompact``
(:mod:`photomend.upscaling.realesrgan`) or SRMD (:mod:`photomend.upscaling.srmd`), with its
sizes; :func:`check_family` then lines its weights up with the family's state-dict keys, in
order, so a file of another network is refused naming the first layer that differs.
:func:`translate` writes the graph layer by layer with
:class:`~photomend.upscaling.onnx_graph.GraphBuilder`, so the ONNX file computes exactly what
ncnn computes from the same file (extra steps such as the bicubic resize after
``realesr-animevideov3-x2``'s x4 network included).

Layer semantics (ncnn's, parameter ids as in its ``.param``): Convolution 0 outputs, 1/11
kernel w/h, 2/12 dilation, 3/13 stride, 4/14/15/16 pads left/top/right/bottom, 5 bias, 9
fused activation (1 ReLU, 2 leaky ReLU, 3 clip, 4 sigmoid); Eltwise 0 op (0 product, 1 sum, 2
max), 1 coefficients; BinaryOp 0 op (0 add, 1 sub, 2 mul, 3 div), 1 with scalar, 2 scalar;
Interp 0 type (1 nearest, 3 bicubic), 1/2 height/width scale; PixelShuffle 0 factor, 1 mode
(0 PyTorch order, 1 TensorFlow order); Concat 0 axis (0 = channels); ReLU 0 slope.
"""

from __future__ import annotations

import numpy as np

from photomend.errors import ModelArchitectureError, ModelError
from photomend.upscaling.ncnn import NcnnLayer, NcnnNet
from photomend.upscaling.onnx_graph import GraphBuilder
from photomend.upscaling.realesrgan import RRDBNetArch, SRVGGNetArch
from photomend.upscaling.realesrgan import _describe as _describe_esrgan
from photomend.upscaling.srmd import SRMDArch

Family = RRDBNetArch | SRVGGNetArch | SRMDArch


def conv_shape(layer: NcnnLayer) -> tuple[int, int, int, int]:
    """(out, in, kh, kw) of a Convolution layer."""
    out = int(layer.param(0, 0))
    kw = int(layer.param(1, 0))
    kh = int(layer.param(11, kw))
    return out, int(layer.param(6, 0)) // (out * kh * kw), kh, kw


def describe(arch: Family) -> str:
    if isinstance(arch, SRMDArch):
        return arch.describe()
    return _describe_esrgan(arch)


def identify(net: NcnnNet, *, what: str = "model") -> Family:
    """The family and sizes of ``net``; ModelArchitectureError when it is none of ours."""
    convs = [conv_shape(c) for c in net.of_type("Convolution")]
    shuffles = net.of_type("PixelShuffle")
    if not convs:
        raise ModelArchitectureError(f"{what} has no convolution: not an upscaler we know")
    if net.of_type("Eltwise"):  # RRDBNet: residual-in-residual dense blocks
        ups = [i for i in net.of_type("Interp") if int(i.param(0, 0)) == 1]
        return RRDBNetArch(scale=2 ** len(ups), num_feat=convs[0][0],
                           num_block=max(0, (len(convs) - 6) // 15), num_grow_ch=convs[1][0],
                           num_in_ch=convs[0][1], num_out_ch=convs[-1][0])
    if net.of_type("PReLU") and shuffles:
        return SRVGGNetArch(scale=int(shuffles[0].param(0, 1)), num_feat=convs[0][0],
                            num_conv=len(convs) - 2, num_in_ch=convs[0][1],
                            num_out_ch=convs[-1][0] // int(shuffles[0].param(0, 1)) ** 2)
    if shuffles and set(layer.type for layer in net) <= {"Input", "Convolution", "PixelShuffle"}:
        return SRMDArch(scale=int(shuffles[0].param(0, 1)), num_feat=convs[0][0],
                        num_conv=len(convs), noise_free=convs[0][1] == SRMDArch.PCA + 3)
    raise ModelArchitectureError(f"{what} is not an RRDBNet, SRVGGNetCompact or SRMD network")


def family_arrays(net: NcnnNet) -> list[tuple[NcnnLayer, np.ndarray]]:
    """Every array of ``net`` in the order a family's state dict lists them: per convolution
    its (out, in, kh, kw) weight then its bias; per PReLU its slopes."""
    arrays = []
    for layer in net:
        w = net.weights.get(layer.name, {})
        if layer.type == "Convolution":
            arrays.append((layer, w["weight"].reshape(conv_shape(layer))))
            if "bias" in w:
                arrays.append((layer, w["bias"]))
        elif layer.type == "PReLU":
            arrays.append((layer, w["slope"]))
    return arrays


def check_family(net: NcnnNet, arch: Family, *, what: str = "model") -> dict[str, np.ndarray]:
    """``net``'s weights under ``arch``'s state-dict names; ModelArchitectureError naming the
    first layer whose array is not the family's (or when ``net`` is another family)."""
    label = describe(arch)
    found = identify(net, what=what)
    if found != arch:
        raise ModelArchitectureError(f"{what} is {describe(found)}, not {label}")
    expected = arch.shapes()
    arrays = family_arrays(net)
    if len(arrays) != len(expected):
        raise ModelArchitectureError(f"{what} has {len(arrays)} weight arrays; {label} has "
                                     f"{len(expected)}")
    state = {}
    for (key, shape), (layer, array) in zip(expected.items(), arrays):
        if array.shape != tuple(shape):
            raise ModelArchitectureError(f"{what} is not {label}: {layer} holds {key} of shape "
                                         f"{list(array.shape)}, expected {list(shape)}")
        state[key] = array
    return state


# --- translation ----------------------------------------------------------------------------
def translate(net: NcnnNet, g: GraphBuilder, x: str) -> str:
    """Add ``net``'s layers to ``g``, feeding its Input blob with tensor ``x``; returns the
    tensor of the one blob no layer reads (the network's output)."""
    env: dict[str, str] = {}
    read = {b for layer in net for b in layer.inputs}
    for layer in net:
        ins = [env[b] for b in layer.inputs]
        outs = _layer(net, layer, g, ins, x)
        for blob, tensor in zip(layer.outputs, outs):
            env[blob] = tensor
    ends = [b for layer in net for b in layer.outputs if b not in read]
    if len(ends) != 1:
        raise ModelError(f"the network must have one output blob, it has {len(ends)}: "
                         f"{', '.join(ends[:4])}")
    return env[ends[0]]


def _layer(net: NcnnNet, layer: NcnnLayer, g: GraphBuilder, ins: list[str], x: str):
    kind = layer.type
    if kind == "Input":
        return [x]
    if kind in ("Split", "Noop"):
        return [ins[0]] * len(layer.outputs)
    if kind == "Convolution":
        return [_conv(net, layer, g, ins[0])]
    if kind == "ReLU":
        slope = float(layer.param(0, 0.0))
        return [g.leaky_relu(ins[0], slope) if slope else g.relu(ins[0])]
    if kind == "PReLU":
        return [g.prelu(ins[0], net.weights[layer.name]["slope"])]
    if kind == "Sigmoid":
        return [g.sigmoid(ins[0])]
    if kind == "Concat":
        if int(layer.param(0, 0)) != 0:
            raise ModelError(f"{layer}: only concatenation along channels (0=0) is supported")
        return [g.concat(ins)]
    if kind == "Eltwise":
        return [_eltwise(layer, g, ins)]
    if kind == "BinaryOp":
        return [_binary(layer, g, ins)]
    if kind == "Interp":
        return [_interp(layer, g, ins[0])]
    if kind == "PixelShuffle":
        mode = {0: "CRD", 1: "DCR"}.get(int(layer.param(1, 0)))
        if mode is None:
            raise ModelError(f"{layer}: unknown pixel-shuffle mode {layer.param(1, 0)}")
        return [g.depth_to_space(ins[0], int(layer.param(0, 1)), mode)]
    raise ModelError(f"{layer} cannot be converted")  # parse_param admits only known types


def _conv(net: NcnnNet, layer: NcnnLayer, g: GraphBuilder, x: str) -> str:
    p = layer.param
    kw = int(p(1, 0))
    left = int(p(4, 0))
    top = int(p(14, left))
    pads = [top, left, int(p(16, top)), int(p(15, left))]  # ONNX: begins (h, w), ends (h, w)
    if min(pads) < 0 or float(p(18, 0.0)) != 0.0:
        raise ModelError(f"{layer}: 'same' or non-zero padding is not supported")
    w = net.weights[layer.name]
    y = g.conv(x, w["weight"].reshape(conv_shape(layer)), w.get("bias"), pads=pads,
               strides=(int(p(13, p(3, 1))), int(p(3, 1))),
               dilations=(int(p(12, p(2, 1))), int(p(2, 1))),
               hint=layer.name.replace(".", "_"))
    act = int(p(9, 0))
    args = p(10, ())
    if act == 0:
        return y
    if act == 1:
        return g.relu(y)
    if act == 2:
        return g.leaky_relu(y, float(args[0]))
    if act == 3:
        lo = g.const(np.array(args[0], np.float32), "clip_min")
        hi = g.const(np.array(args[1], np.float32), "clip_max")
        return g.node("Clip", [y, lo, hi])
    if act == 4:
        return g.sigmoid(y)
    raise ModelError(f"{layer}: fused activation type {act} is not supported")


def _eltwise(layer: NcnnLayer, g: GraphBuilder, ins: list[str]) -> str:
    op = int(layer.param(0, 1))
    coeffs = layer.param(1, ())
    if op == 1:
        if coeffs:
            if len(coeffs) != len(ins):
                raise ModelError(f"{layer}: {len(coeffs)} coefficients for {len(ins)} inputs")
            ins = [t if c == 1.0 else g.scale(t, float(c)) for t, c in zip(ins, coeffs)]
        return g.add(*ins)
    if op in (0, 2) and not coeffs:
        out = ins[0]
        for t in ins[1:]:
            out = g.node("Mul" if op == 0 else "Max", [out, t])
        return out
    raise ModelError(f"{layer}: element-wise operation {op} is not supported")


_BINARY = {0: "Add", 1: "Sub", 2: "Mul", 3: "Div"}


def _binary(layer: NcnnLayer, g: GraphBuilder, ins: list[str]) -> str:
    op = _BINARY.get(int(layer.param(0, 0)))
    if op is None:
        raise ModelError(f"{layer}: binary operation {layer.param(0, 0)} is not supported")
    if int(layer.param(1, 0)):
        ins = [ins[0], g.const(np.array(float(layer.param(2, 0.0)), np.float32), "scalar")]
    if len(ins) != 2:
        raise ModelError(f"{layer}: expected two inputs, got {len(ins)}")
    return g.node(op, ins)


def _interp(layer: NcnnLayer, g: GraphBuilder, x: str) -> str:
    kind = int(layer.param(0, 0))
    sh, sw = float(layer.param(1, 1.0)), float(layer.param(2, 1.0))
    if layer.param(3, 0) or layer.param(4, 0) or layer.param(5, 0) or layer.param(6, 0):
        raise ModelError(f"{layer}: only resizing by fixed factors is supported")
    if kind == 1:
        return g.resize(x, sh, sw, "nearest")
    if kind == 3:
        return g.resize(x, sh, sw, "cubic")
    raise ModelError(f"{layer}: resize type {kind} is not supported (1 nearest, 3 bicubic)")


def to_onnx(net: NcnnNet, arch: Family, *, what: str = "model", doc: str = "") -> GraphBuilder:
    """``net`` checked against ``arch`` and written as ONNX: ``image`` (1x3xHxW RGB in [0, 1])
    in, ``upscaled`` out; SRMD graphs also take ``degradation`` (see
    :func:`photomend.upscaling.srmd.degradation_vector`)."""
    check_family(net, arch, what=what)
    g = GraphBuilder(doc=doc)
    x = g.input
    if isinstance(arch, SRMDArch):
        x = g.concat([x, _constant_maps(g, arch.in_channels - 3)])
    g.output_name(translate(net, g, x))
    return g


def _constant_maps(g: GraphBuilder, k: int) -> str:
    """A graph input ``degradation`` (1xKx1x1) spread over the image's height and width."""
    deg = g.add_input("degradation", [1, k, 1, 1])
    shape = g.node("Shape", [g.input])
    hw = g.node("Slice", [shape, g.const(np.array([2], np.int64), "start"),
                          g.const(np.array([4], np.int64), "end")])
    target = g.node("Concat", [g.const(np.array([1, k], np.int64), "nk"), hw], axis=0)
    return g.node("Expand", [deg, target])
