"""Notifications: email kinds rendered in en/de, the outbox, and the SMTP and file transports."""

from app.notifications.emails import KINDS, TEAM_KINDS, RenderedEmail, render_email

__all__ = ["KINDS", "TEAM_KINDS", "RenderedEmail", "render_email"]
