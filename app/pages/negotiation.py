"""What a browser asks for: HTML or JSON (``Accept``), and in which language (``Accept-Language``)."""

from __future__ import annotations

from app.core.i18n import DEFAULT_LOCALE, LOCALES

_HTML_TYPES = ("text/html", "application/xhtml+xml")


def _weighted(header: str | None) -> list[tuple[str, float]]:
    """``"de-DE,de;q=0.9,en;q=0.5"`` -> ``[("de-de", 1.0), ("de", 0.9), ("en", 0.5)]``, best first; a malformed
    weight counts as 0 (not wanted) rather than failing the request."""
    items: list[tuple[str, float]] = []
    for position, part in enumerate((header or "")[:1000].split(",")):
        value, *params = (piece.strip() for piece in part.split(";"))
        if not value:
            continue
        weight = 1.0
        for param in params:
            name, _, number = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(number)
                except ValueError:
                    weight = 0.0
        if 0 < weight <= 1:
            items.append((value.lower(), weight - position * 1e-6))  # ties keep the header's order
    return sorted(items, key=lambda item: item[1], reverse=True)


def wants_html(accept: str | None) -> bool:
    """True when the client asks for an HTML page (a browser following a link); ``*/*`` alone, JSON or no
    ``Accept`` header is an API client, which gets the contract's JSON error body."""
    return any(value in _HTML_TYPES for value, _weight in _weighted(accept))


def preferred_locale(accept_language: str | None) -> str:
    """The best of our languages for ``Accept-Language`` (``de-DE,de;q=0.9`` -> ``de``); English otherwise."""
    for value, _weight in _weighted(accept_language):
        language = value.replace("_", "-").split("-")[0]
        if language in LOCALES:
            return language
    return DEFAULT_LOCALE
