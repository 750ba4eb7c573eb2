"""Oversized and malformed input: always a 4xx with the contract's error body, never a 5xx."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.error_handlers import MAX_BODY_BYTES

from ..conftest import bearer

ID = "00000000-0000-0000-0000-000000000001"
JSON = {"content-type": "application/json"}


def _cursor(key: str) -> str:
    raw = json.dumps({"s": "-received_at", "k": key, "i": ID}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# (name, method, path, request keyword arguments, the role whose key is sent or None)
CASES: list[tuple[str, str, str, dict[str, Any], str | None]] = [
    # Huge bodies.
    (
        "huge_json_field",
        "POST",
        "/v1/privacy-requests",
        {"content": b'{"type":"access","email":"a@example.org","x":"' + b"a" * 20_000_000 + b'"}'},
        "app",
    ),
    ("huge_json_array", "POST", "/v1/privacy-requests", {"content": b"[" + b"1," * 3_000_000 + b"1]"}, "app"),
    (
        "huge_channel",
        "POST",
        "/v1/privacy-requests",
        {"json": {"type": "access", "email": "a@example.org", "channel": "c" * 100_000}},
        "app",
    ),
    ("huge_verify_json", "POST", "/v1/verify", {"json": {"token": "t" * 5_000_000}}, None),
    ("huge_verify_form", "POST", "/v1/verify", {"data": {"token": "t" * 5_000_000}}, None),
    (
        "many_form_fields",
        "POST",
        "/v1/verify",
        {
            "content": b"&".join([b"a=1"] * 200_000),
            "headers": {"content-type": "application/x-www-form-urlencoded"},
        },
        None,
    ),
    (
        "huge_accept",
        "POST",
        f"/v1/privacy-requests/{ID}/accept",
        {"json": {"handling": "manual", "x": ["y" * 1000] * 2000}},
        "operator",
    ),
    (
        "huge_api_key_name",
        "POST",
        "/v1/api-keys",
        {"json": {"name": "n" * 1_000_000, "role": "app"}},
        "admin",
    ),
    # Deeply nested JSON.
    ("nested_submit", "POST", "/v1/privacy-requests", {"content": nested(100_000)}, "app"),
    (
        "nested_in_object",
        "POST",
        "/v1/privacy-requests",
        {"content": b'{"type":"access","email":"a@example.org","x":' + nested(50_000) + b"}"},
        "app",
    ),
    ("nested_verify", "POST", "/v1/verify", {"content": nested(4_000)}, None),
    ("nested_objects_verify", "POST", "/v1/verify", {"content": b'{"a":' * 3000 + b"1" + b"}" * 3000}, None),
    ("nested_extend", "POST", f"/v1/privacy-requests/{ID}/extend", {"content": nested(100_000)}, "operator"),
    # Wrong content types and broken encodings.
    (
        "text_plain",
        "POST",
        "/v1/privacy-requests",
        {"content": b'{"type":"access","email":"a@example.org"}', "headers": {"content-type": "text/plain"}},
        "app",
    ),
    (
        "xml",
        "POST",
        "/v1/privacy-requests",
        {
            "content": b"<request><type>access</type></request>",
            "headers": {"content-type": "application/xml"},
        },
        "app",
    ),
    (
        "form_to_json_api",
        "POST",
        "/v1/privacy-requests",
        {"data": {"type": "access", "email": "a@example.org"}},
        "app",
    ),
    (
        "broken_multipart",
        "POST",
        "/v1/privacy-requests",
        {"content": b"--x\r\n", "headers": {"content-type": "multipart/form-data; boundary=x"}},
        "app",
    ),
    (
        "multipart_no_boundary",
        "POST",
        "/v1/verify",
        {"content": b"--x\r\n", "headers": {"content-type": "multipart/form-data"}},
        None,
    ),
    ("multipart_with_file", "POST", "/v1/verify", {"files": {"token": ("t.txt", b"abc")}}, None),
    (
        "latin1_body",
        "POST",
        "/v1/privacy-requests",
        {"content": b'{"type":"access","email":"\xe4@example.org"}'},
        "app",
    ),
    ("bom_and_garbage", "POST", "/v1/privacy-requests", {"content": b'\xff\xfe{\x00"\x00'}, "app"),
    (
        "lone_surrogate",
        "POST",
        "/v1/privacy-requests",
        {"content": b'{"type":"access","email":"\\ud800@example.org"}'},
        "app",
    ),
    ("json_null", "POST", "/v1/privacy-requests", {"content": b"null"}, "app"),
    ("json_number", "POST", "/v1/verify", {"content": b"1e999999"}, None),
    ("json_nan", "POST", "/v1/privacy-requests", {"content": b'{"type":NaN}'}, "app"),
    ("empty_body", "POST", f"/v1/privacy-requests/{ID}/accept", {"content": b""}, "operator"),
    (
        "verify_garbage_form",
        "POST",
        "/v1/verify",
        {"content": b"\xff\xfe=\xff", "headers": {"content-type": "application/x-www-form-urlencoded"}},
        None,
    ),
    (
        "content_type_garbage",
        "POST",
        "/v1/verify",
        {"content": b"{}", "headers": [(b"content-type", b"\xff/\xfe; charset=\xff")]},
        None,
    ),
    # Unicode and garbage in the query string.
    ("query_status_garbage", "GET", "/v1/privacy-requests?status=%FF%FE&type=%00", {}, "operator"),
    ("query_email_garbage", "GET", "/v1/privacy-requests?email=%F0%9F%98%80%00", {}, "operator"),
    ("query_limit_huge", "GET", "/v1/privacy-requests?limit=99999999999999999999999999999", {}, "operator"),
    ("query_limit_text", "GET", "/v1/privacy-requests?limit=%E2%88%9E", {}, "operator"),
    (
        "query_due_before_far",
        "GET",
        "/v1/privacy-requests?due_before=9999-12-31T23:59:59-23:00",
        {},
        "operator",
    ),
    (
        "query_received_after_early",
        "GET",
        "/v1/privacy-requests?received_after=0001-01-01T00:00:00%2B05:00",
        {},
        "operator",
    ),
    ("query_cursor_garbage", "GET", "/v1/privacy-requests?cursor=%FF%FE%00", {}, "operator"),
    (
        "query_cursor_base64_garbage",
        "GET",
        "/v1/privacy-requests?cursor=" + base64.urlsafe_b64encode(b"\xff" * 30).decode(),
        {},
        "operator",
    ),
    (
        "query_cursor_early_date",
        "GET",
        "/v1/privacy-requests?cursor=" + _cursor("0001-01-01T00:00:00+05:00"),
        {},
        "operator",
    ),
    (
        "query_cursor_nested",
        "GET",
        "/v1/privacy-requests?cursor=" + base64.urlsafe_b64encode(nested(150)).decode(),
        {},
        "operator",
    ),
    ("query_sort_garbage", "GET", "/v1/privacy-requests?sort=%E2%80%AEreceived_at", {}, "operator"),
    ("query_overdue_garbage", "GET", "/v1/privacy-requests?overdue=%F0%9F%92%A9", {}, "operator"),
    ("query_reason_nul", "DELETE", f"/v1/privacy-requests/{ID}?reason=%00%FF", {}, "operator"),
    ("query_format_garbage", "GET", f"/v1/privacy-requests/{ID}/data?format=%E2%80%AE", {}, "operator"),
    # Unicode and garbage in the path.
    ("path_id_garbage", "GET", "/v1/privacy-requests/%FF%FE%00", {}, "app"),
    (
        "path_id_emoji",
        "POST",
        "/v1/privacy-requests/%F0%9F%98%80/accept",
        {"json": {"handling": "manual"}},
        "operator",
    ),
    ("path_customer_garbage", "GET", "/v1/customers/%FF%00%E2%80%AE", {}, "operator"),
    ("path_customer_long", "GET", "/v1/customers/" + "c" * 5000, {}, "operator"),
    ("path_api_key_garbage", "DELETE", "/v1/api-keys/%FF", {}, "admin"),
    ("path_download_garbage", "GET", "/v1/downloads/%FF%FE%00", {}, None),
    ("path_traversal", "GET", "/v1/downloads/..%2F..%2F..%2Fetc%2Fpasswd", {}, None),
    ("path_unknown", "GET", "/v1/%F0%9F%98%80", {}, None),
    # Garbage in headers.
    (
        "auth_latin1",
        "GET",
        "/v1/privacy-requests",
        {"headers": [(b"authorization", b"Bearer prk_\xff\xfe")]},
        None,
    ),
    ("auth_nul", "GET", "/v1/privacy-requests", {"headers": [(b"authorization", b"Bearer prk_\x00")]}, None),
    (
        "auth_huge",
        "GET",
        "/v1/privacy-requests",
        {"headers": {"authorization": "Bearer prk_" + "k" * 100_000}},
        None,
    ),
    ("auth_scheme_garbage", "GET", "/v1/stats", {"headers": [(b"authorization", b"\xff\xfe prk_x")]}, None),
    (
        "idempotency_huge",
        "POST",
        "/v1/privacy-requests",
        {"json": {"type": "access", "email": "a@example.org"}, "headers": {"idempotency-key": "k" * 10_000}},
        "app",
    ),
    (
        "accept_language_garbage",
        "GET",
        "/v1/verify?token=x",
        {"headers": [(b"accept-language", b"\xff\xfe\x00de")]},
        None,
    ),
    ("accept_garbage", "GET", "/v1/stats", {"headers": [(b"accept", b"\xff\x00")]}, "operator"),
    (
        "content_length_lies",
        "POST",
        "/v1/verify",
        {"content": b'{"token":"x"}', "headers": {"content-length": "99999999999"}},
        None,
    ),
]


# Garbage the service may rightly ignore: answered as if it were not there (or with a 4xx), never with a 5xx.
IGNORABLE = {"accept_garbage"}


def _headers(kwargs: dict[str, Any], role: str | None, keys: dict[str, str]) -> dict[str, Any]:
    kwargs = dict(kwargs)
    headers = kwargs.pop("headers", {})
    extra = list(headers.items()) if isinstance(headers, dict) else list(headers)
    if role is not None:
        extra.append(("authorization", bearer(keys[role])["Authorization"]))
    if "content" in kwargs and not any(
        str(k).lower() in ("content-type", "b'content-type'") for k, _ in extra
    ):
        extra.append(("content-type", "application/json"))
    return {**kwargs, "headers": extra}


def assert_contract_error(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    if response.headers.get("content-type", "").startswith("text/html"):
        assert response.status_code in (404, 410)  # the customer's link pages
        return
    body = response.json()
    assert isinstance(body["error"], str)
    assert body["error"].replace("_", "").isalpha()
    assert body["error"] == body["error"].lower()
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert set(body) <= {"error", "detail", "fields"}
    if body["error"] == "validation_error":
        assert all(set(f) == {"field", "detail"} for f in body["fields"])


@pytest.mark.parametrize(("name", "method", "path", "kwargs", "role"), CASES, ids=[c[0] for c in CASES])
async def test_malformed_input_is_a_4xx_with_the_contract_body(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    name: str,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    role: str | None,
) -> None:
    # The ASGI transport re-raises anything the app lets escape, so a crash fails here, not as a 500.
    response = await client.request(method, path, **_headers(kwargs, role, keys))
    if name in IGNORABLE and response.status_code < 300:
        # Ignored, then: the same answer as to the same call without the garbage.
        plain = {key: value for key, value in kwargs.items() if key != "headers"}
        expected = await client.request(method, path, **_headers(plain, role, keys))
        assert expected.status_code < 300, expected.text
        assert (response.status_code, response.json()) == (expected.status_code, expected.json())
    else:
        assert_contract_error(response)


def _json_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


KEY = "2026-12-02T00:00:00+00:00"
GOOD = {"s": "-received_at", "k": KEY, "i": ID}

# Cursors the API never hands out (review issue 8: an "i" that is not a string was a 500).
TAMPERED_CURSORS: list[tuple[str, str]] = [
    ("id_number", _json_cursor({**GOOD, "i": 123})),
    ("id_huge_number", _json_cursor({**GOOD, "i": 10**400})),
    ("id_true", _json_cursor({**GOOD, "i": True})),
    ("id_null", _json_cursor({**GOOD, "i": None})),
    ("id_list", _json_cursor({**GOOD, "i": [ID]})),
    ("id_object", _json_cursor({**GOOD, "i": {"hex": ID}})),
    ("id_not_a_uuid", _json_cursor({**GOOD, "i": "123"})),
    ("id_in_braces", _json_cursor({**GOOD, "i": "{" + ID + "}"})),
    ("id_urn", _json_cursor({**GOOD, "i": "urn:uuid:" + ID})),
    ("key_number", _json_cursor({**GOOD, "k": 1764633600})),
    ("key_float", _json_cursor({**GOOD, "k": 1e308})),
    ("key_null", _json_cursor({**GOOD, "k": None})),
    ("key_list", _json_cursor({**GOOD, "k": [2026, 12, 2]})),
    ("key_object", _json_cursor({**GOOD, "k": {"$date": KEY}})),
    ("key_not_a_time", _json_cursor({**GOOD, "k": "yesterday"})),
    ("key_without_zone", _json_cursor({**GOOD, "k": "2026-12-02T00:00:00"})),
    ("key_other_zone", _json_cursor({**GOOD, "k": "2026-12-02T01:00:00+01:00"})),
    ("key_far_future", _json_cursor({**GOOD, "k": "9999-12-31T23:59:59-23:00"})),
    ("sort_number", _json_cursor({**GOOD, "s": 1})),
    ("sort_null", _json_cursor({**GOOD, "s": None})),
    ("sort_list", _json_cursor({**GOOD, "s": ["-received_at"]})),
    ("sort_other_order", _json_cursor({**GOOD, "s": "due_at"})),
    ("missing_id", _json_cursor({"s": "-received_at", "k": KEY})),
    ("extra_field", _json_cursor({**GOOD, "x": 1})),
    ("empty_object", _json_cursor({})),
    ("array", _json_cursor(["-received_at", KEY, ID])),
    ("string", _json_cursor("-received_at")),
    ("number", _json_cursor(5)),
    ("null", _json_cursor(None)),
    ("true", _json_cursor(True)),
    ("nan", base64.urlsafe_b64encode(b'{"s":"-received_at","k":NaN,"i":1}').decode()),
    ("not_json", base64.urlsafe_b64encode(b"cursor!").decode()),
    ("truncated_json", base64.urlsafe_b64encode(b'{"s":"-received_at",').decode()),
    ("not_utf8", base64.urlsafe_b64encode(b'{"s":"\xff"}').decode()),
    ("deeply_nested", base64.urlsafe_b64encode(b'{"s":' + nested(5_000) + b"}").decode()),
    ("not_base64", "%%%%"),
    ("non_ascii", "\u00e9t\u00e9"),
    ("one_char", "A"),
]


@pytest.mark.parametrize("cursor", [c for _, c in TAMPERED_CURSORS], ids=[n for n, _ in TAMPERED_CURSORS])
async def test_a_cursor_the_api_did_not_return_is_a_422_naming_the_cursor(
    client: httpx.AsyncClient, keys: dict[str, str], cursor: str
) -> None:
    response = await client.get(
        "/v1/privacy-requests", params={"cursor": cursor}, headers=bearer(keys["operator"])
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_error"
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert [field["field"] for field in body["fields"]] == ["cursor"]
    assert_contract_error(response)


async def test_a_cursor_the_api_returned_still_pages(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    for n in range(3):
        await client.post(
            "/v1/privacy-requests",
            json={"type": "access", "email": f"page{n}@example.org"},
            headers=bearer(keys["app"]),
        )
    operator = bearer(keys["operator"])
    first = (await client.get("/v1/privacy-requests", params={"limit": 2}, headers=operator)).json()
    assert first["next_cursor"] is not None
    second = await client.get(
        "/v1/privacy-requests", params={"limit": 2, "cursor": first["next_cursor"]}, headers=operator
    )
    assert second.status_code == 200, second.text
    emails = [item["email"] for item in first["items"] + second.json()["items"]]
    assert sorted(emails) == ["page0@example.org", "page1@example.org", "page2@example.org"]


async def test_a_body_over_the_limit_is_refused_even_when_streamed(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"type":"access","email":"stream@example.org","x":"'
        for _ in range(MAX_BODY_BYTES // 65_536 + 2):
            yield b"a" * 65_536
        yield b'"}'

    response = await client.post(
        "/v1/privacy-requests", content=chunks(), headers={**bearer(keys["app"]), **JSON}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    listing = await client.get("/v1/privacy-requests", headers=bearer(keys["operator"]))
    assert listing.json()["items"] == []


async def test_a_body_within_the_limit_is_still_accepted(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    padding = "a" * (MAX_BODY_BYTES - 200)
    response = await client.post(
        "/v1/privacy-requests",
        json={"type": "access", "email": "big@example.org", "padding": padding},
        headers=bearer(keys["app"]),
    )
    assert response.status_code == 201


async def test_a_lying_content_length_is_refused_before_the_body_is_read(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/verify", content=b"{}", headers={"content-length": str(MAX_BODY_BYTES + 1), **JSON}
    )
    assert response.status_code == 413
    assert response.json() == {"error": "payload_too_large", "detail": response.json()["detail"]}


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", "a\u0000b@example.org"), ("channel", "ios\u0000"), ("customer_id", "cus_1\u0000")],
)
async def test_nul_characters_never_cause_a_server_error(
    client: httpx.AsyncClient, keys: dict[str, str], field: str, value: str
) -> None:
    body = {"type": "access", "email": "nul@example.org", field: value}
    response = await client.post("/v1/privacy-requests", json=body, headers=bearer(keys["app"]))
    assert response.status_code < 500, response.text
    listing = await client.get(
        "/v1/privacy-requests", params={"email": "a\u0000b@example.org"}, headers=bearer(keys["operator"])
    )
    assert listing.status_code < 500, listing.text
    keyed = await client.post(
        "/v1/privacy-requests",
        json={"type": "access", "email": "key@example.org"},
        headers={**bearer(keys["app"]), "Idempotency-Key": "k\u0000"},
    )
    assert keyed.status_code < 500, keyed.text


async def test_control_characters_are_refused_by_validation(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/privacy-requests",
        json={"type": "access", "email": "a\u0000b@example.org"},
        headers=bearer(keys["app"]),
    )
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "email"
