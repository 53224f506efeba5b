"""The FastAPI application: routes, access control, JSON errors, the studio page.

Build it with :func:`create_app`; ``photomend serve`` hands it to uvicorn, tests to httpx.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from contextlib import asynccontextmanager
from importlib.resources import files as package_files
from urllib.parse import urlsplit

import anyio
from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from photomend import __version__, zoo
from photomend.engines import available_engines
from photomend.removal import DEFAULT_ENGINE
from photomend.server.jobs import FINISHED, Job, JobManager, QueueFull
from photomend.server.ops import JSON_PARTS, Operation, operations, sniff_format
from photomend.server.problems import ApiError, classify
from photomend.server.schemas import (
    EngineInfo,
    ErrorBody,
    FaceMethodInfo,
    Health,
    JobInfo,
    ModelInfo,
    UpscalerInfo,
)
from photomend.server.settings import Settings, is_loopback
from photomend.server.uploads import parse_form, read_body

_ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 403, 404, 413, 415, 422, 503)}
_JOB_ID = r"^[A-Za-z0-9_-]{16,64}$"
_STATIC = {  # the studio: three fixed files, no path parameter reaches the file system
    "/": ("index.html", "text/html; charset=utf-8"),
    "/studio.js": ("studio.js", "text/javascript; charset=utf-8"),
    "/studio.css": ("studio.css", "text/css; charset=utf-8"),
}
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def create_app(settings: Settings | None = None) -> FastAPI:
    """The photomend HTTP API and web studio, configured by ``settings``.

    Workers start with the application (its lifespan) and stop with it.
    """
    settings = (settings or Settings()).check()
    manager = JobManager(settings)
    ops = operations()
    decode_slots = anyio.Semaphore(max(2, settings.workers))

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        manager.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(manager.stop)

    app = FastAPI(
        title="photomend", version=__version__, lifespan=lifespan,
        docs_url=None, redoc_url=None,  # their pages load scripts from a CDN
        description="Repair photographs: remove objects, and the other verbs this "
        "installation has. Long work runs as jobs: submit, follow, fetch the result.",
    )
    app.state.settings, app.state.jobs = settings, manager
    _install_errors(app)

    # --- the studio page ----------------------------------------------------------------------
    static = package_files("photomend.server") / "static"
    pages = {path: ((static / name).read_bytes(), media) for path, (name, media) in _STATIC.items()}

    def page(path: str):
        async def serve() -> Response:
            body, media = pages[path]
            return Response(body, media_type=media, headers=_PAGE_HEADERS)
        return serve

    for path in pages:
        app.add_api_route(path, page(path), methods=["GET"], include_in_schema=False)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        """The API reference, from the OpenAPI schema, served offline (no CDN)."""
        from photomend.server.reference import reference_page

        return Response(reference_page(app.openapi()), media_type="text/html; charset=utf-8",
                        headers={**_PAGE_HEADERS, "Content-Security-Policy":
                                 "default-src 'none'; style-src 'unsafe-inline'; "
                                 "frame-ancestors 'none'"})

    # --- information --------------------------------------------------------------------------

    @app.get("/healthz", response_model=Health, tags=["info"])
    async def healthz() -> Health:
        """Liveness and load: workers alive, jobs queued and running (no token needed)."""
        stats = manager.stats()
        ok = stats["workers_alive"] == stats["workers"]
        return Health(status="ok" if ok else "degraded", version=__version__,
                      operations=list(ops), queue_size=settings.queue_size, **stats)

    @app.get("/v1/engines", response_model=list[EngineInfo], tags=["info"])
    async def engines() -> list[EngineInfo]:
        """The inpainting engines ``POST /v1/remove`` accepts."""
        return [EngineInfo(name=n, description=t.description, max_pixels=t.max_pixels,
                           synthesises_texture=t.synthesises_texture, default=n == DEFAULT_ENGINE)
                for n, t in available_engines().items()]

    @app.get("/v1/models", response_model=list[ModelInfo], tags=["info"])
    async def models(task: str | None = None) -> list[ModelInfo]:
        """Model zoo entries and whether each is installed on the server."""
        return [ModelInfo(name=s.name, task=s.task, scale=s.scale, license=s.license,
                          source=s.source, description=s.description,
                          installed=zoo.installed_path(s.name) is not None)
                for s in zoo.list_models(task=task)]

    @app.get("/v1/faces", response_model=list[FaceMethodInfo], tags=["info"])
    async def face_methods() -> list[FaceMethodInfo]:
        """The values of the ``faces`` option of restore (gfpgan) and upscale (gfpgan, pulse),
        and whether each is installed."""
        from photomend.faces.methods import face_methods as methods

        return [FaceMethodInfo(**m) for m in methods()]

    if "upscale" in ops:
        @app.get("/v1/upscalers", response_model=list[UpscalerInfo], tags=["info"])
        async def upscalers() -> list[UpscalerInfo]:
            """The models ``POST /v1/upscale`` accepts as ``model``."""
            from photomend.upscaling import upscaler_class
            from photomend.upscaling.api import DEFAULT_UPSCALER
            from photomend.upscaling.base import available_upscalers

            return [UpscalerInfo(name=n, description=t.description, scales=list(t.scales),
                                 installed_scales=list(upscaler_class(n).installed_scales()),
                                 cost=t.cost, default=n == DEFAULT_UPSCALER)
                    for n, t in available_upscalers().items()]

    # --- submitting ---------------------------------------------------------------------------

    def add_operation(op: Operation) -> None:
        async def submit(request: Request, wait: bool = Query(
                False, description="answer with the result itself once the job is done")):
            body = await read_body(request, settings.max_upload_bytes)
            parts = parse_form(body, request.headers.get("content-type"))
            del body
            uploads = _take_files(op, parts, settings)
            try:
                fields = {k: v.decode("utf-8") for k, v in parts.items()}
                options = op.options.model_validate(fields)
            except (UnicodeDecodeError, ValidationError) as exc:
                raise ApiError(422, "invalid_options", _validation_message(exc)) from None
            if manager.is_full():  # shed load before spending time on decoding
                raise QueueFull(manager.retry_after())
            async with decode_slots:  # bounds the memory of images decoded at once
                try:
                    await anyio.to_thread.run_sync(op.check, uploads, options, settings.max_pixels)
                except Exception as exc:  # noqa: BLE001
                    raise classify(exc) from None
            job = manager.submit(op.name, uploads, options.model_dump())
            if not wait:
                info = _job_info(job)
                return JSONResponse(info.model_dump(), status_code=202,
                                    headers={"Location": info.status_url})
            while not job.finished_event.is_set():
                if await request.is_disconnected():
                    manager.cancel(job.id)
                    return Response(status_code=204)
                await asyncio.sleep(0.05)
            first = next(iter(job.outputs or {"image": None}))  # "mask" for detect_only
            return _result(job, first)

        props = {name: {"type": "string", "format": "binary"} for name in op.files}
        schema = op.options.model_json_schema()
        props.update(schema.get("properties", {}))
        required = [name for name, needed in op.files.items() if needed]
        app.add_api_route(
            f"/v1/{op.name}", submit, methods=["POST"], tags=["operations"],
            summary=op.summary, status_code=202, name=op.name,
            responses={202: {"model": JobInfo, "description": "the job was queued"},
                       200: {"content": {"image/png": {}},
                             "description": "the result, with ?wait=true"}, **_ERRORS},
            openapi_extra={"requestBody": {"required": True, "content": {
                "multipart/form-data": {"schema": {
                    "type": "object", "required": required, "properties": props}}}}},
        )

    for op in ops.values():
        add_operation(op)

    # --- following a job ----------------------------------------------------------------------

    def find(job_id: str) -> Job:
        job = manager.get(job_id)
        if job is None:
            raise ApiError(404, "unknown_job", "no such job (never submitted, or expired)")
        return job

    @app.get("/v1/jobs/{job_id}", response_model=JobInfo, responses=_ERRORS, tags=["jobs"])
    async def job_status(job_id: str = _id_path()) -> JobInfo:
        """The job's state and progress (poll it, or follow ``events_url``)."""
        return _job_info(find(job_id))

    @app.get("/v1/jobs/{job_id}/events", tags=["jobs"], responses=_ERRORS,
             response_class=StreamingResponse)
    async def job_events(request: Request, job_id: str = _id_path()):
        """Server-Sent Events: a ``progress`` event at each change (JobInfo as data), then
        one ``done``, ``failed`` or ``cancelled`` event, and the stream ends."""
        find(job_id)

        async def stream():
            seen, quiet = -1, 0.0
            while True:
                job = manager.get(job_id)
                if job is None:
                    yield 'event: failed\ndata: {"error": "unknown_job"}\n\n'
                    return
                if job.version != seen:
                    seen, quiet = job.version, 0.0
                    info = _job_info(job)
                    kind = info.state if info.state in FINISHED else "progress"
                    yield f"event: {kind}\ndata: {json.dumps(info.model_dump())}\n\n"
                    if kind != "progress":
                        return
                elif quiet > 15:
                    quiet = 0.0
                    yield ": keep-alive\n\n"
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.1)
                quiet += 0.1

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/v1/jobs/{job_id}/result", tags=["jobs"],
             responses={200: {"content": {"image/png": {}}}, 409: {"model": ErrorBody},
                        **_ERRORS})
    async def job_result(job_id: str = _id_path(),
                         output: str = Query("image", pattern=r"^[a-z0-9_]{1,32}$",
                                             description="'image', or 'mask' for restore")):
        """The result (409 while the job is not done; the job's error if it failed)."""
        return _result(find(job_id), output)

    @app.delete("/v1/jobs/{job_id}", response_model=JobInfo, responses=_ERRORS, tags=["jobs"])
    async def job_cancel(job_id: str = _id_path()) -> JobInfo:
        """Cancel a queued or running job; on a finished job, forget it and free its result."""
        job = manager.cancel(job_id)
        if job is None:
            raise ApiError(404, "unknown_job", "no such job (never submitted, or expired)")
        return _job_info(job)

    # --- access -------------------------------------------------------------------------------
    app.add_middleware(_Guard, settings=settings)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization"],
                           expose_headers=["Retry-After", "Location", "Content-Disposition"])
    return app


