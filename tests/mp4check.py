"""Minimal ISO-BMFF (MP4) box parser for tests: no ffprobe needed.

``top_level_boxes(x)`` lists ``(type, offset, size)`` of the top-level boxes and checks that their
sizes tile the file exactly; ``video_track_present(x)`` is true when ``moov/trak/mdia/hdlr`` has
handler type ``vide``. ``x`` is a path or the file's bytes.
"""

from __future__ import annotations

import os
import struct

CONTAINERS = {b"moov", b"trak", b"mdia"}


def _data(path_or_bytes: str | os.PathLike | bytes | bytearray | memoryview) -> bytes:
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return bytes(path_or_bytes)
    with open(path_or_bytes, "rb") as f:
        return f.read()


def _boxes(data: bytes, start: int, end: int) -> list[tuple[str, int, int, int]]:
    """``(type, offset, size, header_len)`` of the boxes in ``data[start:end]``; raises ValueError."""
    out, pos = [], start
    while pos < end:
        if end - pos < 8:
            raise ValueError(f"truncated box header at {pos}")
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:  # 64-bit largesize
            if end - pos < 16:
                raise ValueError(f"truncated largesize header at {pos}")
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:  # box extends to the end
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"box {kind!r} at {pos} has bad size {size} (container ends at {end})")
        out.append((kind.decode("latin-1"), pos, size, header))
        pos += size
    return out


def top_level_boxes(path_or_bytes) -> list[tuple[str, int, int]]:
    """Top-level ``(type, offset, size)``; sizes must sum to the file size (else ValueError)."""
    data = _data(path_or_bytes)
    return [(k, off, size) for k, off, size, _ in _boxes(data, 0, len(data))]


def handler_types(path_or_bytes) -> list[str]:
    """Handler types of every ``moov/trak/mdia/hdlr`` (e.g. ``["vide"]``)."""
    data = _data(path_or_bytes)
    found: list[str] = []

    def walk(start: int, end: int, depth: int) -> None:
        for kind, off, size, header in _boxes(data, start, end):
            body = off + header
            if kind == "hdlr" and depth == 3:  # FullBox: version/flags(4) pre_defined(4) handler_type(4)
                found.append(data[body + 8 : body + 12].decode("latin-1"))
            elif kind.encode() in CONTAINERS and depth < 3:
                walk(body, off + size, depth + 1)

    walk(0, len(data), 0)
    return found


def video_track_present(path_or_bytes) -> bool:
    """True if the file parses and has a ``moov/trak/mdia/hdlr`` with handler type ``vide``."""
    try:
        return "vide" in handler_types(path_or_bytes)
    except (ValueError, OSError, struct.error):
        return False
