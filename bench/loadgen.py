"""Load generator for POST /v1/privacy-requests, run in its own process by the submit benchmark.

    .venv/bin/python bench/loadgen.py --port 8123 --key prk_... --concurrency 16 --seconds 15 --warmup 3

Each of ``concurrency`` clients holds one keep-alive connection and sends submits back to back, each with a
fresh email address (so every call records a new request), alternating access and deletion. Calls during the
warm-up are not counted. Prints one JSON line: requests, seconds, requests/s, latency percentiles (ms) and
the status codes seen. Bounded by ``--seconds`` and ``--max-requests``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from collections import Counter

from common import RawHttp, percentile


async def client(
    number: int,
    args: argparse.Namespace,
    run: str,
    measure_from: float,
    stop_at: float,
    latencies: list[float],
    statuses: Counter[int],
    budget: list[int],
    last_end: list[float],
    total: list[int],
) -> None:
    http = RawHttp(args.port)
    headers = {"Authorization": f"Bearer {args.key}", "Content-Type": "application/json"}
    i = 0
    try:
        while time.perf_counter() < stop_at and budget[0] > 0:
            i += 1
            kind = "access" if (number + i) % 2 else "deletion"
            body = json.dumps({"type": kind, "email": f"{run}-{number}-{i}@bench.example", "channel": "ios"})
            raw = http.build("POST", "/v1/privacy-requests", headers=headers, body=body.encode())
            started = time.perf_counter()
            status, _ = await http.send(raw)
            ended = time.perf_counter()
            total[0] += 1
            if started >= measure_from:
                budget[0] -= 1
                last_end[0] = max(last_end[0], ended)
                latencies.append(ended - started)
                statuses[status] += 1
    finally:
        await http.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", default="none")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--max-requests", type=int, default=200_000)
    args = parser.parse_args()
    run = f"r{os.getpid()}{uuid.uuid4().hex[:6]}"
    now = time.perf_counter()
    measure_from = now + args.warmup
    stop_at = measure_from + args.seconds
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    budget = [args.max_requests]
    last_end = [measure_from]
    total = [0]
    await asyncio.gather(
        *(
            client(n, args, run, measure_from, stop_at, latencies, statuses, budget, last_end, total)
            for n in range(args.concurrency)
        )
    )
    elapsed = last_end[0] - measure_from
    print(
        json.dumps(
            {
                "requests": len(latencies),
                "total": total[0],
                "seconds": elapsed,
                "rps": len(latencies) / elapsed if elapsed > 0 else 0.0,
                "p50_ms": percentile(latencies, 50) * 1000,
                "p99_ms": percentile(latencies, 99) * 1000,
                "max_ms": max(latencies, default=0.0) * 1000,
                "statuses": {str(k): v for k, v in sorted(statuses.items())},
            }
        )
    )


if __name__ == "__main__":
    import uvloop  # comes with uvicorn[standard], as the servers use it

    uvloop.run(main())
