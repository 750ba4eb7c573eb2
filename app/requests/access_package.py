"""The automatic part of an access request: collect, package, store encrypted, email the download link."""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit import repository as timeline
from app.audit.repository import SYSTEM
from app.core import clock
from app.core.context import ServiceContext
from app.core.db import ON_COMMIT
from app.core.lifecycle import Action, Status, next_status
from app.downloads import service as downloads
from app.jobs import repository as jobs
from app.models import Job, PrivacyRequest
from app.packages import Reader, SavedPackage, stream_zip
from app.requests import repository
from app.requests.actions import transition
from app.requests.completion import manual_sources_done, manual_sources_done_of
from app.requests.failure import hopeless_source_errors_are_permanent
from app.requests.notify import email_customer
from app.sources import Identity

# (source, entity, records): one batch of a read of the sources.
Batch = tuple[str, str, list[dict[str, Any]]]


def identity_of(request: PrivacyRequest) -> Identity:
    return Identity(customer_id=request.customer_id, email=request.email)


def package_meta(request: PrivacyRequest) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The ``request`` and ``customer`` parts of data.json."""
    meta = {
        "id": str(request.id),
        "type": request.type,
        "regulation": request.regulation,
        "email": request.email,
        "received_at": request.received_at.isoformat(),
        "due_at": request.due_at.isoformat(),
    }
    customer = (
        {"id": request.customer_id, "email": request.customer_email, "name": request.customer_name}
        if request.customer_id is not None
        else None
    )
    return meta, customer


async def run_access_package(
    session: AsyncSession, job: Job, *, ctx: ServiceContext, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Build the package outside any transaction (it may take a while), then leave its record to the worker
    (``record_packages``, in one transaction with the job done).

    A source error that retrying cannot help fails the job at once; the others are retried by the worker.
    """
    request_id = uuid.UUID(job.payload["request_id"])
    snapshot = await repository.snapshot(session, sessionmaker, request_id)
    if snapshot is None or snapshot.status not in (Status.IN_PROGRESS, Status.PROCESSED):
        return  # dismissed meanwhile: nothing to deliver
    identity = identity_of(snapshot)
    # One read of the sources: its first records decide whether there is anything to package, and the same
    # read (those records first) goes on into the package.
    reading = ctx.sources.collect_batches(identity)
    async with contextlib.aclosing(cast(AsyncGenerator[Batch], reading)):
        with hopeless_source_errors_are_permanent():
            read = await first_records(reading)
        if read is None:
            await _record_no_data(session, ctx, request_id=request_id)
            return
        meta, customer = package_meta(snapshot)
        chunks = stream_zip(
            ctx.sources,
            identity,
            request=meta,
            customer=customer,
            reader=Reader.of(ctx.settings, snapshot.locale),
            batches=_replayed(read, reading),
        )
        with hopeless_source_errors_are_permanent():
            saved = await ctx.packages.save(chunks)
    # Recorded by the worker in one transaction with the job done, together with the other packages its jobs
    # built meanwhile (one INSERT per table for the lot). Should that record not be made (a lost lease, a failed
    # commit), no row points at the package: it is removed rather than left an encrypted orphan no sweep purges.
    jobs.finish_later(
        session,
        record_packages,
        BuiltPackage(ctx, request_id, saved),
        together=True,
        abandon=functools.partial(ctx.packages.discard, saved.location),
    )


@dataclass(frozen=True)
class BuiltPackage:
    """A package stored for a request, waiting to be recorded (``record_packages``)."""

    ctx: ServiceContext
    request_id: uuid.UUID
    saved: SavedPackage


async def record_packages(session: AsyncSession, built: list[BuiltPackage]) -> None:
    """Record packages built by the worker's jobs, in the caller's transaction: each request processed, its
    download link emailed. A request dismissed meanwhile gets nothing, and its package is removed once this
    commits."""
    by_context: dict[int, list[BuiltPackage]] = {}
    for package in built:  # one context per worker: one group
        by_context.setdefault(id(package.ctx), []).append(package)
    for packages in by_context.values():
        await _record(session, packages[0].ctx, packages)


