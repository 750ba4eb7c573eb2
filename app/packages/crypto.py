"""Data packages encrypted at rest: AES-256-GCM in framed chunks, a key per package from HKDF with a random salt.

Layout: ``MAGIC | salt(16) | frames``; a frame is ``length(4, big-endian) | ciphertext+tag``. The nonce is the
frame counter plus a last-frame flag (the STREAM construction), and the header is authenticated with every
frame, so reordered, dropped, truncated or altered frames all fail to decrypt.

Encryption works on streams of chunks (:class:`Sealing`, :func:`unseal`), so every package store (a directory,
an S3 bucket) keeps the same ciphertext and never sees a plaintext byte.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.packages.streaming import aclose

MAGIC = b"PRQPKG1"
FRAME = 64 * 1024
# Frames are encrypted and written, or read and decrypted, this many bytes at a time on a worker thread:
# one thread hop per frame would cost more than the AES-GCM work itself.
BLOCK = 1024 * 1024
# Plaintext sealed (or opened) in the event loop rather than in a thread: at most one frame.
SEAL_IN_LOOP = FRAME
_SALT = 16
_TAG = 16
_HEADER = len(MAGIC) + _SALT
# Sealed bytes gathered before a thread hop decrypts them: a block, the frame held back as maybe the last, and
# the start of the next.
_GATHER = BLOCK + 2 * (4 + FRAME + _TAG)


class PackageError(Exception):
    """An encrypted package is damaged, tampered with, or encrypted under another key."""


def _cipher(secret_key: str, salt: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"privacy-requests data package").derive(
        secret_key.encode()
    )
    return AESGCM(key)


def _nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class Sealing:
    """The encrypted form of a plaintext stream, as chunks (iterate it once); ``plaintext_size`` counts what the
    customer will download once the stream is read to its end."""

    def __init__(self, chunks: AsyncIterable[bytes], *, secret_key: str) -> None:
        self._chunks = chunks
        self._secret_key = secret_key
        self.plaintext_size = 0

    def __aiter__(self) -> AsyncGenerator[bytes, None]:
        return self._seal()

    async def _seal(self) -> AsyncGenerator[bytes, None]:
        salt = os.urandom(_SALT)
        header = MAGIC + salt
        cipher = _cipher(self._secret_key, salt)
        yield header
        counter = 0
        pending = bytearray()
        try:
            async for chunk in self._chunks:
                self.plaintext_size += len(chunk)
                pending += chunk
                if len(pending) > BLOCK:
                    # Whole frames only, and at least one byte kept back: the final frame must be sealed with
                    # the last-frame flag.
                    whole = (len(pending) - 1) // FRAME * FRAME
                    data = bytes(pending[:whole])
                    del pending[:whole]
                    sealed, counter = await _sealed(cipher, header, data, counter)
                    yield sealed
        finally:
            await aclose(self._chunks)
        sealed, counter = await _sealed(cipher, header, bytes(pending), counter, last=True)
        yield sealed


async def _sealed(
    cipher: AESGCM, header: bytes, data: bytes, counter: int, *, last: bool = False
) -> tuple[bytes, int]:
    """``_seal_frames``, in a thread unless ``data`` is small enough to seal in the event loop in less time than
    the hop to a thread costs (the last frame of most packages: AES-GCM seals tens of kilobytes in microseconds)."""
    if len(data) <= SEAL_IN_LOOP:
        return _seal_frames(cipher, header, data, counter, last=last)
    return await asyncio.to_thread(_seal_frames, cipher, header, data, counter, last=last)


def _seal_frames(
    cipher: AESGCM, header: bytes, data: bytes, counter: int, *, last: bool = False
) -> tuple[bytes, int]:
    """Blocking: ``data`` as encrypted frames of :data:`FRAME` bytes (the last one flagged when ``last``, even if
    empty), and the next frame counter."""
    out = bytearray()
    view = memoryview(data)
    starts = range(0, len(data), FRAME) if data else range(1)
    for start in starts:
        final = last and start + FRAME >= len(data)
        sealed = cipher.encrypt(_nonce(counter, final), view[start : start + FRAME], header)
        out += len(sealed).to_bytes(4, "big")
        out += sealed
        counter += 1
    return bytes(out), counter


async def unseal(sealed: AsyncIterable[bytes], *, secret_key: str, name: str) -> AsyncIterator[bytes]:
    """Decrypt a package's stream chunk by chunk (about :data:`BLOCK` bytes each); raise :class:`PackageError`
    naming ``name`` on any tampering or truncation. Closes ``sealed`` when done or stopped early."""
    source = aiter(sealed)
    buffer = bytearray()
    ended = False

    async def gather(size: int) -> None:
        nonlocal ended
        while not ended and len(buffer) < size:
            chunk = await anext(source, None)
            if chunk is None:
                ended = True
            else:
                buffer.extend(chunk)

    try:
        await gather(_HEADER)
        header = bytes(buffer[:_HEADER])
        if len(header) != _HEADER or not header.startswith(MAGIC):
            raise PackageError(f"{name} is not a data package")
        del buffer[:_HEADER]
        cipher = _cipher(secret_key, header[len(MAGIC) :])
        counter = 0
        while True:
            await gather(_GATHER)
            frames, used = _whole_frames(buffer, name)
            if ended:
                if used != len(buffer) or (counter == 0 and not frames):
                    raise PackageError(f"{name} is truncated")
            elif frames:
                # One frame held back: the last frame is the one with nothing after it.
                used -= 4 + len(frames.pop())
            if (
                sum(map(len, frames)) <= SEAL_IN_LOOP + _TAG
            ):  # as with sealing: one frame opens faster than a hop
                plain = _open_frames(cipher, header, frames, counter, ended, name)
            else:
                plain = await asyncio.to_thread(_open_frames, cipher, header, frames, counter, ended, name)
            counter += len(frames)
            del buffer[:used]
            if plain:
                yield plain
            if ended:
                return
    finally:
        await aclose(source)


def _whole_frames(buffer: bytearray, name: str) -> tuple[list[bytes], int]:
    """The complete frames at the start of ``buffer`` and how many bytes they take."""
    frames: list[bytes] = []
    at = 0
    while at + 4 <= len(buffer):
        length = int.from_bytes(buffer[at : at + 4], "big")
        if not _TAG <= length <= FRAME + _TAG:
            raise PackageError(f"{name} is truncated or damaged")
        if at + 4 + length > len(buffer):
            break
        frames.append(bytes(buffer[at + 4 : at + 4 + length]))
        at += 4 + length
    return frames, at


def _open_frames(
    cipher: AESGCM, header: bytes, frames: list[bytes], counter: int, ended: bool, name: str
) -> bytes:
    """Blocking: decrypt ``frames`` (numbered from ``counter``; the last one is final when ``ended``)."""
    plain: list[bytes] = []
    for index, sealed in enumerate(frames):
        final = ended and index == len(frames) - 1
        try:
            plain.append(cipher.decrypt(_nonce(counter + index, final), sealed, header))
        except InvalidTag:
            raise PackageError(f"{name} failed authentication: damaged or tampered with") from None
    return b"".join(plain)
