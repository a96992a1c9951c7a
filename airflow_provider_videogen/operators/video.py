"""``VideoGenerateOperator`` (submit) and ``VideoDownloadOperator`` (stream the result to storage)."""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow.providers.common.compat.sdk import Asset, AssetAlias, BaseOperator, ObjectStoragePath

from airflow_provider_videogen._compat import forget_operation, operation_record
from airflow_provider_videogen.download import CHUNK_SIZE, VideoDownloader
from airflow_provider_videogen.exceptions import GatewayRequestRejected, TransientGatewayError
from airflow_provider_videogen.gateways import GenerationRequest, ImageInput, VideoOperation
from airflow_provider_videogen.hooks.base import VideoGenHook
from airflow_provider_videogen.sensors.video import failure_error

MAX_IMAGE_BYTES = 20 * 1024 * 1024
_IMAGE_MAGIC = ((b"\x89PNG", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"RIFF", "image/webp"),
                (b"GIF8", "image/gif"))


def load_image(image: Any, conn_id: str | None = None) -> ImageInput | None:
    """Read a first-frame image into memory (bytes; at most 20 MiB).

    :param image: ``bytes``, an ``ObjectStoragePath``, a path or URI string (``file://``, ``s3://``...,
        read through ``ObjectStoragePath`` with ``conn_id``), or an ``http(s)://`` URL (fetched).
    """
    if image is None or image == "":
        return None
    if isinstance(image, (bytes, bytearray)):
        data, name = bytes(image), ""
    elif isinstance(image, str) and image.startswith(("http://", "https://")):
        import requests

        with requests.get(image, timeout=60, stream=True) as response:
            response.raise_for_status()
            data = response.raw.read(MAX_IMAGE_BYTES + 1, decode_content=True)
        name = image.split("?")[0]
    else:
        path = image if isinstance(image, ObjectStoragePath) else ObjectStoragePath(str(image), conn_id=conn_id)
        with path.open("rb") as f:
            data = f.read(MAX_IMAGE_BYTES + 1)
        name = path.name
    if len(data) > MAX_IMAGE_BYTES:
        raise GatewayRequestRejected(f"the first-frame image is over {MAX_IMAGE_BYTES} bytes")
    mime = next((m for magic, m in _IMAGE_MAGIC if data.startswith(magic)), None)
    return ImageInput(data, mime or mimetypes.guess_type(name)[0] or "image/png")


