"""The normalised model shared by every protocol: requests to send, operations parsed back.

Pure code: no I/O, no Airflow. A protocol builds :class:`HttpRequest` objects (a path relative to the
gateway's base URL) and parses JSON bodies into :class:`VideoOperation`. The hooks do the I/O.

The state table merges the gateways' documented vocabularies with New API's status mapping
(https://github.com/QuantumNous/new-api, ``relay/channel/task/sora/adaptor.go`` ``ParseTaskResult``).
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from airflow_provider_videogen.exceptions import GatewayResponseError, InvalidIdentifier, InvalidVideoRequest

log = logging.getLogger(__name__)

State = Literal["pending", "running", "succeeded", "failed"]
TERMINAL_STATES = frozenset({"succeeded", "failed"})

# New API's Sora adaptor synonyms (QuantumNous/new-api sora/adaptor.go, case-insensitive) and each gateway's
# documented words (HingNet video-query, MixRoute query-video-task, TokenOps video-status), merged.
STATUS_SYNONYMS: dict[str, State] = {
    **dict.fromkeys(
        ("queued", "pending", "submitted", "not_start", "notstarted", "preparing", "unknown", "created",
         "starting", "waiting"),
        "pending",
    ),
    **dict.fromkeys(("processing", "in_progress", "running", "generating", "started"), "running"),
    **dict.fromkeys(("completed", "complete", "success", "succeeded", "finished", "done"), "succeeded"),
    **dict.fromkeys(("failed", "failure", "fail", "error", "cancelled", "canceled", "expired", "rejected"),
                    "failed"),
}


def normalise_status(raw: Any, *, progress: int | None = None) -> State:
    """Map a gateway status string onto a normalised state, case-insensitively.

    An unknown string is logged and treated as still in progress (``pending`` when progress is 0 or
    absent, else ``running``), so a new vocabulary never fails a job that is still running.
    """
    key = str(raw or "").strip().lower().replace("-", "_").replace(" ", "_")
    state = STATUS_SYNONYMS.get(key)
    if state is None:
        log.warning("Unknown video job status %r; treating it as still in progress.", raw)
        return "running" if progress else "pending"
    return state


# Operation and video ids go into URL paths and file names: allow the characters the gateways use
# (letters, digits, "_", "-", ".", ":" and, for Gemini operation names, "/" between segments).
_ID_RE = re.compile(r"[A-Za-z0-9_\-.:]+")


def validate_id(value: Any, *, what: str, gateway: str, allow_slash: bool = False) -> str:
    """Return ``value`` if it is a safe identifier, else raise :class:`InvalidIdentifier`.

    Rejects empty values, ``..``, ``?``, ``#``, ``%``, whitespace and control characters, so an id
    from a user or a gateway can never change which URL or file it addresses.
    """
    text = value if isinstance(value, str) else ""
    segments = text.split("/") if allow_slash else [text]
    if not text or len(text) > 512 or any(s in ("", ".", "..") or not _ID_RE.fullmatch(s) for s in segments):
        raise InvalidIdentifier(f"unsafe {what} {value!r}: expected letters, digits, '_', '-', '.', ':'"
                                + (" and '/'" if allow_slash else ""), gateway=gateway)
    return text


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request to the gateway. ``path`` is relative to the base URL and already URL-safe.

    ``json`` is sent as a JSON body; ``form`` always as ``multipart/form-data`` fields (strings, never
    urlencoded), with ``files`` as ``[(field, (filename, bytes, mime type)), ...]`` (a field may repeat).
    """

    method: str
    path: str
    params: dict[str, str] | None = None
    json: Any = None
    form: dict[str, str] | None = None
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None


@dataclass(frozen=True)
class ImageInput:
    """A first-frame image: its raw bytes and MIME type (the operator reads paths and URLs into it)."""

    data: bytes
    mime_type: str = "image/png"


@dataclass(frozen=True)
class ReferenceImage:
    """A Veo reference image: ``"asset"`` (a subject to keep) or ``"style"`` (a look to follow)."""

    image: ImageInput
    reference_type: str = "asset"


@dataclass(frozen=True)
class SourceVideo:
    """A video made earlier, to extend (Veo) or remix (``/v1/videos/{id}/remix``).

    :param operation_id: the operation that made it. :param uri: the gateway's own reference to the
        video (Gemini ``generatedSamples[].video.uri``), where the protocol needs it.
    """

    operation_id: str
    uri: str | None = None


