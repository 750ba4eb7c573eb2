"""The data layer's value types and errors, shared by every source kind."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Customer:
    """A customer as the directory source knows them."""

    id: str
    email: str | None
    name: str | None


@dataclass(frozen=True)
class Identity:
    """Who a request is about: the keys sources match on. Build it with :meth:`of` to normalise the email."""

    customer_id: str | None
    email: str | None

    @classmethod
    def of(cls, *, customer_id: str | None = None, email: str | None = None) -> Identity:
        """An identity with the email lowercased (sources compare emails case-insensitively)."""
        return cls(customer_id=customer_id or None, email=email.strip().lower() if email else None)

    def __post_init__(self) -> None:
        # The contract: the email is lowercased. Enforce it here so no caller can forget.
        if self.email is not None and self.email != self.email.lower():
            object.__setattr__(self, "email", self.email.lower())


@dataclass(frozen=True)
class Refusal:
    """A source's answer that it will not erase now (a legal hold, an open contract)."""

    source: str
    code: str
    message: str


class SourcesFileError(Exception):
    """The sources file is invalid; the message names the file, the line and the field."""


class SourceError(Exception):
    """A source failed (timeout, server error, bad answer); the message names the source and never holds a
    secret (header values, URL passwords).

    ``retryable`` says whether asking again can help: yes after a timeout, a lost connection, a 5xx, 408 or
    429; no after another 4xx or an answer that breaks the protocol (a job then fails at once).
    """

    # Seconds an API client is told to wait (``Retry-After``) before asking again.
    retry_after = 30

    def __init__(self, source: str, message: str, *, retryable: bool = True) -> None:
        super().__init__(f"source '{source}': {message}")
        self.source = source
        self.problem = message
        self.retryable = retryable
