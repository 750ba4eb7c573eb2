"""HTML pages for the customer's browser (the deletion confirmation link), in en/de, with strict headers."""

from app.pages.render import PAGES, SECURITY_HEADERS, render_page

__all__ = ["PAGES", "SECURITY_HEADERS", "render_page"]
