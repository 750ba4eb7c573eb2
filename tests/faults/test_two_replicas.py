"""Beyond one machine (contract section 11): two ``serve`` replicas and two ``worker`` processes on one
PostgreSQL database, behind one address (a round-robin proxy that reports the caller's address in
X-Forwarded-For, trusted through FORWARDED_ALLOW_IPS). Customers call from addresses of their own (127.0.0.x).

What it shows: every request submitted through the proxy is processed, each email is sent once and each job
done once; the rate limit is one budget across replicas; a link made by one replica works at the other; a
webhook receiver gets every event once, signed; every process stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from standardwebhooks import Webhook

from app.core.config import Settings
from app.models import Email, Job, PrivacyRequest, WebhookDelivery
from app.webhooks.events import EVENT_TYPES

from ..conftest import bearer
from ..factories import write_crm
from ..jobs.support import wait_until, worker_env
from ..notifications.smtp_server import SmtpServer, free_port, smtp_settings
from ..webhooks.receiver import Receiver, running_receiver
from .replicas import fleet
from .round_robin_proxy import running_proxy

pytestmark = pytest.mark.slow

ACCESS = 6  # access requests, accepted at once (AUTO_ACCEPT_ACCESS)
DELETIONS = 4  # deletion requests, confirmed through the emailed link
LIMIT = 4  # RATE_LIMIT_PER_MINUTE: one budget per address and scope, whichever replica answers
LINK = re.compile(r"(http://127\.0\.0\.1:\d+)(/v1/\S+)")


def _customer(number: int) -> tuple[str, str]:
    return f"cus_{100 + number}", f"person{number}@example.org"


def _address(number: int) -> str:
    """Customer ``number``'s own address on the loopback network."""
    return f"127.0.0.{10 + number}"


@pytest.fixture
def sources_file(tmp_path: Path) -> Path:
    """tests/factories.py's CRM with a customer per request of this test besides."""
    sources = write_crm(tmp_path / "crm")
    with sqlite3.connect(tmp_path / "crm" / "crm.db") as connection:
        connection.executemany(
            "INSERT INTO customers VALUES (?, ?, ?, ?)",
            [(*_customer(n), "Person", str(n)) for n in range(1, ACCESS + DELETIONS + 1)],
        )
    return sources


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer) -> dict[str, Any]:
    return smtp_settings(smtp_server.port)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as server:
        yield server


@pytest.fixture
def _needs_postgres(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("replicas and workers sharing one database need PostgreSQL; set TEST_DATABASE_URL")


@asynccontextmanager
async def callers(base_url: str) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """An HTTP client per loopback address (opened on first use), all calling ``base_url``."""
    async with AsyncExitStack() as stack:

        class _Clients(dict[str, httpx.AsyncClient]):
            def __missing__(self, address: str) -> httpx.AsyncClient:
                transport = httpx.AsyncHTTPTransport(local_address=address)
                client = httpx.AsyncClient(base_url=base_url, transport=transport, timeout=30)
                self[address] = client
                stack.push_async_callback(client.aclose)
                return client

        yield _Clients()


def _text(message: Any) -> str:
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content())


