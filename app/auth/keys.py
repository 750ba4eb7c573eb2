"""API keys: made, stored as a SHA-256 hash, looked up, revoked (the SQL is in ``repository``)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import repository
from app.core import clock
from app.core.errors import NotFound
from app.models import ApiKey

KEY_PREFIX = "prk_"


class Role(StrEnum):
    APP = "app"
    OPERATOR = "operator"
    ADMIN = "admin"


RANK = {Role.APP: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id (a person's operator id), its name (the timeline's actor) and its role."""

    key_id: uuid.UUID
    name: str
    role: Role
    # A person (an operator, by session, OIDC token or X-Operator): ``name`` is then ``Name <email>``.
    person: bool = False

    def has(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]


def hash_key(plaintext: str) -> str:
    # The key carries 256 random bits, so a plain SHA-256 cannot be brute-forced and survives SECRET_KEY rotation.
    return hashlib.sha256(plaintext.encode()).hexdigest()


async def create_key(session: AsyncSession, *, name: str, role: Role) -> tuple[ApiKey, str]:
    """Make a key; the plaintext is returned once and never stored."""
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        id=uuid.uuid4(),
        name=name,
        role=role.value,
        key_hash=hash_key(plaintext),
        prefix=plaintext[:12],
        created_at=clock.now(),
        revoked_at=None,
    )
    return await repository.add(session, key), plaintext


async def list_keys(session: AsyncSession) -> list[ApiKey]:
    return await repository.all_keys(session)


async def any_key_exists(session: AsyncSession) -> bool:
    return await repository.count(session) > 0


async def revoke_key(session: AsyncSession, key_id: uuid.UUID) -> ApiKey:
    """Revoke a key at once; revoking twice is harmless and keeps the first time."""
    key = await repository.get(session, key_id)
    if key is None:
        raise NotFound("No API key has this id.")
    if key.revoked_at is None:
        key = await repository.revoke(session, key, at=clock.now())
    return key


async def authenticate(session: AsyncSession, plaintext: str) -> Principal | None:
    """The principal for a presented key, or None when it is unknown or revoked."""
    if not plaintext.startswith(KEY_PREFIX) or len(plaintext) > 200:
        return None
    row = await repository.find_active(session, hash_key(plaintext))
    if row is None:
        return None
    key_id, name, role = row
    return Principal(key_id=key_id, name=name, role=Role(role))
