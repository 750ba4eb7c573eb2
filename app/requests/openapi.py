"""What the OpenAPI document says of each privacy-request operation: a summary, what it does, which roles may
call it, which errors it gives and when, and request-body examples that the service accepts as they are
(tests/test_openapi.py posts every one). ``app.openapi_schema`` adds the error body's schema to each error."""

from __future__ import annotations

from typing import Any

from fastapi.openapi.models import Example

from app.requests.schemas import BULK_MAX

OPERATOR_ROLES = "**Roles:** `operator`, `admin`."
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "`not_found`: no privacy request has this id."}
}
_TRANSITION = (
    "`invalid_transition`: the request's status (or type, regulation, handling) does not allow this action "
    "(the detail says why), or another operator changed it at the same moment; nothing changed."
)

SUBMIT: dict[str, Any] = {
    "summary": "Submit a privacy request",
    "description": """Records an access request (a copy of the person's data) or a deletion request (erase it),
and queues the customer's first email: an acknowledgement stating the due date (access), or a link to confirm the
erasure (deletion, which waits in `unverified` until the customer confirms).

Who the request concerns (README, "Who is asking"):
- with a valid `X-Customer-Token`: the signed-in customer (the body may then name no one);
- an app key without a token: the `email` only;
- an operator (a request received by letter or phone): `customer_id` or `email`, with a `note` on how the
  identity was checked.

Emails for a matched customer go to the address on file. An unknown `email` is accepted like a known one (no
answer tells whether someone is a customer). If the same person already has an open request of this type, the
answer is 200 with that request and no new email; a repeat with the same `Idempotency-Key` returns the first
answer.

**Roles:** `app`, `operator`, `admin`. The `app` role gets the minimal view of the request, operators the full
resource.

**Errors:**
- 401 `unauthorized`: no key, an unknown or revoked key, an invalid `X-Customer-Token`, or no token while
  `CUSTOMER_TOKEN_REQUIRED` is set (app role).
- 409 `conflict`: the `Idempotency-Key` was used before with another body, or its first request is still being
  answered; or a request for the same person was recorded at the same instant (retry).
- 422 `validation_error`: the body breaks the schema; or one of these rules (the `fields` name the field):
  neither `email` nor `customer_id` (without a customer token); a `customer_id` from an app key without a
  customer token; a `customer_id` no customer has; a `customer_id` that is not the signed-in customer's; an
  `email` that differs from the matched customer's address on file; a `note` from a key that is not an operator's;
  a signed-in customer who is not in the customer directory.
- 429 `rate_limited`: too many submissions from this address; see `Retry-After`.
- 503 `unavailable`: the database, the customer directory or the identity provider's keys cannot be reached;
  nothing was recorded; retry after `Retry-After`.""",
    "responses": {
        401: {"description": "`unauthorized`: no or unknown key, or an invalid `X-Customer-Token`."},
        409: {
            "description": "`conflict`: an `Idempotency-Key` reused with another body or still in progress."
        },
        422: {
            "description": "`validation_error`: the body breaks the schema, or a rule of who may name whom."
        },
    },
}
SUBMIT_EXAMPLES: dict[str, Example] = {
    "app_access": {
        "summary": "An app: a copy of my data",
        "value": {"type": "access", "email": "ada@example.com", "channel": "ios", "locale": "en"},
    },
    "app_deletion": {
        "summary": "An app: delete my data (a confirmation link is emailed)",
        "value": {"type": "deletion", "email": "grace@example.com", "channel": "web", "locale": "de"},
    },
    "operator_letter": {
        "summary": "An operator: a request received by letter, for a known customer",
        "value": {
            "type": "access",
            "customer_id": "cus_0003",
            "regulation": "ccpa",
            "channel": "letter",
            "note": "Signed letter; the address matches the one on file.",
        },
    },
}

