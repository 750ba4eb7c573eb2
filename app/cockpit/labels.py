"""The words the console shows for the API's codes (statuses, types, timeline actions), in the operator's
language. ``_`` marks them for `make messages`; each function is given the page's gettext."""

from __future__ import annotations

from collections.abc import Callable

Gettext = Callable[[str], str]


def statuses(_: Gettext) -> dict[str, str]:
    return {
        "unverified": _("Unverified"),
        "pending": _("Pending"),
        "in_progress": _("In progress"),
        "processed": _("Processed"),
        "failed": _("Failed"),
        "deleted": _("Dismissed"),
        "expired": _("Expired"),
    }


def delivery_statuses(_: Gettext) -> dict[str, str]:
    """A webhook delivery's status."""
    return {
        "pending": _("Pending"),
        "delivered": _("Delivered"),
        "failed": _("Failed"),
        "cancelled": _("Cancelled"),
    }


def types(_: Gettext) -> dict[str, str]:
    return {"access": _("Access"), "deletion": _("Deletion")}


def handlings(_: Gettext) -> dict[str, str]:
    return {"automatic": _("Automatic"), "manual": _("Manual")}


def sorts(_: Gettext) -> dict[str, str]:
    return {
        "-received_at": _("Newest first"),
        "received_at": _("Oldest first"),
        "due_at": _("Due soonest (overdue first)"),
        "-due_at": _("Due latest"),
    }


def actions(_: Gettext) -> dict[str, str]:
    """Timeline actions; an action missing here is shown as the API names it."""
    return {
        "received": _("Received"),
        "resubmitted": _("Asked again"),
        "note": _("Note"),
        "confirmed": _("Confirmed by the customer"),
        "verification_resent": _("Confirmation link sent again"),
        "accepted": _("Accepted"),
        "retried": _("Retried"),
        "fulfilled": _("Fulfilled"),
        "processed": _("Processed"),
        "no_data_found": _("No data found"),
        "download_link_sent": _("Download link sent"),
        "download_link_failed": _("Download link not sent"),
        "package_downloaded": _("Package downloaded"),
        "package_purged": _("Package purged"),
        "data_exported": _("Data downloaded by an operator"),
        "erased": _("Erased"),
        "failed": _("Failed"),
        "deleted": _("Dismissed"),
        "extended": _("Deadline extended"),
        "expired": _("Expired"),
        "due_soon_alert": _("Due-soon alert"),
        "overdue_alert": _("Overdue alert"),
        "email_failed": _("Email not delivered"),
        "email_skipped": _("Email skipped"),
        "redacted": _("Personal details masked"),
        "manual_step_opened": _("Manual task opened"),
        "manual_step_not_opened": _("Manual task not opened"),
        "manual_step_done": _("Manual task done"),
        "manual_steps_cancelled": _("Manual tasks cancelled"),
        "recipient_notified": _("Recipient told of the erasure"),
        "recipient_notice_failed": _("Recipient could not be told"),
        "recipient_not_notified": _("Recipient not told (no identifier they know)"),
    }


def actors(_: Gettext) -> dict[str, str]:
    return {"customer": _("the customer"), "system": _("the service")}
