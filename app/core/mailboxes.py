"""One email address as mail travels to it: the one parse that both the sender (``MAIL_FROM``, checked at
start-up) and every recipient go through, so an address the configuration accepts is one mail can be sent from."""

from __future__ import annotations

import re
from email.headerregistry import Address

import idna  # email-validator's own dependency: the IDNA 2008 conversion the address was validated with

# An address whose local part and domain are dot-atoms of ASCII letters, digits and the other characters RFC 5322
# allows unquoted (nearly every customer's): ``Address`` would give it back unchanged, so it is not parsed.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


class NotAMailbox(ValueError):
    """The text is not one plain ``local@domain``."""


def mailbox(address: str) -> str:
    """``address`` as exactly one mailbox, its domain in ASCII (IDNA); :class:`NotAMailbox` when it is not one
    plain ``local@domain`` (group syntax, a list, an RFC 2047 encoded word, control characters, a local part
    outside ASCII)."""
    if "=?" not in address and _PLAIN_ADDRESS.fullmatch(plain := address.strip()):
        return plain
    local, at, domain = address.strip().rpartition("@")
    try:
        if not at or "=?" in address:
            raise ValueError("not a single plain address")
        ascii_domain = domain if domain.isascii() else idna.encode(domain, uts46=True).decode("ascii")
        # Address refuses an addr_spec that does not parse whole as one local@domain.
        return Address(addr_spec=f"{local}@{ascii_domain}").addr_spec
    # Anything the parse raises: on some malformed addresses the standard library's parser fails with
    # IndexError, AttributeError or HeaderParseError rather than ValueError (found by a differential fuzz).
    except Exception as exc:
        raise NotAMailbox(type(exc).__name__) from None
