"""The customer view of the cockpit: the directory record and the customer's requests."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel

from app.auth.dependencies import OperatorKey
from app.core import clock
from app.core.db import SessionDep
from app.core.dependencies import ContextDep
from app.core.errors import NotFound
from app.requests import repository
from app.requests.schemas import PrivacyRequestOut
from app.requests.views import operator_view

router = APIRouter(prefix="/v1/customers", tags=["customers"])


class CustomerDetail(BaseModel):
    id: str
    email: str | None
    name: str | None
    requests: list[PrivacyRequestOut]


@router.get("/{customer_id}", response_model=CustomerDetail)
async def get_customer(
    customer_id: Annotated[str, Path(min_length=1, max_length=200)],
    _principal: OperatorKey,
    session: SessionDep,
    ctx: ContextDep,
) -> dict[str, Any]:
    customer = await ctx.sources.find_customer(customer_id=customer_id)
    if customer is None:
        raise NotFound("No customer has this id.")
    now = clock.now()
    requests = await repository.list_for_customer(session, customer.id)
    return {
        "id": customer.id,
        "email": customer.email,
        "name": customer.name,
        "requests": [operator_view(r, now=now) for r in requests],
    }
