"""Delivering a stored email: build the MIME message, then hand it to SMTP or write it to the mail directory."""

from __future__ import annotations

import asyncio
import email.policy
import os
import re
import secrets
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import Policy
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol

import aiosmtplib

from app.core.clock import as_utc
from app.core.config import Settings
from app.core.files import open_private, write_all
from app.core.mailboxes import NotAMailbox, mailbox
from app.models import Email

SMTP_TIMEOUT_SECONDS = 30.0

# The message is built with the standard library's compat32 API (email.mime): its headers are plain strings,
# where the default policy parses every header into objects (three times the work per email, measured: about
# 3.2 ms against 1.0 ms). Header lines up to RFC 5322's hard limit of 998 characters: no folding, so a subject
# ending in a long unbreakable word (a request id) is never folded as "Subject:<CRLF> ...", which parsers read
# back with a leading space.
# Every character that some reader takes for the end of a line (those str.splitlines splits on): none may
# appear in a header, where it would end the header and start one of the writer's choosing.
_LINE_BREAK = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


class _Compat32(email.policy.Compat32):
    """compat32, with a header that fits on its line in plain ASCII written as it is: what compat32 writes for it
    too, without building a ``Header`` to find that out (two thirds of the time an email took to flatten)."""

    def _fold(self, name: str, value: object, sanitize: bool) -> str:
        if _fits(name, value, self.max_line_length):
            return f"{name}: {value}{self.linesep}"
        folded: str = super()._fold(name, value, sanitize)  # type: ignore[misc]
        return folded


def _fits(name: str, value: object, limit: int | None) -> bool:
    """Whether compat32 writes this header as ``name: value`` on one line: plain ASCII text that fits."""
    return (
        isinstance(value, str)
        and value.isascii()
        and limit is not None
        and len(name) + 2 + len(value) <= limit
        and not _LINE_BREAK.search(value)
    )


MESSAGE_POLICY = _Compat32(max_line_length=998)
# Bodies travel as 8bit UTF-8 (what the customer's mail program shows, byte for byte); a body with a line
# longer than SMTP allows (998 octets) as quoted-printable.
_UTF8_8BIT = Charset("utf-8")
# None: no transfer encoding (7bit or 8bit), as the module documents; typeshed allows only the int constants.
_UTF8_8BIT.body_encoding = None  # type: ignore[assignment]
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP
_MAX_LINE_OCTETS = 998
# What goes over SMTP, flattened here rather than by aiosmtplib (which writes a compat32 message with 78-column
# folding and turns a body line starting with "From " into ">From "): CRLF line ends, no folding under 998
# characters, nothing mangled (Message.as_bytes never mangles). To a server without 8BITMIME, 7bit: the bodies
# are re-encoded (base64).
SMTP_POLICY = MESSAGE_POLICY.clone(linesep="\r\n")
SMTP_POLICY_7BIT = SMTP_POLICY.clone(cte_type="7bit")