@pytest.mark.usefixtures("_needs_postgres")
async def test_two_replicas_and_two_workers_behind_one_address(
    app: FastAPI,
    keys: dict[str, str],
    settings: Settings,
    smtp_server: SmtpServer,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    ports = [free_port(), free_port()]
    replicas = [f"http://127.0.0.1:{port}" for port in ports]
    with running_proxy(replicas) as proxy, fleet(tmp_path) as processes:
        env = worker_env(
            settings,
            PUBLIC_BASE_URL=proxy.url,  # the links in the emails name the one address
            FORWARDED_ALLOW_IPS="127.0.0.1",  # the proxy's address: only its X-Forwarded-For is believed
            RATE_LIMIT_PER_MINUTE=str(LIMIT),
            AUTO_ACCEPT_ACCESS="true",
            WEBHOOK_RETRY_BASE="PT0.2S",
            WEBHOOK_RETRY_MAX_DELAY="PT1S",
        )
        for index, port in enumerate(ports):
            processes.replica(f"replica-{index}", env, port=port)
        workers = [processes.worker(f"worker-{index}", env) for index in range(2)]
        processes.wait_ready(replicas, within=60)

        async with callers(proxy.url) as at:
            # The admin subscribes a receiver to every event, through the proxy; its first two calls fail.
            created = await at["127.0.0.2"].post(
                "/v1/webhooks",
                json={"url": receiver.url, "events": list(EVENT_TYPES)},
                headers=bearer(keys["admin"]),
            )
            assert created.status_code == 201, created.text
            receiver.secret = created.json()["secret"]
            receiver.failing = 2

            # Every customer submits from an address of their own, all at once.
            async def submit(number: int, kind: str) -> tuple[dict[str, Any], int]:
                _id, email = _customer(number)
                answer = await at[_address(number)].post(
                    "/v1/privacy-requests",
                    json={"type": kind, "email": email},
                    headers=bearer(keys["app"]),
                )
                assert answer.status_code == 201, answer.text
                return answer.json(), int(answer.headers["x-upstream"])

            kinds = {n: "access" if n <= ACCESS else "deletion" for n in range(1, ACCESS + DELETIONS + 1)}
            submitted = await asyncio.gather(*(submit(n, kind) for n, kind in kinds.items()))
            requests = {n: answer for n, (answer, _replica) in zip(kinds, submitted, strict=True)}
            submitted_at = {n: replica for n, (_answer, replica) in zip(kinds, submitted, strict=True)}
            assert set(submitted_at.values()) == {0, 1}, "the proxy spreads the submissions"

            # Each deletion is confirmed through the link in its email; the first at the replica that did not
            # take its submission, called directly: the link one replica made works at the other.
            def mail_to(email: str, subject_has: str) -> list[Any]:
                return [
                    m
                    for m in smtp_server.messages
                    if m["To"] == email and subject_has.lower() in str(m["Subject"]).lower()
                ]

            deletions = [n for n, kind in kinds.items() if kind == "deletion"]

            async def confirmations_sent() -> bool:
                return all(mail_to(_customer(n)[1], "confirm") for n in deletions)

            await wait_until(
                confirmations_sent, within=60, what="the confirmation emails", output=processes.output
            )
            for position, number in enumerate(deletions):
                [message] = mail_to(_customer(number)[1], "confirm")
                base, path = next(
                    (match.group(1), match.group(2))
                    for match in LINK.finditer(_text(message))
                    if match.group(2).startswith("/v1/verify")
                )
                assert base == proxy.url
                token = path.split("token=", 1)[1]
                if position == 0:
                    other = replicas[1 - submitted_at[number]]
                    async with httpx.AsyncClient(base_url=other) as direct:
                        page = await direct.get("/v1/verify", params={"token": token})
                        confirmed = await direct.post("/v1/verify", json={"token": token})
                else:
                    page = await at[_address(number)].get(path)
                    confirmed = await at[_address(number)].post("/v1/verify", json={"token": token})
                assert page.status_code == 200, page.text
                assert confirmed.status_code == 200, confirmed.text
                assert confirmed.json() == {"id": requests[number]["id"], "status": "in_progress"}

            # Everything ends processed, every email and webhook sent, every job done.
            async def all_finished() -> bool:
                async with app.state.sessionmaker() as session:
                    statuses = Counter((await session.scalars(select(PrivacyRequest.status))).all())
                    jobs = Counter((await session.scalars(select(Job.status))).all())
                    unsent = (await session.scalars(select(Email).where(Email.status != "sent"))).all()
                    waiting = (
                        await session.scalars(
                            select(WebhookDelivery).where(WebhookDelivery.status != "delivered")
                        )
                    ).all()
                return (
                    statuses == {"processed": ACCESS + DELETIONS}
                    and set(jobs) == {"done"}
                    and not unsent
                    and not waiting
                )

            await wait_until(
                all_finished, within=90, what="every request processed", output=processes.output, interval=0.3
            )
            processes.assert_alive()

            # Download links, made by the workers, work through the proxy (either replica) and at each replica.
            for number, kind in kinds.items():
                if kind != "access":
                    continue
                [ready] = mail_to(_customer(number)[1], "ready")
                base, path = next(
                    (match.group(1), match.group(2))
                    for match in LINK.finditer(_text(ready))
                    if match.group(2).startswith("/v1/downloads/")
                )
                assert base == proxy.url
                package = await at[_address(number)].get(path)
                assert package.status_code == 200, package.text
                assert package.headers["content-type"] == "application/zip"
                if number == 1:
                    for replica in replicas:
                        async with httpx.AsyncClient(base_url=replica) as direct:
                            again = await direct.get(path)
                        assert again.status_code == 200
                        assert again.headers["content-type"] == "application/zip"

            # One address, one budget: LIMIT calls in a minute, counted together by both replicas, then 429 with
            # Retry-After from whichever replica answers. A forged X-Forwarded-For changes nothing (the proxy
            # appends the real caller, and only the proxy is trusted); another address has its own budget.
            answers = [
                await at["127.0.0.200"].get("/v1/verify", params={"token": "not-a-token"})
                for _ in range(LIMIT + 4)
            ]
            allowed, refused = answers[:LIMIT], answers[LIMIT:]
            assert {answer.status_code for answer in allowed} == {404}
            assert {answer.headers["x-upstream"] for answer in allowed} == {"0", "1"}
            assert {answer.status_code for answer in refused} == {429}
            assert {answer.headers["x-upstream"] for answer in refused} == {"0", "1"}
            for answer in refused:
                assert answer.json()["error"] == "rate_limited"
                assert 1 <= int(answer.headers["retry-after"]) <= 60
            forged = await at["127.0.0.200"].get(
                "/v1/verify", params={"token": "x"}, headers={"X-Forwarded-For": "198.51.100.7"}
            )
            assert forged.status_code == 429
            assert (await at["127.0.0.201"].get("/v1/verify", params={"token": "x"})).status_code == 404

            # Every request's state, read through the proxy.
            for request in requests.values():
                view = await at["127.0.0.2"].get(
                    f"/v1/privacy-requests/{request['id']}", headers=bearer(keys["operator"])
                )
                assert view.json()["status"] == "processed"

        processes.assert_alive()
        exit_codes = processes.stop_all()

    # Clean shutdown on SIGTERM: the workers exit 0; the replicas finish their shutdown (lifespan included),
    # then uvicorn ends the process by the signal it caught, as the convention goes (exit -15).
    assert exit_codes == {
        "replica-0": -signal.SIGTERM,
        "replica-1": -signal.SIGTERM,
        "worker-0": 0,
        "worker-1": 0,
    }, processes.output()
    for server in processes.started[:2]:
        assert "Application shutdown complete" in server.log_path.read_text(), processes.output()

    # Each email once: every row sent, and the SMTP server got each Message-ID once.
    async with app.state.sessionmaker() as session:
        rows = (await session.scalars(select(Email))).all()
        jobs = (await session.scalars(select(Job))).all()
        hook_deliveries = (await session.scalars(select(WebhookDelivery))).all()
    received = Counter(str(message["Message-ID"]) for message in smtp_server.messages)
    assert set(received.values()) == {1}
    assert set(received) == {row.message_id for row in rows}
    per_customer: dict[str, list[str]] = defaultdict(list)
    for message in smtp_server.messages:
        per_customer[str(message["To"])].append(str(message["Subject"]))
    for number in kinds:
        subjects = per_customer[_customer(number)[1]]
        assert len(subjects) == 2, subjects  # the acknowledgement (or the link to confirm), then the result

    # Each job done once: only the two workers ran jobs (the replicas serve the API only), both did, and only
    # the webhook deliveries the receiver refused needed a second attempt.
    assert {job.status for job in jobs} == {"done"}
    worker_ids = {job.locked_by for job in jobs}
    assert all(any(f":{worker.pid}:" in str(worker_id) for worker in workers) for worker_id in worker_ids)
    assert {worker.pid for worker in workers if any(f":{worker.pid}:" in str(w) for w in worker_ids)} == {
        worker.pid for worker in workers
    }, "both workers took jobs"
    retried = [job for job in jobs if job.attempts > 1]
    assert {job.kind for job in retried} == {"deliver_webhook"}
    assert sum(job.attempts - 1 for job in retried) == 2

    # The receiver got every event once, each signed with the subscription's secret.
    assert receiver.forged == []
    assert len(receiver.calls) == len(hook_deliveries) + 2
    assert len(receiver.messages) == len(hook_deliveries)
    assert len({message.webhook_id for message in receiver.messages}) == len(hook_deliveries)
    for message in receiver.messages:
        assert Webhook(receiver.secret).verify(message.body, message.headers) == message.payload
    raised: dict[str, set[str]] = defaultdict(set)
    for message in receiver.messages:
        raised[message.payload["data"]["id"]].add(message.type)
    for number, request in requests.items():
        if kinds[number] == "access":
            assert raised[request["id"]] == {"request.received", "request.accepted", "request.processed"}
        else:
            assert raised[request["id"]] >= {
                "request.received",
                "request.verified",
                "request.processed",
                "erasure.completed",
            }
