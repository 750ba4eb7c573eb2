"""HTML pages for the customer's browser (the confirmation and download links), one template per page translated
with gettext catalogs, with the brand on every page and strict headers."""

from app.pages.negotiation import preferred_locale, wants_html
from app.pages.render import PAGES, SECURITY_HEADERS, render_page

__all__ = ["PAGES", "SECURITY_HEADERS", "preferred_locale", "render_page", "wants_html"]
