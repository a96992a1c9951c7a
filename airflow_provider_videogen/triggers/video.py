"""``VideoOperationTrigger``: polls one video job in the triggerer until it is done.

It only polls (GET); it never submits, so a triggerer restart can never create a second paid job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_videogen import retries
from airflow_provider_videogen.exceptions import TransientGatewayError, VideoGenError

EVENT_STATUSES = frozenset({"success", "failed", "error", "timeout"})
MAX_POLL_DELAY = 300.0  # seconds: however long the job, look at least this often


class PollSchedule:
    """When to poll a job next, from the progress it reports (one schedule per trigger run).

    - Until progress moves (no progress at all, as with Veo, or a job still queued at a constant
      value), wait ``max(poll_interval, 10 % of the job's age)``: the end is noticed within about 10 %
      of the job's duration.
    - Once progress moves, its speed is measured from the first moving sample on, as an upper bound
      (gateways round progress down), and the next poll is aimed at the job's *earliest* possible end,
      which is never late for a steadily progressing job and takes a few polls whatever its length.
      The jump is capped at the job's age (steady progress) or at a quarter of it (the first estimate,
      or progress that is speeding up), and is at least 3 % of the age.
    - Never sooner than the gateway's hint (``openai-poll-after-ms``) nor 1 s (or ``poll_interval`` if
      smaller); never later than 300 s.

    Measured against fixed 10 s polling on jobs of 30-300 s (``make bench``, and simulations of queued,
    front- and back-loaded progress in ``benchmarks/bench_polls.py``).
    """

    def __init__(self, poll_interval: float):
        self.poll_interval = poll_interval
        self.lowest: int | None = None  # lowest progress seen (a queue may sit at it)
        self.ref: tuple[float, int] | None = None  # first sample after progress moved
        self.prev: tuple[float, int | None] | None = None

    def next_delay(self, age: float, progress: int | None, hint: float | None = None) -> float:
        """Seconds to wait after a poll that saw ``progress`` (0..100 or None) when the job was ``age`` s old."""
        floor = max(min(1.0, self.poll_interval), hint or 0.0)
        prev, self.prev = self.prev, (age, progress)
        delay = max(self.poll_interval, 0.1 * age)
        if progress is not None and 0 <= progress < 100:
            if self.lowest is None or progress < self.lowest:
                self.lowest, self.ref = progress, None
            elif progress > self.lowest and self.ref is None:
                self.ref = (age, progress)
            elif self.ref is not None and progress > self.ref[1]:
                t_ref, p_ref = self.ref
                speed = (progress + 1 - p_ref) / max(age - t_ref, 1e-9)  # percent per second, at most
                earliest_end = (100 - (progress + 1)) / speed
                steady = (prev is not None and prev[1] is not None and prev[0] > t_ref
                          and (progress - prev[1] - 1) / max(age - prev[0], 1e-9) <= 1.25 * speed)
                cap = max(self.poll_interval, (1.0 if steady else 0.25) * age)
                delay = max(min(earliest_end, cap), 0.03 * age)
        return min(max(delay, floor), max(MAX_POLL_DELAY, self.poll_interval))


class VideoOperationTrigger(BaseTrigger):
    """Poll a video operation until it succeeds or fails, then fire exactly one event.

    Serialises only ids and numbers (never a key: the hook reads the connection in the triggerer).
    One HTTP session for the trigger's whole life (shared with the other triggers of the triggerer's
    event loop, see ``shared_client_session``); the timeout runs on a monotonic clock. Polls are
    aimed at the job's earliest possible finish, estimated from its progress (see :class:`PollSchedule`),
    so a job costs a handful of polls whatever its length; ``poll_interval`` is the shortest wait between
    polls of a job that reports no progress, and the gateway's ``openai-poll-after-ms`` is honoured.
    Transient failures back off exponentially with jitter, honouring ``Retry-After``.

    :param conn_id: Airflow connection id of the gateway.
    :param operation_id: the gateway's operation id (Gemini: the whole ``models/.../operations/...`` name).
    :param poll_interval: seconds; the first wait, and the shortest wait for a job without progress.
    :param timeout: seconds after which the trigger gives up (None: no limit of its own; the sensor's
        deferral timeout still applies).
    :param max_consecutive_failures: transient failures in a row (429, 5xx, resets) before giving up.
    :param cancel_on_kill: when a user kills the deferred task (marks it failed or success in the UI),
        :meth:`on_kill` (Airflow 3.3+) asks the gateway to cancel the job, where it documents how. Never on a
        triggerer restart or a trigger moving to another triggerer.

    Event payload: ``{"status": "success"|"failed"|"error"|"timeout", "operation_id", "message",
    "error_type" (an exception class name of ``airflow_provider_videogen.exceptions``) and "gateway"
    on error,
    "operation" (the finished operation as a dict, on success/failed)}``.
    """

    def __init__(self, conn_id: str, operation_id: str, poll_interval: float = 10.0, timeout: float | None = None,
                 max_consecutive_failures: int = 10, cancel_on_kill: bool = True):
        super().__init__()
        self.conn_id = conn_id
        self.operation_id = operation_id
        self.poll_interval = float(poll_interval)
        self.timeout = float(timeout) if timeout is not None else None
        self.max_consecutive_failures = int(max_consecutive_failures)
        self.cancel_on_kill = bool(cancel_on_kill)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "operation_id": self.operation_id,
                "poll_interval": self.poll_interval,
                "timeout": self.timeout,
                "max_consecutive_failures": self.max_consecutive_failures,
                "cancel_on_kill": self.cancel_on_kill,
            },
        )

    async def on_kill(self) -> None:
        """The user killed the deferred task (Airflow 3.3 calls this only then): cancel the gateway's job,
        where the gateway documents a cancel or delete endpoint, so it stops costing money."""
        if not self.cancel_on_kill:
            return
        from airflow_provider_videogen.hooks.base import VideoGenHook, shared_client_session

        try:
            hook = await VideoGenHook.afor_connection(self.conn_id)
            async with shared_client_session() as session:
                cancelled = await hook.acancel(self.operation_id, session)
        except VideoGenError as err:
            self.log.warning("Could not cancel operation %s: %s", self.operation_id, err)
            return
        self.log.info("Operation %s %s.", self.operation_id,
                      "cancelled at the gateway" if cancelled else "left running: the gateway documents no cancel")

    def _event(self, status: str, message: str, **extra: Any) -> TriggerEvent:
        return TriggerEvent({"status": status, "operation_id": self.operation_id, "message": message, **extra})

    def _error(self, err: VideoGenError) -> TriggerEvent:
        return self._event("error", err.reason, error_type=type(err).__name__, gateway=err.gateway)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_videogen.hooks.base import VideoGenHook, shared_client_session

        started = time.monotonic()
        try:
            hook = await VideoGenHook.afor_connection(self.conn_id)
        except VideoGenError as err:
            yield self._error(err)
            return
        failures, seen, schedule = 0, None, PollSchedule(self.poll_interval)
        async with shared_client_session() as session:
            while True:
                try:
                    op = await hook.aget_operation(self.operation_id, session)
                except TransientGatewayError as err:
                    failures += 1
                    if failures >= self.max_consecutive_failures:
                        err.reason = f"{failures} failed polls in a row; last: {err.reason}"
                        yield self._error(err)
                        return
                    wait = retries.next_wait(failures, err.retry_after, initial=min(self.poll_interval, 1.0) or 1.0)
                    self.log.warning("Poll %d failed (%s); next poll in %.1f s.", failures, err, wait)
                except VideoGenError as err:  # permanent: unknown id, rejected key, malformed answer
                    yield self._error(err)
                    return
                except Exception as err:  # noqa: BLE001  (one terminal event, whatever happens)
                    yield self._event("error", f"{type(err).__name__}: {err}", error_type="VideoGenError")
                    return
                else:
                    failures = 0
                    if (op.state, op.progress) != seen:
                        seen = (op.state, op.progress)
                        self.log.info("Video operation %s: %s, progress %s%%.", self.operation_id, op.state,
                                      "?" if op.progress is None else op.progress)
                    if op.done:
                        status = "success" if op.state == "succeeded" else "failed"
                        yield self._event(status, op.error_message or op.state, operation=op.to_dict())
                        return
                    age = time.monotonic() - started  # the job's age: the gateway's created_at if it has one
                    if op.created_at:
                        age = max(age, time.time() - op.created_at)
                    wait = schedule.next_delay(age, op.progress, op.poll_after)
                if self.timeout is not None:
                    remaining = self.timeout - (time.monotonic() - started)
                    if remaining <= 0:
                        yield self._event("timeout", f"the job did not finish within {self.timeout:.0f} s")
                        return
                    wait = min(wait, remaining)
                await asyncio.sleep(max(wait, 0.05))
