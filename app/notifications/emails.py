"""Email kinds rendered from Jinja2 templates: a subject, a plain-text part and an HTML part, in the customer's
language.

Each kind is one template pair, written once in English with gettext (``templates/<kind>.txt``, whose
``subject`` block is the subject line, and ``templates/<kind>.html``); a language is a message catalog,
``locales/<lang>/LC_MESSAGES/messages.po`` (``make messages`` extracts and updates them). HTML is autoescaped;
plain text is not (it is not markup). Every email carries the brand (``BRAND_*`` settings) in its footer and
shows dates in ``TIMEZONE``: both are passed to :func:`render_email` by whoever holds the settings.

Context keys per kind (``request`` is a mapping with ``id``, ``type``, ``regulation``, ``email`` (may be
``None``), ``received_at``, ``due_at`` (timezone-aware datetimes) and ``locale``). ``LText`` is a text per
language (``{"en": ..., "de": ...}``) or one string for every language.

======================== =====================================================================================
kind                     keys
======================== =====================================================================================
access_acknowledged      ``request``
access_no_data           ``request``; optional ``connected_only`` (say only the connected systems were searched)
access_searched_by_hand  ``request``, ``manual`` (the manual sources searched by hand, ``{"source", "title"}``
                         each, ``title`` an ``LText``): nothing in the connected systems, the rest is sent apart
deletion_confirmation    ``request``, ``verify_url``, ``expires_at``; optional ``entities`` (as
                         ``sources.describe()`` returns them: ``title``, ``purpose``, ``erase``,
                         ``pseudonymised``, ``retention``, ``retention_basis``, ...)
data_ready               ``request``, ``download_url``, ``expires_at``; optional ``manual`` (as above: what was
                         searched by hand is not in the download)
access_fulfilled         ``request``; optional ``note`` (the operator's note)
deletion_completed       ``request``, ``report`` (the erasure report: ``{"sources": {src: {entity: {"action",
                         "count", "title", "basis", "retention", "pseudonymised", "reason"?}}}}``, and
                         ``"recipients": [{"name", "purpose"}]`` when recipients were asked to erase too, and
                         ``"manual": [{"source", "title"}]``, the manual sources whose task was done)
deletion_refused         ``request``, ``reasons`` (list of str: why the erasure was refused)
request_declined         ``request``, ``reason``
deadline_extended        ``request``, ``new_due_at``, ``reason``; optional ``previous_due_at``
confirmation_expired     ``request``
due_soon (team)          ``requests`` (list of request mappings, each may carry ``days_left``, ``status`` and
                         ``manual_steps``, the open ones as ``{"source", "owner_email"}``),
                         ``threshold`` (timedelta), ``base_url``
overdue (team)           ``requests``, ``base_url``
request_failed (team)    ``request``, ``error``, ``base_url``
manual_task (owner)      ``request``, ``customer`` (``id``, ``email``, ``name``, each may be ``None``), ``source``,
                         ``instructions`` (in the owner's language, for the request's type), ``task_url`` (the
                         cockpit's request page); optional ``team_email`` (where an access request's copy goes)
recipient_not_told       ``request``, ``recipient`` (its name), ``error`` (why it was not told), ``base_url``
  (team)
email_not_delivered      ``request``, ``email_kind``, ``error``, ``base_url``; optional ``owner`` (a manual step
  (team)                 owner's address; else the email was the customer's): an email was given up on
manual_step_not_opened   ``request``, ``source``, ``owner_identifiers`` (those its owner finds customers by, text),
  (team)                 ``base_url``: the request holds none of them, so no task was opened
operator_sign_in (team)  ``name``, ``sign_in_url``, ``expires_at``, ``link_ttl`` (timedelta): an operator's
                         one-time sign-in link
recipient_erasure_notice ``request`` (``locale`` the recipient's), ``identifiers`` (``email`` and/or
  (to a recipient)       ``customer_id``: only those the recipient knows the customer by), ``received`` (the
                         titles of the erased data they received, ``LText``), ``erased_at``
======================== =====================================================================================

A missing key raises ``ValueError`` naming it, rather than sending a half-empty email.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from babel.units import format_unit
from jinja2 import Template

from app.core import clock, i18n
from app.core.brand import Brand
from app.notifications import formatting

PACKAGE = "app.notifications"

_CUSTOMER_KINDS: dict[str, tuple[str, ...]] = {
    "access_acknowledged": ("request",),
    "access_no_data": ("request",),
    "access_searched_by_hand": ("request", "manual"),
    "deletion_confirmation": ("request", "verify_url", "expires_at"),
    "data_ready": ("request", "download_url", "expires_at"),
    "access_fulfilled": ("request",),
    "deletion_completed": ("request", "report"),
    "deletion_refused": ("request", "reasons"),
    "request_declined": ("request", "reason"),
    "deadline_extended": ("request", "new_due_at", "reason"),
    "confirmation_expired": ("request",),
}
_TEAM_KINDS: dict[str, tuple[str, ...]] = {
    "due_soon": ("requests", "threshold", "base_url"),
    "overdue": ("requests", "base_url"),
    "request_failed": ("request", "error", "base_url"),
    "manual_task": ("request", "customer", "source", "instructions", "task_url"),
    "operator_sign_in": ("name", "sign_in_url", "expires_at", "link_ttl"),
    "recipient_not_told": ("request", "recipient", "error", "base_url"),
    "manual_step_not_opened": ("request", "source", "owner_identifiers", "base_url"),
    "email_not_delivered": ("request", "email_kind", "error", "base_url"),
}
# To those the brand passed a customer's data to (GDPR Art. 19): signed by the brand, like a customer's.
_RECIPIENT_KINDS: dict[str, tuple[str, ...]] = {
    "recipient_erasure_notice": ("request", "identifiers", "received", "erased_at"),
}
REQUIRED_KEYS: Mapping[str, tuple[str, ...]] = {**_CUSTOMER_KINDS, **_TEAM_KINDS, **_RECIPIENT_KINDS}
KINDS: frozenset[str] = frozenset(REQUIRED_KEYS)
TEAM_KINDS: frozenset[str] = frozenset(_TEAM_KINDS)
_OPTIONAL_DEFAULTS: dict[str, Any] = {
    "note": None,
    "entities": None,
    "previous_due_at": None,
    "manual": None,
    "team_email": None,
    "owner": None,
    "connected_only": None,
}
_ACTIONS = ("deleted", "anonymized", "kept")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def summarize_report(report: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The erasure report as the lines an email lists: ``deleted``, ``anonymized`` (truly anonymised),
    ``pseudonymised`` and ``kept``, the ``recipients`` asked to erase too, and the ``manual`` systems whose
    data staff erased by hand. An entity with no records is left out: nothing happened to it."""
    lines: dict[str, list[dict[str, Any]]] = {
        "deleted": [],
        "anonymized": [],
        "pseudonymised": [],
        "kept": [],
        "recipients": [dict(recipient) for recipient in report.get("recipients") or []],
        "manual": [dict(source) for source in report.get("manual") or []],
    }
    for entities in (report.get("sources") or {}).values():
        for entity, outcome in (entities or {}).items():
            action = str(outcome.get("action", ""))
            count = outcome.get("count")
            if action not in _ACTIONS or not count:
                continue
            if action == "anonymized" and outcome.get("pseudonymised"):
                action = "pseudonymised"
            lines[action].append(
                {
                    "title": outcome.get("title") or entity,
                    "count": count,
                    "basis": outcome.get("basis"),
                    "retention": outcome.get("retention"),
                    "reason": outcome.get("reason"),
                }
            )
    return lines


