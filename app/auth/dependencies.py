"""FastAPI dependencies that authenticate the bearer key and check its role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.customer_tokens import CustomerTokenInvalid, CustomerTokens, KeysUnavailable
from app.auth.keys import Principal, Role, authenticate
from app.core.db import SessionDep
from app.core.errors import Forbidden, ServiceUnavailable, Unauthorized
from app.core.ratelimit import client_address, rate_limiter

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
        # Wrong keys are counted per address apart from every other limit: an address that spent its allowance
        # gets no answer about any key until its window ends.
        limiter, address = rate_limiter(request), client_address(request)
        limiter.check_authentication(address)
        principal = await authenticate(session, credentials.credentials)
        if principal is None:
            await limiter.count_failed_authentication(address)
            raise Unauthorized("The API key is unknown or revoked.")
        if not principal.has(role):
            raise Forbidden(f"This action needs the '{role}' role; the key has '{principal.role}'.")
        request.state.principal = principal
        return principal

    return dependency


AppKey = Annotated[Principal, Depends(require(Role.APP))]
OperatorKey = Annotated[Principal, Depends(require(Role.OPERATOR))]
AdminKey = Annotated[Principal, Depends(require(Role.ADMIN))]


async def _signed_in_customer(
    request: Request,
    x_customer_token: Annotated[
        str | None,
        Header(
            description="The brand identity provider's JWT for the signed-in customer (RS256 or ES256). "
            "With it, the request is that customer's; without it an app may name an email only."
        ),
    ] = None,
) -> str | None:
    """The customer id a valid ``X-Customer-Token`` proves; None without the header; 401 when it is invalid."""
    if x_customer_token is None:
        return None
    verifier: CustomerTokens = request.app.state.customer_tokens
    limiter, address = rate_limiter(request), client_address(request)
    limiter.check_authentication(address)
    try:
        return await verifier.verify(x_customer_token.strip())
    except CustomerTokenInvalid as error:
        await limiter.count_failed_authentication(address)
        raise Unauthorized(f"X-Customer-Token refused: {error}.") from None
    except KeysUnavailable:
        raise ServiceUnavailable(
            "The identity provider's keys cannot be fetched right now; retry shortly."
        ) from None


SignedInCustomer = Annotated[str | None, Depends(_signed_in_customer)]
