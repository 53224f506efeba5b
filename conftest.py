"""The package's docstring examples run with the tests (``--doctest-modules`` over
``src/photomend``, see pyproject.toml); modules whose optional dependency is not installed
are not collected (they are tested, or skipped, in ``tests/``)."""

from __future__ import annotations

from importlib.util import find_spec

_OPTIONAL = {
    "src/photomend/lama/model.py": "torch",
    "src/photomend/lama/synthetic.py": "torch",
    "src/photomend/faces/gfpgan_arch.py": "torch",
    "src/photomend/restoration/bopbtl_arch.py": "torch",
    "src/photomend/faces/pulse_search.py": "torch",
    "src/photomend/faces/stylegan.py": "torch",
    "src/photomend/video/basicvsr_arch.py": "torch",
    "src/photomend/server": "fastapi",
}

collect_ignore = [path for path, module in _OPTIONAL.items() if find_spec(module) is None]
