"""Pure helpers for what crosses the wire: reading bodies safely, classifying errors, checking MP4s.

No I/O and no HTTP client here: the transport (``transport.py``) feeds these with bytes. Everything a
gateway sends is treated as possibly hostile, so each helper is bounded:

- :class:`BoundedDecoder` undoes ``Content-Encoding`` (gzip, deflate) with a cap on the *decompressed*
  size, so a small gzip body cannot inflate to gigabytes.
- :class:`JsonScanner` reads a JSON document as it streams in. It can *elide* every long string (a status
  body that carries the whole video as a ``data:`` URL is read for its state in constant memory), or
  *extract* the string at one documented path (``base64``, ``data.url``,
  ``response.generateVideoResponse.generatedSamples.0.video.encodedVideo``) and hand its base64 content
  out piece by piece. Keys nested elsewhere never match.
- :func:`error_for_status` is the one place that turns an HTTP error answer into a typed exception, with
  the API key redacted from everything the gateway said.
- :class:`Mp4BoxWalker` follows the top-level ISO BMFF boxes (ISO/IEC 14496-12 §4.2) as bytes stream by,
  so a body truncated by a closed connection is caught even when no size was declared.
"""

from __future__ import annotations

import binascii
import email.utils
import json
import re
import struct
import time
import zlib
from collections.abc import Iterator, Mapping
from typing import Any

import pybase64

from airflow_provider_videogen.exceptions import (
    GatewayAuthError,
    GatewayRequestRejected,
    ModelNotAvailable,
    TransientGatewayError,
    VideoGenError,
    VideoNotFound,
)

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
REDACTED = "***"


# ------------------------------------------------------------------------------------- Retry-After


def retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds the gateway asks us to wait, from ``retry-after-ms`` or ``Retry-After``; None if absent.

    ``Retry-After`` may be a number of seconds or an HTTP date (RFC 9110 §10.2.3); ``retry-after-ms`` is
    the OpenAI SDK's header (openai-python ``_base_client.py``). Negative or non-finite values give None.
    """
    if not headers:
        return None
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    for key, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = lower.get(key, "").strip()
        if not value:
            continue
        try:
            seconds = float(value) / scale
        except ValueError:
            if key == "retry-after-ms":
                continue
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                return None
            return max(0.0, when.timestamp() - (time.time() if now is None else now))
        return max(0.0, seconds) if seconds == seconds and seconds != float("inf") else None
    return None


# ----------------------------------------------------------------------------------- error answers


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret replaced by ``***`` (applied wherever gateway text enters an error)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def gateway_message(text: str) -> str:
    """The gateway's own words from an error body: ``error.message``, ``message``, or the text (300 chars)."""
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return " ".join(text.split())[:300] or "(empty body)"
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
        if isinstance(err, str) and err:
            return err[:300]
        if body.get("message"):
            return str(body["message"])[:300]
    return json.dumps(body)[:300]


_MODEL_WORDS = re.compile(r"model[_ ]not[_ ]found|unknown model|model .{0,80}(not (be )?found|not supported|"
                          r"does not exist|is not available|invalid)|invalid model|not found for api version",
                          re.IGNORECASE)


def error_for_status(status: int, headers: Mapping[str, str] | None, text: str, *, protocol: Any,
                     operation_id: str | None, step: str, secrets: tuple[str, ...] = (),
                     model: str | None = None) -> VideoGenError:
    """Map an HTTP error answer onto a typed error: the one place that decides, sync and async alike.

    The protocol may name the kind first (``VideoProtocol.error_kind``) for gateway-specific answers, such
    as Google's 400 for a bad key, TokenOps' 400 for a bad key, or New API's 400 ``task_not_exist``.
    Every piece of gateway text is redacted of ``secrets`` before it goes into the message.
    """
    gateway = protocol.gateway
    text = redact(text, secrets)
    words = gateway_message(text)  # JSON escapes decoded (non-ASCII messages arrive as \uXXXX)
    message = f"{step} answered HTTP {status}: {words}"
    kind = protocol.error_kind(status, text) or protocol.error_kind(status, words)
    if step == "submit" and model and (kind == "model" or (status in (400, 404) and _MODEL_WORDS.search(text))):
        return ModelNotAvailable(f"model {model!r} is not available at this gateway ({message})",
                                 gateway=gateway, operation_id=operation_id)
    if kind == "auth" or (kind is None and status in (401, 403)):
        return GatewayAuthError(f"{message} (check the connection's API key)", gateway=gateway,
                                operation_id=operation_id)
    if status in RETRYABLE_STATUS:
        return TransientGatewayError(message, gateway=gateway, operation_id=operation_id, status=status,
                                     retry_after=retry_after(dict(headers or {})))
    if kind == "not_found" or (status in (404, 410) and step != "submit"):
        return VideoNotFound(message, gateway=gateway, operation_id=operation_id)
    return GatewayRequestRejected(message, gateway=gateway, operation_id=operation_id)


