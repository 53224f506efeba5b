"""Read ncnn models: the ``.param`` layer graph and the ``.bin`` weights, with no ncnn installed.

``.param`` is text: the magic number 7767517, a line ``LAYERS BLOBS``, then one line per layer::

    Convolution  Conv_0  1 1 data 703  0=64 1=3 4=1 5=1 6=1728 9=2 -23310=1,2.000000e-01

(type, name, input and output counts, input blob names, output blob names, then ``id=value``
parameters; an id below -23300 holds an array: ``-23310=1,0.2`` is parameter 10, one value).

``.bin`` is the layers' weights, back to back in layer order with no header. Each layer type
reads its arrays in a fixed order; a *flagged* array (convolution weights) starts with a 4-byte
storage tag: ``0x00000000`` float32, ``0x01306B47`` float16 (padded to 4 bytes), ``0x0002C056``
float32, any other non-zero tag a 256-entry float32 table indexed by uint8 (padded), and
``0x000D4B38`` int8 (which also needs scales: refused). Unflagged arrays (biases, PReLU slopes)
are plain float32.

Only the layer types listed in :data:`LAYER_TYPES` are accepted: an unknown type, a ``.bin``
shorter or longer than the layers need, or a parameter we do not convert is refused with a
:class:`~photomend.errors.ModelError` naming the layer. :mod:`photomend.upscaling.ncnn_onnx`
turns a :class:`NcnnNet` into ONNX.

>>> net = parse_param("7767517\\n2 2\\nInput in 0 1 data\\nReLU relu 1 1 data out 0=0.1\\n")
>>> [(layer.type, layer.param(0, 0.0)) for layer in net]
[('Input', 0.0), ('ReLU', 0.1)]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from photomend.errors import ModelError

MAGIC = 7767517
TAG_FP32 = 0x00000000
TAG_FP16 = 0x01306B47
TAG_INT8 = 0x000D4B38
TAG_FP32_SCALED = 0x0002C056

#: The layer types we read and convert, with what :func:`read_weights` loads for each.
LAYER_TYPES = ("Input", "Split", "Noop", "Convolution", "ReLU", "PReLU", "Sigmoid", "Eltwise",
               "BinaryOp", "Concat", "Interp", "PixelShuffle")


@dataclass(frozen=True)
class NcnnLayer:
    """One line of a ``.param`` file."""

    type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[int, object] = field(default_factory=dict)

    def param(self, key: int, default):
        """Parameter ``key`` (an int, a float or a tuple for arrays), else ``default``."""
        return self.params.get(key, default)

    def __str__(self) -> str:
        return f"layer {self.name!r} ({self.type})"


@dataclass
class NcnnNet:
    """The parsed graph plus, once :func:`read_weights` ran, each layer's arrays by name."""

    layers: list[NcnnLayer]
    weights: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def __iter__(self):
        return iter(self.layers)

    def of_type(self, kind: str) -> list[NcnnLayer]:
        return [layer for layer in self.layers if layer.type == kind]


