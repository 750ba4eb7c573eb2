"""Which email a change causes, written to the outbox in the change's own transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import repository as timeline
from app.audit.repository import SYSTEM
from app.core.context import ServiceContext
from app.models import PrivacyRequest
from app.notifications.outbox import email_context, enqueue_email


async def email_customer(
    session: AsyncSession, ctx: ServiceContext, request: PrivacyRequest, kind: str, **context: Any
) -> bool:
    """Queue ``kind`` to the request's address; without one, the timeline says no email could be sent.

    A matched customer's mail goes to the directory's address on file, never to a submitted one (section 7).
    """
    address = request.customer_email if request.customer_id is not None else request.email
    if address is None:
        timeline.record(
            session,
            request_id=request.id,
            action="email_skipped",
            actor=SYSTEM,
            detail=f"{kind}: no email address",
        )
        return False
    await enqueue_email(
        session,
        kind=kind,
        to=address,
        locale=request.locale,
        context={"request": email_context(request), "base_url": ctx.settings.base_url, **context},
        request_id=request.id,
        mail_from_domain=ctx.mail_domain,
        secret_key=ctx.secret_key,
        settings=ctx.settings,
    )
    return True


async def email_confirmation_link(
    session: AsyncSession, ctx: ServiceContext, request: PrivacyRequest, *, token: str, expires_at: datetime
) -> bool:
    """The deletion confirmation email: what will be erased, the link, and when it expires."""
    return await email_customer(
        session,
        ctx,
        request,
        "deletion_confirmation",
        verify_url=f"{ctx.settings.base_url}/v1/verify?token={token}",
        expires_at=expires_at,
        entities=ctx.sources.describe(),
    )
