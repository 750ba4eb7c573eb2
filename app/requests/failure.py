"""When automatic work gives up: the request fails with its reasons and the privacy team is alerted."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import repository as timeline
from app.audit.repository import SYSTEM
from app.core.context import ServiceContext
from app.core.lifecycle import Action, Status
from app.jobs.errors import PermanentError
from app.models import Job, PrivacyRequest
from app.notifications import repository as emails
from app.notifications.emails import TEAM_KINDS
from app.notifications.jobs import on_send_email_dead
from app.notifications.outbox import email_context, email_team
from app.requests import repository
from app.requests.actions import transition
from app.sources import SourceError


@contextmanager
def hopeless_source_errors_are_permanent() -> Iterator[None]:
    """A source error that retrying cannot help (a 4xx, a broken answer) fails the job at once, naming the
    source; the others propagate as they are, and the worker retries the job with backoff."""
    try:
        yield
    except SourceError as exc:
        if exc.retryable:
            raise
        raise PermanentError(str(exc)) from exc


async def fail_request(
    session: AsyncSession, ctx: ServiceContext, *, request_id: uuid.UUID, reasons: list[str]
) -> PrivacyRequest | None:
    """Move an in-progress request to ``failed`` with ``reasons`` in its result; alert the team. The failed
    request, or None when it was not in progress (nothing changed).

    The reasons stay on the timeline: a retry (accept) clears ``result``, not the ``failed`` event."""
    request = await repository.get(session, request_id)
    if request is None or request.status != Status.IN_PROGRESS:
        return None
    request = await transition(session, request, Action.FAIL, {"result": {"reasons": reasons}})
    timeline.record(session, request_id=request.id, action="failed", actor=SYSTEM, text="; ".join(reasons))
    await email_team(
        session,
        ctx,
        "request_failed",
        request_id=request.id,
        request=email_context(request),
        error="; ".join(reasons),
    )
    return request


async def on_job_dead(session: AsyncSession, job: Job, error: str, *, ctx: ServiceContext) -> None:
    """The worker gave up on one of this domain's jobs (the access package, the erasure) after its attempts."""
    if job.request_id is None:
        return
    reason = f"gave up after {job.attempts} attempt{'' if job.attempts == 1 else 's'}: {error}"
    request = await repository.get(session, job.request_id)
    if request is not None and request.status == Status.PROCESSED and job.payload.get("fulfilled"):
        await _link_not_sent(session, ctx, request, reason)
        return
    await fail_request(session, ctx, request_id=job.request_id, reasons=[reason])


async def _link_not_sent(
    session: AsyncSession, ctx: ServiceContext, request: PrivacyRequest, reason: str
) -> None:
    """An operator fulfilled the request with a link, but the package could not be built.

    The request stays ``processed`` (the lifecycle has no way back from it), so the customer is waiting for
    a link that will not come unless someone acts: the timeline says so and the team is alerted.
    """
    detail = f"no download link was sent: {reason}"
    timeline.record(
        session,
        request_id=request.id,
        action="download_link_failed",
        actor=SYSTEM,
        detail="no download link was sent",
        text=reason,
    )
    await email_team(
        session,
        ctx,
        "request_failed",
        request_id=request.id,
        request=email_context(request),
        error=f"{detail}. Export the data (GET /v1/privacy-requests/{request.id}/data) and deliver it another way.",
    )


async def on_email_dead(session: AsyncSession, job: Job, error: str, *, ctx: ServiceContext) -> None:
    """The worker gave up on an email (a permanent bounce, or its retries spent): it is marked failed as any
    email; one written to a customer about a request (or to a manual step's owner) also goes on that request's
    timeline and alerts the team, since someone is waiting for an answer, or a task, that did not reach them. A
    team alert that fails alerts no one (the team's own address is what failed)."""
    email = await emails.get(session, uuid.UUID(job.payload["email_id"]))
    await on_send_email_dead(session, job, error)
    if email is None or email.request_id is None:
        return
    # The owner of a system without an API who never learnt of their task: the request would wait for it.
    owner = email.to_address if email.kind == "manual_task" else None
    if email.kind in TEAM_KINDS and owner is None:
        return
    request = await repository.get(session, email.request_id)
    if request is None:
        return
    timeline.record(
        session,
        request_id=request.id,
        action="email_failed",
        actor=SYSTEM,
        detail=f"the {email.kind} email could not be delivered",
        # The server's answer may quote the address: free text, cleared after RECORDS_RETENTION.
        text=error,
    )
    await email_team(
        session,
        ctx,
        "email_not_delivered",
        request_id=request.id,
        request=email_context(request),
        email_kind=email.kind,
        owner=owner,
        error=error,
    )
