"""Convert Real-ESRGAN checkpoints (``.pth``) to ONNX: RRDBNet and SRVGGNetCompact.

The architectures follow the published definitions (BasicSR ``RRDBNet``: ESRGAN's residual-in-
residual dense blocks, LeakyReLU 0.2, residuals scaled by 0.2, two nearest x2 upsamplings, with
a pixel-unshuffle in front for x2/x1; Real-ESRGAN ``SRVGGNetCompact``: a plain conv stack with
PReLU, a pixel shuffle, plus the nearest-upsampled input). They are re-described here as an
ONNX graph (:class:`~photomend.upscaling.onnx_graph.GraphBuilder`); no code of those projects is
used. A checkpoint is checked key by key (names and shapes, in order) against the architecture
before conversion, so a checkpoint of another architecture fails with the first mismatch.

Checkpoints are read without torch when they are in PyTorch's zip format (every ``torch.save``
since 1.6): a restricted unpickler that only rebuilds tensors, nothing else. Older pickle files
need torch (``pip install 'photomend[torch]'``).
"""

from __future__ import annotations

import collections
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from photomend.errors import ModelError
from photomend.upscaling.onnx_graph import GraphBuilder


@dataclass(frozen=True)
class RRDBNetArch:
    """BasicSR ``RRDBNet(num_in_ch, num_out_ch, scale, num_feat, num_block, num_grow_ch)``."""

    scale: int = 4
    num_feat: int = 64
    num_block: int = 23
    num_grow_ch: int = 32
    num_in_ch: int = 3
    num_out_ch: int = 3

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Every state-dict key and shape, in the module's order."""
        unshuffle = {1: 16, 2: 4}.get(self.scale, 1)
        f, g = self.num_feat, self.num_grow_ch
        out: dict[str, tuple[int, ...]] = {}

        def conv(name: str, cin: int, cout: int) -> None:
            out[f"{name}.weight"] = (cout, cin, 3, 3)
            out[f"{name}.bias"] = (cout,)

        conv("conv_first", self.num_in_ch * unshuffle, f)
        for b in range(self.num_block):
            for r in (1, 2, 3):
                for i in range(1, 5):
                    conv(f"body.{b}.rdb{r}.conv{i}", f + (i - 1) * g, g)
                conv(f"body.{b}.rdb{r}.conv5", f + 4 * g, f)
        for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
            conv(name, f, f)
        conv("conv_last", f, self.num_out_ch)
        return out


@dataclass(frozen=True)
class SRVGGNetArch:
    """Real-ESRGAN ``SRVGGNetCompact(num_in_ch, num_out_ch, num_feat, num_conv, upscale,
    act_type)``."""

    scale: int = 4
    num_feat: int = 64
    num_conv: int = 32
    act_type: str = "prelu"
    num_in_ch: int = 3
    num_out_ch: int = 3

    def shapes(self) -> dict[str, tuple[int, ...]]:
        f = self.num_feat
        out: dict[str, tuple[int, ...]] = {}
        index = 0
        for k in range(self.num_conv + 2):
            cin = self.num_in_ch if k == 0 else f
            cout = self.num_out_ch * self.scale**2 if k == self.num_conv + 1 else f
            out[f"body.{index}.weight"] = (cout, cin, 3, 3)
            out[f"body.{index}.bias"] = (cout,)
            index += 1
            if k <= self.num_conv:  # an activation after every conv but the last
                if self.act_type == "prelu":
                    out[f"body.{index}.weight"] = (f,)
                index += 1
        return out


Arch = RRDBNetArch | SRVGGNetArch


# --- reading checkpoints ------------------------------------------------------------------
_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "HalfStorage": np.float16, "DoubleStorage": np.float64,
    "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _Storage:
    def __init__(self, dtype) -> None:
        self.dtype = dtype


def _rebuild_tensor(storage, offset, size, stride, *_args):
    itemsize = storage.dtype.itemsize
    return np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride)
    ).copy()


def _rebuild_parameter(data, *_args):
    return data


