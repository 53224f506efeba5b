"""Shared test fixtures: small, deterministic pictures so every test stays fast."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def photo() -> np.ndarray:
    """A 48x64 uint8 RGB picture: smooth gradients plus mild noise (fixed seed)."""
    h, w = 48, 64
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([xx / w, yy / h, 0.5 + 0.25 * np.sin(xx / 5.0)], axis=2)
    rgb += np.random.default_rng(0).normal(0, 0.02, rgb.shape)
    return np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)


@pytest.fixture
def hole() -> np.ndarray:
    """A bool mask for :func:`photo`: a 10x12 rectangle, True = fill."""
    mask = np.zeros((48, 64), bool)
    mask[18:28, 26:38] = True
    return mask


@pytest.fixture
def one_torch_thread(monkeypatch):
    """Tiny networks gain nothing from 2 threads, and on a busy machine spinning OpenMP threads
    waste the cores other tests need. Modules that use torch opt in with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch  # only the modules that ask for this fixture need torch

    monkeypatch.setenv("PHOTOMEND_THREADS", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
