"""Emulated result videos: the sample clip padded to an exact size, streamed lazily.

Every job's video is ``sample.mp4`` (2 s, 320x180, 24 fps H.264 test pattern, ``+faststart`` so
``moov`` precedes ``mdat``) followed by one top-level ISO-BMFF ``free`` box that pads the file to
exactly the configured size. The ``free`` payload starts with the job id (so every job's bytes and
sha256 differ) and is otherwise zeros; players and ffprobe skip ``free`` boxes. Sizes >= 4 GiB use
the 64-bit ``largesize`` box header. Nothing but the small prefix is ever held in memory: the
zeros are slices of one preallocated buffer.

Byte serving (``Range: bytes=N-`` / ``bytes=N-M`` / ``bytes=-K``) follows RFC 9110; the gateways
that stream bytes are HingNet/OpenAI ``/v1/videos/{id}/content`` (HingNet 视频下载,
docs.hingnet.com.cn), AI Thực Chiến ``/gemini/download/...`` (AI Thực Chiến "Tải xuống video hoàn
thành", docs.thucchien.ai) and the CDN hosts they redirect to.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import importlib.resources
import re
import struct
from collections.abc import Iterator

CHUNK = 1 << 20  # bytes per write when serving
B64_CHUNK = 3 << 18  # 786432 raw bytes -> exactly 1 MiB of base64, multiple of 3
_ZEROS = bytes(CHUNK)
_ZEROS_MV = memoryview(_ZEROS)
_B64_ZERO_CHUNK = binascii.b2a_base64(bytes(B64_CHUNK), newline=False)


@functools.cache
def sample_clip() -> bytes:
    """The packaged sample clip (``sample.mp4``, about 19 KB)."""
    return (importlib.resources.files(__package__) / "sample.mp4").read_bytes()


def min_video_bytes() -> int:
    """Smallest padded size: the clip plus an empty 8-byte ``free`` box."""
    return len(sample_clip()) + 8


def default_video_bytes() -> int:
    """Default padded size: the clip plus 1 KiB."""
    return len(sample_clip()) + 1024


def b64_len(n: int) -> int:
    """Length of the standard (padded) base64 encoding of ``n`` bytes."""
    return 4 * ((n + 2) // 3)


class VideoSource:
    """One job's video: ``clip + free-box header + job id + zeros``, exactly ``size`` bytes.

    ``version`` > 0 (a "re-rendered" video, fault ``bump_version``) changes the bytes but not the size:
    the ``ftyp`` box's minor_version field becomes the version and ``~v<version>`` follows the job id.
    ``index`` > 0 (the further samples of a Gemini operation with ``sampleCount`` > 1) does the same
    with the high 16 bits of minor_version and ``#<index>``, so even minimum-size samples differ.
    """

    def __init__(self, job_id: str, size: int, version: int = 0, index: int = 0):
        clip = sample_clip()
        if version or index:  # ftyp: size(4) type(4) major_brand(4) minor_version(4); players ignore minor_version
            clip = clip[:12] + struct.pack(">HH", index & 0xFFFF, version & 0xFFFF) + clip[16:]
            job_id = f"{job_id}#{index}" if index else job_id
            job_id = f"{job_id}~v{version}" if version else job_id
        pad = size - len(clip)
        if pad < 8:
            raise ValueError(f"video_bytes must be >= {len(clip) + 8} (the sample clip + 8)")
        if pad < 1 << 32:
            header = struct.pack(">I4s", pad, b"free")
        else:  # 64-bit largesize box: size field 1, then the real size
            header = struct.pack(">I4sQ", 1, b"free", pad)
        ident = job_id.encode()[: max(0, pad - len(header))]
        self.prefix = clip + header + ident
        self.size = size

    def chunks(self, start: int = 0, end: int | None = None, chunk: int = CHUNK) -> Iterator[bytes | memoryview]:
        """Yield bytes ``[start, end)`` in pieces of ``chunk`` bytes (end exclusive, <= CHUNK)."""
        end = self.size if end is None else end
        prefix, plen = self.prefix, len(self.prefix)
        pos = start
        while pos < end:
            n = min(chunk, end - pos)
            if pos >= plen:
                yield _ZEROS if n == CHUNK else _ZEROS_MV[:n]
            else:
                piece = prefix[pos : pos + n]
                yield piece + bytes(n - len(piece)) if len(piece) < n else piece
            pos += n

    def b64_chunks(self) -> Iterator[bytes]:
        """Yield the base64 encoding of the whole video, piece by piece (1 MiB of text each)."""
        plen = len(self.prefix)
        for pos in range(0, self.size, B64_CHUNK):
            n = min(B64_CHUNK, self.size - pos)
            if pos >= plen and n == B64_CHUNK:
                yield _B64_ZERO_CHUNK  # all-zero 3-aligned chunk: its encoding never changes
            else:
                yield binascii.b2a_base64(next(self.chunks(pos, pos + n, B64_CHUNK)), newline=False)

    def sha256(self) -> str:
        """Hex sha256 of the whole video (streams through it; run it off the event loop)."""
        h = hashlib.sha256()
        for piece in self.chunks():
            h.update(piece)
        return h.hexdigest()

    def read(self) -> bytes:
        """The whole video in memory (tests and small sizes only)."""
        return b"".join(bytes(c) for c in self.chunks())


_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """Parse a single-range ``Range`` header into ``(start, end_exclusive)``.

    Returns ``None`` to serve the whole body (no header, a multi-range or malformed header, which
    RFC 9110 lets a server ignore) and ``"unsatisfiable"`` for a 416.
    """
    if not header:
        return None
    m = _RANGE_RE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    first, last = m.group(1), m.group(2)
    if not first:  # suffix range: the last K bytes
        k = int(last)
        return (max(0, size - k), size) if k else "unsatisfiable"
    start = int(first)
    if start >= size:
        return "unsatisfiable"
    end = size if not last else min(int(last) + 1, size)
    return (start, end) if end > start else None
