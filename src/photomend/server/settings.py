"""Server configuration: one frozen dataclass, filled by ``photomend serve`` or by a test."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

#: Environment variable holding the API token (``--token`` wins over it).
TOKEN_ENV = "PHOTOMEND_TOKEN"
#: Formats a client may upload, as named by :func:`photomend.server.ops.sniff_format`.
ALL_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF")
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost.

    >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0"), is_loopback("localhost")
    (True, False, True)
    """
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_workers() -> int:
    """One worker per core, at most 4 (each job runs on about one core)."""
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class Settings:
    """Everything :func:`photomend.server.create_app` needs to know.

    host, port : where ``photomend serve`` binds; the app also uses ``host`` to decide whether
        a token is mandatory (any non-loopback address) and which Host headers it accepts.
    workers : how many jobs run at the same time (one worker process each).
    queue_size : how many accepted jobs may wait for a worker; beyond it, 503 + Retry-After.
    token : API token; when set, every /v1 request needs ``Authorization: Bearer TOKEN``.
    cors_origins : origins allowed to call the API from a browser (none by default).
    max_upload_bytes : largest request body (413 beyond it).
    max_pixels : largest image, checked from the header before decoding (413 beyond it).
    allowed_formats : upload formats accepted (415 for others).
    results_dir : if set, every result is also written there as ``<job id>.<ext>``;
        otherwise nothing is ever written to disk.
    result_ttl_s : how long a finished job and its result are kept in memory.
    max_kept_bytes : finished results kept in memory at most; the oldest go first.
    job_timeout_s : a running job taking longer is stopped (its worker process restarted).
    executor : 'process' (default: worker processes, crash-isolated, no GIL contention) or
        'thread' (worker threads in the server process; quicker to start, for tests).
    """

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = field(default_factory=default_workers)
    queue_size: int = 64
    token: str | None = None
    cors_origins: tuple[str, ...] = ()
    max_upload_bytes: int = 64 * 1024 * 1024
    max_pixels: int = 50_000_000
    allowed_formats: tuple[str, ...] = ALL_FORMATS
    results_dir: Path | None = None
    result_ttl_s: float = 900.0
    max_kept_bytes: int = 1024 * 1024 * 1024
    job_timeout_s: float = 600.0
    executor: str = "process"

    def check(self) -> Settings:
        """Raise ValueError for an unsafe or impossible configuration; return self."""
        if not is_loopback(self.host) and not self.token:
            raise ValueError(
                f"binding {self.host} exposes the server beyond this machine: set an API token "
                f"with --token or ${TOKEN_ENV}"
            )
        if self.token is not None and len(self.token) < 8:
            raise ValueError("the API token must be at least 8 characters long")
        for name in ("workers", "queue_size", "max_upload_bytes", "max_pixels"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        unknown = set(self.allowed_formats) - set(ALL_FORMATS)
        if unknown or not self.allowed_formats:
            raise ValueError(f"allowed formats must be among {', '.join(ALL_FORMATS)}")
        if self.executor not in ("process", "thread"):
            raise ValueError(f"executor must be 'process' or 'thread', got {self.executor!r}")
        if self.results_dir is not None and not Path(self.results_dir).is_dir():
            raise ValueError(f"the results folder {self.results_dir} does not exist")
        return self
