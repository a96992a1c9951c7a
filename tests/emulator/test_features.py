"""Emulator side of the provider's newer features: several samples per Gemini operation, Veo
extension, first/last frame and reference images, remix, preview variants, delete and cancel.
Expected shapes come from the public contracts cited in airflow_provider_videogen/emulator
(python-genai for the Gemini body, openai-python resources/videos.py for remix, variants and delete,
google.longrunning CancelOperation for ``:cancel``)."""

from __future__ import annotations

import base64
import hashlib
import re
import struct

import pytest
import requests
from mp4check import top_level_boxes, video_track_present

from airflow_provider_videogen.emulator import EmulatorError
from airflow_provider_videogen.emulator.videos import sample_clip

KEY = "sk-test-key-123"
BEARER = {"Authorization": f"Bearer {KEY}"}
GOOG = {"x-goog-api-key": KEY}
VEO = "veo-3.1-generate-preview"
THUC = "veo-3.0-generate-preview"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPG = b"\xff\xd8\xff\xe0" + b"\x01" * 40 + b"\xff\xd9"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64image(data: bytes = PNG, mime: str = "image/png") -> dict[str, str]:
    return {"bytesBase64Encoded": base64.b64encode(data).decode(), "mimeType": mime}


def gemini_post(emu, instance=None, parameters=None, prefix="", model=None):
    body = {"instances": [{"prompt": "a hummingbird", **(instance or {})}]}
    if parameters is not None:
        body["parameters"] = parameters
    model = model or (THUC if prefix == "/gemini" else VEO)
    return requests.post(f"{emu.url}{prefix}/v1beta/models/{model}:predictLongRunning", headers=GOOG, json=body)


def gemini_submit(emu, instance=None, parameters=None, prefix=""):
    r = gemini_post(emu, instance, parameters, prefix)
    assert r.status_code == 200, r.text
    return r.json()["name"]


def operation(emu, name, prefix=""):
    return requests.get(f"{emu.url}{prefix}/v1beta/{name}", headers=GOOG)


def samples(emu, name, prefix=""):
    return operation(emu, name, prefix).json()["response"]["generateVideoResponse"]["generatedSamples"]


def file_id(uri: str) -> str:
    return re.fullmatch(r"https://generativelanguage\.googleapis\.com/v1beta/files/([a-z0-9]+):download\?alt=media",
                        uri)[1]


def post_video(emu, prompt="p", **fields):
    parts = {"model": VEO, "prompt": prompt, **fields}
    return requests.post(f"{emu.url}/v1/videos", headers=BEARER,
                         files={k: v if isinstance(v, tuple) else (None, v) for k, v in parts.items()})


def new_video(emu, prompt="p") -> str:
    r = post_video(emu, prompt)
    assert r.status_code == 200, r.text
    return r.json()["id"]


def remix(emu, video_id, body=None, headers=BEARER):
    return requests.post(f"{emu.url}/v1/videos/{video_id}/remix", headers=headers,
                         json={"prompt": "now at night"} if body is None else body)


def invalid_url(r, method, path):
    assert r.status_code == 404, r.text
    assert r.json()["error"]["message"] == f"Invalid URL ({method} {path})"


# ------------------------------------------------------------------------ several samples (Gemini)