# ------------------------------------------------------------------------------- content decoding


class BodyTooLarge(ValueError):
    """A body (after decompression) is larger than its cap."""


class BoundedDecoder:
    """Undo a ``Content-Encoding`` (``identity``, ``gzip``, ``x-gzip``, ``deflate``) with a cap on the output.

    ``feed`` yields the decoded bytes of one input chunk in pieces of at most 1 MiB, so memory stays
    bounded whatever the compression ratio.
    :raises BodyTooLarge: the decoded body would exceed ``cap`` bytes (None: no cap).
    :raises ValueError: an encoding this client does not speak (``br``, ``zstd``...) or corrupt data.
    """

    def __init__(self, encoding: str | None, cap: int | None):
        encoding = (encoding or "identity").strip().lower()
        if encoding in ("", "identity"):
            self._z = None
        elif encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj(zlib.MAX_WBITS)
        else:
            raise ValueError(f"unsupported Content-Encoding {encoding!r}")
        self.encoding = encoding
        self.cap = cap
        self.produced = 0

    @property
    def identity(self) -> bool:
        return self._z is None

    def _count(self, data: bytes) -> bytes:
        self.produced += len(data)
        if self.cap is not None and self.produced > self.cap:
            raise BodyTooLarge(f"the body is larger than {self.cap} bytes")
        return data

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        """The decoded bytes of ``chunk``, in pieces of at most 1 MiB (so one chunk never inflates whole)."""
        if self._z is None:
            yield self._count(chunk)
            return
        data = chunk
        while data or self._z.unconsumed_tail:
            room = 1 << 20 if self.cap is None else max(1, min(1 << 20, self.cap + 1 - self.produced))
            try:
                piece = self._z.decompress(data or self._z.unconsumed_tail, room)
            except zlib.error as err:
                raise ValueError(f"corrupt {self.encoding} body: {err}") from None
            data = b""
            if piece:
                yield self._count(piece)
            elif not self._z.unconsumed_tail:
                break

    def flush(self) -> bytes:
        return self._count(self._z.flush()) if self._z is not None else b""


# ----------------------------------------------------------------------------- streaming JSON


