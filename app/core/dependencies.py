"""Dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.core.context import ServiceContext


async def _context(request: Request) -> ServiceContext:
    # async: a plain ``def`` dependency is sent to the thread pool, a hop per request for an attribute read.
    ctx: ServiceContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[ServiceContext, Depends(_context)]