class VideoGenerateOperator(BaseOperator):
    """Submit a text-to-video or image-to-video job to a gateway; returns as soon as it is accepted.

    The common parameters are mapped onto each protocol's own fields (``seconds``/``durationSeconds``,
    ``size``/``aspectRatio``...); ``extra_params`` passes gateway-specific fields through unchanged.

    Never a second paid job: the submit is retried only while the job certainly does not exist, and the
    operation id is kept in Airflow's ``task_state_store`` (Airflow 3.3; on 3.1 and 3.2 in an Airflow
    Variable that :class:`VideoDownloadOperator` deletes once the video is written), so a retried (or
    cleared) task reattaches to the job it already submitted instead of submitting again.

    :param prompt: the text prompt (templated).
    :param conn_id: connection id of the gateway (any ``videogen_*`` type).
    :param model: model name; default: the connection's ``default_model`` extra, else the gateway's default.
    :param duration_seconds: clip length in seconds.
    :param aspect_ratio: ``"16:9"`` or ``"9:16"``.  :param size: ``"1280x720"``-style size.
    :param resolution: ``"720p"`` or ``"1080p"``.  :param negative_prompt: what to avoid (Gemini, MixRoute Veo).
    :param image: first frame: bytes, a path/URI (read through ``ObjectStoragePath`` with
        ``image_conn_id``), an ``ObjectStoragePath`` or an ``http(s)`` URL.
    :param extra_params: extra body fields (Gemini: merged into ``parameters``; ``{"instance": {...}}``
        merges into ``instances[0]``).

    XCom: ``{"conn_id": str, "operation_id": str, "gateway": str}``.

    :raises GatewayAuthError: key rejected. :raises GatewayRequestRejected: model or parameters refused.
    :raises SubmitOutcomeUnknown: timeout or 5xx after the request may have reached the gateway; it is
        not retried (the job may exist and be billed).
    """

    template_fields: Sequence[str] = ("prompt", "model", "duration_seconds", "aspect_ratio", "size", "resolution",
                                      "negative_prompt", "image", "extra_params", "conn_id")
    template_fields_renderers = {"extra_params": "json"}
    ui_color = "#fdf1e8"

    def __init__(self, *, prompt: str, conn_id: str = VideoGenHook.default_conn_name, model: str | None = None,
                 duration_seconds: int | str | None = None, aspect_ratio: str | None = None, size: str | None = None,
                 resolution: str | None = None, negative_prompt: str | None = None, image: Any = None,
                 image_conn_id: str | None = None, extra_params: dict[str, Any] | None = None, **kwargs: Any):
        kwargs.setdefault("multiple_outputs", True)  # so generate.output["operation_id"] resolves
        super().__init__(**kwargs)
        self.prompt = prompt
        self.conn_id = conn_id
        self.model = model
        self.duration_seconds = duration_seconds
        self.aspect_ratio = aspect_ratio
        self.size = size
        self.resolution = resolution
        self.negative_prompt = negative_prompt
        self.image = image
        self.image_conn_id = image_conn_id
        self.extra_params = extra_params or {}

    def execute(self, context: Any) -> dict[str, str]:
        hook = VideoGenHook.for_connection(self.conn_id)
        record = operation_record(context)
        known = record.get()
        if isinstance(known, dict) and known.get("conn_id") == self.conn_id and known.get("operation_id"):
            self.log.warning("This task already submitted operation %s on %s (earlier try); reattaching instead "
                             "of submitting a second, billed job.", known["operation_id"], known.get("gateway"))
            return known
        duration = self.duration_seconds
        request = GenerationRequest(
            prompt=self.prompt,
            model=self.model or hook.default_model(),
            duration_seconds=int(duration) if duration not in (None, "") else None,
            aspect_ratio=self.aspect_ratio or None,
            size=self.size or None,
            resolution=self.resolution or None,
            negative_prompt=self.negative_prompt or None,
            image=load_image(self.image, self.image_conn_id),
            extra_params=dict(self.extra_params or {}),
        )
        operation_id = hook.submit(request)
        result = {"conn_id": self.conn_id, "operation_id": operation_id, "gateway": hook.gateway_name}
        record.set(result)
        self.log.info("Submitted %s job to %s: operation %s.", request.model, hook.gateway.label, operation_id)
        return result


