"""Health, readiness and Prometheus metrics. (Secret links are masked in the logs by ``app.core.logging``.)"""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.db import ping

router = APIRouter(tags=["operations"])

REGISTRY = CollectorRegistry()
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests answered", ["method", "route", "status"], registry=REGISTRY
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"], registry=REGISTRY
)
EMAILS_SENT = Counter("emails_sent_total", "Emails handed to the transport", ["kind"], registry=REGISTRY)


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """The process answers: 200 `{"status": "ok"}`. No key needed."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness",
    responses={
        503: {
            "description": "The database is unreachable",
            "content": {
                "application/json": {
                    "example": {"status": "unavailable", "database": "unreachable"},
                    "schema": {
                        "type": "object",
                        "properties": {
                            "status": {"const": "unavailable"},
                            "database": {"const": "unreachable"},
                        },
                        "required": ["status", "database"],
                    },
                }
            },
        }
    },
)
async def readyz(request: Request, response: Response) -> dict[str, str]:
    """200 when the database answers within two seconds, else 503 (take the replica out of the load balancer).
    No key needed."""
    try:
        async with asyncio.timeout(2):
            await ping(request.app.state.engine)
    except Exception:
        response.status_code = 503
        return {"status": "unavailable", "database": "unreachable"}
    return {"status": "ok", "database": "ok"}


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics",
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics() -> Response:
    """Request counts and latencies by route and status, jobs and emails, in Prometheus' text format. No key
    needed (serve it on an internal network only)."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Counts requests per route template (not per raw path, so ids do not explode the label set)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_of(scope)
            # Invented methods share one label: a label per name would grow the metrics without bound.
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)


def _route_of(scope: Scope) -> str:
    # The router records the route it dispatched to in the scope: no second pass over every route.
    return str(getattr(scope.get("route"), "path", "unmatched"))