LIST: dict[str, Any] = {
    "summary": "List privacy requests",
    "description": """The requests, newest first by default, filtered and paged by a cursor: pass the answer's
`next_cursor` as `cursor` (with the same `sort`) for the next page; `next_cursor` is null on the last page.
Requests in status `deleted` appear only when a `status` filter asks for them. `received_after` is inclusive,
`received_before` exclusive; times need a time zone (RFC 3339). `q` searches: requests whose email starts with
the text (any case; a whole address also finds requests whose address was masked after `RECORDS_RETENTION`) or
whose customer id is exactly the text. The same filters and sort give the CSV of `GET
/v1/privacy-requests/export.csv` and the selection of the bulk actions.

"""
    + OPERATOR_ROLES
    + """

**Errors:**
- 422 `validation_error`: a parameter breaks the schema; or a `cursor` this API did not return, or one returned
  for another `sort`; or a time out of the supported range.""",
}

GET: dict[str, Any] = {
    "summary": "Read one privacy request",
    "description": """The request with its timeline (`events`, oldest first), its manual steps (`tasks`) and,
for a processed deletion, the erasure report in `result` (for a failed request, the reasons).

**Roles:** `app`, `operator`, `admin`. The `app` role (a key that ships inside the apps) gets the minimal view
only: `id`, `type`, `status`, `regulation`, `locale`, `received_at`, `due_at`, `verified_at`, `days_left`,
`overdue`.

**Errors:**
- 404 `not_found`: no privacy request has this id.""",
    "responses": _NOT_FOUND,
}

ACCEPT: dict[str, Any] = {
    "summary": "Accept a request (or retry a failed one)",
    "description": """Accepts an access request in `pending`: `automatic` collects the data from every source,
builds the package and emails the download link; `manual` moves it to `in_progress` for the team to fulfil.
On a request in `failed`, retries its automatic work (for a deletion, the erasure; `automatic` only).
Each manual source (`type: manual`) gets a task and its owner an email; an automatic access request's package
waits until every task is marked done.

"""
    + OPERATOR_ROLES
    + """

**Errors:**
- 404 `not_found`: no privacy request has this id.
- 409 """
    + _TRANSITION,
    "responses": {**_NOT_FOUND, 409: {"description": _TRANSITION}},
}
ACCEPT_EXAMPLES: dict[str, Example] = {
    "automatic": {"summary": "Collect and send the data automatically", "value": {"handling": "automatic"}},
    "manual": {"summary": "The team fulfils it by hand", "value": {"handling": "manual"}},
}

FULFIL: dict[str, Any] = {
    "summary": "Fulfil a manual access request",
    "description": """Marks a manually handled access request in `in_progress` as `processed`. With
`send_download_link` true (the default) the service builds the package and emails the customer the link; false
records that the operator delivered the data another way (say how in `note`). The body may be left out. A
request with a manual step still open cannot be fulfilled (409) until the step is marked done.

"""
    + OPERATOR_ROLES
    + """

**Errors:**
- 404 `not_found`: no privacy request has this id.
- 409 """
    + _TRANSITION,
    "responses": {**_NOT_FOUND, 409: {"description": _TRANSITION}},
}
FULFIL_EXAMPLES: dict[str, Example] = {
    "link": {"summary": "Email the customer a download link", "value": {"send_download_link": True}},
    "by_post": {
        "summary": "Delivered another way",
        "value": {"send_download_link": False, "note": "Sent on a USB stick by registered post."},
    },
}

DISMISS: dict[str, Any] = {
    "summary": "Delete (dismiss) a request",
    "description": """Dismisses a request in `unverified`, `pending`, `failed`, or `in_progress` with manual
handling: it becomes `deleted`. The record and its timeline stay (accountability): `GET` still answers it, and
the list hides it unless a `status` filter asks for `deleted`. With `notify=true` the customer is told the reason and their rights.
Its open manual steps are cancelled.

"""
    + OPERATOR_ROLES
    + """

**Errors:**
- 404 `not_found`: no privacy request has this id.
- 409 """
    + _TRANSITION,
    "responses": {**_NOT_FOUND, 409: {"description": _TRANSITION}},
}