class VideoDownloadOperator(BaseOperator):
    """Stream a finished video into any Airflow-supported storage, through ``ObjectStoragePath``.

    The body is streamed in ``chunk_size`` pieces (1 MiB) whatever form the gateway uses: bytes, a
    redirect to a CDN, JSON naming a ``video_url``, a ``data:`` URL or JSON with the whole video in
    base64 (MixRoute). It is written to a hidden temporary name beside ``destination``, checked (MP4
    signature, declared size, ``max_bytes``) and then renamed into place, so ``destination`` holds the
    whole video or nothing. The API key is only ever sent to the gateway's own host.

    :param operation: the sensor's XCom (``wait.output``); or give ``operation_id`` to look it up.
    :param operation_id: the operation id, when ``operation`` is not given.
    :param destination: where to write: a path or URI (``file:///data/v.mp4``, ``s3://bucket/key.mp4``...).
    :param dest_conn_id: connection for the destination store (e.g. ``aws_default``).
    :param overwrite: replace an existing file (default True); False raises ``DestinationExists``.
    :param max_bytes: refuse videos larger than this many bytes (None: no limit).
    :param video_index: which video of the operation (Gemini ``sampleCount`` > 1).
    :param asset_alias: name of the ``AssetAlias`` this task declares as an outlet (default
        ``"videogen_videos"``; None: no asset event). After a successful write it adds an asset event for
        ``Asset(<written URI>)`` (the URI without any ``conn_id@`` user info) with extra
        ``{"sha256", "size_bytes", "content_type", "operation_id", "dest_conn_id"}``, so a DAG scheduled
        on ``AssetAlias("videogen_videos")`` runs on every new video.

    XCom: ``{"uri": str, "size_bytes": int, "sha256": str (hex), "content_type": str, "operation_id": str}``.

    :raises VideoGenerationFailed: the operation failed (nothing to download).
    :raises VideoNotFound: expired or deleted video. :raises VideoIntegrityError: not an MP4, wrong size.
    """

    template_fields: Sequence[str] = ("operation", "operation_id", "destination", "dest_conn_id", "conn_id")
    ui_color = "#e8fdf1"
    DEFAULT_ASSET_ALIAS = "videogen_videos"  # schedule=AssetAlias("videogen_videos") runs on every new video

    def __init__(self, *, destination: str, conn_id: str = VideoGenHook.default_conn_name,
                 operation: dict[str, Any] | None = None, operation_id: str | None = None,
                 dest_conn_id: str | None = None, overwrite: bool = True, max_bytes: int | None = None,
                 video_index: int = 0, chunk_size: int = CHUNK_SIZE,
                 asset_alias: str | None = DEFAULT_ASSET_ALIAS, **kwargs: Any):
        kwargs.setdefault("multiple_outputs", True)  # download.output["uri"] and friends
        if asset_alias:  # declared at parse time, so the alias and its consumers show in the UI's graphs
            outlets = kwargs.get("outlets") or []
            outlets = list(outlets) if isinstance(outlets, (list, tuple)) else [outlets]
            if not any(isinstance(o, AssetAlias) and o.name == asset_alias for o in outlets):
                outlets.append(AssetAlias(asset_alias))
            kwargs["outlets"] = outlets
        super().__init__(**kwargs)
        if operation is None and operation_id is None:
            raise ValueError("VideoDownloadOperator needs operation (the sensor's output) or operation_id")
        self.destination = destination
        self.conn_id = conn_id
        self.operation = operation
        self.operation_id = operation_id
        self.dest_conn_id = dest_conn_id
        self.overwrite = overwrite
        self.max_bytes = max_bytes
        self.video_index = video_index
        self.chunk_size = chunk_size
        self.asset_alias = asset_alias

    def _operation(self, hook: VideoGenHook) -> VideoOperation:
        if self.operation:
            op = VideoOperation.from_dict(self.operation)
            if op.gateway == hook.gateway_name and op.state == "succeeded" and op.videos:
                return op
            operation_id = op.operation_id
        else:
            operation_id = self.operation_id
        op = hook.get_operation(str(operation_id))
        if op.state == "failed":
            raise failure_error(op)
        if op.state != "succeeded":
            raise TransientGatewayError(f"the job is not finished yet ({op.state})", gateway=op.gateway,
                                        operation_id=op.operation_id)
        return op

    def execute(self, context: Any) -> dict[str, Any]:
        hook = VideoGenHook.for_connection(self.conn_id)
        op = self._operation(hook)
        destination = ObjectStoragePath(_as_uri(self.destination), conn_id=self.dest_conn_id)
        self.log.info("Downloading video %d of operation %s to %s.", self.video_index, op.operation_id, destination)
        result = VideoDownloader(hook, chunk_size=self.chunk_size, max_bytes=self.max_bytes).download(
            op, destination, video_index=self.video_index, overwrite=self.overwrite)
        self.log.info("Wrote %s: %d bytes, sha256 %s.", result.uri, result.size_bytes, result.sha256)
        # the connection as it was given (ObjectStoragePath.conn_id exists only from Airflow 3.2)
        self._emit_asset_event(context, result.to_dict(), self.dest_conn_id or urlsplit(str(self.destination)).username)
        forget_operation(context, op.gateway, op.operation_id)
        return result.to_dict()

    def _emit_asset_event(self, context: Any, written: dict[str, Any], dest_conn_id: str | None) -> None:
        """Add ``Asset(<written URI>)`` to this task's asset alias, with the video's checksum as extra."""
        outlet_events = context.get("outlet_events") if hasattr(context, "get") else None
        if not self.asset_alias or outlet_events is None:  # e.g. execute({}) outside a task run
            return
        uri = self.asset_uri(written["uri"])
        extra = {key: written[key] for key in ("sha256", "size_bytes", "content_type", "operation_id")}
        extra["dest_conn_id"] = dest_conn_id
        outlet_events[AssetAlias(self.asset_alias)].add(Asset(uri=uri), extra=extra)
        self.log.info("Asset event for %s added to asset alias %r.", uri, self.asset_alias)

    @staticmethod
    def asset_uri(uri: str) -> str:
        """The asset URI of a written video: its URI without ``conn_id@`` user info (the connection used to
        write an object is not part of its identity; it travels in the event's ``dest_conn_id`` extra)."""
        parts = urlsplit(uri)
        if "@" in parts.netloc:
            parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
        return urlunsplit(parts)


def _as_uri(destination: str) -> str:
    """A plain local path becomes an absolute ``file://`` URI; URIs pass through."""
    import os

    text = str(destination)
    return text if "://" in text else "file://" + os.path.abspath(text)
