"""Writing response bodies, honestly or with hostile twists; serving media with validators.

Every body goes through ``send_stream``, which applies the fault rule matched for the request
(``FAULT_RULE``): cut after N bytes (FIN or RST), drip N bytes at a time, or answer without any
framing (close-delimited). Large bodies are always streamed: a padded or gzip'd scripted body and
the videos themselves are generated piece by piece, never built whole in memory.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from aiohttp import web

from .core import FAULT_RULE, Rendition, state_of
from .videos import VideoSource, b64_len, parse_range

DRIP_MAX_S = 300.0  # a dripped body stops (connection closed) after this long at the latest
_BLOCK = 1 << 20
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # magic, deflate, no flags, mtime 0, OS unknown


@dataclass
class Body:
    """A response body known by its length and a factory of its pieces (``length`` None: chunked)."""

    length: int | None
    pieces: Callable[[], Iterable[bytes | memoryview]]


def _deflate(data: bytes, final: bool) -> bytes:
    """Raw deflate of ``data`` from a fresh compressor: pieces made this way concatenate into one
    valid stream (each ends on a byte boundary after a full flush; only the last one is final)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH)


def gzip_body(prefix: bytes, fill: bytes = b"", count: int = 0, suffix: bytes = b"") -> Body:
    """gzip of ``prefix + fill * count + suffix`` (``fill`` one byte), built without inflating it.

    A 1 MiB block of ``fill`` is compressed once and its deflate piece repeated; the CRC-32 is
    computed while streaming, so 1 GiB of spaces costs about 1 MB on the wire and little CPU.
    """
    block = fill * _BLOCK
    full, rest = divmod(count, _BLOCK) if fill else (0, 0)
    head, block_z, rest_z, tail = (_deflate(prefix, False), _deflate(block, False) if full else b"",
                                   _deflate(fill * rest, False), _deflate(suffix, True))
    length = len(_GZIP_HEADER) + len(head) + full * len(block_z) + len(rest_z) + len(tail) + 8

    def pieces() -> Iterator[bytes]:
        crc = zlib.crc32(prefix)
        yield _GZIP_HEADER + head
        for _ in range(full):
            crc = zlib.crc32(block, crc)
            yield block_z
        crc = zlib.crc32(suffix, zlib.crc32(fill * rest, crc))
        yield rest_z + tail + struct.pack("<II", crc, (len(prefix) + count + len(suffix)) & 0xFFFFFFFF)

    return Body(length, pieces)


def plain_body(prefix: bytes, fill: bytes = b"", count: int = 0, suffix: bytes = b"") -> Body:
    """``prefix + fill * count + suffix`` streamed from one reused 1 MiB block."""
    block = memoryview(fill * min(count, _BLOCK))

    def pieces() -> Iterator[bytes | memoryview]:
        yield prefix
        left = count
        while left > 0:
            n = min(left, len(block))
            yield block[:n]
            left -= n
        yield suffix

    return Body(len(prefix) + count + len(suffix), pieces)


def scripted_body(rule: dict[str, Any]) -> tuple[Body, str | None]:
    """The body of a scripted fault answer and its default Content-Type.

    ``body`` (JSON, or a string: HTML/text) or ``body_b64`` (raw bytes) or ``gzip_of_zeros`` (N zero
    bytes); ``pad_to_bytes`` grows a JSON object ``body`` with a ``"pad"`` string of spaces to exactly
    N bytes; ``gzip`` compresses the whole (Content-Encoding: gzip is set by the caller).
    """
    body, fill, count, suffix, ctype = rule.get("body"), b"", 0, b"", None
    if rule.get("gzip_of_zeros") is not None:
        data, fill, count, ctype = b"", b"\0", rule["gzip_of_zeros"], "application/octet-stream"
    elif rule.get("body_b64") is not None:
        data, ctype = base64.b64decode(rule["body_b64"]), "application/octet-stream"
    elif body is None:
        data = b""
    elif isinstance(body, str):
        data, ctype = body.encode(), "text/html" if body.lstrip().startswith("<") else "text/plain"
    else:
        data, ctype = json.dumps(body).encode(), "application/json"
    if rule.get("pad_to_bytes") is not None:  # {"status": ..., "pad": "      ..."} of exactly N bytes
        data = data[:-1] + (b', "pad": "' if len(body) else b'"pad": "')
        suffix = b'"}'
        fill, count = b" ", max(0, rule["pad_to_bytes"] - len(data) - len(suffix))
    make = gzip_body if rule.get("gzip") or rule.get("gzip_of_zeros") is not None else plain_body
    return make(data, fill, count, suffix), ctype