def _team_rows(requests: list[Mapping[str, Any]], base_url: str) -> list[dict[str, Any]]:
    now = clock.now()
    rows = []
    for item in requests:
        row = dict(item)
        row.setdefault("days_left", formatting.days_left(item["due_at"], now))
        row.setdefault("status", "")
        # The request's open manual steps: ``{"source", "owner_email"}`` each (contract section 10).
        row.setdefault("manual_steps", [])
        row["url"] = f"{base_url}/v1/privacy-requests/{item['id']}"
        rows.append(row)
    return sorted(rows, key=lambda row: row["due_at"])


class MissingContextKeys(ValueError):
    """A context lacks keys its kind needs; the message names the keys, never a value."""


def calendar_days(start: datetime, end: datetime, timezone: str) -> int:
    """Calendar days from ``start`` to ``end`` as the dates fall in ``timezone`` (received 30 November, due
    30 December: 30 days)."""
    return (i18n.local_time(end, timezone).date() - i18n.local_time(start, timezone).date()).days


def duration_words(value: timedelta, locale: str) -> str:
    """A warning threshold in the unit it was configured in: ``7 days``, ``12 hours`` / ``7 Tage`` (Babel's own
    ``format_timedelta`` would round 7 days to "1 week")."""
    seconds = int(value.total_seconds())
    if seconds % 86400 == 0:
        amount, unit = seconds // 86400, "duration-day"
    elif seconds % 3600 == 0:
        amount, unit = seconds // 3600, "duration-hour"
    else:
        amount, unit = max(seconds // 60, 1), "duration-minute"
    return format_unit(amount, unit, length="long", locale=i18n.babel_locale(locale))


def _prepare(
    kind: str, locale: str, context: Mapping[str, Any], *, brand: Brand, timezone: str
) -> dict[str, Any]:
    missing = [key for key in REQUIRED_KEYS[kind] if key not in context]
    if missing:
        raise MissingContextKeys(f"email {kind!r} needs context keys: {', '.join(missing)}")
    variables: dict[str, Any] = {
        **_OPTIONAL_DEFAULTS,
        **context,
        "locale": locale,
        "timezone": timezone,
        "brand": brand.as_context(),
        "team": kind in TEAM_KINDS,
    }
    base_url = str(context.get("base_url", "")).rstrip("/")
    variables["base_url"] = base_url
    request = context.get("request")
    if request is not None:
        variables["request_url"] = f"{base_url}/v1/privacy-requests/{request['id']}" if base_url else ""
        variables["days_to_answer"] = calendar_days(request["received_at"], request["due_at"], timezone)
    if variables["entities"] is not None:
        variables["entities"] = formatting.describe_entities(variables["entities"])
    if kind == "deletion_completed":
        variables["erasure"] = summarize_report(context["report"])
    if kind in {"due_soon", "overdue"}:
        variables["requests"] = _team_rows(list(context["requests"]), base_url)
    if kind == "due_soon":
        variables["within"] = duration_words(context["threshold"], locale)
    return variables


def render_email(
    kind: str,
    locale: str,
    context: Mapping[str, Any],
    *,
    brand: Brand | None = None,
    timezone: str = "UTC",
) -> RenderedEmail:
    """Render ``kind`` in ``locale`` (unknown locales fall back to English), signed by ``brand``, with dates in
    ``timezone``; see the module doc for the context keys.

    Raises ``ValueError`` for an unknown kind or a missing context key.
    """
    lang, variables, text_template = _started(kind, locale, context, brand=brand, timezone=timezone)
    subject = _subject(text_template, variables)
    text = text_template.render(variables)
    html_template = i18n.environment(PACKAGE, lang, autoescape=True).get_template(f"{kind}.html")
    html = html_template.render({**variables, "subject": subject})
    return RenderedEmail(subject=subject, text=_tidy_text(text), html=html.strip() + "\n")


def render_subject(
    kind: str,
    locale: str,
    context: Mapping[str, Any],
    *,
    brand: Brand | None = None,
    timezone: str = "UTC",
) -> str:
    """The subject line :func:`render_email` gives, alone (a fifth of the work of the whole email)."""
    _lang, variables, text_template = _started(kind, locale, context, brand=brand, timezone=timezone)
    return _subject(text_template, variables)


def _started(
    kind: str, locale: str, context: Mapping[str, Any], *, brand: Brand | None, timezone: str
) -> tuple[str, dict[str, Any], Template]:
    """The language, the template variables and the plain-text template of ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"unknown email kind {kind!r}")
    lang = i18n.normalize_locale(locale)
    variables = _prepare(kind, lang, context, brand=brand or Brand(), timezone=timezone)
    return lang, variables, i18n.environment(PACKAGE, lang, autoescape=False).get_template(f"{kind}.txt")


def _subject(text_template: Template, variables: dict[str, Any]) -> str:
    subject = "".join(text_template.blocks["subject"](text_template.new_context(variables)))
    # A subject is one line: a stray newline would be a header-injection vector.
    return " ".join(subject.split())


def _tidy_text(text: str) -> str:
    """Trim trailing spaces and collapse runs of blank lines left by template conditionals."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    tidy: list[str] = []
    for line in lines:
        if not line and tidy and not tidy[-1]:
            continue
        tidy.append(line)
    return "\n".join(tidy) + "\n"
