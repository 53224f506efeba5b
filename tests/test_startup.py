"""Start-up cost: ``import photomend`` and ``photomend --help`` load no image library, and a
command imports only what it uses (numba only for the engines that need it)."""

import argparse
import subprocess
import sys

import pytest

from photomend.cli import build_parser
from photomend.cli.common import COMMANDS

HEAVY = ("numpy", "cv2", "PIL", "numba", "onnxruntime", "torch", "scipy", "tqdm")


def _imported_after(code: str) -> set[str]:
    """The top-level packages among HEAVY that a fresh interpreter has imported after ``code``."""
    probe = (f"{code}\nimport sys\n"
             f"print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    return set(out.stdout.split())


def test_import_photomend_loads_no_image_library():
    assert _imported_after("import photomend") == set()


def test_help_loads_no_image_library():
    code = ("import contextlib, io\nfrom photomend.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()): main(['--help'])")
    assert _imported_after(code) == set()


def test_public_names_resolve_on_first_use():
    import photomend

    for name in photomend.__all__:
        assert getattr(photomend, name) is not None, name
    assert set(photomend.__all__) <= set(dir(photomend))
    with pytest.raises(AttributeError, match="no_such_name"):
        photomend.no_such_name  # noqa: B018


def test_telea_removal_loads_no_numba(tmp_path):
    code = ("import numpy as np\nfrom PIL import Image\nfrom photomend.cli import main\n"
            f"d = {str(tmp_path)!r}\n"
            "Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(d + '/a.png')\n"
            "m = np.zeros((64, 64), np.uint8); m[20:30, 20:30] = 255\n"
            "Image.fromarray(m).save(d + '/m.png')\n"
            "assert main(['remove', d + '/a.png', '-m', d + '/m.png', '-o', d + '/o.png', "
            "'--engine', 'telea', '-q']) == 0")
    assert not _imported_after(code) & {"numba", "onnxruntime", "torch"}
    assert (tmp_path / "o.png").is_file()


def test_listed_help_is_each_commands_own():
    """The one-line help ``photomend --help`` shows without importing a command is the help
    that command's full parser registers."""
    full = build_parser()  # every command built in full
    sub = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction))
    registered = {a.dest: a.help for a in sub._choices_actions}
    assert registered == {name: help_ for name, (_, help_) in COMMANDS.items()}


def test_traceback_is_in_help(capsys):
    from photomend.cli import main

    assert main(["--help"]) == 0
    assert "--traceback" in capsys.readouterr().out
    assert main(["remove", "--help"]) == 0
    assert "--traceback" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["bogus"], ["--traceback", "bogus"]])
def test_unknown_command_is_a_usage_error(argv, capsys):
    from photomend.cli import main

    assert main(argv) == 2
    assert "invalid choice: 'bogus'" in capsys.readouterr().err


def test_engines_command_loads_no_numba():
    """``photomend engines`` lists the built-in engines from their declared traits."""
    code = ("import contextlib, io\nfrom photomend.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()): assert main(['engines']) == 0")
    assert not _imported_after(code) & {"numba", "torch"}


def test_declared_traits_are_the_engines_own():
    """BUILTIN_TRAITS (read without importing an engine) says what each engine class says."""
    from photomend.engines.base import _REGISTRY, BUILTIN_TRAITS, _engine_class

    for name, declared in BUILTIN_TRAITS.items():
        cls = _engine_class(name)
        assert _REGISTRY[name] is cls
        own = cls.traits
        assert (own.description, own.max_pixels, own.synthesises_texture,
                own.compiled_kernels) == (declared.description, declared.max_pixels,
                                          declared.synthesises_texture,
                                          declared.compiled_kernels), name
        assert (own.readiness is None) == (declared.readiness is None), name


def test_numba_starts_without_scipy_linalg():
    """photomend.jit: numba's BLAS probe does not import scipy.linalg, a PatchMatch fill works
    and a kernel that uses BLAS still does."""
    code = ("import sys, numpy as np\nfrom photomend.jit import import_numba\nimport_numba()\n"
            "from photomend import remove_array\n"
            "img = np.random.default_rng(0).random((48, 64, 3), dtype=np.float32)\n"
            "hole = np.zeros((48, 64), bool); hole[20:28, 20:30] = True\n"
            "remove_array(img, hole, engine='patchmatch')\n"
            "import numba.np.arraymath as am\nassert am._HAVE_BLAS\n"
            "assert 'scipy.linalg' not in sys.modules and "
            "'scipy.linalg.cython_blas' not in sys.modules\n"
            "import numba\nf = numba.njit(lambda a, b: np.dot(a, b))\n"
            "assert f(np.ones((2, 2)), np.ones((2, 2)))[0, 0] == 2.0\n"
            "import scipy.linalg.cython_blas\nprint('ok')")
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"


def test_a_kernel_not_in_numbas_cache_is_not_compiled_by_the_warm_up(monkeypatch):
    """prewarm's ``load_kernels`` loads the banded scan of big photos only when numba's cache
    holds it: compiling it (~5 s) would make a first run on a small photo wait for a kernel it
    never uses. Where it is cached, loading it runs it once on a tiny level."""
    import numpy as np

    from photomend import jit
    from photomend.engines import create_engine
    from photomend.ops import patchmatch_kernels as k

    assert jit.is_cached(np.add) is True  # (not a numba kernel: cannot tell, as if cached)
    calls = []
    monkeypatch.setattr(k, "patchmatch", lambda *a, **kw: calls.append(kw))
    monkeypatch.setattr(jit, "is_cached", lambda kernel: False)
    create_engine("patchmatch").load_kernels()
    assert calls == []
    monkeypatch.setattr(jit, "is_cached", lambda kernel: kernel is k._banded_scan)
    create_engine("patchmatch").load_kernels()
    assert calls == [{"banded": True}]


def test_is_cached_reads_numbas_index():
    import numpy as np

    from photomend.jit import import_numba, is_cached

    import_numba()
    from photomend.ops import patchmatch_kernels as k

    img = np.zeros((12, 12, 3), np.float32)
    targets = np.array([[5, 5]], np.int32)
    nnf = np.array([[2, 2]], np.int32)
    cost = np.zeros(1, np.float32)
    k.compute_costs(img, targets, nnf, cost, 1, np.float32(0.0))  # (compiled and saved if new)
    assert is_cached(k._compute_costs) is True
