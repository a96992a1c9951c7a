"""``VideoGenerateOperator`` (submit) and ``VideoDownloadOperator`` (stream the result to storage)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow.providers.common.compat.sdk import Asset, AssetAlias, BaseOperator, ObjectStoragePath, Variable

from airflow_provider_videogen import provenance
from airflow_provider_videogen._compat import forget_operation, operation_record
from airflow_provider_videogen.download import CHUNK_SIZE, VideoDownloader, check_destination
from airflow_provider_videogen.exceptions import (
    GatewayRequestRejected,
    InvalidDestination,
    InvalidVideoRequest,
    TransientGatewayError,
)
from airflow_provider_videogen.gateways import GenerationRequest, ImageInput, VideoOperation
from airflow_provider_videogen.gateways.base import ReferenceImage, SourceVideo, image_type
from airflow_provider_videogen.hooks.base import VideoGenHook
from airflow_provider_videogen.sensors.video import failure_error
from airflow_provider_videogen.spend import Budget, SpendGuard
from airflow_provider_videogen.ui.links import WatchVideoLink

MAX_IMAGE_BYTES = 20 * 1024 * 1024


def load_image(image: Any, conn_id: str | None = None, *, parameter: str = "image") -> ImageInput | None:
    """Read an image (first or last frame, reference image) into memory (bytes; at most 20 MiB).

    :param image: ``bytes``, an ``ObjectStoragePath``, a path or URI string (``file://``, ``s3://``...,
        read through ``ObjectStoragePath`` with ``conn_id``), or an ``http(s)://`` URL (fetched).
    :raises InvalidVideoRequest: over 20 MiB, or not a PNG, JPEG or WebP file (named by ``parameter``).
    """
    if image is None or image == "":
        return None
    if isinstance(image, ImageInput):
        return image
    if isinstance(image, (bytes, bytearray)):
        data = bytes(image)
    elif isinstance(image, str) and image.startswith(("http://", "https://")):
        import requests

        with requests.get(image, timeout=60, stream=True) as response:
            response.raise_for_status()
            data = response.raw.read(MAX_IMAGE_BYTES + 1, decode_content=True)
    else:
        path = image if isinstance(image, ObjectStoragePath) else ObjectStoragePath(str(image), conn_id=conn_id)
        with path.open("rb") as f:
            data = f.read(MAX_IMAGE_BYTES + 1)
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidVideoRequest(f"{parameter} is over {MAX_IMAGE_BYTES} bytes")
    mime = image_type(data)
    if mime is None:
        raise InvalidVideoRequest(f"{parameter} must be a PNG, JPEG or WebP file (it starts with {data[:8]!r})")
    return ImageInput(data, mime)


def load_reference_images(items: Any, conn_id: str | None) -> tuple[ReferenceImage, ...]:
    """``reference_images``: a list of images, or of ``{"image": ..., "reference_type": "asset"|"style"}``."""
    refs = []
    for i, item in enumerate(items or ()):
        image, kind = (item.get("image"), item.get("reference_type", "asset")) if isinstance(item, dict) else (
            item, "asset")
        refs.append(ReferenceImage(load_image(image, conn_id, parameter=f"reference_images[{i}]"), str(kind)))
    return tuple(refs)


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
    :param last_frame: the last frame, loaded like ``image`` (Gemini API Veo 3.1 ``lastFrame``, MixRoute
        Veo 3.1 ``lastFrame``, HingNet Veo's second ``input_reference``).
    :param reference_images: up to 3 images, each a path/URI/bytes or ``{"image": ..., "reference_type":
        "asset"|"style"}`` (Gemini API ``referenceImages``, HingNet Veo ``input_reference`` files).
    :param generate_audio: ``True``/``False`` (MixRoute Veo; Vertex AI). :param seed: an integer (MixRoute Veo;
        Vertex AI). :param person_generation: ``"allow_all"``, ``"allow_adult"`` or ``"dont_allow"``.
    :param enhance_prompt: let the gateway rewrite the prompt (Gemini API).
    :param number_of_videos: 1 to 4 samples (Gemini API ``sampleCount``); download them all with
        ``VideoDownloadOperator(all_videos=True)``.
    :param source_operation_id: a finished operation (same connection) whose video to extend (Veo at the
        Gemini API and AI Thực Chiến: ``instances[0].video``) or remix (``POST /v1/videos/{id}/remix`` at an
        OpenAI-compatible gateway); ``source_video_index`` picks its video.
    :param max_cost: refuse the job (before paying) if its estimated cost is above this many US dollars.
    :param budget: US dollars per day for this connection (a number), or ``{"usd": 50, "period":
        "day"|"week"|"month"}``; a job that would exceed what is left is refused before paying.
    :param storage_uri: ``gs://bucket/folder`` (templated): the gateway writes the video there itself (Vertex AI
        ``storageUri``); :class:`VideoDownloadOperator` then copies it from there (or only checks it, when the
        destination is that object). Refused before paying where the gateway cannot do this.

    A parameter a gateway does not document is refused (``InvalidVideoRequest``) before any paid request;
    ``extra_params`` stays for everything else. The estimated cost uses the price table of ``spend.py``
    (override it with the connection extra ``prices`` or the Variable ``videogen_prices``).

    XCom: ``{"conn_id": str, "operation_id": str, "gateway": str, "estimated_cost_usd": float | None,
    "provenance": {...}}`` (the provenance shape is in ``provenance.py``).

    :raises GatewayAuthError: key rejected. :raises GatewayRequestRejected: model or parameters refused.
    :raises InvalidVideoRequest: refused before sending. :raises SpendLimitExceeded: over ``max_cost`` or
        the budget (nothing paid).
    :raises SubmitOutcomeUnknown: timeout or 5xx after the request may have reached the gateway; it is
        not retried (the job may exist and be billed).
    """

    template_fields: Sequence[str] = ("prompt", "model", "duration_seconds", "aspect_ratio", "size", "resolution",
                                      "negative_prompt", "image", "last_frame", "reference_images", "extra_params",
                                      "conn_id", "seed", "number_of_videos", "source_operation_id", "max_cost",
                                      "storage_uri")
    template_fields_renderers = {"extra_params": "json"}
    ui_color = "#fdf1e8"

    def __init__(self, *, prompt: str, conn_id: str = VideoGenHook.default_conn_name, model: str | None = None,
                 duration_seconds: int | str | None = None, aspect_ratio: str | None = None, size: str | None = None,
                 resolution: str | None = None, negative_prompt: str | None = None, image: Any = None,
                 image_conn_id: str | None = None, extra_params: dict[str, Any] | None = None,
                 last_frame: Any = None, reference_images: Sequence[Any] | None = None,
                 generate_audio: bool | None = None, seed: int | str | None = None,
                 person_generation: str | None = None, enhance_prompt: bool | None = None,
                 number_of_videos: int | str | None = None, source_operation_id: str | None = None,
                 source_video_index: int = 0, max_cost: float | str | None = None, budget: Any = None,
                 storage_uri: str | None = None, **kwargs: Any):
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
        self.last_frame = last_frame
        self.reference_images = list(reference_images or [])
        self.generate_audio = generate_audio
        self.seed = seed
        self.person_generation = person_generation
        self.enhance_prompt = enhance_prompt
        self.number_of_videos = number_of_videos
        self.source_operation_id = source_operation_id
        self.source_video_index = source_video_index
        self.max_cost = max_cost
        self.budget = budget
        self.storage_uri = storage_uri

    def _source(self, hook: VideoGenHook) -> SourceVideo | None:
        """The finished operation to extend or remix, with its video's own reference (Gemini ``uri``)."""
        if not self.source_operation_id:
            return None
        op = hook.get_operation(str(self.source_operation_id))
        if op.state != "succeeded" or not 0 <= self.source_video_index < len(op.videos):
            raise InvalidVideoRequest(f"source operation {self.source_operation_id} has no finished video "
                                      f"{self.source_video_index} to extend or remix ({op.state})",
                                      gateway=hook.gateway_name)
        return SourceVideo(op.operation_id, op.videos[self.source_video_index].uri)

    def build_request(self, hook: VideoGenHook) -> GenerationRequest:
        """The typed request from the (rendered) operator arguments; images are read here.

        :raises InvalidVideoRequest: a value that is not what its parameter expects (named).
        """
        return GenerationRequest(
            prompt=self.prompt,
            model=self.model or hook.default_model(),
            duration_seconds=_number("duration_seconds", self.duration_seconds, int),
            aspect_ratio=self.aspect_ratio or None,
            size=self.size or None,
            resolution=self.resolution or None,
            negative_prompt=self.negative_prompt or None,
            image=load_image(self.image, self.image_conn_id),
            extra_params=dict(self.extra_params or {}),
            last_frame=load_image(self.last_frame, self.image_conn_id, parameter="last_frame"),
            reference_images=load_reference_images(self.reference_images, self.image_conn_id),
            generate_audio=self.generate_audio,
            seed=_number("seed", self.seed, int),
            person_generation=self.person_generation or None,
            enhance_prompt=self.enhance_prompt,
            number_of_videos=_number("number_of_videos", self.number_of_videos, int),
            source=self._source(hook),
            storage_uri=self.storage_uri or None,
        )

    def execute(self, context: Any) -> dict[str, Any]:
        hook = VideoGenHook.for_connection(self.conn_id)
        record = operation_record(context)
        known = record.get()
        if isinstance(known, dict) and known.get("conn_id") == self.conn_id and known.get("operation_id"):
            self.log.warning("This task already submitted operation %s on %s (earlier try); reattaching instead "
                             "of submitting a second, billed job.", known["operation_id"], known.get("gateway"))
            return known
        request = self.build_request(hook)
        hook.check_request(request)  # refuse what the gateway cannot take before anything is booked or paid
        cost = hook.estimate_cost(request)
        guard = SpendGuard(self.conn_id, max_cost=_number("max_cost", self.max_cost, float),
                           budget=Budget.parse(self.budget), variables=Variable)
        guard.reserve(cost)
        try:
            operation_id = hook.submit(request)
        except GatewayRequestRejected:
            guard.release()  # refused: nothing was created, so nothing is billed
            raise
        result = {"conn_id": self.conn_id, "operation_id": operation_id, "gateway": hook.gateway_name,
                  "estimated_cost_usd": cost.usd,
                  "provenance": provenance.for_request(request, gateway=hook.gateway_name, conn_id=self.conn_id,
                                                       operation_id=operation_id, created_at=time.time(),
                                                       estimated_cost_usd=cost.usd)}
        record.set(result)
        self.log.info("Submitted %s job to %s: operation %s (estimated cost %s).", request.model,
                      hook.gateway.label, operation_id, f"${cost.usd:.2f}" if cost.usd is not None else "unknown")
        return result


