"""BasicVSR x4 (MMEditing/mmagic's published checkpoints, Apache-2.0) under ONNX Runtime.

``photomend models import basicvsr_reds4_20120409-0e599677.pth`` (torch needed once) checks
every key and shape of the checkpoint's ``generator.*`` weights against
:mod:`photomend.video.basicvsr_arch` and writes four ONNX graphs into one zip file in the
model cache: ``flow`` (SPyNet), ``backward`` and ``forward`` (one recurrent step each, the
warping of the carried features included) and ``upsample`` (one x4 frame). This module runs
them: the recurrence, and the resizes around SPyNet, in NumPy/OpenCV.

The official test feeds the whole clip at once; photomend streams it in windows of
:data:`WINDOW` frames read with :data:`CONTEXT` more frames on each side (memory:
``WINDOW`` backward feature maps of 64 channels at the input size, about 59 MB each for a
640x360 input). A clip of at most ``WINDOW`` frames gets exactly the official output (see
``tools/basicvsr_parity.py``); in a longer one the propagation reaches ``CONTEXT`` frames past
each window. Outputs are clipped to [0, 1].

>>> resolve_name("basicvsr")
'basicvsr-reds4'
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import cv2
import numpy as np

from photomend.errors import ModelArchitectureError, ModelError, UnsupportedScaleError
from photomend.video.vsr import RecurrentWindows
from photomend.video.zoo_entries import DEFAULT_MODEL, PUBLISHED, SCALE

__all__ = ["DEFAULT_MODEL", "PUBLISHED", "SCALE", "BasicVSRUpscaler", "check",
           "convert_checkpoint", "export_onnx", "is_basicvsr", "load_checkpoint", "resolve_name"]

PARTS = ("flow", "backward", "forward", "upsample")
#: Output frames per window and frames of context on each side (a memory/propagation
#: trade-off, not tuned on data: no published weights were at hand).
WINDOW, CONTEXT = 10, 5
#: The x4 upsampler runs on stripes of this many input rows, each read with ``STRIPE_PAD``
#: more rows on both sides (its receptive field is 2 input rows; 1 is not enough): the
#: same output as one run, with a fraction of the memory (64-channel maps at 4x the size).
STRIPE_ROWS, STRIPE_PAD = 64, 3
PREFIX = "generator."
#: Keys a checkpoint may lack or carry besides the network's: SPyNet's constant
#: normalisation buffers, and the training step counter of mmagic's model wrapper.
OPTIONAL_KEYS = ("spynet.mean", "spynet.std")
IGNORED_KEYS = ("step_counter",)


def resolve_name(name: str) -> str:
    """The zoo name of a BasicVSR model (``basicvsr`` = :data:`DEFAULT_MODEL`)."""
    return DEFAULT_MODEL if name == "basicvsr" else name


def is_basicvsr(name: str) -> bool:
    return resolve_name(name) in PUBLISHED


def check(name: str, scale: int) -> Path:
    """The installed file of model ``name`` at ``scale``: UnsupportedScaleError for a scale
    other than 4, ModelMissingError (with the import command) when not installed."""
    from photomend import zoo

    if int(scale) != SCALE:
        raise UnsupportedScaleError(f"{name} upscales x4 only, not x{scale}; use -s 4, or "
                                    "--model compact-vsr for x2")
    return zoo.model_path(resolve_name(name))


# ---------------------------------------------------------------------------------------------
# Import: checkpoint -> layout check -> ONNX graphs in a zip (torch)
# ---------------------------------------------------------------------------------------------


def load_checkpoint(source: Path, *, channels: int | None = None, blocks: int | None = None):
    """The :class:`~photomend.video.basicvsr_arch.BasicVSR` of an mmagic checkpoint (``state_dict``
    with ``generator.*`` keys; a bare state dict with those keys is taken too), every key and
    shape checked: ModelArchitectureError names the first that differs. ``channels`` and
    ``blocks`` (default: the published 64 and 30) are for tests with small networks."""
    import torch

    from photomend.nn.torch_export import check_layout
    from photomend.video import basicvsr_arch as arch

    source = Path(source)
    try:
        ckpt = torch.load(str(source), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (pickle, zip, truncation: one message)
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:100]
        raise ModelError(f"cannot read {source} as a torch checkpoint ({reason})") from None
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ModelArchitectureError(f"{source.name} holds no state dict")
    net = arch.BasicVSR(channels or arch.CHANNELS, blocks or arch.BLOCKS)
    reference = {PREFIX + k: v for k, v in net.state_dict().items()}
    given = {k: v for k, v in state.items() if k not in IGNORED_KEYS}
    for key in OPTIONAL_KEYS:
        given.setdefault(PREFIX + key, reference[PREFIX + key])
    try:
        check_layout(given, reference, f"{source.name} is not an mmagic BasicVSR checkpoint")
    except ModelError as exc:
        raise ModelArchitectureError(str(exc)) from None
    net.load_state_dict({k[len(PREFIX):]: v for k, v in given.items()})
    return net.eval()


def export_onnx(net, dest: Path) -> None:
    """Write ``net``'s four graphs (H and W dynamic) into the zip ``dest``."""
    import warnings

    import torch

    from photomend.video import basicvsr_arch as arch

    c, h, w = net.channels, 64, 96
    lr, state, flow = torch.rand(1, 3, h, w), torch.rand(1, c, h, w), torch.rand(1, 2, h, w)
    hw = {2: "height", 3: "width"}
    graphs = {
        "flow": (net.spynet, (lr, lr), ["ref", "supp"], ["flow"]),
        "backward": (arch.Propagate(net.backward_resblocks), (lr, state, flow),
                     ["lr", "state", "flow"], ["next"]),
        "forward": (arch.Propagate(net.forward_resblocks), (lr, state, flow),
                    ["lr", "state", "flow"], ["next"]),
        "upsample": (arch.Upsample(net), (lr, state, state), ["lr", "backward", "forward"],
                     ["hr"]),
    }
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as zf:
        for part, (module, args, inputs, outputs) in graphs.items():
            buf = io.BytesIO()
            axes = {n: hw for n in inputs + outputs}
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the exporter's deprecation and tracer chatter
                torch.onnx.export(module.eval(), args, buf, input_names=inputs,
                                  output_names=outputs, dynamic_axes=axes, opset_version=17,
                                  dynamo=False)
            zf.writestr(f"{part}.onnx", buf.getvalue())


