"""Operators' browser sessions (contract section 9): stored server-side, named by an HttpOnly cookie.

The cookie ``prs_session`` holds 256 random bits; the table ``operator_sessions`` holds only their HMAC with
SECRET_KEY, the operator, a CSRF token, and when the session expires (``SESSION_TTL`` after sign-in) or was
revoked (sign-out, or the operator's removal). The cookie is HttpOnly and SameSite=Strict, and Secure unless the
service's base URL is plain http on localhost. Pages put the CSRF token in
``<meta name="csrf-token" content="...">``; scripts send it back as ``X-CSRF-Token`` on every state change.

For pages: ``await current_operator(request, session)`` is the signed-in person, or None.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import repository
from app.core import clock
from app.core.tokens import hash_token, looks_like_token, new_token
from app.models import Operator
from app.models import OperatorSession as SessionRow

if TYPE_CHECKING:
    from app.core.config import Settings

COOKIE = "prs_session"
CSRF_HEADER = "X-CSRF-Token"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


ACTOR_LENGTH = 100  # the timeline's actor column (request_events.actor)


def actor_name(name: str, email: str) -> str:
    """``Name <email>``, the timeline's actor for a person; a long name is shortened (the email never) so that
    it fits the timeline's column."""
    full = f"{name} <{email}>"
    if len(full) <= ACTOR_LENGTH:
        return full
    room = ACTOR_LENGTH - len(email) - 4  # "… <" and ">"
    return f"{name[:room].rstrip()}… <{email}>" if room > 0 else email[:ACTOR_LENGTH]


@dataclass(frozen=True)
class OperatorSession:
    """A signed-in person: who, with which role, and the session's CSRF token."""

    operator_id: uuid.UUID
    email: str
    name: str
    role: str
    csrf_token: str
    expires_at: datetime

    @property
    def display_name(self) -> str:
        """What the timeline records as the actor: ``Name <email>``."""
        return actor_name(self.name, self.email)


def _secret(settings: Settings) -> str:
    return settings.resolved_secret_key()


def cookie_is_secure(settings: Settings) -> bool:
    """Secure everywhere except a plain-http base URL on localhost (a browser drops Secure cookies there)."""
    parts = urlsplit(settings.base_url)
    return not (parts.scheme == "http" and (parts.hostname or "") in _LOCAL_HOSTS)


async def start(session: AsyncSession, settings: Settings, operator: Operator) -> tuple[str, SessionRow]:
    """A new session for ``operator``: the cookie value (shown once) and the stored row."""
    value, id_hash = new_token(_secret(settings))
    now = clock.now()
    row = SessionRow(
        id_hash=id_hash,
        operator_id=operator.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + settings.session_ttl,
        revoked_at=None,
    )
    return value, await repository.add_session(session, row)


def set_cookie(response: Response, settings: Settings, value: str) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=int(settings.session_ttl.total_seconds()),
        path="/",
        httponly=True,
        secure=cookie_is_secure(settings),
        samesite="strict",
    )


def clear_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        COOKIE, path="/", httponly=True, secure=cookie_is_secure(settings), samesite="strict"
    )


async def find(session: AsyncSession, settings: Settings, value: str | None) -> OperatorSession | None:
    """The live session the cookie value names: not expired, not revoked, its operator not removed."""
    if not value or not looks_like_token(value):
        return None
    row = await repository.live_session(session, hash_token(value, _secret(settings)), now=clock.now())
    if row is None:
        return None
    stored, operator = row
    return OperatorSession(
        operator_id=operator.id,
        email=operator.email,
        name=operator.name,
        role=operator.role,
        csrf_token=stored.csrf_token,
        expires_at=stored.expires_at,
    )


async def current_operator(request: Request, session: AsyncSession) -> OperatorSession | None:
    """The person the request's session cookie signs in, or None (no cookie, unknown, expired, revoked)."""
    settings: Settings = request.app.state.ctx.settings
    return await find(session, settings, request.cookies.get(COOKIE))


async def revoke(session: AsyncSession, settings: Settings, value: str | None) -> bool:
    """Revoke the session the cookie value names (sign-out); True when one was live."""
    if not value or not looks_like_token(value):
        return False
    return await repository.revoke_session(session, hash_token(value, _secret(settings)), at=clock.now()) > 0


async def revoke_all(session: AsyncSession, operator_id: uuid.UUID) -> int:
    """Revoke every live session of an operator (their removal); how many were revoked."""
    return await repository.revoke_sessions_of(session, operator_id, at=clock.now())


def csrf_problem(request: Request, settings: Settings, signed_in: OperatorSession) -> str | None:
    """Why a state-changing request authenticated by the cookie is refused (403), or None when it may go on:
    the ``X-CSRF-Token`` header must equal the session's token, and an ``Origin`` header, when sent, must be
    the service's own origin."""
    if request.method not in STATE_CHANGING:
        return None
    if foreign_origin(request, settings):
        return "This request comes from another site (its Origin is not this service's)."
    token = request.headers.get(CSRF_HEADER)
    if not token or not hmac.compare_digest(token.encode(), signed_in.csrf_token.encode()):
        return f"A signed-in change needs the '{CSRF_HEADER}' header with the session's CSRF token."
    return None


def own_origin(settings: Settings) -> str:
    """``scheme://host[:port]`` of PUBLIC_BASE_URL (or of the address the service listens on)."""
    parts = urlsplit(settings.base_url)
    return f"{parts.scheme}://{parts.netloc}"


def foreign_origin(request: Request, settings: Settings) -> bool:
    """True when the request names an ``Origin`` that is not this service's (a form or script of another site);
    a request without one (not a browser's cross-site request) is not foreign."""
    origin = request.headers.get("origin")
    if origin is None:
        return False
    # The origin the browser addressed (its Host header) counts as ours too: a cross-site page cannot make it
    # differ from the target, so an Origin equal to it is this site's own.
    addressed = f"{request.url.scheme}://{request.headers.get('host', '')}"
    return origin.rstrip("/") not in {own_origin(settings), addressed}
