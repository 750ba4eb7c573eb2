"""Log lines that say whom they were written for: the HTTP request's id, or the job's id and kind.

- :class:`RequestIdMiddleware` gives every HTTP request an id (a sane incoming ``X-Request-ID``, else a new
  one), answers with it in ``X-Request-ID`` and sets it for everything the request runs (``correlation``).
- The worker sets the job's id and kind around each job (``app.worker.loop``).
- :class:`ContextFilter` copies them onto each record (``request_id``, ``job_id``, ``job_kind`` and a
  ready-made ``context`` string); :class:`ContextFormatter` writes them as ``key=value`` after the logger name.
- :class:`RedactSecrets` masks the secrets of the customers' links and API keys in a record; it sits on
  uvicorn's access log from import on, and on the CLI's handler.
- :func:`configure_logging` is the CLI's set-up: one handler on the root logger, with both filters and the
  formatter.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.correlation import current_job, current_request_id, request_scope

REQUEST_ID_HEADER = "X-Request-ID"
FORMAT = "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"
_FIELDS = ("request_id", "job_id", "job_kind")
# Visible ASCII (no space, no control character), short enough for every log line.
_SANE_REQUEST_ID = re.compile(r"[!-~]{1,64}")

# The customer's links carry their secret in the URL (``/v1/verify?token=...``, ``/v1/downloads/<token>``), and
# the server's access log prints every URL: whoever reads the logs could confirm a deletion or download a
# customer's data. API keys are masked too, should one ever end up in a message.
# Each with the text it cannot match without: most lines hold none of them, and looking for four short texts
# costs a twentieth of running four patterns over every part of every line (the access log writes one per HTTP
# request).
_SECRETS = (
    ("token=", re.compile(r"([?&]token=)[^&#\s\"']+"), r"\1[redacted]"),
    ("/v1/downloads/", re.compile(r"(/v1/downloads/)[^/?#\s\"']+"), r"\1[redacted]"),
    ("prk_", re.compile(r"\b(prk_)[A-Za-z0-9_-]+"), r"\1[redacted]"),
    # An operator's search by address (``?email=``) is personal data too.
    ("email=", re.compile(r"([?&]email=)[^&#\s\"']+"), r"\1[redacted]"),
)


def redact(text: str) -> str:
    """``text`` with link tokens and API keys replaced by ``[redacted]``."""
    for needle, pattern, replacement in _SECRETS:
        if needle in text:
            text = pattern.sub(replacement, text)
    return text


def _redact_value(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactSecrets(logging.Filter):
    """A logging filter that masks secrets in a record's message and arguments (it never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_value(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redact_value(arg) for key, arg in record.args.items()}
        return True


REDACT_SECRETS = RedactSecrets()
# uvicorn logs each request on "uvicorn.access"; logging.config keeps a logger's filters when it configures
# the logger, so this survives uvicorn's own logging set-up (which runs after this module is imported).
logging.getLogger("uvicorn.access").addFilter(REDACT_SECRETS)
# aiosqlite traces every operation with its parameters at DEBUG: outbox rows with the customers' links, their
# data. Like SQLAlchemy's own logger, it stays at WARNING unless someone sets its level on purpose.
if logging.getLogger("aiosqlite").level == logging.NOTSET:
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)


class ContextFilter(logging.Filter):
    """Adds the request id or the job id and kind to each record (None where there is none); drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        job = current_job()
        values = {
            "request_id": current_request_id(),
            "job_id": job.id if job else None,
            "job_kind": job.kind if job else None,
        }
        for key, value in values.items():
            if getattr(record, key, None) is None:
                setattr(record, key, value)
        record.context = "".join(
            f" {key}={value}" for key in _FIELDS if (value := getattr(record, key)) is not None
        )
        return True


CONTEXT_FILTER = ContextFilter()


class ContextFormatter(logging.Formatter):
    """``time LEVEL logger request_id=...: message`` (or ``job_id=... job_kind=...``)."""

    def __init__(self, fmt: str = FORMAT) -> None:
        super().__init__(fmt)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "context"):  # a handler without the filter: add the fields here
            CONTEXT_FILTER.filter(record)
        return super().format(record)


def configure_logging(level: int = logging.INFO) -> None:
    """The process's logging: every line on stderr with its request or job, secret links masked."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(CONTEXT_FILTER)
    handler.addFilter(REDACT_SECRETS)
    handler.setFormatter(ContextFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # httpx logs every data-source URL at INFO, and those URLs carry customer ids and emails.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def accepted_request_id(value: str | None) -> str | None:
    """``value`` when it is a sane request id to keep, else None (the caller makes a new one).

    Sane: 1 to 64 visible ASCII characters. The id is written on every log line of the request, so one that
    could be a customer's address (an ``@``) or that holds a secret the logs mask is not kept either.
    """
    if value is None or not _SANE_REQUEST_ID.fullmatch(value) or "@" in value or redact(value) != value:
        return None
    return value


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Sets the request id for the whole request and echoes it in the answer's ``X-Request-ID``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).getlist(REQUEST_ID_HEADER)
        request_id = (accepted_request_id(incoming[0]) if len(incoming) == 1 else None) or new_request_id()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with request_scope(request_id):
            await self.app(scope, receive, send_with_id)
