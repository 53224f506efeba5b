"""Reading LaMa weights: the official Lightning checkpoint, IOPaint's TorchScript ``big-lama.pt``,
a bare generator state dict, and photomend's own converted file.

Every path ends in the same place: a state dict with the official generator keys
(``model.<i>.…``), checked key by key against the config its shapes imply
(:func:`photomend.lama.config.infer_config`), then loaded into :class:`LamaGenerator`. A file of
another architecture fails with :class:`ModelArchitectureError` naming the first key that
differs and its shape.

Checkpoints are read without running code from them: ``torch.load(weights_only=True)`` first,
and for Lightning checkpoints whose extra entries (hyper-parameters, callbacks) hold other
classes, an unpickler that rebuilds tensors and replaces every other object by an inert stub.
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path

from photomend.errors import ModelArchitectureError, ModelError, OptionalDependencyError
from photomend.lama.config import LamaConfig, first_mismatch, infer_config

#: The ``format`` field of photomend's converted file.
CONVERTED_FORMAT = "photomend-lama-generator/1"

TORCH_EXTRA_HINT = "pip install 'photomend[torch]' (the CPU build of torch 2.13)"


def require_torch():
    """The torch module, or OptionalDependencyError naming the extra that provides it."""
    try:
        import torch
    except ImportError:
        raise OptionalDependencyError(
            f"the LaMa engine needs torch, which is not installed: {TORCH_EXTRA_HINT}"
        ) from None
    return torch


# --- reading files ---------------------------------------------------------------------------

def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


class _Inert:
    """Stands in for any non-tensor object of a checkpoint (hyper-parameters, callbacks)."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def append(self, item):
        pass

    def extend(self, items):
        pass


def _inert_class(module: str, name: str) -> type:
    return type(name, (_Inert,), {"__module__": f"inert.{module}"})


class _TensorOnlyUnpickler(pickle.Unpickler):
    """Rebuilds tensors, storages and plain containers; every other class becomes inert."""

    def find_class(self, module: str, name: str):
        import torch

        allowed = (
            (module == "collections" and name == "OrderedDict")
            or (module == "torch._utils" and name.startswith("_rebuild_"))
            or (module == "torch._tensor" and name == "_rebuild_from_type_v2")
            or (module == "torch" and (name.endswith("Storage") or name in ("Size", "device")
                                       or isinstance(getattr(torch, name, None), torch.dtype)))
            or (module == "torch.nn.parameter" and name == "Parameter")
            or (module == "builtins" and name in ("set", "frozenset", "slice", "complex"))
        )
        if allowed:
            return super().find_class(module, name)
        return _inert_class(module, name)


class _TensorOnlyPickle:
    """A ``pickle_module`` for ``torch.load`` that uses :class:`_TensorOnlyUnpickler`."""

    Unpickler = _TensorOnlyUnpickler

    @staticmethod
    def load(file, **kwargs):
        return _TensorOnlyUnpickler(file, **kwargs).load()
    __name__ = "photomend_tensor_only_pickle"


