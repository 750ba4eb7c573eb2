"""Who a confirmation link belongs to, for the page shown when the link does not work (any more)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import tokens
from app.core.context import ServiceContext
from app.models import PrivacyRequest
from app.requests import repository


async def link_owner(session: AsyncSession, ctx: ServiceContext, token: str) -> PrivacyRequest | None:
    """The request a confirmation token was issued for, whatever its status now (expired, dismissed...), so
    its page is in the customer's language; None when no request holds the token."""
    if not tokens.looks_like_token(token):
        return None
    return await repository.find_by_verification_hash(session, tokens.hash_token(token, ctx.secret_key))
