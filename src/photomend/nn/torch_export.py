"""Published torch weights checked against photomend's architecture and written as an ONNX file:
the ``models import`` step of the networks photomend runs on ONNX Runtime (GFPGAN, the
Bringing Old Photos Back to Life detector). Needs torch, once; nothing here runs at inference.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from photomend.errors import ModelArchitectureError, ModelError, OptionalDependencyError


def require_torch(name: str, writes: str = "ONNX file") -> None:
    """OptionalDependencyError (with the install command) unless torch imports: importing model
    ``name`` checks its layout and writes its ``writes`` with torch, once."""
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise OptionalDependencyError(f"importing {name} needs torch once (to write its "
                                      f"{writes}): pip install 'photomend[torch]' ({exc})"
                                      ) from None


def load_torch_file(path: Path, what: str) -> dict:
    """The dictionary a ``torch.save`` file holds, read with ``weights_only`` (no code in the
    file runs); ModelError naming ``what`` when it is unreadable or not a dictionary."""
    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (pickle, zip, truncation: one message)
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:100]
        raise ModelError(f"{what}: cannot read {path} as a torch state dict ({reason})") from None
    if not isinstance(state, dict):
        raise ModelError(f"{what}: {path} holds a {type(state).__name__}, not a state dict")
    return state


def check_layout(state: dict, reference: dict, what: str) -> None:
    """Refuse ``state`` unless it has exactly ``reference``'s keys and shapes; the error names
    the first key that is missing, unexpected or of another shape.

    >>> import numpy as np
    >>> check_layout({"w": np.zeros((2, 3))}, {"w": np.zeros((2, 3))}, "net.pt")
    """
    for key, ref in reference.items():
        if key not in state:
            raise ModelError(f"{what}: missing key {key!r} (expected shape {tuple(ref.shape)})")
        shape = tuple(getattr(state[key], "shape", ()))
        if shape != tuple(ref.shape):
            raise ModelError(f"{what}: key {key!r} has shape {shape}, expected "
                             f"{tuple(ref.shape)}")
    for key in state:
        if key not in reference:
            raise ModelError(f"{what}: unexpected key {key!r}")


def export_onnx(net, state: dict, dest: Path, example, *, what: str, label: str,
                input_names: list[str], output_names: list[str],
                dynamic_axes: dict | None = None) -> None:
    """Check ``state`` (a state dict read from the file ``what``) against ``net``'s layout
    (ModelArchitectureError: "not ``label``: ..."), load it and write ``net`` in eval mode,
    traced on ``example``, to ``dest`` (ONNX opset 17)."""
    import torch

    try:
        check_layout(state, net.state_dict(), what)
    except ModelError as exc:
        raise ModelArchitectureError(f"not {label}: {exc}") from None
    net.load_state_dict(state)
    net.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer chatter
        torch.onnx.export(net, (example,), str(dest), input_names=input_names,
                          output_names=output_names, dynamic_axes=dynamic_axes,
                          opset_version=17, dynamo=False)
