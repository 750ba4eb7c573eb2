import errno
import os
import random
import secrets
import stat
import string
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Any

import idna
import pytest

from app.core.config import Settings
from app.models import Email
from app.notifications.transport import (
    FileTransport,
    SmtpTransport,
    TransportError,
    build_message,
    recipient_address,
    transport_from_settings,
)

from .factories import make_email_row
from .smtp_server import SmtpServer, free_port, running_smtp_server, serving

MAIL_FROM = "privacy@example.com"


def files_in(directory: Path) -> list[Path]:
    return sorted(directory.iterdir())


def read_eml(path: Path) -> EmailMessage:
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def assert_is_the_email(parsed: EmailMessage, row: Email) -> None:
    assert parsed["Subject"] == row.subject
    assert parsed["To"] == row.to_address
    assert parsed["From"] == MAIL_FROM
    assert parsed["Message-ID"] == row.message_id
    assert parsedate_to_datetime(parsed["Date"]) == row.created_at
    assert parsed.get_content_type() == "multipart/alternative"
    text = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    # SMTP carries CRLF line ends; compare as a mail client shows them.
    assert text.get_content().replace("\r\n", "\n") == row.text_body
    assert html.get_content().replace("\r\n", "\n") == row.html_body
    assert text.get_content_charset() == "utf-8"


