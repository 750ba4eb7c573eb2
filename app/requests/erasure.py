"""The automatic part of a confirmed deletion: dry run everywhere, erase, check, report."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit import repository as timeline
from app.audit.repository import SYSTEM
from app.core import clock
from app.core.context import ServiceContext
from app.core.db import unit_of_work
from app.core.lifecycle import Status
from app.downloads.service import revoke_for_erasure
from app.jobs import repository as jobs
from app.manual import repository as manual
from app.models import Job
from app.requests import repository
from app.requests.access_package import identity_of
from app.requests.completion import erasure_ran
from app.requests.failure import fail_request, hopeless_source_errors_are_permanent
from app.requests.notify import email_customer


async def run_erasure(
    session: AsyncSession, job: Job, *, ctx: ServiceContext, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """If any source refuses the dry run, nothing is erased, the request fails with the reasons, the team is
    alerted and the customer is told the sources' reasons and their rights (``deletion_refused``): once per
    refusal, as the request leaves ``in_progress`` (a retried transient error sends nothing).

    Source errors propagate, so the worker retries with backoff (erasing again after a partial run is safe),
    except those retrying cannot help (a 4xx, a broken answer): they fail the job, and so the request, at once.
    """
    request_id = uuid.UUID(job.payload["request_id"])
    snapshot = await repository.snapshot(session, sessionmaker, request_id)
    if snapshot is None or snapshot.status != Status.IN_PROGRESS:
        return
    identity = identity_of(snapshot)
    with hopeless_source_errors_are_permanent():
        refusals = await ctx.sources.dry_run_erasure(identity)
        if refusals:
            reasons = [f"{r.source}: {r.message} ({r.code})" for r in refusals]
            failed = await fail_request(session, ctx, request_id=request_id, reasons=reasons)
            if failed is not None:
                # The sources' own words, once each (their internal names and codes stay with the team).
                told = list(dict.fromkeys(r.message.strip() for r in refusals if r.message.strip()))
                await email_customer(session, ctx, failed, "deletion_refused", reasons=told)
            return
        report = _with_earlier_run(await ctx.sources.erase(identity), job.payload.get("erased"))
    # What the sources removed is kept apart, committed now: if recording it below fails (the database away a
    # moment), the retry finds nothing left to erase, and without this it would report, and tell the customer
    # and the recipients, that nothing was erased.
    async with unit_of_work(sessionmaker) as writer:
        await jobs.set_payload(writer, job.id, {**job.payload, "erased": report})
    # Locked: a manual task marked done at this moment sees this erasure, or this sees that task done.
    request = await manual.lock_request(session, request_id)
    if request is None or request.status != Status.IN_PROGRESS:
        return
    timeline.record(session, request_id=request.id, action="erased", actor=SYSTEM, detail=_summary(report))
    # Packages built before the erasure still hold the data it removed.
    await revoke_for_erasure(session, ctx, request, at=clock.now())
    # Processed and the customer told now, or when the last manual task is done (app.requests.completion).
    await erasure_ran(session, ctx, request, report)


def _with_earlier_run(report: dict[str, Any], earlier: dict[str, Any] | None) -> dict[str, Any]:
    """This run's report, with what an earlier run of the same job erased before its record was lost: per
    entity, the outcome that counted more records (erasing again finds those already gone no more)."""
    if not earlier:
        return report
    sources: dict[str, dict[str, Any]] = {
        name: dict(entities) for name, entities in (report.get("sources") or {}).items()
    }
    for name, entities in (earlier.get("sources") or {}).items():
        for entity, outcome in entities.items():
            now = sources.setdefault(name, {}).get(entity)
            if now is None or int(outcome.get("count") or 0) > int(now.get("count") or 0):
                sources[name][entity] = outcome
    return {**report, "sources": sources}


def _summary(report: dict[str, object]) -> str:
    counts = {"deleted": 0, "anonymized": 0, "kept": 0}
    sources = report.get("sources", {})
    if isinstance(sources, dict):
        for entities in sources.values():
            if isinstance(entities, dict):
                for outcome in entities.values():
                    if isinstance(outcome, dict) and outcome.get("action") in counts:
                        counts[str(outcome["action"])] += int(outcome.get("count", 0))
    return f"{counts['deleted']} records deleted, {counts['anonymized']} anonymised, {counts['kept']} kept"
