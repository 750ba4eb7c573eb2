"""The CLI: ``python -m app serve|worker|migrate|demo|api-keys|operators ...``."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Coroutine
from typing import Any

from app.core.config import ConfigError, Settings, load_settings
from app.core.logging import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description="Privacy Requests service")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="the API with the embedded background worker")
    serve.add_argument("--no-worker", action="store_true", help="serve the API only")
    serve.add_argument(
        "--demo-brand",
        action="store_true",
        help="fill the brand settings the environment leaves unset with the demo's (what `make run` uses)",
    )
    commands.add_parser("worker", help="a standalone background worker (run as many as you like)")
    commands.add_parser("migrate", help="upgrade the database to the latest schema")
    commands.add_parser("demo", help="create the demo data sources, customers and token key pair (once)")
    token = commands.add_parser(
        "customer-token", help="print a demo customer token (1 hour) signed with the demo key pair"
    )
    token.add_argument("customer_id")
    keys = commands.add_parser("api-keys", help="manage API keys").add_subparsers(
        dest="keys_command", required=True
    )
    create = keys.add_parser("create", help="create a key; the key is printed alone on the last line")
    create.add_argument("--role", required=True, choices=["app", "operator", "admin"])
    create.add_argument("--name", required=True)
    keys.add_parser("list", help="list keys (never the keys themselves)")
    revoke = keys.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("id")
    people = commands.add_parser("operators", help="manage operators (people who sign in to the cockpit)")
    people_commands = people.add_subparsers(dest="operators_command", required=True)
    person = people_commands.add_parser(
        "create", help="add an operator; their email is printed alone on the last line"
    )
    person.add_argument("--email", required=True)
    person.add_argument("--name", required=True)
    person.add_argument("--role", required=True, choices=["operator", "admin"])
    people_commands.add_parser("list", help="list operators")
    gone = people_commands.add_parser("remove", help="remove an operator and end their sessions at once")
    gone.add_argument("--email", required=True)
    args = parser.parse_args(argv)

    configure_logging()
    try:
        settings = load_settings()
        if args.command == "demo":
            return _demo(settings)
        if args.command == "customer-token":
            return _customer_token(settings, args.customer_id)
        if args.command == "migrate":
            from app.core.migrations import upgrade

            upgrade(settings.database_url)
            print("database migrated to the latest schema")
            return 0
        if args.command == "serve":
            if args.demo_brand:
                from app.cli.demo_brand import with_demo_brand

                settings = with_demo_brand(settings)
            return _serve(settings, with_worker=not args.no_worker)
        if args.command == "worker":
            from app.cli.startup import cap_malloc_arenas, run_worker

            cap_malloc_arenas()  # before the loop and its first thread
            _run_on_fastest_loop(run_worker(settings))
            return 0
        if args.command == "operators":
            from app.cli.operators import run_operators

            return asyncio.run(run_operators(settings, args))
        return asyncio.run(_api_keys(settings, args))
    except ConfigError as error:
        print(str(error), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _demo(settings: Settings) -> int:
    from app.auth.demo_keys import ensure_demo_key_pair
    from app.cli.demo import create_demo

    demo_dir = settings.var_dir / "demo"
    created = create_demo(demo_dir)
    print(f"demo data created in {demo_dir}" if created else f"demo data already present in {demo_dir}")
    if ensure_demo_key_pair(demo_dir):
        print(f"demo customer-token key pair written to {demo_dir}")
    return 0


def _customer_token(settings: Settings, customer_id: str) -> int:
    from app.auth.demo_keys import mint_demo_token

    try:
        token = mint_demo_token(
            settings.var_dir / "demo",
            customer_id,
            issuer=settings.customer_token_issuer,
            audience=settings.customer_token_audience,
            claim=settings.customer_token_claim,
        )
    except FileNotFoundError:
        print("no demo key pair: run 'python -m app demo' first", file=sys.stderr)
        return 1
    print(token)
    return 0


def _run_on_fastest_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop where it is installed (as uvicorn runs `serve`'s loop), else on asyncio's own
    loop: the worker's round trips and thread hand-offs cost less CPU on it."""
    try:
        import uvloop
    except ImportError:  # not built for this platform (Windows): asyncio's loop works the same, slower
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def _serve(settings: Settings, *, with_worker: bool) -> int:
    import uvicorn

    from app.cli.startup import (
        cap_malloc_arenas,
        check_brand,
        check_public_base_url,
        check_sources,
        ensure_first_admin_key,
        settle_heap,
    )
    from app.main import create_app

    cap_malloc_arenas()  # before the first thread (the first run's key lookup may start one)
    check_public_base_url(settings, command="serve")
    check_brand(settings, command="serve")
    check_sources(settings)
    key = asyncio.run(ensure_first_admin_key(settings))
    if key is not None:
        print(
            f"\nFirst run: an admin API key was created. Keep it; it is not shown again:\n\n    {key}\n",
            flush=True,
        )
    app = create_app(settings, run_worker=with_worker)
    settle_heap()
    # log_config=None: uvicorn's own loggers go through the handler set up above, so its access log lines carry
    # the request id too (and keep their secret links masked). proxy_headers=False: the app itself takes the
    # client from X-Forwarded-For of the proxies FORWARDED_ALLOW_IPS trusts (create_app), once.
    # With the embedded worker, an event loop on which the worker's steps wait while the API answers
    # (app.core.traffic): uvloop where it is installed, as uvicorn's "auto" would choose.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        log_config=None,
        proxy_headers=False,
        loop="app.core.traffic:api_first_loop" if with_worker else "auto",
    )
    return 0


async def _api_keys(settings: Settings, args: argparse.Namespace) -> int:
    from app.auth.keys import Role, create_key, list_keys, revoke_key
    from app.core.db import create_engine, create_sessionmaker, unit_of_work
    from app.core.errors import NotFound

    engine = create_engine(settings.database_url)
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            if args.keys_command == "create":
                key, plaintext = await create_key(session, name=args.name, role=Role(args.role))
                print(f"created {key.role} key {key.id} named {key.name!r}")
                print(plaintext)
            elif args.keys_command == "list":
                for key in await list_keys(session):
                    state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
                    print(f"{key.id}  {key.role:<8}  {key.prefix}...  {state:<24}  {key.name}")
            else:
                try:
                    key = await revoke_key(session, uuid.UUID(args.id))
                except (ValueError, NotFound):
                    print(f"no API key has the id {args.id}", file=sys.stderr)
                    return 1
                print(f"revoked key {key.id} ({key.name})")
    finally:
        await engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
