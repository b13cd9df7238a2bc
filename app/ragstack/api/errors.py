"""The one place where domain errors become HTTP responses."""

from __future__ import annotations

import logging

import httpx
import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ragstack.errors import (
    AuthenticationError,
    ConflictError,
    DependencyUnavailableError,
    InvalidInputError,
    LlmBusyError,
    LlmUnavailableError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    QueueFullError,
    RagstackError,
    RateLimitedError,
    UnsupportedMediaError,
)

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[RagstackError], int] = {
    InvalidInputError: 400,
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    PayloadTooLargeError: 413,
    UnsupportedMediaError: 415,
    RateLimitedError: 429,
    DependencyUnavailableError: 503,
    LlmUnavailableError: 503,
    LlmBusyError: 503,
    QueueFullError: 503,
}


def status_for(error: RagstackError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def status_for_kind(kind: str | None) -> int:
    """The status of a failure recorded by its error class name (a worker's, in the catalog)."""
    by_name = {cls.__name__: status for cls, status in STATUS_BY_ERROR.items()}
    return by_name.get(kind or "", 422)


async def _domain_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RagstackError)
    status = status_for(error)
    headers: dict[str, str] = {}
    if isinstance(error, RateLimitedError | LlmBusyError | QueueFullError):
        headers["Retry-After"] = str(error.retry_after_seconds)
    if isinstance(error, AuthenticationError):
        headers["WWW-Authenticate"] = "Bearer"
    if status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, error)
    return JSONResponse({"detail": str(error)}, status_code=status, headers=headers)


def _printable(value: object) -> str | int:
    """A location part that JSON can carry (a hostile key may hold a lone surrogate)."""
    if isinstance(value, int):
        return value
    return str(value).encode("utf-8", "backslashreplace").decode()


async def _invalid_request(request: Request, error: Exception) -> JSONResponse:
    """422 naming each bad field; the offending input is not echoed back (it may be huge,
    hostile, or not even encodable as UTF-8)."""
    assert isinstance(error, RequestValidationError)
    detail = [
        {
            "loc": [_printable(part) for part in item.get("loc", ())],
            "msg": _printable(item.get("msg", "invalid")),
            "type": item.get("type", "value_error"),
        }
        for item in error.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "internal error"}, status_code=500)


async def _backend_down(request: Request, error: Exception) -> JSONResponse:
    which = "Redis" if isinstance(error, redis.exceptions.RedisError) else "ChromaDB"
    log.error(
        "%s unavailable on %s %s: %s %s",
        which,
        request.method,
        request.url.path,
        type(error).__name__,
        error,
    )
    return JSONResponse({"detail": f"{which} is unavailable"}, status_code=503)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RagstackError, _domain_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(redis.exceptions.ConnectionError, _backend_down)
    app.add_exception_handler(redis.exceptions.TimeoutError, _backend_down)
    app.add_exception_handler(httpx.TransportError, _backend_down)
    app.add_exception_handler(Exception, _unexpected)