def _torch_load(torch, path: Path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass  # other classes in the file (a Lightning checkpoint's hyper-parameters): see below
    return torch.load(path, map_location="cpu", weights_only=False,
                      pickle_module=_TensorOnlyPickle)


def read_weights(path: str | Path) -> tuple[dict, str]:
    """``(state_dict, kind)`` of a LaMa weight file, keys normalised to ``model.<i>.…``.

    ``kind`` is 'torchscript', 'checkpoint' (Lightning or plain ``torch.save``) or 'converted'.
    """
    torch = require_torch()
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"cannot read {path}: no such file")
    if _is_torchscript(path):
        try:
            with warnings.catch_warnings():  # "torch.jit.load is deprecated": the file is a jit
                warnings.simplefilter("ignore", DeprecationWarning)
                module = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:  # torch raises RuntimeError subclasses of its own
            raise ModelError(f"{path.name} is a TorchScript archive torch cannot load: "
                             f"{str(exc).splitlines()[0]}") from None
        state = dict(module.state_dict())
        if not _generator_keys(state):
            first = next(iter(state), "none")
            raise ModelArchitectureError(
                f"{path.name} is a TorchScript file but not LaMa: it has no generator weights "
                f"('…generator.model.<i>…'; its first weight is {first!r})")
        return _generator_state(state, path.name), "torchscript"
    try:
        obj = _torch_load(torch, path)
    except Exception as exc:
        raise ModelError(f"{path.name} is not a PyTorch checkpoint torch can read: "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                         ) from None
    if isinstance(obj, dict) and obj.get("format") == CONVERTED_FORMAT:
        return _generator_state(obj["state_dict"], path.name), "converted"
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]  # Lightning checkpoint
    if not isinstance(obj, dict) or not obj:
        raise ModelArchitectureError(f"{path.name} holds no state dict of weights")
    return _generator_state(obj, path.name), "checkpoint"


def _generator_keys(state: dict) -> list[str]:
    return [k for k in state if "generator.model." in k or k.startswith("model.")]


def _generator_state(state: dict, name: str) -> dict:
    """The generator's tensors with keys ``model.<i>.…`` (``generator.`` and any wrapper
    prefix before it removed; discriminator, loss and evaluator weights dropped)."""
    out = {}
    for key, value in state.items():
        i = key.find("generator.model.")
        if i >= 0:
            out[key[i + len("generator."):]] = value
    if not out:
        out = {k: v for k, v in state.items() if k.startswith("model.")}
    if not out:
        first = next(iter(state), "none")
        raise ModelArchitectureError(
            f"{name} has no LaMa generator weights: expected keys 'generator.model.<i>…' "
            f"(Lightning checkpoint) or 'model.<i>…', found {first!r} first")
    return out


# --- building the network --------------------------------------------------------------------

def check_state(state: dict, *, expect: LamaConfig | None = None, name: str = "weights"
                ) -> LamaConfig:
    """The config of ``state`` (``expect`` when given), or ModelArchitectureError naming the
    first key that does not fit and its shape."""
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    try:
        cfg = expect or infer_config(shapes)
    except (ValueError, KeyError) as exc:
        raise ModelArchitectureError(f"{name} is not a LaMa FFC-ResNet generator: {exc}") from None
    problem = first_mismatch(shapes, cfg)
    if problem:
        raise ModelArchitectureError(
            f"{name} is not a LaMa generator of the expected architecture ({cfg.describe()}): "
            f"{problem}")
    return cfg


def build_generator(state: dict, *, expect: LamaConfig | None = None, name: str = "weights"):
    """A :class:`LamaGenerator` in eval mode holding ``state`` (official ``model.<i>`` keys)."""
    require_torch()
    from photomend.lama.model import LamaGenerator

    cfg = check_state(state, expect=expect, name=name)
    gen = LamaGenerator(cfg)
    full = gen.state_dict()
    for key, value in state.items():
        full[key] = value  # missing num_batches_tracked counters keep their default
    gen.load_state_dict(full, strict=True)
    return gen.float().eval()


def load_generator(path: str | Path, *, expect: LamaConfig | None = None):
    """Read any supported LaMa file (see :func:`read_weights`) into a generator."""
    state, _ = read_weights(path)
    return build_generator(state, expect=expect, name=Path(path).name)


def save_converted(state: dict, cfg: LamaConfig, dest: str | Path) -> None:
    """Write photomend's inference file: the generator's tensors (fp32) and its config, readable
    with ``torch.load(weights_only=True)``."""
    torch = require_torch()
    tensors = {k: v.detach().to(torch.float32) if v.is_floating_point() else v.detach()
               for k, v in state.items()}
    torch.save({"format": CONVERTED_FORMAT, "config": cfg.to_dict(), "state_dict": tensors},
               str(dest))