def _id_path():
    return PathParam(pattern=_JOB_ID, description="the id POST returned")


def _take_files(op: Operation, parts: dict[str, bytes], settings: Settings) -> dict[str, bytes]:
    uploads = {}
    for name, required in op.files.items():
        data = parts.pop(name, None)
        if not data:
            if required:
                raise ApiError(422, "missing_part", f"the form part {name!r} (a file) is missing "
                               "or empty")
            continue
        if name in JSON_PARTS and data.lstrip()[:1] in (b"{", b"["):
            uploads[name] = data
            continue
        fmt = sniff_format(data)
        if fmt not in settings.allowed_formats:
            allowed = ", ".join(settings.allowed_formats)
            raise ApiError(415, "unsupported_format",
                           f"{name}: {fmt or 'not a recognised image'}; this server accepts "
                           f"{allowed}")
        uploads[name] = data
    return uploads


def _validation_message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'form'}: {e['msg']}"
                         for e in exc.errors(include_url=False))
    return "form fields must be UTF-8 text"


def _job_info(job: Job) -> JobInfo:
    base = f"/v1/jobs/{job.id}"
    return JobInfo(
        id=job.id, operation=job.op, state=job.state, stage=job.stage, done=job.done,
        total=job.total, progress=min(1.0, job.done / job.total) if job.total else None,
        created=job.created, started=job.started, finished=job.finished,
        error=ErrorBody(**job.error.body()) if job.error else None,
        outputs=list(job.outputs or ()), status_url=base, events_url=f"{base}/events",
        result_url=f"{base}/result",
    )


