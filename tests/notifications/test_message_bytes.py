"""A message goes out byte for byte as the standard library's compat32 policy writes it (with the same line length
and line ends): the shortcut for headers that fit on their line in plain ASCII changes how fast, not what."""

from __future__ import annotations

import email.policy
from email.message import Message

import pytest

from app.notifications import KINDS
from app.notifications.emails import render_email
from app.notifications.transport import (
    MESSAGE_POLICY,
    SMTP_POLICY,
    SMTP_POLICY_7BIT,
    OutgoingMessage,
    _Compat32,
    _written,
    build_message,
)

from .factories import BRAND, make_context, make_email_row, make_request

STDLIB = {
    "file": email.policy.compat32.clone(max_line_length=998),
    "smtp": email.policy.compat32.clone(max_line_length=998, linesep="\r\n"),
    "smtp 7bit": email.policy.compat32.clone(max_line_length=998, linesep="\r\n", cte_type="7bit"),
}
OURS = {"file": MESSAGE_POLICY, "smtp": SMTP_POLICY, "smtp 7bit": SMTP_POLICY_7BIT}


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_is_written_as_the_standard_library_writes_it(kind: str, locale: str) -> None:
    request = make_request(type="deletion" if "deletion" in kind else "access", locale=locale)
    rendered = render_email(kind, locale, make_context(request=request, requests=[request]), brand=BRAND)
    row = make_email_row(subject=rendered.subject, text=rendered.text, html=rendered.html, locale=locale)
    for display_name in (BRAND.name, "Nordlicht Möbel & Söhne, Hamburg", None):
        message = build_message(row, mail_from="privacy@nordlicht.example", display_name=display_name)
        # Every email the service sends is written in one pass (file and SMTP), not by the generator.
        assert _written(message, MESSAGE_POLICY) is not None
        assert _written(message, SMTP_POLICY) is not None
        for name, policy in OURS.items():
            assert message.as_bytes(policy=policy) == message.as_bytes(policy=STDLIB[name]), (
                name,
                display_name,
            )


@pytest.mark.parametrize(
    "subject",
    [
        "Your request  with two spaces",
        " leading and trailing ",
        "a" * 900,
        "word " * 199 + "end",  # past 998 characters with its name: folded, as compat32 folds it
        "Ihre Anfrage – bestätigt",
        "tab\there",
    ],
)
def test_headers_at_the_edges_are_written_as_the_standard_library_writes_them(subject: str) -> None:
    row = make_email_row(subject=subject, text="Hello\n", html="<p>Hello</p>\n")
    message = build_message(row, mail_from="privacy@nordlicht.example", display_name="Nordlicht Mode")
    for name, policy in OURS.items():
        assert message.as_bytes(policy=policy) == message.as_bytes(policy=STDLIB[name]), name


def _lines_of(length: int, name: str) -> str:
    """An ASCII value with spaces that makes its header line exactly ``length`` characters long."""
    words = ("word " * 300)[: length - len(name) - 2]
    return words[:-1] + "x" if words.endswith(" ") else words


@pytest.mark.parametrize(
    "name", ["Subject", "X", "Content-Language", "X-A-Rather-Long-Header-Name-For-Testing"]
)
@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "=?utf-8?q?x?=",
        "a\tb  c ",
        "\x00\x1f\x7f",
        "line\nbreak",
        "ends\r",
        "Ümlaut",
        *(f"<{n}>" for n in (996, 997, 998, 999, 1000)),
    ],
)
def test_a_header_folds_as_the_standard_library_folds_it(name: str, value: str) -> None:
    if value.startswith("<") and value.endswith(">"):
        value = _lines_of(int(value[1:-1]), name)  # at, just under and just over the 998-character line
    for kind, policy in OURS.items():
        assert policy.fold(name, value) == STDLIB[kind].fold(name, value), (kind, len(value))
        assert policy.fold_binary(name, value) == STDLIB[kind].fold_binary(name, value), (kind, len(value))


def test_every_policy_of_ours_takes_the_shortcut() -> None:
    # The comparisons above would pass as well if the policies had lost the shortcut: they must hold it.
    for policy in OURS.values():
        assert isinstance(policy, _Compat32), type(policy)


@pytest.mark.parametrize(
    "body",
    [
        "Hello,\r\nCRLF lines\r\nend\r\n",
        "a lone CR\rthen LF\nthen both\r\n\n\r\r",
        "no line end at the end",
        "",
        "\n\n\n",
        "Grüße aus Köln – “quoted” – 日本語\n",
        "a line separator\u2028and a paragraph one\u2029and NEL\x85 stay in their line\n",
        "From our records: a line starting with From\n>From quoted\n",
        ".\n..\nleading dots\n",
        "trailing spaces   \n\ttab\n",
        "x" * 1200 + "\nlonger than a line may be: quoted-printable\n",
        "Grüße " * 200 + "\n",
    ],
)
def test_bodies_at_the_edges_are_written_as_the_standard_library_writes_them(body: str) -> None:
    row = make_email_row(subject="Ihre Anfrage – bestätigt", text=body, html=f"<p>{body}</p>")
    message = build_message(row, mail_from="privacy@nordlicht.example", display_name="Nordlicht Möbel")
    assert isinstance(message, OutgoingMessage)
    for name, policy in OURS.items():
        ours = message.as_bytes(policy=policy)
        # The generator itself, as the standard library's Message writes with its own policy.
        assert ours == Message.as_bytes(message, policy=STDLIB[name]), name
    assert message.as_bytes() == Message.as_bytes(message, policy=STDLIB["file"])


def test_folded_headers_and_7bit_are_written_as_the_standard_library_writes_them() -> None:
    for subject in (
        "word " * 199 + "end",
        "Ihre Anfrage zur Löschung Ihrer Daten ist eingegangen und wird bearbeitet",
    ):
        row = make_email_row(subject=subject, text="Grüße\n", html="<p>Grüße</p>\n")
        message = build_message(row, mail_from="privacy@nordlicht.example", display_name="Nordlicht Möbel")
        # Folded onto a second line: the first subject by the policy, the second (two encoded words) already
        # when the message was built.
        assert b"\n " in message.as_bytes()
        for name, policy in OURS.items():
            assert message.as_bytes(policy=policy) == Message.as_bytes(message, policy=STDLIB[name]), name
        # To a server without 8BITMIME the bodies are re-encoded: the generator does that.
        assert _written(message, SMTP_POLICY_7BIT) is None


def test_a_message_of_another_shape_is_left_to_the_generator() -> None:
    row = make_email_row(subject="Hello", text="Hello\n", html="<p>Hello</p>\n")
    empty = OutgoingMessage()
    empty.set_boundary("b")
    signed = build_message(row, mail_from="privacy@nordlicht.example", display_name="Nordlicht Mode")
    signed.set_type("multipart/signed")
    retyped = build_message(row, mail_from="privacy@nordlicht.example", display_name="Nordlicht Mode")
    retyped.set_type("message/rfc822")
    for message in (empty, signed, retyped):
        assert _written(message, MESSAGE_POLICY) is None
        for name, policy in OURS.items():
            assert message.as_bytes(policy=policy) == Message.as_bytes(message, policy=STDLIB[name]), name
