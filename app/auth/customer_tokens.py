"""Signed-in customers: the brand identity provider's JWT in ``X-Customer-Token`` (contract section 7).

The key (a PEM public key, or a JWKS fetched over HTTP and cached) and the verification are ``app.auth.jwks``'s,
shared with OIDC; this module maps the settings to it and takes the customer id from the configured claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from app.auth.jwks import JwksKeys, JwtVerifier, KeysUnavailable, PublicKey, TokenInvalid
from app.core.public_keys import load_public_key

if TYPE_CHECKING:
    from app.core.config import Settings

__all__ = ["CustomerTokenInvalid", "CustomerTokens", "KeysUnavailable", "TokenRules", "build_customer_tokens"]

MAX_CUSTOMER_ID_LENGTH = 200


class CustomerTokenInvalid(Exception):
    """The token is malformed, expired, not yet valid, wrongly signed or for another issuer or audience.

    The message is for the log and the 401's detail; it never repeats the token."""


@dataclass(frozen=True)
class TokenRules:
    issuer: str | None
    audience: str | None
    claim: str


class CustomerTokens:
    """Verifies customer tokens. Build with a ``public_key`` or a ``jwks_url`` (and its client); with neither,
    every token is refused."""

    def __init__(
        self,
        rules: TokenRules,
        *,
        public_key: PublicKey | None = None,
        jwks_url: str | None = None,
        client: httpx.AsyncClient | None = None,
        refetch_interval: float = 30.0,
    ) -> None:
        self._rules = rules
        self._client = client
        self._keys: JwksKeys | None = None
        self._verifier: JwtVerifier | None = None
        if public_key is not None:
            self._verifier = JwtVerifier(subject="the customer token", public_key=public_key)
        elif jwks_url is not None:
            assert client is not None, "a JWKS needs an HTTP client"
            self._keys = JwksKeys(
                jwks_url, client=client, refetch_interval=refetch_interval, label="customer token"
            )
            self._verifier = JwtVerifier(subject="the customer token", keys=self._keys)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    @property
    def configured(self) -> bool:
        return self._verifier is not None

    @property
    def fetches(self) -> int:
        """How many times the JWKS was fetched (observability and tests)."""
        return self._keys.fetches if self._keys is not None else 0

    async def verify(self, token: str) -> str:
        """The customer id the token proves, or CustomerTokenInvalid (or KeysUnavailable)."""
        if self._verifier is None:
            raise CustomerTokenInvalid("customer tokens are not accepted: no key is configured")
        try:
            claims = await self._verifier.verify(
                token, issuer=self._rules.issuer, audience=self._rules.audience, require=("exp",)
            )
        except TokenInvalid as error:
            raise CustomerTokenInvalid(str(error)) from None
        return _customer_id(claims.get(self._rules.claim), self._rules.claim)


def _customer_id(value: object, claim: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise CustomerTokenInvalid(f"the customer token has no '{claim}' claim")
    if len(value) > MAX_CUSTOMER_ID_LENGTH or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise CustomerTokenInvalid(f"the customer token's '{claim}' claim is not a customer id")
    return value


def build_customer_tokens(settings: Settings) -> CustomerTokens:
    """The verifier the settings describe (its HTTP client, for a JWKS, is closed by :meth:`aclose`)."""
    rules = TokenRules(
        issuer=settings.customer_token_issuer,
        audience=settings.customer_token_audience,
        claim=settings.customer_token_claim,
    )
    if settings.customer_token_jwks_url:
        return CustomerTokens(
            rules,
            jwks_url=settings.customer_token_jwks_url,
            client=httpx.AsyncClient(follow_redirects=False),
            refetch_interval=settings.customer_token_jwks_refetch_interval.total_seconds(),
        )
    key_file = settings.resolved_customer_token_key_file()
    return CustomerTokens(rules, public_key=load_public_key(key_file) if key_file else None)
