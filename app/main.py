"""create_app(): the API, its lifespan (engine, sessionmaker, sources, embedded worker) and routers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app import api_docs, error_handlers, openapi_schema
from app.auth.customer_tokens import build_customer_tokens
from app.auth.oidc import build_oidc
from app.auth.router import router as api_keys_router
from app.cockpit.router import router as cockpit_router
from app.core.config import Settings, get_settings
from app.core.context import ServiceContext
from app.core.db import create_engine, create_sessionmaker
from app.core.logging import RequestIdMiddleware
from app.core.observability import MetricsMiddleware
from app.core.observability import router as operations_router
from app.core.ratelimit import HitCounter, MemoryCounter, RateLimiter
from app.core.traffic import (
    ApiFirst,
    Traffic,
    TrafficMiddleware,
    start_embedded_worker,
    yielding_sessionmaker,
)
from app.customers.router import router as customers_router
from app.downloads.router import router as downloads_router
from app.packages import PackageStore
from app.ratelimits.counter import DatabaseCounter
from app.requests.router import router as requests_router
from app.requests.tasks_router import router as tasks_router
from app.signin.router import router as signin_router
from app.sources import DataSources
from app.verification.router import router as verification_router
from app.webhooks import emission as webhook_emission
from app.webhooks.router import router as webhooks_router
from app.wiring import build_worker
from app.worker.listen import listen_forever

log = logging.getLogger("app")

DESCRIPTION = """GDPR/CCPA/LGPD privacy requests: access ("give me a copy of my data") and deletion ("delete my
data"), answered on time and with proof. See the README for the lifecycle and deadlines."""


class _App(FastAPI):
    def build_middleware_stack(self) -> ASGIApp:
        # Outermost, around even the server-error handler (which Starlette keeps outside every middleware
        # added with add_middleware): an unexpected error's log line and its 500 answer carry the id too.
        # Outside it, the count of requests being answered, which the embedded worker lets go first.
        return TrafficMiddleware(RequestIdMiddleware(super().build_middleware_stack()), self.state.traffic)


def create_app(settings: Settings | None = None, *, run_worker: bool = True) -> FastAPI:
    """The ASGI app. ``run_worker`` embeds the background worker in the API process."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # First, as it may fail (a bad key file): nothing else is open yet that would need closing.
        customer_tokens = build_customer_tokens(settings)
        oidc = build_oidc(settings)  # OIDC sign-in and access tokens; None without OIDC_ISSUER
        engine = create_engine(settings.database_url)
        sessionmaker = create_sessionmaker(engine)
        sources = DataSources.from_file(settings.sources_file, secret_key=settings.resolved_secret_key())
        packages = PackageStore(settings=settings, secret_key=settings.resolved_secret_key())
        ctx = ServiceContext(
            settings=settings, secret_key=settings.resolved_secret_key(), sources=sources, packages=packages
        )
        # The embedded worker waits, before each of its transactions, for a moment when no request is being
        # answered (at most app.core.traffic.MAX_WAIT each time): the API goes first in the process.
        traffic: Traffic = app.state.traffic
        worker = build_worker(
            ctx, yielding_sessionmaker(engine, traffic.quiet) if run_worker else sessionmaker
        )
        if run_worker:
            webhook_emission.install(sessionmaker)  # the API's own sessions raise webhook events too
        app.state.engine = engine
        app.state.sessionmaker = sessionmaker
        app.state.ctx = ctx
        app.state.worker = worker
        # On PostgreSQL every replica counts in the database; SQLite is one process, which counts in memory.
        counter: HitCounter = MemoryCounter() if settings.is_sqlite else DatabaseCounter(engine)
        app.state.rate_limiter = RateLimiter(
            counter,
            per_minute=settings.rate_limit_per_minute,
            auth_failures_per_minute=settings.rate_limit_auth_failures_per_minute,
        )
        app.state.customer_tokens = customer_tokens
        app.state.oidc = oidc
        app.state.wake_workers = worker.wake
        tasks: list[asyncio.Task[None]] = []
        loop = asyncio.get_running_loop()
        # On `serve`'s loop, each step of the embedded worker also waits while a request is being answered.
        api_first = run_worker and isinstance(loop, ApiFirst)
        if api_first:
            cast(ApiFirst, loop).let_api_first(traffic)
            log.info("API first: the embedded worker's steps wait while a request is being answered")
        if run_worker:
            tasks.append(start_embedded_worker(worker.run(), name="embedded-worker"))
            if not settings.is_sqlite:
                tasks.append(
                    asyncio.create_task(listen_forever(settings.database_url, worker.wake), name="listen")
                )
        try:
            yield
        finally:
            worker.stop()
            for task in tasks:
                if task.get_name() == "listen":
                    task.cancel()
            try:
                for task in tasks:
                    try:
                        await asyncio.wait_for(task, timeout=settings.worker_shutdown_grace.total_seconds())
                    except TimeoutError:
                        # A job longer than the grace period: it is cancelled (its lease lets another worker
                        # take it over) and everything below is still closed.
                        log.warning("%s did not stop in time; cancelled", task.get_name())
                    except asyncio.CancelledError:
                        pass
            finally:
                if api_first:
                    cast(ApiFirst, loop).let_api_first(None)
                await worker.aclose()
                await customer_tokens.aclose()
                if oidc is not None:
                    await oidc.aclose()
                await sources.aclose()
                await packages.aclose()
                await engine.dispose()

    app = _App(
        title="Privacy Requests",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # Served by app.api_docs from the service's own assets (FastAPI's pages load them from a CDN).
        docs_url=None,
        redoc_url=None,
    )
    app.state.traffic = Traffic()
    error_handlers.install(app)
    openapi_schema.install(app)
    api_docs.install(app)
    app.add_middleware(MetricsMiddleware)
    if settings.cors_origins:
        # Browser front ends on these origins may call the API with a bearer token (never the session cookie:
        # no credentials are allowed across origins).
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Operator", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After", "Location"],
            max_age=600,
        )
    if settings.forwarded_allow_ips:
        # The client a trusted proxy reports (X-Forwarded-For, X-Forwarded-Proto) becomes the request's client,
        # here rather than in `serve`, so the same rule holds under any ASGI server; from any other peer the
        # headers are ignored.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    for router in (
        requests_router,
        tasks_router,
        customers_router,
        verification_router,
        downloads_router,
        api_keys_router,
        webhooks_router,
        operations_router,
        signin_router,
        cockpit_router,
    ):
        app.include_router(router)
    return app
