"""What the code is working for right now: one HTTP request (its id) or one job (its id and kind).

Context variables, so every coroutine and task started from the request or the job sees them: the log lines
carry them (``app.core.logging``), and a data source asked from inside a job leaves retrying to the job.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class JobScope:
    id: str
    kind: str


_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_job: ContextVar[JobScope | None] = ContextVar("job", default=None)


def current_request_id() -> str | None:
    """The id of the HTTP request being answered, or None outside one."""
    return _request_id.get()


def current_job() -> JobScope | None:
    """The job being run, or None outside one."""
    return _job.get()


@contextmanager
def request_scope(request_id: str) -> Iterator[None]:
    """Work done inside the block is done for this HTTP request."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


@contextmanager
def job_scope(job_id: str, kind: str) -> Iterator[None]:
    """Work done inside the block is done for this job (and the job's retries are its only retries)."""
    token = _job.set(JobScope(id=job_id, kind=kind))
    try:
        yield
    finally:
        _job.reset(token)