# The Veo 3.x controls (GenerationRequest fields); each protocol says which it can send (``controls``).
CONTROLS = ("last_frame", "reference_images", "generate_audio", "seed", "person_generation", "enhance_prompt",
            "number_of_videos", "source", "storage_uri")
PERSON_GENERATION = ("allow_all", "allow_adult", "dont_allow")


@dataclass(frozen=True)
class GenerationRequest:
    """The common parameters of a text/image-to-video job, before mapping onto a protocol.

    :param duration_seconds: clip length in seconds.
    :param aspect_ratio: ``"16:9"`` or ``"9:16"`` (mapped to a ``size`` where the protocol wants one).
    :param size: ``"WIDTHxHEIGHT"``, e.g. ``"1280x720"`` (mapped to an aspect ratio for Gemini).
    :param resolution: ``"720p"``, ``"1080p"`` or ``"4k"`` (Veo 3.1 at the Gemini API).
    :param last_frame: the last frame (Veo 3.1 first-and-last-frame generation).
    :param reference_images: up to 3 :class:`ReferenceImage` (Veo 3.1).
    :param generate_audio: ask for (or leave out) the soundtrack. :param seed: an integer seed.
    :param person_generation: ``"allow_all"``, ``"allow_adult"`` or ``"dont_allow"``.
    :param enhance_prompt: let the gateway rewrite the prompt. :param number_of_videos: 1 to 4 samples.
    :param source: a video to extend or remix (:class:`SourceVideo`).
    :param storage_uri: ``gs://bucket/folder``: the gateway writes the video there itself (Vertex AI
        ``parameters.storageUri``) instead of returning it.
    :param extra_params: gateway-specific fields, merged last (they win over the mapped ones).
    """

    prompt: str
    model: str
    duration_seconds: int | None = None
    aspect_ratio: str | None = None
    size: str | None = None
    resolution: str | None = None
    negative_prompt: str | None = None
    image: ImageInput | None = None
    extra_params: dict[str, Any] = field(default_factory=dict)
    last_frame: ImageInput | None = None
    reference_images: tuple[ReferenceImage, ...] = ()
    generate_audio: bool | None = None
    seed: int | None = None
    person_generation: str | None = None
    enhance_prompt: bool | None = None
    number_of_videos: int | None = None
    source: SourceVideo | None = None
    storage_uri: str | None = None

    def controls_set(self) -> list[str]:
        """The Veo controls this request sets (names of :data:`CONTROLS`)."""
        return [name for name in CONTROLS if getattr(self, name) not in (None, (), [])]


LocatorKind = Literal["binary", "json_base64", "gcs"]


@dataclass(frozen=True)
class VideoLocator:
    """Where to fetch one video.

    ``kind="binary"``: GET ``url``; the answer is the video, a redirect, or JSON naming a
    ``video_url`` (the download module handles all three).
    ``kind="json_base64"``: GET ``url``; the answer is JSON whose string at the dotted path ``field``
    (``"base64"``, ``"data.url"``, ``"response.generateVideoResponse.generatedSamples.0.video.encodedVideo"``)
    holds the whole video in base64, possibly as a ``data:`` URL (MixRoute's download endpoint; a data URL
    or Gemini ``encodedVideo`` in a status body). Only that documented path is read. With ``body`` set, the
    JSON is fetched with a POST of that body (Vertex AI's ``fetchPredictOperation``).
    ``kind="gcs"``: ``url`` is a ``gs://bucket/object`` the gateway wrote into the user's own bucket
    (Vertex AI ``storageUri``), read through ``ObjectStoragePath`` with the hook's storage connection.
    ``size`` is the byte size the gateway declared, if any.
    ``url`` may be relative to the gateway's base URL (starting with ``/``) or absolute.
    """

    kind: LocatorKind
    url: str
    field: str | None = None
    size: int | None = None
    uri: str | None = None  # the gateway's own reference to the video (Gemini ``video.uri``), for extension
    body: Any = None  # a JSON body: fetch ``url`` with POST (Vertex AI ``fetchPredictOperation``)