@pytest.mark.parametrize("prefix", ["", "/gemini"])
def test_sample_count_gives_distinct_videos_per_file_id(emu, ctl, prefix):
    name = gemini_submit(emu, parameters={"sampleCount": 3}, prefix=prefix)
    uris = [s["video"]["uri"] for s in samples(emu, name, prefix)]
    ids = [file_id(u) for u in uris]
    assert len(set(ids)) == 3
    job = ctl.job(name)
    assert job["sample_count"] == 3 and job["file_ids"] == ids and job["file_id"] == ids[0]
    assert job["params"]["parameters"] == {"sampleCount": 3}
    listed = ctl.videos(name)
    assert [v["index"] for v in listed] == [0, 1, 2] and [v["file_id"] for v in listed] == ids
    assert len({v["sha256"] for v in listed}) == 3 and {v["size"] for v in listed} == {job["video_bytes"]}
    assert ctl.sha256(name) == {"sha256": listed[0]["sha256"], "size": job["video_bytes"]}  # still the first
    download = "/gemini/download/v1beta" if prefix else "/v1beta"
    ctl.set_config(gemini_download="bytes")
    for entry in listed:
        video = requests.get(f"{emu.url}{download}/files/{entry['file_id']}:download?alt=media", headers=GOOG).content
        assert sha(video) == entry["sha256"] == ctl.sha256(entry["file_id"])["sha256"]  # a file id names its sample
        assert video == ctl.video(entry["file_id"]) and video_track_present(video)
        assert [b[0] for b in top_level_boxes(video)][-1] == "free"
    for entry in listed:  # the redirect form: each file's own CDN link
        ctl.set_config(gemini_download="redirect", thucchien_download="redirect")
        r = requests.get(f"{emu.url}{download}/files/{entry['file_id']}:download?alt=media", headers=GOOG,
                         allow_redirects=False)
        assert r.status_code == 302 and sha(requests.get(r.headers["Location"]).content) == entry["sha256"]


def test_sample_count_inline_each_sample_its_own_bytes(emu, ctl):
    ctl.set_config(gemini_download="inline")
    name = gemini_submit(emu, parameters={"sampleCount": 2})
    r = operation(emu, name)
    assert int(r.headers["Content-Length"]) == len(r.content)
    got = [base64.b64decode(s["video"]["encodedVideo"]) for s in samples(emu, name)]
    assert [sha(v) for v in got] == [v["sha256"] for v in ctl.videos(name)] and got[0] != got[1]


def test_samples_differ_even_at_the_minimum_size_and_bump_per_video(emu, ctl):
    ctl.set_config(video_bytes=len(sample_clip()) + 8, gemini_download="bytes")
    name = gemini_submit(emu, parameters={"sampleCount": 2})
    before = ctl.videos(name)
    assert before[0]["sha256"] != before[1]["sha256"]
    second = before[1]["file_id"]
    ctl.add_fault(rf"/files/{second}:download$", bump_version=True)
    url = f"{emu.url}/v1beta/files/{second}:download?alt=media"
    first_etag = requests.get(url, headers=GOOG).headers["ETag"]
    after = ctl.videos(name)
    assert after[0] == before[0] and after[1]["sha256"] != before[1]["sha256"]  # only that sample re-rendered
    assert sha(requests.get(url, headers=GOOG).content) == after[1]["sha256"]
    assert requests.get(url, headers=GOOG).headers["ETag"] != first_etag


def test_one_video_entry_for_every_other_protocol(emu, ctl):
    vid = new_video(emu)
    assert ctl.videos(vid) == [{"index": 0, "file_id": None, "sha256": ctl.sha256(vid)["sha256"],
                                "size": ctl.sha256(vid)["size"]}]
    r = requests.post(f"{emu.url}/v1/video/generations", headers=BEARER,
                      json={"model": "veo-3.1-fast-generate-preview", "prompt": "p", "sampleCount": 3})
    task = r.json()["task_id"]
    status = requests.get(f"{emu.url}/v1/video/generations/{task}", headers=BEARER).json()
    assert isinstance(status["url"], str)  # one url: sampleCount > 1 still yields one video
    assert [v["file_id"] for v in ctl.videos(task)] == [None] and ctl.job(task)["params"]["sampleCount"] == 3
    name = gemini_submit(emu)
    assert [v["file_id"] for v in ctl.videos(name)] == [ctl.job(name)["file_id"]]
    failed = new_video(emu, "x [[fail]]")
    with pytest.raises(EmulatorError, match="404"):
        ctl.videos(failed)


# ------------------------------------------------------------ extension, last frame, references


def test_extension_records_the_source_video(emu, ctl):
    name = gemini_submit(emu, parameters={"sampleCount": 2})
    uris = [s["video"]["uri"] for s in samples(emu, name)]
    ext = gemini_submit(emu, {"video": {"uri": uris[1]}}, {"resolution": "720p", "personGeneration": "allow_all",
                                                           "enhancePrompt": True})
    job = ctl.job(ext)
    assert job["source_video"] == file_id(uris[1])
    assert job["params"]["parameters"] == {"resolution": "720p", "personGeneration": "allow_all",
                                           "enhancePrompt": True}
    encoded = base64.b64encode(ctl.video(file_id(uris[0]))).decode()  # by its bytes (inline samples)
    ext = gemini_submit(emu, {"video": {"encodedVideo": encoded, "encoding": "video/mp4"}})
    assert ctl.job(ext)["source_video"] == file_id(uris[0])
    assert "source_video" not in ctl.job(name)


