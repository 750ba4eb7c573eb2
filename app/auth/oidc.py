"""OIDC (contract section 9): the identity provider's discovery document and keys, the authorization code flow
with PKCE, state and nonce, and verification of its JWTs (ID tokens at sign-in, access tokens on the API).

Verification is ``app.auth.jwks``'s (shared with customer tokens), with keys from the provider's JWKS (found by
discovery, cached, refetched for an unknown ``kid`` at most every ``REFETCH_INTERVAL`` seconds, failures
included). RS256 and ES256 only.

The person is the token's ``email`` claim; the role is ``OIDC_ROLE_CLAIM`` (a string, or a list of strings such
as groups), which must be ``operator`` or ``admin``: anything else is refused.

An ID token is not an access token: its ``aud`` is the client id, which is also the default ``OIDC_AUDIENCE``, so
on the API a token carrying a ``nonce`` (only ID tokens do) is refused whatever its audience.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx

from app.auth.jwks import JwksKeys, JwtVerifier, KeysUnavailable, TokenInvalid

if TYPE_CHECKING:
    from app.core.config import Settings

log = logging.getLogger("app.oidc")

REFETCH_INTERVAL = 30.0
CALLBACK_PATH = "/cockpit/oidc/callback"


class OidcRefused(Exception):
    """The token or the answer is not acceptable; the message says why, for the page or the 401 (never the
    token itself)."""


class NoRole(OidcRefused):
    """The person is known to the identity provider but has no cockpit role (``OIDC_ROLE_CLAIM``)."""


class UnverifiedEmail(OidcRefused):
    """The identity provider does not say it verified the person's email address (``email_verified``)."""


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


def identity_from(claims: dict[str, Any], role_claim: str, *, verified_email_required: bool) -> Identity:
    """The person and role the claims name. Operators are matched by email, so at sign-in (an ID token) the
    provider must say it verified the address (``email_verified`` true); ``verified_email_required=False``
    (access tokens, which often lack the claim) still refuses an address it says is unverified."""
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or len(email) > 320:
        raise OidcRefused("the identity provider's token names no email address (claim 'email')")
    verified = claims.get("email_verified")
    if verified is False or (verified_email_required and verified is not True):
        raise UnverifiedEmail("the identity provider has not verified this person's email address")
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
        self.keys = JwksKeys(
            self._jwks_uri, client=self._client, refetch_interval=REFETCH_INTERVAL, label="identity provider"
        )
        self._verifier = JwtVerifier(subject="the token", keys=self.keys)

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

    async def _jwks_uri(self) -> str:
        try:
            uri: str = (await self.metadata())["jwks_uri"]
        except OidcUnavailable as error:
            raise KeysUnavailable(str(error)) from None
        return uri

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
        return identity_from(claims, self.role_claim, verified_email_required=True)

    async def verify_access_token(self, token: str) -> Identity:
        """The person an access token (a JWT from OIDC_ISSUER for OIDC_AUDIENCE) speaks for."""
        claims = await self.verify(token, audience=self.audience)
        if "nonce" in claims:
            # An ID token (the sign-in's proof for this client, whose aud is the client id) is no API credential.
            raise OidcRefused("it is an ID token, not an access token")
        # Access tokens often carry no email_verified: only an explicit false is refused here.
        return identity_from(claims, self.role_claim, verified_email_required=False)

    async def verify(self, token: str, *, audience: str) -> dict[str, Any]:
        """The claims of a token from this issuer for ``audience``; OidcRefused or OidcUnavailable."""
        try:
            return await self._verifier.verify(
                token, issuer=self.issuer, audience=audience, require=("exp", "iss", "aud")
            )
        except TokenInvalid as error:
            raise OidcRefused(str(error)) from None
        except KeysUnavailable:
            raise OidcUnavailable("the identity provider's keys cannot be fetched") from None


def build_oidc(settings: Settings) -> OidcProvider | None:
    """The provider OIDC_ISSUER names, or None when OIDC is not configured."""
    if not settings.oidc_issuer or not settings.oidc_client_id:
        return None
    return OidcProvider(settings)
