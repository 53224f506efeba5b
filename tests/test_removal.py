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
