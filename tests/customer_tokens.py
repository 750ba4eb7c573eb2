"""Customer tokens for tests: key pairs the tests make, and JWTs signed with them (contract section 7)."""

from __future__ import annotations

import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

TEST_ISSUER = "https://id.brand.test"


@cache
def rsa_key(name: str = "main") -> rsa.RSAPrivateKey:
    """A 2048-bit RSA key per name, made once per test session."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def ec_key(name: str = "main") -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@cache
def public_key_file(name: str = "main", kind: str = "rsa") -> Path:
    """The public key of ``rsa_key(name)`` (or ``ec_key``) as a PEM file, for CUSTOMER_TOKEN_PUBLIC_KEY_FILE."""
    key = rsa_key(name) if kind == "rsa" else ec_key(name)
    path = Path(tempfile.mkdtemp(prefix="customer-key-")) / f"{name}-{kind}.pem"
    path.write_bytes(public_pem(key))
    return path


def customer_token(
    customer_id: str | None,
    *,
    key: Any = None,
    algorithm: str = "RS256",
    kid: str | None = None,
    expires_in: float = 600,
    not_before: float | None = None,
    claim: str = "sub",
    **claims: Any,
) -> str:
    """A JWT for ``customer_id`` signed by ``key`` (the main RSA key by default); extra claims as keywords."""
    now = time.time()
    payload: dict[str, Any] = {"iat": int(now), "exp": int(now + expires_in), **claims}
    if customer_id is not None:
        payload[claim] = customer_id
    if not_before is not None:
        payload["nbf"] = int(now + not_before)
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(
        payload, key if key is not None else rsa_key("main"), algorithm=algorithm, headers=headers
    )


def signed_in(customer_id: str, **options: Any) -> dict[str, str]:
    """The header of a signed-in customer."""
    return {"X-Customer-Token": customer_token(customer_id, **options)}
