"""No secret, link token or API key appears in a log line, a timeline event or an error body."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from app.main import create_app

from ..conftest import SECRET, bearer, role_keys
from ..helpers import detail, mailbox, text_of
from .flows import DOWNLOAD_LINK, VERIFY_LINK, access_with_download, deletion_with_token
from .live_server import live_server


class Recorder:
    """Every response the flow saw, to search the error bodies afterwards."""

    def __init__(self) -> None:
        self.responses: list[httpx.Response] = []

    async def hook(self, response: httpx.Response) -> None:
        await response.aread()
        self.responses.append(response)


def log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The service's log lines, formatted as a handler would write them (message and traceback)."""
    lines = []
    for record in caplog.records:
        message = record.getMessage()
        # httpx logs the requests the *test* client sends to the in-process app; they are not the service's.
        if record.name.startswith(("httpx", "httpcore")) and "http://testserver" in message:
            continue
        lines.append(f"{record.name} {record.levelname} {message} {record.exc_text or ''}")
    return lines


def assert_nothing_secret(texts: list[str], secrets_: dict[str, str]) -> None:
    for name, secret in secrets_.items():
        for text in texts:
            assert secret not in text, f"the {name} leaked into: {text[:300]}"


async def test_no_secret_in_logs_events_or_error_bodies(
    app: FastAPI, keys: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    recorder = Recorder()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", event_hooks={"response": [recorder.hook]}
    ) as client:
        deletion, verify_token = await deletion_with_token(client, app, keys)
        assert (await client.get("/v1/verify", params={"token": verify_token})).status_code == 200
        assert (await client.post("/v1/verify", data={"token": verify_token})).status_code == 200
        await client.post("/v1/verify", data={"token": verify_token})  # reused: 404
        await client.post("/v1/verify", json={"token": verify_token})  # reused: 404 JSON
        await app.state.worker.run_until_idle()
        access, download_token = await access_with_download(client, app, keys, email="grace@example.com")
        assert (await client.get(f"/v1/downloads/{download_token}")).status_code == 200
        await client.get(f"/v1/downloads/{download_token[:-1]}x")  # tampered: 404

        created = await client.post(
            "/v1/api-keys", json={"name": "ios-app", "role": "app"}, headers=bearer(keys["admin"])
        )
        new_key = created.json()["key"]
        await client.post(
            "/v1/privacy-requests", json={"type": "access", "email": "x@example.org"}, headers=bearer(new_key)
        )
        revoked = await client.delete(f"/v1/api-keys/{created.json()['id']}", headers=bearer(keys["admin"]))
        assert revoked.status_code == 200
        refused = await client.get(f"/v1/privacy-requests/{access['id']}", headers=bearer(new_key))
        assert refused.status_code == 401
        await client.get("/v1/stats", headers=bearer(keys["app"]))  # 403
        await client.post(
            "/v1/api-keys", json={"name": new_key, "role": "root"}, headers=bearer(keys["admin"])
        )

        events: list[dict[str, Any]] = []
        for request_id in (deletion["id"], access["id"]):
            events += (await detail(client, keys["operator"], request_id))["events"]

    secrets_ = {
        "SECRET_KEY": SECRET,
        "confirmation token": verify_token,
        "download token": download_token,
        "new API key": new_key,
        **{f"{role} API key": key for role, key in keys.items()},
    }
    assert {e["action"] for e in events} >= {"received", "confirmed", "processed", "package_downloaded"}
    assert_nothing_secret([f"{e['action']} {e['actor']} {e['detail']}" for e in events], secrets_)

    errors = [r for r in recorder.responses if r.status_code >= 400]
    assert {r.status_code for r in errors} >= {401, 403, 404, 422}
    assert_nothing_secret([r.text for r in errors], secrets_)
    assert_nothing_secret([str(dict(r.headers)) for r in recorder.responses], secrets_)
    # Secrets are only shown where they belong: the new key once, the links in the customer's emails.
    assert_nothing_secret(
        [
            r.text
            for r in recorder.responses
            if r is not created
            and r.status_code < 400
            and "application/zip" not in r.headers.get("content-type", "")
            and not r.headers.get("content-type", "").startswith("text/html")
        ],
        secrets_,
    )

    assert_nothing_secret(log_lines(caplog), secrets_)


def test_the_access_log_of_a_real_server_masks_link_tokens(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    # Another test's uvicorn may have applied uvicorn's logging config, which stops this logger propagating.
    monkeypatch.setattr(logging.getLogger("uvicorn.access"), "propagate", True)
    application = create_app(settings, run_worker=False)
    with live_server(application) as server, httpx.Client(base_url=server.base_url) as http:
        keys = server.run(role_keys(server.app))
        app_key, operator_key = keys["app"], keys["operator"]
        submitted = http.post(
            "/v1/privacy-requests",
            json={"type": "deletion", "email": "ada@example.com"},
            headers=bearer(app_key),
        )
        assert submitted.status_code == 201
        access = http.post(
            "/v1/privacy-requests",
            json={"type": "access", "email": "grace@example.com"},
            headers=bearer(app_key),
        )
        accepted = http.post(
            f"/v1/privacy-requests/{access.json()['id']}/accept",
            json={"handling": "automatic"},
            headers=bearer(operator_key),
        )
        assert accepted.status_code == 200
        server.run(server.app.state.worker.run_until_idle())
        texts = [text_of(m) for m in mailbox(settings.mail_dir)]
        verify_token = next(m.group(1) for t in texts if (m := VERIFY_LINK.search(t)))
        download_token = next(m.group(1) for t in texts if (m := DOWNLOAD_LINK.search(t)))
        assert http.get("/v1/verify", params={"token": verify_token}).status_code == 200
        assert http.get(f"/v1/downloads/{download_token}").status_code == 200
        assert http.post("/v1/verify", data={"token": verify_token}).status_code == 200
        searched = http.get(
            "/v1/privacy-requests", params={"email": "grace@example.com"}, headers=bearer(operator_key)
        )
        assert searched.status_code == 200

    access_lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert any("/v1/verify?token=[redacted]" in line for line in access_lines), access_lines
    assert any("/v1/privacy-requests?email=[redacted]" in line for line in access_lines), access_lines
    assert not [line for line in access_lines if "grace@example.com" in line]
    assert any("/v1/downloads/[redacted]" in line for line in access_lines), access_lines
    served = [line for line in log_lines(caplog) if not re.search(r"httpx .*127\.0\.0\.1", line)]
    assert_nothing_secret(
        served,
        {
            "confirmation token": verify_token,
            "download token": download_token,
            "app key": app_key,
            "operator key": operator_key,
            "SECRET_KEY": SECRET,
        },
    )
