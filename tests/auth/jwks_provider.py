"""A real identity provider's JWKS endpoint on 127.0.0.1 (served by uvicorn in a thread), whose keys a test
can rotate, take down, and count the fetches of."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
from fastapi import FastAPI, Response

from ..security.live_server import live_server


def jwk_of(public_key: Any, kid: str, algorithm: str) -> dict[str, Any]:
    """The public JWK of ``public_key`` (as an identity provider publishes it)."""
    algo = jwt.get_algorithm_by_name(algorithm)
    entry: dict[str, Any] = json.loads(algo.to_jwk(public_key))
    entry.update({"kid": kid, "use": "sig", "alg": algorithm})
    return entry


@dataclass
class JwksProvider:
    url: str = ""
    keys: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False
    fetches: int = 0

    def serve(self) -> Response:
        self.fetches += 1
        if self.down:
            return Response(status_code=503)
        return Response(json.dumps({"keys": self.keys}), media_type="application/json")


@contextmanager
def running_jwks_provider() -> Iterator[JwksProvider]:
    provider = JwksProvider()
    app = FastAPI()
    app.add_api_route("/.well-known/jwks.json", provider.serve, methods=["GET"])
    with live_server(app) as server:
        provider.url = f"{server.base_url}/.well-known/jwks.json"
        yield provider
