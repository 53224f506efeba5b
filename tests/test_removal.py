"""photomend.removal: the library entry point of object removal."""


def test_prewarm_loads_compiled_engines_once(monkeypatch):
    from photomend import removal

    monkeypatch.setattr(removal, "_WARMED", set())
    assert removal.prewarm("telea") is None  # OpenCV: nothing to load
    assert removal.prewarm("no-such-engine") is None  # the real call reports the name
    warm = removal.prewarm("patchmatch")
    assert warm is not None
    warm.join(timeout=120)
    assert not warm.is_alive()
    assert removal.prewarm("patchmatch") is None  # once per process


def test_telea_never_loads_numba():
    """Choosing a diffusion engine imports neither numba nor the PatchMatch engine."""
    import subprocess
    import sys

    code = ("import sys, numpy as np; from photomend import remove_array, removal\n"
            "w = removal.prewarm('telea'); w is None or w.join()\n"
            "img = np.zeros((64, 64, 3), np.float32); hole = np.zeros((64, 64), bool)\n"
            "hole[10:20, 10:20] = True\n"
            "remove_array(img, hole, engine='telea', hd_strategy='cra', working_size=32)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numba', 'onnxruntime', "
            "'torch') or m == 'photomend.engines.patchmatch'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