EXTEND: dict[str, Any] = {
    "summary": "Extend the deadline",
    "description": """Extends `due_at` once, before it passes: GDPR by two months, CCPA by 45 days (LGPD has no
extension). The customer is emailed the new date and the `reason`.

"""
    + OPERATOR_ROLES
    + """

**Errors:**
- 404 `not_found`: no privacy request has this id.
- 409 `invalid_transition`: an LGPD request, a deadline already extended or already passed, or a request in a
  status that cannot be extended; nothing changed.""",
    "responses": {
        **_NOT_FOUND,
        409: {"description": "`invalid_transition`: LGPD, extended before, past the deadline, or closed."},
    },
}
EXTEND_EXAMPLES: dict[str, Example] = {
    "complex": {
        "summary": "A complex request",
        "value": {"reason": "Your data is held in several archived systems; collecting it takes longer."},
    },
}

RESEND: dict[str, Any] = {
    "summary": "Resend the confirmation link",
    "description": """Emails a deletion request in `unverified` a new confirmation link; the old one stops
working.

"""
    + OPERATOR_ROLES
    + """

**Errors:**
- 404 `not_found`: no privacy request has this id.
- 409 `invalid_transition`: the request is not `unverified`.""",
    "responses": {
        **_NOT_FOUND,
        409: {"description": "`invalid_transition`: the request is not `unverified`."},
    },
}

EXPORT: dict[str, Any] = {
    "summary": "Download the customer's data now",
    "description": """The customer's data collected now from every source, as an attachment: `format=json`
(default) or `zip` (the data package: `data.json`, CSV files and `report.html`). Each export is logged in the
request's timeline.

"""
    + OPERATOR_ROLES
    + """

**Errors:**
- 404 `not_found`: no privacy request has this id.
- 503 `unavailable`: a data source cannot be reached; retry after `Retry-After`.""",
}

EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = _NOT_FOUND

STATS: dict[str, Any] = {
    "summary": "Count requests by status and type",
    "description": """The numbers the cockpit's dashboard shows: requests by status and by type, how many are
overdue, how many are due within 7 days, and how many manual steps are still open (`open_manual_tasks`).

"""
    + OPERATOR_ROLES,
}

_SELECTION = f"""The selection is the list's filters (`GET /v1/privacy-requests`) as the `filter` object, over every
page: `status` (a list), `type`, `email`, `customer_id`, `overdue`, `due_before`, `received_after`,
`received_before`, `q`. An unknown key is refused (a misspelt filter must not widen the selection); `{{}}` is
every request not `deleted`. At most {BULK_MAX:,} requests per call: narrow larger selections (e.g. by
`received_before`).

The guard against a stale screen: first send `"dry_run": true`, which changes nothing and answers `matched`,
the number of requests the selection holds, and `selection_digest`, a fingerprint of which requests they are
(SHA-256, hex, of their ids sorted); show the number, then send the same body with `"expected_count"` and
`"selection_digest"` set to those. If the selection holds another number by then (a request arrived or was
moved), or the same number of other requests (one left and another arrived), nothing changes and the answer
is 409: count again. `selection_digest` is optional (without it only the number is compared), but a client
should send it. A retried call is refused the same way once the first one acted, so repeating it is safe.

Each request goes through the same lifecycle check and conditional update as the single action, and its
timeline names the person who acted. Requests whose status does not allow the action, that another operator
moved out of the selection after it was counted (`no longer matches the filter`), or that another operator
moved at the same time, are left as they are and reported in `skipped` (the first 100, each with its status
and the reason; `skipped_count` counts all). The work is done in batches of 200, each in its own
transaction."""


def _bulk_errors(what: str) -> str:
    return f"""**Errors:**
- 409 `conflict`: the selection holds another number of requests than `expected_count`, or other requests than
  the ones `selection_digest` names; nothing was {what}.
- 422 `validation_error`: the body breaks the schema (an unknown filter, a bad date, an email that is not an
  address, a `selection_digest` that is not 64 hex digits); `expected_count` missing without `dry_run`; or more
  than {BULK_MAX:,} requests match."""


# What a dry run's `selection_digest` looks like (the examples' step 2 sends it back).
_EXAMPLE_DIGEST = "9f2c6a1d0e4b7c3a5f8e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a"

_BULK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "application/json": {
                "example": {
                    "matched": 12,
                    "selection_digest": _EXAMPLE_DIGEST,
                    "changed": 0,
                    "skipped_count": 0,
                    "skipped": [],
                    "dry_run": True,
                }
            }
        }
    },
    409: {
        "description": "`conflict`: the selection no longer holds `expected_count` requests, or no longer "
        "the ones `selection_digest` names; nothing changed."
    },
    422: {
        "description": f"`validation_error`: a bad body or filter, or more than {BULK_MAX:,} requests match."
    },
}

