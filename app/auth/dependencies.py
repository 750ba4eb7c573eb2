"""FastAPI dependencies that authenticate the bearer key and check its role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.keys import Principal, Role, authenticate
from app.db import SessionDep
from app.errors import Forbidden, Unauthorized

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer prk_...`")


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits keys of ``role`` or higher: 401 without a valid key, 403 when too low."""

    async def dependency(
        request: Request,
        session: SessionDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthorized("An API key is required: send 'Authorization: Bearer <key>'.")
        principal = await authenticate(session, credentials.credentials)
        if principal is None:
            raise Unauthorized("The API key is unknown or revoked.")
        if not principal.has(role):
            raise Forbidden(f"This action needs the '{role}' role; the key has '{principal.role}'.")
        request.state.principal = principal
        return principal

    return dependency


AppKey = Annotated[Principal, Depends(require(Role.APP))]
OperatorKey = Annotated[Principal, Depends(require(Role.OPERATOR))]
AdminKey = Annotated[Principal, Depends(require(Role.ADMIN))]
