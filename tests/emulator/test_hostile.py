"""Hostile mode: scripted raw and gzip'd bodies (bombs included), dripped bodies, close-delimited
truncation, validators and If-Range on media, re-rendered videos, compressed media, inline Gemini
videos. Everything bounded: the largest inflation checked is 64 MiB, a 1 GiB bomb only by its size."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import time
import zlib

import pytest
import requests

from airflow_provider_videogen.emulator import transport
from airflow_provider_videogen.emulator.videos import B64_CHUNK, sample_clip

KEY = "sk-test-key-123"
BEARER = {"Authorization": f"Bearer {KEY}"}
GOOG = {"x-goog-api-key": KEY}
VEO = "veo-3.1-generate-preview"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_video(emu) -> str:
    r = requests.post(f"{emu.url}/v1/videos", headers=BEARER, files={"model": (None, VEO), "prompt": (None, "p")})
    assert r.status_code == 200, r.text
    return r.json()["id"]


def raw_get(url: str, headers: dict[str, str] | None = None) -> requests.Response:
    """GET without decoding the body (``r.raw.read(decode_content=False)`` gives the wire bytes)."""
    return requests.get(url, headers={**BEARER, **(headers or {})}, stream=True)


def inflate_count(data: bytes, expect_byte: int | None = None) -> int:
    """Inflate a gzip stream 16 MiB at a time (bounded memory); returns the inflated length."""
    d, n, buf = zlib.decompressobj(31), 0, data
    while buf:
        out = d.decompress(buf, 1 << 24)
        if expect_byte is not None:
            assert out.count(expect_byte) == len(out)
        n, buf = n + len(out), d.unconsumed_tail
    assert d.eof and not d.unused_data
    return n


# ---------------------------------------------------------------------------- scripted bodies


def test_body_b64_arbitrary_bytes(emu, ctl):
    payload = bytes(range(256)) + b"\xff\xfe not utf-8 \x00"
    ctl.add_fault(r"^/v1/models$", status=502, headers={"X-Edge": "1"}, body_b64=base64.b64encode(payload).decode())
    r = requests.get(f"{emu.url}/v1/models", headers=BEARER)
    assert r.status_code == 502 and r.content == payload and r.headers["X-Edge"] == "1"
    assert r.headers["Content-Type"] == "application/octet-stream"
    ctl.add_fault(r"^/v1/models$", body_b64=base64.b64encode(b"<html>").decode(), headers={"Content-Type": "text/html"})
    r = requests.get(f"{emu.url}/v1/models", headers=BEARER)
    assert r.status_code == 200 and r.content == b"<html>" and r.headers["Content-Type"] == "text/html"
    assert ctl.requests()[0]["fault"] == ["body_b64", "status"]


def test_gzip_scripted_json(emu, ctl):
    body = {"error": {"message": "slow down", "code": 429}}
    ctl.add_fault(r"^/v1/models$", status=429, body=body, gzip=True)
    r = raw_get(f"{emu.url}/v1/models")
    wire = r.raw.read(decode_content=False)
    assert r.status_code == 429 and r.headers["Content-Encoding"] == "gzip"
    assert int(r.headers["Content-Length"]) == len(wire) and json.loads(zlib.decompress(wire, 31)) == body


def test_gzip_of_zeros_inflates_exactly(emu, ctl):
    n = 64 << 20
    ctl.add_fault(r"/content$", gzip_of_zeros=n, headers={"Content-Type": "video/mp4"})
    r = raw_get(f"{emu.url}/v1/videos/{new_video(emu)}/content")
    wire = r.raw.read(decode_content=False)
    assert r.status_code == 200 and r.headers["Content-Encoding"] == "gzip" and r.headers["Content-Type"] == "video/mp4"
    assert int(r.headers["Content-Length"]) == len(wire) < n // 500
    assert inflate_count(wire, 0) == n


def test_one_gib_bomb_is_small_and_quick(emu, ctl):
    n = 1 << 30
    ctl.add_fault(r"^/v1/models$", gzip_of_zeros=n)
    t0 = time.monotonic()
    r = raw_get(f"{emu.url}/v1/models")
    wire = r.raw.read(decode_content=False)
    assert time.monotonic() - t0 < 10 and len(wire) == int(r.headers["Content-Length"]) < 1_100_000
    _crc, isize = struct.unpack("<II", wire[-8:])
    assert isize == n & 0xFFFFFFFF
    d = zlib.decompressobj(31)
    assert d.decompress(wire[:4096], 1 << 20) == bytes(1 << 20)  # the start inflates to zeros


def test_gzip_json_status_padded_to_n_bytes(emu, ctl):
    n = 8 << 20
    ctl.add_fault(r"^/v1/videos/video_", method="GET", body={"status": "in_progress", "progress": 5},
                  pad_to_bytes=n, gzip=True)
    r = raw_get(f"{emu.url}/v1/videos/{new_video(emu)}")
    wire = r.raw.read(decode_content=False)
    inflated = zlib.decompress(wire, 31)
    assert len(inflated) == n and len(wire) < n // 100
    obj = json.loads(inflated)
    assert obj["status"] == "in_progress" and obj["progress"] == 5 and set(obj["pad"]) == {" "}
    ctl.add_fault(r"^/v1/models$", body={}, pad_to_bytes=100)  # plain, no gzip
    r = requests.get(f"{emu.url}/v1/models", headers=BEARER)
    assert len(r.content) == 100 and set(r.json()) == {"pad"} and r.headers.get("Content-Encoding") is None


def test_scripted_redirect_still_works(emu, ctl):
    ctl.add_fault(r"^/v1/models$", status=302, headers={"Location": f"{emu.cdn_url}/elsewhere"})
    r = requests.get(f"{emu.url}/v1/models", headers=BEARER, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == f"{emu.cdn_url}/elsewhere"


@pytest.mark.parametrize("bad", [
    {"body_b64": "not base64!"}, {"body": {}, "body_b64": "AA=="}, {"gzip_of_zeros": -1}, {"gzip": "yes"},
    {"pad_to_bytes": 10, "body": "text"}, {"drip_bytes": 0}, {"drip_interval_s": 301}, {"close_delimited": 1},
    {"bump_version": "true"}, {"truncate_to_bytes": 1, "reset_after_bytes": 1}])
def test_hostile_fault_validation(emu, ctl, bad):
    assert requests.post(f"{emu.url}/_emulator/faults", json={"path": "x", **bad}).status_code == 400


# ---------------------------------------------------------------------------------------- drip


def test_drip_scripted_and_normal_bodies(emu, ctl):
    ctl.add_fault(r"^/v1/models$", body={"data": "x" * 380}, drip_bytes=100, drip_interval_s=0.05)
    t0 = time.monotonic()
    r = requests.get(f"{emu.url}/v1/models", headers=BEARER)
    assert r.json() == {"data": "x" * 380} and time.monotonic() - t0 >= 0.15  # 4 pieces, 3+ pauses
    vid = new_video(emu)
    expected = ctl.video(vid)
    ctl.add_fault(r"/content$", drip_bytes=8192, drip_interval_s=0.01)
    arrivals = []
    with requests.get(f"{emu.url}/v1/videos/{vid}/content", headers=BEARER, stream=True) as r:
        body = b"".join(arrivals.append(time.monotonic()) or c for c in r.iter_content(8192))
    assert body == expected and arrivals[-1] - arrivals[0] >= 0.01
    ctl.add_fault(r"^/v1/videos/video_", method="GET", drip_bytes=10, drip_interval_s=0.02)  # a handler's JSON
    assert requests.get(f"{emu.url}/v1/videos/{vid}", headers=BEARER).json()["id"] == vid


def test_drip_stops_at_the_cap(emu, ctl, monkeypatch):
    monkeypatch.setattr(transport, "DRIP_MAX_S", 0.3)
    ctl.add_fault(r"^/v1/models$", body={"pad": "x" * 10_000}, drip_bytes=100, drip_interval_s=0.1)
    t0 = time.monotonic()
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(f"{emu.url}/v1/models", headers=BEARER)
    assert time.monotonic() - t0 < 3


def test_drip_stops_when_the_client_leaves(emu, ctl):
    ctl.add_fault(r"^/v1/models$", body={"pad": "x" * 100_000}, drip_bytes=10, drip_interval_s=0.05)  # ~8 min
    with requests.get(f"{emu.url}/v1/models", headers=BEARER, stream=True) as r:
        next(r.iter_content(10))
    deadline = time.monotonic() + 5
    while ctl.requests()[-1]["status"] is None:  # set when the handler returns
        assert time.monotonic() < deadline
        time.sleep(0.05)


# ------------------------------------------------------------------------------ close-delimited


def test_close_delimited_truncation_has_no_framing(emu, ctl):
    vid = new_video(emu)
    ctl.add_fault(r"/content$", close_delimited=True, truncate_to_bytes=1000, times=2)
    host, port = emu.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        request = f"GET /v1/videos/{vid}/content HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\r\n"
        sock.sendall(request.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    names = {line.split(":", 1)[0].lower() for line in lines[1:]}
    assert lines[0] == "HTTP/1.1 200 OK" and "Connection: close" in lines
    assert not names & {"content-length", "transfer-encoding"} and "etag" in names
    assert body == ctl.video(vid)[:1000]
    r = requests.get(f"{emu.url}/v1/videos/{vid}/content", headers=BEARER)  # a client sees no error at all
    assert r.status_code == 200 and len(r.content) == 1000
    assert requests.get(f"{emu.url}/v1/models", headers=BEARER).status_code == 200  # the server is fine


# ------------------------------------------------------------------------- validators, If-Range


def test_media_validators_and_if_range(emu, ctl):
    vid = new_video(emu)
    full = ctl.video(vid)
    url = f"{emu.url}/v1/videos/{vid}/content"
    r = requests.get(url, headers=BEARER)
    etag, modified = r.headers["ETag"], r.headers["Last-Modified"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/") and modified.endswith("GMT")
    cases = [(etag, 206), (modified, 206), ('"other"', 200), (f"W/{etag}", 200),
             ("Thu, 01 Jan 1970 00:00:00 GMT", 200), ("garbage", 200)]
    for validator, status in cases:
        r = requests.get(url, headers={**BEARER, "Range": "bytes=100-", "If-Range": validator})
        assert r.status_code == status, validator
        assert r.content == (full[100:] if status == 206 else full)
    assert requests.get(f"{emu.cdn_url}/cdn/x/y.mp4").status_code == 404


def test_bump_version_splices_a_resume_without_if_range(emu, ctl):
    vid = new_video(emu)
    old, old_sha = ctl.video(vid), ctl.sha256(vid)
    url = f"{emu.url}/v1/videos/{vid}/content"
    ctl.add_fault(r"/content$", truncate_to_bytes=5000, bump_version=True)
    got = bytearray()
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        with requests.get(url, headers=BEARER, stream=True) as r:
            old_etag = r.headers["ETag"]
            for chunk in r.iter_content(100):
                got += chunk
    assert bytes(got) == old[:5000]
    new = ctl.video(vid)
    new_sha = ctl.sha256(vid)
    assert len(new) == len(old) and new != old and new_sha["size"] == old_sha["size"]
    assert new_sha["sha256"] == sha(new) != old_sha["sha256"] and ctl.job(vid)["version"] == 1
    r = requests.get(url, headers={**BEARER, "Range": "bytes=5000-"})  # no If-Range: a splice
    assert r.status_code == 206 and r.headers["ETag"] != old_etag
    spliced = bytes(got) + r.content
    assert len(spliced) == len(old) and spliced not in (old, new)
    r = requests.get(url, headers={**BEARER, "Range": "bytes=5000-", "If-Range": old_etag})
    assert r.status_code == 200 and r.content == new  # If-Range saves the client
    assert new[12:16] == struct.pack(">I", 1) and new[:4] == old[:4]  # ftyp minor_version carries the version


def test_bump_version_on_a_minimum_size_video(emu, ctl):
    ctl.set_config(video_bytes=len(sample_clip()) + 8)
    vid = new_video(emu)
    old = ctl.video(vid)
    ctl.add_fault(r"/content$", bump_version=True)
    assert requests.get(f"{emu.url}/v1/videos/{vid}/content", headers=BEARER).content == old
    assert ctl.video(vid) != old and len(ctl.video(vid)) == len(old)


# ---------------------------------------------------------------------------- compressed media


def test_compress_media(emu, ctl):
    ctl.set_config(compress_media=True, video_bytes=2_000_000)
    vid = new_video(emu)
    full = ctl.video(vid)
    url = f"{emu.url}/v1/videos/{vid}/content"
    r = raw_get(url)  # requests sends Accept-Encoding: gzip, deflate
    wire = r.raw.read(decode_content=False)
    assert r.headers["Content-Encoding"] == "gzip" and "Content-Length" not in r.headers
    assert len(wire) != len(full) and zlib.decompress(wire, 31) == full
    assert r.headers["ETag"] != requests.get(url, headers={**BEARER, "Accept-Encoding": "identity"}).headers["ETag"]
    r = requests.get(url, headers={**BEARER, "Accept-Encoding": "identity"})
    assert "Content-Encoding" not in r.headers and r.headers["Content-Length"] == str(len(full)) and r.content == full
    r = requests.get(url, headers={**BEARER, "Accept-Encoding": "gzip;q=0, br"})
    assert "Content-Encoding" not in r.headers
    r = requests.get(url, headers={**BEARER, "Range": "bytes=10-19"})
    assert r.status_code == 206 and "Content-Encoding" not in r.headers and r.content == full[10:20]
    assert requests.get(url, headers=BEARER).content == full  # a decoding client gets the video


# --------------------------------------------------------------------------------- inline Gemini


def test_gemini_inline_video_streamed(emu, ctl):
    ctl.set_config(gemini_download="inline", video_bytes=len(sample_clip()) + 2 * B64_CHUNK + 7)
    r = requests.post(f"{emu.url}/v1beta/models/{VEO}:predictLongRunning", headers=GOOG,
                      json={"instances": [{"prompt": "p"}]})
    name = r.json()["name"]
    r = requests.get(f"{emu.url}/v1beta/{name}", headers=GOOG)
    assert int(r.headers["Content-Length"]) == len(r.content)
    sample = r.json()["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]
    assert set(sample) == {"encodedVideo", "encoding"} and sample["encoding"] == "video/mp4"
    assert sha(base64.b64decode(sample["encodedVideo"])) == ctl.sha256(name)["sha256"]
    r = requests.post(f"{emu.url}/gemini/v1beta/models/veo-3.0-generate-preview:predictLongRunning", headers=GOOG,
                      json={"instances": [{"prompt": "p"}]})
    done = requests.get(f"{emu.url}/gemini/v1beta/{r.json()['name']}", headers=GOOG).json()
    assert "uri" in done["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]  # Thực Chiến: uri
