"""A manual task as the API shows it (contract section 10)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

TaskStatus = Literal["open", "done", "cancelled"]


class ManualTaskOut(BaseModel):
    id: uuid.UUID
    request_id: uuid.UUID
    source: str = Field(description="The manual source's name in `SOURCES_FILE`.")
    owner_email: str = Field(description="Who was emailed the task: the source's owner.")
    status: TaskStatus = Field(
        description="`open` until a person marks it done; `cancelled` when its request was deleted."
    )
    created_at: datetime
    done_at: datetime | None
    done_by: str | None = Field(description="Who marked it done, as the timeline names them.")
    note: str | None = Field(description="What they wrote when marking it done.")
