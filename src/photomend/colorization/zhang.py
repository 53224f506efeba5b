"""The published automatic colorization networks of Zhang, Isola & Efros: ECCV16 ("Colorful
Image Colorization") and SIGGRAPH17 ("Real-Time User-Guided Image Colorization with Learned
Deep Priors"), converted from their official PyTorch state dicts to ONNX.

Both take the CIELAB lightness L (0-100) of a 256x256 copy of the photo and predict the ab
channels; photomend keeps only the chroma of the prediction and the photo's own luma.

The architectures are described here as tables (:data:`ARCHITECTURES`): each block is a list
of layers whose parameter keys and shapes are exactly those of the published state dicts
(committed as ``photomend/data/manifests/colorize_<name>.json``, checked by the tests). The
ONNX graph is built from the same table with the ``onnx`` package; no torch is needed for
``photomend models import`` when the checkpoint is in PyTorch's zip format, and no code of the
original project is used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import cv2
import numpy as np

from photomend import zoo
from photomend.colorization.colorspace import chroma, compose, lab_to_rgb, rgb_to_lab
from photomend.errors import ModelError, ModelMissingError
from photomend.nn.checkpoint import check_state_dict as _check_keys
from photomend.nn.checkpoint import load_state_dict

#: Zoo names, in the order ``method='auto'`` tries them.
MODELS = ("zhang-siggraph17", "zhang-eccv16")
#: Side of the square copy the networks see (as in the authors' demo).
NET_SIZE = 256
_L_CENT, _L_NORM, _AB_NORM = 50.0, 100.0, 110.0
_BN_EPS = 1e-5


@dataclass(frozen=True)
class Layer:
    """One parameterised layer: ``kind`` conv | deconv | bn | conv_nobias; ``index`` is its
    position in the block's ``nn.Sequential`` (the middle part of its key)."""

    kind: str
    index: int
    cin: int = 0
    cout: int = 0
    k: int = 3
    stride: int = 1
    dilation: int = 1

    def params(self, block: str) -> dict[str, tuple[int, ...]]:
        key = f"{block}.{self.index}"
        if self.kind == "bn":
            return {f"{key}.{p}": (self.cout,)
                    for p in ("weight", "bias", "running_mean", "running_var")}
        if self.kind == "deconv":  # ConvTranspose2d stores (in, out, k, k)
            return {f"{key}.weight": (self.cin, self.cout, self.k, self.k),
                    f"{key}.bias": (self.cout,)}
        shapes = {f"{key}.weight": (self.cout, self.cin, self.k, self.k)}
        if self.kind == "conv":
            shapes[f"{key}.bias"] = (self.cout,)
        return shapes


def _stack(channels: list[int], *, strides=None, dilation: int = 1, bn: bool = True,
           relu_first: bool = False) -> list[Layer]:
    """Conv-ReLU pairs (optionally after a leading ReLU), then batch norm."""
    strides = strides or [1] * (len(channels) - 1)
    i, layers = (1 if relu_first else 0), []
    for cin, cout, s in zip(channels[:-1], channels[1:], strides):
        layers.append(Layer("conv", i, cin, cout, 3, s, dilation))
        i += 2
    if bn:
        layers.append(Layer("bn", i, cout=channels[-1]))
    return layers


def _eccv16() -> dict[str, list[Layer]]:
    return {
        "model1": _stack([1, 64, 64], strides=[1, 2]),
        "model2": _stack([64, 128, 128], strides=[1, 2]),
        "model3": _stack([128, 256, 256, 256], strides=[1, 1, 2]),
        "model4": _stack([256, 512, 512, 512]),
        "model5": _stack([512, 512, 512, 512], dilation=2),
        "model6": _stack([512, 512, 512, 512], dilation=2),
        "model7": _stack([512, 512, 512, 512]),
        "model8": [Layer("deconv", 0, 512, 256, 4, 2), Layer("conv", 2, 256, 256),
                   Layer("conv", 4, 256, 256), Layer("conv", 6, 256, 313, 1)],
        "model_out": [Layer("conv_nobias", -1, 313, 2, 1)],
    }


