"""Data packages encrypted at rest: AES-256-GCM in framed chunks, a key per file from HKDF with a random salt.

Layout: ``MAGIC | salt(16) | frames``; a frame is ``length(4, big-endian) | ciphertext+tag``. The nonce is the
frame counter plus a last-frame flag (the STREAM construction), and the header is authenticated with every
frame, so reordered, dropped, truncated or altered frames all fail to decrypt.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"PRQPKG1"
FRAME = 64 * 1024
_SALT = 16
_TAG = 16


class PackageError(Exception):
    """An encrypted package is damaged, tampered with, or encrypted under another key."""


def _cipher(secret_key: str, salt: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"privacy-requests data package").derive(
        secret_key.encode()
    )
    return AESGCM(key)


def _nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


async def write_encrypted_package(path: Path, chunks: AsyncIterator[bytes], *, secret_key: str) -> int:
    """Encrypt the chunks into ``path`` (mode 0600, written to a temp name then renamed, so a reader never
    sees half a package). Returns the plaintext size: what the customer downloads."""
    salt = os.urandom(_SALT)
    header = MAGIC + salt
    cipher = _cipher(secret_key, salt)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    size = 0
    counter = 0
    pending = bytearray()
    try:
        with os.fdopen(fd, "wb") as out:
            await asyncio.to_thread(out.write, header)
            async for chunk in chunks:
                size += len(chunk)
                pending += chunk
                # Keep at least one byte back: the final frame must be written with the last-frame flag.
                while len(pending) > FRAME:
                    frame = bytes(pending[:FRAME])
                    del pending[:FRAME]
                    await asyncio.to_thread(
                        _write_frame, out, cipher.encrypt(_nonce(counter, False), frame, header)
                    )
                    counter += 1
            await asyncio.to_thread(
                _write_frame, out, cipher.encrypt(_nonce(counter, True), bytes(pending), header)
            )
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return size


def _write_frame(out: BinaryIO, sealed: bytes) -> None:
    out.write(len(sealed).to_bytes(4, "big") + sealed)


async def read_encrypted_package(path: Path, *, secret_key: str) -> AsyncIterator[bytes]:
    """Decrypt a package chunk by chunk; raise :class:`PackageError` on any tampering or truncation."""
    source = await asyncio.to_thread(path.open, "rb")
    try:
        header = await asyncio.to_thread(source.read, len(MAGIC) + _SALT)
        if len(header) != len(MAGIC) + _SALT or not header.startswith(MAGIC):
            raise PackageError(f"{path.name} is not a data package")
        cipher = _cipher(secret_key, header[len(MAGIC) :])
        counter = 0
        sealed = await asyncio.to_thread(_read_frame, source)
        if sealed is None:
            raise PackageError(f"{path.name} is truncated")
        while sealed is not None:
            following = await asyncio.to_thread(_read_frame, source)
            try:
                plain = cipher.decrypt(_nonce(counter, following is None), sealed, header)
            except InvalidTag:
                raise PackageError(f"{path.name} failed authentication: damaged or tampered with") from None
            if plain:
                yield plain
            counter += 1
            sealed = following
    finally:
        await asyncio.to_thread(source.close)


def _read_frame(source: BinaryIO) -> bytes | None:
    prefix = source.read(4)
    if not prefix:
        return None
    length = int.from_bytes(prefix, "big")
    sealed = source.read(length) if len(prefix) == 4 and _TAG <= length <= FRAME + _TAG else b""
    if len(sealed) != length or len(prefix) != 4:
        raise PackageError("the package is truncated or damaged")
    return sealed