# ------------------------------------------------------------------------------------ writing


async def cut_connection(request: web.Request, reset: bool) -> None:
    """Close the connection after flushing what was written: FIN, or RST when ``reset``."""
    transport = request.transport
    if transport is None:
        return
    for _ in range(2000):  # bounded: up to ~2 s for the kernel to take the buffered bytes
        if transport.is_closing() or transport.get_write_buffer_size() == 0:
            break
        await asyncio.sleep(0.001)
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()


def _split(pieces: Iterable[bytes | memoryview], size: int | None) -> Iterator[bytes | memoryview]:
    for piece in pieces:
        if size is None or len(piece) <= size:
            yield piece
            continue
        view = memoryview(piece)
        for i in range(0, len(view), size):
            yield view[i : i + size]


class _Raw:
    """Writes straight to the transport (a close-delimited response has no framing aiohttp would add)."""

    def __init__(self, request: web.Request, resp: web.StreamResponse):
        self.transport = request.transport
        skip = {"content-length", "transfer-encoding", "connection"}
        lines = [f"HTTP/1.1 {resp.status} {resp.reason}"]
        lines += [f"{k}: {v}" for k, v in resp.headers.items() if k.lower() not in skip]
        self.head = ("\r\n".join([*lines, "Connection: close"]) + "\r\n\r\n").encode("latin-1")

    async def write(self, data: bytes | memoryview) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("client went away")
        self.transport.write(data)
        while self.transport.get_write_buffer_size() > _BLOCK and not self.transport.is_closing():
            await asyncio.sleep(0.001)  # flow control: wait for the kernel to take the bytes


async def send_stream(request: web.Request, resp: web.StreamResponse, total: int | None,
                      chunks: Iterable[bytes | memoryview]) -> web.StreamResponse:
    """Send a body of ``total`` bytes (None: chunked) from ``chunks``, applying the request's fault rule:

    ``truncate_to_bytes`` / ``reset_after_bytes`` (cut with FIN / RST after N bytes), ``drip_bytes`` +
    ``drip_interval_s`` (N bytes per interval, at most ``DRIP_MAX_S`` in all, stopping when the client
    goes away) and ``close_delimited`` (neither Content-Length nor chunked; the end is the close).
    """
    rule = request.get(FAULT_RULE) or {}
    if total is None:
        resp.enable_chunked_encoding()
    else:
        resp.content_length = total
    cut = rule.get("reset_after_bytes", rule.get("truncate_to_bytes"))
    limit = cut if cut is not None and (total is None or cut < total) else None
    writer: Any = resp
    if rule.get("close_delimited"):
        writer = _Raw(request, resp)
        # returned unprepared: aiohttp's own attempt to send it then fails quietly on the closed socket
        resp = web.StreamResponse(status=resp.status)
    else:
        await resp.prepare(request)
        if request.method == "HEAD":
            return resp
    drip, interval = rule.get("drip_bytes"), rule.get("drip_interval_s") or 0.0
    deadline = asyncio.get_running_loop().time() + DRIP_MAX_S
    sent, stopped = 0, None
    try:
        if isinstance(writer, _Raw):
            await writer.write(writer.head)
            if request.method == "HEAD":
                chunks = ()
        for piece in _split(chunks, drip):
            if limit is not None and sent + len(piece) > limit:
                if limit > sent:
                    await writer.write(piece[: limit - sent])
                stopped = "cut"
                break
            await writer.write(piece)
            sent += len(piece)
            if drip:
                if asyncio.get_running_loop().time() + interval > deadline:
                    stopped = "deadline"
                    break
                await asyncio.sleep(interval)
    except ConnectionError:  # the client went away mid-body: nothing to answer
        return resp
    if stopped is None and not rule.get("close_delimited"):
        return resp
    await cut_connection(request, reset=stopped == "cut" and rule.get("reset_after_bytes") is not None)
    return resp


async def send_body(request: web.Request, status: int, headers: dict[str, str], body: Body) -> web.StreamResponse:
    resp = web.StreamResponse(status=status, headers=headers)
    return await send_stream(request, resp, body.length, body.pieces())


B64_MARKER = "@@videogen-b64@@"


