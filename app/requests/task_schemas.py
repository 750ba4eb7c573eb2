"""The shapes of manual tasks in the API (contract section 10)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.manual.schemas import ManualTaskOut, TaskStatus
from app.requests.schemas import StrippedProse

__all__ = ["ManualTaskList", "ManualTaskOut", "ManualTaskPage", "TaskDoneBody", "TaskStatus"]


class ManualTaskList(BaseModel):
    items: list[ManualTaskOut]


class ManualTaskPage(BaseModel):
    items: list[ManualTaskOut]
    next_cursor: str | None


class TaskDoneBody(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    note: StrippedProse = Field(
        min_length=1,
        max_length=2000,
        description="What was done in the system, by whom if not you; recorded on the request's timeline. Line "
        "breaks and tabs are allowed, no other control characters.",
    )