class JsonScanner:
    """Scan a JSON document as it streams in, in bounded memory.

    Two uses, chosen at construction:

    - ``elide_over=N``: :meth:`feed` returns the document with every string longer than ``N`` bytes cut
      after its first ``N`` bytes and marked ``…<elided>`` (:func:`is_elided`); parse the result with
      :func:`json.loads`. The copy kept is at most ``cap`` bytes (:class:`BodyTooLarge` beyond).
    - ``path=("data", "url")``: :meth:`feed` returns the raw *content* of the string value at that path
      (object keys and array indexes from the top level) as it arrives; every other string is skipped,
      so a key of the same name nested elsewhere never matches. ``found``/``done`` tell whether the
      value started and ended.

    The long string is crossed with ``bytes.find``; only the bytes outside strings are looked at one by
    one. A malformed document gives ``json.loads`` something it refuses, or never sets ``done``.
    """

    def __init__(self, *, elide_over: int | None = None, path: tuple[str | int, ...] | None = None,
                 cap: int | None = None, scalars: tuple[str, ...] = ()):
        self.elide_over = elide_over
        self.path = tuple(path) if path is not None else None
        self.cap = cap
        self.want_scalars = frozenset(scalars)
        self.scalars: dict[str, Any] = {}  # top-level scalar values asked for in ``scalars`` (e.g. "size")
        self._scalar: list[bytes] | None = None
        self.found = False
        self.done = False
        self._stack: list[list] = []  # frames: ["o", key, expecting_key] or ["a", index]
        self._in_string = False
        self._in_scalar = False
        self._is_key = False
        self._escape = False
        self._str_len = 0
        self._key_buf: list[bytes] = []
        self._capture = False
        self._kept = 0

    def _value_starts(self) -> None:
        """A value starts: in an array it is the next element."""
        if self._stack and self._stack[-1][0] == "a":
            self._stack[-1][1] += 1

    def _keep(self, out: list[bytes], data: bytes) -> None:
        if self.elide_over is not None and data:
            out.append(data)
            self._kept += len(data)
            if self.cap is not None and self._kept > self.cap:
                raise BodyTooLarge(f"the JSON body is larger than {self.cap} bytes")

    def feed(self, chunk: bytes) -> bytes:
        out: list[bytes] = []
        i, n = 0, len(chunk)
        while i < n:
            if self._in_string:
                i = self._string_bytes(chunk, i, out)
                continue
            match = _STRUCTURAL.search(chunk, i)
            j = match.start() if match else n
            if j > i:  # whitespace and at most one scalar (number, true, false, null): copied as one run
                run = chunk[i:j]
                if not self._in_scalar and run.strip():
                    self._in_scalar = True
                    self._value_starts()
                    frame = self._stack[-1] if self._stack else None
                    if len(self._stack) == 1 and frame[0] == "o" and frame[1] in self.want_scalars:
                        self._scalar = []
                if self._scalar is not None and sum(map(len, self._scalar)) < 64:
                    self._scalar.append(run)
                self._keep(out, run)
                i = j
                continue
            c = chunk[j:j + 1]
            frame = self._stack[-1] if self._stack else None
            if self._scalar is not None:
                self._end_scalar()
            self._in_scalar = False
            if c == b'"':
                self._open_string(frame)
            elif c in b"{[":
                self._value_starts()
                self._stack.append(["o", None, True] if c == b"{" else ["a", -1])
            elif c in b"]}":
                if self._stack:
                    self._stack.pop()
            elif c == b"," and frame and frame[0] == "o":
                frame[2] = True
            elif c == b":" and frame and frame[0] == "o":
                frame[2] = False
            self._keep(out, c)
            i = j + 1
        return b"".join(out)

    def _end_scalar(self) -> None:
        try:
            self.scalars[self._stack[0][1]] = json.loads(b"".join(self._scalar))
        except (ValueError, IndexError):
            pass
        self._scalar = None

    def _open_string(self, frame: list | None) -> None:
        self._is_key = bool(frame and frame[0] == "o" and frame[2])
        if not self._is_key:
            self._value_starts()
        self._in_string, self._escape, self._str_len, self._key_buf = True, False, 0, []
        self._capture = (not self._is_key and self.path is not None and not self.found
                         and tuple(f[1] for f in self._stack) == self.path)
        self.found = self.found or self._capture

    def _string_bytes(self, chunk: bytes, i: int, out: list[bytes]) -> int:
        """Consume string content from ``chunk[i:]``; returns the index after what was consumed."""
        n, pos = len(chunk), i
        while pos < n:
            if self._escape:
                self._escape = False
                pos += 1
                continue
            quote = chunk.find(b'"', pos)
            slash = chunk.find(b"\\", pos, n if quote == -1 else quote)
            if slash != -1:
                self._escape = True
                pos = slash + 1
                continue
            if quote == -1:
                break
            self._string_piece(chunk[i:quote], out)
            self._close_string(out)
            return quote + 1
        self._string_piece(chunk[i:n], out)
        return n

    def _string_piece(self, piece: bytes, out: list[bytes]) -> None:
        if not piece:
            return
        before = self._str_len
        self._str_len += len(piece)
        if self._is_key and self._str_len <= 4096:
            self._key_buf.append(piece)
        if self.elide_over is not None:
            room = self.elide_over - before
            if room > 0:
                kept = piece[:room]
                if len(piece) > room:  # cut here: never leave half an escape sequence behind
                    slash = kept.rfind(b"\\", max(0, len(kept) - 6))
                    kept = kept[:slash] if slash != -1 else kept
                self._keep(out, kept)
        if self._capture:
            out.append(piece)

    def _close_string(self, out: list[bytes]) -> None:
        self._in_string = False
        if self._is_key and self._stack:
            try:
                self._stack[-1][1] = json.loads(b'"' + b"".join(self._key_buf) + b'"')
            except ValueError:
                self._stack[-1][1] = None
        if self.elide_over is not None and self._str_len > self.elide_over:
            self._keep(out, b"\\u2026<elided>")
        self._keep(out, b'"')
        if self._capture:
            self._capture, self.done = False, True


