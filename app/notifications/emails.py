"""Email kinds rendered from Jinja2 templates: a subject, a plain-text part and an HTML part, in en or de.

Templates live in ``templates/<locale>/<kind>.txt`` (whose ``subject`` block is the subject line) and
``templates/<locale>/<kind>.html``. HTML is autoescaped; plain text is not (it is not markup).

Context keys per kind (``request`` is a mapping with ``id``, ``type``, ``regulation``, ``email`` (may be
``None``), ``received_at``, ``due_at`` (timezone-aware datetimes) and ``locale``):

======================== =====================================================================================
kind                     keys
======================== =====================================================================================
access_acknowledged      ``request``
deletion_confirmation    ``request``, ``verify_url``, ``expires_at``; optional ``entities`` (list of mappings
                         with ``source``, ``entity``, ``erase`` (delete | anonymize | keep), ``retention``)
data_ready               ``request``, ``download_url``, ``expires_at``
access_fulfilled         ``request``; optional ``note`` (the operator's note)
deletion_completed       ``request``, ``report`` (the erasure report:
                         ``{"sources": {src: {entity: {"action", "count", "reason"?}}}}``)
request_declined         ``request``, ``reason``
deadline_extended        ``request``, ``new_due_at``, ``reason``
confirmation_expired     ``request``
due_soon (team)          ``requests`` (list of request mappings, each may carry ``days_left`` and ``status``),
                         ``threshold`` (timedelta), ``base_url``
overdue (team)           ``requests``, ``base_url``
request_failed (team)    ``request``, ``error``, ``base_url``
======================== =====================================================================================

A missing key raises ``ValueError`` naming it, rather than sending a half-empty email.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import Environment, select_autoescape

from app.core import clock
from app.notifications import formatting

_CUSTOMER_KINDS: dict[str, tuple[str, ...]] = {
    "access_acknowledged": ("request",),
    "deletion_confirmation": ("request", "verify_url", "expires_at"),
    "data_ready": ("request", "download_url", "expires_at"),
    "access_fulfilled": ("request",),
    "deletion_completed": ("request", "report"),
    "request_declined": ("request", "reason"),
    "deadline_extended": ("request", "new_due_at", "reason"),
    "confirmation_expired": ("request",),
}
_TEAM_KINDS: dict[str, tuple[str, ...]] = {
    "due_soon": ("requests", "threshold", "base_url"),
    "overdue": ("requests", "base_url"),
    "request_failed": ("request", "error", "base_url"),
}
REQUIRED_KEYS: Mapping[str, tuple[str, ...]] = {**_CUSTOMER_KINDS, **_TEAM_KINDS}
KINDS: frozenset[str] = frozenset(REQUIRED_KEYS)
TEAM_KINDS: frozenset[str] = frozenset(_TEAM_KINDS)
_OPTIONAL_DEFAULTS: dict[str, Any] = {"note": None, "entities": None}


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return formatting.template_environment(
        "app.notifications",
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
    )


def summarize_report(report: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Split an erasure report into ``deleted``, ``anonymized`` and ``kept`` lines for the templates."""
    lines: dict[str, list[dict[str, Any]]] = {"deleted": [], "anonymized": [], "kept": []}
    for source, entities in (report.get("sources") or {}).items():
        for entity, outcome in (entities or {}).items():
            action = str(outcome.get("action", ""))
            if action not in lines:
                continue
            lines[action].append(
                {
                    "source": source,
                    "entity": entity,
                    "count": outcome.get("count"),
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
        row["url"] = f"{base_url}/v1/privacy-requests/{item['id']}"
        rows.append(row)
    return sorted(rows, key=lambda row: row["due_at"])


def _prepare(kind: str, locale: str, context: Mapping[str, Any]) -> dict[str, Any]:
    missing = [key for key in REQUIRED_KEYS[kind] if key not in context]
    if missing:
        raise ValueError(f"email {kind!r} needs context keys: {', '.join(missing)}")
    variables: dict[str, Any] = {**_OPTIONAL_DEFAULTS, **context, "locale": locale}
    base_url = str(context.get("base_url", "")).rstrip("/")
    variables["base_url"] = base_url
    if "request" in context and base_url:
        variables["request_url"] = f"{base_url}/v1/privacy-requests/{context['request']['id']}"
    if variables["entities"] is not None:
        variables["entities"] = formatting.describe_entities(variables["entities"])
    if kind == "deletion_completed":
        variables["erasure"] = summarize_report(context["report"])
    if kind in {"due_soon", "overdue"}:
        variables["requests"] = _team_rows(list(context["requests"]), base_url)
    return variables


def render_email(kind: str, locale: str, context: dict[str, Any]) -> RenderedEmail:
    """Render ``kind`` in ``locale`` (unknown locales fall back to English); see the module doc for keys.

    Raises ``ValueError`` for an unknown kind or a missing context key.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown email kind {kind!r}")
    lang = formatting.normalize_locale(locale)
    variables = _prepare(kind, lang, context)
    env = _environment()
    text_template = env.get_template(f"{lang}/{kind}.txt")
    subject = "".join(text_template.blocks["subject"](text_template.new_context(variables)))
    text = text_template.render(variables)
    # A subject is one line: a stray newline would be a header-injection vector.
    subject = " ".join(subject.split())
    html = env.get_template(f"{lang}/{kind}.html").render({**variables, "subject": subject})
    return RenderedEmail(
        subject=subject,
        text=_tidy_text(text),
        html=html.strip() + "\n",
    )


def _tidy_text(text: str) -> str:
    """Trim trailing spaces and collapse runs of blank lines left by template conditionals."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    tidy: list[str] = []
    for line in lines:
        if not line and tidy and not tidy[-1]:
            continue
        tidy.append(line)
    return "\n".join(tidy) + "\n"
