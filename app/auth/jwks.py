"""Verifying an identity provider's JWTs: one verifier for customer tokens (contract section 7) and OIDC tokens
(section 9).

Verification is PyJWT's; this module chooses the key (a PEM public key, or a JWKS fetched over HTTP and cached)
and maps every failure to one error whose message names the token (``subject``). RS256 and ES256 only: ``none``
and HMAC algorithms are refused, because an HMAC "key" would be the public key itself.

The JWKS is refetched for an unknown ``kid`` at most every ``refetch_interval`` seconds, and a failed fetch
counts as a fetch: while the provider is unreachable, tokens naming new kids get a prompt answer instead of one
outgoing request each (a burst of forged tokens must not stall the service or turn it into a load generator).
The keys are refetched at least every ``MAX_AGE`` seconds anyway, so a key the provider withdrew stops working.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

log = logging.getLogger("app.jwks")

ALGORITHMS = ("RS256", "ES256")
MAX_TOKEN_LENGTH = 16_384
MAX_KID_LENGTH = 200
MAX_AGE = 3600.0
FETCH_TIMEOUT = 5.0

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class TokenInvalid(Exception):
    """The token is malformed, expired, not yet valid, wrongly signed or for another issuer or audience.

    The message is for the log and the 401's detail; it never repeats the token."""


class KeysUnavailable(Exception):
    """The provider's keys could not be fetched and none is cached: the service's problem, not the caller's."""


class JwksKeys:
    """The signing keys a JWKS publishes, cached; concurrent callers share one fetch.

    ``locate`` is the JWKS URL, or a coroutine function finding it (OIDC discovery) that raises
    ``KeysUnavailable`` when it cannot: a failure there counts as a failed fetch too."""

    def __init__(
        self,
        locate: str | Callable[[], Awaitable[str]],
        *,
        client: httpx.AsyncClient,
        refetch_interval: float,
        label: str,
    ) -> None:
        self._locate = locate
        self._client = client
        self._refetch_interval = refetch_interval
        self._label = label
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._last_fetch_failed = False
        self._lock = asyncio.Lock()
        self.fetches = 0  # attempts to fetch the keys (observability and tests)

    async def get(self, kid: str) -> jwt.PyJWK | None:
        """The key named ``kid``, fetching the JWKS when the kid is unknown (at most once per interval); None
        when the provider does not publish it. KeysUnavailable when the keys cannot be fetched and none is
        cached."""
        key = self._keys.get(kid) if not self._stale() else None
        return key if key is not None else await self._refetch_for(kid)

    def _stale(self) -> bool:
        return self._fetched_at is None or time.monotonic() - self._fetched_at > MAX_AGE

    async def _refetch_for(self, kid: str) -> jwt.PyJWK | None:
        async with self._lock:
            if kid in self._keys and not self._stale():
                return self._keys[kid]  # another caller fetched it meanwhile
            recent = (
                self._fetched_at is not None and time.monotonic() - self._fetched_at < self._refetch_interval
            )
            if recent:
                if self._last_fetch_failed and not self._keys:
                    raise KeysUnavailable(f"the {self._label} keys could not be fetched")
                return None
            await self._fetch()
            return self._keys.get(kid)

    async def _fetch(self) -> None:
        self.fetches += 1
        self._last_fetch_failed = True
        try:
            url = self._locate if isinstance(self._locate, str) else await self._locate()
            response = await self._client.get(url, timeout=FETCH_TIMEOUT, follow_redirects=False)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError, KeysUnavailable) as exc:
            log.warning("%s keys could not be fetched: %s", self._label, type(exc).__name__)
            if not self._keys:
                raise KeysUnavailable(f"the {self._label} keys could not be fetched") from None
            return  # keep the keys we have; retry after the interval
        finally:
            # Failures count too: an unreachable provider is not asked again on every request.
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


class JwtVerifier:
    """Verifies JWTs signed by one provider, with a fixed public key or the keys of a JWKS."""

    def __init__(
        self, *, subject: str, public_key: PublicKey | None = None, keys: JwksKeys | None = None
    ) -> None:
        assert (public_key is None) != (keys is None), "a public key or a JWKS, one of them"
        self._subject = subject
        self._public_key = public_key
        self._keys = keys

    async def verify(
        self,
        token: str,
        *,
        issuer: str | None,
        audience: str | None,
        require: Sequence[str] = ("exp",),
    ) -> dict[str, Any]:
        """The token's claims once its signature, ``exp``, ``nbf``, and (when given) ``iss`` and ``aud`` hold;
        TokenInvalid otherwise (KeysUnavailable when the JWKS cannot be fetched)."""
        subject = self._subject
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise TokenInvalid(f"{subject} is malformed")
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, RecursionError, ValueError, TypeError):  # a header nested thousands deep too
            raise TokenInvalid(f"{subject} is malformed") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise TokenInvalid(f"{subject} must be signed with {' or '.join(ALGORITHMS)}")
        key = await self._key_for(header.get("kid"), algorithm)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                issuer=issuer,
                audience=audience,
                options={
                    "require": list(require),
                    "verify_aud": audience is not None,
                    "verify_iss": issuer is not None,
                },
            )
        except jwt.ExpiredSignatureError:
            raise TokenInvalid(f"{subject} has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenInvalid(f"{subject} is not valid yet") from None
        except jwt.InvalidIssuerError:
            raise TokenInvalid(f"{subject} is from another issuer") from None
        except jwt.InvalidAudienceError:
            raise TokenInvalid(f"{subject} is for another audience") from None
        except jwt.InvalidSignatureError:
            raise TokenInvalid(f"{subject}'s signature is not valid") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            # A key of the wrong type for the algorithm, a missing claim, an unparsable part...
            raise TokenInvalid(f"{subject} is not valid") from None
        return claims

    async def _key_for(self, kid: object, algorithm: str) -> Any:
        if self._public_key is not None:
            expected = "RS256" if isinstance(self._public_key, rsa.RSAPublicKey) else "ES256"
            if algorithm != expected:
                raise TokenInvalid(f"{self._subject}'s algorithm does not match the key")
            return self._public_key
        assert self._keys is not None
        if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
            raise TokenInvalid(f"{self._subject} names no key ('kid')")
        key = await self._keys.get(kid)
        if key is None:
            raise TokenInvalid(f"{self._subject} is signed with an unknown key")
        if key.algorithm_name != algorithm:
            raise TokenInvalid(f"{self._subject}'s algorithm does not match its key")
        return key
