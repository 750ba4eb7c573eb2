"""One place that turns every error into the contract's body ``{"error", "detail", "fields"?}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import AppError

log = logging.getLogger("app.errors")

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


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = []
    for error in exc.errors():
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        fields.append({"field": _field_name(tuple(error.get("loc", ()))), "detail": message})
    first = fields[0] if fields else {"field": "body", "detail": "invalid"}
    detail = f"{first['field']}: {first['detail']}" if fields else "The request is not valid."
    return JSONResponse({"error": "validation_error", "detail": detail, "fields": fields}, status_code=422)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
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


async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", type(exc).__name__)
    return JSONResponse(
        {"error": "unavailable", "detail": "The database is unavailable; retry shortly."},
        status_code=503,
        headers={"Retry-After": "2"},
    )


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, (OSError, ConnectionError)):
        return await _database_unavailable(_request, exc)
    log.exception("unexpected error", exc_info=exc)
    return JSONResponse(
        {"error": "internal_error", "detail": "Something went wrong on our side."}, status_code=500
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    app.add_exception_handler(InterfaceError, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected)
