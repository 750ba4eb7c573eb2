"""Packages at rest: encrypted (``crypto``) before they reach the store PACKAGE_STORE names, decrypted on the way
out. Built once at start-up (``ServiceContext.packages``) and closed at shutdown."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.core.config import Settings
from app.packages.crypto import PackageError, Sealing, unseal
from app.packages.stores.base import ObjectStore, StoreUnavailable
from app.packages.stores.file import FileStore

if TYPE_CHECKING:
    from app.packages.stores.s3 import S3Store

log = logging.getLogger("app.packages")

__all__ = ["PackageStore", "SavedPackage", "StoreUnavailable"]


@dataclass(frozen=True)
class SavedPackage:
    location: str  # the download row's ``path``: a file path, or ``s3://bucket/key``
    size: int  # plaintext bytes: what the customer downloads


class PackageStore:
    """PACKAGE_STORE's store (S3 with S3_ENDPOINT_URL and S3_REGION), encrypting with ``secret_key``.

    New packages go to the configured store; an existing one is read and deleted where its location says (a
    file path or ``s3://``), so download rows written before PACKAGE_STORE changed keep working."""

    def __init__(self, *, secret_key: str, settings: Settings) -> None:
        self._secret_key = secret_key
        self._settings = settings
        self._files = FileStore(settings.package_dir)
        self._s3: S3Store | None = None
        self._new: ObjectStore = self._s3_store() if settings.package_bucket else self._files

    def _s3_store(self) -> S3Store:
        # Imported and made only when S3 is used: aiobotocore takes a while to import, and the file store's
        # users (the embedded default, the CLI) need none of it.
        if self._s3 is None:
            from app.packages.stores.s3 import S3Store

            bucket, prefix = self._settings.package_bucket or (None, "")
            self._s3 = S3Store(
                bucket=bucket,
                prefix=prefix,
                endpoint_url=self._settings.s3_endpoint_url,
                region=self._settings.s3_region,
            )
        return self._s3

    def _holding(self, location: str) -> ObjectStore:
        return self._s3_store() if location.startswith("s3://") else self._files

    @staticmethod
    def holder(location: str) -> str:
        """Which store holds ``location``: ``"s3"`` or ``"file"`` (one that is unavailable is so for all its
        packages)."""
        return "s3" if location.startswith("s3://") else "file"

    async def save(self, chunks: AsyncIterable[bytes]) -> SavedPackage:
        """Encrypt the package's chunks into the store as they come. All or nothing: a failure (of the chunks'
        source or of the store) leaves nothing stored and is raised."""
        sealing = Sealing(chunks, secret_key=self._secret_key)
        async with contextlib.aclosing(aiter(sealing)) as sealed:
            stored = await self._new.put(f"{uuid.uuid4()}.zip.enc", sealed)
        return SavedPackage(location=stored.location, size=sealing.plaintext_size)

    def open(self, location: str) -> AsyncIterator[bytes]:
        """The decrypted package. Raises (at the first chunk) ``PackageError`` when it is missing, damaged or
        tampered with, ``OSError`` when a file cannot be read, :class:`StoreUnavailable` when S3 does not answer."""
        name = location.rpartition("/")[2] or location
        return unseal(self._holding(location).read(location), secret_key=self._secret_key, name=name)

    async def delete(self, location: str) -> None:
        """Remove a package (done when it is already gone); raises ``OSError`` or :class:`StoreUnavailable`
        (``PackageError`` for a location no store can read)."""
        await self._holding(location).delete(location)

    async def discard(self, location: str) -> None:
        """Remove a package nothing points at, or that nobody may download any more: a failure is logged, not
        raised (the caller's work is done either way)."""
        try:
            await self.delete(location)
        except (OSError, StoreUnavailable, PackageError) as exc:
            log.error("package %s could not be removed: %s", location, exc)

    async def aclose(self) -> None:
        if self._s3 is not None:
            await self._s3.aclose()
        await self._files.aclose()
