"""Errors as HTTP answers: every 4xx/5xx the server sends is a JSON body from :class:`ApiError`."""

from __future__ import annotations

import re

from photomend.errors import ImageTooLargeError, InputError, OutputError


class ApiError(Exception):
    """An HTTP error with a JSON body ``{"error": code, "message": ..., "status": ...}``."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": self.code, "message": self.message, "status": self.status}


def error_code(exc: BaseException) -> str:
    """``ImageTooLargeError`` -> ``image_too_large``.

    >>> error_code(MemoryError()), error_code(InputError())
    ('memory', 'input')
    """
    name = re.sub(r"(Error|Exception)$", "", type(exc).__name__) or type(exc).__name__
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def classify(exc: BaseException) -> ApiError:
    """The HTTP answer for a library exception: the caller's fault is 4xx, ours 5xx."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ImageTooLargeError):  # the server's limit: the client cannot raise it
        core = getattr(exc, "core", None)
        return ApiError(413, error_code(exc), f"{core} (this server's limit)" if core else message)
    if isinstance(exc, InputError):  # ``core``: the message without CLI or Python advice
        return ApiError(422, error_code(exc), getattr(exc, "core", None) or message)
    if isinstance(exc, OutputError):
        return ApiError(500, "output", message)
    if isinstance(exc, MemoryError):
        return ApiError(503, "out_of_memory", "the server ran out of memory for this job",
                        {"Retry-After": "30"})
    return ApiError(500, "internal", f"{type(exc).__name__}: {message}")
