"""restore loads PatchMatch's kernels in the background once the defects are found (not from
the start, beside the detector's network), and not at all when there is nothing to fill."""

from __future__ import annotations

import numpy as np

import photomend.restoration.pipeline as pipeline


def _calls(monkeypatch) -> list[str]:
    calls: list[str] = []

    def record(engine: str = "patchmatch"):
        calls.append(engine)
        return None

    monkeypatch.setattr(pipeline, "prewarm", record)
    return calls


def test_kernels_warm_up_after_detection_when_there_are_defects(monkeypatch):
    calls = _calls(monkeypatch)
    found: list[bool] = []
    detect = pipeline.detect_defects

    def detect_then_check(*args, **kwargs):
        found.append(bool(calls))  # nothing warmed up before the detection
        return detect(*args, **kwargs)

    monkeypatch.setattr(pipeline, "detect_defects", detect_then_check)
    img = np.full((96, 96, 3), 0.4, np.float32)
    img[10:86, 47] = 0.95  # a bright scratch
    out, mask = pipeline.restore_array(img, detector="classical")
    assert mask[48, 47] and abs(float(out[48, 47, 0]) - 0.4) < 0.05
    assert found == [False] and calls == ["patchmatch"]


def test_no_warm_up_for_a_clean_scan(monkeypatch):
    calls = _calls(monkeypatch)
    img = np.full((96, 96, 3), 0.4, np.float32)
    out, mask = pipeline.restore_array(img, detector="classical")
    assert not mask.any() and np.array_equal(out, img)
    assert calls == []
