"""The S3 store: packages as objects in a bucket of any S3 API (AWS, MinIO, Ceph, R2...), through aiobotocore.

Uploads go in parts of :data:`PART_SIZE` (one PutObject when the package is smaller), so a worker holds about
three parts in memory (the one filling, the one going up, the client's copy) whatever the package's size;
downloads stream. Credentials come from where botocore finds them: the AWS_* variables, a profile, or the
machine's role.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from typing import Any

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from app.packages.crypto import PackageError
from app.packages.stores.base import StoredObject, StoreUnavailable

log = logging.getLogger("app.packages")

# 8 MiB as boto3's transfers use; S3 wants every part but the last to be at least 5 MiB.
PART_SIZE = 8 * 1024 * 1024
READ_SIZE = 1024 * 1024
# Seconds a deletion waits for the store's answer (an answer to DeleteObject is small and quick).
DELETE_READ_TIMEOUT = 10
CONTENT_TYPE = "application/octet-stream"
_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3Store:
    """New packages go to ``bucket`` under ``prefix``; reading and deleting follow the ``s3://`` location a
    download row names (so rows keep working when PACKAGE_STORE changes). ``bucket`` is None when S3 only serves
    such older rows."""

    def __init__(
        self,
        *,
        bucket: str | None,
        prefix: str,
        endpoint_url: str | None,
        region: str | None,
        part_size: int = PART_SIZE,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self._endpoint_url = endpoint_url
        self._region = region
        self._part_size = part_size
        self._client: Any = None
        self._deleting: Any = None
        self._clients = contextlib.AsyncExitStack()
        self._lock = asyncio.Lock()

    async def _s3(self) -> Any:
        """The client, made at first use (start-up does not wait for the store) and kept until :meth:`aclose`."""
        async with self._lock:
            if self._client is None:
                self._client = await self._new_client(
                    read_timeout=60, retries={"mode": "standard", "max_attempts": 3}
                )
        return self._client

    async def _deleter(self) -> Any:
        """The client for deletions: one short attempt each. They are retried anyway (the purge job's backoff,
        the next sweep), and the expiry sweep deletes many in one transaction: with a stalled store, the
        uploading client's attempts would hold it for minutes per package."""
        async with self._lock:
            if self._deleting is None:
                self._deleting = await self._new_client(
                    read_timeout=DELETE_READ_TIMEOUT, retries={"mode": "standard", "total_max_attempts": 1}
                )
        return self._deleting

    async def _new_client(self, *, read_timeout: float, retries: dict[str, Any]) -> Any:
        config = AioConfig(
            connect_timeout=5,
            read_timeout=read_timeout,
            retries=retries,
            # S3-compatible servers are addressed by path (bucket names are not in their DNS), and many
            # reject the integrity headers botocore adds by default; S3 itself takes both.
            s3={"addressing_style": "path"} if self._endpoint_url else None,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        client = get_session().create_client(
            "s3", endpoint_url=self._endpoint_url, region_name=self._region, config=config
        )
        return await self._clients.enter_async_context(client)

    async def put(self, name: str, chunks: AsyncIterable[bytes]) -> StoredObject:
        if self.bucket is None:
            raise StoreUnavailable("PACKAGE_STORE names no S3 bucket")
        key = self.prefix + name
        location = f"s3://{self.bucket}/{key}"
        client = await self._s3()
        pending = bytearray()
        size = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            async for chunk in chunks:
                pending += chunk
                size += len(chunk)
                if len(pending) >= self._part_size:
                    part, pending = bytes(pending), bytearray()
                    with _translated(location):
                        if upload_id is None:
                            started = await client.create_multipart_upload(
                                Bucket=self.bucket, Key=key, ContentType=CONTENT_TYPE
                            )
                            upload_id = str(started["UploadId"])
                        parts.append(await self._upload_part(client, key, upload_id, len(parts) + 1, part))
            with _translated(location):
                if upload_id is None:
                    await client.put_object(
                        Bucket=self.bucket, Key=key, Body=bytes(pending), ContentType=CONTENT_TYPE
                    )
                else:
                    if pending:
                        part = bytes(pending)
                        parts.append(await self._upload_part(client, key, upload_id, len(parts) + 1, part))
                    await client.complete_multipart_upload(
                        Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                    )
        except BaseException:
            if upload_id is not None:
                await self._abort(client, key, upload_id)
            raise
        return StoredObject(location=location, size=size)

    async def _upload_part(
        self, client: Any, key: str, upload_id: str, number: int, body: bytes
    ) -> dict[str, Any]:
        answer = await client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        return {"PartNumber": number, "ETag": answer["ETag"]}

    async def _abort(self, client: Any, key: str, upload_id: str) -> None:
        """An upload that failed leaves no parts behind (they would be billed, and hold ciphertext nobody reads)."""
        try:
            await client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except (ClientError, BotoCoreError, aiohttp.ClientError, TimeoutError) as exc:
            log.error("s3://%s/%s: the failed upload could not be aborted: %s", self.bucket, key, exc)

    async def read(self, location: str) -> AsyncIterator[bytes]:
        bucket, key = parse_location(location)
        client = await self._s3()
        with _translated(location):
            answer = await client.get_object(Bucket=bucket, Key=key)
            async with answer["Body"] as body:
                async for chunk in body.iter_chunks(READ_SIZE):
                    yield chunk

    async def delete(self, location: str) -> None:
        bucket, key = parse_location(location)
        client = await self._deleter()
        with _translated(location):
            await client.delete_object(Bucket=bucket, Key=key)

    async def aclose(self) -> None:
        await self._clients.aclose()
        self._client = self._deleting = None


def parse_location(location: str) -> tuple[str, str]:
    """``s3://bucket/key`` as bucket and key."""
    bucket, _, key = location.removeprefix("s3://").partition("/")
    if not location.startswith("s3://") or not bucket or not key:
        raise PackageError(f"{location!r} is not an s3://bucket/key location")
    return bucket, key


@contextlib.contextmanager
def _translated(location: str) -> Iterator[None]:
    """botocore's and aiohttp's errors as the store's: a missing object is a damaged package (the link is gone);
    anything else means the store is unavailable. Other errors (a data source's, while uploading) pass."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in _MISSING:
            raise PackageError(f"{location} is not in the bucket") from None
        raise StoreUnavailable(f"{location}: {code} {error.get('Message', '')}".strip()) from exc
    except (BotoCoreError, aiohttp.ClientError, TimeoutError) as exc:
        raise StoreUnavailable(f"{location}: {exc}") from exc
