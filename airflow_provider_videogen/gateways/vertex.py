"""Vertex AI (Veo): the Gemini long-running protocol under a Google Cloud project, signed in with OAuth.

1. submit: ``POST /v1/projects/{project}/locations/{location}/publishers/google/models/{model}:predictLongRunning``
   with the same ``{"instances": [...], "parameters": {...}}`` as the Gemini API (this module reuses its
   builder), plus the Vertex-only ``parameters``: ``storageUri`` (``gs://bucket/folder``: the video is written
   there instead of being returned), ``seed`` (uint32), ``generateAudio``; ``sampleCount`` and
   ``personGeneration`` as at the Gemini API. A video to extend is ``instances[0].video.gcsUri``. Answer:
   ``{"name": "projects/{p}/locations/{l}/publishers/google/models/{m}/operations/{id}"}``.
2. status: ``POST .../models/{model}:fetchPredictOperation`` with ``{"operationName": name}`` (a POST with a
   JSON body, not a GET of the name): ``done`` with ``error`` (google.rpc.Status) or ``response``.
3. result: ``response.videos[]``, each ``{"gcsUri", "mimeType"}`` when ``storageUri`` was given, else
   ``{"bytesBase64Encoded", "mimeType"}`` (the video inside the status body, read as a stream at
   ``response.videos.N.bytesBase64Encoded``); ``raiMediaFilteredCount``/``raiMediaFilteredReasons`` when
   the safety filter removed videos.

Sources: https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/veo-video-generation (HTTP
request, parameters ``seed: uint32`` and ``storageUri``, response ``videos[].gcsUri``/``bytesBase64Encoded``);
python-genai ``models.py`` ``_GenerateVideosConfig_to_vertex`` (the parameter names), ``_Video_to_vertex``
(``gcsUri``), ``_GenerateVideosResponse_from_vertex`` (``videos``, RAI fields) and ``operations.py``
``_fetch_predict_videos_operation`` (``POST {resourceName}:fetchPredictOperation``, ``operationName``).

Auth is an OAuth access token (``Authorization: Bearer``) from the connection's Google credentials, never an
API key; the hook supplies it through the transport's ``credentials`` (``hooks/google_auth.py``). The
protocol is pure: a connection binds its project and location with :meth:`VertexProtocol.bind`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from airflow_provider_videogen.exceptions import (
    GatewayResponseError,
    InvalidConnection,
    InvalidIdentifier,
    InvalidVideoRequest,
)
from airflow_provider_videogen.gateways.base import GenerationRequest, HttpRequest, VideoLocator, validate_id
from airflow_provider_videogen.gateways.gemini import GeminiProtocol

# projects/{project}/locations/{location}/publishers/google/models/{model}/operations/{id}
_OPERATION_RE = re.compile(r"(projects/[^/]+/locations/[^/]+/publishers/[^/]+/models/[^/]+)/operations/[^/]+")
# A bucket name (https://cloud.google.com/storage/docs/buckets#naming), then an optional folder.
_GCS_URI_RE = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/[^\x00-\x1f\x7f]*)?")
_LOCATION_RE = re.compile(r"[a-z][a-z0-9-]{0,62}")
SEED_MAX = 2**32 - 1  # "seed": uint32


def base_url(template: str, location: str) -> str:
    """The endpoint of ``location``: the registry's ``default_host`` template
    (``https://{location}-aiplatform.googleapis.com``) filled in; the ``global`` location has no regional
    host: ``https://aiplatform.googleapis.com`` (python-genai ``_api_client``)."""
    if location == "global":
        return "https://aiplatform.googleapis.com"
    return template.format(location=location)


def gcs_uri(value: Any) -> bool:
    """True for ``gs://bucket`` or ``gs://bucket/folder...`` (no control characters)."""
    return isinstance(value, str) and _GCS_URI_RE.fullmatch(value) is not None


class VertexProtocol(GeminiProtocol):
    """Veo on Vertex AI: Gemini's request body under ``/v1/projects/{p}/locations/{l}/publishers/google``.

    :param project: Google Cloud project id; :param location: region (``us-central1``...). Both come from the
        connection (:meth:`bind`); the registry's preset has neither.
    """

    name = "vertex"

    def __init__(self, gateway: str, *, project: str | None = None, location: str | None = None):
        super().__init__(gateway, api_prefix="/v1", download_prefix="/v1")
        self.project, self.location = project, location

    def bind(self, project: str, location: str) -> VertexProtocol:
        """This protocol for one connection's project and location (checked: they go into URL paths)."""
        project = validate_id(project, what="project id", gateway=self.gateway)
        if not isinstance(location, str) or not _LOCATION_RE.fullmatch(location):
            raise InvalidConnection(f"location {location!r} is not a Google Cloud location (e.g. us-central1)",
                                    gateway=self.gateway)
        return type(self)(self.gateway, project=project, location=location)

    @property
    def resource(self) -> str:
        """``/v1/projects/{project}/locations/{location}``."""
        if not self.project or not self.location:
            raise InvalidConnection("the connection names no project and location", gateway=self.gateway)
        return f"/v1/projects/{quote(self.project)}/locations/{quote(self.location)}"

    def auth_headers(self, api_key: str) -> dict[str, str]:
        # Vertex AI takes no API key: "API keys are not supported by this API. Expected OAuth2 access token"
        # (https://github.com/a2aproject/a2a-samples/issues/43); the hook always gives the transport credentials.
        raise InvalidConnection("Vertex AI signs in with Google credentials, not an API key", gateway=self.gateway)

    def error_kind(self, status: int, body: str) -> str | None:
        # An unknown model: 404 "Publisher Model `projects/.../publishers/google/models/X` was not found or your
        # project does not have access to it." (googleapis/python-aiplatform issues quote this wording).
        if status == 404 and "Publisher Model" in body:
            return "model"
        return None

    # -- ids ------------------------------------------------------------------------------------------
    def validate_operation_id(self, operation_id: Any) -> str:
        name = validate_id(operation_id, what="operation name", gateway=self.gateway, allow_slash=True)
        if not _OPERATION_RE.fullmatch(name):
            raise InvalidIdentifier(f"unsafe operation name {operation_id!r}: expected projects/P/locations/L/"
                                    "publishers/google/models/M/operations/ID", gateway=self.gateway)
        return name

    # -- refusing before anything is paid ------------------------------------------------------------
    def controls(self, request: GenerationRequest) -> frozenset[str]:
        """The Gemini API's controls, plus what only Vertex AI takes (``_GenerateVideosConfig_to_vertex``):
        ``seed``, ``generate_audio`` and ``storage_uri`` (``parameters.storageUri``)."""
        return super().controls(request) | {"seed", "generate_audio", "storage_uri"}

    def check(self, request: GenerationRequest) -> None:
        super().check(request)
        refuse = InvalidVideoRequest
        if request.seed is not None and not 0 <= request.seed <= SEED_MAX:
            raise refuse(f"seed must be from 0 to {SEED_MAX} (uint32), not {request.seed}", gateway=self.gateway)
        if request.storage_uri is not None and not gcs_uri(request.storage_uri):
            raise refuse(f"storage_uri must be a Cloud Storage folder such as gs://my-bucket/videos, not "
                         f"{request.storage_uri!r}", gateway=self.gateway)
        if request.source is not None and not gcs_uri(request.source.uri):
            raise refuse("extending a video at Vertex AI needs the source video in Cloud Storage (generate it with "
                         "storage_uri)", gateway=self.gateway)

    # -- the three steps -----------------------------------------------------------------------------
    def submit_path(self, model: str) -> str:
        return f"{self.resource}/publishers/google/models/{model}:predictLongRunning"

    def _instance(self, request: GenerationRequest) -> dict[str, Any]:
        instance = super()._instance(request)
        if request.source is not None:  # _Video_to_vertex: the earlier video by its Cloud Storage URI
            instance["video"] = {"gcsUri": request.source.uri, "mimeType": "video/mp4"}
        return instance

    def _parameters(self, request: GenerationRequest) -> dict[str, Any]:
        return {**super()._parameters(request), "seed": request.seed, "generateAudio": request.generate_audio,
                "storageUri": request.storage_uri}

    def build_cancel(self, operation_id: str) -> None:
        """None: Vertex AI documents no cancel for Veo's ``predictLongRunning`` operations."""
        return None

    def parse_submit(self, body: Any) -> str:
        try:
            return super().parse_submit(body)
        except InvalidIdentifier as err:
            raise GatewayResponseError(f"submit response: {err.reason}", gateway=self.gateway) from None

    def build_status(self, operation_id: str) -> HttpRequest:
        """``POST /v1/{model resource}:fetchPredictOperation`` with ``{"operationName"}``: the resource is the
        operation name's own (python-genai ``_fetch_predict_videos_operation``), whatever the connection's."""
        name = self.validate_operation_id(operation_id)
        resource = _OPERATION_RE.fullmatch(name).group(1)
        return HttpRequest("POST", f"/v1/{quote(resource)}:fetchPredictOperation", json={"operationName": name})

    def build_test_connection(self) -> HttpRequest:
        """``GET /v1/projects/{p}/locations/{l}`` (google.cloud.location ``GetLocation``): cheap, authenticated,
        and it proves the project and location exist for these credentials."""
        return HttpRequest("GET", self.resource)

    def _uri_locator(self, uri: str) -> VideoLocator | None:
        if uri.startswith("gs://"):  # written into the user's bucket (storageUri): read from there
            return VideoLocator("gcs", uri, uri=uri)
        return super()._uri_locator(uri)