def json_path(dotted: str) -> tuple[str | int, ...]:
    """``"response.videos.0.bytesBase64Encoded"`` -> ``("response", "videos", 0, "bytesBase64Encoded")``."""
    return tuple(int(part) if part.isdigit() else part for part in dotted.split("."))


ELIDED = "\u2026<elided>"
_STRUCTURAL = re.compile(rb'["{}\[\],:]')


def is_elided(value: Any) -> bool:
    """True for a string that :class:`JsonScanner` cut (a ``data:`` URL or base64 video in a status body)."""
    return isinstance(value, str) and value.endswith(ELIDED)


class Base64Stream:
    """Decode the base64 content that :class:`JsonScanner` extracts, piece by piece.

    Strips an optional ``data:<type>;base64,`` prefix (at most 256 bytes before the comma: a prefix without
    a comma is refused), removes the JSON escapes base64 may carry (``\\/``, ``\\n``, ``\\r``) and decodes
    4-aligned pieces with pybase64 (SIMD, validating).
    :raises ValueError: invalid base64, or a ``data:`` prefix without a comma.
    """

    MAX_PREFIX = 256

    def __init__(self):
        self._buf = b""
        self._prefix_checked = False

    def feed(self, piece: bytes, *, final: bool = False) -> bytes:
        data = self._buf + piece if self._buf else piece
        keep = b""
        if b"\\" in data:
            if data.endswith(b"\\") and not final:
                data, keep = data[:-1], b"\\"
            data = data.replace(b"\\/", b"/").replace(b"\\n", b"").replace(b"\\r", b"")
        if not self._prefix_checked:
            if data.startswith(b"data:") or (len(data) < 5 and b"data:".startswith(data) and not final):
                comma = data.find(b",", 0, self.MAX_PREFIX)
                if comma < 0:
                    if len(data) >= self.MAX_PREFIX or final:
                        raise ValueError(f"a data: URL without a comma in its first {self.MAX_PREFIX} bytes")
                    self._buf = data + keep
                    return b""
                data = data[comma + 1:]
            self._prefix_checked = True
        cut = len(data) if final else len(data) - len(data) % 4
        self._buf = bytes(data[cut:]) + keep
        try:
            return pybase64.b64decode(memoryview(data)[:cut], validate=True)
        except (binascii.Error, ValueError) as err:
            raise ValueError(f"invalid base64 in the video field: {err}") from None


# ----------------------------------------------------------------------------------- MP4 boxes


class Mp4BoxWalker:
    """Follow the top-level boxes of an MP4 (ISO/IEC 14496-12 §4.2) as its bytes stream by.

    ``complete()`` is True when the body ended exactly at a box boundary (or inside a box of size 0,
    which runs to the end of the file) and a ``moov`` box was seen: a body cut short by a closed
    connection fails it. Memory: a 16-byte header buffer.
    """

    def __init__(self):
        self.types: list[bytes] = []
        self._remaining = 0  # bytes left in the current box's payload
        self._header = b""
        self._to_eof = False
        self.broken = False

    def feed(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while len(view) and not self._to_eof and not self.broken:
            if self._remaining:
                step = min(self._remaining, len(view))
                self._remaining -= step
                view = view[step:]
                continue
            need = 16 if len(self._header) >= 8 and self._header[:4] == b"\0\0\0\x01" else 8
            take = min(need - len(self._header), len(view))
            self._header += bytes(view[:take])
            view = view[take:]
            if len(self._header) == 8 and self._header[:4] == b"\0\0\0\x01":
                continue  # a 64-bit "largesize" follows
            if len(self._header) < need:
                continue
            size = struct.unpack(">I", self._header[:4])[0]
            if size == 1:
                size = struct.unpack(">Q", self._header[8:16])[0]
            self.types.append(self._header[4:8])
            if size == 0:
                self._to_eof = True
            elif size < len(self._header):
                self.broken = True
            else:
                self._remaining = size - len(self._header)
            self._header = b""

    def complete(self) -> bool:
        ended = self._to_eof or (self._remaining == 0 and not self._header)
        return ended and not self.broken and b"moov" in self.types and self.types[:1] == [b"ftyp"]