class TransportError(Exception):
    """Delivery failed. ``permanent`` is True when the server refused for good (a 5xx reply): retrying won't help."""

    def __init__(self, message: str, *, permanent: bool = False, smtp_code: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.smtp_code = smtp_code


class OutgoingMessage(MIMEMultipart):
    """A message with its envelope: ``recipient`` is the one address SMTP delivers to (``RCPT TO``), taken from
    the outbox row, never parsed back out of the headers (a parser may read one odd address as several)."""

    recipient: str = ""
    # The envelope sender (``MAIL FROM``): MAIL_FROM's address alone.
    sender: str = ""

    def __init__(self) -> None:
        super().__init__("alternative", policy=MESSAGE_POLICY)

    def as_bytes(self, unixfrom: bool = False, policy: Policy | None = None) -> bytes:
        """The message as the standard library's generator writes it. With a policy of ours (8bit), a message of
        the shape ``build_message`` gives is written here in one pass: the generator's own walk through the
        message cost some 500 Python calls per email, two fifths of its time (the same bytes, compared with the
        generator's for every kind of email and for bodies at the edges: tests/notifications/test_message_bytes.py).
        Anything else goes to the generator."""
        chosen = self.policy if policy is None else policy
        if not unixfrom and isinstance(chosen, _Compat32):
            written = _written(self, chosen)
            if written is not None:
                return written
        return super().as_bytes(unixfrom, policy)


# The line ends the standard library's generator writes as the policy's (email.generator.NLCRE).
_LINE_END = re.compile(r"\r\n|\r|\n")


def _written(message: Message, policy: _Compat32) -> bytes | None:
    """``message`` written as ``email.generator.BytesGenerator`` writes it with ``policy``, when it is a multipart
    of text parts and the policy keeps 8bit bodies; None otherwise (the generator then writes it). What the
    generator does for that shape: the headers, each folded by the policy; a blank line; each part after a
    ``--boundary`` line (its headers, a blank line, its payload with every line end the policy's); the closing
    ``--boundary--``."""
    boundary = message.get_boundary()
    parts = message.get_payload()
    if (
        policy.cte_type != "8bit"
        or message.get_content_maintype() != "multipart"
        or message.get_content_subtype() == "signed"  # its parts' headers are written unfolded
        or not boundary
        or not isinstance(parts, list)
        or not parts  # the generator writes an empty first part
        or message.preamble is not None
        or message.epilogue is not None
    ):
        return None
    nl = policy.linesep
    delimiter = f"--{boundary}{nl}".encode("ascii")
    pieces = [_header_lines(message, policy), nl.encode()]
    for part in parts:
        if not isinstance(part, Message) or part.get_content_maintype() != "text":
            return None
        # The payload as the generator writes a text part's: a str, with any 8bit octets as surrogate escapes.
        payload = getattr(part, "_payload", None)
        if not isinstance(payload, str):
            return None
        pieces += [
            delimiter,
            _header_lines(part, policy),
            nl.encode(),
            _line_ends(payload, nl).encode("ascii", "surrogateescape"),
            nl.encode(),
        ]
    pieces.append(f"--{boundary}--{nl}".encode("ascii"))
    return b"".join(pieces)


def _line_ends(text: str, nl: str) -> str:
    """``text`` with every line end ``nl``: without a CR, every line ends in LF alone (no pattern to run)."""
    if "\r" in text:
        return _LINE_END.sub(nl, text)
    return text if nl == "\n" else text.replace("\n", nl)


def _header_lines(message: Message, policy: _Compat32) -> bytes:
    """The headers as the generator writes them: each folded by the policy."""
    return b"".join(policy.fold_binary(name, value) for name, value in message.raw_items())


class Transport(Protocol):
    async def send(self, message: OutgoingMessage) -> None:
        """Deliver ``message`` or raise ``TransportError``."""
        ...

    async def aclose(self) -> None:
        """Release connections held for reuse."""
        ...


def recipient_address(address: str, *, role: str = "recipient") -> str:
    """The row's address as exactly one mailbox, its domain in ASCII (IDNA); a permanent ``TransportError`` when
    it is not one plain ``local@domain`` (group syntax, a list, an RFC 2047 encoded word, control characters, a
    local part outside ASCII)."""
    try:
        return mailbox(address)
    except NotAMailbox as exc:
        raise TransportError(
            f"the {role} address is not a single valid mailbox: {exc}", permanent=True
        ) from None


@lru_cache(maxsize=8)  # one MAIL_FROM and brand per process: parsed once, not for every email
def sender(mail_from: str, display_name: str | None) -> tuple[str, str]:
    """The ``From:`` header and the envelope sender: ``MAIL_FROM``'s address with ``display_name``
    (``BRAND_NAME``) shown, so the customer sees who writes; ``MAIL_FROM``'s own name when there is no brand to
    show. A name outside ASCII is an RFC 2047 encoded word; one with specials (``&``, ``,``) is quoted."""
    name, address = parseaddr(mail_from)
    address = recipient_address(address, role="sender")
    return formataddr((display_name or name, address), charset="utf-8"), address


def _header(name: str, value: str) -> str:
    """A header value as it may travel: never a line break (which would start a header of the caller's
    choosing); outside ASCII, RFC 2047 encoded words."""
    if _LINE_BREAK.search(value):
        raise TransportError(f"the {name} header would hold a line break", permanent=True)
    return value if value.isascii() else Header(value, "utf-8", header_name=name).encode()


def _text_part(body: str | None, subtype: str) -> MIMENonMultipart:
    if body is None:
        # Cleared after sending: an empty email would tell the customer nothing.
        raise TransportError(f"the email has no {subtype} body", permanent=True)
    part = MIMENonMultipart("text", subtype, policy=MESSAGE_POLICY)
    # Lines as SMTP counts them, in octets: ended by CR or LF only, as bytes.splitlines ends them (str.splitlines
    # also ends them at VT, FF, U+2028...). A body shorter than one line's limit has no long line.
    octets = body.encode()
    long_line = len(octets) > _MAX_LINE_OCTETS and max(map(len, octets.splitlines())) > _MAX_LINE_OCTETS
    part.set_payload(body, _UTF8_QP if long_line else _UTF8_8BIT)
    del part["MIME-Version"]  # once, on the message
    return part


def build_message(email_row: Email, *, mail_from: str, display_name: str | None = None) -> OutgoingMessage:
    """The MIME message for an outbox row: multipart/alternative (text, then HTML), UTF-8, the row's Message-ID,
    and as its envelope recipient the row's one address (``To:`` holds that address and nothing else). ``From:``
    shows ``display_name`` (the brand) with the ``mail_from`` address."""
    mailbox = recipient_address(email_row.to_address)
    message = OutgoingMessage()
    message.recipient = mailbox
    from_header, message.sender = sender(mail_from, display_name)
    message["From"] = _header("From", from_header)
    message["To"] = mailbox
    message["Subject"] = _header("Subject", email_row.subject)
    # The time the email was written (with its change), not the time of this attempt: retries stay identical.
    message["Date"] = format_datetime(as_utc(email_row.created_at))
    message["Message-ID"] = _header("Message-ID", email_row.message_id)
    # RFC 3834: tells vacation responders and ticket systems not to answer a machine.
    message["Auto-Submitted"] = "auto-generated"
    message["Content-Language"] = _header("Content-Language", email_row.locale)
    message.attach(_text_part(email_row.text_body, "plain"))
    message.attach(_text_part(email_row.html_body, "html"))
    message.set_boundary(_boundary(email_row.text_body, email_row.html_body))
    return message


def _boundary(*bodies: str | None) -> str:
    """A multipart boundary that no body holds: fifteen ``=`` and 128 random bits, as the standard library
    shapes one. Chosen here, the message is written without the standard library's own search, which compiles
    a new regular expression for each message (a third of the time an email took to write, and each one
    pushed a pattern the process uses out of the ``re`` module's cache). Only a body sent as it is (8bit)
    could hold it: in quoted-printable every ``=`` is written ``=3D``, and base64 ends with two at most."""
    while True:
        boundary = "=" * 15 + secrets.token_hex(16) + "=="
        if not any(body is not None and boundary in body for body in bodies):
            return boundary


class SmtpTransport:
    """Sends through an SMTP server with aiosmtplib; ``security`` is ``none``, ``starttls`` or ``tls``."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        security: Literal["none", "starttls", "tls"] = "starttls",
        timeout: float = SMTP_TIMEOUT_SECONDS,
        pool_size: int = 0,
    ) -> None:
        """``pool_size`` idle connections are kept for reuse (0: one connection per email); whoever makes a
        pooled transport calls ``aclose()`` when done."""
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.security = security
        self.timeout = timeout
        self.pool_size = pool_size
        self._idle: list[aiosmtplib.SMTP] = []

    def __repr__(self) -> str:
        # Never the password: this object may end up in a log line or a traceback's locals.
        return f"SmtpTransport(host={self.host!r}, port={self.port}, security={self.security!r}, username={self.username!r})"

    async def send(self, message: OutgoingMessage) -> None:
        """Deliver ``message`` to its ``recipient`` only; raise ``TransportError`` (never naming the password)
        when it cannot be delivered.

        Connections are kept open and reused (a handshake per email would cost more than the email); a
        reused connection the server has dropped is replaced once, transparently.
        """
        try:
            client = await self._deliver(message)
        except aiosmtplib.SMTPResponseException as exc:
            raise TransportError(
                self._redact(f"SMTP server {self.host}:{self.port} refused: {exc.code} {exc.message}"),
                permanent=500 <= exc.code < 600,
                smtp_code=exc.code,
            ) from None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refusal.code for refusal in exc.recipients]
            raise TransportError(
                self._redact(f"SMTP server {self.host}:{self.port} refused every recipient: {codes}"),
                permanent=all(500 <= code < 600 for code in codes),
                smtp_code=codes[0] if codes else None,
            ) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Connection refused, timeouts, TLS failures: transient, the worker retries with backoff.
            raise TransportError(
                self._redact(f"SMTP delivery via {self.host}:{self.port} failed: {type(exc).__name__}: {exc}")
            ) from None
        # Only a connection that just delivered goes back to the pool; a failed one is dropped above.
        if len(self._idle) < self.pool_size:
            self._idle.append(client)
        else:
            await _quit(client)

    async def _deliver(self, message: OutgoingMessage) -> aiosmtplib.SMTP:
        """Send on a pooled or new connection; the connection it used, or it is closed and the error raised."""
        if not message.recipient:
            raise TransportError("message has no recipient", permanent=True)
        # The envelope names the recipient explicitly: aiosmtplib would otherwise parse To/Cc/Bcc headers.
        recipients = [message.recipient]
        client, reused = await self._checkout()
        try:
            try:
                await _send(client, message, recipients)
            except aiosmtplib.SMTPServerDisconnected:
                if not reused:
                    raise
                await _close(client)
                client, _ = await self._connect()
                await _send(client, message, recipients)
        except BaseException:
            await _close(client)
            raise
        return client

    async def _checkout(self) -> tuple[aiosmtplib.SMTP, bool]:
        while self._idle:
            client = self._idle.pop()
            if client.is_connected:
                return client, True
        return await self._connect()

    async def _connect(self) -> tuple[aiosmtplib.SMTP, bool]:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self._password if self.username else None,
            use_tls=self.security == "tls",
            # False rather than None for "none": aiosmtplib would otherwise upgrade opportunistically.
            start_tls=self.security == "starttls",
            timeout=self.timeout,
        )
        try:
            await client.connect()
        except BaseException:
            await _close(client)
            raise
        return client, False

    async def aclose(self) -> None:
        """Say goodbye on every idle connection."""
        while self._idle:
            await _quit(self._idle.pop())

    def _redact(self, text: str) -> str:
        if self._password:
            text = text.replace(self._password, "[redacted]")
        return text


async def _send(client: aiosmtplib.SMTP, message: OutgoingMessage, recipients: list[str]) -> None:
    """One message on an open connection, flattened with ``SMTP_POLICY`` (8bit where the server takes it)."""
    if client.is_ehlo_or_helo_needed:
        try:
            await client.ehlo()
        except aiosmtplib.SMTPHeloError:
            await client.helo()
    eight_bit = client.supports_extension("8BITMIME")
    data = message.as_bytes(policy=SMTP_POLICY if eight_bit else SMTP_POLICY_7BIT)
    options = ["BODY=8BITMIME"] if eight_bit else []
    await client.sendmail(message.sender, recipients, data, mail_options=options)


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        await _close(client)


async def _close(client: aiosmtplib.SMTP) -> None:
    client.close()
    # The transport finishes closing on the loop's next turn; give it that turn so no socket is left behind.
    await asyncio.sleep(0)


_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._@+-]")


class FileTransport:
    """Writes each message as ``<message id>.eml`` into ``mail_dir``: the embedded default's mailbox."""

    def __init__(self, mail_dir: Path) -> None:
        self.mail_dir = Path(mail_dir)

    def path_for(self, message: Message) -> Path:
        """Where ``message`` lands; named after its Message-ID so a retry overwrites instead of duplicating."""
        message_id = str(message.get("Message-ID", "")).strip().strip("<>")
        if not message_id:
            raise TransportError("message has no Message-ID", permanent=True)
        return self.mail_dir / (_UNSAFE_FILENAME.sub("_", message_id) + ".eml")

    async def aclose(self) -> None:
        """Nothing to release: files are written whole."""

    async def send(self, message: Message) -> None:
        """Write ``message`` atomically (temporary file, then rename); raise ``TransportError`` on I/O failure."""
        path = self.path_for(message)
        try:
            await asyncio.to_thread(_write_atomically, path, message.as_bytes())
        except OSError as exc:
            raise TransportError(f"cannot write {path}: {exc}") from exc


def _write_atomically(path: Path, data: bytes) -> None:
    """Blocking: ``data`` written to a temp file in ``path``'s directory (readable by the owner only), flushed
    to disk, then renamed to ``path``: a reader never sees half an email, and an email marked sent is on disk.
    Six system calls in all (the temp name's random bytes among them; a buffered file in a directory made sure
    of first took twelve)."""
    # Same directory as the target, so the rename is atomic.
    temp = path.with_name(f".tmp-{secrets.token_hex(8)}.eml")
    fd = open_private(temp, os.O_EXCL)
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def transport_from_settings(settings: Settings) -> Transport:
    """SMTP when ``SMTP_HOST`` is set, else the ``MAIL_DIR`` file mailbox."""
    if settings.smtp_host:
        return SmtpTransport(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            security=settings.smtp_security,
            # One reusable connection per job a worker runs at once (the worker's concurrency).
            pool_size=4,
        )
    return FileTransport(settings.mail_dir)
