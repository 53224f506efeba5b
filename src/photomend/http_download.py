"""Download one published file over HTTP(S): resume, progress, checksum, proxies, offline mode.

:func:`download` writes ``dest`` + ``.part`` and renames it to ``dest`` only once it is whole
and its SHA-256 (or, where that is all a publisher gives, MD5) matches. A connection dropped
half-way is resumed with an HTTP ``Range`` request (a server that ignores ranges is read again
from the start); 5xx answers and timeouts are retried, other HTTP errors are not. Proxies come
from the environment (``http_proxy``, ``https_proxy``, ``no_proxy``: urllib's defaults);
``PHOTOMEND_OFFLINE=1`` refuses any network access. Every failure is a
:class:`~photomend.errors.ModelError` of one line, and leaves no ``dest``.

>>> import tempfile, pathlib
>>> src = pathlib.Path(tempfile.mkdtemp()) / "w.bin"; _ = src.write_bytes(b"weights")
>>> out = download(src.as_uri(), pathlib.Path(tempfile.mkdtemp()) / "w.bin")
>>> out.read_bytes()
b'weights'
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from photomend.errors import ModelError

#: ``progress(stage, done, total)`` (bytes).
ProgressFn = Callable[[str, int, int], None]
CHUNK = 1 << 16


def offline() -> bool:
    """True when ``PHOTOMEND_OFFLINE`` is set to anything but empty or 0."""
    return os.environ.get("PHOTOMEND_OFFLINE", "").strip() not in ("", "0")


def _open_part(path: Path, mode: str):
    """Open the partial file (tests replace this to simulate a full disk)."""
    return open(path, mode)


def download(url: str, dest: Path, *, sha256: str | None = None, md5: str | None = None,
             progress: ProgressFn | None = None, attempts: int = 5, timeout: float = 60.0,
             label: str | None = None) -> Path:
    """Download ``url`` to ``dest`` (see the module docstring); returns ``dest``."""
    dest = Path(dest)
    label = label or dest.name
    if offline():
        raise ModelError(f"cannot download {label}: network access is disabled "
                         "(PHOTOMEND_OFFLINE=1)")
    part = dest.with_name(dest.name + ".part")
    try:
        _fetch(url, part, label, progress, attempts, timeout)
        _check(part, label, sha256, md5)
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return dest


def _fetch(url: str, part: Path, label: str, progress, attempts: int, timeout: float) -> None:
    dropped = 0
    # built per download: urllib's shared opener keeps the proxies of its first use
    opener = urllib.request.build_opener(urllib.request.ProxyHandler())
    for attempt in range(attempts):
        have = part.stat().st_size if part.exists() else 0
        headers = {"User-Agent": "photomend"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            with opener.open(urllib.request.Request(url, headers=headers),
                             timeout=timeout) as response:
                status = getattr(response, "status", None) or 200
                if have and status != 206:  # the server ignored the range: start again
                    have = 0
                length = response.headers.get("Content-Length")
                total = have + int(length) if length and length.isdigit() else 0
                _stream(response, part, have, total, label, progress)
                if total and part.stat().st_size < total:
                    raise http.client.IncompleteRead(b"", total - part.stat().st_size)
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # nothing left to send: the file is whole
                return
            if exc.code < 500 or attempt == attempts - 1:
                raise ModelError(f"cannot download {label} from {url}: HTTP {exc.code} "
                                 f"{exc.reason}") from None
        except (http.client.IncompleteRead, ConnectionError, socket.timeout, TimeoutError,
                http.client.HTTPException) as exc:
            dropped += 1
            if attempt == attempts - 1:
                raise ModelError(f"cannot download {label} from {url}: the connection dropped "
                                 f"{dropped} times ({type(exc).__name__})") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (socket.timeout, TimeoutError, ConnectionResetError)) \
                    and attempt < attempts - 1:
                continue
            if isinstance(reason, OSError) and reason.strerror:
                reason = reason.strerror
            raise ModelError(f"cannot download {label} from {url}: {reason}") from None
        time.sleep(min(2.0, 0.2 * (attempt + 1)))


def _stream(response, part: Path, have: int, total: int, label: str, progress) -> None:
    try:
        with _open_part(part, "ab" if have else "wb") as out:
            done = have
            while True:
                block = response.read(CHUNK)
                if not block:
                    break
                out.write(block)
                done += len(block)
                if progress is not None:
                    progress(f"download {label}", done, total or done)
    except OSError as exc:
        if isinstance(exc, (ConnectionError, socket.timeout, TimeoutError)):
            raise
        raise ModelError(f"cannot write {label} to {part.parent}: "
                         f"{exc.strerror or exc}") from None


def _check(path: Path, label: str, sha256: str | None, md5: str | None) -> None:
    for name, expected in (("SHA-256", sha256), ("MD5", md5)):
        if not expected:
            continue
        digest = hashlib.sha256() if name == "SHA-256" else hashlib.md5()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        got = digest.hexdigest()
        if got != expected.lower():
            raise ModelError(f"downloaded {label} has {name} {got[:12]}... instead of the "
                             f"published {expected[:12]}...: refused, nothing installed")
        return  # one checksum is enough; SHA-256 first
