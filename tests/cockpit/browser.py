"""What the browser tests and `make screenshots` share: the real service on 127.0.0.1 with a CRM source, an
operator, requests to work on, and signing in the way a person does (the link from the email)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from app.auth import operators
from app.auth.keys import Role, create_key
from app.core.config import Settings
from app.core.db import unit_of_work
from app.main import create_app

from ..conftest import bearer, make_settings
from ..helpers import mailbox, text_of
from ..security.live_server import LiveServer, free_port, live_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OPERATOR_EMAIL = "mia@brand.test"
OPERATOR_NAME = "Mia Schmidt"
OPERATOR = f"{OPERATOR_NAME} <{OPERATOR_EMAIL}>"
SIGN_IN_LINK = re.compile(r"https?://\S+/cockpit/sign-in/link\?token=[A-Za-z0-9_\-]+")


def chromium_available() -> bool:
    return shutil.which(CHROMIUM) is not None


@contextmanager
def cockpit_server(
    database_url: str, tmp_path: Path, sources_file: Path, **overrides: Any
) -> Iterator[LiveServer]:
    """The service on a free port (its links point at it), with the worker run on demand (``server.run(...)``)."""
    port = free_port()
    settings = make_settings(
        database_url,
        tmp_path,
        sources_file,
        public_base_url=f"http://127.0.0.1:{port}",
        port=port,
        **overrides,
    )
    with live_server(create_app(settings, run_worker=False), port=port) as server:
        yield server


def settings_of(server: LiveServer) -> Settings:
    settings: Settings = server.app.state.ctx.settings
    return settings


def work(server: LiveServer) -> None:
    """Run the worker until it has nothing left to do (emails sent, packages built)."""
    server.run(server.app.state.worker.run_until_idle())


def add_operator(server: LiveServer, *, email: str = OPERATOR_EMAIL, name: str = OPERATOR_NAME) -> None:
    async def create() -> None:
        async with unit_of_work(server.app.state.sessionmaker) as session:
            await operators.create_operator(session, email=email, name=name, role="operator")

    server.run(create())


def app_key(server: LiveServer) -> str:
    async def create() -> str:
        async with unit_of_work(server.app.state.sessionmaker) as session:
            _key, plaintext = await create_key(session, name="web", role=Role.APP)
        return plaintext

    return server.run(create())


def operator_key(server: LiveServer) -> str:
    async def create() -> str:
        async with unit_of_work(server.app.state.sessionmaker) as session:
            _key, plaintext = await create_key(session, name="checks", role=Role.OPERATOR)
        return plaintext

    return server.run(create())


def submit(http: httpx.Client, key: str, **body: Any) -> dict[str, Any]:
    response = http.post("/v1/privacy-requests", json=body, headers=bearer(key))
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


def sign_in_link(server: LiveServer, email: str = OPERATOR_EMAIL) -> str:
    """The sign-in link of the newest email to ``email``, as the person's mail program shows it."""
    work(server)
    for message in reversed(mailbox(settings_of(server).mail_dir)):
        found = SIGN_IN_LINK.search(text_of(message))
        if message["To"] == email and found:
            return found.group(0)
    raise AssertionError(f"no sign-in email to {email}")


def sign_in(page: Any, server: LiveServer, *, email: str = OPERATOR_EMAIL) -> None:
    """From a cockpit address to the signed-in list: the email form, the link from the email, the button."""
    page.goto(f"{server.base_url}/cockpit")
    assert "/cockpit/sign-in" in page.url
    page.fill("input[name=email]", email)
    with page.expect_navigation():
        page.locator("form[action='/cockpit/sign-in'] button[type=submit]").click()
    page.goto(sign_in_link(server, email))
    with page.expect_navigation(url=f"{server.base_url}/cockpit"):
        page.locator("form[action='/cockpit/sign-in/link'] button[type=submit]").click()


def seed(server: LiveServer, http: httpx.Client, key: str) -> dict[str, dict[str, Any]]:
    """Requests as a team finds them on a Monday: access and deletion requests of known and unknown people."""
    made = {
        "ada": submit(http, key, type="access", email="ada@example.com", channel="ios"),
        "bob": submit(http, key, type="access", email="bob@example.com", channel="web"),
        "grace": submit(
            http, key, type="deletion", email="grace@example.com", channel="android", locale="de"
        ),
    }
    for number in range(3):
        made[f"batch{number}"] = submit(http, key, type="access", email=f"batch{number}@example.com")
    for number in range(2):
        made[f"old{number}"] = submit(http, key, type="deletion", email=f"old{number}@example.com")
    work(server)
    return made


def status_of(http: httpx.Client, key: str, request_id: str) -> str:
    response = http.get(f"/v1/privacy-requests/{request_id}", headers=bearer(key))
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status
