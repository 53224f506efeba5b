"""Reading a request body into memory, within a size limit, and splitting multipart/form-data.

Starlette's own form parser spools large files to temporary files on disk; the server promises
to write nothing to disk, so uploads are parsed here, in memory, with python-multipart's
streaming parser. The body is counted while it arrives: a body over the limit is refused with
413 as soon as it is known to be too big (from Content-Length, before reading anything).
"""

from __future__ import annotations

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from photomend.server.problems import ApiError

#: Most parts a request may have (two images and a handful of options need far fewer).
MAX_PARTS = 32
#: Largest non-file field, in bytes.
MAX_FIELD_BYTES = 64 * 1024


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or 413 once it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _too_big(limit)
        except ValueError:
            raise ApiError(400, "bad_request", "Content-Length is not a number") from None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_big(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_big(limit: int) -> ApiError:
    return ApiError(413, "upload_too_large",
                    f"the request body is larger than the server's limit of {limit} bytes")


def parse_form(body: bytes, content_type: str | None) -> dict[str, bytes]:
    """Split a multipart/form-data body into ``{part name: bytes}`` (415 for other types)."""
    ctype, params = parse_options_header(content_type or "")
    if ctype != b"multipart/form-data":
        shown = ctype.decode("latin-1") or "none"
        raise ApiError(415, "unsupported_media_type",
                       f"send multipart/form-data (the image as a file part); got {shown}")
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "bad_request", "multipart/form-data without a boundary")

    parts: dict[str, bytes] = {}
    state: dict = {"headers": {}, "field": b"", "value": b"", "data": []}

    def on_part_begin() -> None:
        if len(parts) >= MAX_PARTS:
            raise ApiError(400, "bad_request", f"more than {MAX_PARTS} form parts")
        state["headers"], state["data"] = {}, []

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        state["data"].append(data[start:end])

    def on_part_end() -> None:
        _, disp = parse_options_header(state["headers"].get(b"content-disposition", b""))
        name = disp.get(b"name", b"").decode("utf-8", "replace")
        if not name:
            raise ApiError(400, "bad_request", "a form part has no name")
        if name in parts:
            raise ApiError(400, "bad_request", f"the form part {name!r} is given twice")
        value = b"".join(state["data"])
        if b"filename" not in disp and len(value) > MAX_FIELD_BYTES:
            raise ApiError(400, "bad_request", f"the form field {name!r} is too long")
        parts[name] = value

    callbacks = {
        "on_part_begin": on_part_begin, "on_part_data": on_part_data,
        "on_part_end": on_part_end, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
    }
    try:
        parser = MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise ApiError(400, "bad_request", f"malformed multipart body: {exc}") from None
    if not parts and body.strip():
        raise ApiError(400, "bad_request", "malformed multipart body: no parts found")
    return parts
