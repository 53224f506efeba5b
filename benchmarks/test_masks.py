"""Tests of the benchmark mask generators: ``pytest benchmarks/test_masks.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from masks import COVERAGE, MARGIN, MASK_KINDS, make_mask  # noqa: E402

SHAPES = [(512, 512), (288, 512), (512, 341), (64, 48)]


@pytest.mark.parametrize("kind", MASK_KINDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_coverage_and_margin(kind, shape):
    low, high = COVERAGE[kind]
    m = int(MARGIN * min(shape))
    for seed in range(10):
        mask = make_mask(kind, shape, seed)
        assert mask.dtype == np.bool_ and mask.shape == shape
        assert low <= mask.mean() <= high
        assert not (mask[:m].any() or mask[-m:].any() or mask[:, :m].any() or mask[:, -m:].any())


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_reproducible_and_seed_dependent(kind):
    a = make_mask(kind, (300, 400), 7)
    np.testing.assert_array_equal(a, make_mask(kind, (300, 400), 7))
    assert (a != make_mask(kind, (300, 400), 8)).any()


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_scale_independent_layout(kind):
    small = make_mask(kind, (270, 480), 3)
    large = make_mask(kind, (1080, 1920), 3)
    shrunk = large.reshape(270, 4, 480, 4).mean(axis=(1, 3)) >= 0.5
    assert np.mean(small != shrunk) < 0.02  # same layout, up to rasterisation


def test_coverage_override_and_bad_arguments():
    mask = make_mask("strokes", (2160, 3840), 0, coverage=(0.05, 0.20))
    assert 0.05 <= mask.mean() <= 0.20
    with pytest.raises(ValueError, match="unknown mask kind"):
        make_mask("circles", (64, 64), 0)
    with pytest.raises(ValueError, match="coverage"):
        make_mask("boxes", (64, 64), 0, coverage=(0.3, 0.1))
    with pytest.raises(ValueError, match="at least 32x32"):
        make_mask("boxes", (16, 64), 0)
