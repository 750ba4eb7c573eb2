"""A real OIDC identity provider on 127.0.0.1 (uvicorn in a thread): discovery, an authorize endpoint that
signs in whoever the test names and redirects back with a code, a token endpoint (client secret, PKCE S256,
single-use codes) and the JWKS. It mints access tokens for the API too."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Form, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from ..auth.jwks_provider import jwk_of
from ..security.live_server import live_server

CLIENT_ID = "privacy-cockpit"
CLIENT_SECRET = "cockpit-client-secret"
KID = "idp-1"


@dataclass
class Person:
    email: str
    name: str
    role: object  # the role claim's value: "operator", "admin", a list, or anything else
    email_verified: bool | None = True  # None: the ID token has no email_verified claim


@dataclass
class OidcProvider:
    issuer: str = ""
    person: Person | None = None  # who signs in at the authorize endpoint
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    wrong_nonce: bool = False
    down: bool = False  # discovery and keys answer 503, as a provider in an outage does
    discovery_requests: int = 0

    def mint(self, claims: dict[str, Any], *, audience: str = CLIENT_ID, ttl: int = 300, **extra: Any) -> str:
        now = int(time.time())
        body = {"iss": self.issuer, "aud": audience, "iat": now, "exp": now + ttl, **claims, **extra}
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": KID})

    def access_token(self, person: Person, *, audience: str = CLIENT_ID, ttl: int = 300) -> str:
        return self.mint(
            {"sub": person.email, "email": person.email, "name": person.name, "role": person.role},
            audience=audience,
            ttl=ttl,
        )

    # -- endpoints ------------------------------------------------------------------------------------------

    def discovery(self) -> Response:
        self.discovery_requests += 1
        if self.down:
            return Response("unavailable", status_code=503)
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    def jwks(self) -> Response:
        if self.down:
            return Response("unavailable", status_code=503)
        return JSONResponse({"keys": [jwk_of(self.key.public_key(), KID, "RS256")]})

    def authorize(self, request: Request) -> Response:
        query = request.query_params
        if query.get("client_id") != CLIENT_ID or query.get("code_challenge_method") != "S256":
            return Response("bad authorization request", status_code=400)
        assert self.person is not None, "the test names who signs in"
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "person": self.person,
            "nonce": query["nonce"],
            "challenge": query["code_challenge"],
            "redirect_uri": query["redirect_uri"],
        }
        back = urlencode({"code": code, "state": query["state"]})
        return RedirectResponse(f"{query['redirect_uri']}?{back}", status_code=302)

    def token(
        self,
        request: Request,
        grant_type: str = Form(),
        code: str = Form(),
        redirect_uri: str = Form(),
        code_verifier: str = Form(),
    ) -> Response:
        self.token_requests.append({"code": code, "authorization": request.headers.get("authorization")})
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self.codes.pop(code, None)  # a code works once
        if grant is None or grant_type != "authorization_code" or redirect_uri != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        digest = hashlib.sha256(code_verifier.encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, status_code=400)
        person: Person = grant["person"]
        claims = {
            "sub": person.email,
            "email": person.email,
            "name": person.name,
            "role": person.role,
            "nonce": "not-this-one" if self.wrong_nonce else grant["nonce"],
        }
        if person.email_verified is not None:
            claims["email_verified"] = person.email_verified
        id_token = self.mint(claims)
        return JSONResponse(
            {"access_token": self.access_token(person), "id_token": id_token, "token_type": "Bearer"}
        )


@contextmanager
def running_oidc_provider() -> Iterator[OidcProvider]:
    provider = OidcProvider()
    app = FastAPI()
    app.add_api_route("/.well-known/openid-configuration", provider.discovery, methods=["GET"])
    app.add_api_route("/jwks", provider.jwks, methods=["GET"])
    app.add_api_route("/authorize", provider.authorize, methods=["GET"])
    app.add_api_route("/token", provider.token, methods=["POST"])
    with live_server(app) as server:
        provider.issuer = server.base_url
        yield provider
