"""The ``lama`` engine: Big-LaMa (Suvorov et al., WACV 2022), a learned large-mask inpainter.

Needs torch (``pip install 'photomend[torch]'``) and the Big-LaMa weights
(``photomend models import big-lama.pt``); ``photomend engines`` says which is missing.
Importing this module imports neither torch nor the network.

Under ``hd_strategy='cra'`` the engine runs at the working size and CRA aggregates the photo's
own full-resolution detail into the hole. CRA's attention compares either the working-size
result's pixels (``attention='result'``, the default, as for ``patchmatch``) or LaMa's decoder
features (``attention='decoder'``: 256 channels at 1/4 of the working size, one vector per CRA
cell); ``$PHOTOMEND_LAMA_ATTENTION`` sets it for callers that cannot pass engine options. See
docs/lama.md.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from photomend import zoo
from photomend.engines.base import BUILTIN_TRAITS, Engine, ProgressFn, register_engine
from photomend.errors import InputError

MODEL_NAME = "big-lama"
ONNX_MODEL_NAME = "big-lama-onnx"
ATTENTION_SOURCES = ("result", "decoder")


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _readiness() -> str | None:
    installed = zoo.installed_path(MODEL_NAME) is not None
    if installed and _has("torch"):
        return None
    if zoo.installed_path(ONNX_MODEL_NAME) is not None and _has("onnxruntime"):
        return None
    if installed:
        return "needs torch: pip install 'photomend[torch]'"
    return f"needs the Big-LaMa weights: {zoo.get_model(MODEL_NAME).instructions()}"


@register_engine
class LamaEngine(Engine):
    """Big-LaMa FFC-ResNet generator; deterministic (``seed`` is unused).

    ``weights``: a LaMa file to use instead of the installed ``big-lama`` model (any format
    :func:`photomend.lama.read_weights` reads). ``attention``: see the module docstring.
    """

    name = "lama"
    traits = BUILTIN_TRAITS["lama"]  # (its readiness imports this module and calls _readiness)

    def __init__(self, *, seed: int = 0, attention: str | None = None,
                 weights: str | Path | None = None) -> None:
        super().__init__(seed=seed)
        attention = attention or os.environ.get("PHOTOMEND_LAMA_ATTENTION") or "result"
        if attention not in ATTENTION_SOURCES:
            raise InputError(f"unknown LaMa attention source {attention!r}; "
                             f"available: {', '.join(ATTENTION_SOURCES)}")
        self.attention = attention
        self.weights, self.backend = self._resolve(weights)

    @staticmethod
    def _resolve(weights: str | Path | None) -> tuple[Path, str]:
        """(file, 'torch' or 'onnx'); fails here, before any slow work, when nothing usable is
        installed: ModelMissingError (weights, with the command) or OptionalDependencyError."""
        from photomend.lama.loading import require_torch

        if weights is not None:
            path = Path(weights)
            if path.suffix.lower() == ".onnx":
                return path, "onnx"
            require_torch()
            return path, "torch"
        if zoo.installed_path(MODEL_NAME) is not None and _has("torch"):
            return zoo.model_path(MODEL_NAME), "torch"
        if zoo.installed_path(ONNX_MODEL_NAME) is not None:
            return zoo.model_path(ONNX_MODEL_NAME), "onnx"
        path = zoo.model_path(MODEL_NAME)  # ModelMissingError naming `models import`
        require_torch()  # installed, but no torch: the message names the extra
        return path, "torch"

    def _predict(self, image, mask, progress, with_features):
        if progress is not None:
            progress("lama", 0, 1)
        if self.backend == "onnx":
            from photomend.lama.onnx_runner import predict_onnx
            from photomend.nn.onnx import session

            pred, feats = predict_onnx(session(self.weights), image, mask), None
        else:
            from photomend.lama.runner import cached_generator, predict

            pred, feats = predict(cached_generator(self.weights), image, mask,
                                  with_features=with_features)
        if progress is not None:
            progress("lama", 1, 1)
        return pred, feats

    def _inpaint(self, image: np.ndarray, mask: np.ndarray, progress: ProgressFn | None
                 ) -> np.ndarray:
        return self._predict(image, mask, progress, False)[0]

    def inpaint_with_features(self, image, mask, *, progress=None):
        if self.attention == "result" or self.backend == "onnx" or not mask.any():
            return self.inpaint(image, mask, progress=progress), None
        pred, feats = self._predict(np.ascontiguousarray(image, np.float32), mask.astype(bool),
                                    progress, True)
        # The composite of Engine.inpaint: mask·pred + (1−mask)·image.
        out = np.clip(pred, 0.0, 1.0)
        out[~mask] = image[~mask]
        return out, feats
