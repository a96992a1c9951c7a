"""Retry decisions, in one place: which failures are transient, and how long to wait before the next try.

- Retryable HTTP statuses: 408, 429, 500, 502, 503, 504 (the OpenAI and google-genai SDKs' sets,
  openai-python ``_base_client.py``, python-genai
  ``_api_client.py``); connection errors and read stalls.
- Wait: the gateway's hint first (``retry-after-ms``, then ``Retry-After`` in seconds or as an HTTP date,
  parsed by ``gateways.wire.retry_after``),
  capped at ``max_wait``; otherwise exponential backoff with jitter (tenacity's
  ``wait_random_exponential``): a uniform draw between half the first wait (``initial / 2``) and a ceiling of
  ``initial`` doubling up to ``max_wait``. The floor keeps a retry after a hint-less 429 from landing
  milliseconds later (full jitter draws from zero); the spread still de-synchronises a crowd of triggers.
- Submits are retried only when the request certainly did not start a job (connection refused,
  or a 429 answered before acceptance); see :class:`~airflow_provider_videogen.exceptions.TransientGatewayError`.
"""

from __future__ import annotations

import tenacity

from airflow_provider_videogen.exceptions import TransientGatewayError
from airflow_provider_videogen.gateways.wire import RETRYABLE_STATUS, retry_after

__all__ = ["RETRYABLE_STATUS", "WaitGatewayHint", "next_wait", "retry_after", "retrying"]

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_MAX_WAIT = 60.0  # seconds, for one wait
DEFAULT_TOTAL_WAIT = 300.0  # seconds, for all the waits of one call


class WaitGatewayHint(tenacity.wait.wait_base):
    """Tenacity wait: the gateway's ``retry_after`` when the error carries one, else jittered backoff."""

    def __init__(self, *, initial: float = 1.0, max_wait: float = DEFAULT_MAX_WAIT):
        self.max_wait = max_wait
        self.backoff = backoff(initial, max_wait)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        hint = getattr(exc, "retry_after", None)
        if hint is not None:
            return min(float(hint), self.max_wait)
        return self.backoff(retry_state)


def next_wait(attempt: int, hint: float | None, *, initial: float = 1.0, max_wait: float = DEFAULT_MAX_WAIT) -> float:
    """The wait (seconds) before try ``attempt + 1`` after ``attempt`` consecutive failures.

    For loops that cannot use tenacity's decorator (the trigger's polling loop), same policy.
    """
    state = tenacity.RetryCallState(None, None, (), {})
    state.attempt_number = max(1, attempt)
    if hint is not None:
        return min(float(hint), max_wait)
    return backoff(initial, max_wait)(state)


def backoff(initial: float, max_wait: float) -> tenacity.wait.wait_base:
    """The jittered exponential wait (seconds) when the gateway gives no hint: uniform between
    ``initial / 2`` and ``initial * 2 ** (attempt - 1)``, the ceiling capped at ``max_wait``."""
    return tenacity.wait_random_exponential(multiplier=initial, max=max_wait, min=min(initial / 2, max_wait))


def retrying(*, max_attempts: int = DEFAULT_MAX_ATTEMPTS, total_wait: float = DEFAULT_TOTAL_WAIT,
             initial: float = 1.0, max_wait: float = DEFAULT_MAX_WAIT, log=None) -> tenacity.Retrying:
    """A tenacity ``Retrying`` for one sync call: retries :class:`TransientGatewayError` only, bounded
    by ``max_attempts`` tries and ``total_wait`` seconds, then re-raises the last error."""
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(TransientGatewayError),
        wait=WaitGatewayHint(initial=initial, max_wait=max_wait),
        stop=tenacity.stop_after_attempt(max_attempts) | tenacity.stop_after_delay(total_wait),
        before_sleep=_log_retry(log) if log else None,
        reraise=True,
    )


def _log_retry(log):
    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("Transient gateway error (try %d), retrying in %.1f s: %s",
                    state.attempt_number, state.next_action.sleep if state.next_action else 0, exc)

    return before_sleep
