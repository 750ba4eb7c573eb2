"""Signing secrets and signatures per the Standard Webhooks specification, with its reference library.

The secret (``whsec_`` + base64 of 32 random bytes) is shown once; the table holds it sealed with Fernet under
a key derived from SECRET_KEY (HKDF), as the service must read it to sign but a stolen table must not."""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import UTC, datetime
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from standardwebhooks import Webhook


class UnreadableSecret(Exception):
    """A sealed secret does not open under this SECRET_KEY (the key changed, or the row was altered)."""


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


@lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"privacy-requests webhook secret"
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: str, *, secret_key: str) -> str:
    return _fernet(secret_key).encrypt(secret.encode()).decode("ascii")


def unseal(sealed: str, *, secret_key: str) -> str:
    try:
        return _fernet(secret_key).decrypt(sealed.encode("ascii")).decode()
    except (InvalidToken, UnicodeError):
        raise UnreadableSecret(
            "the webhook's stored secret does not decrypt under this SECRET_KEY (was the key changed?)"
        ) from None


def message_id(event_id: uuid.UUID) -> str:
    """The ``webhook-id``: the event's, the same on every retry and for every subscription, so a receiver
    can drop a repeat."""
    return f"msg_{event_id.hex}"


def headers(secret: str, *, msg_id: str, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt.

    ``webhook-timestamp`` is the wall clock, not the service's settable clock: it is the attempt's time, which
    a receiver checks against its own clock to refuse replays (the reference library allows 5 minutes).
    """
    at = datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body),
        "content-type": "application/json",
    }
