"""PyTorch checkpoints read without torch, and checked key by key against an architecture.

:func:`load_state_dict` reads PyTorch's zip format (every ``torch.save`` since 1.6) with a
restricted unpickler that only rebuilds tensors as NumPy arrays, so no code in the file runs;
older pickle files need torch (``pip install 'photomend[torch]'``).
:func:`check_state_dict` names the first key that is missing, extra or of another shape.

>>> import numpy as np
>>> check_state_dict({"w": np.zeros((2, 3))}, {"w": (2, 3)}, label="a test net")
"""

from __future__ import annotations

import collections
import pickle
import zipfile
from pathlib import Path

import numpy as np

from photomend.errors import ModelArchitectureError, ModelError

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


def check_state_dict(
    state: dict[str, np.ndarray], expected: dict[str, tuple[int, ...]], *, label: str,
    what: str = "checkpoint",
) -> None:
    """Raise ModelArchitectureError naming the first key of ``expected`` (name -> shape) that is
    missing from ``state`` or of another shape, or the first key ``state`` has in excess.
    ``label`` describes the network (``"RRDBNet x4 (23 blocks, ...)"``); ``what`` the file."""
    for key, shape in expected.items():
        if key not in state:
            raise ModelArchitectureError(f"{what} is not {label}: key {key!r} (shape "
                                         f"{list(shape)}) is missing")
        if tuple(state[key].shape) != tuple(shape):
            raise ModelArchitectureError(f"{what} is not {label}: key {key!r} has shape "
                                         f"{list(state[key].shape)}, expected {list(shape)}")
    extra = [k for k in state if k not in expected]
    if extra:
        raise ModelArchitectureError(f"{what} is not {label}: unexpected key {extra[0]!r} "
                                     f"(shape {list(state[extra[0]].shape)})")
