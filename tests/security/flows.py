"""Walk a request to the point where a customer holds a link: the confirmation token, the download token."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi import FastAPI

from ..helpers import accept, detail, mailbox, submit, text_of

VERIFY_LINK = re.compile(r"/v1/verify\?token=([A-Za-z0-9_-]{43})")
DOWNLOAD_LINK = re.compile(r"/v1/downloads/([A-Za-z0-9_-]{43})")


def last_link(app: FastAPI, pattern: re.Pattern[str]) -> str:
    """The token in the newest email that carries a link of ``pattern``'s kind."""
    for message in reversed(mailbox(app.state.ctx.settings.mail_dir)):
        found = pattern.search(text_of(message))
        if found:
            return found.group(1)
    raise AssertionError(f"no email carries a link like {pattern.pattern}")


async def deletion_with_token(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str], email: str = "ada@example.com"
) -> tuple[dict[str, Any], str]:
    """A deletion request awaiting confirmation and the token of its confirmation email."""
    request = await submit(client, keys["app"], type="deletion", email=email)
    await app.state.worker.run_until_idle()
    return request, last_link(app, VERIFY_LINK)


async def access_with_download(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str], email: str = "ada@example.com"
) -> tuple[dict[str, Any], str]:
    """A processed access request (automatic handling) and the token of its data-ready email."""
    request = await submit(client, keys["app"], type="access", email=email)
    await accept(client, keys["operator"], request["id"], "automatic")
    await app.state.worker.run_until_idle()
    assert (await detail(client, keys["operator"], request["id"]))["status"] == "processed"
    return request, last_link(app, DOWNLOAD_LINK)


async def snapshot(client: httpx.AsyncClient, keys: dict[str, str], request_id: str) -> dict[str, Any]:
    """What a refused link must leave untouched: the status, the timestamps and the timeline."""
    view = await detail(client, keys["operator"], request_id)
    view.pop("days_left")
    return view
