"""A real S3-compatible server (moto's, in a thread on 127.0.0.1) holding the packages, and the processing tests'
world (CRM + support desk + the HTTP loyalty source) with PACKAGE_STORE pointing at a fresh bucket in it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import get_session
from moto.server import ThreadedMotoServer

from ..processing.conftest import loyalty_timeout, remote, sources_file, world

__all__ = ["loyalty_timeout", "remote", "sources_file", "world"]

REGION = "eu-central-1"
PREFIX = "privacy/packages"


@dataclass
class S3Server:
    """moto's S3 API on 127.0.0.1; ``stop()`` and ``start()`` take it away and bring it back on the same port
    (its objects survive: moto keeps them in this process)."""

    port: int = 0
    _server: ThreadedMotoServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        self.port = self._server.get_host_and_port()[1]

    def stop(self) -> None:
        assert self._server is not None
        self._server.stop()
        self._server = None


@asynccontextmanager
async def s3_client(server: S3Server) -> AsyncIterator[Any]:
    """The test's own S3 client (aiobotocore, as the service uses), to look into the bucket."""
    async with get_session().create_client("s3", endpoint_url=server.url, region_name=REGION) as client:
        yield client


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials where botocore looks first (the usual AWS variables), and nothing from this machine's own
    AWS configuration."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-key")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def shared_s3() -> Iterator[S3Server]:
    server = S3Server()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3(shared_s3: S3Server) -> S3Server:
    """The S3 server this test's packages go to; a test that stops it overrides this with one of its own."""
    return shared_s3


@pytest.fixture
async def bucket(s3: S3Server, aws_credentials: None) -> str:
    name = f"packages-{uuid.uuid4().hex[:12]}"
    async with s3_client(s3) as client:
        await client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


@pytest.fixture
def settings_overrides(s3: S3Server, bucket: str) -> dict[str, Any]:
    return {
        "job_max_attempts": 2,
        "auto_accept_access": True,
        "package_store": f"s3://{bucket}/{PREFIX}/",
        "s3_endpoint_url": s3.url,
        "s3_region": REGION,
    }


async def objects_in(s3: S3Server, bucket: str) -> dict[str, bytes]:
    """Every object in the bucket, by key, with its bytes."""
    async with s3_client(s3) as client:
        listing = await client.list_objects_v2(Bucket=bucket)
        found = {}
        for item in listing.get("Contents", []):
            answer = await client.get_object(Bucket=bucket, Key=item["Key"])
            async with answer["Body"] as body:
                found[item["Key"]] = await body.read()
    return found
