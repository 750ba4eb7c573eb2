"""One-time sign-in links: 256 random bits in the URL, stored only as their HMAC, valid SIGN_IN_LINK_TTL,
used once."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.config import Settings
from app.core.tokens import hash_token, looks_like_token, new_token
from app.models import Operator, OperatorSignInLink
from app.signin import repository

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


async def is_usable(session: AsyncSession, settings: Settings, token: str) -> bool:
    """True when the link is unused and unexpired (looking changes nothing)."""
    if not looks_like_token(token):
        return False
    token_hash = hash_token(token, settings.resolved_secret_key())
    return await repository.usable_link_owner(session, token_hash, now=clock.now()) is not None


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
