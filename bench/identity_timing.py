"""Does the submit answer's timing tell an app key whether an address or a customer id belongs to a customer?

Submits interleaved requests through the real app (in process, SQLite, the bench shop's directory) and prints
the median and p90 latency per kind with the ratio known/unknown. Contract section 7: the same answer shape
and timing for existing and unknown ids and emails.

    .venv/bin/python bench/identity_timing.py [--runs 300]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from common import SECRET_KEY, Workspace

from app.auth.keys import Role, create_key
from app.core.config import Settings
from app.core.db import unit_of_work
from app.core.migrations import upgrade
from app.main import create_app


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(runs: int, root: Path) -> dict[str, list[float]]:
    ws = Workspace(root / "shop", customers=runs + 10, orders_per_customer=3)
    ws.build()
    database = root / "privacy.db"
    await asyncio.to_thread(upgrade, f"sqlite+aiosqlite:///{database}")
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{database}",
        secret_key=SECRET_KEY,
        sources_file=ws.sources_file,
        mail_dir=root / "mail",
        package_dir=root / "packages",
        var_dir=root / "var",
        public_base_url="http://127.0.0.1:8000",
        rate_limit_per_minute=0,
    )
    application = create_app(settings, run_worker=False)
    timings: dict[str, list[float]] = {
        "known email": [],
        "unknown email": [],
        "existing id": [],
        "unknown id": [],
    }
    async with application.router.lifespan_context(application):
        async with unit_of_work(application.state.sessionmaker) as session:
            _key, app_key = await create_key(session, name="bench-app", role=Role.APP)
        headers = {"Authorization": f"Bearer {app_key}"}
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for i in range(runs):
                cases = {
                    "known email": ({"type": "access", "email": ws.customer_email(i)}, 201),
                    "unknown email": ({"type": "access", "email": f"stranger{i}@elsewhere.example"}, 201),
                    "existing id": ({"type": "access", "customer_id": ws.customer_id(i)}, 422),
                    "unknown id": ({"type": "access", "customer_id": f"cus_x{i}"}, 422),
                }
                for kind, (body, expected) in cases.items():
                    started = time.perf_counter()
                    response = await client.post("/v1/privacy-requests", json=body, headers=headers)
                    timings[kind].append(time.perf_counter() - started)
                    assert response.status_code == expected, response.text
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="identity-timing-") as root:
        timings = asyncio.run(measure(args.runs, Path(root)))
    print(f"{'submit with':<16} {'median ms':>10} {'p90 ms':>8}")
    for kind, values in timings.items():
        print(f"{kind:<16} {statistics.median(values) * 1000:>10.2f} {quantile(values, 0.9) * 1000:>8.2f}")
    for known, unknown in (("known email", "unknown email"), ("existing id", "unknown id")):
        ratio = statistics.median(timings[known]) / statistics.median(timings[unknown])
        print(f"median ratio {known} / {unknown}: {ratio:.3f}")


if __name__ == "__main__":
    main()
