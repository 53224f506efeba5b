"""Generated LaMa weights: the official key names and shapes with random values.

They stand in for the published checkpoint where it cannot be downloaded (tests, the parity
check, timings — a network's speed does not depend on its weight values). BatchNorm statistics
are randomised too, so a check that forgot them would fail.

>>> from photomend.lama.config import LamaConfig, expected_shapes
>>> state = random_state(LamaConfig(ngf=8, n_blocks=1), seed=0)
>>> {k: tuple(v.shape) for k, v in state.items()} == expected_shapes(LamaConfig(ngf=8, n_blocks=1))
True
"""

from __future__ import annotations

import warnings

from photomend.lama.config import LamaConfig
from photomend.lama.loading import require_torch


def random_state(cfg: LamaConfig, *, seed: int = 0) -> dict:
    """A generator state dict (keys ``model.<i>.…``) with seeded random values: conv weights
    from torch's default initialisation, BN scale in [0.5, 1.5], shift and mean N(0, 0.1),
    variance in [0.5, 2]."""
    torch = require_torch()
    from photomend.lama.model import LamaGenerator

    torch.manual_seed(seed)
    state = LamaGenerator(cfg).state_dict()
    randomise_norms(state, seed=seed + 1)
    return state


def randomise_norms(state: dict, *, seed: int) -> None:
    """Give the BatchNorm scales, shifts and statistics and the biases of ``state`` (torch
    tensors, changed in place) seeded random values, which default initialisation leaves at
    1 and 0: a parity check must be able to see them."""
    torch = require_torch()
    g = torch.Generator().manual_seed(seed)
    for key, value in state.items():
        if key.endswith("running_var"):
            value.copy_(torch.rand(value.shape, generator=g) * 1.5 + 0.5)
        elif key.endswith(("running_mean", ".bias")):
            value.copy_(torch.randn(value.shape, generator=g) * 0.1)
        elif key.endswith(".weight") and value.ndim == 1:
            value.copy_(torch.rand(value.shape, generator=g) + 0.5)


def lightning_checkpoint(state: dict, *, extra: dict | None = None) -> dict:
    """``state`` wrapped like the published Lightning checkpoint: ``state_dict`` with keys
    ``generator.model.<i>.…`` next to (here: a few) discriminator weights and bookkeeping."""
    torch = require_torch()
    sd = {f"generator.{k}": v for k, v in state.items()}
    sd["discriminator.model0.0.weight"] = torch.zeros(64, 3, 4, 4)
    ckpt = {"epoch": 40, "global_step": 1000, "pytorch-lightning_version": "1.2.9",
            "state_dict": sd}
    ckpt.update(extra or {})
    return ckpt


def torchscript_module(state: dict, cfg: LamaConfig):
    """A traced module shaped like IOPaint's ``big-lama.pt``: ``forward(image, mask)`` returns
    the composited result, weights under ``model.generator.model.<i>.…``."""
    torch = require_torch()
    from photomend.lama.model import LamaGenerator

    gen = LamaGenerator(cfg)
    gen.load_state_dict(state)

    class _Trainer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.generator = gen

        def forward(self, image, mask):
            pred = self.generator(torch.cat([image * (1 - mask), mask], dim=1))
            return mask * pred + (1 - mask) * image

    class _JITWrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = _Trainer()

        def forward(self, image, mask):
            return self.model(image, mask)

    size = 8 * cfg.pad_multiple
    example = (torch.rand(1, 3, size, size), (torch.rand(1, 1, size, size) > 0.5).float())
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.trace(_JITWrapper().eval(), example, check_trace=False)