def _result(job: Job, output: str) -> Response:
    if job.state != "done":
        if job.error is not None:
            raise job.error
        raise ApiError(409, "not_ready" if job.state not in FINISHED else job.state,
                       f"the job is {job.state}; its result is not available")
    outputs = job.outputs or {}
    if output not in outputs:
        raise ApiError(404, "unknown_output", f"this job has no output {output!r}; it has "
                       f"{', '.join(outputs)}")
    data, media, suffix = outputs[output]
    name = f"photomend-{job.op}{'' if output == 'image' else '-' + output}{suffix}"
    return Response(data, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


def _install_errors(app: FastAPI) -> None:
    def answer(err: ApiError) -> JSONResponse:
        return JSONResponse(err.body(), status_code=err.status, headers=err.headers)

    @app.exception_handler(ApiError)
    async def api_error(_request, exc: ApiError):
        return answer(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request, exc: StarletteHTTPException):
        codes = {404: "not_found", 405: "method_not_allowed"}
        return answer(ApiError(exc.status_code, codes.get(exc.status_code, "http_error"),
                               str(exc.detail), dict(exc.headers or {})))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request, exc: RequestValidationError):
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        status = 404 if any(e["loc"][:1] == ("path",) for e in exc.errors()) else 422
        return answer(ApiError(status, "unknown_job" if status == 404 else "invalid_request",
                               detail))

    @app.exception_handler(ClientDisconnect)
    async def gone(_request, _exc):
        return answer(ApiError(400, "client_disconnected", "the client went away mid-request"))

    @app.exception_handler(Exception)
    async def unexpected(_request, exc: Exception):
        return answer(classify(exc))


