"""Retry decisions, in one place: which failures are transient, and how long to wait before the next try.

- Retryable HTTP statuses: 408, 429, 500, 502, 503, 504 (the OpenAI and google-genai SDKs' sets,
  gateway-protocols.md §5.1/§5.2); connection errors and read stalls.
- Wait: the gateway's hint first (``retry-after-ms``, then ``Retry-After`` in seconds or as an HTTP date),
  capped at ``max_wait``; otherwise exponential backoff with full jitter (tenacity), 1 s doubling up to
  ``max_wait``.
- Submits are retried only when the request certainly did not start a job (connection refused,
  or a 429 answered before acceptance); see :class:`~airflow_provider_videogen.exceptions.TransientGatewayError`.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

import tenacity

from airflow_provider_videogen.exceptions import TransientGatewayError

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_MAX_WAIT = 60.0  # seconds, for one wait
DEFAULT_TOTAL_WAIT = 300.0  # seconds, for all the waits of one call


def retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds the gateway asks us to wait, from ``retry-after-ms`` or ``Retry-After``; None if absent.

    ``Retry-After`` may be a number of seconds or an HTTP date (RFC 9110 §10.2.3).
    """
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        if lower.get("retry-after-ms"):
            return max(0.0, float(lower["retry-after-ms"]) / 1000)
    except ValueError:
        pass
    value = (lower.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class WaitGatewayHint(tenacity.wait.wait_base):
    """Tenacity wait: the gateway's ``retry_after`` when the error carries one, else jittered backoff."""

    def __init__(self, *, initial: float = 1.0, max_wait: float = DEFAULT_MAX_WAIT):
        self.max_wait = max_wait
        self.backoff = tenacity.wait_random_exponential(multiplier=initial, max=max_wait)

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
    return tenacity.wait_random_exponential(multiplier=initial, max=max_wait)(state)


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