def test_extension_refused_unless_a_finished_video_of_this_emulator(emu, ctl):
    def refused(video, prefix=""):
        r = gemini_post(emu, {"video": video}, prefix=prefix)
        assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT", r.text
        assert "instances[0].video" in r.json()["error"]["message"]

    done = samples(emu, gemini_submit(emu))[0]["video"]["uri"]
    refused({"uri": "https://generativelanguage.googleapis.com/v1beta/files/nosuchfile12:download?alt=media"})
    refused({"uri": "no file here"})
    refused({"uri": done, "encodedVideo": base64.b64encode(b"x").decode()})  # exactly one of the two
    refused({"encodedVideo": base64.b64encode(sample_clip()).decode()})  # not bytes this emulator generated
    refused({"encodedVideo": "not base64!"})
    failed = ctl.job(gemini_submit(emu, {"prompt": "x [[fail]]"}))["file_id"]
    refused({"uri": f"https://generativelanguage.googleapis.com/v1beta/files/{failed}:download?alt=media"})
    ctl.set_config(job_seconds=30)
    running = ctl.job(gemini_submit(emu))["file_id"]
    refused({"uri": f"https://generativelanguage.googleapis.com/v1beta/files/{running}:download?alt=media"})
    ctl.set_config(job_seconds=0)
    assert gemini_post(emu, {"video": {"uri": done}}, prefix="/gemini").status_code == 200  # Thực Chiến too
    vid = new_video(emu)  # an OpenAI-style job is no Veo file
    refused({"uri": f"https://generativelanguage.googleapis.com/v1beta/files/{vid}:download?alt=media"})
    ctl.set_config(strict=False)
    lenient = gemini_submit(emu, {"video": {"uri": "https://x/files/unknown"}})
    assert ctl.job(lenient)["source_video"] is None


def test_last_frame_and_reference_images_summarised(emu, ctl):
    name = gemini_submit(emu, {"image": b64image(), "lastFrame": b64image(JPG, "image/jpeg")})
    job = ctl.job(name)
    assert job["last_frame"] == {"size": len(JPG), "sha256": sha(JPG), "mime_type": "image/jpeg"}
    assert job["image"]["sha256"] == sha(PNG)
    refs = [{"image": b64image(PNG), "referenceType": "asset"}, {"image": b64image(JPG, "image/jpeg"),
                                                                 "referenceType": "STYLE"}]
    job = ctl.job(gemini_submit(emu, {"referenceImages": refs}))
    assert job["reference_images"] == [{"reference_type": "asset", "sha256": sha(PNG), "mime_type": "image/png"},
                                       {"reference_type": "style", "sha256": sha(JPG), "mime_type": "image/jpeg"}]
    assert "last_frame" not in job and "reference_images" not in ctl.job(name)
    r = gemini_post(emu, {"referenceImages": refs * 2})  # at most three
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert gemini_post(emu, parameters={"resolution": "4k"}).status_code == 200  # veo-3.1
    assert gemini_post(emu, parameters={"resolution": "4k"}, prefix="/gemini").status_code == 400  # veo-3.0


def test_mixroute_last_frame_summarised(emu, ctl):
    body = {"model": "veo-3.1-generate-preview", "prompt": "p", "image": "https://img.example/first.png",
            "lastFrame": "data:image/jpeg;base64," + base64.b64encode(JPG).decode(), "generateAudio": True,
            "seed": 7, "personGeneration": "allow_adult", "sampleCount": 2}
    r = requests.post(f"{emu.url}/v1/video/generations", headers=BEARER, json=body)
    assert r.status_code == 200, r.text
    job = ctl.job(r.json()["task_id"])
    assert job["image"] == {"url": "https://img.example/first.png"}
    assert job["last_frame"] == {"size": len(JPG), "sha256": sha(JPG), "mime_type": "image/jpeg"}
    assert job["params"]["seed"] == 7 and job["params"]["generateAudio"] is True
    body["model"] = "veo-3.0-generate-preview"  # lastFrame: veo-3.1 only
    assert requests.post(f"{emu.url}/v1/video/generations", headers=BEARER, json=body).status_code == 400