class _Guard:
    """Access control in front of everything (plain ASGI, so uploads stream through).

    * Host header: when bound to loopback without a token, only loopback names are accepted,
      which defeats DNS-rebinding pages.
    * Token: when set, every ``/v1`` request needs ``Authorization: Bearer TOKEN`` (401).
    * Origin: a POST/DELETE from a browser page of another origin is refused (403) unless that
      origin is in ``cors_origins``; browsers send such forms without asking.
    """

    def __init__(self, app, settings: Settings) -> None:
        self.app, self.settings = app, settings
        self.loopback_only = is_loopback(settings.host) and not settings.token
        self.token = settings.token.encode() if settings.token else None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        problem = None
        if self.loopback_only and not is_loopback(urlsplit(f"//{host}").hostname or ""):
            problem = ApiError(403, "untrusted_host",
                               "this server only answers requests addressed to the loopback "
                               "interface (127.0.0.1 or localhost)")
        elif scope["path"].startswith("/v1/") and scope["method"] != "OPTIONS":
            if self.token is not None and not _token_ok(headers, self.token):
                problem = ApiError(401, "unauthorized", "this server needs its API token: "
                                   "send 'Authorization: Bearer TOKEN'",
                                   {"WWW-Authenticate": "Bearer"})
            elif scope["method"] not in ("GET", "HEAD"):
                origin = headers.get("origin")
                if origin is not None and origin not in self.settings.cors_origins and \
                        urlsplit(origin).netloc != host:
                    problem = ApiError(403, "foreign_origin",
                                       f"requests from pages of {origin} are not allowed")
        if problem is not None:
            response = JSONResponse(problem.body(), status_code=problem.status,
                                    headers=problem.headers)
            return await response(scope, receive, send)
        return await self.app(scope, receive, send)


def _token_ok(headers: Headers, token: bytes) -> bool:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(value.strip().encode(), token)
