"""Secret links: 256 random bits, stored only as an HMAC with SECRET_KEY."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

_URLSAFE = frozenset(string.ascii_letters + string.digits + "-_")


def new_token(secret_key: str) -> tuple[str, str]:
    """A fresh token and the hash to store."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token, secret_key)


def hash_token(token: str, secret_key: str) -> str:
    return hmac.new(secret_key.encode(), token.encode(), hashlib.sha256).hexdigest()


def looks_like_token(token: str) -> bool:
    """Cheap shape check before any database work: 43 URL-safe characters."""
    return len(token) == 43 and all(c in _URLSAFE for c in token)
