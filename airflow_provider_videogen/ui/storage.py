"""Stream a stored video (or its preview image) to the browser with HTTP Range support.

The object is opened through ``ObjectStoragePath`` with the storage connection the asset event names
(``dest_conn_id``), so local disk, S3, GCS... all work the same, and the storage credentials stay in the
API server. Only the requested range is read, in ``CHUNK`` pieces; an open-ended range (``bytes=N-``, what
a ``<video>`` element asks for) is answered with at most ``OPEN_RANGE_LIMIT`` bytes, which browsers follow
with the next range, so no request holds a whole video. Before any byte is sent the object's signature is
checked (an MP4/ISO-BMFF ``ftyp`` box for videos, WebP/JPEG/PNG for previews): an asset event that names
something else (``file:///etc/passwd``) serves nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_videogen.gateways.base import image_type

log = logging.getLogger(__name__)

CHUNK = 256 * 1024  # bytes read from storage per piece
OPEN_RANGE_LIMIT = 4 * 1024 * 1024  # at most this many bytes answer "bytes=N-"
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class StorageRefused(Exception):
    """The object cannot be served: ``status`` is the HTTP status, ``reason`` is safe to show the user."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive
    partial: bool  # False: the whole object (no, or an ignored, Range header)

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The range to send for ``Range: header`` of an object of ``size`` bytes.

    ``None`` means unsatisfiable (answer 416). A missing header, another unit, several ranges or a
    malformed header is ignored (RFC 9110 lets a server send the whole object, 200, instead).
    """
    whole = ByteRange(0, max(size - 1, 0), partial=False)
    if not header:
        return whole
    match = _RANGE.match(header)
    if not match or (not match.group(1) and not match.group(2)):
        return whole
    first, last = match.group(1), match.group(2)
    if not first:  # suffix: the last N bytes
        suffix = int(last)
        if suffix == 0:
            return None
        return ByteRange(max(size - suffix, 0), size - 1, partial=True) if size else None
    start = int(first)
    if start >= size:
        return None
    if last:
        end = int(last)
        if end < start:
            return whole  # syntactically invalid: ignored
        end = min(end, size - 1)
    else:
        end = min(size - 1, start + OPEN_RANGE_LIMIT - 1)
    return ByteRange(start, end, partial=True)


def _has_dot_segments(uri: str) -> bool:
    path = urlsplit(uri).path
    return any(part in ("..", ".") for part in path.split("/"))


def same_store(uri: str, other: str | None) -> bool:
    """Whether ``uri`` is in the same store as ``other``: scheme and bucket, on local disk the same folder tree."""
    if not other:
        return False
    a, b = urlsplit(uri), urlsplit(other)
    if (a.scheme, a.netloc.rpartition("@")[2]) != (b.scheme, b.netloc.rpartition("@")[2]):
        return False
    if a.scheme in ("file", "local", ""):  # local disk: in the video's folder or below it
        return a.path.startswith(b.path.rsplit("/", 1)[0] + "/") and not _has_dot_segments(uri)
    return True


def open_object(uri: str, conn_id: str | None) -> Any:
    """``ObjectStoragePath`` for ``uri`` (an asset URI, never from the request) with its connection."""
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    if "://" not in uri or _has_dot_segments(uri):
        raise StorageRefused(404, "This video has no storage location that can be served.")
    return ObjectStoragePath(uri, conn_id=conn_id or None)


def is_video_head(head: bytes) -> bool:
    return head[4:8] == b"ftyp"  # ISO base media (MP4, MOV): a box type at offset 4


@dataclass
class OpenedObject:
    """A stored object checked and ready to stream."""

    path: Any
    size: int
    content_type: str


def _describe(err: BaseException) -> str:
    return type(err).__name__  # never the message: it may carry a bucket policy or an endpoint's answer


def inspect(uri: str, conn_id: str | None, *, kind: str, declared_type: str | None = None) -> OpenedObject:
    """Open ``uri``, read its size and first bytes, and check it is what ``kind`` says (video or image).

    :raises StorageRefused: 404 when gone or not servable, 415 when it is not a video/image, 502 when the
        storage failed (the details go to the API server's log, not to the browser).
    """
    path = open_object(uri, conn_id)
    try:
        info = path.stat()
        size = int(info["size"] if isinstance(info, dict) else info.st_size)
        if size <= 0:
            raise StorageRefused(404, "The stored object is empty.")
        with path.open("rb", block_size=CHUNK) as f:  # not the default (50 MiB on s3fs/adlfs) read-ahead
            head = f.read(16)
    except StorageRefused:
        raise
    except FileNotFoundError:
        raise StorageRefused(404, "The video is no longer in its storage.") from None
    except IsADirectoryError:
        raise StorageRefused(404, "This video has no storage location that can be served.") from None
    except Exception as err:  # noqa: BLE001  (any storage backend's failure: logged, answered 502)
        log.warning("videogen UI: cannot read %s (connection %r): %s", uri, conn_id, _describe(err))
        raise StorageRefused(502, "The storage could not be read; see the API server's log.") from None
    if kind == "video":
        if not is_video_head(head):
            raise StorageRefused(415, "The stored object is not an MP4 video.")
        content_type = declared_type if declared_type and declared_type.startswith("video/") else "video/mp4"
    else:
        content_type = image_type(head)
        if content_type is None:
            raise StorageRefused(415, "The stored preview is not a WebP, JPEG or PNG image.")
    return OpenedObject(path=path, size=size, content_type=content_type)


def iter_range(path: Any, byte_range: ByteRange, chunk: int = CHUNK) -> Iterator[bytes]:
    """The bytes of ``byte_range``, read piece by piece (the file is closed when the iterator ends or is
    dropped, e.g. when the browser goes away mid-response)."""
    remaining = byte_range.length
    f = path.open("rb", block_size=chunk)
    try:
        if byte_range.start:
            f.seek(byte_range.start)
        while remaining > 0:
            data = f.read(min(chunk, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data
    except Exception as err:  # noqa: BLE001  (the status line is gone already: end the body early)
        log.warning("videogen UI: reading %s stopped: %s", path, _describe(err))
    finally:
        f.close()
