"""FastAPI dependencies that authenticate the caller (API key, OIDC access token, session cookie) and check its
role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import operators, sessions
from app.auth.customer_tokens import CustomerTokenInvalid, CustomerTokens, KeysUnavailable
from app.auth.keys import KEY_PREFIX, Principal, Role, authenticate
from app.auth.oidc import NoRole, OidcProvider, OidcRefused, OidcUnavailable
from app.core.db import SessionDep
from app.core.errors import Forbidden, ServiceUnavailable, Unauthorized
from app.core.ratelimit import client_address, rate_limiter

_bearer = HTTPBearer(
    auto_error=False,
    description="An API key (`Authorization: Bearer prk_...`), or a person's OIDC access token (a JWT from "
    "OIDC_ISSUER). Browsers of signed-in operators send the `prs_session` cookie instead, with `X-CSRF-Token` "
    "on every change.",
)
_session_cookie = APIKeyCookie(
    name=sessions.COOKIE,
    auto_error=False,
    description="The cockpit's session (a signed-in operator's browser, same origin only). Every POST, PUT, "
    "PATCH and DELETE must also carry the session's CSRF token in `X-CSRF-Token`, and an `Origin`, when sent, "
    "must be the service's own; otherwise 403.",
)
_OPERATOR_HEADER = Header(
    alias="X-Operator",
    description="With an admin API key: the email of the operator (a person) the call is made for; the "
    "timeline names that person and the call has their role. Refused (403) with any other key.",
)


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits callers of ``role`` or higher: 401 without valid credentials, 403 when too low.

    Credentials: a Bearer API key (with ``X-Operator`` for an admin key acting for a person), a Bearer OIDC
    access token, or the cockpit's session cookie (state changes then need ``X-CSRF-Token``)."""

    async def dependency(
        request: Request,
        session: SessionDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        cookie: Annotated[str | None, Depends(_session_cookie)],
        x_operator: Annotated[str | None, _OPERATOR_HEADER] = None,
    ) -> Principal:
        if credentials is not None and credentials.scheme.lower() == "bearer":
            principal = await _bearer_principal(request, session, credentials.credentials, x_operator)
        elif credentials is None and cookie is not None:
            principal = await _session_principal(request, session)
        else:
            raise Unauthorized("An API key is required: send 'Authorization: Bearer <key>'.")
        if not principal.has(role):
            holder = "this person has" if principal.person else "the key has"
            raise Forbidden(f"This action needs the '{role}' role; {holder} '{principal.role}'.")
        request.state.principal = principal
        return principal

    return dependency


async def _bearer_principal(
    request: Request, session: AsyncSession, token: str, x_operator: str | None
) -> Principal:
    # Wrong keys are counted per address apart from every other limit: an address that spent its allowance
    # gets no answer about any key until its window ends.
    limiter, address = rate_limiter(request), client_address(request)
    limiter.check_authentication(address)
    provider: OidcProvider | None = request.app.state.oidc
    if not token.startswith(KEY_PREFIX) and provider is not None:
        try:
            identity = await provider.verify_access_token(token)
        except NoRole as error:
            # A genuine token of a person the provider gives no cockpit role: known, not allowed (403).
            raise Forbidden(f"The access token is refused: {error}.") from None
        except OidcRefused as error:
            await limiter.count_failed_authentication(address)
            raise Unauthorized(f"The access token is refused: {error}.") from None
        except OidcUnavailable:
            raise ServiceUnavailable(
                "The identity provider's keys cannot be fetched right now; retry shortly."
            ) from None
        if x_operator is not None:
            raise Forbidden("X-Operator is for admin API keys; an access token speaks for its own person.")
        try:
            operator = await operators.for_identity(
                session, email=identity.email, name=identity.name, role=identity.role
            )
        except operators.OperatorRemoved as error:
            raise Forbidden(str(error)) from None
        return Principal(
            key_id=operator.id, name=operators.display_name(operator), role=Role(operator.role), person=True
        )
    principal = await authenticate(session, token)
    if principal is None:
        await limiter.count_failed_authentication(address)
        raise Unauthorized("The API key is unknown or revoked.")
    if x_operator is None:
        return principal
    if principal.role != Role.ADMIN:
        raise Forbidden("X-Operator needs an admin API key.")
    person = await operators.find_active(session, x_operator)
    if person is None:
        raise Forbidden("X-Operator names no active operator.")
    return Principal(
        key_id=principal.key_id, name=operators.display_name(person), role=Role(person.role), person=True
    )


async def _session_principal(request: Request, session: AsyncSession) -> Principal:
    signed_in = await sessions.current_operator(request, session)
    if signed_in is None:
        raise Unauthorized("The session has ended or expired: sign in again at /cockpit/sign-in.")
    problem = sessions.csrf_problem(request, request.app.state.ctx.settings, signed_in)
    if problem is not None:
        raise Forbidden(problem)
    return Principal(
        key_id=signed_in.operator_id, name=signed_in.display_name, role=Role(signed_in.role), person=True
    )


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
