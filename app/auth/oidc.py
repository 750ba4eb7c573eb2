"""OIDC (contract section 9): the identity provider's discovery document and keys, the authorization code flow
with PKCE, state and nonce, and verification of its JWTs (ID tokens at sign-in, access tokens on the API).

Verification is PyJWT's, with keys from the provider's JWKS (fetched over HTTP with httpx, cached, refetched for
an unknown ``kid`` at most every ``REFETCH_INTERVAL`` seconds). RS256 and ES256 only.

The person is the token's ``email`` claim; the role is ``OIDC_ROLE_CLAIM`` (a string, or a list of strings such
as groups), which must be ``operator`` or ``admin``: anything else is refused.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
import jwt

if TYPE_CHECKING:
    from app.core.config import Settings

log = logging.getLogger("app.oidc")

ALGORITHMS = ("RS256", "ES256")
MAX_TOKEN_LENGTH = 16_384
REFETCH_INTERVAL = 30.0
MAX_AGE = 3600.0
CALLBACK_PATH = "/cockpit/oidc/callback"


class OidcRefused(Exception):
    """The token or the answer is not acceptable; the message says why, for the page or the 401 (never the
    token itself)."""


class NoRole(OidcRefused):
    """The person is known to the identity provider but has no cockpit role (``OIDC_ROLE_CLAIM``)."""


class OidcUnavailable(Exception):
    """The identity provider cannot be reached or answered nonsense: the service's problem, not the caller's."""


@dataclass(frozen=True)
class Identity:
    email: str
    name: str | None
    role: str


@dataclass(frozen=True)
class AuthorizationStart:
    url: str
    state: str
    nonce: str
    code_verifier: str


def role_from(claims: dict[str, Any], claim: str) -> str:
    """``admin`` or ``operator`` from the role claim (a string or a list); OidcRefused otherwise."""
    value = claims.get(claim)
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    for role in ("admin", "operator"):
        if role in values:
            return role
    raise NoRole(
        f"the identity provider gives this person no cockpit role (claim '{claim}': operator or admin)"
    )


def identity_from(claims: dict[str, Any], role_claim: str) -> Identity:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or len(email) > 320:
        raise OidcRefused("the identity provider's token names no email address (claim 'email')")
    if claims.get("email_verified") is False:
        raise OidcRefused("the identity provider has not verified this person's email address")
    name = claims.get("name")
    return Identity(
        email=email.strip().lower(),
        name=name.strip()[:200] if isinstance(name, str) and name.strip() else None,
        role=role_from(claims, role_claim),
    )


def _pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class OidcProvider:
    """One identity provider, from OIDC_ISSUER's discovery document (fetched on first use and cached)."""

    def __init__(self, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        assert settings.oidc_issuer
        assert settings.oidc_client_id
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self.client_secret = settings.oidc_client_secret
        self.audience = settings.oidc_audience or settings.oidc_client_id
        self.role_claim = settings.oidc_role_claim
        self.scopes = settings.oidc_scopes
        self.redirect_uri = settings.base_url + CALLBACK_PATH
        self._client = client or httpx.AsyncClient(follow_redirects=False, timeout=10.0)
        self._metadata: dict[str, Any] | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._keys_fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is not None:
            return self._metadata
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = await self._get_json(url)
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(key), str):
                raise OidcUnavailable(f"the identity provider's discovery document has no {key}")
        if document.get("issuer") != self.issuer:
            raise OidcUnavailable("the identity provider's discovery document names another issuer")
        self._metadata = document
        return document

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._client.get(url)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as error:
            log.warning("identity provider unreachable (%s): %s", url, type(error).__name__)
            raise OidcUnavailable("the identity provider cannot be reached") from None
        if not isinstance(document, dict):
            raise OidcUnavailable("the identity provider answered something other than a JSON object")
        return document

    async def start(self) -> AuthorizationStart:
        """Where to send the browser, with a fresh state, nonce and PKCE verifier to keep until the callback."""
        metadata = await self.metadata()
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "scope": self.scopes,
                "state": state,
                "nonce": nonce,
                "code_challenge": _pkce_challenge(verifier),
                "code_challenge_method": "S256",
            }
        )
        endpoint = metadata["authorization_endpoint"]
        return AuthorizationStart(
            url=f"{endpoint}{'&' if '?' in endpoint else '?'}{query}",
            state=state,
            nonce=nonce,
            code_verifier=verifier,
        )

    async def finish(self, *, code: str, code_verifier: str, nonce: str) -> Identity:
        """Exchange the code for tokens and verify the ID token (issuer, audience, expiry, nonce)."""
        metadata = await self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": code_verifier,
            "client_id": self.client_id,
        }
        try:
            if self.client_secret:  # client_secret_basic, which every provider supports
                response = await self._client.post(
                    metadata["token_endpoint"], data=form, auth=(self.client_id, self.client_secret)
                )
            else:  # a public client: PKCE alone
                response = await self._client.post(metadata["token_endpoint"], data=form)
        except httpx.HTTPError as error:
            log.warning("identity provider token endpoint unreachable: %s", type(error).__name__)
            raise OidcUnavailable("the identity provider cannot be reached") from None
        if response.status_code >= 500:
            raise OidcUnavailable("the identity provider's token endpoint failed")
        if response.status_code != 200:
            raise OidcRefused("the identity provider did not accept the sign-in (code refused)")
        try:
            tokens = response.json()
        except ValueError:
            raise OidcUnavailable("the identity provider's token answer is not JSON") from None
        id_token = tokens.get("id_token") if isinstance(tokens, dict) else None
        if not isinstance(id_token, str):
            raise OidcRefused("the identity provider sent no ID token")
        claims = await self.verify(id_token, audience=self.client_id)
        if not isinstance(claims.get("nonce"), str) or not secrets.compare_digest(claims["nonce"], nonce):
            raise OidcRefused("the ID token's nonce does not match this sign-in")
        return identity_from(claims, self.role_claim)

    async def verify_access_token(self, token: str) -> Identity:
        """The person an access token (a JWT from OIDC_ISSUER for OIDC_AUDIENCE) speaks for."""
        return identity_from(await self.verify(token, audience=self.audience), self.role_claim)

    async def verify(self, token: str, *, audience: str) -> dict[str, Any]:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise OidcRefused("the token is malformed")
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, RecursionError, ValueError, TypeError):
            raise OidcRefused("the token is malformed") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise OidcRefused(f"the token must be signed with {' or '.join(ALGORITHMS)}")
        key = await self._key(header.get("kid"), algorithm)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                issuer=self.issuer,
                audience=audience,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise OidcRefused("the token has expired") from None
        except jwt.InvalidIssuerError:
            raise OidcRefused("the token is from another issuer") from None
        except jwt.InvalidAudienceError:
            raise OidcRefused("the token is for another audience") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise OidcRefused("the token is not valid") from None
        return claims

    async def _key(self, kid: object, algorithm: str) -> jwt.PyJWK:
        if not isinstance(kid, str) or not kid or len(kid) > 200:
            raise OidcRefused("the token names no key ('kid')")
        stale = self._keys_fetched_at is None or time.monotonic() - self._keys_fetched_at > MAX_AGE
        key = None if stale else self._keys.get(kid)
        if key is None:
            async with self._lock:
                recent = (
                    self._keys_fetched_at is not None
                    and time.monotonic() - self._keys_fetched_at < REFETCH_INTERVAL
                )
                if stale or (kid not in self._keys and not recent):
                    await self._fetch_keys()
                key = self._keys.get(kid)
        if key is None:
            raise OidcRefused("the token is signed with an unknown key")
        if key.algorithm_name != algorithm:
            raise OidcRefused("the token's algorithm does not match its key")
        return key

    async def _fetch_keys(self) -> None:
        metadata = await self.metadata()
        self._keys_fetched_at = time.monotonic()
        document = await self._get_json(metadata["jwks_uri"])
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys", []):
            if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
                continue
            if entry.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(entry)
            except jwt.PyJWTError:
                continue
            if key.algorithm_name in ALGORITHMS:
                keys[entry["kid"]] = key
        self._keys = keys


def build_oidc(settings: Settings) -> OidcProvider | None:
    """The provider OIDC_ISSUER names, or None when OIDC is not configured."""
    if not settings.oidc_issuer or not settings.oidc_client_id:
        return None
    return OidcProvider(settings)
