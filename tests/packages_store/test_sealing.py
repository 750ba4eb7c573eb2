"""Encryption on streams, as both stores use it: the sealed bytes may come back cut anywhere (S3 hands out
whatever the network delivered), and any cut, addition or change is refused."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable

import pytest

from app.packages import PackageError
from app.packages.crypto import FRAME, MAGIC, Sealing, unseal

SECRET = "test-secret-key-0123456789abcdef"
PAYLOAD = os.urandom(3 * 1024 * 1024 + 12_345)  # several blocks, and a last frame that is not full


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def sealed(payload: bytes) -> tuple[bytes, int]:
    sealing = Sealing(pieces(payload, 100_000), secret_key=SECRET)
    data = b"".join([chunk async for chunk in sealing])
    return data, sealing.plaintext_size


async def opened(data: bytes, size: int) -> bytes:
    return b"".join(
        [chunk async for chunk in unseal(pieces(data, size), secret_key=SECRET, name="the package")]
    )


@pytest.mark.parametrize("size", [1_000_003, FRAME + 20, 4096, 777])
async def test_sealed_bytes_open_whatever_the_pieces(size: int) -> None:
    data, plaintext_size = await sealed(PAYLOAD)
    assert plaintext_size == len(PAYLOAD)
    assert PAYLOAD[:1024] not in data

    assert await opened(data, size) == PAYLOAD


async def test_each_seal_has_its_own_salt_and_key() -> None:
    payload = b"personal data " * 10_000
    first, _ = await sealed(payload)
    second, _ = await sealed(payload)

    header = len(MAGIC)
    assert first[:header] == second[:header] == MAGIC
    assert first[header : header + 16] != second[header : header + 16]  # a fresh salt per package ...
    assert first[header + 16 :] != second[header + 16 :]  # ... so another key: nothing in common after it
    assert first[header + 16 : header + 16 + 1024] not in second
    assert await opened(first, 4096) == await opened(second, 4096) == payload


async def test_a_small_stream_opens_one_byte_at_a_time() -> None:
    payload = b"personal data " * 10_000
    data, _ = await sealed(payload)
    assert await opened(data, 1) == payload


async def test_an_empty_package() -> None:
    data, size = await sealed(b"")
    assert size == 0
    assert await opened(data, 5) == b""


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: 23 + 4 + FRAME + 16], id="cut-at-a-frame-boundary"),
        pytest.param(lambda data: data + b"\x00", id="a-byte-added"),
        pytest.param(lambda data: data[:-1], id="last-byte-cut"),
        pytest.param(lambda data: data[:23], id="header-only"),
        pytest.param(lambda data: b"PK\x03\x04" + data[4:], id="not-a-package"),
        pytest.param(
            lambda data: data[:2_000_000] + bytes([data[2_000_000] ^ 1]) + data[2_000_001:], id="flipped"
        ),
    ],
)
async def test_damage_is_refused(damage: Callable[[bytes], bytes]) -> None:
    data, _ = await sealed(PAYLOAD)
    with pytest.raises(PackageError):
        await opened(damage(data), 65_536)
