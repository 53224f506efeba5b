"""The logistic models of the detector's rule steps (regions, tide lines): one prediction for
the models ``training/train_defect_regions.py: fit`` writes."""

from __future__ import annotations

import numpy as np


def probability(X: np.ndarray, model: dict) -> np.ndarray:
    """Probability of each row of ``X`` (N x F) under ``model``: ``mean`` and ``scale``
    standardise the features, ``coef`` and ``intercept`` weigh them (arrays or lists).

    >>> model = {"mean": [1.0], "scale": [2.0], "coef": [3.0], "intercept": 0.0}
    >>> probability(np.array([[1.0], [3.0]]), model).round(3).tolist()
    [0.5, 0.953]
    """
    X = np.asarray(X, np.float64)
    mean, scale, coef = (np.asarray(model[k], np.float64) for k in ("mean", "scale", "coef"))
    z = ((X - mean) / scale) @ coef
    return 1.0 / (1.0 + np.exp(-np.clip(z + float(model["intercept"]), -30, 30)))
