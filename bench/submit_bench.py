"""Submit benchmark: POST /v1/privacy-requests with 16 concurrent clients against `python -m app serve
--no-worker`, versus a bare FastAPI app on the same stack that only inserts one row (bench/baseline_app.py).
Then an in-process profile of the submit path (pyinstrument) and the SQL statements one submit runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from common import (
    PYTHON,
    REPO,
    SECRET_KEY,
    Row,
    Workspace,
    app_env,
    cpu_seconds,
    create_api_key,
    fmt_ratio,
    free_port,
    run_loadgen,
    section,
    serving,
    start,
    truncate,
    wait_http_ready,
)

CONCURRENCY = 16


def load(port: int, key: str, *, seconds: float, warmup: float) -> dict[str, Any]:
    return run_loadgen(
        [
            f"--port={port}",
            f"--key={key}",
            f"--concurrency={CONCURRENCY}",
            f"--seconds={seconds}",
            f"--warmup={warmup}",
        ],
        timeout=seconds + warmup + 120,
    )


def describe(name: str, summary: dict[str, Any]) -> None:
    print(
        f"{name:<28} {summary['requests']:>7,} requests in {summary['seconds']:.1f} s = "
        f"{summary['rps']:>7.1f} req/s   p50 {summary['p50_ms']:6.1f} ms   p99 {summary['p99_ms']:6.1f} ms   "
        f"server CPU {summary['cpu_ms']:.2f} ms/req   statuses {summary['statuses']}"
    )


def run(
    *, url: str, ws: Workspace, work: Path, results: Path, quick: bool, shared: dict[str, Any]
) -> list[Row]:
    section("1. submit: POST /v1/privacy-requests, 16 concurrent clients")
    seconds, warmup = (3.0, 1.0) if quick else (15.0, 3.0)
    truncate(url)
    env = app_env(ws, url)
    key = create_api_key(env, role="app", name="bench-submit")

    port = free_port()
    with serving(env, port=port, log=work / "logs" / "submit-serve.log", with_worker=False) as server:
        cpu_before = cpu_seconds(server.pid)
        app_summary = load(port, key, seconds=seconds, warmup=warmup)
        app_summary["cpu_ms"] = (cpu_seconds(server.pid) - cpu_before) * 1000 / max(1, app_summary["total"])
    describe("app (serve --no-worker)", app_summary)

    port = free_port()
    baseline = start(
        [PYTHON, str(REPO / "bench" / "baseline_app.py"), f"--port={port}"],
        env={**os.environ, "DATABASE_URL": url},
        log=work / "logs" / "baseline-app.log",
        name="baseline app",
    )
    try:
        wait_http_ready(port, baseline)
        cpu_before = cpu_seconds(baseline.pid)
        base_summary = load(port, key, seconds=seconds, warmup=warmup)
        base_summary["cpu_ms"] = (
            (cpu_seconds(baseline.pid) - cpu_before) * 1000 / max(1, base_summary["total"])
        )
        shared["baseline_hwm_mib"] = baseline.vm_hwm_mib()
    finally:
        baseline.stop()
    describe("baseline (bare insert)", base_summary)

    bad = {k: v for k, v in app_summary["statuses"].items() if k != "201"}
    if bad:
        print(f"WARNING: the app answered non-201 statuses: {bad}")

    # In its own process: the profile's memory must not inflate this process (and its children's ru_maxrss).
    subprocess.run(
        [PYTHON, str(REPO / "bench" / "submit_bench.py"), f"--requests={150 if quick else 400}"],
        cwd=REPO,
        env={**os.environ, "BENCH_DATABASE_URL": url, "BENCH_SOURCES_FILE": str(ws.sources_file)},
        check=True,
        timeout=600,
    )

    ratio = app_summary["rps"] / base_summary["rps"] if base_summary["rps"] else 0.0
    return [
        Row(
            "submit",
            f"{app_summary['rps']:.0f} req/s",
            f"{base_summary['rps']:.0f} req/s",
            f"{ratio:.2f}x",
            ">= 0.50x baseline",
            ratio >= 0.5 and not bad,
        ),
        Row(
            "submit server CPU per request",
            f"{app_summary['cpu_ms']:.2f} ms",
            f"{base_summary['cpu_ms']:.2f} ms",
            fmt_ratio(app_summary["cpu_ms"], base_summary["cpu_ms"]),
        ),
        Row(
            "submit p50 latency",
            f"{app_summary['p50_ms']:.1f} ms",
            f"{base_summary['p50_ms']:.1f} ms",
            fmt_ratio(app_summary["p50_ms"], base_summary["p50_ms"]),
        ),
        Row(
            "submit p99 latency",
            f"{app_summary['p99_ms']:.1f} ms",
            f"{base_summary['p99_ms']:.1f} ms",
            fmt_ratio(app_summary["p99_ms"], base_summary["p99_ms"]),
        ),
    ]


# ---------------------------------------------------------------- the profile


def profile_submit(*, url: str, sources_file: Path, results: Path, requests: int) -> None:
    """Submit ``requests`` times in-process (ASGI transport, 16 at a time) under pyinstrument; print where the
    server-side time goes, and the SQL statements of one access and one deletion submit."""
    from app.auth.keys import Role, create_key
    from app.core.config import Settings
    from app.core.db import create_engine, create_sessionmaker, unit_of_work
    from app.main import create_app

    settings = Settings(
        database_url=url,
        secret_key=SECRET_KEY,
        sources_file=sources_file,
        rate_limit_per_minute=0,
        var_dir=sources_file.parent / "var",
        mail_dir=sources_file.parent / "mail",
        package_dir=sources_file.parent / "packages",
    )

    async def go() -> None:
        from pyinstrument import Profiler
        from sqlalchemy import event

        engine = create_engine(url)
        async with unit_of_work(create_sessionmaker(engine)) as session:
            _key, plaintext = await create_key(session, name="bench-profile", role=Role.APP)
        await engine.dispose()
        app = create_app(settings, run_worker=False)
        headers = {"Authorization": f"Bearer {plaintext}"}
        run = uuid.uuid4().hex[:8]
        async with app.router.lifespan_context(app):
            statements: list[str] = []

            def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
                statements.append(statement)

            event.listen(app.state.engine.sync_engine, "before_cursor_execute", on_execute)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

                async def submit(i: int, kind: str) -> None:
                    body = {"type": kind, "email": f"profile-{run}-{i}@bench.example", "channel": "ios"}
                    response = await client.post("/v1/privacy-requests", json=body, headers=headers)
                    assert response.status_code == 201, response.text

                for i, kind in enumerate(("access", "deletion")):
                    statements.clear()
                    await submit(-1 - i, kind)
                    print(f"\nSQL statements of one {kind} submit ({len(statements)}):")
                    for statement in statements:
                        print("   ", " ".join(statement.split())[:150])
                for i in range(50):  # warm-up: caches, prepared statements, pool
                    await submit(i, "access" if i % 2 else "deletion")
                semaphore = asyncio.Semaphore(CONCURRENCY)

                async def guarded(i: int) -> None:
                    async with semaphore:
                        await submit(i, "access" if i % 2 else "deletion")

                profiler = Profiler(interval=0.0005, async_mode="disabled")
                profiler.start()
                await asyncio.gather(*(guarded(i) for i in range(1000, 1000 + requests)))
                profiler.stop()
        report_profile(profiler, requests=requests, results=results)

    asyncio.run(go())


_PACKAGE = re.compile(r"site-packages/([A-Za-z0-9_]+)")
_STDLIB = re.compile(r"lib/python3\.\d+/([A-Za-z0-9_]+)")


def _package(path: str) -> str:
    if path.startswith(str(REPO / "app")):
        return "app (this service)"
    match = _PACKAGE.search(path) or _STDLIB.search(path)
    if match:
        return match.group(1)
    return "<other>"


def report_profile(profiler: Any, *, requests: int, results: Path) -> None:
    session = profiler.last_session
    root = session.root_frame()
    session.save(str(results / "submit_profile.pyisession"))
    (results / "submit_profile.txt").write_text(
        profiler.output_text(unicode=False, color=False, show_all=False)
    )
    (results / "submit_profile.html").write_text(profiler.output_html())

    # SQLAlchemy's sync core runs in greenlets, whose stacks pyinstrument shows as extra roots, so the tree
    # under the endpoint misses part of the ORM's time: shares are taken over the whole profile instead,
    # with the in-process client (httpx) named as such.
    inclusive: dict[str, float] = defaultdict(float)
    self_by_function: dict[str, float] = defaultdict(float)
    self_by_package: dict[str, float] = defaultdict(float)

    def label(frame: Any) -> tuple[str, str]:
        path = frame.file_path or ""
        if path == "<built-in>" or not path:
            return f"{frame.function} (built-in)", f"built-in: {frame.function}"
        return f"{frame.function} ({frame.file_path_short}:{frame.line_no})", _package(path)

    def walk(frame: Any, parent: Any, on_stack: frozenset[str]) -> None:
        owner = parent if frame.function == "[self]" and parent is not None else frame
        name, package = label(owner)
        if frame.function != "[self]" and name not in on_stack:
            inclusive[name] += frame.time
        self_time = frame.time - sum(c.time for c in frame.children)
        if self_time > 0:
            self_by_function[name] += self_time
            self_by_package[package] += self_time
        for child in frame.children:
            walk(child, owner, on_stack | {name})

    walk(root, None, frozenset())
    server_time = session.duration
    per_request_ms = server_time / requests * 1000
    print(
        f"\nProfile of {requests} submits in-process (pyinstrument wall-clock samples, 16 at a time, client "
        f"included): {session.duration:.2f} s wall, {session.cpu_time:.2f} s CPU = {per_request_ms:.2f} ms per "
        "submit.\n  Wall time inside socket.send includes waiting for the CPU while PostgreSQL's backend runs "
        "(2 cores): it counts round trips."
    )
    print("  self time by package (share of the profile):")
    for package, seconds in sorted(self_by_package.items(), key=lambda item: -item[1])[:10]:
        print(f"    {seconds / server_time:6.1%}  {seconds / requests * 1000:6.2f} ms/req  {package}")
    print("  top inclusive costs in this service's code (app/):")
    app_frames = [(n, t) for n, t in inclusive.items() if " (app/" in n and not n.startswith("<module>")]
    for name, seconds in sorted(app_frames, key=lambda item: -item[1])[:18]:
        print(f"    {seconds / server_time:6.1%}  {seconds / requests * 1000:6.2f} ms/req  {name}")
    print("  top self-time functions:")
    for name, seconds in sorted(self_by_function.items(), key=lambda item: -item[1])[:15]:
        print(f"    {seconds / server_time:6.1%}  {seconds / requests * 1000:6.2f} ms/req  {name}")
    summary = {
        "requests": requests,
        "server_seconds": server_time,
        "by_package": dict(sorted(self_by_package.items(), key=lambda item: -item[1])[:15]),
    }
    (results / "submit_profile.json").write_text(json.dumps(summary, indent=2))
    print(f"  full tree: {results / 'submit_profile.txt'} (and .html)")


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Profile the submit path in-process.")
    parser.add_argument("--requests", type=int, default=800)
    args = parser.parse_args()
    results = REPO / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    profile_submit(
        url=os.environ["BENCH_DATABASE_URL"],
        sources_file=Path(os.environ["BENCH_SOURCES_FILE"]),
        results=results,
        requests=args.requests,
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
