"""Webhook events raised from the timeline, in the transaction of the change.

Every change to a request writes a timeline event (app.audit). A ``before_flush`` hook on the service's
sessions turns each new timeline event whose action a subscription listens for into an outbox row, one
delivery per subscription and one delivery job each, all added to the same flush: a change that rolls back
sends nothing, and no domain has to call anything to raise a webhook."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

from app.audit import repository as timeline
from app.jobs import repository as jobs
from app.models import RequestEvent
from app.webhooks import repository
from app.webhooks.events import BY_ACTION, body

DELIVER_WEBHOOK = "deliver_webhook"


class EmittingSession(Session):
    """The sessions of a sessionmaker given to ``install``: a class of their own, so the hook applies to
    them only (not to every Session in the process)."""


def install(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Make every session of ``sessionmaker`` raise webhook events for the timeline events it writes."""
    sessionmaker.configure(sync_session_class=EmittingSession)
    if not event.contains(EmittingSession, "before_flush", _before_flush):
        event.listen(EmittingSession, "before_flush", _before_flush)
        event.listen(EmittingSession, "after_transaction_end", _forget_listening)


# session.info key: the subscriptions read by this transaction's first flush that raised an event, kept for its
# later flushes (a submit with its automatic acceptance flushes twice) until the transaction ends.
_LISTENING = "webhooks.listening"


def _forget_listening(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the transaction itself, not a flush's inner step
        session.info.pop(_LISTENING, None)


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    raised = [
        timeline_event
        for timeline_event in session.new
        if isinstance(timeline_event, RequestEvent) and timeline_event.action in BY_ACTION
    ]
    if not raised:
        return
    listening = session.info.get(_LISTENING)
    if listening is None:
        listening = session.info[_LISTENING] = repository.listening(session)
    if not listening:
        return
    for timeline_event in raised:
        request = repository.request_for(session, timeline_event.request_id)
        if request is None:  # the change's own insert failed before: the flush will fail too
            continue
        # The request as this event's change left it: moved on in the same flush, it says where it stood.
        status = timeline.status_after(session, timeline_event) or request.status
        for event_type in BY_ACTION[timeline_event.action]:
            subscription_ids = [sid for sid, events in listening if event_type in events]
            if not subscription_ids:
                continue
            deliveries = repository.add_event(
                session,
                type=event_type,
                request_id=request.id,
                at=timeline_event.at,
                body=body(event_type, request, at=timeline_event.at, status=status),
                subscription_ids=subscription_ids,
            )
            for delivery in deliveries:
                jobs.add(session, DELIVER_WEBHOOK, {"delivery_id": str(delivery.id)})
