"""The customer's side of the outbox: which emails the service wrote (kind, recipient, from the ``emails``
table) and what each said (the message as delivered, matched by its Message-ID)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import select

from app.models import Email

from ..helpers import mailbox, text_of


@dataclass(frozen=True)
class Sent:
    kind: str
    to: str
    text: str  # the plain-text part as delivered ("" while not delivered yet)


async def sent(app: FastAPI, *, kind: str | None = None, to: str | None = None) -> list[Sent]:
    """Emails the service wrote, oldest first, with their delivered text; filtered by ``kind`` and ``to``."""
    mail_dir: Path = app.state.ctx.settings.mail_dir
    delivered = {str(message["Message-ID"]): text_of(message) for message in mailbox(mail_dir)}
    query = select(Email.kind, Email.to_address, Email.message_id).order_by(Email.created_at)
    async with app.state.sessionmaker() as session:
        rows = (await session.execute(query)).all()
    return [
        Sent(kind=row.kind, to=row.to_address, text=delivered.get(row.message_id, ""))
        for row in rows
        if (kind is None or row.kind == kind) and (to is None or row.to_address == to)
    ]


async def kinds_to(app: FastAPI, address: str) -> list[str]:
    """The kinds of the emails to ``address``, oldest first."""
    return [email.kind for email in await sent(app, to=address)]