def test_build_message_is_multipart_alternative_utf8() -> None:
    row = make_email_row()
    sent = message_from_bytes(build_message(row, mail_from=MAIL_FROM).as_bytes(), policy=policy.default)
    assert isinstance(sent, EmailMessage)
    parts = [part.get_content_type() for part in sent.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert sent["Content-Language"] == "de"
    assert sent["Auto-Submitted"] == "auto-generated"
    assert sent["MIME-Version"] == "1.0"
    assert [part["MIME-Version"] for part in sent.iter_parts()] == [None, None]
    assert [part["Content-Transfer-Encoding"] for part in sent.iter_parts()] == ["8bit", "8bit"]
    assert_is_the_email(sent, row)


async def test_smtp_server_receives_the_message(smtp_server: SmtpServer) -> None:
    row = make_email_row()
    transport = SmtpTransport(host=smtp_server.host, port=smtp_server.port, security="none", timeout=5)
    await transport.send(build_message(row, mail_from=MAIL_FROM))
    assert len(smtp_server.received) == 1
    assert smtp_server.received[0].mail_from == MAIL_FROM
    assert smtp_server.received[0].rcpt_tos == ["ada@example.com"]
    assert_is_the_email(smtp_server.messages[0], row)


@pytest.mark.parametrize(
    ("reply", "permanent"), [("451 4.3.0 Try again later", False), ("554 5.7.1 Rejected", True)]
)
async def test_smtp_refusal_raises_transport_error(
    smtp_server: SmtpServer, reply: str, permanent: bool
) -> None:
    smtp_server.refuse_with = reply
    transport = SmtpTransport(host=smtp_server.host, port=smtp_server.port, security="none", timeout=5)
    with pytest.raises(TransportError) as caught:
        await transport.send(build_message(make_email_row(), mail_from=MAIL_FROM))
    assert caught.value.permanent is permanent
    assert caught.value.smtp_code == int(reply[:3])
    assert smtp_server.received == []
    smtp_server.refuse_with = None
    await transport.send(build_message(make_email_row(), mail_from=MAIL_FROM))
    assert len(smtp_server.received) == 1


async def test_smtp_login() -> None:
    with running_smtp_server(credentials={"mailer": "s3cret-pass"}) as server:
        transport = SmtpTransport(
            host=server.host,
            port=server.port,
            username="mailer",
            password="s3cret-pass",
            security="none",
            timeout=5,
        )
        await transport.send(build_message(make_email_row(), mail_from=MAIL_FROM))
        assert server.logins == ["mailer"]
        assert len(server.received) == 1


async def test_smtp_wrong_password_is_not_in_the_error() -> None:
    with running_smtp_server(credentials={"mailer": "right-password"}) as server:
        transport = SmtpTransport(
            host=server.host,
            port=server.port,
            username="mailer",
            password="wrong-password-42",
            security="none",
            timeout=5,
        )
        with pytest.raises(TransportError) as caught:
            await transport.send(build_message(make_email_row(), mail_from=MAIL_FROM))
        assert "wrong-password-42" not in str(caught.value)
        assert "wrong-password-42" not in repr(transport)
        assert caught.value.__cause__ is None
        assert server.received == []


async def test_unreachable_smtp_raises_transport_error() -> None:
    transport = SmtpTransport(
        host="127.0.0.1", port=free_port(), password="hunter2-secret", security="none", timeout=2
    )
    with pytest.raises(TransportError) as caught:
        await transport.send(build_message(make_email_row(), mail_from=MAIL_FROM))
    assert caught.value.permanent is False
    assert "hunter2-secret" not in str(caught.value)


async def test_file_transport_writes_one_parseable_eml(tmp_path: Path) -> None:
    row = make_email_row()
    transport = FileTransport(tmp_path / "mail")
    message = build_message(row, mail_from=MAIL_FROM)
    await transport.send(message)
    await transport.send(build_message(row, mail_from=MAIL_FROM))  # a retry of the same email
    files = files_in(tmp_path / "mail")
    assert [path.name for path in files] == [f"{row.id.hex}@example.com.eml"]
    parsed = read_eml(files[0])
    assert_is_the_email(parsed, row)


async def test_an_email_file_is_for_its_owner_only_and_a_rewrite_replaces_it_whole(tmp_path: Path) -> None:
    # An email holds a working link: no other account on the machine may read it.
    row = make_email_row()
    transport = FileTransport(tmp_path)
    await transport.send(build_message(row, mail_from=MAIL_FROM))
    first = files_in(tmp_path)
    assert stat.S_IMODE(first[0].stat().st_mode) == 0o600
    row.subject = "Sent again"
    await transport.send(build_message(row, mail_from=MAIL_FROM))
    assert files_in(tmp_path) == first  # no temp file left beside it
    assert read_eml(first[0])["Subject"] == "Sent again"
    assert stat.S_IMODE(first[0].stat().st_mode) == 0o600


async def test_a_mail_dir_that_cannot_be_written_is_a_transient_failure_leaving_nothing(
    tmp_path: Path,
) -> None:
    blocked = tmp_path / "mail"
    blocked.write_text("a file where the mail directory should be")
    with pytest.raises(TransportError) as caught:
        await FileTransport(blocked).send(build_message(make_email_row(), mail_from=MAIL_FROM))
    assert caught.value.permanent is False  # retried: someone may fix the volume
    assert files_in(tmp_path) == [blocked]


async def test_an_email_file_is_on_disk_before_it_takes_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The email is marked sent once the file has its name: a crash then must not lose it.
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync")
        real_fsync(fd)

    def replace(source: Any, target: Any) -> None:
        calls.append(f"rename to {Path(target).name}")
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    row = make_email_row()
    await FileTransport(tmp_path).send(build_message(row, mail_from=MAIL_FROM))
    assert calls == ["fsync", f"rename to {row.id.hex}@example.com.eml"]


async def test_an_email_that_cannot_be_flushed_leaves_no_file_and_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(TransportError) as caught:
        await FileTransport(tmp_path).send(build_message(make_email_row(), mail_from=MAIL_FROM))
    assert caught.value.permanent is False
    assert files_in(tmp_path) == []  # neither the email nor its temp file


async def test_file_transport_keeps_names_inside_the_mail_dir(tmp_path: Path) -> None:
    message = build_message(make_email_row(), mail_from=MAIL_FROM)
    message.replace_header("Message-ID", "<../../etc/passwd@evil>")
    transport = FileTransport(tmp_path)
    await transport.send(message)
    assert transport.path_for(message).parent == tmp_path
    assert len(files_in(tmp_path)) == 1


async def test_file_transport_refuses_a_message_without_id(tmp_path: Path) -> None:
    message = build_message(make_email_row(), mail_from=MAIL_FROM)
    del message["Message-ID"]
    with pytest.raises(TransportError):
        await FileTransport(tmp_path).send(message)


def test_transport_from_settings(tmp_path: Path) -> None:
    file_transport = transport_from_settings(Settings(mail_dir=tmp_path, smtp_host=None))
    assert isinstance(file_transport, FileTransport)
    assert file_transport.mail_dir == tmp_path
    smtp = transport_from_settings(Settings(smtp_host="mail.example.com", smtp_port=465, smtp_security="tls"))
    assert isinstance(smtp, SmtpTransport)
    assert (smtp.host, smtp.port, smtp.security) == ("mail.example.com", 465, "tls")


# Odd but valid: every special character RFC 5322 allows in a dot-atom local part, a plus tag, an IDN domain.
ODD_ADDRESSES = [
    ("o'brien+privacy@example.com", "o'brien+privacy@example.com"),
    ("a!#$%&'*+/^_`{|}~b@example.com", "a!#$%&'*+/^_`{|}~b@example.com"),
    ("user@exämple.de", "user@xn--exmple-cua.de"),
]


@pytest.mark.parametrize(("address", "delivered_to"), ODD_ADDRESSES)
def test_the_message_for_an_odd_address_has_exactly_one_recipient(address: str, delivered_to: str) -> None:
    row = make_email_row()
    row.to_address = address
    message = build_message(row, mail_from=MAIL_FROM)
    assert message.recipient == delivered_to
    parsed = message_from_bytes(bytes(message), policy=policy.default)
    assert [a.addr_spec for a in parsed["To"].addresses] == [delivered_to]
    assert parsed["To"].defects == ()
    assert len(parsed.get_all("To") or []) == 1
    assert parsed["Cc"] is None
    assert parsed["Bcc"] is None


@pytest.mark.parametrize(
    "address",
    [
        "=?utf-8?q?x=40evil.example=2c=20y?=@good.example",
        "a:b@evil.example",
        "=?utf-8?q?a=00b?=@good.example",
        "x@evil.example, y@good.example",
        "Someone <x@evil.example>",
        "a\x00b@example.com",
        "a\r\nBcc: x@evil.example",
        "no-at-sign",
        # The standard library's parser fails on these with HeaderParseError, IndexError and AttributeError.
        "@",
        "e@",
        "4@[",
    ],
)
def test_a_stored_address_that_is_not_one_mailbox_fails_for_good(address: str) -> None:
    # Rows written before addresses were validated: the email fails permanently, it never reaches anyone.
    row = make_email_row()
    row.to_address = address
    with pytest.raises(TransportError) as caught:
        build_message(row, mail_from=MAIL_FROM)
    assert caught.value.permanent is True


async def test_smtp_delivers_to_the_row_address_only(smtp_server: SmtpServer) -> None:
    row = make_email_row()
    row.to_address = "o'brien+privacy@example.com"
    message = build_message(row, mail_from=MAIL_FROM)
    # Whatever the headers say afterwards, the envelope is the row's address.
    message["Cc"] = "cc@evil.example"
    message["Bcc"] = "bcc@evil.example"
    transport = SmtpTransport(host=smtp_server.host, port=smtp_server.port, security="none", timeout=5)
    await transport.send(message)
    assert [m.rcpt_tos for m in smtp_server.received] == [["o'brien+privacy@example.com"]]


@pytest.mark.parametrize(
    ("mail_from", "brand", "shown"),
    [
        ("privacy@example.com", "Nordlicht Mode", ("Nordlicht Mode", "privacy@example.com")),
        # MAIL_FROM's own display name gives way to the brand; its address stays.
        (
            "Privacy Team <privacy@example.com>",
            "Müller & Söhne GmbH",
            ("Müller & Söhne GmbH", "privacy@example.com"),
        ),
        ("Privacy Team <privacy@example.com>", None, ("Privacy Team", "privacy@example.com")),
    ],
)
async def test_the_sender_shows_the_brand(
    smtp_server: SmtpServer, mail_from: str, brand: str | None, shown: tuple[str, str]
) -> None:
    transport = SmtpTransport(host=smtp_server.host, port=smtp_server.port, security="none", timeout=5)
    await transport.send(build_message(make_email_row(), mail_from=mail_from, display_name=brand))
    await transport.aclose()
    assert parseaddr(str(smtp_server.messages[0]["From"])) == shown
    # The envelope sender is the address alone.
    assert smtp_server.received[0].mail_from == "privacy@example.com"


@pytest.mark.parametrize(
    "subject",
    [
        "Privacy request failed: 7f3c2a9e-1b2c-4d5e-8f90-123456789abcdef0123456789abcdef0123456789abcdef0",
        "Ihre Anfrage 7f3c2a9e-1b2c-4d5e-8f90-123456789abc: die Löschung Ihrer Daten über alle Systeme ist erfolgt",
    ],
)
def test_a_long_subject_reads_back_exactly(subject: str) -> None:
    row = make_email_row(subject=subject)
    parsed = message_from_bytes(build_message(row, mail_from=MAIL_FROM).as_bytes(), policy=policy.default)
    assert parsed["Subject"] == subject


@pytest.mark.parametrize("field", ["subject", "locale", "message_id"])
def test_a_line_break_in_a_header_fails_for_good(field: str) -> None:
    # A line break would end the header and start one of the writer's choosing (a Bcc to someone else).
    row = make_email_row()
    setattr(row, field, getattr(row, field) + "\r\nBcc: x@evil.example")
    with pytest.raises(TransportError) as caught:
        build_message(row, mail_from=MAIL_FROM)
    assert caught.value.permanent is True


def test_a_body_line_longer_than_smtp_allows_travels_quoted_printable() -> None:
    row = make_email_row()
    row.html_body = "<p>" + "Grüße " * 300 + "</p>\n"
    raw = build_message(row, mail_from=MAIL_FROM).as_bytes()
    assert max(len(line) for line in raw.splitlines()) <= 998
    sent = message_from_bytes(raw, policy=policy.default)
    assert isinstance(sent, EmailMessage)
    html = sent.get_body(preferencelist=("html",))
    assert html is not None
    assert html["Content-Transfer-Encoding"] == "quoted-printable"
    assert html.get_content() == row.html_body


async def test_over_smtp_the_message_reads_as_written(smtp_server: SmtpServer) -> None:
    # A body line starting with "From " (an operator's note: "From our records ...") is not turned into
    # ">From ", and a subject whose first word is long is not folded into a leading space.
    row = make_email_row(subject="x" * 120)
    row.text_body = "Hello,\nFrom our records: nothing more.\n"
    row.html_body = "<p>Hello,</p>\nFrom our records: nothing more.\n"
    transport = SmtpTransport(host=smtp_server.host, port=smtp_server.port, security="none", timeout=5)
    await transport.send(build_message(row, mail_from=MAIL_FROM))
    await transport.aclose()
    [received] = smtp_server.messages
    assert_is_the_email(received, row)


@pytest.mark.parametrize("separator", ["\v", "\f", "\x1c", "\x85", "\u2028", "\u2029"])
def test_any_line_separator_in_a_header_fails_for_good(separator: str) -> None:
    row = make_email_row(subject=f"Hello{separator}Bcc: x@evil.example")
    with pytest.raises(TransportError) as caught:
        build_message(row, mail_from=MAIL_FROM)
    assert caught.value.permanent is True


def test_a_line_counted_as_smtp_counts_it_travels_quoted_printable() -> None:
    # U+2028 ends a line for str.splitlines, not for SMTP: this body is one line of 1,203 octets.
    row = make_email_row()
    row.html_body = "x" * 600 + "\u2028" + "x" * 600 + "\n"
    message = build_message(row, mail_from=MAIL_FROM)
    assert max(len(line) for line in message.as_bytes().splitlines()) <= 998
    sent = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert isinstance(sent, EmailMessage)
    html = sent.get_body(preferencelist=("html",))
    assert html is not None
    assert html.get_content() == row.html_body


async def test_a_sender_domain_outside_ascii_is_sent_as_idna(smtp_server: SmtpServer) -> None:
    transport = SmtpTransport(host=smtp_server.host, port=smtp_server.port, security="none", timeout=5)
    await transport.send(build_message(make_email_row(), mail_from="Datenschutz <privacy@exämple.de>"))
    await transport.aclose()
    assert smtp_server.received[0].mail_from == "privacy@xn--exmple-cua.de"
    assert parseaddr(str(smtp_server.messages[0]["From"])) == ("Datenschutz", "privacy@xn--exmple-cua.de")


def test_a_sender_local_part_outside_ascii_fails_for_good() -> None:
    with pytest.raises(TransportError) as caught:
        build_message(make_email_row(), mail_from="jürgen@example.de")
    assert caught.value.permanent is True


async def test_a_server_without_8bitmime_gets_7bit_that_reads_the_same() -> None:
    row = make_email_row()
    with serving(SmtpServer(host="127.0.0.1", port=free_port(), eight_bit=False)) as server:
        transport = SmtpTransport(host=server.host, port=server.port, security="none", timeout=5)
        await transport.send(build_message(row, mail_from=MAIL_FROM))
        await transport.aclose()
    [received] = server.received
    assert received.raw.isascii()
    parsed = received.parsed()
    assert [part["Content-Transfer-Encoding"] for part in parsed.iter_parts()] == ["base64", "base64"]
    assert_is_the_email(parsed, row)


@pytest.mark.parametrize("field", ["text_body", "html_body"])
def test_an_email_whose_body_was_cleared_is_never_sent_empty(field: str) -> None:
    row = make_email_row()
    setattr(row, field, None)
    with pytest.raises(TransportError) as caught:
        build_message(row, mail_from=MAIL_FROM)
    assert caught.value.permanent is True


def _parsed_whole(address: str) -> str | None:
    """The mailbox the standard library's full parse gives for a stored address (its domain in IDNA), or None
    where it refuses: what every address was sent to before plain ones skipped the parse."""
    local, at, domain = address.strip().rpartition("@")
    if not at or "=?" in address:
        return None
    try:
        ascii_domain = domain if domain.isascii() else idna.encode(domain, uts46=True).decode("ascii")
        return Address(addr_spec=f"{local}@{ascii_domain}").addr_spec
    except Exception:
        return None


def test_a_plain_address_is_sent_to_what_the_full_parse_gives() -> None:
    """Addresses that are dot-atoms of ASCII (nearly every customer's) are taken as they are, without the
    header parser: the recipient is the one the parse gives, and what the parse refuses still fails for good."""
    alphabet = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-.@ \"()<>,;:[]\\\tä"
    domains = ["example.com", "a-b.c", "exäm.de", "x", "", "-x.", "a..b", "[127.0.0.1]"]
    rng = random.Random(11)
    plain = 0
    for _ in range(20_000):
        address = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14)))
        if rng.random() < 0.5:
            address = address.replace(" ", "")
        if rng.random() < 0.4:
            address = address.replace("@", "") + "@" + rng.choice(domains)
        expected = _parsed_whole(address)
        if expected is None:
            with pytest.raises(TransportError) as refused:
                recipient_address(address)
            assert refused.value.permanent is True, address
            continue
        assert recipient_address(address) == expected, address
        plain += expected is not None and expected == address.strip()
    assert plain > 1_000  # the generated set holds many plain addresses, not only refusals