def _number(name: str, value: Any, kind: type) -> Any:
    """A templated number (``"8"`` after rendering) as ``kind``, or None; else InvalidVideoRequest naming it."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidVideoRequest(f"{name} must be a number, not {value!r}")
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise InvalidVideoRequest(f"{name} must be a number, not {value!r}") from None
    if kind is int and isinstance(value, float) and value != number:
        raise InvalidVideoRequest(f"{name} must be a whole number, not {value!r}")
    return number


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
        With ``all_videos``: a template holding ``{index}`` (``s3://b/{{ run_id }}_{index}.mp4``), or a folder
        ending in ``/`` (files ``<operation id>_<index>.mp4`` in it).
    :param dest_conn_id: connection for the destination store (e.g. ``aws_default``).
    :param overwrite: replace an existing file (default True); False raises ``DestinationExists``.
    :param max_bytes: refuse videos larger than this many bytes (None: no limit).
    :param video_index: which video of the operation (Gemini ``sampleCount`` > 1), when not ``all_videos``.
    :param all_videos: write every video of the operation (XCom: a list, one asset event each).
    :param generation: the generate task's XCom (``generate.output``), for the provenance (prompt, model,
        parameters, estimated cost); without it the provenance holds what the operation alone says.
    :param sidecar: also write the provenance as JSON next to each video (``<name>.json``), together with it.
    :param previews: preview variants to write next to each video where the gateway serves them
        (``["thumbnail"]``, ``["thumbnail", "spritesheet"]``: ``<name>.thumbnail.webp`` /
        ``<name>.spritesheet.jpg``); refused before any download where it serves none.
    :param asset_alias: name of the ``AssetAlias`` this task declares as an outlet (default
        ``"videogen_videos"``; None: no asset event). After a successful write it adds an asset event for
        ``Asset(<written URI>)`` (the URI without any ``conn_id@`` user info) with extra
        ``{"sha256", "size_bytes", "content_type", "operation_id", "video_index", "dest_conn_id",
        "provenance", "estimated_cost_usd", "preview_uri"?}``, so a DAG scheduled on
        ``AssetAlias("videogen_videos")`` runs on every new video.

    XCom: ``{"uri": str, "size_bytes": int, "sha256": str (hex), "content_type": str, "operation_id": str,
    "video_index": int, "provenance": {...}, "sidecar_uri"?: str, "previews"?: {variant: uri}}``, or a list of
    those with ``all_videos``.

    :raises VideoGenerationFailed: the operation failed (nothing to download).
    :raises VideoNotFound: expired or deleted video. :raises VideoIntegrityError: not an MP4, wrong size.
    :raises InvalidDestination: no ``{index}`` or folder for several videos; a bad destination.
    """

    template_fields: Sequence[str] = ("operation", "operation_id", "destination", "dest_conn_id", "conn_id",
                                      "generation")
    operator_extra_links = (WatchVideoLink(),)  # opens the plugin's Video view of this task instance
    ui_color = "#e8fdf1"
    DEFAULT_ASSET_ALIAS = "videogen_videos"  # schedule=AssetAlias("videogen_videos") runs on every new video
    PREVIEW_SUFFIXES = {"thumbnail": ".thumbnail.webp", "spritesheet": ".spritesheet.jpg"}

    def __init__(self, *, destination: str, conn_id: str = VideoGenHook.default_conn_name,
                 operation: dict[str, Any] | None = None, operation_id: str | None = None,
                 dest_conn_id: str | None = None, overwrite: bool = True, max_bytes: int | None = None,
                 video_index: int = 0, all_videos: bool = False, generation: dict[str, Any] | None = None,
                 sidecar: bool = False, previews: Sequence[str] | None = None, chunk_size: int = CHUNK_SIZE,
                 asset_alias: str | None = DEFAULT_ASSET_ALIAS, **kwargs: Any):
        # download.output["uri"] and friends for one video; a list (one XCom) for all of them
        kwargs.setdefault("multiple_outputs", not all_videos)
        if asset_alias:  # declared at parse time, so the alias and its consumers show in the UI's graphs
            kwargs["outlets"] = _with_alias(kwargs.get("outlets"), asset_alias)
        super().__init__(**kwargs)
        if operation is None and operation_id is None:
            raise ValueError("VideoDownloadOperator needs operation (the sensor's output) or operation_id")
        unknown = sorted(set(previews or ()) - set(self.PREVIEW_SUFFIXES))
        if unknown:
            raise ValueError(f"previews may hold {sorted(self.PREVIEW_SUFFIXES)}, not {unknown}")
        self.destination = destination
        self.conn_id = conn_id
        self.operation = operation
        self.operation_id = operation_id
        self.dest_conn_id = dest_conn_id
        self.overwrite = overwrite
        self.max_bytes = max_bytes
        self.video_index = video_index
        self.all_videos = all_videos
        self.generation = generation
        self.sidecar = sidecar
        self.previews = list(previews or ())
        self.chunk_size = chunk_size
        self.asset_alias = asset_alias

    @classmethod
    def partial(cls, **kwargs: Any):
        """Mapped downloads (``.partial().expand()``) declare the asset alias at parse time too: a mapped
        task is not instantiated while the DAG is parsed, so without this the alias would only be created
        by the first downloads, and two finishing together race to create it (one is failed)."""
        alias = kwargs.get("asset_alias", cls.DEFAULT_ASSET_ALIAS)
        if alias:
            kwargs["outlets"] = _with_alias(kwargs.get("outlets"), alias)
        return super().partial(**kwargs)

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

    def destinations(self, op: VideoOperation) -> list[tuple[int, ObjectStoragePath]]:
        """``(video index, destination)`` for each video to write."""
        text = check_destination(self.destination) if not self.all_videos else str(self.destination or "")
        if not self.all_videos:
            return [(self.video_index, ObjectStoragePath(_as_uri(text), conn_id=self.dest_conn_id))]
        if "{index}" not in text and not text.endswith("/"):
            raise InvalidDestination(f"all_videos needs a destination holding {{index}} or a folder ending in '/', "
                                     f"not {text!r}", gateway=op.gateway, operation_id=op.operation_id)
        safe_id = op.operation_id.rsplit("/", 1)[-1]
        names = [text.replace("{index}", str(i)) if "{index}" in text else f"{text}{safe_id}_{i}.mp4"
                 for i in range(len(op.videos))]
        return [(i, ObjectStoragePath(_as_uri(check_destination(name)), conn_id=self.dest_conn_id))
                for i, name in enumerate(names)]

    def execute(self, context: Any) -> dict[str, Any] | list[dict[str, Any]]:
        hook = VideoGenHook.for_connection(self.conn_id)
        op = self._operation(hook)
        targets = self.destinations(op)
        if any(hook.protocol.build_variant(op.operation_id, variant) is None for variant in self.previews):
            raise InvalidVideoRequest(f"{hook.gateway.label} serves no {'/'.join(self.previews)} preview",
                                      gateway=op.gateway, operation_id=op.operation_id)
        record = provenance.for_download(self.generation, op, conn_id=self.conn_id)
        downloader = VideoDownloader(hook, chunk_size=self.chunk_size, max_bytes=self.max_bytes)
        # the connection as it was given (ObjectStoragePath.conn_id exists only from Airflow 3.2)
        dest_conn_id = self.dest_conn_id or urlsplit(str(self.destination)).username
        results = []
        for index, destination in targets:
            self.log.info("Downloading video %d of operation %s to %s.", index, op.operation_id, destination)
            written = downloader.download(op, destination, video_index=index, overwrite=self.overwrite,
                                          sidecar=record if self.sidecar else None).to_dict()
            self.log.info("Wrote %s: %d bytes, sha256 %s.", written["uri"], written["size_bytes"], written["sha256"])
            if self.previews:
                written["previews"] = {
                    variant: downloader.download_preview(
                        op, variant, destination.parent / f"{destination.stem}{self.PREVIEW_SUFFIXES[variant]}",
                        overwrite=self.overwrite).uri
                    for variant in self.previews}
            written["provenance"] = record
            self._emit_asset_event(context, written, dest_conn_id)
            results.append(written)
        forget_operation(context, op.gateway, op.operation_id)
        return results if self.all_videos else results[0]

    def _emit_asset_event(self, context: Any, written: dict[str, Any], dest_conn_id: str | None) -> None:
        """Add ``Asset(<written URI>)`` to this task's asset alias, with the video's checksum and provenance."""
        outlet_events = context.get("outlet_events") if hasattr(context, "get") else None
        if not self.asset_alias or outlet_events is None:  # e.g. execute({}) outside a task run
            return
        uri = _with_host(self.asset_uri(written["uri"]), dest_conn_id)
        extra = {key: written[key] for key in ("sha256", "size_bytes", "content_type", "operation_id",
                                               "video_index", "provenance")}
        extra["dest_conn_id"] = dest_conn_id
        extra["estimated_cost_usd"] = written["provenance"].get("estimated_cost_usd")
        if written.get("previews", {}).get("thumbnail"):
            extra["preview_uri"] = self.asset_uri(written["previews"]["thumbnail"])
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


