"""Errors as classes, and the one handler that turns every error into the contract's body."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """A business error with its HTTP status and stable code."""

    status_code = 400
    code = "bad_request"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail}


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class ValidationFailed(AppError):
    status_code = 422
    code = "validation_error"

    def __init__(self, detail: str, *, fields: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.fields = fields or []

    def body(self) -> dict[str, Any]:
        return {**super().body(), "fields": self.fields}


class InvalidTransition(AppError):
    status_code = 409
    code = "invalid_transition"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class Gone(AppError):
    status_code = 410
    code = "gone"


class RateLimited(AppError):
    status_code = 429
    code = "rate_limited"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "unavailable"

    def __init__(self, detail: str, *, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
