"""Run every benchmark against PostgreSQL and print one table: each figure beside a baseline measured in the
same run, with the ratio and the goal.

    .venv/bin/python bench/run_all.py            # full sizes (about 10 minutes on 2 cores)
    .venv/bin/python bench/run_all.py --quick    # small sizes, a smoke run
    .venv/bin/python bench/run_all.py --only submit,list

``BENCH_DATABASE_URL`` (default postgresql+asyncpg://postgres@127.0.0.1:5432/bench) names the database; it is
created if missing, and its tables are dropped and migrated afresh: point it at a database of its own.
The table is also written as markdown to bench/results/latest.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import auto_bench
import e2e_bench
import export_run
import list_bench
import lookup_bench
import submit_bench
import worker_bench
from common import REPO, Row, Workspace, database_url, ensure_database, reset_schema, section

RESULTS = REPO / "bench" / "results"
BENCHMARKS = ("submit", "list", "export", "worker", "e2e", "auto", "lookup")


def interpreter() -> str:
    """The interpreter the figures were measured with (its real path): two builds of one Python version differ by
    some 15% in speed, with or without profile-guided optimisation (README, "Benchmarks")."""
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    return str(base.resolve() if base.exists() else Path(sys.executable).resolve())


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return (
        f"{os.cpu_count()} CPUs ({model}), {mem_kib / 1024 / 1024:.1f} GiB RAM, Python {platform.python_version()}"
        f" ({interpreter()}), load average now {load}"
    )


def render(rows: list[Row], *, markdown: bool) -> str:
    header = ["benchmark", "figure", "baseline", "ratio", "goal", "met?"]
    cells = [
        [
            r.benchmark,
            r.figure,
            r.baseline,
            r.ratio,
            r.goal,
            "-" if r.met is None else ("yes" if r.met else "NO"),
        ]
        for r in rows
    ]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in cells)) if cells else len(h) for i, h in enumerate(header)]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("-+-".join("-" * w for w in widths))
    out += [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the benchmarks and print the results table.")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help="comma-separated subset of " + ", ".join(BENCHMARKS)
    )
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")

    url = database_url()
    started = time.monotonic()
    print(f"machine:  {machine()}")
    print(f"database: {url}   mode: {'quick' if args.quick else 'full'}")
    ensure_database(url)
    reset_schema(url)
    RESULTS.mkdir(parents=True, exist_ok=True)

    rows: list[Row] = []
    failures: list[str] = []
    shared: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="privacy-bench-") as directory:
        work = Path(directory)
        ws = Workspace(work / "ws", customers=200, orders_per_customer=300)
        ws.build()
        runners: dict[str, Callable[..., list[Row]]] = {
            "submit": submit_bench.run,
            "list": list_bench.run,
            "export": export_run.run,
            "worker": worker_bench.run,
            "e2e": e2e_bench.run,
            "auto": auto_bench.run,
            "lookup": lookup_bench.run,
        }
        for name in chosen:
            began = time.monotonic()
            try:
                rows += runners[name](
                    url=url, ws=ws, work=work, results=RESULTS, quick=args.quick, shared=shared
                )
            except Exception:
                traceback.print_exc()
                failures.append(name)
                rows.append(Row(name, "FAILED (see the log above)", "-", "-", "-", False))
            print(f"[{name} took {time.monotonic() - began:.0f} s]", flush=True)

    elapsed = time.monotonic() - started
    section("results")
    table = render(rows, markdown=False)
    print(table)
    print(f"\ntotal {elapsed:.0f} s; {machine()}")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    (RESULTS / "latest.md").write_text(
        f"# Benchmark results ({'quick' if args.quick else 'full'}, {stamp})\n\n"
        f"Machine: {machine()}. Database: PostgreSQL at `{url.split('@')[-1]}`. Total {elapsed:.0f} s.\n\n"
        + render(rows, markdown=True)
        + "\n"
    )
    print(f"written to {RESULTS / 'latest.md'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
