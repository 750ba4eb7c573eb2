"""Render the customer-facing pages: plain, accessible HTML with no scripts and no external resources.

Pages and their context keys (all optional unless stated):

================= ==============================================================================================
page              keys
================= ==============================================================================================
verify            ``token`` and ``verify_action`` (required: the form posts the token there), ``email``,
                  ``expires_at``, ``entities`` (``sources.describe()``: mappings with ``source``, ``entity``,
                  ``erase`` (delete | anonymize | keep), ``purpose``, ``retention``)
verified          ``email``
not_found         -
expired           -
already_confirmed -
error             -
================= ==============================================================================================
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment

from app.notifications import formatting

PAGES: frozenset[str] = frozenset(
    {"verify", "verified", "not_found", "expired", "already_confirmed", "error"}
)
_REQUIRED: dict[str, tuple[str, ...]] = {"verify": ("token", "verify_action")}
_OPTIONAL_DEFAULTS: dict[str, Any] = {"email": None, "expires_at": None, "entities": ()}

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


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return formatting.template_environment("app.pages", autoescape=True)


def render_page(name: str, locale: str, context: dict[str, Any]) -> str:
    """The HTML of page ``name`` in ``locale`` (unknown locales fall back to English); see the module doc.

    Raises ``ValueError`` for an unknown page or a missing required key.
    """
    if name not in PAGES:
        raise ValueError(f"unknown page {name!r}")
    missing = [key for key in _REQUIRED.get(name, ()) if not context.get(key)]
    if missing:
        raise ValueError(f"page {name!r} needs context keys: {', '.join(missing)}")
    lang = formatting.normalize_locale(locale)
    variables = {**_OPTIONAL_DEFAULTS, **context, "locale": lang}
    variables["entities"] = formatting.describe_entities(variables["entities"])
    return _environment().get_template(f"{lang}/{name}.html").render(variables)
