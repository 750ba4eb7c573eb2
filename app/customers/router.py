"""The customer endpoint of the cockpit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel

from app.auth.dependencies import OperatorKey
from app.core.db import SessionDep
from app.core.dependencies import ContextDep
from app.customers import service
from app.requests.schemas import PrivacyRequestOut

router = APIRouter(prefix="/v1/customers", tags=["customers"])


class CustomerDetail(BaseModel):
    id: str
    email: str | None
    name: str | None
    requests: list[PrivacyRequestOut]


@router.get(
    "/{customer_id}",
    response_model=CustomerDetail,
    summary="Read a customer and their requests",
    description="The customer's record in the customer directory (id, email, name) and every privacy request "
    "made for them, newest first.\n\n**Roles:** `operator`, `admin`.\n\n**Errors:**\n"
    "- 404 `not_found`: no customer in the directory has this id.\n"
    "- 503 `unavailable`: the customer directory cannot be reached; retry after `Retry-After`.",
    responses={404: {"description": "`not_found`: no customer in the directory has this id."}},
)
async def get_customer(
    customer_id: Annotated[str, Path(min_length=1, max_length=200)],
    _principal: OperatorKey,
    session: SessionDep,
    ctx: ContextDep,
) -> dict[str, Any]:
    return await service.customer_detail(session, ctx, customer_id)
