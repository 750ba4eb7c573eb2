"""One place that turns every error into the contract's body ``{"error", "detail", "fields"?}``.

It also caps the size of request bodies (413 ``payload_too_large``), so that no client can make the API hold
an arbitrarily large body in memory: the largest legitimate body (a request with a 2,000-character note) is a
few kilobytes.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import AppError
from app.sources.base import SourceError

log = logging.getLogger("app.core.errors")

MAX_BODY_BYTES = 1024 * 1024
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


def _field_name(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[0] if loc else "body")


async def _app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = []
    for error in exc.errors():
        body_problem = _body_problem(request, error, exc.body)
        if body_problem is not None:
            # The body as a whole could not be read as the JSON object the operation takes: one clear sentence
            # instead of the parser's position shown as a field name.
            return _invalid_input(body_problem)
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        fields.append({"field": _field_name(tuple(error.get("loc", ()))), "detail": message})
    first = fields[0] if fields else {"field": "body", "detail": "invalid"}
    detail = f"{first['field']}: {first['detail']}" if fields else "The request is not valid."
    return JSONResponse({"error": "validation_error", "detail": detail, "fields": fields}, status_code=422)


_SEND_JSON = "Send the body as JSON, with the header 'Content-Type: application/json'."


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _json_syntax_error(document: str | bytes, position: int, expected: str) -> str:
    """The sentence for a body that is not JSON: what the parser expected, and where (line and column)."""
    text = document.decode("utf-8", "replace") if isinstance(document, bytes) else document
    where = json.JSONDecodeError(expected, text, max(0, min(position, len(text))))
    return f"The body is not valid JSON: {expected} at line {where.lineno}, column {where.colno}."


def _body_problem(request: Request, error: Any, body: Any) -> str | None:
    """The one-sentence answer when the body itself (not a field in it) is the problem, else None."""
    loc = tuple(error.get("loc", ()))
    if error.get("type") == "json_invalid" and len(loc) == 2 and loc[0] == "body":
        position = loc[1] if isinstance(loc[1], int) else 0
        expected = str((error.get("ctx") or {}).get("error", "invalid JSON"))
        # FastAPI hands over the document the parser read (``exc.body``): the position indexes into it.
        document = body if isinstance(body, (str, bytes)) else ""
        return _json_syntax_error(document, position, expected)
    if loc != ("body",):
        return None
    if not _is_json(request.headers.get("content-type", "")):
        # FastAPI reads a body as JSON only when it is declared so: anything else arrives as bytes.
        return _SEND_JSON
    if error.get("type") == "missing":
        return "A JSON body is required."
    return "The body must be a JSON object."


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        return _method_not_allowed(request, (exc.headers or {}).get("Allow", ""))
    if exc.status_code == 400:
        # An unreadable body (bad encoding, broken multipart) is a validation error in the contract's terms.
        return JSONResponse(
            {
                "error": "validation_error",
                "detail": "The request body could not be read.",
                "fields": [{"field": "body", "detail": "unreadable body"}],
            },
            status_code=422,
        )
    code = _HTTP_CODES.get(exc.status_code, "error")
    detail = exc.detail if isinstance(exc.detail, str) else "The request could not be handled."
    if exc.status_code == 404 and detail == "Not Found":
        detail = "There is nothing at this address."
    if exc.status_code == 401:
        detail = "An API key is required: send 'Authorization: Bearer <key>'."
    return JSONResponse({"error": code, "detail": detail}, status_code=exc.status_code, headers=exc.headers)


def _method_not_allowed(request: Request, fallback: str) -> JSONResponse:
    """405 with an ``Allow`` that lists every method of the path (RFC 9110). Starlette names only the methods
    of the first route that matched the path, and FastAPI makes one route per method: so each method is tried
    against the routes (the routing's public ``matches``; only on this rare answer)."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]
    allow = ", ".join(allowed) or fallback
    return JSONResponse(
        {"error": "method_not_allowed", "detail": f"{request.method} is not allowed here; allowed: {allow}."},
        status_code=405,
        headers={"Allow": allow},
    )


async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", type(exc).__name__)
    return JSONResponse(
        {"error": "unavailable", "detail": "The database is unavailable; retry shortly."},
        status_code=503,
        headers={"Retry-After": "2"},
    )


async def _source_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    # The directory (or another source) did not answer: the caller may retry; nothing was recorded. The
    # answer names the source only: the driver's message may show hosts or paths, and app keys are public.
    assert isinstance(exc, SourceError)
    log.warning("data source unavailable: %s", exc)
    return JSONResponse(
        {"error": "unavailable", "detail": f"The data source '{exc.source}' is unavailable; retry shortly."},
        status_code=503,
        headers={"Retry-After": str(SourceError.retry_after)},
    )


def _sqlstate(exc: DBAPIError) -> str:
    # asyncpg's adapted errors carry ``sqlstate`` (and ``pgcode``); psycopg's carry ``sqlstate``.
    return str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or "")


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    state = _sqlstate(exc)
    if state.startswith("22"):
        # Class 22 "data exception": a value the database cannot store or compare, such as a NUL character
        # in a text field. That is the client's input, so a 422 rather than a 500. (Validation should refuse
        # such values before they reach the database; this is the safety net.)
        log.info("input refused by the database: sqlstate %s", state)
        return _invalid_input("A value contains characters or a range the service cannot store.")
    if exc.connection_invalidated or state.startswith(("08", "57P")):
        # 08: connection exception; 57P01-57P03: the server is shutting down or starting up.
        return await _database_unavailable(request, exc)
    return await _unexpected(request, exc)


def _invalid_input(detail: str) -> JSONResponse:
    return JSONResponse(
        {"error": "validation_error", "detail": detail, "fields": [{"field": "body", "detail": detail}]},
        status_code=422,
    )


async def _out_of_range(_request: Request, exc: Exception) -> JSONResponse:
    # Python raises OverflowError for values out of range, e.g. a date near year 1 or 9999 moved to UTC.
    # Only input reaches such values, so this is a validation error (the safety net behind the validators).
    log.info("input out of range: %s", exc)
    return _invalid_input("A value is out of the supported range.")


async def _too_deep(_request: Request, _exc: Exception) -> JSONResponse:
    # A deeply nested document that some parser gave up on.
    return _invalid_input("The input is nested too deeply.")


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, (OSError, ConnectionError)):
        return await _database_unavailable(_request, exc)
    log.exception("unexpected error", exc_info=exc)
    return JSONResponse(
        {"error": "internal_error", "detail": "Something went wrong on our side."}, status_code=500
    )


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413: at once when Content-Length says so, else as soon
    as the streamed body passes the limit (the route's body reading then fails with the 413)."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large()(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise StarletteHTTPException(413, _TOO_LARGE)
            return message

        await self.app(scope, limited_receive, send)


_TOO_LARGE = f"The request body is larger than {MAX_BODY_BYTES // 1024} KiB."


def _too_large() -> JSONResponse:
    return JSONResponse({"error": "payload_too_large", "detail": _TOO_LARGE}, status_code=413)


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(SourceError, _source_unavailable)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    app.add_exception_handler(InterfaceError, _database_unavailable)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(RecursionError, _too_deep)
    # A connection refused or reset on the way to the database: registered here, not only in the catch-all,
    # because the catch-all's errors are re-raised to the server after the answer (and logged as crashes).
    app.add_exception_handler(OSError, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(BodyLimit)
