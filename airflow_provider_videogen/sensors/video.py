"""``VideoOperationSensor``: wait for a video job to finish, deferrable by default where configured."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.providers.common.compat.sdk import AirflowSensorTimeout, BaseSensorOperator, PokeReturnValue, conf

from airflow_provider_videogen import exceptions
from airflow_provider_videogen.exceptions import (
    GatewayResponseError,
    VideoContentFiltered,
    VideoGenerationFailed,
    VideoGenError,
)
from airflow_provider_videogen.gateways import VideoOperation
from airflow_provider_videogen.hooks.base import VideoGenHook
from airflow_provider_videogen.triggers.video import EVENT_STATUSES, VideoOperationTrigger


def failure_error(op: VideoOperation) -> VideoGenerationFailed:
    """The typed exception for a failed operation, carrying the gateway's reason."""
    cls = VideoContentFiltered if op.filtered else VideoGenerationFailed
    code = f" (code {op.error_code})" if op.error_code else ""
    return cls(f"generation failed: {op.error_message}{code}", gateway=op.gateway, operation_id=op.operation_id)


def finished_operation(op: VideoOperation, conn_id: str) -> dict[str, Any]:
    """The sensor's XCom: the operation as a dict, plus the ``conn_id`` it was read through."""
    return {**op.to_dict(), "conn_id": conn_id}


class VideoOperationSensor(BaseSensorOperator):
    """Wait until a video operation is ``succeeded``; fail with a typed error when it fails.

    In deferrable mode (default: ``[operators] default_deferrable``) it polls once on the worker, then
    hands the wait to :class:`VideoOperationTrigger` in the triggerer, freeing the worker slot. ``poke``
    and ``reschedule`` modes poll from the worker. ``timeout`` (seconds) and ``soft_fail`` behave as for
    any sensor, deferred or not.

    :param operation_id: the operation id (templated; e.g. ``generate.output["operation_id"]``).
    :param conn_id: Airflow connection id of the gateway (any ``videogen_*`` connection type).
    :param max_consecutive_failures: transient poll failures in a row tolerated by the trigger.
    :param cancel_on_kill: when a user kills the wait (marks it failed or success), ask the gateway to cancel
        the job where it documents how (DELETE ``/v1/videos/{id}``, Gemini ``:cancel``): on the worker through
        :meth:`on_kill`, and while deferred through the trigger's ``on_kill`` (Airflow 3.3+).

    XCom (return value): the finished operation, JSON-serialisable::

        {"gateway": "openai", "operation_id": "video_...", "state": "succeeded", "raw_status": "completed",
         "progress": 100, "videos": [{"kind": "binary", "url": "/v1/videos/video_.../content"}],
         "error_code": None, "error_message": None, "expires_at": 1762793491, "created_at": 1762789891,
         "conn_id": "videogen_default"}

    :raises VideoGenerationFailed: the gateway failed the job (or finished it without a video).
    :raises VideoContentFiltered: the gateway's safety filter blocked it (Veo ``raiMediaFilteredReasons``).
    :raises VideoNotFound: unknown operation id. :raises GatewayAuthError: the key was rejected.
    :raises AirflowSensorTimeout: not finished within ``timeout`` seconds.
    """

    template_fields: Sequence[str] = ("operation_id", "conn_id")
    ui_color = "#e8f4fd"

    def __init__(self, *, operation_id: str, conn_id: str = VideoGenHook.default_conn_name,
                 deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
                 max_consecutive_failures: int = 10, cancel_on_kill: bool = True, **kwargs: Any):
        kwargs.setdefault("poke_interval", 10)
        super().__init__(**kwargs)
        self.operation_id = operation_id
        self.conn_id = conn_id
        self.deferrable = deferrable
        self.max_consecutive_failures = max_consecutive_failures
        self.cancel_on_kill = cancel_on_kill

    @cached_property
    def hook(self) -> VideoGenHook:
        """One hook per try: pokes reuse its connection settings, HTTP session and (Vertex AI) access token."""
        return VideoGenHook.for_connection(self.conn_id)

    def on_kill(self) -> None:
        """The user killed the task while it polled on the worker: cancel the job where the gateway can."""
        if self.cancel_on_kill and self.operation_id:
            self.hook.cancel(str(self.operation_id))

    def poke(self, context: Any) -> PokeReturnValue:
        op = self.hook.get_operation(self.operation_id)
        self.log.info("Video operation %s on %s: %s (progress %s).", op.operation_id, op.gateway, op.state,
                      op.progress)
        if op.state == "failed":
            raise failure_error(op)
        return PokeReturnValue(op.state == "succeeded", finished_operation(op, self.conn_id))

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        self.defer(
            trigger=VideoOperationTrigger(conn_id=self.conn_id, operation_id=self.operation_id,
                                          poll_interval=self.poke_interval, timeout=self.timeout,
                                          max_consecutive_failures=self.max_consecutive_failures,
                                          cancel_on_kill=self.cancel_on_kill),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: return the finished operation, or raise its typed error."""
        if not isinstance(event, dict) or event.get("status") not in EVENT_STATUSES:
            raise GatewayResponseError(f"unexpected trigger event {event!r}", operation_id=self.operation_id)
        status = event["status"]
        if status == "timeout":
            raise AirflowSensorTimeout(f"video operation {event.get('operation_id')}: {event.get('message')}")
        if status == "error":
            cls = getattr(exceptions, str(event.get("error_type")), None)
            if not (isinstance(cls, type) and issubclass(cls, VideoGenError)):
                cls = VideoGenError
            raise cls(str(event.get("message")), gateway=event.get("gateway"), operation_id=event.get("operation_id"))
        op = VideoOperation.from_dict(event.get("operation") or {})
        if status == "failed" or op.state != "succeeded":
            raise failure_error(op)
        self.log.info("Video operation %s succeeded with %d video(s).", op.operation_id, len(op.videos))
        return finished_operation(op, self.conn_id)
