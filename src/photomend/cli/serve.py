"""``photomend serve``: the HTTP API and the web studio (the app itself is photomend.server)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from photomend.cli.common import EXIT_OK, EXIT_USAGE, positive_int, say, summary


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help=summary("serve"),
        description="Serve the photomend web studio at http://HOST:PORT/ and its HTTP API under "
        "/v1 (reference at /docs, OpenAPI schema at /openapi.json). Binds 127.0.0.1 unless told otherwise; any other "
        "address needs an API token.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default: 8080; 0 = any free)")
    p.add_argument("--workers", type=positive_int, default=None, metavar="N",
                   help="jobs run at the same time, one worker process each "
                   "(default: the number of cores, at most 4)")
    p.add_argument("--queue-size", type=positive_int, default=64, metavar="N",
                   help="jobs that may wait for a worker; more get 503 + Retry-After "
                   "(default: 64)")
    p.add_argument("--token", default=None,
                   help="API token clients send as 'Authorization: Bearer TOKEN' "
                   "(default: $PHOTOMEND_TOKEN); required to bind a non-loopback address")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="allow browser pages of ORIGIN (e.g. https://example.org) to call the "
                   "API; repeatable (default: none)")
    p.add_argument("--max-upload-mb", type=positive_int, default=64, metavar="MB",
                   help="largest request body in MiB (default: 64)")
    p.add_argument("--max-pixels", type=positive_int, default=50_000_000, metavar="N",
                   help="largest image in pixels, checked before decoding (default: 50000000)")
    p.add_argument("--formats", default="jpeg,png,webp,tiff",
                   help="upload formats accepted (default: jpeg,png,webp,tiff)")
    p.add_argument("--results-dir", type=Path, default=None, metavar="DIR",
                   help="also write every result to DIR (default: nothing is written to disk)")
    p.add_argument("--job-timeout", type=positive_int, default=600, metavar="S",
                   help="stop a job running longer than S seconds (default: 600)")
    p.add_argument("--log-level", default="warning",
                   choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(run=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from photomend.server import Settings, create_app
    except ImportError as exc:
        say("error", f"the server needs its extra: pip install 'photomend[server]' ({exc.name} "
            "is missing)")
        return EXIT_USAGE
    formats = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "tif": "TIFF",
               "tiff": "TIFF"}
    try:
        allowed = tuple(dict.fromkeys(formats[f.strip().lower()]
                                      for f in args.formats.split(",") if f.strip()))
    except KeyError as exc:
        say("error", f"--formats: unknown format {exc.args[0]!r}; use jpeg, png, webp, tiff")
        return EXIT_USAGE
    kwargs = {} if args.workers is None else {"workers": args.workers}
    try:
        settings = Settings(
            host=args.host, port=args.port, queue_size=args.queue_size,
            token=args.token or os.environ.get("PHOTOMEND_TOKEN") or None,
            cors_origins=tuple(args.cors_origin), max_upload_bytes=args.max_upload_mb << 20,
            max_pixels=args.max_pixels, allowed_formats=allowed, results_dir=args.results_dir,
            job_timeout_s=float(args.job_timeout), **kwargs,
        ).check()
    except ValueError as exc:
        say("error", str(exc))
        return EXIT_USAGE
    app = create_app(settings)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"photomend studio: http://{shown}:{args.port}/  (API: /v1, reference: /docs;"
          f" {settings.workers} worker(s); Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                timeout_graceful_shutdown=5)
    return EXIT_OK
