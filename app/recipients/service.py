"""Telling recipients about an erasure (GDPR Art. 19): who is concerned, and one notice each, once."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import repository as timeline
from app.audit.repository import SYSTEM
from app.core import clock
from app.core.context import ServiceContext
from app.jobs import repository as jobs
from app.models import PrivacyRequest
from app.notifications.outbox import email_context, email_team, enqueue_email
from app.notifications.sealing import seal
from app.recipients import repository
from app.sources.config import Recipient, customer_identifiers, in_language

DELIVER_NOTICE = "deliver_recipient_notice"
NOTICE_EMAIL = "recipient_erasure_notice"
# To the privacy team: a recipient could not be told (no identifier they know, or the notice given up on).
NOT_TOLD_EMAIL = "recipient_not_told"
# What the erasure report calls removing a customer's data from an entity (``kept`` removes nothing).
_ERASING_ACTIONS = ("deleted", "anonymized")


def erased_entities(report: dict[str, Any]) -> dict[str, Any]:
    """``source.entity`` -> its title, for every entity the erasure deleted or anonymised records of."""
    erased: dict[str, Any] = {}
    for source, entities in (report.get("sources") or {}).items():
        for entity, outcome in (entities or {}).items():
            if outcome.get("action") in _ERASING_ACTIONS and outcome.get("count"):
                erased[f"{source}.{entity}"] = outcome.get("title") or entity
    return erased


async def notify_recipients(
    session: AsyncSession, ctx: ServiceContext, request: PrivacyRequest, report: dict[str, Any]
) -> list[dict[str, Any]]:
    """Tell each recipient of an entity the erasure touched, in the caller's transaction: an email in the
    outbox, or a signed webhook's delivery job, and a ``recipient_notified`` timeline event.

    A recipient already told about this request (the completion ran again) is not told twice. Returns the
    recipients concerned, told now or before, as the customer reads them: ``{"name", "purpose"}``.
    """
    erased = erased_entities(report)
    concerned = [
        (recipient, [entity for entity in recipient.entities if entity in erased])
        for recipient in ctx.sources.config.recipients
    ]
    told: list[dict[str, Any]] = []
    now = clock.now()
    for recipient, entities in concerned:
        if not entities:
            continue
        identifiers = _identifiers(request, recipient)
        if not identifiers:
            problem = (
                f"none of the identifiers they know this customer by ({', '.join(recipient.identifiers)}) "
                "is on the request"
            )
            timeline.record(
                session,
                request_id=request.id,
                action="recipient_not_notified",
                actor=SYSTEM,
                detail=f"{recipient.name}: {problem}",
            )
            await alert_team(session, ctx, request_id=request.id, recipient=recipient.name, problem=problem)
            continue
        told.append({"name": recipient.name, "purpose": recipient.purpose})
        channel = "email" if recipient.email is not None else "webhook"
        notice_id = uuid.uuid4()
        titles = [erased[entity] for entity in entities]
        body = None
        if channel == "webhook":
            body = seal(
                _webhook_body(request, recipient, identifiers, entities, titles, at=now),
                secret_key=ctx.secret_key,
            )
        added = await repository.add_if_new(
            session,
            {
                "id": notice_id,
                "request_id": request.id,
                "recipient": recipient.name,
                "channel": channel,
                "entities": entities,
                "status": repository.EMAILED if channel == "email" else repository.PENDING,
                "body": body,
                "email_id": None,
                "created_at": now,
                "delivered_at": None,
            },
        )
        if not added:
            continue
        if recipient.email is not None:
            email = await enqueue_email(
                session,
                kind=NOTICE_EMAIL,
                to=recipient.email,
                locale=recipient.language,
                context={
                    "request": _request_facts(request, recipient),
                    "recipient": recipient.name,
                    "identifiers": identifiers,
                    "received": titles,
                    "erased_at": now,
                    "base_url": ctx.settings.base_url,
                },
                request_id=request.id,
                mail_from_domain=ctx.mail_domain,
                secret_key=ctx.secret_key,
                settings=ctx.settings,
            )
            await repository.set_email(session, notice_id, email.id)
        else:
            await jobs.enqueue(session, DELIVER_NOTICE, {"notice_id": str(notice_id)}, request_id=request.id)
        timeline.record(
            session,
            request_id=request.id,
            action="recipient_notified",
            actor=SYSTEM,
            detail=f"{recipient.name}, by {channel}: {', '.join(entities)}",
        )
    return told


async def alert_team(
    session: AsyncSession, ctx: ServiceContext, *, request_id: uuid.UUID, recipient: str, problem: str
) -> bool:
    """Email PRIVACY_TEAM_EMAIL (when set) that a recipient was not told of an erasure, and why, so that
    someone tells them another way: like a customer's email given up on (``app.requests.failure``)."""
    request = await repository.request_of(session, request_id)
    if request is None:
        return False
    return await email_team(
        session,
        ctx,
        NOT_TOLD_EMAIL,
        request_id=request.id,
        request=email_context(request),
        recipient=recipient,
        error=problem,
    )


def _identifiers(request: PrivacyRequest, recipient: Recipient) -> dict[str, str]:
    """The customer as this recipient knows them: the identifiers it is configured with that the request holds."""
    return customer_identifiers(
        recipient.identifiers,
        customer_id=request.customer_id,
        customer_email=request.customer_email,
        customer_name=request.customer_name,
        submitted_email=request.email,
    )


def _request_facts(request: PrivacyRequest, recipient: Recipient) -> dict[str, Any]:
    """What the notice email may show of the request: no name, no submitted address."""
    return {
        "id": str(request.id),
        "type": request.type,
        "regulation": request.regulation,
        "received_at": request.received_at,
        "due_at": request.due_at,
        "locale": recipient.language,
    }


def _webhook_body(
    request: PrivacyRequest,
    recipient: Recipient,
    identifiers: dict[str, str],
    entities: list[str],
    titles: list[Any],
    *,
    at: Any,
) -> str:
    timestamp = clock.as_utc(at).isoformat().replace("+00:00", "Z")
    data = {
        "request_id": str(request.id),
        "regulation": request.regulation,
        "erased_at": timestamp,
        "customer": identifiers,
        "entities": [
            {"entity": entity, "title": in_language(title, recipient.language)}
            for entity, title in zip(entities, titles, strict=True)
        ],
    }
    return json.dumps(
        {"type": "erasure.requested", "timestamp": timestamp, "data": data}, separators=(",", ":")
    )