def _siggraph17() -> dict[str, list[Layer]]:
    return {
        "model1": _stack([4, 64, 64]),
        "model2": _stack([64, 128, 128]),
        "model3": _stack([128, 256, 256, 256]),
        "model4": _stack([256, 512, 512, 512]),
        "model5": _stack([512, 512, 512, 512], dilation=2),
        "model6": _stack([512, 512, 512, 512], dilation=2),
        "model7": _stack([512, 512, 512, 512]),
        "model8up": [Layer("deconv", 0, 512, 256, 4, 2)],
        "model8": _stack([256, 256, 256], relu_first=True),
        "model9up": [Layer("deconv", 0, 256, 128, 4, 2)],
        "model9": _stack([128, 128], relu_first=True),
        "model10up": [Layer("deconv", 0, 128, 128, 4, 2)],
        "model10": [Layer("conv", 1, 128, 128)],
        "model3short8": [Layer("conv", 0, 256, 256)],
        "model2short9": [Layer("conv", 0, 128, 128)],
        "model1short10": [Layer("conv", 0, 64, 128)],
        "model_class": [Layer("conv", 0, 256, 529, 1)],
        "model_out": [Layer("conv", 0, 128, 2, 1)],
    }


ARCHITECTURES = {"eccv16": _eccv16(), "siggraph17": _siggraph17()}


