"""Render the customer-facing pages: plain, accessible HTML with no scripts and no external resources.

One template per page, written in English with gettext; a language is a catalog
(``app/pages/locales/<lang>/LC_MESSAGES/messages.po``). Every page carries the brand (``Brand``: name, controller
and address, data protection officer, privacy policy) and shows dates in ``timezone``.

Pages and their context keys (all optional unless stated):

================== =============================================================================================
page               keys
================== =============================================================================================
verify             ``token`` and ``verify_action`` (required: the form posts the token there), ``email``,
                   ``expires_at``, ``entities`` (``sources.describe()``: mappings with ``title``, ``erase``
                   (delete | anonymize | keep), ``pseudonymised``, ``purpose``, ``retention``,
                   ``retention_basis``)
verified           ``email``
not_found          -
expired            -
already_confirmed  ``progress`` (required): ``working`` (the erasure is under way), ``done`` (processed) or
                   ``written`` (refused or dismissed: the customer was told by email)
error              -
download_not_found -
download_gone      ``reason``: ``expired`` | ``erased`` | ``unavailable``
================== =============================================================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from app.core import i18n
from app.core.brand import Brand

PAGES: frozenset[str] = frozenset(
    {
        "verify",
        "verified",
        "not_found",
        "expired",
        "already_confirmed",
        "error",
        "download_not_found",
        "download_gone",
    }
)
_REQUIRED: dict[str, tuple[str, ...]] = {
    "verify": ("token", "verify_action"),
    "already_confirmed": ("progress",),
}
_OPTIONAL_DEFAULTS: dict[str, Any] = {"email": None, "expires_at": None, "entities": (), "reason": None}

# The pages need nothing from anywhere: no scripts, no images, no fonts; the form posts to this origin only.
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    # The verify URL carries the token: no Referer may leak it to another site.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def _entities(entities: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """``sources.describe()`` lines with every key the verify page reads present; the title falls back to the
    entity's (or the source's) name, never a table's."""
    defaults = {
        "erase": "delete",
        "pseudonymised": False,
        "purpose": None,
        "retention": None,
        "retention_basis": None,
    }
    lines = []
    for entity in entities or ():
        line = {**defaults, **entity}
        line["title"] = entity.get("title") or entity.get("entity") or entity.get("source") or ""
        lines.append(line)
    return lines


def render_page(
    name: str, locale: str, context: dict[str, Any], *, brand: Brand, timezone: str = "UTC"
) -> str:
    """The HTML of page ``name`` in ``locale`` (unknown locales fall back to English), with ``brand`` on it and
    dates in ``timezone``; see the module doc for the context.

    Raises ``ValueError`` for an unknown page or a missing required key.
    """
    if name not in PAGES:
        raise ValueError(f"unknown page {name!r}")
    missing = [key for key in _REQUIRED.get(name, ()) if not context.get(key)]
    if missing:
        raise ValueError(f"page {name!r} needs context keys: {', '.join(missing)}")
    lang = i18n.normalize_locale(locale)
    variables = {
        **_OPTIONAL_DEFAULTS,
        **context,
        "locale": lang,
        "timezone": timezone,
        "brand": brand.as_context(),
    }
    variables["entities"] = _entities(variables["entities"])
    environment = i18n.environment("app.pages", lang, autoescape=True)
    return environment.get_template(f"{name}.html").render(variables)
