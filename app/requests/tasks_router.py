"""Manual-step endpoints (contract section 10): authorise, parse, call one service function, answer."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from app.auth.dependencies import OperatorKey
from app.core.db import SessionDep
from app.core.dependencies import ContextDep
from app.manual import service as manual
from app.requests import manual_steps
from app.requests import task_docs as docs
from app.requests.task_schemas import ManualTaskList, ManualTaskOut, ManualTaskPage, TaskDoneBody, TaskStatus

router = APIRouter(prefix="/v1", tags=["privacy requests"])


@router.get("/privacy-requests/{request_id}/tasks", response_model=ManualTaskList, **docs.LIST_FOR_REQUEST)
async def list_request_tasks(
    request_id: uuid.UUID, _principal: OperatorKey, session: SessionDep
) -> dict[str, Any]:
    return {"items": await manual_steps.list_for_request(session, request_id)}


@router.post(
    "/privacy-requests/{request_id}/tasks/{task_id}/done", response_model=ManualTaskOut, **docs.MARK_DONE
)
async def mark_task_done(
    request_id: uuid.UUID,
    task_id: uuid.UUID,
    body: Annotated[TaskDoneBody, Body(openapi_examples=docs.MARK_DONE_EXAMPLES)],
    principal: OperatorKey,
    session: SessionDep,
    ctx: ContextDep,
) -> dict[str, Any]:
    return await manual_steps.mark_done(
        session, ctx, request_id=request_id, task_id=task_id, note=body.note, actor=principal.name
    )


@router.get("/tasks", response_model=ManualTaskPage, **docs.LIST_ALL)
async def list_tasks(
    _principal: OperatorKey,
    session: SessionDep,
    status: Annotated[TaskStatus | None, Query(description="Only tasks in this status.")] = None,
    owner_email: Annotated[
        str | None,
        Query(
            max_length=320,
            pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$",
            description="Only this owner's tasks (case-insensitive): the owner's address as the source's "
            "configuration names it.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="At most this many tasks per page.")] = 50,
    cursor: Annotated[
        str | None,
        Query(
            max_length=500,
            pattern=r"^[A-Za-z0-9_-]*$",
            description="The `next_cursor` of the previous page, as it was returned; any other value is "
            "refused with 422.",
        ),
    ] = None,
) -> dict[str, Any]:
    return await manual.list_tasks(
        session,
        status=status,
        owner_email=owner_email,
        limit=limit,
        cursor=cursor,
    )
