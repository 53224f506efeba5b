"""A tiny ONNX graph builder for converting published super-resolution networks.

Converters (:mod:`photomend.upscaling.tfjs`, :mod:`photomend.upscaling.realesrgan`) describe a
network as a sequence of calls on :class:`GraphBuilder` (NCHW float32 tensors, weights as NumPy
arrays) and :meth:`GraphBuilder.save` writes a one-input, one-output ONNX file that
:mod:`photomend.nn.onnx` runs. Only the ``onnx`` package is needed (no torch, no TensorFlow).

The graph takes ``image`` (1x3xHxW, RGB in [0, 1], any H and W) and returns ``upscaled``
(1x3x(sH)x(sW), RGB in [0, 1], unclipped).

>>> import numpy as np
>>> g = GraphBuilder()
>>> y = g.conv(g.input, np.zeros((3, 3, 1, 1), np.float32), np.ones(3, np.float32))
>>> g.output_name(g.depth_to_space(g.conv(y, np.zeros((12, 3, 3, 3), np.float32), None), 2, "DCR"))
>>> g.model().graph.output[0].name
'upscaled'
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from photomend.errors import ModelError

#: ONNX opset of the files we write (onnxruntime >= 1.14 runs it).
OPSET = 17


def _onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError as exc:
        raise ModelError("converting published weights needs the `onnx` package, a "
                         f"dependency of photomend that does not import here ({exc}): "
                         "reinstall photomend") from exc
    return onnx, helper, numpy_helper


class GraphBuilder:
    """Accumulates ONNX nodes and initialisers; every method returns the new tensor's name."""

    def __init__(self, *, doc: str = "") -> None:
        self.nodes: list = []
        self.initializers: list = []
        self.doc = doc
        self._count = 0
        self.input = "image"
        self._output: str | None = None
        #: Further graph inputs besides ``image``: (name, shape), e.g. SRMD's degradation.
        self.extra_inputs: list[tuple[str, list]] = []

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value: np.ndarray, hint: str = "const") -> str:
        _, _, numpy_helper = _onnx()
        name = self._name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], hint: str | None = None, **attrs) -> str:
        _, helper, _ = _onnx()
        out = self._name(hint or op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    # --- layers -------------------------------------------------------------------------
    def conv(self, x: str, weight: np.ndarray, bias: np.ndarray | None, *, pads=None,
             auto_pad: str | None = None, strides=(1, 1), dilations=(1, 1),
             hint: str = "conv") -> str:
        """2-D convolution; ``weight`` is (out, in, kh, kw) as ONNX and PyTorch store it."""
        weight = np.ascontiguousarray(weight, np.float32)
        if weight.ndim != 4:
            raise ModelError(f"{hint}: convolution weight must be 4-D, got {weight.shape}")
        inputs = [x, self.const(weight, hint + "_w")]
        if bias is not None:
            inputs.append(self.const(np.ascontiguousarray(bias, np.float32), hint + "_b"))
        attrs = {"kernel_shape": list(weight.shape[2:]), "strides": list(strides),
                 "dilations": list(dilations)}
        if auto_pad:
            attrs["auto_pad"] = auto_pad
        else:
            kh, kw = weight.shape[2:]
            pads = pads if pads is not None else [kh // 2, kw // 2, kh // 2, kw // 2]
            attrs["pads"] = list(pads)
        return self.node("Conv", inputs, hint, **attrs)

    def relu(self, x: str) -> str:
        return self.node("Relu", [x])

    def leaky_relu(self, x: str, alpha: float) -> str:
        return self.node("LeakyRelu", [x], alpha=float(alpha))

    def prelu(self, x: str, slope: np.ndarray) -> str:
        slope = np.asarray(slope, np.float32).reshape(-1, 1, 1)
        return self.node("PRelu", [x, self.const(slope, "prelu_slope")])

    def sigmoid(self, x: str) -> str:
        return self.node("Sigmoid", [x])

    def tanh(self, x: str) -> str:
        return self.node("Tanh", [x])

    def add(self, *xs: str) -> str:
        if len(xs) == 1:
            return xs[0]
        return self.node("Sum", list(xs)) if len(xs) > 2 else self.node("Add", list(xs))

    def scale(self, x: str, factor: float) -> str:
        return self.node("Mul", [x, self.const(np.array(factor, np.float32), "factor")])

    def concat(self, xs: list[str]) -> str:
        return self.node("Concat", list(xs), axis=1)

    def depth_to_space(self, x: str, block: int, mode: str) -> str:
        """Pixel shuffle. ``mode='DCR'`` is TensorFlow's ``depth_to_space``; ``'CRD'`` is
        PyTorch's ``PixelShuffle``."""
        return self.node("DepthToSpace", [x], blocksize=int(block), mode=mode)

    def space_to_depth(self, x: str, block: int) -> str:
        """TensorFlow's ``space_to_depth`` channel order: (i*block + j)*C + c."""
        return self.node("SpaceToDepth", [x], blocksize=int(block))

    def upsample_nearest(self, x: str, factor_h: int, factor_w: int | None = None) -> str:
        """Nearest-neighbour upsampling by integer factors (exactly: out[y] = in[y // f])."""
        factor_w = factor_h if factor_w is None else factor_w
        scales = self.const(np.array([1, 1, factor_h, factor_w], np.float32), "scales")
        return self.node("Resize", [x, "", scales], "upsample", mode="nearest",
                         coordinate_transformation_mode="asymmetric", nearest_mode="floor")

    def add_input(self, name: str, shape: list) -> str:
        """Declare a further float32 graph input ``name`` of ``shape``; returns its name."""
        self.extra_inputs.append((name, list(shape)))
        return name

    def resize(self, x: str, scale_h: float, scale_w: float, mode: str) -> str:
        """Resize by factors: ``mode`` 'cubic' (a = -0.75, half-pixel, edge pixels repeated)
        or 'nearest' (out[y] = in[floor(y / scale)])."""
        scales = self.const(np.array([1, 1, scale_h, scale_w], np.float32), "scales")
        if mode == "nearest":
            return self.node("Resize", [x, "", scales], "resize", mode="nearest",
                             coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        return self.node("Resize", [x, "", scales], "resize", mode="cubic",
                         cubic_coeff_a=-0.75, coordinate_transformation_mode="half_pixel")

    # --- output -------------------------------------------------------------------------
    def output_name(self, x: str) -> None:
        self._output = x

    def model(self):
        onnx, helper, _ = _onnx()
        if self._output is None:
            raise ModelError("graph has no output")
        out = "upscaled"
        nodes = list(self.nodes) + [helper.make_node("Identity", [self._output], [out])]
        graph = helper.make_graph(
            nodes, "photomend_upscaler",
            [helper.make_tensor_value_info(self.input, onnx.TensorProto.FLOAT,
                                           [1, 3, "height", "width"])]
            + [helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape)
               for name, shape in self.extra_inputs],
            [helper.make_tensor_value_info(out, onnx.TensorProto.FLOAT,
                                           [1, 3, "out_height", "out_width"])],
            initializer=self.initializers,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="photomend", doc_string=self.doc)
        model.ir_version = min(model.ir_version, 8)
        onnx.checker.check_model(model)
        return model

    def save(self, dest: Path) -> None:
        """Write the model to ``dest`` (written whole to a temporary file, then renamed)."""
        dest = Path(dest)
        data = self.model().SerializeToString()
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, dest)
        finally:
            Path(tmp).unlink(missing_ok=True)