def parse_param(text: str, *, what: str = ".param") -> NcnnNet:
    """Parse the text of a ``.param`` file; ModelError naming the line or layer otherwise."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != [str(MAGIC)]:
        raise ModelError(f"{what} is not an ncnn .param file (first line is not {MAGIC})")
    try:
        layer_count, blob_count = (int(v) for v in lines[1])
    except (IndexError, ValueError):
        raise ModelError(f"{what}: second line must be 'LAYERS BLOBS'") from None
    body = lines[2:]
    if len(body) != layer_count:
        raise ModelError(f"{what} declares {layer_count} layers but has {len(body)}")
    layers = []
    for number, parts in enumerate(body, start=3):
        layer = _parse_layer(parts, f"{what} line {number}")
        if layer.type not in LAYER_TYPES:
            raise ModelError(f"{what}: {layer} is of a type photomend cannot convert "
                             f"(known: {', '.join(LAYER_TYPES)})")
        layers.append(layer)
    blobs = {b for layer in layers for b in layer.outputs}
    for layer in layers:
        missing = [b for b in layer.inputs if b not in blobs]
        if missing:
            raise ModelError(f"{what}: {layer} reads blob {missing[0]!r} that no layer writes")
    if len(blobs) != blob_count:
        raise ModelError(f"{what} declares {blob_count} blobs but its layers write {len(blobs)}")
    return NcnnNet(layers)


def _parse_layer(parts: list[str], where: str) -> NcnnLayer:
    try:
        kind, name, n_in, n_out = parts[0], parts[1], int(parts[2]), int(parts[3])
    except (IndexError, ValueError):
        raise ModelError(f"{where}: expected 'TYPE NAME INPUTS OUTPUTS ...'") from None
    blobs_end = 4 + n_in + n_out
    if len(parts) < blobs_end:
        raise ModelError(f"{where}: layer {name!r} lists fewer blobs than {n_in} + {n_out}")
    params: dict[int, object] = {}
    for item in parts[blobs_end:]:
        key, sep, value = item.partition("=")
        try:
            k = int(key)
            if not sep:
                raise ValueError
            if k <= -23300:
                values = value.split(",")
                count = int(values[0])
                if count != len(values) - 1:
                    raise ValueError
                params[-k - 23300] = tuple(_number(v) for v in values[1:])
            else:
                params[k] = _number(value)
        except ValueError:
            raise ModelError(f"{where}: layer {name!r} has a malformed parameter "
                             f"{item!r}") from None
    return NcnnLayer(kind, name, tuple(parts[4:4 + n_in]), tuple(parts[4 + n_in:blobs_end]),
                     params)


def _number(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


# --- weights ------------------------------------------------------------------------------
def weight_layout(layer: NcnnLayer) -> list[tuple[str, int, bool]]:
    """What ``layer`` reads from the ``.bin``: ``(name, element count, flagged)`` in order."""
    if layer.type == "Convolution":
        for key, meaning in ((8, "int8 quantisation"), (19, "dynamic weights")):
            if layer.param(key, 0):
                raise ModelError(f"{layer}: {meaning} (parameter {key}) is not supported")
        out = int(layer.param(0, 0))
        size = int(layer.param(6, 0))
        kw = int(layer.param(1, 0))
        kh = int(layer.param(11, kw))
        if out <= 0 or kw <= 0 or kh <= 0 or size <= 0 or size % (out * kw * kh):
            raise ModelError(f"{layer}: weight size {size} is not a multiple of "
                             f"{out} outputs x {kh}x{kw} kernel")
        layout = [("weight", size, True)]
        if layer.param(5, 0):
            layout.append(("bias", out, False))
        return layout
    if layer.type == "PReLU":
        return [("slope", int(layer.param(0, 1)), False)]
    return []


def read_weights(net: NcnnNet, data: bytes, *, what: str = ".bin") -> NcnnNet:
    """Fill ``net.weights`` from the ``.bin`` bytes ``data``; ModelError naming the layer when
    the file ends inside one or has bytes left after the last."""
    offset = 0
    last = None
    for layer in net:
        arrays = {}
        for name, count, flagged in weight_layout(layer):
            try:
                arrays[name], offset = _read_array(data, offset, count, flagged, layer)
            except _ShortRead as short:
                raise ModelError(f"{what} is too short: it ends inside {layer} ({name}: "
                                 f"{short.need} bytes needed, {short.have} left)") from None
            last = layer
        if arrays:
            net.weights[layer.name] = arrays
    if offset != len(data):
        after = f"after {last}" if last else "although no layer has weights"
        raise ModelError(f"{what} is too long: {len(data) - offset} bytes are left {after} "
                         "(another model's weights?)")
    return net


class _ShortRead(Exception):
    def __init__(self, need: int, have: int) -> None:
        super().__init__()
        self.need, self.have = need, have


def _take(data: bytes, offset: int, size: int) -> bytes:
    if offset + size > len(data):
        raise _ShortRead(size, len(data) - offset)
    return data[offset:offset + size]


def _read_array(data: bytes, offset: int, count: int, flagged: bool, layer: NcnnLayer):
    if not flagged:
        raw = _take(data, offset, 4 * count)
        return np.frombuffer(raw, "<f4").astype(np.float32), offset + 4 * count
    tag = int.from_bytes(_take(data, offset, 4), "little")
    offset += 4
    if tag == TAG_FP16:
        size = 2 * count
        raw = _take(data, offset, size)
        return np.frombuffer(raw, "<f2").astype(np.float32), offset + _align4(size)
    if tag == TAG_INT8:
        raise ModelError(f"{layer}: int8 weights are not supported (re-export as fp16/fp32)")
    if tag in (TAG_FP32, TAG_FP32_SCALED):
        raw = _take(data, offset, 4 * count)
        return np.frombuffer(raw, "<f4").astype(np.float32), offset + 4 * count
    table = np.frombuffer(_take(data, offset, 1024), "<f4")
    offset += 1024
    index = np.frombuffer(_take(data, offset, count), np.uint8)
    return table[index].astype(np.float32), offset + _align4(count)


def _align4(n: int) -> int:
    return (n + 3) // 4 * 4


def load_ncnn(param: bytes | str | Path, weights: bytes | str | Path, *,
              name: str = "") -> NcnnNet:
    """Parse a ``.param`` and its ``.bin`` (paths or their contents) into an :class:`NcnnNet`."""
    label = name or (Path(param).stem if isinstance(param, (str, Path)) else "model")
    text = Path(param).read_bytes() if isinstance(param, (str, Path)) else param
    data = Path(weights).read_bytes() if isinstance(weights, (str, Path)) else weights
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelError(f"{label}.param is not text (binary .param.bin files are not "
                         "supported)") from None
    net = parse_param(decoded, what=f"{label}.param")
    return read_weights(net, data, what=f"{label}.bin")


# --- writing (tests and tools build small models in the exact format) ----------------------
def format_layer(layer: NcnnLayer) -> str:
    """The ``.param`` line of ``layer``."""
    items = []
    for key, value in layer.params.items():
        if isinstance(value, tuple):
            items.append(f"{-23300 - key}={len(value)}," + ",".join(_fmt(v) for v in value))
        else:
            items.append(f"{key}={_fmt(value)}")
    return " ".join([layer.type, layer.name, str(len(layer.inputs)), str(len(layer.outputs)),
                     *layer.inputs, *layer.outputs, *items])


def _fmt(value) -> str:
    return f"{value:e}" if isinstance(value, float) else str(int(value))


def format_param(layers: list[NcnnLayer]) -> str:
    blobs = {b for layer in layers for b in layer.outputs}
    return "\n".join([str(MAGIC), f"{len(layers)} {len(blobs)}",
                      *(format_layer(layer) for layer in layers)]) + "\n"


def pack_array(values: np.ndarray, storage: str = "fp32") -> bytes:
    """A flagged array as ncnn stores it: ``storage`` 'fp32', 'fp16' or 'raw' (no tag)."""
    flat = np.ascontiguousarray(values, np.float32).ravel()
    if storage == "raw":
        return flat.astype("<f4").tobytes()
    if storage == "fp16":
        body = flat.astype("<f2").tobytes()
        return TAG_FP16.to_bytes(4, "little") + body + b"\0" * (_align4(len(body)) - len(body))
    if storage == "fp32":
        return TAG_FP32.to_bytes(4, "little") + flat.astype("<f4").tobytes()
    raise ValueError(f"unknown storage {storage!r}")