def convert_checkpoint(source: Path, dest: Path) -> None:
    """``models import``'s converter: layout check, then the ONNX zip."""
    export_onnx(load_checkpoint(source), Path(dest))


def _convert(spec, source: Path, dest: Path) -> None:
    from photomend.nn.torch_export import require_torch

    require_torch(spec.name, "ONNX graphs")
    convert_checkpoint(source, dest)


# ---------------------------------------------------------------------------------------------
# Run time: ONNX Runtime, NumPy, OpenCV
# ---------------------------------------------------------------------------------------------

_SESSIONS: dict[tuple, dict] = {}


def sessions(path: Path) -> dict:
    """The four ONNX Runtime sessions of an installed zip (made once per file version)."""
    from photomend.nn import onnx as nn_onnx

    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, nn_onnx.num_threads())
    if key not in _SESSIONS:
        ort = nn_onnx._ort()
        options = ort.SessionOptions()
        options.intra_op_num_threads = key[-1]
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            with zipfile.ZipFile(path) as zf:
                _SESSIONS[key] = {p: ort.InferenceSession(zf.read(f"{p}.onnx"), options,
                                                          providers=["CPUExecutionProvider"])
                                  for p in PARTS}
        except Exception as exc:  # zipfile's and onnxruntime's own exception types
            raise ModelError(f"{path} is not a usable BasicVSR model file: {exc}; reinstall "
                             "it with `photomend models import`") from None
    return _SESSIONS[key]


