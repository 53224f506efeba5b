"""The stacked defect classifier's features and network (issue 21)."""

import numpy as np

from photomend.restoration import detect_stacked as S


def _scan() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = np.clip(0.45 + rng.normal(0, 0.02, (96, 128, 3)), 0, 1).astype(np.float32)
    img[20:80, 60] = 0.95  # a bright one-pixel scratch
    img[40:47, 20:27] = 0.05  # a dark 7-px speck
    return img


def test_features_point_at_thin_bright_and_dark_structures():
    img = _scan()
    z = np.zeros(img.shape[:2], np.float32)
    X = S.features(img, z, z, z, z)
    assert X.shape == (len(S.FEATURE_NAMES), 96, 128) and np.isfinite(X).all()
    f = dict(zip(S.FEATURE_NAMES, X))
    assert f["white 3"][50, 60] > f["white 3"][50, 100] + 3  # logs: the line stands out
    assert f["bright ridge 1"][50, 60] > f["bright ridge 1"][50, 100] + 3
    assert f["black 9"][43, 23] > f["black 9"][43, 100] + 2  # the speck, under 9 px
    assert f["black 3"][43, 23] < f["black 9"][43, 23]  # wider than 3 px: the 3-px hat misses it
    assert f["dark ridge 2"][50, 60] < f["bright ridge 2"][50, 60]


def test_probability_is_the_standardised_relu_network():
    rng = np.random.default_rng(1)
    model = {"mean": rng.normal(size=3), "scale": rng.uniform(0.5, 2, 3),
             "w0": rng.normal(size=(3, 4)), "b0": rng.normal(size=4),
             "w1": rng.normal(size=(4, 1)), "b1": rng.normal(size=1),
             "threshold": np.float32(0.5), "features": np.array(["a", "b", "c"])}
    X = rng.normal(size=(3, 7)).astype(np.float32)
    z = (X.T - model["mean"]) / model["scale"]
    z = np.maximum(z @ model["w0"] + model["b0"], 0) @ model["w1"] + model["b1"]
    expected = 1 / (1 + np.exp(-z[:, 0]))
    np.testing.assert_allclose(S.probability(X, model), expected, rtol=1e-4, atol=1e-6)
