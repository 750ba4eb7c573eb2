"""Writing one JSON document in pieces, for documents too large to build as one value.

The writer knows the document's structure (which objects and arrays are open, whether a comma is due); every
key and value is encoded by :mod:`json`, so the pieces joined are the text ``json.dumps`` gives for the whole
document with the same settings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

SEPARATORS = (", ", ": ")  # json.dumps's own, so a streamed document reads like a dumped one
# Values as data.json has always written them: text as is (UTF-8), anything json cannot encode as its str().
ENCODER = json.JSONEncoder(ensure_ascii=False, default=str, separators=SEPARATORS)


class JsonWriter:
    """A JSON document as text pieces: open objects and arrays, add members or items, close them in order.

    Each method returns the text it adds; the caller writes it wherever the document goes.
    """

    def __init__(self, encoder: json.JSONEncoder = ENCODER) -> None:
        self._encode = encoder.encode
        self._closers: list[str] = []  # one per open container, innermost last
        self._empty: list[bool] = []  # per open container: nothing written in it yet

    def open_object(self, key: str | None = None) -> str:
        """Start an object: the document itself, an array's item, or (with ``key``) an object's member."""
        return self._open(key, "{", "}")

    def open_array(self, key: str | None = None) -> str:
        """Start an array, placed as :meth:`open_object` places an object."""
        return self._open(key, "[", "]")

    def member(self, key: str, value: Any) -> str:
        """A whole member of the innermost object."""
        return self._separator() + self._key(key) + self._encode(value)

    def items(self, values: Iterable[Any]) -> str:
        """Items of the innermost array, after any already written."""
        # The items as one list, without its brackets: one pass of the encoder for a batch (a call per item set
        # the encoder up again for each, a third of the time a large package took); the same text.
        encoded = self._encode(values if isinstance(values, list) else list(values))[1:-1]
        return self._separator() + encoded if encoded else ""

    def close(self) -> str:
        """End the innermost object or array."""
        self._empty.pop()
        return self._closers.pop()

    def _open(self, key: str | None, opener: str, closer: str) -> str:
        text = opener
        if self._closers:
            text = self._separator() + (self._key(key) if key is not None else "") + opener
        self._closers.append(closer)
        self._empty.append(True)
        return text

    def _key(self, key: str) -> str:
        return self._encode(key) + SEPARATORS[1]

    def _separator(self) -> str:
        if self._empty[-1]:
            self._empty[-1] = False
            return ""
        return SEPARATORS[0]
