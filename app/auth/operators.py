"""Operators are people (contract section 9): made and removed with the CLI, or made by the identity provider's
word (OIDC), found by email.

An email is unique without regard to case: it is stored in lower case. A removed operator stays (the timeline
keeps naming them) but can no longer sign in, and their sessions are revoked at once.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import repository, sessions
from app.core import clock
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.models import Operator

ROLES = ("operator", "admin")
MAX_EMAIL_LENGTH = 320
MAX_NAME_LENGTH = 200


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _check_email(email: str) -> str:
    value = normalize_email(email)
    local, at, domain = value.partition("@")
    if (
        not at
        or not local
        or "." not in domain
        or len(value) > MAX_EMAIL_LENGTH
        or any(c.isspace() or ord(c) < 32 or c in '<>,;"' for c in value)
    ):
        raise ValidationFailed(f"{email!r} is not an email address.")
    return value


def _check_name(name: str) -> str:
    value = " ".join(name.split())
    if not value or len(value) > MAX_NAME_LENGTH or any(c in "<>" for c in value):
        raise ValidationFailed(f"The name must be 1 to {MAX_NAME_LENGTH} characters without '<' or '>'.")
    return value


async def create_operator(session: AsyncSession, *, email: str, name: str, role: str) -> Operator:
    """A new operator; Conflict when the email belongs to one already (a removed one too: the timeline names
    them, so the address is not given to someone else)."""
    if role not in ROLES:
        raise ValidationFailed(f"The role must be one of: {', '.join(ROLES)}.")
    address, display = _check_email(email), _check_name(name)
    if await find_by_email(session, address) is not None:
        raise Conflict(f"An operator with the email {address} exists already.")
    operator = Operator(
        id=uuid.uuid4(), email=address, name=display, role=role, created_at=clock.now(), removed_at=None
    )
    return await repository.add_operator(session, operator)


class OperatorRemoved(Exception):
    """The identity provider vouches for a person who was removed as an operator here: removal wins."""


async def for_identity(session: AsyncSession, *, email: str, name: str | None, role: str) -> Operator:
    """The operator an OIDC identity (an ID token at sign-in, an access token on the API) is: made on first
    sight, with the provider's name; the role is the provider's at every call (README, "Operators and sign-in").
    OperatorRemoved for a removed operator."""
    if role not in ROLES:
        raise ValidationFailed(f"The role must be one of: {', '.join(ROLES)}.")
    address = _check_email(email)
    operator = await find_by_email(session, address)
    if operator is None:
        # The name as the provider has it, without the angle brackets the timeline's `Name <email>` uses.
        display = _check_name("".join(c for c in name or "" if c not in "<>") or address.split("@")[0])
        # Two first calls at once (a cockpit firing requests in parallel): one row, both use it.
        await repository.add_operator_unless_exists(
            session,
            Operator(
                id=uuid.uuid4(),
                email=address,
                name=display,
                role=role,
                created_at=clock.now(),
                removed_at=None,
            ),
        )
        operator = await find_by_email(session, address)
        assert operator is not None
    if operator.removed_at is not None:
        raise OperatorRemoved(f"{address} was removed as an operator.")
    if operator.role != role:
        operator.role = role
        await session.flush()
    return operator


async def list_operators(session: AsyncSession) -> list[Operator]:
    return await repository.all_operators(session)


async def find_by_email(session: AsyncSession, email: str) -> Operator | None:
    return await repository.operator_by_email(session, normalize_email(email))


async def find_active(session: AsyncSession, email: str) -> Operator | None:
    """The operator with this email unless removed."""
    operator = await find_by_email(session, email)
    return operator if operator is not None and operator.removed_at is None else None


async def get_active(session: AsyncSession, operator_id: uuid.UUID) -> Operator | None:
    operator = await repository.get_operator(session, operator_id)
    return operator if operator is not None and operator.removed_at is None else None


async def remove_operator(session: AsyncSession, email: str) -> tuple[Operator, int]:
    """Remove an operator and revoke their sessions at once; the operator and how many sessions ended.
    Removing twice is harmless and keeps the first time."""
    operator = await find_by_email(session, email)
    if operator is None:
        raise NotFound(f"No operator has the email {normalize_email(email)}.")
    if operator.removed_at is None:
        operator.removed_at = clock.now()
        await session.flush()
    return operator, await sessions.revoke_all(session, operator.id)


def display_name(operator: Operator) -> str:
    """What the timeline records as the actor: ``Name <email>``."""
    return sessions.actor_name(operator.name, operator.email)
