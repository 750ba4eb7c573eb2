"""What the OpenAPI document says of the manual-task operations (contract section 10); see app.requests.openapi."""

from __future__ import annotations

from typing import Any

from fastapi.openapi.models import Example

from app.requests.openapi import OPERATOR_ROLES

_NOT_FOUND = "`not_found`: no privacy request has this id"

LIST_FOR_REQUEST: dict[str, Any] = {
    "summary": "List a request's manual steps",
    "description": """The request's tasks, one per manual source (a system without an API, `type: manual` in
`SOURCES_FILE`), oldest first. They are created when an access request is accepted or a deletion confirmed, and
each source's owner is emailed. The request stays `in_progress` until every task is `done`; a deleted request's
open tasks are `cancelled`.

"""
    + OPERATOR_ROLES
    + """

**Errors:**
- 404 """
    + _NOT_FOUND
    + ".",
    "responses": {404: {"description": _NOT_FOUND + "."}},
}

MARK_DONE: dict[str, Any] = {
    "summary": "Mark a manual step done",
    "description": """Records that the owner's work in the manual source is done, with your name and `note`
(the timeline shows `manual_step_done`). When it was the request's last open task, the request moves on: an
automatic access request's package is built and emailed; a deletion whose automatic erasure has run is
processed and the customer told.

"""
    + OPERATOR_ROLES
    + """

**Errors:**
- 404 `not_found`: no privacy request has this id, or it has no task with this id.
- 409 `conflict`: the task was marked done already (or by someone else at the same moment), or cancelled with
  its deleted request; nothing changed.
- 422 `validation_error`: `note` is missing, blank, longer than 2000 characters, or holds control characters.""",
    "responses": {
        404: {"description": _NOT_FOUND + ", or it has no task with this id."},
        409: {"description": "`conflict`: the task is done already, or cancelled."},
    },
}
MARK_DONE_EXAMPLES: dict[str, Example] = {
    "done": {
        "summary": "Done in the archive",
        "value": {"note": "Paper file shredded; the archive index entry removed."},
    },
}

LIST_ALL: dict[str, Any] = {
    "summary": "List manual steps across requests",
    "description": """Tasks of every request, oldest first (the longest waiting on top), optionally only one
`status` and one owner (`owner_email`, case-insensitive): `?status=open&owner_email=archive@example.com` is an
owner's to-do list. Paged by a cursor: pass the answer's `next_cursor` as `cursor` for the next page; it is null
on the last page.

"""
    + OPERATOR_ROLES
    + """

**Errors:**
- 422 `validation_error`: a parameter breaks the schema, or a `cursor` this API did not return.""",
}
