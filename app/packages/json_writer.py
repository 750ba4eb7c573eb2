"""Writing one JSON document in pieces, for documents too large to build as one value.

The writer knows the document's structure (which objects and arrays are open, whether a comma is due); every
key and value is encoded by orjson, so the pieces joined are the bytes ``orjson.dumps`` gives for the whole
document (compact, UTF-8), and parse to what the standard library's ``json.dumps(..., default=str)`` gives.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import orjson

# Times and dataclasses go to ``default`` as every other type orjson does not know natively: str(), as the
# standard library's encoder with default=str wrote them (a datetime as "2024-05-01 12:30:00+00:00").
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
# For what orjson refuses (an integer beyond 64 bits, a key that is not text): the standard library's encoder,
# with the same compact separators.
_FALLBACK = json.JSONEncoder(ensure_ascii=False, default=str, separators=(",", ":"))


def encode(value: Any) -> bytes:
    """``value`` as compact JSON in UTF-8; anything JSON has no type for as its str()."""
    try:
        return orjson.dumps(value, default=str, option=_OPTIONS)
    except orjson.JSONEncodeError:
        # Text that is not valid Unicode (a lone surrogate) fails here too, as it fails to encode to UTF-8.
        return _FALLBACK.encode(value).encode()


class JsonWriter:
    """A JSON document as pieces of UTF-8: open objects and arrays, add members or items, close them in order.

    Each method returns the bytes it adds; the caller writes them wherever the document goes.
    """

    def __init__(self) -> None:
        self._closers: list[bytes] = []  # one per open container, innermost last
        self._empty: list[bool] = []  # per open container: nothing written in it yet

    def open_object(self, key: str | None = None) -> bytes:
        """Start an object: the document itself, an array's item, or (with ``key``) an object's member."""
        return self._open(key, b"{", b"}")

    def open_array(self, key: str | None = None) -> bytes:
        """Start an array, placed as :meth:`open_object` places an object."""
        return self._open(key, b"[", b"]")

    def member(self, key: str, value: Any) -> bytes:
        """A whole member of the innermost object."""
        return self._separator() + self._key(key) + encode(value)

    def items(self, values: Iterable[Any]) -> bytes:
        """Items of the innermost array, after any already written."""
        # The items as one list, without its brackets: one call of the encoder for a batch; the same bytes.
        encoded = encode(values if isinstance(values, list) else list(values))[1:-1]
        return self._separator() + encoded if encoded else b""

    def close(self) -> bytes:
        """End the innermost object or array."""
        self._empty.pop()
        return self._closers.pop()

    def _open(self, key: str | None, opener: bytes, closer: bytes) -> bytes:
        text = opener
        if self._closers:
            text = self._separator() + (self._key(key) if key is not None else b"") + opener
        self._closers.append(closer)
        self._empty.append(True)
        return text

    def _key(self, key: str) -> bytes:
        return encode(key) + b":"

    def _separator(self) -> bytes:
        if self._empty[-1]:
            self._empty[-1] = False
            return b""
        return b","
