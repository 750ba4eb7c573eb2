"""The brand (contract section 8): who is writing to the customer, shown in every email, page and report."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

_URL = re.compile(r"https?://\S+$")


class _BrandSettings(Protocol):
    brand_name: str | None
    brand_url: str | None
    privacy_policy_url: str | None
    controller_address: str | None
    dpo_email: str | None
    supervisory_authority: str | None


def parse_authority(value: str) -> tuple[str, str | None]:
    """``"Name, https://..."`` (or ``"Name https://..."``) -> ``(name, url)``; a name alone has no URL.

    Raises ``ValueError`` when only a URL is given: a customer needs the authority's name to find it.
    """
    text = value.strip()
    match = _URL.search(text)
    if match is None:
        return text, None
    name = text[: match.start()].strip().rstrip(",;").strip()
    if not name:
        raise ValueError(
            'needs the authority\'s name before its URL, e.g. "Name of the authority, https://..."'
        )
    return name, match.group(0)


@dataclass(frozen=True)
class Brand:
    """Brand settings as templates read them; every field may be ``None`` (templates leave it out)."""

    name: str | None = None
    url: str | None = None
    privacy_policy_url: str | None = None
    controller_address: str | None = None
    dpo_email: str | None = None
    authority_name: str | None = None
    authority_url: str | None = None

    @classmethod
    def from_settings(cls, settings: _BrandSettings) -> Brand:
        authority_name, authority_url = (
            parse_authority(settings.supervisory_authority)
            if settings.supervisory_authority
            else (None, None)
        )
        return cls(
            name=settings.brand_name,
            url=settings.brand_url,
            privacy_policy_url=settings.privacy_policy_url,
            controller_address=settings.controller_address,
            dpo_email=settings.dpo_email,
            authority_name=authority_name,
            authority_url=authority_url,
        )

    def as_context(self) -> dict[str, Any]:
        """A plain mapping (JSON-ready) for template contexts."""
        return {
            "name": self.name,
            "url": self.url,
            "privacy_policy_url": self.privacy_policy_url,
            "controller_address": self.controller_address,
            "dpo_email": self.dpo_email,
            "authority_name": self.authority_name,
            "authority_url": self.authority_url,
        }
