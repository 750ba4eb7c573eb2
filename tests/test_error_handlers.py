"""Errors that help: a 405 lists every method of the path; a body that is not JSON says where and what was
expected; a body sent without the JSON content type says to send JSON."""

from __future__ import annotations

import httpx
import pytest

from .conftest import bearer

SOME_ID = "00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/v1/verify", "GET, POST"),
        ("PUT", "/v1/verify", "GET, POST"),
        ("OPTIONS", f"/v1/privacy-requests/{SOME_ID}", "GET, DELETE"),
        ("PATCH", f"/v1/privacy-requests/{SOME_ID}", "GET, DELETE"),
        ("OPTIONS", "/v1/api-keys", "GET, POST"),
        ("DELETE", "/v1/privacy-requests", "GET, POST"),
        ("GET", f"/v1/privacy-requests/{SOME_ID}/accept", "POST"),
        ("POST", "/v1/stats", "GET"),
    ],
)
async def test_a_405_lists_every_method_of_the_path(
    client: httpx.AsyncClient, keys: dict[str, str], method: str, path: str, allow: str
) -> None:
    response = await client.request(method, path, headers=bearer(keys["admin"]))
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json() == {
        "error": "method_not_allowed",
        "detail": f"{method} is not allowed here; allowed: {allow}.",
    }


async def test_a_trailing_comma_is_shown_with_its_line_and_column(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    body = b'{\n  "type": "access",\n  "email": "ada@example.com",\n}'
    response = await client.post(
        "/v1/privacy-requests",
        content=body,
        headers={**bearer(keys["app"]), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    detail = (
        "The body is not valid JSON: Expecting property name enclosed in double quotes at line 4, column 1."
    )
    assert response.json() == {
        "error": "validation_error",
        "detail": detail,
        "fields": [{"field": "body", "detail": detail}],
    }


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"handling": "manual"', "Expecting ',' delimiter at line 1, column 22"),
        (b'{"handling": manual}', "Expecting value at line 1, column 14"),
        (b'{"handling": "manual"} x', "Extra data at line 1, column 24"),
    ],
)
async def test_broken_json_says_what_was_expected(
    client: httpx.AsyncClient, keys: dict[str, str], body: bytes, where: str
) -> None:
    response = await client.post(
        f"/v1/privacy-requests/{SOME_ID}/accept",
        content=body,
        headers={**bearer(keys["operator"]), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["detail"] == f"The body is not valid JSON: {where}."


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_a_json_body_without_the_json_content_type_is_told_to_send_json(
    client: httpx.AsyncClient, keys: dict[str, str], content_type: str | None
) -> None:
    headers = bearer(keys["app"])
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = await client.post(
        "/v1/privacy-requests", content=b'{"type": "access", "email": "ada@example.com"}', headers=headers
    )
    assert response.status_code == 422
    assert (
        response.json()["detail"]
        == "Send the body as JSON, with the header 'Content-Type: application/json'."
    )
    # The same body with the header is accepted.
    accepted = await client.post(
        "/v1/privacy-requests",
        content=b'{"type": "access", "email": "ada@example.com"}',
        headers={**bearer(keys["app"]), "Content-Type": "application/json"},
    )
    assert accepted.status_code == 201


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"", "A JSON body is required."),
        (b"[1, 2]", "The body must be a JSON object."),
        (b'"x"', "The body must be a JSON object."),
    ],
)
async def test_a_body_that_is_not_an_object_says_so(
    client: httpx.AsyncClient, keys: dict[str, str], body: bytes, detail: str
) -> None:
    response = await client.post(
        "/v1/privacy-requests",
        content=body,
        headers={**bearer(keys["app"]), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["detail"] == detail


async def test_the_confirmation_post_says_where_its_json_breaks(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/verify", content=b'{"token": "abc",}', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_error"
    assert "Expecting property name enclosed in double quotes at line 1, column 17" in body["detail"]
    assert body["fields"] == [
        {
            "field": "body",
            "detail": "not valid JSON: Expecting property name enclosed in double quotes at line 1, column 17",
        }
    ]


async def test_a_boolean_is_not_read_from_a_number(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    response = await client.post(
        f"/v1/privacy-requests/{SOME_ID}/fulfil",
        json={"send_download_link": 0},
        headers=bearer(keys["operator"]),
    )
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "send_download_link"


@pytest.mark.parametrize(
    "post",
    [
        {"json": {"token": "abc", "tokne": "x"}},
        {"data": {"token": "abc", "tokne": "x"}},
    ],
)
async def test_the_confirmation_post_names_an_unexpected_field(
    client: httpx.AsyncClient, post: dict[str, object]
) -> None:
    response = await client.post("/v1/verify", **post)  # type: ignore[arg-type]
    assert response.status_code == 422
    assert response.json() == {
        "error": "validation_error",
        "detail": "Only the field token is expected.",
        "fields": [{"field": "tokne", "detail": "unexpected field"}],
    }
