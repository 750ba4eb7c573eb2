"""The customer view of the cockpit: the directory record and the customer's requests."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.context import ServiceContext
from app.core.errors import NotFound
from app.requests import service as requests


async def customer_detail(session: AsyncSession, ctx: ServiceContext, customer_id: str) -> dict[str, Any]:
    """The directory's record of ``customer_id`` with their requests, newest first; 404 when unknown."""
    customer = await ctx.sources.find_customer(customer_id=customer_id)
    if customer is None:
        raise NotFound("No customer has this id.")
    return {
        "id": customer.id,
        "email": customer.email,
        "name": customer.name,
        "requests": await requests.requests_of_customer(session, customer.id),
    }