BULK_ACCEPT: dict[str, Any] = {
    "summary": "Accept every request of a filtered selection",
    "description": """Accepts, with the given `handling`, every request of the selection that can be accepted:
access requests in `pending`, and requests in `failed` (retried; a failed deletion with `automatic` only), as
`POST /v1/privacy-requests/{id}/accept` would one by one.

"""
    + _SELECTION
    + """

Example: `{"filter": {"status": ["pending"], "type": "access", "overdue": true}, "handling": "automatic",
"dry_run": true}` answers `{"matched": 12, "selection_digest": "9f2c...", ...}`; then the same with
`"expected_count": 12, "selection_digest": "9f2c..."` and no `dry_run` accepts the twelve.

"""
    + OPERATOR_ROLES
    + "\n\n"
    + _bulk_errors("accepted"),
    "responses": _BULK_RESPONSES,
}
BULK_ACCEPT_EXAMPLES: dict[str, Example] = {
    "count_overdue": {
        "summary": "Count the overdue pending access requests (step 1: nothing changes)",
        "value": {
            "filter": {"status": ["pending"], "type": "access", "overdue": True},
            "handling": "automatic",
            "dry_run": True,
        },
    },
    "count_customer": {
        "summary": "Count one customer's failed requests, to retry them (step 1)",
        "value": {
            "filter": {"status": ["failed"], "q": "cus_0003"},
            "handling": "automatic",
            "dry_run": True,
        },
    },
}

BULK_DISMISS: dict[str, Any] = {
    "summary": "Dismiss every request of a filtered selection",
    "description": """Dismisses (deletes) every request of the selection that can be dismissed: in
`unverified`, `pending`, `failed`, or `in_progress` with manual handling, as
`DELETE /v1/privacy-requests/{id}` would one by one. The `reason` goes on each timeline; with `notify` true each
customer is emailed the reason and their rights.

"""
    + _SELECTION
    + """

Example: `{"filter": {"q": "spam@example.com"}, "reason": "Duplicate submissions by a script.", "notify":
false, "dry_run": true}` answers `{"matched": 40, "selection_digest": "5be1...", ...}`; then the same with
`"expected_count": 40, "selection_digest": "5be1..."` and no `dry_run` dismisses the forty.

"""
    + OPERATOR_ROLES
    + "\n\n"
    + _bulk_errors("dismissed"),
    "responses": _BULK_RESPONSES,
}
BULK_DISMISS_EXAMPLES: dict[str, Example] = {
    "count_duplicates": {
        "summary": "Count one address's open requests before dismissing them (step 1: nothing changes)",
        "value": {
            "filter": {"q": "spam@example.com", "status": ["unverified", "pending"]},
            "reason": "Duplicate submissions by a script; the first request is answered.",
            "notify": False,
            "dry_run": True,
        },
    },
    "count_old_unverified": {
        "summary": "Count the unconfirmed deletions received before a date (step 1)",
        "value": {
            "filter": {"status": ["unverified"], "received_before": "2026-01-01T00:00:00Z"},
            "reason": "The deletion was never confirmed; ask again if you still want it.",
            "notify": True,
            "dry_run": True,
        },
    },
}

EXPORT_CSV: dict[str, Any] = {
    "summary": "Download the filtered list as CSV",
    "description": """The list with the same filters and `sort` as `GET /v1/privacy-requests`, every page, as a
CSV attachment (UTF-8, a header row, CRLF line ends), streamed as it is read. Columns: `id`, `type`, `status`,
`regulation`, `email`, `customer_id`, `channel`, `locale`, `handling`, `received_at`, `due_at`, `days_left`,
`overdue`, `processed_at` (times in RFC 3339 UTC; empty cells for null; `days_left` and `overdue` as of the
start of the download). A cell a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, ...) is
written with a leading apostrophe.

"""
    + OPERATOR_ROLES
    + """

**Errors:**
- 422 `validation_error`: a parameter breaks the schema, or a time out of the supported range.""",
}
