"""Email bodies sealed at rest: a pending email's confirmation or download link must not be readable from the
``emails`` table (contract section 7). Fernet (AES-128-CBC with HMAC-SHA256) under a key derived from
SECRET_KEY with HKDF, so a stolen table without the secret yields no working link; once the email is sent
(or given up on) its bodies are cleared altogether.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# Marks a sealed body. A body without it was stored in clear before bodies were sealed (migration 0002);
# it is sent as it is, and cleared like any other once sent.
PREFIX = "fernet:"


class UnreadableBody(Exception):
    """A sealed body does not open under this SECRET_KEY (the key changed, or the row was altered)."""


@lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"privacy-requests outbox body").derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(text: str, *, secret_key: str) -> str:
    return PREFIX + _fernet(secret_key).encrypt(text.encode()).decode("ascii")


def unseal(stored: str, *, secret_key: str) -> str:
    if not stored.startswith(PREFIX):
        return stored
    try:
        return _fernet(secret_key).decrypt(stored[len(PREFIX) :].encode("ascii")).decode()
    except (InvalidToken, UnicodeError):
        raise UnreadableBody(
            "the stored email body does not decrypt under this SECRET_KEY (was the key changed?)"
        ) from None