@pytest.mark.parametrize(("octets", "quoted"), [(998, False), (999, True)])
def test_a_line_at_the_limit_travels_as_it_is_and_one_octet_more_quoted_printable(
    octets: int, quoted: bool
) -> None:
    for body in ("x" * octets, "x" * octets + "\n", "short\n" + "ä" * (octets // 2) + "x" * (octets % 2)):
        row = make_email_row()
        row.text_body = body
        sent = message_from_bytes(build_message(row, mail_from=MAIL_FROM).as_bytes(), policy=policy.default)
        assert isinstance(sent, EmailMessage)
        text = sent.get_body(preferencelist=("plain",))
        assert text is not None
        assert (text["Content-Transfer-Encoding"] == "quoted-printable") is quoted, body[:20]
        assert text.get_content() == body


def test_bodies_holding_boundary_like_lines_read_back_as_written() -> None:
    # Lines shaped as a boundary (the standard library's shape and ours), and bare delimiters, in each encoding a
    # body takes: a reader still finds the two parts as written.
    lookalikes = "--===============1234567890123456789==\n--\n--===============%s==--\n" % ("ab" * 16)
    for long_line in (False, True):
        row = make_email_row()
        row.text_body = "Hello,\n" + lookalikes + "Bye.\n"
        row.html_body = "<p>Hi</p>\n" + lookalikes + ("x" * 1200 if long_line else "") + "\n"
        message = build_message(row, mail_from=MAIL_FROM)
        sent = message_from_bytes(message.as_bytes(), policy=policy.default)
        assert isinstance(sent, EmailMessage)
        assert [part.get_content_type() for part in sent.iter_parts()] == ["text/plain", "text/html"]
        assert_is_the_email(sent, row)
    # Chosen afresh for each message, unpredictably: a body cannot be written to hold the next one.
    boundaries = {build_message(make_email_row(), mail_from=MAIL_FROM).get_boundary() for _ in range(20)}
    assert len(boundaries) == 20


@pytest.mark.parametrize("field", ["text_body", "html_body"])
def test_a_boundary_that_a_body_holds_is_not_used(monkeypatch: pytest.MonkeyPatch, field: str) -> None:
    held, other = "ab" * 16, "cd" * 16
    row = make_email_row()
    setattr(row, field, f"Hello,\n--==============={held}==\nBye.\n")
    draws = iter([held, other])
    monkeypatch.setattr(secrets, "token_hex", lambda _bytes: next(draws))
    message = build_message(row, mail_from=MAIL_FROM)
    assert message.get_boundary() == f"==============={other}=="
    sent = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert isinstance(sent, EmailMessage)
    assert_is_the_email(sent, row)
