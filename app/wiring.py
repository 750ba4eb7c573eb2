"""The composition of the worker: each domain's job handlers, dead-job hooks and sweep steps, registered here.

Nothing below imports this module or the worker: a domain enqueues a job with ``jobs.repository.enqueue`` and
offers its handlers (``jobs.py``-style modules) and sweep steps (``sweep.py``); this module wires them.
"""

from __future__ import annotations

import functools

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.context import ServiceContext
from app.downloads import jobs as download_jobs
from app.downloads import sweep as downloads_sweep
from app.jobs import sweep as jobs_sweep
from app.models import Job
from app.notifications import sweep as notifications_sweep
from app.notifications.jobs import prefetch_emails, run_send_email
from app.notifications.outbox import SEND_EMAIL_JOB
from app.notifications.transport import Transport, transport_from_settings
from app.ratelimits import sweep as ratelimits_sweep
from app.recipients import jobs as recipient_jobs
from app.recipients.service import DELIVER_NOTICE
from app.requests import sweep as requests_sweep
from app.requests.access_package import run_access_package
from app.requests.actions import ACCESS_PACKAGE, ERASURE
from app.requests.erasure import run_erasure
from app.requests.failure import on_email_dead, on_job_dead
from app.requests.repository import prefetch_requests
from app.signin import links as sign_in_links
from app.webhooks import emission as webhook_emission
from app.webhooks import sweep as webhooks_sweep
from app.webhooks.jobs import new_client as new_webhook_client
from app.webhooks.jobs import on_delivery_dead, run_delivery
from app.worker.loop import DeadHook, Handler, RetryPolicy, Worker
from app.worker.sweep import SweepStep, run_sweep

# The sweep's steps, in the order a pass runs them, each in its own transaction: the deadlines and expiries at
# every poll interval; retention (counted in days: purges, pruning, redaction) once a housekeeping interval,
# not a dozen transactions a second in every idle worker.
SWEEP_STEPS: tuple[SweepStep, ...] = requests_sweep.STEPS
HOUSEKEEPING_STEPS: tuple[SweepStep, ...] = (
    *requests_sweep.HOUSEKEEPING,
    *downloads_sweep.HOUSEKEEPING,
    *notifications_sweep.HOUSEKEEPING,
    *jobs_sweep.HOUSEKEEPING,
    *ratelimits_sweep.HOUSEKEEPING,
    *webhooks_sweep.HOUSEKEEPING,
)


def build_worker(
    ctx: ServiceContext, sessionmaker: async_sessionmaker[AsyncSession], *, transport: Transport | None = None
) -> Worker:
    """A worker with every job kind and the sweep, configured from the settings.

    Every session of ``sessionmaker`` also raises webhook events for the timeline events it writes, in the same
    transaction (`worker` builds its sessionmaker and this worker for it; `serve` installs the same hook on the
    API's own sessions, whether its embedded worker has sessions of its own or shares the API's).
    """
    webhook_emission.install(sessionmaker)
    transport = transport or transport_from_settings(ctx.settings)
    webhook_client = new_webhook_client()
    handlers: dict[str, Handler] = {
        SEND_EMAIL_JOB: functools.partial(
            run_send_email, ctx=ctx, sessionmaker=sessionmaker, transport=transport
        ),
        ACCESS_PACKAGE: functools.partial(run_access_package, ctx=ctx, sessionmaker=sessionmaker),
        ERASURE: functools.partial(run_erasure, ctx=ctx, sessionmaker=sessionmaker),
        webhook_emission.DELIVER_WEBHOOK: functools.partial(
            run_delivery, ctx=ctx, sessionmaker=sessionmaker, client=webhook_client
        ),
        DELIVER_NOTICE: functools.partial(
            recipient_jobs.run_notice_delivery, ctx=ctx, sessionmaker=sessionmaker, client=webhook_client
        ),
        download_jobs.PURGE_PACKAGE: functools.partial(download_jobs.run_purge_package, ctx=ctx),
        sign_in_links.SEND_SIGN_IN_LINK_JOB: functools.partial(sign_in_links.run_send_sign_in_link, ctx=ctx),
    }
    request_job_dead = functools.partial(on_job_dead, ctx=ctx)
    dead_hooks: dict[str, DeadHook] = {
        # A recipient's notice email is the recipients domain's; any other, the requests domain's.
        SEND_EMAIL_JOB: functools.partial(
            recipient_jobs.on_email_dead, otherwise=functools.partial(on_email_dead, ctx=ctx), ctx=ctx
        ),
        ACCESS_PACKAGE: request_job_dead,
        ERASURE: request_job_dead,
        webhook_emission.DELIVER_WEBHOOK: on_delivery_dead,
        DELIVER_NOTICE: functools.partial(recipient_jobs.on_notice_dead, ctx=ctx),
    }

    async def on_dead(session: AsyncSession, job: Job, error: str) -> None:
        hook = dead_hooks.get(job.kind)
        if hook is not None:
            await hook(session, job, error)

    async def periodic() -> None:
        await run_sweep(sessionmaker, ctx, SWEEP_STEPS)

    async def housekeeping() -> None:
        await run_sweep(sessionmaker, ctx, HOUSEKEEPING_STEPS)

    settings = ctx.settings
    # A receiver down for a while (a deploy, a night) still gets every event once it is back; a recipient's
    # webhook notice is retried the same way.
    webhook_retries = RetryPolicy(
        base=settings.webhook_retry_base,
        retry_for=settings.webhook_retry_for,
        max_delay=settings.webhook_retry_max_delay,
    )
    # An erased customer's package is deleted from the store however long the store is away (within reason).
    purge_retries = RetryPolicy(
        base=settings.job_retry_base,
        retry_for=download_jobs.PURGE_RETRY_FOR,
        max_delay=download_jobs.PURGE_MAX_DELAY,
    )
    worker = Worker(
        sessionmaker=sessionmaker,
        handlers=handlers,
        on_dead=on_dead,
        poll_interval=settings.worker_poll_interval,
        lease=settings.job_lease,
        retry_base=settings.job_retry_base,
        max_attempts=settings.job_max_attempts,
        retry_policies={
            webhook_emission.DELIVER_WEBHOOK: webhook_retries,
            DELIVER_NOTICE: webhook_retries,
            download_jobs.PURGE_PACKAGE: purge_retries,
        },
        periodic=periodic,
        housekeeping=housekeeping,
        # A job's own emails (the data-ready link, a deletion's completion) go out as it commits.
        run_at_once=frozenset({SEND_EMAIL_JOB}),
        concurrency=settings.worker_concurrency,
        batch_size=2 * settings.worker_concurrency,
        prefetch={
            SEND_EMAIL_JOB: prefetch_emails,
            ACCESS_PACKAGE: prefetch_requests,
            ERASURE: prefetch_requests,
        },
    )
    worker.closers.append(transport.aclose)
    worker.closers.append(webhook_client.aclose)
    return worker
