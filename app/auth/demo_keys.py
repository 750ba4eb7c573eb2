"""The demo's identity provider: a key pair under ``var/demo`` and tokens signed with it (contract section 7).

Only for the embedded default and the README's walk-through: a real deployment verifies the tokens of the
brand's own identity provider (``CUSTOMER_TOKEN_JWKS_URL`` or ``CUSTOMER_TOKEN_PUBLIC_KEY_FILE``).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.core import clock
from app.core.config import DEMO_PRIVATE_KEY_NAME, DEMO_PUBLIC_KEY_NAME

DEMO_ISSUER = "privacy-requests-demo"
DEMO_KEY_ID = "demo-1"


def ensure_demo_key_pair(demo_dir: Path) -> bool:
    """Write an RSA key pair into ``demo_dir`` unless one is there; True when it was made now."""
    private_path = demo_dir / DEMO_PRIVATE_KEY_NAME
    public_path = demo_dir / DEMO_PUBLIC_KEY_NAME
    if private_path.exists() and public_path.exists():
        return False
    demo_dir.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Private from its first byte: the file is created with mode 0600, then written.
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(private_pem)
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return True


def mint_demo_token(
    demo_dir: Path,
    customer_id: str,
    *,
    issuer: str | None = None,
    audience: str | None = None,
    claim: str = "sub",
    ttl: timedelta = timedelta(hours=1),
) -> str:
    """A customer token for ``customer_id`` signed with the demo's private key (FileNotFoundError without one)."""
    private_pem = (demo_dir / DEMO_PRIVATE_KEY_NAME).read_bytes()
    now = clock.now()
    claims: dict[str, object] = {
        "iss": issuer or DEMO_ISSUER,
        claim: customer_id,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    if audience is not None:
        claims["aud"] = audience
    return jwt.encode(claims, private_pem, algorithm="RS256", headers={"kid": DEMO_KEY_ID})
