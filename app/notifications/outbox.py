"""The outbox: an email is stored with the change that causes it, and rendered and sent later by the worker.

The row holds the email's subject and the context its bodies are rendered from (the facts as they were when
the change was made); the context is sealed while it waits, and cleared once the email is sent or given up on:
what stays is who got which kind of email when (contract section 7).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.config import Settings
from app.core.context import ServiceContext
from app.core.i18n import normalize_locale
from app.jobs import repository as jobs
from app.models import Email, PrivacyRequest
from app.notifications import repository, stored_context
from app.notifications.emails import MissingContextKeys, RenderedEmail, render_email, render_subject
from app.notifications.sealing import UnreadableBody, seal, unseal

SEND_EMAIL_JOB = "send_email"


def email_context(request: PrivacyRequest) -> dict[str, Any]:
    """The facts about a request that every email template may show."""
    return {
        "id": str(request.id),
        "type": request.type,
        "status": request.status,
        "regulation": request.regulation,
        "email": request.email,
        "customer_name": request.customer_name,
        "received_at": request.received_at,
        "due_at": request.due_at,
        "locale": request.locale,
    }


async def email_team(
    session: AsyncSession,
    ctx: ServiceContext,
    kind: str,
    *,
    request_id: uuid.UUID | None = None,
    **context: Any,
) -> bool:
    """Queue an alert to PRIVACY_TEAM_EMAIL, in English; none when it is unset. Every domain's alerts go
    through here (a request failed, a recipient not told, a manual step not opened...)."""
    if ctx.settings.privacy_team_email is None:
        return False
    await enqueue_email(
        session,
        kind=kind,
        to=ctx.settings.privacy_team_email,
        locale="en",
        context={"base_url": ctx.settings.base_url, **context},
        request_id=request_id,
        mail_from_domain=ctx.mail_domain,
        secret_key=ctx.secret_key,
        settings=ctx.settings,
    )
    return True


def make_message_id(email_id: uuid.UUID, domain: str) -> str:
    """``<hex@domain>``: derived from the row's id, so every retry of one email carries the same Message-ID."""
    return f"<{email_id.hex}@{domain}>"


async def enqueue_email(
    session: AsyncSession,
    *,
    kind: str,
    to: str,
    locale: str,
    context: dict[str, Any],
    request_id: uuid.UUID | None,
    mail_from_domain: str,
    secret_key: str,
    settings: Settings,
) -> Email:
    """Add ``kind`` with its ``send_email`` job to the caller's unit of work (flushed with its other rows: a
    submit's request event, email and jobs go out as one INSERT per table).

    Only the subject is rendered now; the bodies are rendered by the worker as it sends the email
    (:func:`readable`), from ``context`` as it is now, so the email says what was true when the change was
    made, and the request that queues it does not wait for them. A job's own email, sent by its worker as the
    job commits, is rendered whole now and handed over. The brand (signature, footer) and ``TIMEZONE`` (every
    date) come from the settings of whoever renders. The context is stored sealed under ``secret_key``: it may
    hold a working link. Raises ``ValueError`` for an unknown kind or a missing context key, ``TypeError`` for
    a context value that cannot be stored, before anything is added.
    """
    brand, timezone = settings.brand, settings.timezone
    rendered: RenderedEmail | None = None
    if jobs.leased_when_added(session, SEND_EMAIL_JOB):
        rendered = render_email(kind, locale, context, brand=brand, timezone=timezone)
        subject = rendered.subject
    else:
        subject = render_subject(kind, locale, context, brand=brand, timezone=timezone)
    email_id = uuid.uuid4()
    email = Email(
        id=email_id,
        message_id=make_message_id(email_id, mail_from_domain),
        kind=kind,
        to_address=to,
        locale=normalize_locale(locale),
        subject=subject,
        context=seal(stored_context.dumps(context), secret_key=secret_key),
        text_body=None,
        html_body=None,
        request_id=request_id,
        status="pending",
        created_at=clock.now(),
        sent_at=None,
    )
    await repository.add(session, email)
    job = await jobs.enqueue(session, SEND_EMAIL_JOB, {"email_id": str(email.id)}, request_id=request_id)
    if rendered is not None and jobs.born_leased(session, job):
        # Sent by this worker as the transaction commits: the bodies as rendered above.
        jobs.hand_over(session, job, _opened(email, text=rendered.text, html=rendered.html))
    return email


def handed_over(session: AsyncSession, email_id: uuid.UUID) -> Email | None:
    """The email ``email_id`` with its bodies open, as the job that queued it handed it to this run; None
    when it was not (claimed like any job: read it from the database)."""
    handed = session.info.get(jobs.HANDED_TO_RUN)
    return handed if isinstance(handed, Email) and handed.id == email_id else None


def readable(email: Email, *, secret_key: str, settings: Settings) -> Email:
    """A detached copy of a pending ``email`` with its bodies, to build the message from: rendered from its
    sealed context (in ``settings``' brand and TIMEZONE), or, queued before contexts were kept, its sealed
    bodies opened. The stored row stays sealed. Raises ``UnreadableBody`` when it does not open under
    ``secret_key``."""
    if email.context is not None:
        context = unseal(email.context, secret_key=secret_key)
        try:
            rendered = render_email(
                email.kind,
                email.locale,
                stored_context.loads(context),
                brand=settings.brand,
                timezone=settings.timezone,
            )
        except Exception as error:
            # Rendering reads nothing but the context: no retry renders it, so it is given up on at once. The
            # message names the error's type (and missing keys), never a value: it is kept with the job and
            # shown to the team, and a value may be a working link.
            detail = str(error) if isinstance(error, MissingContextKeys) else type(error).__name__
            raise UnreadableBody(f"email {email.id} could not be rendered: {detail}") from None
        return _opened(email, text=rendered.text, html=rendered.html)
    if email.text_body is None or email.html_body is None:
        raise UnreadableBody(f"email {email.id} has no body left to send")
    return _opened(
        email,
        text=unseal(email.text_body, secret_key=secret_key),
        html=unseal(email.html_body, secret_key=secret_key),
    )


def _opened(email: Email, *, text: str, html: str) -> Email:
    """A detached copy of ``email`` with the bodies ``text`` and ``html``."""
    return Email(
        id=email.id,
        message_id=email.message_id,
        kind=email.kind,
        to_address=email.to_address,
        locale=email.locale,
        subject=email.subject,
        text_body=text,
        html_body=html,
        request_id=email.request_id,
        status=email.status,
        created_at=email.created_at,
        sent_at=email.sent_at,
    )
