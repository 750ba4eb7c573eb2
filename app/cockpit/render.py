"""Render the console's pages: server-side HTML in the operator's language, with a strict Content-Security-Policy.

The pages load one script and one stylesheet from ``/cockpit/static/`` and nothing else: no inline script, no
other origin. Every change the operator makes is a ``fetch`` of the public JSON API by that script.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from app.cockpit import labels
from app.core import i18n
from app.pages.negotiation import preferred_locale

PACKAGE = "app.cockpit"
LANGUAGE_COOKIE = "cockpit_lang"
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def language_of(request: Request) -> str:
    """The operator's choice (the language switch's cookie), else their browser's Accept-Language."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in i18n.LOCALES:
        return chosen
    return preferred_locale(request.headers.get("accept-language"))


def gettext(locale: str) -> labels.Gettext:
    return i18n.gettext_for(PACKAGE, locale)


def render(
    request: Request,
    template: str,
    *,
    locale: str,
    timezone: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The page ``console/<template>.html`` with the common context (language, labels, the request's path)."""
    _ = gettext(locale)
    variables = {
        "locale": locale,
        "timezone": timezone,
        "path": request.url.path,
        "full_path": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "status_labels": labels.statuses(_),
        "type_labels": labels.types(_),
        "handling_labels": labels.handlings(_),
        "action_labels": labels.actions(_),
        "actor_labels": labels.actors(_),
        "operator": None,
        "csrf_token": "",
        "nav": "",
        **context,
    }
    environment = i18n.environment(PACKAGE, locale, autoescape=True)
    html = environment.get_template(f"console/{template}.html").render(variables)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
