"""What services need besides a session: settings, the secret, the data sources, the package store. Built once at
start-up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.core.config import Settings

if TYPE_CHECKING:
    from app.packages import PackageStore
    from app.sources import DataSources


@dataclass
class ServiceContext:
    settings: Settings
    secret_key: str
    sources: DataSources
    # Where data packages wait for their download (PACKAGE_STORE), encrypting them on the way in.
    packages: PackageStore

    @property
    def mail_domain(self) -> str:
        return domain_of(self.settings.mail_from)


def domain_of(address: str) -> str:
    """The domain part of an address such as ``MAIL_FROM`` (``localhost`` when it has none)."""
    if "@" not in address:
        return "localhost"
    return address.rpartition("@")[2].strip(" >") or "localhost"