class _CheckpointUnpickler(pickle.Unpickler):
    """Rebuilds tensors as NumPy arrays; refuses every other global (no code runs)."""

    def __init__(self, file, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(file)
        self.archive, self.prefix = archive, prefix

    def find_class(self, module: str, name: str):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _Storage(_STORAGE_DTYPES[name])
        if module == "torch" and name in ("float32", "float16", "bfloat16"):
            return _Storage({"float32": np.float32, "float16": np.float16}.get(name, name))
        raise ModelError(f"the checkpoint holds a {module}.{name} object: only tensors and "
                         "dictionaries of tensors can be imported")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise ModelError("unsupported object in the checkpoint")
        storage_type, key = pid[1], pid[2]
        dtype = storage_type.dtype if isinstance(storage_type, _Storage) else np.float32
        raw = self.archive.read(f"{self.prefix}data/{key}")
        if dtype == "bfloat16":
            words = np.frombuffer(raw, np.uint16).astype(np.uint32) << 16
            return words.view(np.float32)
        return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))


def _read_zip_checkpoint(path: Path) -> object:
    with zipfile.ZipFile(path) as archive:
        pkl = [n for n in archive.namelist() if n.endswith("data.pkl")]
        if not pkl:
            raise ModelError(f"{path.name} is a zip file but not a PyTorch checkpoint")
        prefix = pkl[0][: -len("data.pkl")]
        with archive.open(pkl[0]) as f:
            return _CheckpointUnpickler(f, archive, prefix).load()


def _read_legacy_checkpoint(path: Path) -> object:
    with open(path, "rb") as f:
        if f.read(1) != b"\x80":  # every pickle protocol >= 2 starts so
            raise ModelError(f"{path.name} is not a PyTorch checkpoint")
    try:
        import torch
    except ImportError:
        raise ModelError(f"{path.name} is in PyTorch's pre-1.6 checkpoint format, which needs "
                         "torch to read: pip install 'photomend[torch]'") from None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 — torch raises many types for bad files
        raise ModelError(f"{path.name} is not a readable PyTorch checkpoint: {exc}") from None
    return _to_numpy(data)


def _to_numpy(data):
    if isinstance(data, dict):
        return {k: _to_numpy(v) for k, v in data.items()}
    if hasattr(data, "detach"):
        return data.detach().cpu().float().numpy()
    return data


def load_state_dict(path: Path) -> dict[str, np.ndarray]:
    """The weights of a ``.pth`` checkpoint as float32 arrays: its ``params_ema`` (Real-
    ESRGAN's published weights), else ``params``, else the file's top-level dictionary."""
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            data = _read_zip_checkpoint(path)
        else:
            data = _read_legacy_checkpoint(path)
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, KeyError, ValueError) as exc:
        raise ModelError(f"{path.name} is not a readable PyTorch checkpoint: {exc}") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path.name} holds a {type(data).__name__}, not a state dict")
    for key in ("params_ema", "params"):
        if isinstance(data.get(key), dict):
            data = data[key]
            break
    return {str(k): np.asarray(v, np.float32) for k, v in data.items()
            if isinstance(v, np.ndarray)}


def check_state_dict(state: dict[str, np.ndarray], arch: Arch, *, what: str = "checkpoint"):
    """Raise ModelError naming the first key whose presence or shape differs from ``arch``."""
    expected = arch.shapes()
    for key, shape in expected.items():
        if key not in state:
            raise ModelError(f"{what} is not a {_describe(arch)}: key {key!r} (shape "
                             f"{list(shape)}) is missing")
        if tuple(state[key].shape) != shape:
            raise ModelError(f"{what} is not a {_describe(arch)}: key {key!r} has shape "
                             f"{list(state[key].shape)}, expected {list(shape)}")
    extra = [k for k in state if k not in expected]
    if extra:
        raise ModelError(f"{what} is not a {_describe(arch)}: unexpected key {extra[0]!r} "
                         f"(shape {list(state[extra[0]].shape)})")