def _with_host(uri: str, dest_conn_id: str | None) -> str:
    """An ``sftp:///path`` URI (``ObjectStoragePath`` keeps no host) gets its server from the destination
    connection, ``sftp://host:port/path``: the SFTP provider's asset URIs name the server."""
    parts = urlsplit(uri)
    if parts.scheme not in ("sftp", "ssh") or parts.hostname or not dest_conn_id:
        return uri
    from airflow.providers.common.compat.sdk import BaseHook

    conn = BaseHook.get_connection(dest_conn_id)
    if not conn.host:
        return uri
    return urlunsplit(parts._replace(netloc=f"{conn.host}:{conn.port or 22}"))


def _with_alias(outlets: Any, alias: str) -> list[Any]:
    """``outlets`` as a list that holds ``AssetAlias(alias)`` once."""
    outlets = list(outlets) if isinstance(outlets, (list, tuple)) else ([outlets] if outlets else [])
    if not any(isinstance(o, AssetAlias) and o.name == alias for o in outlets):
        outlets.append(AssetAlias(alias))
    return outlets


def _as_uri(destination: str) -> str:
    """A plain local path becomes an absolute ``file://`` URI; URIs pass through."""
    import os

    text = str(destination)
    return text if "://" in text else "file://" + os.path.abspath(text)