@dataclass
class VideoOperation:
    """A video job as every protocol reports it, normalised. JSON-serialisable via :meth:`to_dict`.

    ``videos`` is non-empty iff ``state == "succeeded"``; ``error`` is set iff ``state == "failed"``.
    ``progress`` is 0..100 or None when the gateway gives none (Gemini). Times are Unix seconds.
    ``poll_after`` is the gateway's hint (seconds) for the next poll, if it sent one.
    """

    gateway: str
    operation_id: str
    state: State
    raw_status: str | None = None
    progress: int | None = None
    videos: list[VideoLocator] = field(default_factory=list)
    error_code: str | None = None
    error_message: str | None = None
    expires_at: int | None = None
    created_at: int | None = None
    completed_at: int | None = None
    poll_after: float | None = None

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def filtered(self) -> bool:
        return (self.error_code or "").lower() in FILTER_CODES

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("poll_after")
        data["videos"] = [{k: v for k, v in asdict(loc).items() if v is not None} for loc in self.videos]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoOperation:
        try:
            videos = [VideoLocator(**loc) for loc in data.get("videos") or []]
            return cls(**{**{k: data.get(k) for k in _OPERATION_FIELDS if k in data}, "videos": videos})
        except TypeError as err:
            raise GatewayResponseError(f"not a video operation: {err}") from err


_OPERATION_FIELDS = ("gateway", "operation_id", "state", "raw_status", "progress", "error_code",
                     "error_message", "expires_at", "created_at", "completed_at")
FILTER_CODES = frozenset({"rai_filtered", "moderation_blocked", "content_filter", "content_policy_violation",
                          "content_filtered", "safety"})


def parse_progress(value: Any) -> int | None:
    """0..100 from an int, a float or a string such as ``"45%"`` (New API); None when absent or unreadable."""
    if value is None or value == "" or isinstance(value, (bool, dict, list)):
        return None
    try:
        number = float(str(value).strip().rstrip("%"))
    except ValueError:
        return None
    return max(0, min(100, int(number))) if math.isfinite(number) else None