def _describe(arch: Arch) -> str:
    if isinstance(arch, RRDBNetArch):
        return (f"RRDBNet x{arch.scale} ({arch.num_block} blocks, {arch.num_feat} features, "
                f"growth {arch.num_grow_ch})")
    return f"SRVGGNetCompact x{arch.scale} ({arch.num_conv} convs, {arch.act_type})"


# --- ONNX graphs --------------------------------------------------------------------------
def build_onnx(state: dict[str, np.ndarray], arch: Arch, *, doc: str = "") -> GraphBuilder:
    """The ONNX graph of ``arch`` with ``state``'s weights (checked first)."""
    check_state_dict(state, arch)
    if isinstance(arch, RRDBNetArch):
        return _rrdbnet(state, arch, doc)
    return _srvgg(state, arch, doc)


def _rrdbnet(w: dict[str, np.ndarray], arch: RRDBNetArch, doc: str) -> GraphBuilder:
    g = GraphBuilder(doc=doc)

    def conv(x: str, name: str, weight: np.ndarray | None = None) -> str:
        return g.conv(x, w[f"{name}.weight"] if weight is None else weight, w[f"{name}.bias"],
                      hint=name.replace(".", "_"))

    def lrelu(x: str) -> str:
        return g.leaky_relu(x, 0.2)

    x = g.input
    block = {1: 4, 2: 2}.get(arch.scale)
    first = w["conv_first.weight"]
    if block:
        # BasicSR's pixel_unshuffle orders channels c*b*b + i*b + j; ONNX SpaceToDepth orders
        # them (i*b + j)*C + c: permute conv_first's input channels to match.
        c = arch.num_in_ch
        perm = [cc * block * block + i * block + j
                for i in range(block) for j in range(block) for cc in range(c)]
        first = first[:, perm]
        x = g.space_to_depth(x, block)
    feat = conv(x, "conv_first", first)
    body = feat
    for b in range(arch.num_block):
        rrdb_in = body
        for r in (1, 2, 3):
            prefix = f"body.{b}.rdb{r}"
            feats = [body]
            for i in range(1, 5):
                feats.append(lrelu(conv(g.concat(feats) if len(feats) > 1 else feats[0],
                                        f"{prefix}.conv{i}")))
            x5 = conv(g.concat(feats), f"{prefix}.conv5")
            body = g.add(g.scale(x5, 0.2), body)
        body = g.add(g.scale(body, 0.2), rrdb_in)
    feat = g.add(feat, conv(body, "conv_body"))
    feat = lrelu(conv(g.upsample_nearest(feat, 2), "conv_up1"))
    feat = lrelu(conv(g.upsample_nearest(feat, 2), "conv_up2"))
    g.output_name(conv(lrelu(conv(feat, "conv_hr")), "conv_last"))
    return g


def _srvgg(w: dict[str, np.ndarray], arch: SRVGGNetArch, doc: str) -> GraphBuilder:
    g = GraphBuilder(doc=doc)
    x = g.input
    index = 0
    for k in range(arch.num_conv + 2):
        x = g.conv(x, w[f"body.{index}.weight"], w[f"body.{index}.bias"], hint=f"body_{index}")
        index += 1
        if k <= arch.num_conv:
            if arch.act_type == "prelu":
                x = g.prelu(x, w[f"body.{index}.weight"])
            elif arch.act_type == "relu":
                x = g.relu(x)
            elif arch.act_type == "leakyrelu":
                x = g.leaky_relu(x, 0.1)
            else:
                raise ModelError(f"unknown activation {arch.act_type!r}")
            index += 1
    out = g.depth_to_space(x, arch.scale, "CRD")  # PyTorch PixelShuffle order
    g.output_name(g.add(out, g.upsample_nearest(g.input, arch.scale)))
    return g


def convert_checkpoint(source: Path, dest: Path, arch: Arch, *, doc: str = "") -> None:
    """Read the ``.pth`` ``source``, check it against ``arch`` and write the ONNX ``dest``."""
    state = load_state_dict(source)
    check_state_dict(state, arch, what=Path(source).name)
    build_onnx(state, arch, doc=doc).save(dest)