async def send_json_with_b64(request: web.Request, obj: Any, video: VideoSource | list[VideoSource],
                             headers: dict[str, str] | None = None) -> web.StreamResponse:
    """Stream a JSON object in which every ``B64_MARKER`` inside a string is the video's base64
    (given a list of videos: the n-th marker is the n-th video's, one marker per video).

    The JSON around the payload is tiny; the payload is encoded chunk by chunk while it is written
    (``VideoSource.b64_chunks``), with an exact Content-Length, so a 256 MiB video never sits in
    memory (MixRoute's download body carries it twice: ``base64`` and ``data_url``; a Gemini
    status with ``gemini_download: "inline"`` carries it as ``encodedVideo``).
    """
    parts = json.dumps(obj).encode().split(B64_MARKER.encode())
    videos = video if isinstance(video, list) else [video] * (len(parts) - 1)
    if len(videos) != len(parts) - 1:
        raise ValueError(f"{len(parts) - 1} base64 markers for {len(videos)} videos")
    total = sum(len(p) for p in parts) + sum(b64_len(v.size) for v in videos)

    def pieces() -> Iterator[bytes]:
        for i, part in enumerate(parts):
            yield part
            if i < len(videos):
                yield from videos[i].b64_chunks()

    return await send_body(request, 200, {"Content-Type": "application/json", **(headers or {})},
                           Body(total, pieces))


# -------------------------------------------------------------------------------------- media


def _if_range_matches(request: web.Request, job: Rendition) -> bool:
    """RFC 9110 §13.1.5: a Range applies only if If-Range (when sent) matches the current
    representation: strong comparison for an entity-tag (a weak one never matches), exact
    equality with Last-Modified for a date."""
    value = request.headers.get("If-Range")
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == job.etag
    try:
        return parsedate_to_datetime(value).timestamp() == job.last_modified
    except (TypeError, ValueError):
        return False


def _accepts_gzip(request: web.Request) -> bool:
    """Accept-Encoding allows gzip: absent (any coding, RFC 9110 §12.5.3), or gzip/* with q > 0."""
    header = request.headers.get("Accept-Encoding")
    if header is None:
        return True
    for item in header.lower().split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip() in ("gzip", "x-gzip", "*"):
            q = params.strip().removeprefix("q=")
            try:
                return float(q) > 0 if q else True
            except ValueError:
                return False
    return False


def _gzip_stream(chunks: Iterable[bytes | memoryview]) -> Iterator[bytes]:
    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    for chunk in chunks:
        out = c.compress(chunk)
        if out:
            yield out
    yield c.flush()


async def serve_video(request: web.Request, job: Rendition, compress: bool = True) -> web.StreamResponse:
    """Serve one video of a job (``job.renditions[i]``): ``video/mp4``, strong ``ETag``,
    ``Last-Modified``, one ``Range`` -> 206.

    ``If-Range`` that does not match -> the whole body, 200 (RFC 9110 §13.1.5). ``range_support``
    false ignores Range. ``compress_media`` with an Accept-Encoding that allows gzip -> the whole
    video gzip'd (Content-Encoding: gzip, chunked; Range requests stay identity). A matched fault
    rule with ``bump_version`` re-renders this video (same size, new bytes and ETag; a job's other
    samples stay as they are) once this response has been sent or cut.
    """
    cfg = state_of(request).config
    try:
        video = job.source()
        headers = {"Content-Type": "video/mp4", "ETag": job.etag, "Last-Modified": job.last_modified_http}
        rng = None
        if cfg["range_support"]:
            headers["Accept-Ranges"] = "bytes"
            if _if_range_matches(request, job):
                rng = parse_range(request.headers.get("Range"), video.size)
        if rng == "unsatisfiable":
            return web.Response(status=416, headers={"Content-Range": f"bytes */{video.size}", **headers})
        if rng is None and compress and cfg["compress_media"] and _accepts_gzip(request):
            headers.update({"Content-Encoding": "gzip", "ETag": job.etag[:-1] + '-gzip"', "Vary": "Accept-Encoding"})
            return await send_body(request, 200, headers, Body(None, lambda: _gzip_stream(video.chunks())))
        start, end = rng or (0, video.size)
        if rng:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{video.size}"
        return await send_body(request, 206 if rng else 200, headers, Body(end - start,
                                                                         lambda: video.chunks(start, end)))
    finally:
        if (request.get(FAULT_RULE) or {}).get("bump_version"):
            job.bump()


async def rendition_sha256(video: Rendition) -> str:
    """sha256 of one video of a job, computed off the event loop on first use and cached (a re-render
    clears it)."""
    if video.sha256 is None:
        video.sha256 = await asyncio.get_running_loop().run_in_executor(None, video.source().sha256)
    return video.sha256


def redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location})
