"""The model zoo core (photomend.zoo) and ``photomend models``: entries made up by the tests."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from photomend import zoo
from photomend.cli import main
from photomend.errors import ModelError, ModelMissingError, UnknownModelError

PUBLISHED = b"published weights v1\n" * 50
SHA = hashlib.sha256(PUBLISHED).hexdigest()


def _convert(spec, source: Path, dest: Path) -> None:
    data = Path(source).read_bytes()
    if not data.startswith(b"published"):
        raise ModelError(f"{Path(source).name} is not a {spec.name} file")
    dest.write_bytes(b"CONVERTED:" + data)


def _convert_then_fail(spec, source: Path, dest: Path) -> None:
    dest.write_bytes(b"half a file")
    raise RuntimeError("disk full")


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty model cache, and a registry holding the real entries plus three test ones."""
    folder = tmp_path / "models"
    monkeypatch.setenv("PHOTOMEND_MODELS", str(folder))
    zoo.list_models()  # load the real catalog first, so the test entries are added to it
    registry = dict(zoo._REGISTRY)
    monkeypatch.setattr(zoo, "_REGISTRY", registry)

    def fetch(spec, workdir: Path) -> Path:
        out = workdir / "download.bin"
        out.write_bytes(PUBLISHED)
        return out

    for spec in (
        zoo.ModelSpec(name="test-fetchable", task="testing", source="npm:test@1", license="MIT",
                      filename="test-fetchable.bin", sha256=SHA, size=len(PUBLISHED),
                      fetch=fetch, convert=_convert, scale=2),
        zoo.ModelSpec(name="test-importable", task="testing", source="a web page",
                      license="BSD-3-Clause", filename="test-importable.bin",
                      convert=_convert, published_filename="weights_v1.pth"),
        zoo.ModelSpec(name="test-broken", task="testing", source="nowhere", license="MIT",
                      filename="test-broken.bin", convert=_convert_then_fail),
    ):
        zoo.register_model(spec)
    return folder


