"""``photomend models fetch`` over HTTP (photomend.http_download via zoo.download_source),
against a local HTTP server the tests start, serving generated files."""

from __future__ import annotations

import hashlib
import http.server
import re
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from photomend import http_download, zoo
from photomend.cli import main
from photomend.errors import ModelError

DATA = bytes(range(256)) * 1024  # 256 KiB of published weights
SHA = hashlib.sha256(DATA).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    """/w.bin: the file (Range honoured); /drop.bin: the first request is cut half-way;
    /norange.bin: ignores Range; anything else: 404. Requests are logged on the server."""

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802
        server = self.server
        server.log.append((self.path, self.headers.get("Range")))
        path = self.path.rsplit("/", 1)[-1]
        if path not in ("w.bin", "drop.bin", "norange.bin"):
            self.send_error(404, "Not Found")
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and path != "norange.bin":
            start = int(re.match(r"bytes=(\d+)-", rng).group(1))
        body = DATA[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(DATA) - 1}/{len(DATA)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if path == "drop.bin" and not server.dropped:
            server.dropped = True
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)  # the connection drops half-way
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.log, srv.dropped = [], False
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _copy(spec, source: Path, dest: Path) -> None:
    dest.write_bytes(source.read_bytes())


@pytest.fixture
def entry(server, tmp_path, monkeypatch):
    """A zoo entry ``http-test`` published at the local server; returns a function that
    points it at another path or hash."""
    monkeypatch.setenv("PHOTOMEND_MODELS", str(tmp_path / "models"))
    for var in ("PHOTOMEND_OFFLINE", "http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    zoo.list_models()
    base = zoo.ModelSpec("http-test", "test", "", "MIT", "http-test.bin", sha256=SHA,
                         published_filename="w.bin", fetch=zoo.download_source, convert=_copy)

    def point(path: str = "w.bin", **changes) -> zoo.ModelSpec:
        url = f"http://127.0.0.1:{server.server_port}/{path}"
        spec = replace(base, source=url, **changes)
        monkeypatch.setitem(zoo._REGISTRY, "http-test", spec)
        return spec

    point()
    return point


def _cache(tmp_path: Path) -> list[str]:
    root = tmp_path / "models"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_fetch_over_http_checks_the_hash_and_installs(entry, tmp_path, capsys):
    assert main(["models", "fetch", "http-test"]) == 0
    assert (tmp_path / "models" / "http-test.bin").read_bytes() == DATA
    assert zoo.read_record(zoo.installed_path("http-test"))["verified"]


def test_progress_is_reported_in_bytes(entry):
    seen = []
    zoo.fetch_model("http-test", progress=lambda stage, done, total: seen.append((done, total)))
    assert seen[-1] == (len(DATA), len(DATA)) and len(seen) > 1


def test_a_dropped_connection_is_resumed_with_a_range_request(entry, server):
    entry("drop.bin", published_filename="drop.bin")
    zoo.fetch_model("http-test")
    assert zoo.model_path("http-test").read_bytes() == DATA
    assert server.log[0] == ("/drop.bin", None)
    assert server.log[1] == ("/drop.bin", f"bytes={len(DATA) // 2}-")


def test_a_server_ignoring_ranges_is_read_again(entry, server, tmp_path):
    part = tmp_path / "w.bin.part"
    part.write_bytes(b"garbage")
    out = http_download.download(f"http://127.0.0.1:{server.server_port}/norange.bin",
                                 tmp_path / "w.bin", sha256=SHA)
    assert out.read_bytes() == DATA and not part.exists()


def test_proxy_from_the_environment_is_used(entry, server, monkeypatch):
    # the local server acts as the proxy of a host that does not exist
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{server.server_port}")
    spec = replace(zoo.get_model("http-test"), source="http://weights.invalid/w.bin")
    monkeypatch.setitem(zoo._REGISTRY, "http-test", spec)
    zoo.fetch_model("http-test")
    assert server.log[-1][0] == "http://weights.invalid/w.bin"


@pytest.mark.parametrize("case, message", [
    ("404", r"cannot download http-test \(w.bin\) from http://127.0.0.1:\d+/gone.bin: HTTP 404 "
            r"Not Found; or download it yourself and run `photomend models import FILE --name "
            r"http-test`"),
    ("wrong hash", r"downloaded http-test \(w.bin\) has SHA-256 .* instead of the published "
                   r"000000000000...: refused, nothing installed"),
    ("wrong md5", r"has MD5 .* instead of the published 111111111111...: refused"),
    ("offline", r"network access is disabled \(PHOTOMEND_OFFLINE=1\)"),
    ("refused", r"from http://127.0.0.1:1/w.bin: Connection refused"),
    ("disk full", r"cannot write http-test \(w.bin\) to .*: No space left on device"),
])
def test_failures_are_one_line_exit_2_and_leave_the_cache_as_it_was(
        entry, tmp_path, monkeypatch, capsys, case, message):
    assert main(["models", "fetch", "http-test", "-q"]) == 0  # an installed, good version
    before = {p: (tmp_path / "models" / p).read_bytes() for p in _cache(tmp_path)}
    if case == "404":
        entry("gone.bin")
    elif case == "wrong hash":
        entry(sha256="0" * 64)
    elif case == "wrong md5":
        entry(sha256=None, extra={"md5": {"w.bin": "1" * 32}})
    elif case == "offline":
        monkeypatch.setenv("PHOTOMEND_OFFLINE", "1")
    elif case == "refused":
        monkeypatch.setitem(zoo._REGISTRY, "http-test",
                            replace(zoo.get_model("http-test"), source="http://127.0.0.1:1/w.bin"))
    else:
        monkeypatch.setattr(http_download, "_open_part", lambda path, mode: open("/dev/full", "ab"))
    assert main(["models", "fetch", "http-test"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(message, err), err
    after = {p: (tmp_path / "models" / p).read_bytes() for p in _cache(tmp_path)}
    assert after == before


def test_a_corrupt_installed_file_is_detected_and_refetched_on_request(entry, tmp_path):
    zoo.fetch_model("http-test")
    (tmp_path / "models" / "http-test.bin").write_bytes(b"corrupt")
    with pytest.raises(ModelError, match="is corrupt"):
        zoo.model_path("http-test")
    assert main(["models", "fetch", "http-test", "-q"]) == 0
    assert zoo.model_path("http-test").read_bytes() == DATA
