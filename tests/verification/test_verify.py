"""The confirmation link of a deletion request, followed the way the customer's browser (or a mail scanner)
follows it: tokens come from the confirmation email the worker wrote to the mailbox."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.core import clock
from app.core.config import Settings
from app.models import Job

from ..conftest import bearer
from ..helpers import detail, mailbox, submit, text_of

LINK = re.compile(r"http://privacy\.brand\.test/v1/verify\?token=[A-Za-z0-9_-]+")


async def _deletion(client: httpx.AsyncClient, keys: dict[str, str], email: str, **body: Any) -> str:
    request = await submit(client, keys["app"], type="deletion", email=email, **body)
    assert request["status"] == "unverified"
    return str(request["id"])


async def _links(app: FastAPI, mail_dir: Path, to: str) -> list[str]:
    """The verify links mailed to ``to``, oldest first (runs the worker so the outbox is delivered)."""
    await app.state.worker.run_until_idle()
    found = []
    for message in mailbox(mail_dir):
        if message["To"] == to and message["Subject"] and "verify?token=" in text_of(message):
            match = LINK.search(text_of(message))
            assert match is not None
            found.append(match.group(0))
    return found


def _path(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def _token(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


async def _erasure_jobs(app: FastAPI, request_id: str) -> list[Job]:
    async with app.state.sessionmaker() as session:
        query = select(Job).where(Job.kind == "erasure")
        return [job for job in (await session.scalars(query)).all() if str(job.request_id) == request_id]


def _assert_strict_headers(response: httpx.Response) -> None:
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["content-type"].startswith("text/html")


async def test_opening_the_link_shows_the_page_and_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    request_id = await _deletion(client, keys, "ada@example.com")
    [link] = await _links(app, settings.mail_dir, "ada@example.com")
    before = await detail(client, keys["operator"], request_id)

    for _ in range(2):  # a mail scanner, then the customer
        page = await client.get(_path(link))
        assert page.status_code == 200, page.text
        _assert_strict_headers(page)
        assert "Confirm deletion" in page.text
        assert f'value="{_token(link)}"' in page.text
        assert "ada@example.com" in page.text

    after = await detail(client, keys["operator"], request_id)
    assert after["status"] == "unverified"
    assert after["events"] == before["events"]
    assert await _erasure_jobs(app, request_id) == []


async def test_form_post_confirms_once(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    request_id = await _deletion(client, keys, "ada@example.com")
    [link] = await _links(app, settings.mail_dir, "ada@example.com")

    confirmed = await client.post("/v1/verify", data={"token": _token(link)})
    assert confirmed.status_code == 200, confirmed.text
    _assert_strict_headers(confirmed)
    assert "ada@example.com" in confirmed.text

    request = await detail(client, keys["operator"], request_id)
    assert request["status"] == "in_progress"
    assert request["verified_at"] is not None
    assert request["events"][-1]["action"] == "confirmed"
    assert request["events"][-1]["actor"] == "customer"
    [job] = await _erasure_jobs(app, request_id)
    assert job.status == "queued"

    # The token works once: the link, a second form post and a JSON post all answer 404 now.
    assert (await client.get(_path(link))).status_code == 404
    again = await client.post("/v1/verify", data={"token": _token(link)})
    assert again.status_code == 404
    _assert_strict_headers(again)
    as_json = await client.post("/v1/verify", json={"token": _token(link)})
    assert as_json.status_code == 404
    assert as_json.json()["error"] == "not_found"
    assert len(await _erasure_jobs(app, request_id)) == 1
    assert len((await detail(client, keys["operator"], request_id))["events"]) == len(request["events"])


async def test_json_post_confirms(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    request_id = await _deletion(client, keys, "grace@example.com", locale="de")
    [link] = await _links(app, settings.mail_dir, "grace@example.com")

    response = await client.post("/v1/verify", json={"token": _token(link)})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"id": request_id, "status": "in_progress"}
    request = await detail(client, keys["operator"], request_id)
    assert request["status"] == "in_progress"
    assert request["events"][-1]["actor"] == "customer"
    assert len(await _erasure_jobs(app, request_id)) == 1


async def test_expired_link_answers_410_and_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    clock.freeze(datetime(2030, 3, 1, 9, 0, tzinfo=UTC))
    request_id = await _deletion(client, keys, "ada@example.com")
    [link] = await _links(app, settings.mail_dir, "ada@example.com")
    before = await detail(client, keys["operator"], request_id)

    clock.advance(settings.verification_ttl + timedelta(seconds=1))
    page = await client.get(_path(link))
    assert page.status_code == 410
    _assert_strict_headers(page)
    form = await client.post("/v1/verify", data={"token": _token(link)})
    assert form.status_code == 410
    _assert_strict_headers(form)
    as_json = await client.post("/v1/verify", json={"token": _token(link)})
    assert as_json.status_code == 410
    assert as_json.json()["error"] == "gone"

    after = await detail(client, keys["operator"], request_id)
    assert after["status"] == "unverified"
    assert after["verified_at"] is None
    assert after["events"] == before["events"]
    assert await _erasure_jobs(app, request_id) == []


async def test_link_still_works_just_before_it_expires(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    clock.freeze(datetime(2030, 3, 1, 9, 0, tzinfo=UTC))
    request_id = await _deletion(client, keys, "ada@example.com")
    [link] = await _links(app, settings.mail_dir, "ada@example.com")
    clock.advance(settings.verification_ttl - timedelta(seconds=1))
    response = await client.post("/v1/verify", json={"token": _token(link)})
    assert response.status_code == 200, response.text
    assert (await detail(client, keys["operator"], request_id))["status"] == "in_progress"


async def test_tampered_or_malformed_token_is_404(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    request_id = await _deletion(client, keys, "ada@example.com")
    [link] = await _links(app, settings.mail_dir, "ada@example.com")
    token = _token(link)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")

    for bad in (tampered, token[:20], "", "x" * 43, token + "A"):
        page = await client.get("/v1/verify", params={"token": bad})
        assert page.status_code == 404, (bad, page.status_code)
        _assert_strict_headers(page)
        response = await client.post("/v1/verify", json={"token": bad})
        # Only the empty token is a missing field; every other wrong token is an unknown link.
        expected = (422, "validation_error") if bad == "" else (404, "not_found")
        assert (response.status_code, response.json()["error"]) == expected, bad
    assert (await client.post("/v1/verify", data={"token": tampered})).status_code == 404
    assert (await detail(client, keys["operator"], request_id))["status"] == "unverified"


async def test_resend_replaces_the_link(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    request_id = await _deletion(client, keys, "ada@example.com")
    [old_link] = await _links(app, settings.mail_dir, "ada@example.com")

    resent = await client.post(
        f"/v1/privacy-requests/{request_id}/resend-verification", headers=bearer(keys["operator"])
    )
    assert resent.status_code == 200, resent.text
    assert resent.json()["status"] == "unverified"
    links = await _links(app, settings.mail_dir, "ada@example.com")
    assert len(links) == 2
    new_link = next(link for link in links if link != old_link)

    assert (await client.get(_path(old_link))).status_code == 404
    assert (await client.post("/v1/verify", json={"token": _token(old_link)})).status_code == 404
    assert (await client.get(_path(new_link))).status_code == 200
    confirmed = await client.post("/v1/verify", json={"token": _token(new_link)})
    assert confirmed.status_code == 200, confirmed.text
    assert (await detail(client, keys["operator"], request_id))["status"] == "in_progress"