def expected_shapes(arch: str) -> dict[str, tuple[int, ...]]:
    """Every parameter key of the published state dict of ``arch`` and its shape (batch-norm
    ``num_batches_tracked`` counters aside)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for block, layers in ARCHITECTURES[arch].items():
        for layer in layers:
            if layer.index < 0:  # a bare module, not inside nn.Sequential
                shapes[f"{block}.weight"] = (layer.cout, layer.cin, layer.k, layer.k)
            else:
                shapes.update(layer.params(block))
    return shapes


def manifest(arch: str) -> dict[str, list[int]]:
    """The committed key/shape manifest of the published ``arch`` state dict."""
    text = (files("photomend") / "data" / "manifests" / f"colorize_{arch}.json").read_text()
    return json.loads(text)["shapes"]


# --- conversion ---------------------------------------------------------------------------
def check_state_dict(state: dict[str, np.ndarray], arch: str, *, what: str = "checkpoint"
                     ) -> None:
    """Raise ModelArchitectureError naming the first key that is missing, extra or of another
    shape than the published ``arch``."""
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    _check_keys(state, expected_shapes(arch),
                label=f"the Zhang et al. {arch.upper()} colorization network", what=what)


def build_onnx(state: dict[str, np.ndarray], arch: str, *, doc: str = ""):
    """The ONNX model of ``arch`` with ``state``'s weights: input ``input`` (1xCxHxW: L for
    ECCV16; L, a, b, hint mask for SIGGRAPH17, all unnormalised), output ``ab`` (1x2xHxW).
    H and W must be multiples of 8."""
    check_state_dict(state, arch)
    return _Graph(state, arch, doc).model()


def convert(spec: zoo.ModelSpec, source: Path, dest: Path) -> None:
    """Zoo ``convert`` function: published ``.pth`` -> ONNX file ``dest``."""
    arch = spec.extra["arch"]
    state = load_state_dict(source)
    check_state_dict(state, arch, what=Path(source).name)
    data = build_onnx(state, arch, doc=f"{spec.name} converted by photomend from "
                      f"{Path(source).name}").SerializeToString()
    Path(dest).write_bytes(data)


class _Graph:
    """Builds the ONNX graph of one architecture from its table and weights."""

    def __init__(self, w: dict[str, np.ndarray], arch: str, doc: str) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.w, self.arch, self.doc = w, arch, doc
        self.nodes, self.inits, self.count = [], [], 0

    def const(self, value, hint: str) -> str:
        self.count += 1
        name = f"{hint}_{self.count}"
        self.inits.append(self.numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        self.count += 1
        out = f"{op.lower()}_{self.count}"
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def param(self, key: str) -> str:
        return self.const(np.ascontiguousarray(self.w[key], np.float32), key.replace(".", "_"))

    def layer(self, x: str, block: str, layer: Layer) -> str:
        key = f"{block}.{layer.index}"
        if layer.kind == "bn":
            return self.node("BatchNormalization",
                             [x] + [self.param(f"{key}.{p}") for p in
                                    ("weight", "bias", "running_mean", "running_var")],
                             epsilon=_BN_EPS)
        pad = layer.dilation * (layer.k // 2)
        if layer.kind == "deconv":
            return self.node("ConvTranspose", [x, self.param(f"{key}.weight"),
                                               self.param(f"{key}.bias")],
                             kernel_shape=[layer.k] * 2, strides=[layer.stride] * 2,
                             pads=[1, 1, 1, 1])
        inputs = [x, self.param(f"{key}.weight")]
        if layer.kind == "conv":
            inputs.append(self.param(f"{key}.bias"))
        return self.node("Conv", inputs, kernel_shape=[layer.k] * 2,
                         strides=[layer.stride] * 2, dilations=[layer.dilation] * 2,
                         pads=[pad] * 4)

    def block(self, x: str, name: str, *, relu_first: bool = False,
              last_relu: bool = True) -> str:
        """A block: each conv followed by ReLU (the last one too unless ``last_relu`` is
        False), batch norm as listed."""
        if relu_first:
            x = self.node("Relu", [x])
        layers = ARCHITECTURES[self.arch][name]
        for i, layer in enumerate(layers):
            x = self.layer(x, name, layer)
            if layer.kind in ("conv", "deconv") and (last_relu or i < len(layers) - 1):
                x = self.node("Relu", [x])
        return x

    def subsample(self, x: str) -> str:
        big = np.iinfo(np.int64).max
        return self.node("Slice", [x, self.const(np.array([0, 0], np.int64), "starts"),
                                   self.const(np.array([big, big], np.int64), "ends"),
                                   self.const(np.array([2, 3], np.int64), "axes"),
                                   self.const(np.array([2, 2], np.int64), "steps")])

    def scale_shift(self, x: str, shift: float, scale: float) -> str:
        x = self.node("Sub", [x, self.const(np.array(shift, np.float32), "shift")])
        return self.node("Mul", [x, self.const(np.array(scale, np.float32), "scale")])

    def model(self):
        import onnx

        if self.arch == "eccv16":
            x = self.scale_shift("input", _L_CENT, 1.0 / _L_NORM)
            for b in ("model1", "model2", "model3", "model4", "model5", "model6", "model7"):
                x = self.block(x, b)
            x = self.block(x, "model8", last_relu=False)
            x = self.node("Softmax", [x], axis=1)
            x = self.node("Conv", [x, self.param("model_out.weight")], kernel_shape=[1, 1])
            scales = self.const(np.array([1, 1, 4, 4], np.float32), "scales")
            x = self.node("Resize", [x, "", scales], mode="linear",
                          coordinate_transformation_mode="pytorch_half_pixel")
            channels = 1
        else:
            sizes = self.const(np.array([1, 2, 1], np.int64), "split")
            names = ["input_L", "input_ab", "input_mask"]
            self.nodes.append(self.helper.make_node("Split", ["input", sizes], names, axis=1,
                                                    name="split_input"))
            l_norm = self.scale_shift(names[0], _L_CENT, 1.0 / _L_NORM)
            ab_norm = self.scale_shift(names[1], 0.0, 1.0 / _AB_NORM)
            x = self.node("Concat", [l_norm, ab_norm, names[2]], axis=1)
            c1 = self.block(x, "model1")
            c2 = self.block(self.subsample(c1), "model2")
            c3 = self.block(self.subsample(c2), "model3")
            x = self.block(self.subsample(c3), "model4")
            for b in ("model5", "model6", "model7"):
                x = self.block(x, b)
            x = self.node("Add", [self.layer(x, "model8up", ARCHITECTURES[self.arch]
                                             ["model8up"][0]),
                                  self.block(c3, "model3short8", last_relu=False)])
            x = self.block(x, "model8", relu_first=True)
            x = self.node("Add", [self.layer(x, "model9up", ARCHITECTURES[self.arch]
                                             ["model9up"][0]),
                                  self.block(c2, "model2short9", last_relu=False)])
            x = self.block(x, "model9", relu_first=True)
            x = self.node("Add", [self.layer(x, "model10up", ARCHITECTURES[self.arch]
                                             ["model10up"][0]),
                                  self.block(c1, "model1short10", last_relu=False)])
            x = self.node("Relu", [x])
            x = self.layer(x, "model10", ARCHITECTURES[self.arch]["model10"][0])
            x = self.node("LeakyRelu", [x], alpha=0.2)
            x = self.node("Tanh", [self.layer(x, "model_out",
                                              ARCHITECTURES[self.arch]["model_out"][0])])
            channels = 4
        x = self.node("Mul", [x, self.const(np.array(_AB_NORM, np.float32), "ab_norm")])
        self.nodes.append(self.helper.make_node("Identity", [x], ["ab"], name="ab"))
        graph = self.helper.make_graph(
            self.nodes, f"zhang_{self.arch}",
            [self.helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT,
                                                [1, channels, "height", "width"])],
            [self.helper.make_tensor_value_info("ab", onnx.TensorProto.FLOAT,
                                                [1, 2, "height", "width"])],
            initializer=self.inits)
        model = self.helper.make_model(graph, opset_imports=[self.helper.make_opsetid("", 17)],
                                       producer_name="photomend", doc_string=self.doc)
        model.ir_version = min(model.ir_version, 8)
        return model


# --- inference ----------------------------------------------------------------------------
def find_model(name: str | None = None) -> tuple[str, Path]:
    """(name, path) of the network to run: ``name``, else the first installed of
    :data:`MODELS`. Raises ModelMissingError saying how to install one."""
    if name is not None:
        if name not in MODELS:
            raise ModelError(f"unknown colorization model {name!r}; choose from "
                             f"{', '.join(MODELS)}")
        return name, zoo.model_path(name)
    name = installed_model()
    if name is None:
        raise ModelMissingError(
            "automatic colour needs a colorization network, and none is installed: run "
            f"`photomend models fetch {MODELS[0]}` (or {', '.join(MODELS[1:])}); colour hints "
            "or a reference photo need none")
    return name, zoo.model_path(name)


def installed_model() -> str | None:
    """The first installed network of :data:`MODELS`, or None."""
    return next((m for m in MODELS if zoo.installed_path(m) is not None), None)


def no_colour_source(hints: str, reference: str) -> str:
    """What to say when there are no hints, no reference and no network: ``hints`` and
    ``reference`` name the inputs in the front end's words (CLI flags, HTTP parts).

    >>> no_colour_source("--hints FILE", "--reference FILE")  # doctest: +ELLIPSIS
    'nothing to take colours from: give --hints FILE or --reference FILE, or ...'
    """
    return (f"nothing to take colours from: give {hints} or {reference}, or install a network "
            f"for automatic colour: photomend models fetch {MODELS[0]}")


def run_network(path: Path, lightness: np.ndarray, *, size: int | None = None,
                hint_ab: np.ndarray | None = None, hint_mask: np.ndarray | None = None
                ) -> np.ndarray:
    """ab (float32 size x size x 2) predicted from CIELAB ``lightness`` (HxW, 0-100), seen
    as a ``size`` x ``size`` copy. SIGGRAPH17 also takes hints at that size."""
    from photomend.nn import onnx as nn_onnx

    size = int(size or NET_SIZE)
    sess = nn_onnx.session(path)
    l_small = cv2.resize(lightness.astype(np.float32), (size, size),
                         interpolation=cv2.INTER_AREA)
    channels = sess.get_inputs()[0].shape[1]
    planes = [l_small]
    if channels == 4:
        ab = np.zeros((size, size, 2), np.float32) if hint_ab is None else hint_ab
        mask = np.zeros((size, size), np.float32) if hint_mask is None else hint_mask
        planes += [ab[..., 0], ab[..., 1], mask]
    x = np.stack(planes)[None].astype(np.float32)
    out = nn_onnx.run(sess, x)
    return np.ascontiguousarray(out[0].transpose(1, 2, 0))


def predict_chroma(y: np.ndarray, *, model: str | None = None,
                   hint_cbcr: np.ndarray | None = None, hint_mask: np.ndarray | None = None
                   ) -> np.ndarray:
    """CbCr (float32 HxWx2) for the luma ``y`` (HxW) predicted by a published network.

    SIGGRAPH17 was trained to take user hints: ``hint_cbcr`` (HxWx2) where ``hint_mask``
    (bool HxW) is set are given to it as ab points on its 256x256 grid (ECCV16 ignores them;
    the caller still uses the hints as strong targets afterwards)."""
    _, path = find_model(model)
    grey = np.repeat(np.clip(y, 0, 1)[..., None], 3, axis=2)
    lightness = rgb_to_lab(grey)[..., 0]
    hint_ab = hint_plane = None
    if hint_mask is not None and hint_mask.any():
        size = int(NET_SIZE)
        rgb, _ = compose(y, np.where(hint_mask[..., None], hint_cbcr, 0))
        ab = rgb_to_lab(rgb)[..., 1:] * hint_mask[..., None]
        weight = cv2.resize(hint_mask.astype(np.float32), (size, size),
                            interpolation=cv2.INTER_AREA)
        summed = cv2.resize(ab.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
        with np.errstate(divide="ignore", invalid="ignore"):
            hint_ab = np.where(weight[..., None] > 0, summed / weight[..., None], 0)
        hint_ab = hint_ab.astype(np.float32)
        hint_plane = (weight > 0).astype(np.float32)
    ab = run_network(path, lightness, hint_ab=hint_ab, hint_mask=hint_plane)
    h, w = y.shape
    ab = cv2.resize(ab, (w, h), interpolation=cv2.INTER_LINEAR)
    lab = np.dstack([lightness, ab])
    return chroma(lab_to_rgb(lab))
