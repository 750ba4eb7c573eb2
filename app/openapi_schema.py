"""The served OpenAPI document, adjusted so that every documented error matches the contract's body."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.requests.schemas import ErrorBody

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
_HTML = {"text/html": {"schema": {"type": "string"}}}
_DESCRIPTIONS = {
    "401": "No API key, or an unknown or revoked one (`unauthorized`)",
    "403": "The key's role is too low (`forbidden`)",
    "404": "Not found (`not_found`)",
    "409": "Not allowed in the request's current status (`invalid_transition`) or a conflict (`conflict`)",
    "410": "Expired (`gone`)",
    "422": "The input is not valid (`validation_error`, with `fields`)",
    "429": "Too many requests from this address (`rate_limited`), see `Retry-After`",
    "503": "The database is unavailable (`unavailable`), see `Retry-After`",
}
_PUBLIC_HTML = {"/v1/verify"}
_RATE_LIMITED = {
    ("/v1/privacy-requests", "post"),
    ("/v1/verify", "get"),
    ("/v1/verify", "post"),
    ("/v1/downloads/{token}", "get"),
}


def _error(code: str, content: dict[str, Any] = _ERROR) -> dict[str, Any]:
    return {"description": _DESCRIPTIONS[code], "content": content}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(error_schema.pop("$defs", {}))
    components["ErrorBody"] = error_schema
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            html = path in _PUBLIC_HTML and method == "get"
            for code in list(responses):
                if code in _DESCRIPTIONS:
                    content = _HTML if html and code in ("404", "410") else _ERROR
                    responses[code] = _error(code, content)
            if path.startswith("/v1/"):
                responses["422"] = _error("422")
                responses["503"] = _error("503")
            if operation.get("security"):
                responses["401"] = _error("401")
                responses["403"] = _error("403")
            if "{" in path:
                responses.setdefault("404", _error("404"))
            if method in ("post", "delete") and "/v1/privacy-requests/{request_id}" in path:
                responses["409"] = _error("409")
            if (path, method) == ("/v1/privacy-requests", "post"):
                responses["409"] = _error("409")
            if (path, method) in _RATE_LIMITED:
                responses["429"] = _error("429")
    return schema


def install(app: FastAPI) -> None:
    """Serve the adjusted document at /openapi.json (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
