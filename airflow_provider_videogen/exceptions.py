"""Typed errors of the provider: one class per way a video job can go wrong.

Every message names the gateway, the operation id and what the gateway said; none ever holds
the API key (hooks redact it before an error is built, see ``hooks.base``).

Permanent errors subclass Airflow's ``AirflowFailException`` (through ``common.compat``), so the task fails
at once without Airflow retries: retrying cannot fix a filtered prompt, a rejected key or an
expired video, and retrying a *submit* could pay for a second job. Transient errors (429, 5xx,
connection resets) are plain :class:`VideoGenError`: the hooks retry them first, and an Airflow retry
of a sensor or a download is harmless (it never resubmits).
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException


class VideoGenError(AirflowException):
    """Base class. ``gateway`` and ``operation_id`` say where it happened (either may be None)."""

    def __init__(self, message: str, *, gateway: str | None = None, operation_id: str | None = None):
        self.gateway = gateway
        self.operation_id = operation_id
        self.reason = message
        where = ", ".join(
            part
            for part in (
                f"gateway {gateway}" if gateway else "",
                f"operation {operation_id}" if operation_id else "",
            )
            if part
        )
        super().__init__(f"[{where}] {message}" if where else message)

    def __reduce__(self):  # keep pickling (and Airflow's error serialisation) working
        return (_rebuild, (type(self), self.reason, self.gateway, self.operation_id))


def _rebuild(cls, reason, gateway, operation_id):
    return cls(reason, gateway=gateway, operation_id=operation_id)


class PermanentVideoGenError(VideoGenError, AirflowFailException):
    """A failure that retrying cannot fix; the task fails without Airflow retries."""


class VideoGenerationFailed(PermanentVideoGenError):
    """The gateway finished the job as failed (or "done" without any video)."""


class VideoContentFiltered(VideoGenerationFailed):
    """The gateway's safety filter blocked the prompt or the output (Veo ``raiMediaFilteredReasons``)."""


class VideoOperationTimeout(VideoGenError):
    """The job did not finish within the sensor's ``timeout`` (seconds)."""


class VideoNotFound(PermanentVideoGenError):
    """Unknown operation id, or the video is deleted or expired (HTTP 404/410 from the gateway)."""


class GatewayAuthError(PermanentVideoGenError):
    """The gateway rejected the API key (HTTP 401/403, or Google's ``API key not valid``)."""


class GatewayRequestRejected(PermanentVideoGenError):
    """The gateway refused the request itself (HTTP 400/404/422 on submit: bad model or parameters)."""


class ModelNotAvailable(GatewayRequestRejected):
    """The model is unknown at this gateway, or retired (OpenAI's ``sora-2`` shut down on 2026-09-24)."""


class InvalidVideoRequest(GatewayRequestRejected, ValueError):
    """A parameter is refused before any paid request: empty prompt, bad duration, unknown image format,
    or a parameter this gateway does not document."""


class InvalidConnection(PermanentVideoGenError, ValueError):
    """The Airflow connection is unusable as configured: no Host where one is required, an extra that is
    not what it should be (``timeout``, ``verify``...). The message names the field."""


class InvalidDestination(PermanentVideoGenError, ValueError):
    """The destination cannot hold a video: empty, a directory, ending in ``/``, or holding a NUL byte."""


class GatewayResponseError(PermanentVideoGenError):
    """The gateway answered something this provider cannot read (malformed JSON, missing fields)."""


class TransientGatewayError(VideoGenError):
    """A retryable transport failure: 408, 429, 5xx, connection reset or read stall.

    ``retry_after`` holds the gateway's hint in seconds (``Retry-After``/``retry-after-ms``), if any.
    """

    def __init__(self, message: str, *, gateway=None, operation_id=None, retry_after: float | None = None,
                 status: int | None = None):
        super().__init__(message, gateway=gateway, operation_id=operation_id)
        self.retry_after = retry_after
        self.status = status


class SubmitOutcomeUnknown(PermanentVideoGenError):
    """A submit timed out, got a 5xx or an unreadable answer after it may have reached the gateway.

    The gateway may have accepted (and billed) the job. The provider does not resubmit: check the
    gateway's dashboard or job list before retrying by hand.
    """

    @classmethod
    def because(cls, what: str, *, gateway: str | None) -> SubmitOutcomeUnknown:
        """``what`` went wrong, followed by what it means for the user (one wording everywhere)."""
        return cls(f"{what}; the gateway may have accepted (and billed) the job: check the gateway before retrying",
                   gateway=gateway)


class VideoIntegrityError(PermanentVideoGenError):
    """The downloaded body is not the video: not an MP4, shorter/longer than declared, over ``max_bytes``."""


class InvalidIdentifier(PermanentVideoGenError):
    """An operation id or video id that is unsafe to put in a URL path or file name."""


class DestinationExists(PermanentVideoGenError):
    """The destination already holds a file and ``overwrite`` is False."""


class UnsafeURL(GatewayResponseError):
    """The gateway handed over a URL this provider will not fetch: not http(s), with user info or a
    backslash, or (when private addresses are blocked) pointing into a private network."""


class SpendLimitExceeded(PermanentVideoGenError):
    """The job's estimated cost exceeds ``max_cost`` or what is left of the connection's budget for the
    window (or no price is known while a limit is set); nothing was submitted or paid."""