class BasicVSRUpscaler(RecurrentWindows):
    """Upscale a stream of frames x4 with an installed BasicVSR model (``path``: its zip).

    >>> up = BasicVSRUpscaler(zoo.model_path("basicvsr-reds4"))        # doctest: +SKIP
    >>> next(up.upscale_frames(frames)).shape                          # doctest: +SKIP
    (1440, 2560, 3)
    """

    scale = SCALE
    #: Clip the outputs to [0, 1] (False: the network's raw output, for parity checks).
    clip = True

    def __init__(self, path: str | Path, *, window: int = WINDOW, context: int = CONTEXT) -> None:
        self.window, self.context = int(window), int(context)
        if self.window < 1 or self.context < 0:
            raise ValueError(f"window must be >= 1 and context >= 0, got {window}, {context}")
        self.sessions = sessions(Path(path))
        self.channels = int(self.sessions["backward"].get_inputs()[1].shape[1])

    def _prepare(self, rgb: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """SPyNet's input: the frame resized (bilinear) up to sides that are multiples of 32."""
        h, w = rgb.shape[:2]
        size = (-(-w // 32) * 32, -(-h // 32) * 32)
        up = rgb if size == (w, h) else cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(up.transpose(2, 0, 1)[None]), (h, w)

    def _flow(self, a, b) -> np.ndarray:
        """1x2xHxW flow from frame ``a`` to ``b`` at the frames' own size."""
        (ra, (h, w)), (rb, _) = a, b
        flow = self.sessions["flow"].run(None, {"ref": ra, "supp": rb})[0][0]
        hu, wu = flow.shape[1:]
        if (hu, wu) != (h, w):
            flow = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR)
                             for f in flow])
            flow[0] *= w / wu
            flow[1] *= h / hu
        return flow[None]

    def _window(self, seg: list[np.ndarray], lo: int, out_lo: int, out_hi: int, flow):
        n = len(seg)
        h, w = seg[0].shape[:2]
        zero_flow = np.zeros((1, 2, h, w), np.float32)
        zero = np.zeros((1, self.channels, h, w), np.float32)
        nchw = [np.ascontiguousarray(f.transpose(2, 0, 1)[None]) for f in seg]
        back: list[np.ndarray | None] = [None] * n
        state = zero
        for i in reversed(range(out_lo - lo, n)):
            f = flow(lo + i, lo + i + 1) if i < n - 1 else zero_flow
            state = back[i] = self._step("backward", nchw[i], state, f)
        state = zero
        for i in range(out_hi - lo):
            f = flow(lo + i, lo + i - 1) if i > 0 else zero_flow
            state = self._step("forward", nchw[i], state, f)
            if lo + i >= out_lo:
                out = self._upsample(nchw[i], back[i], state)
                back[i] = None
                yield np.clip(out, 0.0, 1.0) if self.clip else out

    def _upsample(self, lr: np.ndarray, back: np.ndarray, fwd: np.ndarray) -> np.ndarray:
        """The x4 frame (4H x 4W x 3) in stripes of :data:`STRIPE_ROWS` input rows."""
        h, w = lr.shape[2:]
        out = np.empty((4 * h, 4 * w, 3), np.float32)
        for a in range(0, h, STRIPE_ROWS):
            b = min(h, a + STRIPE_ROWS)
            lo, hi = max(0, a - STRIPE_PAD), min(h, b + STRIPE_PAD)
            feed = {name: np.ascontiguousarray(x[:, :, lo:hi])
                    for name, x in (("lr", lr), ("backward", back), ("forward", fwd))}
            hr = self.sessions["upsample"].run(None, feed)[0]
            out[4 * a:4 * b] = hr[0, :, 4 * (a - lo):4 * (b - lo)].transpose(1, 2, 0)
        return out

    def _step(self, part: str, lr: np.ndarray, state: np.ndarray, flow: np.ndarray):
        return self.sessions[part].run(None, {"lr": lr, "state": state, "flow": flow})[0]