def test_hingnet_input_references_in_order(emu, ctl):
    ctl.set_config(gateway="hingnet")
    first, last, third = PNG, JPG, PNG + b"3"
    parts = [("model", (None, VEO)), ("prompt", (None, "a to b")), ("seconds", (None, "8")),
             ("input_reference", ("first.png", first, "image/png")),
             ("input_reference", ("last.jpg", last, "image/jpeg"))]
    r = requests.post(f"{emu.url}/v1/videos", headers=BEARER, files=parts)
    assert r.status_code == 200, r.text
    job = ctl.job(r.json()["id"])
    assert job["input_references"] == [{"sha256": sha(first), "mime_type": "image/png"},
                                       {"sha256": sha(last), "mime_type": "image/jpeg"}]
    assert job["image"]["sha256"] == sha(first)
    r = requests.post(f"{emu.url}/v1/videos", headers=BEARER,
                      files=[*parts, ("input_reference", ("ref3.png", third, "image/png"))])
    assert [ref["sha256"] for ref in ctl.job(r.json()["id"])["input_references"]] == [sha(first), sha(last),
                                                                                       sha(third)]
    r = requests.post(f"{emu.url}/v1/videos", headers=BEARER,
                      files=[*parts, *[("input_reference", (f"r{i}.png", PNG, "image/png")) for i in range(2)]])
    assert r.status_code == 400  # four files: more than three
    r = requests.post(f"{emu.url}/v1/videos", headers=BEARER, json={
        "model": VEO, "prompt": "p", "input_reference": ["https://i.example/a.png", "https://i.example/b.png"]})
    assert ctl.job(r.json()["id"])["input_references"] == [{"url": "https://i.example/a.png"},
                                                           {"url": "https://i.example/b.png"}]


# ------------------------------------------------------------------------------------ remix


def test_remix_lineage(emu, ctl):
    source = new_video(emu)
    r = remix(emu, source)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] != source and body["id"].startswith("video_") and body["status"] == "queued"
    assert body["remixed_from_video_id"] == source and body["prompt"] == "now at night" and body["model"] == VEO
    job = ctl.job(body["id"])
    assert job["remixed_from"] == source and job["protocol"] == "openai_videos"
    assert job["params"] == {"prompt": "now at night"}
    done = requests.get(f"{emu.url}/v1/videos/{body['id']}", headers=BEARER).json()
    assert done["status"] == "completed" and done["remixed_from_video_id"] == source
    video = requests.get(f"{emu.url}/v1/videos/{body['id']}/content", headers=BEARER).content
    assert sha(video) == ctl.sha256(body["id"])["sha256"] != ctl.sha256(source)["sha256"]
    assert "remixed_from" not in ctl.job(source)
    again = remix(emu, body["id"]).json()  # a remix of a remix
    assert again["remixed_from_video_id"] == body["id"]
    rec = next(x for x in ctl.requests() if x["path"].endswith("/remix"))
    assert rec["content_type"] == "application/json" and rec["body_shape"] == {"prompt": "string"}


