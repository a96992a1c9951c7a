"""Locator to bytes to storage: streaming, resumable, verified and atomic.

This module keeps the sink, the resume and the verification; it asks the transport (``transport.py``)
for every stream, so the key, caps, deadlines and redirect rules are the transport's, and asks the
gateway's protocol what a JSON answer means:

- ``binary`` locators: the transport GETs the URL (redirects followed by hand, the key only to the
  gateway's origin, ``Accept-Encoding: identity``). When the answer is JSON, the protocol names the
  video's URL (TokenOps' ``{"video_url"}``). A connection lost mid-body resumes with ``Range`` and
  ``If-Range`` (the strong ETag, else Last-Modified); a 206 must carry the same validator and total,
  otherwise the download restarts from zero, so two versions are never spliced.
- ``json_base64`` locators: the transport GETs the JSON; :class:`~.gateways.wire.JsonScanner` extracts the
  string at its documented path only, and :class:`~.gateways.wire.Base64Stream` decodes it as it arrives
  (MixRoute's download endpoint; a ``data:`` URL or Gemini ``encodedVideo`` in a status body), so the
  video is never whole in memory.

The sink writes to a hidden temporary name beside the destination (at most 255 bytes long), hashes
(sha256) and counts on the fly, checks the MP4 signature (``ftyp`` at bytes 4-8), the declared size,
``max_bytes`` and, when no size was declared at all, the top-level box structure (a ``moov`` box, the
body ending on a box boundary), and only then moves the file into place: the destination holds the
complete video or nothing. With ``overwrite=False`` on local storage the move is a hard link, which
fails atomically if any entry (even a dangling symlink) has the name.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import requests
import urllib3

from airflow_provider_videogen.exceptions import (
    DestinationExists,
    GatewayAuthError,
    GatewayResponseError,
    InvalidDestination,
    InvalidVideoRequest,
    TransientGatewayError,
    VideoIntegrityError,
    VideoNotFound,
)
from airflow_provider_videogen.gateways.base import image_type
from airflow_provider_videogen.gateways.wire import (
    Base64Stream,
    JsonScanner,
    Mp4BoxWalker,
    gateway_message,
    json_path,
)

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_videogen.gateways import VideoLocator, VideoOperation
    from airflow_provider_videogen.hooks.base import VideoGenHook
    from airflow_provider_videogen.transport import MediaStream

log = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024  # bytes: one hashing slot
MAX_RESUMES = 5
NAME_MAX = 255  # bytes in one file name (POSIX NAME_MAX on Linux filesystems)
PROGRESS_EVERY = 5.0  # seconds between progress log lines
_BROKEN = (requests.RequestException, urllib3.exceptions.HTTPError, OSError)  # a connection lost mid-body


@dataclass
class DownloadResult:
    """What the download operator returns to XCom (sizes in bytes)."""

    uri: str
    size_bytes: int
    sha256: str
    content_type: str
    operation_id: str
    video_index: int = 0
    sidecar_uri: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if data["sidecar_uri"] is None:
            del data["sidecar_uri"]
        return data


def check_destination(destination: Any) -> str:
    """The destination as text, or :class:`InvalidDestination` naming what is wrong with it.

    Refused: empty, a NUL byte, a path ending in ``/`` (a folder, not a file name).
    """
    text = str(destination if destination is not None else "")
    if not text.strip():
        raise InvalidDestination("destination is empty: give a file path or URI such as s3://bucket/video.mp4")
    if "\0" in text:
        raise InvalidDestination(f"destination {text!r} holds a NUL byte")
    if text.endswith("/"):
        raise InvalidDestination(f"destination {text!r} ends in '/': give the video's file name, not a folder")
    return text


class _Sink:
    """The temporary file being written: counts, hashes, checks the MP4 signature and ``max_bytes``.

    sha256 runs in a worker thread, one chunk behind the write of the same chunk: hashlib, file writes
    and socket reads all release the GIL, so hashing no longer slows the download (measured: 0.4-0.7x
    curl's speed with the hash in line, about curl's speed with it in the thread; ``make bench``).
    Memory: at most two chunks in flight.
    """

    def __init__(self, tmp: ObjectStoragePath, max_bytes: int | None, label: str, *, image: bool = False):
        self.tmp, self.max_bytes, self.label, self.image = tmp, max_bytes, label, image
        self.file = None
        self._hasher = ThreadPoolExecutor(1, thread_name_prefix="videogen-sha256")
        self._hashing: Future | None = None
        self.reset()

    def reset(self) -> None:
        if self.file is not None:
            self.file.close()
        self._wait_hash()
        self.file = self.tmp.open("wb")
        self.size = 0
        self.hash = hashlib.sha256()
        self.head = b""
        self.boxes = Mp4BoxWalker()
        self.started = self.last_log = time.monotonic()

    def _wait_hash(self) -> None:
        if self._hashing is not None:
            self._hashing.result()
            self._hashing = None

    def sha256(self) -> str:
        self._wait_hash()
        return self.hash.hexdigest()

    def write(self, data: bytes, expected: int | None) -> None:
        """Write and hash ``data`` (the hash runs one chunk behind, in the worker thread)."""
        self.put(data, expected)
        self.hash_async(data)

    def hash_async(self, data: bytes | memoryview) -> None:
        """Hash ``data`` in the worker thread; the caller must not change it until the next call."""
        self._wait_hash()  # the previous piece's hash: keeps the order, bounds memory
        self._hashing = self._hasher.submit(self.hash.update, data)

    def put(self, data: bytes | memoryview, expected: int | None) -> None:
        """Write ``data`` without hashing it (see :meth:`hash_async`); checks the signature and size."""
        if not data:
            return
        if len(self.head) < 16:
            checked = len(self.head) >= 8
            self.head += bytes(data[: 16 - len(self.head)])
            if not checked and len(self.head) >= 8 and not self.image and self.head[4:8] != b"ftyp":
                raise VideoIntegrityError(f"the body is not an MP4 (starts with {self.head!r}); {self.label}")
        self.size += len(data)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise VideoIntegrityError(f"the video exceeds max_bytes={self.max_bytes}; {self.label}")
        self.boxes.feed(data)
        self.file.write(data)
        now = time.monotonic()
        if now - self.last_log >= PROGRESS_EVERY:
            self.last_log = now
            self.log_progress(expected)

    def log_progress(self, expected: int | None, final: bool = False) -> None:
        """``Downloading 12.0 MB of 40.0 MB at 85.3 MB/s``; at the end ``Downloaded 40.0 MB of 40.0 MB at ...``."""
        elapsed = max(time.monotonic() - self.started, 1e-6)
        total = _size(expected) if expected else "an unknown size"
        log.info("%s %s of %s at %.1f MB/s (%.1f s)", "Downloaded" if final else "Downloading", _size(self.size),
                 total, self.size / 1e6 / elapsed, elapsed)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        self._wait_hash()
        self._hasher.shutdown(wait=True)


class VideoDownloader:
    """Downloads the videos of finished operations through one hook's connection (sync, the transport)."""

    def __init__(self, hook: VideoGenHook, *, chunk_size: int = CHUNK_SIZE, max_bytes: int | None = None):
        self.hook = hook
        self.transport = hook.transport
        self.protocol = hook.protocol
        self.chunk_size = chunk_size
        self.max_bytes = max_bytes
        self.gateway = hook.gateway_name

    def _retrying(self, fn):
        """``fn()`` under the hook's retry policy (transient errors only)."""
        for attempt in self.hook.retrying():
            with attempt:
                return fn()
        raise AssertionError("unreachable")  # pragma: no cover

    def _open_video(self, url: str, operation_id: str) -> MediaStream:
        """Open a binary locator; when the answer is JSON, follow the URL the protocol finds in it (once)."""
        stream = self.transport.open(url, operation_id=operation_id)
        if "json" not in stream.content_type:
            return stream
        try:
            body = stream.read_json()
        finally:
            stream.close()
        target = self.protocol.media_url_from_json(body)
        if not target:
            words = self.transport.policy.redact(gateway_message(json.dumps(body)))
            raise VideoIntegrityError(f"download answered JSON instead of a video, naming no video URL: {words}",
                                      gateway=self.gateway, operation_id=operation_id)
        self.transport.policy.check_foreign_url(target, what="video_url", operation_id=operation_id)
        stream = self.transport.open(target, operation_id=operation_id)
        if "json" in stream.content_type:
            stream.close()
            raise GatewayResponseError("download: JSON pointed to more JSON", gateway=self.gateway,
                                       operation_id=operation_id)
        return stream

    # -- the two stream forms -------------------------------------------------------------------------
    def _stream_binary(self, locator: VideoLocator, sink: _Sink, operation_id: str) -> tuple[str, int | None]:
        """Stream a binary locator into ``sink``; resume the same object with Range + If-Range after a break."""
        stream = self._retrying(lambda: self._open_video(locator.url, operation_id))
        final_url = stream.url
        content_type = stream.content_type or "video/mp4"
        expected = stream.declared_length
        validator = _validator(stream.headers)
        resumes = 0
        while True:
            try:
                self._copy(stream, sink, expected)
                stream.close()
                return content_type, expected
            except _BROKEN as err:
                stream.close()
                resumes += 1
                if resumes > MAX_RESUMES:
                    raise TransientGatewayError(f"download broke {resumes} times; last: {type(err).__name__}",
                                                gateway=self.gateway, operation_id=operation_id) from None
                log.warning("Download interrupted at %d bytes (%s); resuming.", sink.size, type(err).__name__)
            headers = {"Range": f"bytes={sink.size}-"}
            if validator:
                headers["If-Range"] = validator
            stream = self._retrying(lambda h=headers: self.transport.open(final_url, operation_id=operation_id,
                                                                          headers=h))
            if not _same_object(stream, sink.size, expected, validator):
                log.warning("The server did not resume the same object at byte %d; restarting from zero.", sink.size)
                sink.reset()
                if stream.status != 200:  # a 206 of another version: fetch the whole (new) object
                    stream.close()
                    stream = self._retrying(lambda: self.transport.open(final_url, operation_id=operation_id))
                expected, validator = stream.declared_length, _validator(stream.headers)

    def _copy(self, stream: MediaStream, sink: _Sink, expected: int | None) -> None:
        """Copy the body into ``sink``: pieces of at most 64 KiB are written at once (cache-hot) and gathered
        into reused ``chunk_size`` slots, each full slot hashed in the worker thread while the next one fills."""
        slots = [memoryview(bytearray(self.chunk_size)) for _ in range(2)]
        index, filled = 0, 0
        try:
            for piece in stream.pieces():
                while piece:
                    room = self.chunk_size - filled
                    part, piece = piece[:room], piece[room:]
                    slot = slots[index]
                    slot[filled:filled + len(part)] = part
                    sink.put(slot[filled:filled + len(part)], expected)
                    filled += len(part)
                    if filled == self.chunk_size:
                        sink.hash_async(slot[:filled])  # waits for the other slot's hash first: safe to refill it
                        index, filled = 1 - index, 0
            if filled:
                sink.hash_async(slots[index][:filled])
                filled = 0
        except BaseException:
            if filled:  # written but not yet hashed: hash it, so a resume continues a correct sha256
                sink.hash_async(slots[index][:filled])
            raise

    def _stream_base64(self, locator: VideoLocator, sink: _Sink, operation_id: str) -> tuple[str, int | None]:
        """Stream the base64 string at the locator's documented JSON path; restart from zero if it breaks."""
        path = json_path(locator.field or "base64")
        for attempt in range(MAX_RESUMES + 1):
            scanner, decoder = JsonScanner(path=path, scalars=("size",)), Base64Stream()
            stream = self._retrying(lambda: self.transport.open(locator.url, operation_id=operation_id,
                                                                json=locator.body))
            try:
                pending: list[bytes] = []  # decoded pieces, written and hashed a chunk_size at a time
                pending_bytes = 0
                for piece in stream.pieces():
                    data = decoder.feed(scanner.feed(piece), final=scanner.done)
                    if data:
                        pending.append(data)
                        pending_bytes += len(data)
                    if scanner.done or pending_bytes >= self.chunk_size:
                        declared = locator.size or _declared(scanner.scalars.get("size"))
                        sink.write(b"".join(pending), declared)
                        pending, pending_bytes = [], 0
                    if scanner.done:
                        break
                if not scanner.found:
                    raise VideoIntegrityError(f"the answer has no {locator.field!r} field holding the video",
                                              gateway=self.gateway, operation_id=operation_id)
                if not scanner.done:
                    raise requests.exceptions.ChunkedEncodingError("the JSON body ended inside the video field")
                return "video/mp4", locator.size or _declared(scanner.scalars.get("size"))
            except ValueError as err:
                if isinstance(err, VideoIntegrityError):
                    raise
                raise VideoIntegrityError(str(err), gateway=self.gateway, operation_id=operation_id) from None
            except _BROKEN as err:
                log.warning("Base64 download interrupted (%s); restarting (try %d).", type(err).__name__, attempt + 2)
                sink.reset()
            finally:
                stream.close()
        raise TransientGatewayError("base64 download kept breaking", gateway=self.gateway, operation_id=operation_id)

    def _gcs_source(self, locator: VideoLocator) -> ObjectStoragePath:
        """The object a ``gcs`` locator names, opened with the hook's storage connection."""
        from airflow.providers.common.compat.sdk import ObjectStoragePath

        return ObjectStoragePath(locator.url, conn_id=self.hook.storage_conn_id())

    def _stream_gcs(self, locator: VideoLocator, sink: _Sink, operation_id: str) -> tuple[str, int | None]:
        """Stream a video the gateway wrote into the user's own bucket (Vertex AI ``storageUri``) through
        ``ObjectStoragePath`` into ``sink`` (same checks as any download); restart from zero if it breaks."""
        source = self._gcs_source(locator)
        for attempt in range(MAX_RESUMES + 1):
            try:
                with source.open("rb") as f:
                    expected = _declared(getattr(f, "size", None))
                    while chunk := f.read(self.chunk_size):
                        sink.write(chunk, expected)
                return "video/mp4", expected
            except FileNotFoundError:
                raise VideoNotFound(f"{locator.url} is not in Cloud Storage (deleted, or another bucket)",
                                    gateway=self.gateway, operation_id=operation_id) from None
            except PermissionError as err:
                raise GatewayAuthError(f"connection {self.hook.storage_conn_id()!r} may not read {locator.url} "
                                       f"({type(err).__name__})", gateway=self.gateway,
                                       operation_id=operation_id) from None
            except _BROKEN as err:
                log.warning("Reading %s broke (%s); restarting (try %d).", locator.url, type(err).__name__,
                            attempt + 2)
                sink.reset()
        raise TransientGatewayError(f"reading {locator.url} kept breaking", gateway=self.gateway,
                                    operation_id=operation_id)

    def _in_place(self, operation: VideoOperation, locator: VideoLocator, destination: ObjectStoragePath,
                  video_index: int, sidecar: dict[str, Any] | None) -> DownloadResult:
        """The destination is the object the gateway wrote: no copy; read it once to check and describe it."""
        op_id = operation.operation_id
        sink = _Sink(_Nowhere(), self.max_bytes, f"gateway {self.gateway}, operation {op_id}")
        try:
            content_type, expected = self._stream_gcs(locator, sink, op_id)
        finally:
            sink.close()
        self._verify(sink, expected, locator.size, op_id)
        sidecar_path = destination.parent / f"{destination.stem}.json" if sidecar is not None else None
        result = DownloadResult(uri=str(destination), size_bytes=sink.size, sha256=sink.sha256(),
                                content_type=content_type, operation_id=op_id, video_index=video_index,
                                sidecar_uri=str(sidecar_path) if sidecar_path is not None else None)
        if sidecar_path is not None:
            sidecar_tmp = sidecar_path.parent / _temporary_name(sidecar_path.name)
            try:
                with sidecar_tmp.open("w") as f:
                    json.dump({**sidecar, "video": result.to_dict()}, f, indent=2, sort_keys=True, default=str)
                sidecar_tmp.rename(sidecar_path)
            except BaseException:
                _remove_quietly(sidecar_tmp)
                raise
        log.info("%s is the video the gateway wrote: checked in place, nothing copied.", destination)
        return result

    # -- public --------------------------------------------------------------------------------------
    def _prepare(self, destination: ObjectStoragePath, overwrite: bool, op_id: str) -> ObjectStoragePath:
        """Check the destination and return the temporary path beside it."""
        if not destination.name:
            raise InvalidDestination(f"destination {destination} has no file name", gateway=self.gateway,
                                     operation_id=op_id)
        if destination.is_dir():
            raise InvalidDestination(f"destination {destination} is an existing directory: give a file name "
                                     "inside it", gateway=self.gateway, operation_id=op_id)
        if not overwrite and _exists(destination):
            raise DestinationExists(f"{destination} exists and overwrite=False", gateway=self.gateway,
                                    operation_id=op_id)
        if _is_local(destination) or destination.protocol in ("sftp", "ssh"):  # real folders: create the parent
            destination.parent.mkdir(parents=True, exist_ok=True)
        return destination.parent / _temporary_name(destination.name)

    def download(self, operation: VideoOperation, destination: ObjectStoragePath, *, video_index: int = 0,
                 overwrite: bool = True, sidecar: dict[str, Any] | None = None) -> DownloadResult:
        """Write video ``video_index`` of a succeeded ``operation`` to ``destination``, atomically.

        :param sidecar: provenance to write as JSON next to the video (``<name>.json``), together with it:
            both are written to temporary names and verified first; the video is moved into place, then the
            sidecar, and if the sidecar cannot follow, the video is removed again. So neither is ever left
            without the other (a process killed between the two moves, microseconds apart, is the one
            window; the task's retry rewrites both).
        :raises VideoNotFound: the operation has no such video, or the gateway says it is gone (404/410).
        :raises VideoIntegrityError: not an MP4, size differs from the declared one, truncated, over ``max_bytes``.
        :raises DestinationExists: ``overwrite`` is False and the destination exists.
        :raises InvalidDestination: the destination is an existing directory or has no file name.
        :raises UnsafeURL: a redirect or video URL this provider will not follow.
        :raises TransientGatewayError: the network kept failing after the retries and resumes.
        """
        op_id = operation.operation_id
        if not 0 <= video_index < len(operation.videos):
            raise VideoNotFound(f"the operation has {len(operation.videos)} video(s), no index {video_index}",
                                gateway=self.gateway, operation_id=op_id)
        locator = operation.videos[video_index]
        if locator.kind == "gcs" and destination.protocol in ("gs", "gcs") and \
                destination.path == self._gcs_source(locator).path:
            return self._in_place(operation, locator, destination, video_index, sidecar)
        tmp = self._prepare(destination, overwrite, op_id)
        sidecar_path = destination.parent / f"{destination.stem}.json" if sidecar is not None else None
        sidecar_tmp = None
        sink = _Sink(tmp, self.max_bytes, f"gateway {self.gateway}, operation {op_id}")
        try:
            stream = {"json_base64": self._stream_base64, "gcs": self._stream_gcs}.get(locator.kind,
                                                                                      self._stream_binary)
            content_type, expected = stream(locator, sink, op_id)
            sink.close()
            self._verify(sink, expected, locator.size, op_id)
            result = DownloadResult(uri=str(destination), size_bytes=sink.size, sha256=sink.sha256(),
                                    content_type=content_type or "video/mp4", operation_id=op_id,
                                    video_index=video_index,
                                    sidecar_uri=str(sidecar_path) if sidecar_path is not None else None)
            if sidecar_path is not None:
                sidecar_tmp = sidecar_path.parent / _temporary_name(sidecar_path.name)
                with sidecar_tmp.open("w") as f:
                    json.dump({**sidecar, "video": result.to_dict()}, f, indent=2, sort_keys=True, default=str)
            self._move_into_place(tmp, destination, overwrite, op_id)
            if sidecar_tmp is not None:
                try:
                    sidecar_tmp.rename(sidecar_path)
                except BaseException:
                    _remove_quietly(destination)  # no video without its sidecar
                    raise
        except BaseException:
            sink.close()
            _remove_quietly(tmp)
            if sidecar_tmp is not None:
                _remove_quietly(sidecar_tmp)
            raise
        _remove_leftovers(destination)  # temporaries of earlier tries killed mid-download (SIGKILL runs no cleanup)
        if sidecar_path is not None:
            _remove_leftovers(sidecar_path)
        sink.log_progress(expected or sink.size, final=True)
        return result

    def download_preview(self, operation: VideoOperation, variant: str, destination: ObjectStoragePath, *,
                         overwrite: bool = True) -> DownloadResult:
        """Write a preview (``"thumbnail"`` or ``"spritesheet"``) of a succeeded operation, atomically.

        Only where the gateway serves them (``/v1/videos/{id}/content?variant=``, the OpenAI-compatible
        contract); the image's signature (WebP, JPEG or PNG) is checked before the move.
        :raises InvalidVideoRequest: the gateway serves no such preview.
        """
        op_id = operation.operation_id
        http = self.protocol.build_variant(op_id, variant)
        if http is None:
            raise InvalidVideoRequest(f"{self.hook.gateway.label} serves no {variant!r} preview",
                                      gateway=self.gateway, operation_id=op_id)
        tmp = self._prepare(destination, overwrite, op_id)
        sink = _Sink(tmp, self.max_bytes, f"gateway {self.gateway}, operation {op_id}", image=True)
        url = f"{http.path}?{urlencode(http.params or {})}"
        try:
            stream = self._retrying(lambda: self.transport.open(url, operation_id=op_id))
            content_type, expected = stream.content_type, stream.declared_length
            self._copy(stream, sink, expected)
            stream.close()
            sink.close()
            if image_type(sink.head) is None or (expected is not None and expected != sink.size):
                raise VideoIntegrityError(f"the {variant} preview is not a complete WebP, JPEG or PNG image",
                                          gateway=self.gateway, operation_id=op_id)
            self._move_into_place(tmp, destination, overwrite, op_id)
        except BaseException:
            sink.close()
            _remove_quietly(tmp)
            raise
        return DownloadResult(uri=str(destination), size_bytes=sink.size, sha256=sink.sha256(),
                              content_type=content_type or "image/webp", operation_id=op_id)

    def _move_into_place(self, tmp: ObjectStoragePath, destination: ObjectStoragePath, overwrite: bool,
                         op_id: str) -> None:
        """Rename the verified file into place. ``overwrite=False`` on local storage: a hard link (fails if
        any entry has the name, a dangling symlink included), then the temporary name is removed."""
        if overwrite or not _is_local(destination):
            if not overwrite and _exists(destination):  # object stores: checked, not atomic (see README)
                raise DestinationExists(f"{destination} exists and overwrite=False", gateway=self.gateway,
                                        operation_id=op_id)
            tmp.rename(destination)
            return
        try:
            os.link(tmp.path, destination.path)
        except FileExistsError:
            raise DestinationExists(f"{destination} exists and overwrite=False", gateway=self.gateway,
                                    operation_id=op_id) from None
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            # no hard links here (some network filesystems): O_EXCL claims the name, then rename
            fd = os.open(destination.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o644)
            os.close(fd)
            os.replace(tmp.path, destination.path)
        else:
            os.unlink(tmp.path)

    def _verify(self, sink: _Sink, expected: int | None, declared: int | None, op_id: str) -> None:
        if sink.size < 8 or sink.head[4:8] != b"ftyp":
            raise VideoIntegrityError(f"the body is not an MP4 ({sink.size} bytes)", gateway=self.gateway,
                                      operation_id=op_id)
        for what, size in (("its declared size", expected), ("the size in the operation", declared)):
            if size is not None and size != sink.size:
                raise VideoIntegrityError(f"received {sink.size} bytes but {what} is {size} bytes",
                                          gateway=self.gateway, operation_id=op_id)
        if expected is None and declared is None and not sink.boxes.complete():
            raise VideoIntegrityError(
                f"no size was declared and the MP4 structure is incomplete after {sink.size} bytes (boxes "
                f"{[t.decode('latin-1') for t in sink.boxes.types[:8]]}); the body was probably cut short",
                gateway=self.gateway, operation_id=op_id)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n} bytes"


