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
# Frames are encrypted and written, or read and decrypted, this many bytes at a time on a worker thread:
# one thread hop per frame would cost more than the AES-GCM work itself.
BLOCK = 1024 * 1024
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
    out = await asyncio.to_thread(_create, partial)
    size = 0
    counter = 0
    pending = bytearray()
    try:
        try:
            await asyncio.to_thread(out.write, header)
            async for chunk in chunks:
                size += len(chunk)
                pending += chunk
                if len(pending) > BLOCK:
                    # Whole frames only, and at least one byte kept back: the final frame must be written
                    # with the last-frame flag.
                    whole = (len(pending) - 1) // FRAME * FRAME
                    data = bytes(pending[:whole])
                    del pending[:whole]
                    counter = await asyncio.to_thread(_write_frames, out, cipher, header, data, counter)
            data = bytes(pending)
            await asyncio.to_thread(_write_frames, out, cipher, header, data, counter, last=True)
        finally:
            await asyncio.to_thread(out.close)
        await asyncio.to_thread(os.replace, partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return size


def _create(path: Path) -> BinaryIO:
    """Blocking: open ``path`` for writing, readable by the owner only."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")


def _write_frames(
    out: BinaryIO, cipher: AESGCM, header: bytes, data: bytes, counter: int, *, last: bool = False
) -> int:
    """Blocking: encrypt ``data`` as frames of :data:`FRAME` bytes (the last one flagged when ``last``, even if
    empty) and write them; returns the next frame counter."""
    view = memoryview(data)
    starts = range(0, len(data), FRAME) if data else range(1)
    for start in starts:
        final = last and start + FRAME >= len(data)
        sealed = cipher.encrypt(_nonce(counter, final), view[start : start + FRAME], header)
        out.write(len(sealed).to_bytes(4, "big"))
        out.write(sealed)
        counter += 1
    return counter


async def read_encrypted_package(path: Path, *, secret_key: str) -> AsyncIterator[bytes]:
    """Decrypt a package chunk by chunk; raise :class:`PackageError` on any tampering or truncation."""
    source = await asyncio.to_thread(path.open, "rb")
    try:
        header = await asyncio.to_thread(source.read, len(MAGIC) + _SALT)
        if len(header) != len(MAGIC) + _SALT or not header.startswith(MAGIC):
            raise PackageError(f"{path.name} is not a data package")
        cipher = _cipher(secret_key, header[len(MAGIC) :])
        frames = _Frames(source, cipher, header, path.name)
        await asyncio.to_thread(frames.start)
        while not frames.done:
            plain = await asyncio.to_thread(frames.next_block)
            if plain:
                yield plain
    finally:
        await asyncio.to_thread(source.close)


class _Frames:
    """Blocking: reads and decrypts a package's frames, about :data:`BLOCK` plaintext bytes per call."""

    def __init__(self, source: BinaryIO, cipher: AESGCM, header: bytes, name: str) -> None:
        self._source = source
        self._cipher = cipher
        self._header = header
        self._name = name
        self._counter = 0
        self._sealed: bytes | None = None
        self.done = False

    def start(self) -> None:
        self._sealed = _read_frame(self._source)
        if self._sealed is None:
            raise PackageError(f"{self._name} is truncated")

    def next_block(self) -> bytes:
        plain: list[bytes] = []
        size = 0
        while self._sealed is not None and size < BLOCK:
            # One frame read ahead: the last frame is the one with nothing after it.
            following = _read_frame(self._source)
            try:
                frame = self._cipher.decrypt(
                    _nonce(self._counter, following is None), self._sealed, self._header
                )
            except InvalidTag:
                raise PackageError(f"{self._name} failed authentication: damaged or tampered with") from None
            plain.append(frame)
            size += len(frame)
            self._counter += 1
            self._sealed = following
        self.done = self._sealed is None
        return b"".join(plain)


def _read_frame(source: BinaryIO) -> bytes | None:
    prefix = source.read(4)
    if not prefix:
        return None
    length = int.from_bytes(prefix, "big")
    sealed = source.read(length) if len(prefix) == 4 and _TAG <= length <= FRAME + _TAG else b""
    if len(sealed) != length or len(prefix) != 4:
        raise PackageError("the package is truncated or damaged")
    return sealed
