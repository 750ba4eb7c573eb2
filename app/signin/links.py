"""One-time sign-in links: 256 random bits in the URL, stored only as their HMAC, valid SIGN_IN_LINK_TTL,
used once.

Asking for a link (the form) only enqueues a ``send_sign_in_link`` job, whatever the address: the form's answer
takes the same work, and so the same time, for an operator's address and anyone else's. The job looks the
operator up and, for an active one, issues the link and enqueues its email.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import operators
from app.core import clock
from app.core.config import Settings
from app.core.context import ServiceContext
from app.core.tokens import hash_token, looks_like_token, new_token
from app.jobs import repository as jobs
from app.models import Job, Operator, OperatorSignInLink
from app.notifications.outbox import enqueue_email
from app.signin import repository

SEND_SIGN_IN_LINK_JOB = "send_sign_in_link"
HOME = "/cockpit"

# Links one operator may be sent per SIGN_IN_LINK_TTL: more requests get the same answer and no email, so the
# form cannot be used to flood a mailbox.
MAX_LINKS_PER_TTL = 5


async def issue(session: AsyncSession, settings: Settings, operator: Operator) -> str | None:
    """A new link's token for ``operator``, or None when they were sent enough links lately."""
    now = clock.now()
    if (
        await repository.links_since(session, operator.id, now - settings.sign_in_link_ttl)
        >= MAX_LINKS_PER_TTL
    ):
        return None
    token, token_hash = new_token(settings.resolved_secret_key())
    link = OperatorSignInLink(
        token_hash=token_hash,
        operator_id=operator.id,
        created_at=now,
        expires_at=now + settings.sign_in_link_ttl,
        used_at=None,
    )
    await repository.add_link(session, link)
    return token


async def usable_for(session: AsyncSession, settings: Settings, token: str) -> Operator | None:
    """The active operator an unused, unexpired link signs in, else None (looking changes nothing). The page
    names them, so a person sent someone else's link sees whose session it would start."""
    if not looks_like_token(token):
        return None
    token_hash = hash_token(token, settings.resolved_secret_key())
    operator_id = await repository.usable_link_owner(session, token_hash, now=clock.now())
    return await operators.get_active(session, operator_id) if operator_id is not None else None


async def use(session: AsyncSession, settings: Settings, token: str) -> uuid.UUID | None:
    """Spend the link: the operator's id, or None when it is unknown, used or expired. Two uses at once: one
    wins (the update is conditional on ``used_at`` being empty)."""
    if not looks_like_token(token):
        return None
    token_hash = hash_token(token, settings.resolved_secret_key())
    operator_id = await repository.usable_link_owner(session, token_hash, now=clock.now())
    if operator_id is None or not await repository.mark_used(session, token_hash, at=clock.now()):
        return None
    return operator_id


async def request(session: AsyncSession, *, email: str, locale: str, target: str) -> None:
    """Ask for a link to be sent to ``email`` (an operator's or not: the same work either way, one job)."""
    await jobs.enqueue(
        session, SEND_SIGN_IN_LINK_JOB, {"email": email, "locale": locale, "next": target}, max_attempts=3
    )


async def run_send_sign_in_link(session: AsyncSession, job: Job, *, ctx: ServiceContext) -> None:
    """The worker's half of :func:`request`: an active operator gets a link by email; anyone else nothing."""
    payload = job.payload
    operator = await operators.find_active(session, str(payload["email"]))
    if operator is None:
        return
    await send(session, ctx, operator, locale=str(payload["locale"]), target=str(payload["next"]))


async def send(
    session: AsyncSession, ctx: ServiceContext, operator: Operator, *, locale: str, target: str
) -> None:
    """Issue a link for ``operator`` and enqueue its email (nothing when they were sent enough lately)."""
    token = await issue(session, ctx.settings, operator)
    if token is None:
        return  # enough links lately: the earlier ones still work
    await enqueue_email(
        session,
        kind="operator_sign_in",
        to=operator.email,
        locale=locale,
        context={
            "name": operator.name,
            "sign_in_url": f"{ctx.settings.base_url}/cockpit/sign-in/link?token={token}"
            + ("" if target == HOME else f"&next={quote(target, safe='')}"),
            "expires_at": clock.now() + ctx.settings.sign_in_link_ttl,
            "link_ttl": ctx.settings.sign_in_link_ttl,
            "base_url": ctx.settings.base_url,
        },
        request_id=None,
        mail_from_domain=ctx.mail_domain,
        secret_key=ctx.secret_key,
        settings=ctx.settings,
    )
