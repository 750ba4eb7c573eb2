"""Every log line says whom it was written for: the HTTP request's id (echoed in ``X-Request-ID``), or the
job's id and kind (tests/processing/test_retry_budget.py)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from app.core.correlation import job_scope, request_scope
from app.core.logging import CONTEXT_FILTER, ContextFormatter, redact
from app.main import create_app

from .conftest import bearer
from .factories import write_crm
from .security.live_server import live_server

NEW_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def sources_file(tmp_path: Path) -> Path:
    """The CRM directory, broken (its SQLite file is garbage): a submit logs the retries, then the outage."""
    path = write_crm(tmp_path / "crm")
    (path.parent / "crm.db").write_bytes(b"this is not a database\n" * 400)
    return path


def service_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    # httpx logs the requests the *test* client sends, after the answer, outside the service.
    return [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]


async def test_a_requests_log_lines_carry_its_id_and_the_answer_echoes_it(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(CONTEXT_FILTER)  # what the CLI's handler does (app.core.logging)
    body = {"type": "access", "email": "x@example.com"}
    with caplog.at_level(logging.INFO):
        traced = await client.post(
            "/v1/privacy-requests",
            json=body,
            headers={**bearer(keys["app"]), "X-Request-ID": "support-ticket-42"},
        )
        traced_lines = service_lines(caplog)
        caplog.clear()
        fresh = await client.post("/v1/privacy-requests", json=body, headers=bearer(keys["app"]))
        fresh_lines = service_lines(caplog)

    assert traced.status_code == 503
    assert traced.headers["X-Request-ID"] == "support-ticket-42"
    # The directory was asked three times (two retries logged), then the outage was logged: all of it
    # under the request's id.
    assert [r.name for r in traced_lines] == ["app.sources", "app.sources", "app.core.errors"]
    assert {getattr(r, "request_id", None) for r in traced_lines} == {"support-ticket-42"}
    assert all(getattr(r, "context", None) == " request_id=support-ticket-42" for r in traced_lines)

    fresh_id = fresh.headers["X-Request-ID"]
    assert NEW_ID.fullmatch(fresh_id)
    assert fresh_lines
    assert {getattr(r, "request_id", None) for r in fresh_lines} == {fresh_id}


@pytest.mark.parametrize(
    "sent",
    [
        b"",
        b"has space",
        b"x" * 65,
        "caf\u00e9".encode(),
        b"tab\there",
        b"ada@example.com",  # could be a customer's address: never on every log line
        b"prk_0123456789abcdef",  # an API key the logs would mask
    ],
    ids=["empty", "space", "too-long", "not-ascii", "control", "email", "api-key"],
)
async def test_an_invalid_incoming_request_id_is_replaced(client: httpx.AsyncClient, sent: bytes) -> None:
    answered = await client.get("/healthz", headers=[(b"X-Request-ID", sent)])
    assert answered.status_code == 200
    assert answered.headers["X-Request-ID"].encode() != sent
    assert NEW_ID.fullmatch(answered.headers["X-Request-ID"])


async def test_a_sane_incoming_request_id_is_kept_and_two_are_replaced(client: httpx.AsyncClient) -> None:
    sane = "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f"[:64]
    kept = await client.get("/healthz", headers={"X-Request-ID": sane})
    assert kept.headers["X-Request-ID"] == sane
    two = await client.get("/healthz", headers=[(b"X-Request-ID", b"one"), (b"X-Request-ID", b"two")])
    assert NEW_ID.fullmatch(two.headers["X-Request-ID"])


def test_a_real_servers_access_log_lines_carry_the_request_id(
    settings: Settings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(CONTEXT_FILTER)
    # Another test's uvicorn may have applied uvicorn's logging config, which stops this logger propagating.
    monkeypatch.setattr(logging.getLogger("uvicorn.access"), "propagate", True)
    with live_server(create_app(settings, run_worker=False)) as server:
        answered = httpx.get(f"{server.base_url}/healthz", headers={"X-Request-ID": "lb-7f3a"})
    assert answered.headers["X-Request-ID"] == "lb-7f3a"
    # (A handler another test left on the access logger may capture the same record twice.)
    access = [r for r in caplog.records if r.name == "uvicorn.access" and "/healthz" in r.getMessage()]
    assert access
    assert {getattr(r, "request_id", None) for r in access} == {"lb-7f3a"}


def test_the_formatter_writes_the_request_or_the_job() -> None:
    formatter = ContextFormatter()

    def line(message: str) -> str:
        record = logging.LogRecord("app.test", logging.INFO, __file__, 1, message, None, None)
        return formatter.format(record).split(" ", 2)[2]  # without the time

    with request_scope("abc"):
        assert line("answered") == "INFO app.test request_id=abc: answered"
    with job_scope("42", "erasure"):
        assert line("erased") == "INFO app.test job_id=42 job_kind=erasure: erased"
    assert line("started") == "INFO app.test: started"


async def test_an_unexpected_errors_line_and_answer_carry_the_id(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/broken-for-the-test", broken)
    caplog.handler.addFilter(CONTEXT_FILTER)
    # The server-error handler answers 500, then re-raises for the server to log: not for this client.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        answered = await http.get("/broken-for-the-test", headers={"X-Request-ID": "bug-report-1"})

    assert answered.status_code == 500
    assert answered.headers["X-Request-ID"] == "bug-report-1"
    [line] = [r for r in caplog.records if r.name == "app.core.errors"]
    assert line.getMessage() == "unexpected error"
    assert getattr(line, "request_id", None) == "bug-report-1"


def test_secrets_are_masked_wherever_they_stand_and_other_text_is_left_as_it_is() -> None:
    line = (
        '127.0.0.1:5 - "GET /v1/verify?lang=de&token=Zq9-x_y HTTP/1.1" 200; /v1/downloads/Tk_1.zip?x=1; '
        "Bearer prk_AbC-9_z; /v1/privacy-requests?status=pending&email=ada%40example.com#top"
    )
    assert redact(line) == (
        '127.0.0.1:5 - "GET /v1/verify?lang=de&token=[redacted] HTTP/1.1" 200; /v1/downloads/[redacted]?x=1; '
        "Bearer prk_[redacted]; /v1/privacy-requests?status=pending&email=[redacted]#top"
    )
    # Each text a secret comes with, where no secret follows it: nothing to mask.
    plain = "mytoken=1 /v1/downloads/ xprk_1 subject=email=?"
    assert redact(plain) == plain