def test_remix_refusals(emu, ctl):
    r = remix(emu, "video_nosuch")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    source = new_video(emu)
    r = remix(emu, source, {"prompt": "p", "seconds": "8"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_parameter"
    r = remix(emu, source, {})
    assert r.status_code == 400 and r.json()["error"]["code"] == "missing_required_parameter"
    r = requests.post(f"{emu.url}/v1/videos/{source}/remix", headers=BEARER, files={"prompt": (None, "p")})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unsupported_content_type"
    failed = new_video(emu, "x [[fail]]")
    assert remix(emu, failed).status_code == 400
    ctl.set_config(job_seconds=30)
    r = remix(emu, new_video(emu))
    assert r.status_code == 400 and r.json()["error"]["code"] == "video_not_ready"
    ctl.set_config(job_seconds=0)
    requests.delete(f"{emu.url}/v1/videos/{source}", headers=BEARER)
    assert remix(emu, source).status_code == 404  # deleted
    assert remix(emu, source, headers={}).status_code == 401  # auth first
    for gateway in ("hingnet", "tokenops"):
        ctl.set_config(gateway=gateway)
        invalid_url(remix(emu, source), "POST", f"/v1/videos/{source}/remix")


# ------------------------------------------------------------------------------ preview variants


def webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """RIFF chunks of a WebP file; checks the RIFF size and that the chunks tile the file."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    out, pos = [], 12
    while pos < len(data):
        size = struct.unpack("<I", data[pos + 4:pos + 8])[0]
        out.append((data[pos:pos + 4], data[pos + 8:pos + 8 + size]))
        pos += 8 + size + size % 2
    assert pos == len(data)
    return out


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the SOF0 segment, walking the segments from SOI."""
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    pos = 2
    while True:
        marker, length = data[pos + 1], struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return width, height
        pos += 2 + length


def test_preview_variants_are_real_images(emu, ctl):
    vid, other = new_video(emu), new_video(emu)
    url = f"{emu.url}/v1/videos/{vid}/content"
    r = requests.get(url, params={"variant": "thumbnail"}, headers=BEARER)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/webp"
    chunks = webp_chunks(r.content)
    assert [c[0] for c in chunks][:2] == [b"VP8X", b"VP8L"]
    vp8x, vp8l = chunks[0][1], chunks[1][1]
    assert int.from_bytes(vp8x[4:7], "little") + 1 == 64 and int.from_bytes(vp8x[7:10], "little") + 1 == 36
    bits = int.from_bytes(vp8l[1:5], "little")  # VP8L: signature 0x2f, 14-bit width-1, 14-bit height-1
    assert vp8l[0] == 0x2F and (bits & 0x3FFF) + 1 == 64 and ((bits >> 14) & 0x3FFF) + 1 == 36
    assert sha(r.content) == ctl.variant_sha256(vid, "thumbnail")["sha256"]
    assert ctl.variant_sha256(vid, "thumbnail")["content_type"] == "image/webp"
    r = requests.get(url, params={"variant": "spritesheet"}, headers=BEARER)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg"
    assert jpeg_size(r.content) == (64, 36)
    assert ctl.variant_sha256(vid, "spritesheet") == {"sha256": sha(r.content), "size": len(r.content),
                                                      "content_type": "image/jpeg"}
    for variant in ("thumbnail", "spritesheet"):  # every job its own bytes
        assert ctl.variant_sha256(vid, variant)["sha256"] != ctl.variant_sha256(other, variant)["sha256"]
    video = requests.get(url, params={"variant": "video"}, headers=BEARER)
    assert video.headers["Content-Type"] == "video/mp4"
    assert ctl.variant_sha256(vid, "video") == {**ctl.sha256(vid), "content_type": "video/mp4"}


def test_preview_variant_refusals(emu, ctl):
    vid = new_video(emu)
    r = requests.get(f"{emu.url}/v1/videos/{vid}/content", params={"variant": "poster"}, headers=BEARER)
    assert r.status_code == 400 and r.json()["error"]["param"] == "variant"
    with pytest.raises(EmulatorError, match="404"):
        ctl.variant_sha256(vid, "poster")
    with pytest.raises(EmulatorError, match="404"):  # Gemini operations have no previews
        ctl.variant_sha256(gemini_submit(emu), "thumbnail")
    failed = new_video(emu, "x [[fail]]")
    assert requests.get(f"{emu.url}/v1/videos/{failed}/content", params={"variant": "thumbnail"},
                        headers=BEARER).status_code == 400
    ctl.set_config(job_seconds=30)
    running = new_video(emu)
    for variant in ("thumbnail", "spritesheet"):
        r = requests.get(f"{emu.url}/v1/videos/{running}/content", params={"variant": variant}, headers=BEARER)
        assert r.status_code == 400 and r.json()["error"]["code"] == "video_not_ready"
    ctl.set_config(job_seconds=0)
    for gateway in ("hingnet", "tokenops"):  # they document the video only
        ctl.set_config(gateway=gateway)
        r = requests.get(f"{emu.url}/v1/videos/{vid}/content", params={"variant": "thumbnail"}, headers=BEARER)
        assert r.status_code == 400, gateway
        assert requests.get(f"{emu.url}/v1/videos/{vid}/content", headers=BEARER).status_code == 200


# ---------------------------------------------------------------------------- delete and cancel


def test_openai_delete_cancels_the_job(emu, ctl):
    ctl.set_config(job_seconds=30)
    vid = new_video(emu)
    r = requests.delete(f"{emu.url}/v1/videos/{vid}", headers=BEARER)
    assert r.status_code == 200 and r.json() == {"id": vid, "object": "video.deleted", "deleted": True}
    body = requests.get(f"{emu.url}/v1/videos/{vid}", headers=BEARER).json()
    assert body["status"] == "failed" and body["error"]["code"] == "cancelled"
    assert requests.get(f"{emu.url}/v1/videos/{vid}/content", headers=BEARER).status_code == 404
    job = ctl.job(vid)
    assert job["cancelled"] is True and job["state"] == "cancelled"
    with pytest.raises(EmulatorError, match="cancelled"):
        ctl.sha256(vid)
    assert requests.delete(f"{emu.url}/v1/videos/{vid}", headers=BEARER).json()["deleted"] is True  # again
    assert requests.delete(f"{emu.url}/v1/videos/video_nosuch", headers=BEARER).status_code == 404
    ctl.set_config(job_seconds=0)
    done = new_video(emu)
    assert ctl.job(done)["cancelled"] is False
    requests.delete(f"{emu.url}/v1/videos/{done}", headers=BEARER)  # a finished video: gone as well
    assert requests.get(f"{emu.url}/v1/videos/{done}/content", headers=BEARER).status_code == 404
    assert requests.get(f"{emu.url}/v1/videos/{done}/content", params={"variant": "thumbnail"},
                        headers=BEARER).status_code == 404
    assert requests.delete(f"{emu.url}/v1/videos/{done}").status_code == 401


@pytest.mark.parametrize("gateway", ["hingnet", "tokenops"])
def test_no_delete_outside_the_openai_contract(emu, ctl, gateway):
    vid = new_video(emu)
    ctl.set_config(gateway=gateway)
    invalid_url(requests.delete(f"{emu.url}/v1/videos/{vid}", headers=BEARER), "DELETE", f"/v1/videos/{vid}")
    assert ctl.job(vid)["cancelled"] is False


@pytest.mark.parametrize("prefix", ["", "/gemini"])
def test_gemini_cancel(emu, ctl, prefix):
    ctl.set_config(job_seconds=30)
    name = gemini_submit(emu, prefix=prefix)
    assert not operation(emu, name, prefix).json().get("done")
    r = requests.post(f"{emu.url}{prefix}/v1beta/{name}:cancel", headers=GOOG)
    assert r.status_code == 200 and r.json() == {}
    assert operation(emu, name, prefix).json() == {"name": name, "done": True,
                                                   "error": {"code": 1, "message": "CANCELLED"}}
    job = ctl.job(name)
    assert job["cancelled"] is True
    ctl.set_config(job_seconds=0, gemini_download="bytes")
    assert requests.get(f"{emu.url}/v1beta/files/{job['file_id']}:download?alt=media", headers=GOOG).status_code == 404
    r = requests.post(f"{emu.url}{prefix}/v1beta/{name}:cancel", headers=GOOG, json={})  # an empty object is fine
    assert r.status_code == 200
    r = requests.post(f"{emu.url}{prefix}/v1beta/{name}:cancel", headers=GOOG, json={"force": True})
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    r = requests.post(f"{emu.url}{prefix}/v1beta/models/{VEO}/operations/nosuchop:cancel", headers=GOOG)
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"


def test_no_cancel_on_mixroute(emu, ctl):
    task = requests.post(f"{emu.url}/v1/video/generations", headers=BEARER,
                         json={"model": "veo-3.1-fast-generate-preview", "prompt": "p"}).json()["task_id"]
    for method, path in (("DELETE", f"/v1/video/generations/{task}"), ("POST", f"/v1/video/generations/{task}/cancel")):
        invalid_url(requests.request(method, emu.url + path, headers=BEARER), method, path)
    assert ctl.job(task)["cancelled"] is False