def as_int(value: Any) -> int | None:
    """An integer field (Unix seconds, bytes) or None; a value that is no finite number is None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if math.isfinite(number) and abs(number) < 2**63 else None


def typed_field(body: dict[str, Any], key: str, kind: type, *, gateway: str, operation_id: str | None) -> Any:
    """``body[key]`` when it is absent (an empty ``kind``) or of JSON type ``kind`` (dict or list).

    :raises GatewayResponseError: the field is there with another type (a string where an object belongs).
    """
    value = body.get(key)
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise GatewayResponseError(f"status field {key!r} should be a JSON {'object' if kind is dict else 'array'}, "
                                   f"not {type(value).__name__}", gateway=gateway, operation_id=operation_id)
    return value


_IMAGE_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


def image_type(data: bytes) -> str | None:
    """``image/png``, ``image/jpeg`` or ``image/webp`` from the file signature; None for anything else."""
    for magic, mime in _IMAGE_SIGNATURES:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def error_fields(error: Any) -> tuple[str | None, str | None]:
    """``(code, message)`` from ``{"code","message"}`` objects, plain strings or None."""
    if isinstance(error, dict):
        code = error.get("code") if error.get("code") not in (None, "") else error.get("status")
        return (str(code) if code is not None else None), error.get("message") or None
    if error:
        return None, str(error)
    return None, None


def require_dict(body: Any, *, gateway: str, what: str, operation_id: str | None = None) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise GatewayResponseError(f"{what}: expected a JSON object, got {type(body).__name__}",
                                   gateway=gateway, operation_id=operation_id)
    return body


class VideoProtocol:
    """One wire protocol. Subclasses build requests and parse responses; a gateway is a preset.

    :param gateway: the gateway's short name (``"openai"``, ``"mixroute"``...), used in errors.
    """

    name: str = "base"

    def __init__(self, gateway: str):
        self.gateway = gateway

    # -- auth -------------------------------------------------------------------------------
    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"}

    # -- the three steps ----------------------------------------------------------------------
    def build_submit(self, request: GenerationRequest) -> HttpRequest:
        raise NotImplementedError

    def parse_submit(self, body: Any) -> str:
        """The operation id the status call needs, from the submit response."""
        raise NotImplementedError

    def build_status(self, operation_id: str) -> HttpRequest:
        raise NotImplementedError

    def parse_status(self, operation_id: str, body: Any, headers: dict[str, str] | None = None) -> VideoOperation:
        raise NotImplementedError

    def build_test_connection(self) -> HttpRequest:
        """A cheap authenticated GET that proves the key works (the model list)."""
        raise NotImplementedError

    def error_kind(self, status: int, body: str) -> str | None:
        """``"auth"``, ``"not_found"`` or ``"model"`` when this gateway says so in its own way; None to use
        HTTP semantics. Here: New API and One-Hub gateways answer a model they route nowhere with 503
        "无可用渠道" / "no available channel" (QuantumNous/new-api ``middleware/distributor.go``), before any
        task exists."""
        if status == 503 and ("无可用渠道" in body or "no available channel" in body.lower()):
            return "model"
        return None

    def media_url_from_json(self, body: Any) -> str | None:
        """The video's URL when a binary locator answers JSON instead of bytes (TokenOps); None here."""
        return None

    # -- refusing before anything is paid ------------------------------------------------------
    unsupported: dict[str, str] = {}  # GenerationRequest field -> why this protocol refuses it

    def controls(self, request: GenerationRequest) -> frozenset[str]:
        """The Veo controls (:data:`CONTROLS`) this gateway documents for ``request.model``; none here."""
        return frozenset()

    def build_cancel(self, operation_id: str) -> HttpRequest | None:
        """The documented request that cancels (or deletes) a job; None where the gateway documents none."""
        return None

    def build_variant(self, operation_id: str, variant: str) -> HttpRequest | None:
        """The request for a preview (``"thumbnail"``, ``"spritesheet"``); None where none is served."""
        return None

    def check(self, request: GenerationRequest) -> None:
        """Refuse a request this protocol cannot send as asked, before any paid request.

        :raises InvalidVideoRequest: empty prompt, a duration that is not a positive number, a first or last
            frame that is not PNG, JPEG or WebP, a control out of range, or a parameter this gateway does
            not document (named, with the gateway).
        """
        def refuse(message: str) -> InvalidVideoRequest:
            return InvalidVideoRequest(message, gateway=self.gateway)

        if not isinstance(request.prompt, str) or not request.prompt.strip():
            raise refuse("prompt must be non-empty text")
        if not isinstance(request.model, str) or not request.model.strip():
            raise refuse("model must be a non-empty model name")
        duration = request.duration_seconds
        if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))
                                     or not math.isfinite(duration) or duration <= 0):
            raise refuse(f"duration_seconds must be a positive number of seconds, not {duration!r}")
        images = [("image", request.image), ("last_frame", request.last_frame)]
        images += [(f"reference_images[{i}]", ref.image) for i, ref in enumerate(request.reference_images)]
        for name, image in images:
            if image is not None and image_type(image.data) is None:
                raise refuse(f"{name} must be a PNG, JPEG or WebP file (it starts with {image.data[:8]!r})")
        for name, reason in self.unsupported.items():
            if getattr(request, name, None) not in (None, "", [], {}):
                raise refuse(f"{name} is not supported here: {reason}")
        self._check_controls(request, refuse)

    def _check_controls(self, request: GenerationRequest, refuse) -> None:
        allowed = self.controls(request)
        for name in request.controls_set():
            if name not in allowed:
                raise refuse(f"{name} is not supported by this gateway for model {request.model!r} (its documents "
                             "do not describe it); send it with extra_params only if you know the gateway takes it")
        if len(request.reference_images) > 3:
            raise refuse(f"reference_images: at most 3, got {len(request.reference_images)}")
        for i, ref in enumerate(request.reference_images):
            if ref.reference_type not in ("asset", "style"):
                raise refuse(f"reference_images[{i}]: reference_type must be 'asset' or 'style'")
        count = request.number_of_videos
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 4):
            raise refuse(f"number_of_videos must be an integer from 1 to 4, not {count!r}")
        if request.seed is not None and (isinstance(request.seed, bool) or not isinstance(request.seed, int)):
            raise refuse(f"seed must be an integer, not {request.seed!r}")
        if request.person_generation is not None and request.person_generation not in PERSON_GENERATION:
            raise refuse(f"person_generation must be one of {', '.join(PERSON_GENERATION)}")
        for name in ("generate_audio", "enhance_prompt"):
            if getattr(request, name) is not None and not isinstance(getattr(request, name), bool):
                raise refuse(f"{name} must be true or false")

    # -- shared helpers -----------------------------------------------------------------------
    def validate_operation_id(self, operation_id: Any) -> str:
        return validate_id(operation_id, what="operation id", gateway=self.gateway)

    def finish(self, op: VideoOperation) -> VideoOperation:
        """Enforce the invariants: "succeeded" needs a video, "failed" needs a reason."""
        if op.state == "succeeded" and not op.videos:
            op.state = "failed"
            op.error_code = op.error_code or "NO_OUTPUT"
            op.error_message = op.error_message or "the gateway reported success but returned no video"
        if op.state == "failed":
            op.videos = []
            op.error_message = op.error_message or f"the gateway reported status {op.raw_status!r}"
        if op.state == "succeeded":
            op.progress = 100
        return op
