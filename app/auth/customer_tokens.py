"""Signed-in customers: the brand identity provider's JWT in ``X-Customer-Token`` (contract section 7).

Verification is PyJWT's; this module only chooses the key (a PEM public key, or a JWKS fetched over HTTP and
cached) and maps every failure to one error. RS256 and ES256 only: ``none`` and HMAC algorithms are refused,
because an HMAC "key" would be the public key itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.core.public_keys import load_public_key

if TYPE_CHECKING:
    from app.core.config import Settings

log = logging.getLogger("app.customer_tokens")

ALGORITHMS = ("RS256", "ES256")
MAX_TOKEN_LENGTH = 16_384
MAX_CUSTOMER_ID_LENGTH = 200
# Keys are refetched at most this often when a token names an unknown ``kid`` (a burst of forged tokens must
# not turn the service into a load generator against the identity provider), and at least this often anyway
# so that a key the provider withdrew stops being accepted.
JWKS_MAX_AGE = 3600.0


class CustomerTokenInvalid(Exception):
    """The token is malformed, expired, not yet valid, wrongly signed or for another issuer or audience.

    The message is for the log and the 401's detail; it never repeats the token."""


class KeysUnavailable(Exception):
    """The JWKS could not be fetched and no cached key fits: the service's problem, not the caller's."""


@dataclass(frozen=True)
class TokenRules:
    issuer: str | None
    audience: str | None
    claim: str


class CustomerTokens:
    """Verifies customer tokens. Build with :meth:`from_pem` or :meth:`from_jwks`; ``disabled()`` when neither
    is configured (every token is then refused)."""

    def __init__(
        self,
        rules: TokenRules,
        *,
        public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | None = None,
        jwks_url: str | None = None,
        client: httpx.AsyncClient | None = None,
        refetch_interval: float = 30.0,
    ) -> None:
        self._rules = rules
        self._public_key = public_key
        self._jwks_url = jwks_url
        self._client = client
        self._refetch_interval = refetch_interval
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._last_fetch_failed = False
        self._lock = asyncio.Lock()
        self.fetches = 0  # how many times the JWKS was fetched (observability and tests)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    @property
    def configured(self) -> bool:
        return self._public_key is not None or self._jwks_url is not None

    async def verify(self, token: str) -> str:
        """The customer id the token proves, or CustomerTokenInvalid (or KeysUnavailable)."""
        if not self.configured:
            raise CustomerTokenInvalid("customer tokens are not accepted: no key is configured")
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise CustomerTokenInvalid("the customer token is malformed")
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, RecursionError, ValueError, TypeError):  # a header nested thousands deep too
            raise CustomerTokenInvalid("the customer token is malformed") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise CustomerTokenInvalid(f"the customer token must be signed with {' or '.join(ALGORITHMS)}")
        key: Any
        if self._public_key is not None:
            expected = "RS256" if isinstance(self._public_key, rsa.RSAPublicKey) else "ES256"
            if algorithm != expected:
                raise CustomerTokenInvalid("the customer token's algorithm does not match the key")
            key = self._public_key
        else:
            key = await self._jwk_for(header.get("kid"), algorithm)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                issuer=self._rules.issuer,
                audience=self._rules.audience,
                options={
                    "require": ["exp"],
                    "verify_aud": self._rules.audience is not None,
                    "verify_iss": self._rules.issuer is not None,
                },
            )
        except jwt.ExpiredSignatureError:
            raise CustomerTokenInvalid("the customer token has expired") from None
        except jwt.ImmatureSignatureError:
            raise CustomerTokenInvalid("the customer token is not valid yet") from None
        except jwt.InvalidIssuerError:
            raise CustomerTokenInvalid("the customer token is from another issuer") from None
        except jwt.InvalidAudienceError:
            raise CustomerTokenInvalid("the customer token is for another audience") from None
        except jwt.InvalidSignatureError:
            raise CustomerTokenInvalid("the customer token's signature is not valid") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            # A key of the wrong type for the algorithm, a missing claim, an unparsable part...
            raise CustomerTokenInvalid("the customer token is not valid") from None
        return _customer_id(claims.get(self._rules.claim), self._rules.claim)

    async def _jwk_for(self, kid: object, algorithm: str) -> jwt.PyJWK:
        if not isinstance(kid, str) or not kid or len(kid) > 200:
            raise CustomerTokenInvalid("the customer token names no key ('kid')")
        key = self._keys.get(kid) if not self._stale() else None
        if key is None:
            key = await self._refetch_for(kid)
        if key is None:
            raise CustomerTokenInvalid("the customer token is signed with an unknown key")
        if key.algorithm_name != algorithm:
            raise CustomerTokenInvalid("the customer token's algorithm does not match its key")
        return key

    def _stale(self) -> bool:
        return self._fetched_at is None or time.monotonic() - self._fetched_at > JWKS_MAX_AGE

    async def _refetch_for(self, kid: str) -> jwt.PyJWK | None:
        """Fetch the JWKS once for an unknown ``kid``; concurrent callers share one fetch, and a fetch made
        less than ``refetch_interval`` ago is not repeated (the kid is then unknown)."""
        async with self._lock:
            if kid in self._keys and not self._stale():
                return self._keys[kid]  # another caller fetched it meanwhile
            recent = (
                self._fetched_at is not None and time.monotonic() - self._fetched_at < self._refetch_interval
            )
            if recent and not self._stale():
                if self._last_fetch_failed and not self._keys:
                    raise KeysUnavailable("the identity provider's keys could not be fetched")
                return None
            await self._fetch()
            return self._keys.get(kid)

    async def _fetch(self) -> None:
        assert self._jwks_url is not None
        assert self._client is not None
        self.fetches += 1
        self._last_fetch_failed = True
        try:
            response = await self._client.get(self._jwks_url, timeout=5.0, follow_redirects=False)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("customer token keys could not be fetched: %s", type(exc).__name__)
            if not self._keys:
                raise KeysUnavailable("the identity provider's keys could not be fetched") from None
            return  # keep the keys we have; retry after the interval
        finally:
            # Failures count too: an unreachable JWKS is not asked again on every request.
            self._fetched_at = time.monotonic()
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
                continue
            if entry.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(entry)
            except jwt.PyJWTError:
                continue  # a key type we do not use (or a broken entry): skip it, keep the others
            if key.algorithm_name in ALGORITHMS:  # never an HMAC ("oct") key
                keys[entry["kid"]] = key
        self._keys = keys
        self._last_fetch_failed = False


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
