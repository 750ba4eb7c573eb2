from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.context import domain_of
from app.jobs import repository as jobs
from app.models import Email, Job
from app.notifications import stored_context
from app.notifications.emails import render_email
from app.notifications.outbox import enqueue_email, readable
from app.notifications.sealing import UnreadableBody, seal

from ..conftest import SECRET
from .factories import VERIFY_URL, make_context, make_email_row, make_request


async def test_email_and_job_exist_after_commit(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    request = make_request(type="deletion", locale="de")
    async with sessionmaker() as session:
        email = await enqueue_email(
            session,
            kind="deletion_confirmation",
            to="ada@example.com",
            locale="de",
            context=make_context(request=request),
            request_id=None,
            mail_from_domain="privacy.example.com",
            secret_key=SECRET,
            settings=settings,
        )
        await session.commit()
    async with sessionmaker() as session:
        stored = (await session.scalars(select(Email))).one()
        job = (await session.scalars(select(Job))).one()
    assert stored.id == email.id
    assert stored.status == "pending"
    assert stored.kind == "deletion_confirmation"
    assert stored.to_address == "ada@example.com"
    assert stored.locale == "de"
    assert stored.subject == "Bitte bestätigen Sie die Löschung Ihrer Daten"
    # Not rendered yet: what the email is rendered from is stored sealed, so the link is not readable from the
    # row, only with SECRET_KEY.
    assert (stored.text_body, stored.html_body) == (None, None)
    assert stored.context is not None
    assert stored.context.startswith("fernet:")
    assert "verify" not in stored.context
    opened = readable(stored, secret_key=SECRET, settings=settings)
    assert VERIFY_URL in (opened.text_body or "")
    assert VERIFY_URL in (opened.html_body or "")
    # Rendered when sent, it is the email as it was rendered when queued.
    now = render_email(
        "deletion_confirmation",
        "de",
        make_context(request=request),
        brand=settings.brand,
        timezone=settings.timezone,
    )
    assert (opened.subject, opened.text_body, opened.html_body) == (now.subject, now.text, now.html)
    with pytest.raises(UnreadableBody):
        readable(stored, secret_key="another-secret-key-0123456789", settings=settings)
    assert stored.message_id == f"<{email.id.hex}@privacy.example.com>"
    assert job.kind == "send_email"
    assert job.payload == {"email_id": str(email.id)}
    assert job.status == "queued"


async def test_nothing_exists_after_rollback(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with sessionmaker() as session:
        await enqueue_email(
            session,
            kind="access_acknowledged",
            to="ada@example.com",
            locale="en",
            context=make_context(),
            request_id=None,
            mail_from_domain="example.com",
            secret_key=SECRET,
            settings=settings,
        )
        await session.rollback()
    async with sessionmaker() as session:
        assert (await session.scalars(select(Email))).all() == []
        assert (await session.scalars(select(Job))).all() == []


async def test_message_ids_are_unique_and_locale_normalised(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with sessionmaker() as session:
        emails = [
            await enqueue_email(
                session,
                kind="confirmation_expired",
                to="ada@example.com",
                locale="fr-FR",
                context=make_context(),
                request_id=None,
                mail_from_domain="example.com",
                secret_key=SECRET,
                settings=settings,
            )
            for _ in range(3)
        ]
        await session.commit()
    assert len({email.message_id for email in emails}) == 3
    assert {email.locale for email in emails} == {"en"}


def test_domain_of_mail_from() -> None:
    assert domain_of("privacy@example.com") == "example.com"
    assert domain_of("Privacy Team <privacy@example.com>") == "example.com"
    assert domain_of("nobody") == "localhost"


def test_an_email_queued_before_contexts_were_kept_is_sent_with_its_own_bodies(settings: Settings) -> None:
    # As migration 0011 finds a pending row: sealed bodies, no context.
    row = make_email_row()
    opened_text, opened_html = row.text_body, row.html_body
    assert opened_text is not None
    assert opened_html is not None
    row.text_body, row.html_body = seal(opened_text, secret_key=SECRET), seal(opened_html, secret_key=SECRET)
    opened = readable(row, secret_key=SECRET, settings=settings)
    assert (opened.subject, opened.text_body, opened.html_body) == (row.subject, opened_text, opened_html)


def test_a_stored_context_that_no_longer_renders_is_given_up_on(settings: Settings) -> None:
    row = make_email_row()
    row.text_body = row.html_body = None
    row.context = seal(stored_context.dumps({"base_url": "https://privacy.example.com"}), secret_key=SECRET)
    with pytest.raises(UnreadableBody, match="could not be rendered: .*needs context keys: request"):
        readable(row, secret_key=SECRET, settings=settings)


async def test_a_jobs_own_email_is_handed_to_its_worker_rendered_and_stored_as_a_context(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    # As in a worker's job whose emails it sends itself as the job commits (a package's download link).
    context = make_context(request=make_request(locale="de"))
    async with sessionmaker() as session:
        session.info[jobs.LEASE_TO] = jobs.NewJobLease(
            "worker-1", timedelta(minutes=5), frozenset({"send_email"})
        )
        email = await enqueue_email(
            session,
            kind="data_ready",
            to="ada@example.com",
            locale="de",
            context=context,
            request_id=None,
            mail_from_domain="example.com",
            secret_key=SECRET,
            settings=settings,
        )
        [job] = session.info[jobs.BORN_LEASED]
        [handed] = session.info[jobs.HANDED_OVER].values()
        await session.commit()
    expected = render_email("data_ready", "de", context, brand=settings.brand, timezone=settings.timezone)
    assert (job.status, job.locked_by) == ("running", "worker-1")
    assert (handed.id, handed.subject, handed.text_body, handed.html_body) == (
        email.id,
        expected.subject,
        expected.text,
        expected.html,
    )
    async with sessionmaker() as session:
        stored = (await session.scalars(select(Email))).one()
    # The row holds what any worker renders it from, should this one die before sending it.
    assert (stored.subject, stored.text_body, stored.html_body) == (expected.subject, None, None)
    assert readable(stored, secret_key=SECRET, settings=settings).text_body == expected.text