def _declared(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _validator(headers: Any) -> str | None:
    """The validator for ``If-Range``: a strong ETag, else Last-Modified (RFC 9110 §13.1.5); None if neither."""
    etag = (headers.get("ETag") or "").strip()
    if etag and not etag.startswith("W/"):
        return etag
    return (headers.get("Last-Modified") or "").strip() or None


def _same_object(stream: MediaStream, offset: int, total: int | None, validator: str | None) -> bool:
    """A 206 that continues exactly the object we were reading: same start, total and validator."""
    if stream.status != 206:
        return False
    match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", (stream.headers.get("Content-Range") or "").strip())
    if not match or int(match.group(1)) != offset:
        return False
    if total is not None and match.group(3) != str(total):
        return False
    return validator is None or _validator(stream.headers) == validator


def _is_local(path: ObjectStoragePath) -> bool:
    return path.protocol in ("", "file", "local")


def _exists(path: ObjectStoragePath) -> bool:
    """Exists, counting a dangling symlink on local storage (which ``exists()`` would not)."""
    if _is_local(path):
        return os.path.lexists(path.path)
    return path.exists()


def _temporary_stem(name: str) -> str:
    room = NAME_MAX - 1 - len(".000000000000.partial")
    return name.encode("utf-8")[:room].decode("utf-8", "ignore")


def _temporary_name(name: str) -> str:
    """``.<name>.<random>.partial``, cut so the whole name fits in NAME_MAX bytes."""
    return f".{_temporary_stem(name)}.{uuid.uuid4().hex[:12]}.partial"


def _remove_leftovers(destination: ObjectStoragePath) -> None:
    """Remove the temporaries that earlier tries of this destination left when they were killed (a worker
    SIGKILLed mid-download runs no cleanup, and each try writes its own random name). Called once the
    destination holds the verified video; listing is by the temporary names' prefix."""
    pattern = re.compile(rf"\.{re.escape(_temporary_stem(destination.name))}\.[0-9a-f]{{12}}\.partial")
    try:
        leftovers = [p for p in destination.parent.glob(f".{_temporary_stem(destination.name)}.*.partial")
                     if pattern.fullmatch(p.name)]
    except Exception:  # noqa: BLE001  (a store that cannot list: nothing to clean, the video is in place)
        log.warning("Could not list %s for leftover temporary files", destination.parent)
        return
    for path in leftovers:
        log.info("Removing %s, left by an earlier try that was killed mid-download.", path.name)
        _remove_quietly(path)


class _Nowhere:
    """A sink target that keeps nothing: a video already in place is only counted, hashed and checked."""

    def open(self, mode: str):
        return open(os.devnull, mode)


def _remove_quietly(path: ObjectStoragePath) -> None:
    try:
        path.unlink(missing_ok=True)
    except Exception:  # noqa: BLE001  (cleanup must not hide the real error)
        log.warning("Could not remove the temporary file %s", path)
