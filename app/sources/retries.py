"""Retrying a data source within one call, only where no job is around to retry (the operator's export, the
customer look-ups): a few attempts, exponential backoff with jitter, a bounded time, and only for errors that
say retrying can help (``SourceError.retryable``).

Inside a job a call makes one attempt: the worker retries the whole job with backoff and jitter, and that is
the job's one retry budget (a source retrying inside each job attempt would multiply the two).
"""

from __future__ import annotations

import logging
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from app.core.correlation import current_job

log = logging.getLogger("app.sources")

# The callers are HTTP requests someone is waiting on: no attempt starts later than this after the first.
WINDOW_SECONDS = 15.0
MAX_WAIT_SECONDS = 5.0


def in_call_retrying(*, attempts: int, backoff: float) -> AsyncRetrying:
    """Up to ``attempts`` tries (one inside a job), waiting ``backoff`` x 2^n plus up to ``backoff`` at random.

    Call it with the coroutine function to run; the last error is raised as it was.
    """
    return AsyncRetrying(
        stop=stop_after_attempt(attempts_in_call(attempts)) | stop_before_delay(WINDOW_SECONDS),
        wait=wait_exponential_jitter(initial=backoff, max=MAX_WAIT_SECONDS, jitter=backoff),
        retry=retry_if_exception(_can_help),
        before_sleep=_log_retry,
        reraise=True,
    )


def attempts_in_call(configured: int) -> int:
    """``configured``, or 1 inside a job (whose own retries are the budget)."""
    return 1 if current_job() is not None else configured


def _can_help(error: BaseException) -> bool:
    return bool(getattr(error, "retryable", False))


def _log_retry(state: RetryCallState) -> None:
    error: Any = state.outcome.exception() if state.outcome is not None else None
    log.warning(
        "%s; attempt %s failed, trying again in %.2f s",
        error,
        state.attempt_number,
        state.upcoming_sleep,
    )
