"""Preview images of a finished ``/v1/videos`` job: ``GET /v1/videos/{id}/content?variant=...``.

openai-python ``videos.download_content(video_id, variant=...)`` (src/openai/resources/videos.py) asks for
``variant`` ``video`` (the MP4), ``thumbnail`` or ``spritesheet`` (types/video_download_content_params.py).
The previews' content types are named by neither the SDK (it returns binary, ``Accept:
application/binary``) nor the API reference in hand: a WebP thumbnail and a JPEG sprite sheet is
the emulator's reading [INF].

Both are small real images of the emulator's colour-bar test pattern, made once with Pillow and
embedded here (the emulator needs only aiohttp): a 64x36 lossless WebP and a 64x36 JPEG holding a
2x2 grid of 32x18 frames. Each job gets its own bytes, still valid images: the job id rides in a
chunk or segment every decoder skips, so a client that fetched another job's preview is caught by
its sha256 (``GET /_emulator/jobs/{id}/variants/{variant}/sha256``).

* WebP: the extended format (a ``VP8X`` chunk, then the ``VP8L`` image) plus one unknown chunk
  ``EMUJ`` with the job id at the end of the file, which readers ignore ("WebP Container
  Specification", https://developers.google.com/speed/webp/docs/riff_container, "Unknown Chunks").
* JPEG: a ``COM`` (0xFFFE) comment segment with the job id right after ``SOI`` (ITU-T T.81, B.2.4.5).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import struct

# 64x36 colour bars, lossless (VP8L), simple format: RIFF | WEBP | VP8L chunk
_WEBP = base64.b64decode(
    "UklGRmQAAABXRUJQVlA4TFcAAAAvP8AIAD9AEAgSwkgjjzAmQbZNEeZPc6QjEGTbDGFIRx/SEeY/kvcjBQNzIAYGkWy1wQJIwAKD"
    "gBILsZBIiH8FvdxF9H8CNmBd1AykqLZJnYFa1PtL2P0A"
)
# 64x36 baseline JPEG, 2x2 frames of 32x18 colour bars (each shifted by one bar)
_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRTc4UG1RV19i"
    "Z2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2Nj"
    "Y2NjY2NjY2P/wAARCAAkAEADASIAAhEBAxEB/8QAGgAAAwADAQAAAAAAAAAAAAAAAAUGAQMEB//EADAQAAAFAgMGBAYDAAAAAAAA"
    "AAABAgMEBRESIXEGMjNRwdEiMUFSEzVTYXOyNkOx/8QAGAEAAwEBAAAAAAAAAAAAAAAAAAQFAwH/xAAnEQACAQMDBAAHAAAAAAAA"
    "AAABAgADESEEBTETFEHBEiIjUWFxgf/aAAwDAQACEQMRAD8AeP7hahNK83Neo2O7SUlSSIpfr9NfYLH6zT148Mi9zy8CuegWCnqV"
    "TblYhuCM6KFF8zll77mnQJ5fFLQMJE+MtazS5e5ZeE+QWSHELWRpO5WFfSOq1KRJ4X1LruvYol82XHniX8vhFqE8vcc16jfIr1MW"
    "giTJud/pq7BZIqcNaFkl69zy8J89BD0iMtOkCOG9yG6N3yPbF1z45nFK8nNOgo9i/lLv5z/VIl35LK8eFd7llkfIOtmKxAgU5xqU"
    "/wDDWbpqIsCjysXIvsK4YdOqL8tLu4OrupU3xB2jwEpIyY9feruFj8KOjHhbtY8vEfMUD+4WoTyf7NeoyAHUqj7LJewk1ajCpn95"
    "i2LHacq0dhabtrdQlRXPMjMriwd2cpSVERRfT6i+4lIXz2J+dv8A0hfv75aDHdfp6amyYJA4jTgdZx+TI6RTYiEEaWrHf3H3CyQw"
    "0hCzSmxkeWZ8w9lcMtQml8NzXqO6T5qdIny3uabaofQs7C5zmUFDodOl0VmQ/HxuqJV1Y1F5KMvQ/sMyKHTkLIkx7Fb3q7jv2a/j"
    "sfRf7KGZfFLQFTGu+AcZx/ZK1jMunupscTz0AADscgAAAQgAAAQgAAAQn//Z"
)
WIDTH, HEIGHT = 64, 36

CONTENT_TYPES = {"thumbnail": "image/webp", "spritesheet": "image/jpeg"}


def _chunk(fourcc: bytes, payload: bytes) -> bytes:
    """A RIFF chunk: FourCC, little-endian size, payload, a pad byte to an even length."""
    return fourcc + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) % 2 else b"")


def thumbnail_webp(tag: str) -> bytes:
    """The WebP thumbnail carrying ``tag`` (a job id) in a trailing unknown chunk."""
    image = _WEBP[12:]  # the VP8L chunk
    # VP8X: flags (none: no ICC, alpha, EXIF, XMP, animation), 3 reserved bytes, canvas width-1 and height-1 (24 bits)
    vp8x = _chunk(b"VP8X", bytes(4) + (WIDTH - 1).to_bytes(3, "little") + (HEIGHT - 1).to_bytes(3, "little"))
    body = b"WEBP" + vp8x + image + _chunk(b"EMUJ", tag.encode())
    return b"RIFF" + struct.pack("<I", len(body)) + body


def spritesheet_jpeg(tag: str) -> bytes:
    """The JPEG sprite sheet carrying ``tag`` (a job id) in a COM segment after SOI."""
    comment = tag.encode()[:65533]
    return _JPEG[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + _JPEG[2:]


@functools.lru_cache(maxsize=256)
def preview(variant: str, tag: str) -> bytes:
    """The ``variant`` ("thumbnail" | "spritesheet") image of job ``tag``."""
    return thumbnail_webp(tag) if variant == "thumbnail" else spritesheet_jpeg(tag)


def preview_sha256(variant: str, tag: str) -> str:
    return hashlib.sha256(preview(variant, tag)).hexdigest()
