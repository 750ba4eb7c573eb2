"""``python -m app operators create|list|remove``: the people who sign in to the cockpit."""

from __future__ import annotations

import argparse
import sys

from app.core.config import Settings


async def run_operators(settings: Settings, args: argparse.Namespace) -> int:
    from app.auth.operators import create_operator, list_operators, remove_operator
    from app.core.db import create_engine, create_sessionmaker, unit_of_work
    from app.core.errors import AppError

    engine = create_engine(settings.database_url)
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            if args.operators_command == "create":
                try:
                    operator = await create_operator(
                        session, email=args.email, name=args.name, role=args.role
                    )
                except AppError as error:
                    print(error.detail, file=sys.stderr)
                    return 1
                print(
                    f"created {operator.role} {operator.name!r}; they sign in at {settings.base_url}/cockpit"
                )
                print(operator.email)
            elif args.operators_command == "list":
                for operator in await list_operators(session):
                    state = (
                        f"removed {operator.removed_at:%Y-%m-%d %H:%M}" if operator.removed_at else "active"
                    )
                    print(f"{operator.email}  {operator.role:<8}  {state:<24}  {operator.name}")
            else:
                try:
                    operator, ended = await remove_operator(session, args.email)
                except AppError as error:
                    print(error.detail, file=sys.stderr)
                    return 1
                print(f"removed {operator.name} <{operator.email}>; {ended} session(s) ended")
    finally:
        await engine.dispose()
    return 0
