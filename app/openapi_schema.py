"""The served OpenAPI document, adjusted so that every documented error matches the contract's body.

Each operation's own words (summary, description, examples, the meaning of an error for it) are in its router;
this module adds what is the same everywhere: the error body for every 4xx/5xx an operation can give, with the
one `error` code that status carries and an example, the errors every operation shares (401/403 for a key,
413, 422, 429, 503), and a description of each tag.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.requests.schemas import ErrorBody

_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
_HTML = {"text/html": {"schema": {"type": "string"}}}

# status -> (the `error` codes it carries, what it means, an example body)
_ERRORS: dict[str, tuple[list[str], str, dict[str, Any]]] = {
    "401": (
        ["unauthorized"],
        "`unauthorized`: no API key, or an unknown or revoked one",
        {"error": "unauthorized", "detail": "An API key is required: send 'Authorization: Bearer <key>'."},
    ),
    "403": (
        ["forbidden"],
        "`forbidden`: the caller's role is too low for this operation; `X-Operator` sent with a key that is not an "
        "admin key; or a cookie-authenticated change without its CSRF token or from another origin",
        {"error": "forbidden", "detail": "This action needs the 'operator' role; the key has 'app'."},
    ),
    "404": (
        ["not_found"],
        "`not_found`: nothing has this id",
        {"error": "not_found", "detail": "No privacy request has this id."},
    ),
    "409": (
        ["invalid_transition", "conflict"],
        "`invalid_transition`: not allowed in the request's current status; `conflict`: a competing change",
        {
            "error": "invalid_transition",
            "detail": "A deletion request in status 'processed' cannot be accepted.",
        },
    ),
    "410": (
        ["gone"],
        "`gone`: the link has expired",
        {"error": "gone", "detail": "This confirmation link has expired."},
    ),
    "413": (
        ["payload_too_large"],
        "`payload_too_large`: the body is larger than 1 MiB",
        {"error": "payload_too_large", "detail": "The request body is larger than 1024 KiB."},
    ),
    "422": (
        ["validation_error"],
        "`validation_error`: the input is not valid; `fields` names each field and what is wrong",
        {
            "error": "validation_error",
            "detail": "type: Input should be 'access' or 'deletion'",
            "fields": [{"field": "type", "detail": "Input should be 'access' or 'deletion'"}],
        },
    ),
    "429": (
        ["rate_limited"],
        "`rate_limited`: too many requests from this address; retry after `Retry-After` seconds",
        {"error": "rate_limited", "detail": "Too many requests from this address; try again later."},
    ),
    "503": (
        ["unavailable"],
        "`unavailable`: the database (or a data source) cannot be reached; retry after `Retry-After` seconds",
        {"error": "unavailable", "detail": "The database is unavailable; retry shortly."},
    ),
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 0},
    }
}
# Pages for a browser only (the confirmation page).
_HTML_ONLY = {("/v1/verify", "get")}
# A customer's link: a page for a browser (a form post, `Accept: text/html`), the JSON error for an API client.
_HTML_OR_JSON = {("/v1/downloads/{token}", "get"), ("/v1/verify", "post")}
_RATE_LIMITED = {
    ("/v1/privacy-requests", "post"),
    ("/v1/verify", "get"),
    ("/v1/verify", "post"),
    ("/v1/downloads/{token}", "get"),
}
# A 409 from submit (an Idempotency-Key in use, a simultaneous submission), and from an action on a request
# (its status does not allow it, or another operator changed it at the same moment).
_CONFLICTS = {
    ("/v1/privacy-requests", "post"): ["conflict"],
    ("/v1/privacy-requests/{request_id}/accept", "post"): ["invalid_transition"],
    ("/v1/privacy-requests/{request_id}/fulfil", "post"): ["invalid_transition"],
    ("/v1/privacy-requests/{request_id}/extend", "post"): ["invalid_transition"],
    ("/v1/privacy-requests/{request_id}/resend-verification", "post"): ["invalid_transition"],
    ("/v1/privacy-requests/{request_id}", "delete"): ["invalid_transition"],
}
# Their only parameter is a link's token, which any string may be (a wrong one is a 404).
_TOKEN_ONLY = {("/v1/verify", "get"), ("/v1/downloads/{token}", "get")}
# OpenAPI links: what a client (or a stateful fuzzer) can do next with the id an answer holds.
_LINKS: dict[tuple[str, str], dict[str, tuple[str, str, str]]] = {
    ("/v1/privacy-requests", "post"): {
        "Read": ("/v1/privacy-requests/{request_id}", "get", "request_id"),
        "Accept": ("/v1/privacy-requests/{request_id}/accept", "post", "request_id"),
        "Fulfil": ("/v1/privacy-requests/{request_id}/fulfil", "post", "request_id"),
        "Extend": ("/v1/privacy-requests/{request_id}/extend", "post", "request_id"),
        "ResendVerification": ("/v1/privacy-requests/{request_id}/resend-verification", "post", "request_id"),
        "ExportData": ("/v1/privacy-requests/{request_id}/data", "get", "request_id"),
    },
    ("/v1/api-keys", "post"): {"Revoke": ("/v1/api-keys/{key_id}", "delete", "key_id")},
    ("/v1/webhooks", "post"): {
        "Deliveries": ("/v1/webhooks/{webhook_id}/deliveries", "get", "webhook_id"),
        "Delete": ("/v1/webhooks/{webhook_id}", "delete", "webhook_id"),
    },
}
TAGS = [
    {
        "name": "privacy requests",
        "description": "Access and deletion requests: submit (apps and operators), then the privacy team's work "
        "in the cockpit: list, read, accept, fulfil, extend, dismiss, export, count.",
    },
    {"name": "customers", "description": "The customer directory, as the cockpit shows it."},
    {
        "name": "customers' links",
        "description": "What the customer's emails link to: the deletion confirmation and the data download. "
        "Public; the token in the link is the credential.",
    },
    {"name": "api keys", "description": "The API keys and their roles (admin only)."},
    {
        "name": "webhooks",
        "description": "Receivers of the requests' events, signed per Standard Webhooks, and their deliveries "
        "(admin only).",
    },
    {"name": "operations", "description": "Liveness, readiness and metrics for the platform. No key needed."},
]


def _error_response(
    status: str,
    description: str | None,
    *,
    html: bool = False,
    json: bool = True,
    codes: list[str] | None = None,
) -> dict[str, Any]:
    all_codes, meaning, example = _ERRORS[status]
    codes = codes or all_codes
    if example["error"] not in codes:  # submit's 409 is a `conflict` only
        example = {
            "error": "conflict",
            "detail": "A request with this Idempotency-Key is being processed; retry shortly.",
        }
    content: dict[str, Any] = {}
    if json:
        schema = {"allOf": [_ERROR_REF], "properties": {"error": {"enum": codes}}}
        content["application/json"] = {"schema": schema, "example": example}
    if html:
        content.update(_HTML)
    response: dict[str, Any] = {"description": description or meaning, "content": content}
    if status in ("429", "503"):
        response["headers"] = _RETRY_AFTER
    return response


def _own_description(response: dict[str, Any] | None) -> str | None:
    """The router's words for this error, if it gave any (FastAPI's placeholder is not)."""
    description = (response or {}).get("description")
    return None if description in (None, "", "Additional Response", "Validation Error") else description


def _errors_of(path: str, method: str, operation: dict[str, Any]) -> set[str]:
    """Every error status this operation can answer."""
    statuses = {code for code in operation.get("responses", {}) if code in _ERRORS}
    takes_input = bool(operation.get("parameters") or operation.get("requestBody"))
    if path.startswith("/v1/"):
        statuses.add("503")
        if takes_input and (path, method) not in _TOKEN_ONLY:
            statuses.add("422")
    if operation.get("requestBody"):
        statuses.add("413")
    if operation.get("security"):
        # 403 even where any key may call: X-Operator with a non-admin key, a cookie change without CSRF.
        statuses |= {"401", "403"}
        statuses.add("429")  # an address that sent too many wrong keys (RATE_LIMIT_AUTH_FAILURES_PER_MINUTE)
    if "{" in path:
        statuses.add("404")
    if (path, method) in _CONFLICTS:
        statuses.add("409")
    if (path, method) in _RATE_LIMITED:
        statuses.add("429")
    return statuses


def build_openapi(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes, tags=TAGS
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(error_schema.pop("$defs", {}))
    components["ErrorBody"] = error_schema
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            if path == "/readyz":
                continue  # its 503 is the readiness body, documented by its route
            for status in sorted(_errors_of(path, method, operation)):
                html = (path, method) in _HTML_ONLY and status in ("404", "410")
                both = (path, method) in _HTML_OR_JSON and status in ("404", "410")
                responses[status] = _error_response(
                    status,
                    _own_description(responses.get(status)),
                    html=html or both,
                    json=not html,
                    codes=_CONFLICTS.get((path, method)) if status == "409" else None,
                )
    _add_links(schema)
    return schema


def _add_links(schema: dict[str, Any]) -> None:
    paths = schema.get("paths", {})
    for (path, method), links in _LINKS.items():
        responses = paths[path][method]["responses"]
        built = {
            name: {
                "operationId": paths[target][target_method]["operationId"],
                "parameters": {parameter: "$response.body#/id"},
            }
            for name, (target, target_method, parameter) in links.items()
        }
        for status in ("200", "201"):
            if status in responses:
                responses[status]["links"] = built


def install(app: FastAPI) -> None:
    """Serve the adjusted document at /openapi.json (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