async def _record(session: AsyncSession, ctx: ServiceContext, packages: list[BuiltPackage]) -> None:
    """Store each package's download and email its link, a statement per table for them all.

    The requests move to processed in the statement that checks they are still in progress (no read before
    it); only those that are not (processed already: a new link for a package asked again) are read."""
    now = clock.now()
    processed = next_status(type="access", status=Status.IN_PROGRESS, action=Action.COMPLETE)
    ids = list(dict.fromkeys(package.request_id for package in packages))
    moved = {
        request.id: request
        for request in await repository.transition_many(
            session,
            ids,
            expected_status=Status.IN_PROGRESS,
            values={"status": processed.value, "processed_at": now},
        )
    }
    already = {
        request.id: request
        for request in await repository.get_many(session, [i for i in ids if i not in moved])
        if request.status == Status.PROCESSED
    }
    by_hand = await manual_sources_done_of(session, ctx, ids)
    for package in packages:
        request_id, saved = package.request_id, package.saved
        processed_now = request_id in moved
        request = moved.pop(request_id, None) or already.get(request_id)
        if request is None:  # dismissed meanwhile: no row will point at its package
            session.info.setdefault(ON_COMMIT, []).append(
                functools.partial(ctx.packages.discard, saved.location)
            )
            continue
        # A second package of one request in the batch finds it processed by the first: a new link.
        already[request_id] = request
        token, expires_at = await downloads.record(
            session, ctx, request_id=request_id, path=saved.location, size=saved.size, now=now
        )
        timeline.record(
            session,
            request_id=request_id,
            action="processed" if processed_now else "download_link_sent",
            actor=SYSTEM,
            detail="data package built; download link emailed" if processed_now else "data package built",
        )
        await email_customer(
            session,
            ctx,
            request,
            "data_ready",
            download_url=f"{ctx.settings.base_url}/v1/downloads/{token}",
            expires_at=expires_at,
            manual=by_hand.get(request_id, []),
        )


async def first_records(batches: AsyncIterator[Batch]) -> list[Batch] | None:
    """The batches read from ``batches`` up to and including the first one holding a record (the rest stays
    unread); None when no source holds any (everything was read)."""
    read: list[Batch] = []
    async for batch in batches:
        read.append(batch)
        if batch[2]:
            return read
    return None


async def _replayed(read: list[Batch], rest: AsyncIterator[Batch]) -> AsyncIterator[Batch]:
    """The batches already read, then the rest of the same read."""
    for batch in read:
        yield batch
    async for batch in rest:
        yield batch


async def _record_no_data(session: AsyncSession, ctx: ServiceContext, *, request_id: uuid.UUID) -> None:
    """No connected source holds anything about the person: no package and no link. They are told no data
    was found, unless a system without an API was searched by hand: then they are told which, and that what
    was found there reaches them apart (its owner sends it to the privacy team, who answer the customer)."""
    request = await repository.get(session, request_id)
    if request is None or request.status not in (Status.IN_PROGRESS, Status.PROCESSED):
        return
    by_hand = await manual_sources_done(session, ctx, request.id)
    if by_hand:
        names = ", ".join(source["source"] for source in by_hand)
        detail = f"no data about the person in the connected sources; no package was built; searched by hand: {names}"
    else:
        detail = "no data about the person was found in any source; no package was built"
    if request.status == Status.IN_PROGRESS:
        request = await transition(session, request, Action.COMPLETE, {"processed_at": clock.now()})
        timeline.record(session, request_id=request.id, action="processed", actor=SYSTEM, detail=detail)
    else:
        timeline.record(session, request_id=request.id, action="no_data_found", actor=SYSTEM, detail=detail)
    if by_hand:
        await email_customer(session, ctx, request, "access_searched_by_hand", manual=by_hand)
    else:
        # With systems that are not connected (manual sources) and none searched by hand for this request,
        # "we searched our systems" would claim more than was done: the email names what was searched.
        await email_customer(session, ctx, request, "access_no_data", connected_only=bool(ctx.sources.manual))
