"""Public keys read from PEM files (the customer tokens' CUSTOMER_TOKEN_PUBLIC_KEY_FILE)."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def load_public_key(path: Path) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """A PEM public key for RS256 (RSA) or ES256 (EC P-256); ValueError names what is wrong."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, TypeError):
        raise ValueError(f"{path} is not a PEM public key") from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise ValueError(f"{path}: an RSA key needs at least 2048 bits")
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise ValueError(f"{path} must be an RSA or EC P-256 public key (RS256 or ES256)")
