"""What every package store offers: put a stream of encrypted chunks, read one back as a stream, delete one."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Protocol


class StoreUnavailable(Exception):
    """The store did not answer, or refused the operation (credentials, permissions, a missing bucket): the
    package may well be there; try again later."""


@dataclass(frozen=True)
class StoredObject:
    location: str  # what the download row keeps: a file path, or ``s3://bucket/key``
    size: int  # bytes stored


class ObjectStore(Protocol):
    async def put(self, name: str, chunks: AsyncIterable[bytes]) -> StoredObject:
        """Store the chunks under ``name``; all or nothing (a failure leaves no object behind)."""
        ...

    def read(self, location: str) -> AsyncIterator[bytes]:
        """The stored bytes as a stream; :class:`app.packages.PackageError` when nothing is stored there."""
        ...

    async def delete(self, location: str) -> None:
        """Remove the object; deleting one that is already gone succeeds."""
        ...

    async def aclose(self) -> None: ...