def _published_file(tmp_path: Path, name: str = "weights_v1.pth", data: bytes = PUBLISHED):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_cache_dir_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTOMEND_MODELS", str(tmp_path / "x"))
    assert zoo.cache_dir() == tmp_path / "x"
    monkeypatch.delenv("PHOTOMEND_MODELS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert zoo.cache_dir() == tmp_path / "xdg" / "photomend" / "models"


def test_list_and_get(cache):
    names = [s.name for s in zoo.list_models(task="testing")]
    assert names == ["test-broken", "test-fetchable", "test-importable"]
    assert zoo.get_model("test-fetchable").scale == 2
    upscale = zoo.list_models(task="upscale")
    assert upscale and all(s.task == "upscale" for s in upscale)
    assert "esrgan-medium-x4" in [s.name for s in upscale]


def test_unknown_model_lists_known_names(cache):
    with pytest.raises(UnknownModelError, match="unknown model 'nope'.*test-fetchable"):
        zoo.get_model("nope")


def test_missing_model_says_the_exact_command(cache):
    with pytest.raises(ModelMissingError, match=r"`photomend models fetch test-fetchable`"):
        zoo.model_path("test-fetchable")
    with pytest.raises(ModelMissingError,
                       match=r"`photomend models import FILE --name test-importable`"):
        zoo.model_path("test-importable")
    assert zoo.installed_path("test-fetchable") is None


def test_fetch_installs_with_record(cache):
    path = zoo.fetch_model("test-fetchable")
    assert path == cache / "test-fetchable.bin"
    assert path.read_bytes() == b"CONVERTED:" + PUBLISHED
    record = zoo.read_record(path)
    assert record["source_sha256"] == SHA and record["verified"] is True
    assert record["sha256"] == zoo.sha256_of(path)
    assert zoo.model_path("test-fetchable") == path
    assert sorted(p.name for p in cache.iterdir()) == ["test-fetchable.bin",
                                                       "test-fetchable.bin.json"]


def test_sha_mismatch_is_refused_and_nothing_is_left(cache, tmp_path):
    bad = _published_file(tmp_path, "corrupt.bin", PUBLISHED[:-3] + b"xyz")
    with pytest.raises(ModelError, match="not the published test-fetchable file"):
        zoo.install_file("test-fetchable", bad)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_trust_accepts_own_weights(cache, tmp_path):
    own = _published_file(tmp_path, "mine.bin", b"published but fine-tuned")
    path = zoo.install_file("test-fetchable", own, trust=True)
    assert zoo.read_record(path)["verified"] is False


def test_failed_conversion_leaves_nothing(cache, tmp_path):
    with pytest.raises(RuntimeError, match="disk full"):
        zoo.install_file("test-broken", _published_file(tmp_path))
    assert list(cache.iterdir()) == []  # no partial file, no record


def test_corrupt_installed_file_is_refused(cache):
    path = zoo.fetch_model("test-fetchable")
    path.write_bytes(b"bit rot")
    with pytest.raises(ModelError, match="corrupt.*photomend models fetch test-fetchable"):
        zoo.model_path("test-fetchable")


def test_an_installed_file_is_hashed_once_until_it_changes(cache, monkeypatch):
    path = zoo.fetch_model("test-fetchable")
    calls = []
    real = zoo.sha256_of
    monkeypatch.setattr(zoo, "sha256_of", lambda p: calls.append(p) or real(p))
    assert zoo.model_path("test-fetchable") == path
    assert zoo.model_path("test-fetchable") == path
    assert len(calls) <= 1  # (0 when fetch_model already verified this version)
    path.write_bytes(b"bit rot")  # a new version of the file: hashed again, refused
    with pytest.raises(ModelError, match="corrupt"):
        zoo.model_path("test-fetchable")


def test_reinstall_replaces_atomically(cache, tmp_path):
    first = zoo.install_file("test-importable", _published_file(tmp_path))
    again = zoo.install_file("test-importable", _published_file(tmp_path, data=PUBLISHED * 2))
    assert first == again and again.read_bytes() == b"CONVERTED:" + PUBLISHED * 2
    assert zoo.model_path("test-importable") == again
    assert not [p for p in cache.iterdir() if p.name.endswith(".part")]


def test_guess_model_by_sha_then_filename(cache, tmp_path):
    assert zoo.guess_model(_published_file(tmp_path, "renamed.bin")).name == "test-fetchable"
    other = _published_file(tmp_path, "weights_v1.pth", b"published other bytes")
    assert zoo.guess_model(other).name == "test-importable"
    with pytest.raises(ModelError, match="cannot tell which model mystery.pth is; pass --name"):
        zoo.guess_model(_published_file(tmp_path, "mystery.pth", b"?"))


def test_guess_model_refuses_ambiguous_sha(cache, tmp_path):
    # one npm tarball serves several entries (one per scale): the user must pick one
    for scale in (3, 4):
        zoo.register_model(zoo.ModelSpec(
            name=f"test-multi-x{scale}", task="testing", source="npm:multi@1", license="MIT",
            filename=f"m{scale}.bin", sha256=hashlib.sha256(b"multi").hexdigest(),
            convert=_convert))
    with pytest.raises(ModelError, match="pass --name.*test-multi-x3, test-multi-x4"):
        zoo.guess_model(_published_file(tmp_path, "multi.tgz", b"multi"))


def test_remove_model(cache):
    zoo.fetch_model("test-fetchable")
    assert zoo.remove_model("test-fetchable") is True
    assert zoo.installed_path("test-fetchable") is None
    assert zoo.remove_model("test-fetchable") is False


def test_fetch_without_fetcher_and_import_without_converter(cache, tmp_path):
    with pytest.raises(ModelError, match="cannot be fetched automatically.*models import"):
        zoo.fetch_model("test-importable")
    with pytest.raises(ModelError, match="no such file"):
        zoo.install_file("test-importable", tmp_path / "absent.pth")


# --- the command line ---------------------------------------------------------------------
def test_cli_list_fetch_path_remove(cache, capsys):
    assert main(["models", "list", "--task", "testing"]) == 0
    out = capsys.readouterr().out
    assert "test-fetchable" in out and "x2" in out and "npm:test@1" in out
    assert f"cache: {cache}" in out
    assert main(["models", "fetch", "test-fetchable", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["models", "list", "--task", "testing"]) == 0
    row = next(ln for ln in capsys.readouterr().out.splitlines() if "test-fetchable" in ln)
    assert " yes " in row
    assert main(["models", "path", "test-fetchable"]) == 0
    assert capsys.readouterr().out.strip() == str(cache / "test-fetchable.bin")
    assert main(["models", "remove", "test-fetchable"]) == 0


def test_cli_import_guesses_and_reports(cache, tmp_path, capsys):
    src = _published_file(tmp_path)
    assert main(["models", "import", str(src)]) == 0
    captured = capsys.readouterr()
    assert "installed test-fetchable" in captured.out + captured.err
    other = _published_file(tmp_path, "x.pth", b"published, mine")
    assert main(["models", "import", str(other), "--name", "test-importable"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["models", "path", "test-fetchable"], "photomend models fetch test-fetchable"),
    (["models", "path", "nope"], "unknown model 'nope'"),
    (["models", "fetch", "test-importable"], "cannot be fetched automatically"),
])
def test_cli_errors_are_one_line_exit_2(cache, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_cli_import_refuses_corrupt_file(cache, tmp_path, capsys):
    bad = _published_file(tmp_path, "bad.bin", b"published? no" + PUBLISHED)
    assert main(["models", "import", str(bad), "--name", "test-fetchable"]) == 2
    assert "not the published test-fetchable file" in capsys.readouterr().err
    assert not cache.exists() or list(cache.iterdir()) == []


def test_record_is_json_next_to_the_file(cache):
    path = zoo.fetch_model("test-fetchable")
    record = json.loads(Path(f"{path}.json").read_text())
    assert record["name"] == "test-fetchable" and record["source"] == "npm:test@1"


def test_family_name_fetches_every_scale(cache, capsys):
    for scale in (4, 2):
        zoo.register_model(dataclasses.replace(zoo.get_model("test-fetchable"),
                                               name=f"test-fam-x{scale}", scale=scale,
                                               filename=f"fam{scale}.bin"))
    assert zoo.model_group("test-fam") == ["test-fam-x2", "test-fam-x4"]
    assert zoo.model_group("test-fam-x4") == ["test-fam-x4"]
    with pytest.raises(UnknownModelError):
        zoo.model_group("test-fa")
    assert main(["models", "fetch", "test-fam"]) == 0
    out = capsys.readouterr().out
    assert "installed test-fam-x2" in out and "installed test-fam-x4" in out
    assert zoo.installed_path("test-fam-x2") and zoo.installed_path("test-fam-x4")
