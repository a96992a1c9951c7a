"""Gateway emulator over real HTTP: every protocol's round trip, auth, download forms, Range,
faults, the request record and the padded videos. Expected shapes come from the gateways' public
documents (AI Thực Chiến docs.thucchien.ai, HingNet 视频下载 docs.hingnet.com.cn, MixRoute
docs.mixroute.ai, TokenOps docs-model.skyengine.com.cn, the Gemini API and OpenAI references), not
from the client code. Strictness rules: test_rules.py; hostile faults: test_hostile.py."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import subprocess
import time

import pytest
import requests
from mp4check import handler_types, top_level_boxes, video_track_present

from airflow_provider_videogen.emulator import EmulatorProcess
from airflow_provider_videogen.emulator.videos import B64_CHUNK, VideoSource, sample_clip

KEY = "sk-test-key-123"
BEARER = {"Authorization": f"Bearer {KEY}"}
GOOG = {"x-goog-api-key": KEY}
VEO = "veo-3.1-generate-preview"  # served by the Gemini API and by the default (OpenAI-compatible) gateway
THUC = "veo-3.0-generate-preview"  # AI Thực Chiến's documented model
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def post_video(emu, prompt="p", **fields):
    """``POST /v1/videos`` as multipart (text parts only unless a file tuple is given)."""
    parts = {"model": VEO, "prompt": prompt, **fields}
    return requests.post(f"{emu.url}/v1/videos", headers=BEARER,
                         files={k: v if isinstance(v, tuple) else (None, v) for k, v in parts.items()})


def submit_video(emu, prompt="p", **fields):
    r = post_video(emu, prompt, **fields)
    assert r.status_code == 200, r.text
    return r.json()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def wait_for(fn, timeout: float = 5.0):
    """Call ``fn`` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = fn()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def gemini_submit(emu, prompt="a hummingbird", prefix="", **instance):
    model = THUC if prefix == "/gemini" else VEO
    r = requests.post(f"{emu.url}{prefix}/v1beta/models/{model}:predictLongRunning", headers=GOOG,
                      json={"instances": [{"prompt": prompt, **instance}], "parameters": {"durationSeconds": 8}})
    assert r.status_code == 200, r.text
    return r.json()["name"]


# ------------------------------------------------------------------------------------ Gemini


def test_gemini_google_round_trip(emu, ctl):
    ctl.set_config(job_seconds=0.4)
    big_png = PNG + bytes(8000)  # its base64 is too long to keep in the job's params
    image = {"bytesBase64Encoded": base64.b64encode(big_png).decode(), "mimeType": "image/png"}
    name = gemini_submit(emu, image=image)
    assert re.fullmatch(rf"models/{VEO}/operations/[a-z0-9]{{12}}", name)
    running = requests.get(f"{emu.url}/v1beta/{name}", headers=GOOG).json()
    assert running["name"] == name and not running.get("done")
    done = wait_for(lambda: (b := requests.get(f"{emu.url}/v1beta/{name}", headers=GOOG).json()).get("done") and b)
    uri = done["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"]
    file_id = re.fullmatch(r"https://generativelanguage\.googleapis\.com/v1beta/files/([a-z0-9]+):download\?alt=media",
                           uri).group(1)
    assert done == {  # exactly the structure of AI Thực Chiến's "Kiểm tra trạng thái video" example
        "name": name, "done": True,
        "response": {"@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
                     "generateVideoResponse": {"generatedSamples": [{"video": {"uri": uri}}]}}}
    job = ctl.job(name)
    assert job["protocol"] == "gemini" and job["file_id"] == file_id and job["has_image"]
    assert job["image"]["sha256"] == sha(big_png) and job["image"]["mime_type"] == "image/png"
    assert job["params"]["parameters"] == {"durationSeconds": 8}
    assert job["params"]["instances"][0]["image"] == {
        "bytesBase64Encoded": f"<{len(image['bytesBase64Encoded'])} chars omitted>", "mimeType": "image/png"}
    # Google's download redirects to storage (the CDN site) by default
    r = requests.get(f"{emu.url}/v1beta/files/{file_id}:download?alt=media", headers=GOOG, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].startswith(emu.cdn_url + "/cdn/")
    video = requests.get(r.headers["Location"]).content
    assert sha(video) == ctl.sha256(name)["sha256"] and video_track_present(video)
    ctl.set_config(gemini_download="bytes")
    r = requests.get(f"{emu.url}/v1beta/files/{file_id}:download?alt=media", headers=GOOG, allow_redirects=False)
    assert r.status_code == 200 and r.headers["Content-Type"] == "video/mp4" and r.content == video


def test_thucchien_round_trip_and_redirect_option(emu, ctl):
    name = gemini_submit(emu, prefix="/gemini")
    done = requests.get(f"{emu.url}/gemini/v1beta/{name}", params={"key": KEY}).json()  # ?key= also works
    file_id = done["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"].split("/files/")[1][:12]
    url = f"{emu.url}/gemini/download/v1beta/files/{file_id}:download?alt=media"
    r = requests.get(url, headers=GOOG, allow_redirects=False)
    assert r.status_code == 200 and r.headers["Content-Type"] == "video/mp4"
    assert int(r.headers["Content-Length"]) == len(r.content) == ctl.sha256(name)["size"]
    assert sha(r.content) == ctl.sha256(file_id)["sha256"]  # control API accepts the file id too
    ctl.set_config(thucchien_download="redirect")
    r = requests.get(url, headers=GOOG, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].startswith(emu.cdn_url)
    models = requests.get(f"{emu.url}/gemini/v1beta/models", headers=GOOG).json()["models"]
    assert [m["name"] for m in models] == ["models/veo-3.0-generate-preview", "models/veo-3.0-generate-001"]


def test_gemini_failed_filtered_and_unknown(emu, ctl):
    failed = requests.get(f"{emu.url}/v1beta/{gemini_submit(emu, 'x [[fail]]')}", headers=GOOG).json()
    assert failed["done"] is True and "response" not in failed
    assert failed["error"]["message"] == "The video could not be generated (emulated failure)"
    name = gemini_submit(emu, "x [[filtered]]")
    filtered = requests.get(f"{emu.url}/v1beta/{name}", headers=GOOG).json()
    gvr = filtered["response"]["generateVideoResponse"]
    assert filtered["done"] is True and "error" not in filtered and "generatedSamples" not in gvr
    assert gvr["raiMediaFilteredCount"] == 1 and "emulated safety filter" in gvr["raiMediaFilteredReasons"][0]
    assert ctl.job(name)["state"] == "filtered"
    r = requests.get(f"{emu.url}/gemini/download/v1beta/files/{ctl.job(name)['file_id']}:download?alt=media",
                     headers=GOOG)
    assert r.status_code == 404
    r = requests.get(f"{emu.url}/gemini/v1beta/models/{VEO}/operations/nosuchop", headers=GOOG)
    assert r.status_code == 404
    assert r.json() == {"error": {"code": 404, "message": "Operation not found", "status": "NOT_FOUND"}}


# ------------------------------------------------------------------------- OpenAI /v1/videos


def test_openai_videos_json_round_trip_with_progress(emu, ctl):
    ctl.set_config(job_seconds=0.6)
    r = requests.post(f"{emu.url}/v1/videos", headers=BEARER,  # JSON: the OpenAI API reference's JSON body
                      json={"model": VEO, "prompt": "a cat", "seconds": "8", "size": "1280x720"})
    created = r.json()
    assert r.headers["openai-poll-after-ms"] == "1000"
    assert re.fullmatch(r"video_[0-9a-f]{32}", created["id"]) and created["object"] == "video"
    assert (created["status"], created["progress"], created["seconds"]) == ("queued", 0, "8")
    assert created["size"] == "1280x720"
    vid = created["id"]
    r = requests.get(f"{emu.url}/v1/videos/{vid}/content", headers=BEARER)
    assert r.status_code == 400
    assert r.json() == {"error": {"message": "Video is not ready", "type": "invalid_request_error", "param": None,
                                  "code": "video_not_ready"}}
    mid = wait_for(lambda: (b := requests.get(f"{emu.url}/v1/videos/{vid}", headers=BEARER).json())["status"]
                   == "in_progress" and b)
    assert 0 < mid["progress"] < 100 and "completed_at" not in mid
    done = wait_for(lambda: (b := requests.get(f"{emu.url}/v1/videos/{vid}", headers=BEARER).json())["status"]
                    == "completed" and b)
    assert done["progress"] == 100 and done["expires_at"] == done["completed_at"] + 3600
    r = requests.get(f"{emu.url}/v1/videos/{vid}/content", headers=BEARER)
    assert r.status_code == 200 and r.headers["Content-Type"] == "video/mp4"
    assert sha(r.content) == ctl.sha256(vid)["sha256"] and r.content == ctl.video(vid)
    r = requests.get(f"{emu.url}/v1/videos/video_unknown/content", headers=BEARER)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = requests.get(f"{emu.url}/v1/videos/video_unknown", headers=BEARER)
    assert r.json() == {"error": {"message": "Video not found", "type": "invalid_request_error", "param": None,
                                  "code": "not_found"}}


def test_hingnet_videos_multipart_with_image(emu, ctl):
    ctl.set_config(gateway="hingnet")  # HingNet /gemini/video.md: Veo multipart with -F input_reference=@image.jpg
    r = post_video(emu, "waves", model="veo-3.1-fast-generate-preview", seconds="6", size="720x1280",
                   input_reference=("frame.png", PNG, "image/png"))
    assert r.status_code == 200 and r.json()["seconds"] == "6"
    job = ctl.job(r.json()["id"])
    assert job["protocol"] == "openai_videos" and job["model"] == "veo-3.1-fast-generate-preview"
    assert job["params"] == {"model": "veo-3.1-fast-generate-preview", "prompt": "waves", "seconds": "6",
                             "size": "720x1280"}  # no binary
    assert job["has_image"] and job["image"]["sha256"] == sha(PNG) and job["image"]["filename"] == "frame.png"
    r = requests.post(f"{emu.url}/v1/videos", headers=BEARER, files={"model": (None, VEO)})
    assert r.status_code == 400 and r.json()["error"]["code"] == "missing_required_parameter"


@pytest.mark.parametrize(("vocab", "queued", "done"), [
    ("openai", "queued", "completed"), ("hingnet", "queued", "success"),
    ("hingnet_veo", "queued", "completed"), ("tokenops", "pending", "completed")])
def test_status_vocabularies(emu, ctl, vocab, queued, done):
    ctl.set_config(status_vocab=vocab)
    r = post_video(emu)
    assert r.json()["status"] == queued
    assert ("openai-poll-after-ms" in r.headers) == (vocab == "openai")
    body = requests.get(f"{emu.url}/v1/videos/{r.json()['id']}", headers=BEARER).json()
    assert body["status"] == done
    assert ("video_url" in body) == (vocab == "hingnet_veo")
    if vocab == "hingnet_veo":
        assert body["video_url"].startswith(emu.cdn_url)
        assert sha(requests.get(body["video_url"]).content) == ctl.sha256(body["id"])["sha256"]
    failed = submit_video(emu, "p [[fail]]")
    assert requests.get(f"{emu.url}/v1/videos/{failed['id']}", headers=BEARER).json()["status"] == "failed"


def test_content_forms_and_poll_header_config(emu, ctl):
    vid = submit_video(emu)["id"]
    expected = ctl.sha256(vid)["sha256"]
    ctl.set_config(content_form="redirect", poll_after_ms=None)
    r = requests.get(f"{emu.url}/v1/videos/{vid}/content", headers=BEARER, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].startswith(emu.cdn_url + "/cdn/")
    assert sha(requests.get(r.headers["Location"]).content) == expected
    assert "openai-poll-after-ms" not in requests.get(f"{emu.url}/v1/videos/{vid}", headers=BEARER).headers
    ctl.set_config(content_form="json_url")
    r = requests.get(f"{emu.url}/v1/videos/{vid}/content", headers=BEARER)
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"video_url", "expires_at"} and body["video_url"].startswith(emu.cdn_url)
    assert body["expires_at"] == ctl.job(vid)["created"] // 1 + 3600
    assert sha(requests.get(body["video_url"]).content) == expected
    assert requests.get(body["video_url"].replace("/cdn/", "/cdn/x")).status_code == 404  # wrong token


def test_openai_failures(emu, ctl):
    for prompt, code in (("[[fail]] p", "video_generation_failed"), ("[[filtered]] p", "moderation_blocked")):
        vid = submit_video(emu, prompt)["id"]
        body = requests.get(f"{emu.url}/v1/videos/{vid}", headers=BEARER).json()
        assert body["status"] == "failed" and body["error"]["code"] == code and "completed_at" not in body
        assert requests.get(f"{emu.url}/v1/videos/{vid}/content", headers=BEARER).status_code == 400
    assert "filter" in body["error"]["message"]
    ctl.set_config(gateway="tokenops", job_seconds=30)
    vid = submit_video(emu)["id"]
    r = requests.get(f"{emu.url}/v1/videos/{vid}/content", headers=BEARER)  # TokenOps ErrorResponse shape
    assert r.status_code == 400 and r.json() == {"error": {"code": 400, "message": "Video is not ready",
                                                           "details": []}}


# ------------------------------------------------------------------ MixRoute /v1/video/generations


def test_mixroute_sora_base64_download(emu, ctl):
    ctl.set_config(video_bytes=len(sample_clip()) + 3 * B64_CHUNK + 1)  # several chunks, odd length
    r = requests.post(f"{emu.url}/v1/video/generations", headers=BEARER,
                      json={"model": "sora-2", "prompt": "kitten", "seconds": "4", "size": "720x1280"})
    created = r.json()
    assert re.fullmatch(r"video_[0-9a-f]{32}", created["task_id"])
    assert created == {"task_id": created["task_id"], "status": "submitted", "format": "mp4"}
    tid = created["task_id"]
    status = requests.get(f"{emu.url}/v1/video/generations/{tid}", headers=BEARER).json()
    assert status == {"task_id": tid, "status": "succeeded", "format": "mp4"}  # Sora: no url
    r = requests.get(f"{emu.url}/v1/video/generations/download", params={"id": tid}, headers=BEARER)
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(r.content)
    body = r.json()
    expected = ctl.sha256(tid)
    assert {k: body[k] for k in ("success", "generation_id", "task_id", "format", "size")} == {
        "success": True, "generation_id": tid, "task_id": tid, "format": "mp4", "size": expected["size"]}
    data = base64.b64decode(body["base64"])
    assert sha(data) == expected["sha256"] and len(data) == body["size"]
    assert body["data_url"] == "data:video/mp4;base64," + body["base64"]
    assert video_track_present(data)


def test_mixroute_veo_url_forms_and_wrap(emu, ctl):
    created = requests.post(f"{emu.url}/v1/video/generations", headers=BEARER,
                            json={"model": "veo-3.1-fast-generate-preview", "prompt": "p", "durationSeconds": 6,
                                  "image": "https://example.com/first.png"}).json()
    assert created["status"] == "pending" and re.fullmatch(r"task_[0-9a-f]{32}", created["task_id"])
    assert isinstance(created["created_at"], int)
    tid = created["task_id"]
    assert ctl.job(tid)["image"] == {"url": "https://example.com/first.png"}
    status = requests.get(f"{emu.url}/v1/video/generations/{tid}", headers=BEARER).json()
    assert status["status"] == "succeeded" and status["url"].startswith(emu.cdn_url)
    expected = ctl.sha256(tid)["sha256"]
    assert sha(requests.get(status["url"]).content) == expected
    ctl.set_config(mixroute_url_form="data_url", mixroute_wrap=True)
    r = requests.get(f"{emu.url}/v1/video/generations/{tid}", headers=BEARER)
    wrapped = r.json()
    assert int(r.headers["Content-Length"]) == len(r.content)
    assert wrapped["code"] == "success" and wrapped["message"] == "" and wrapped["data"]["task_id"] == tid
    head, _, payload = wrapped["data"]["url"].partition(",")
    assert head == "data:video/mp4;base64" and sha(base64.b64decode(payload)) == expected
    r = requests.get(f"{emu.url}/v1/video/generations/download", params={"id": tid}, headers=BEARER)
    assert r.status_code == 400  # the download endpoint is Sora-only (MixRoute 下載影片 page)


def test_mixroute_errors(emu, ctl):
    r = requests.get(f"{emu.url}/v1/video/generations/task_nope", headers=BEARER)
    assert r.status_code == 400 and r.json() == {"code": "task_not_exist", "message": "task_not_exist", "data": None}
    for prompt, code in (("[[fail]]", "generation_failed"), ("[[filtered]]", "moderation_blocked")):
        tid = requests.post(f"{emu.url}/v1/video/generations", headers=BEARER,
                            json={"model": "sora-2", "prompt": prompt}).json()["task_id"]
        body = requests.get(f"{emu.url}/v1/video/generations/{tid}", headers=BEARER).json()
        assert body["status"] == "failed" and body["error"]["code"] == code and "url" not in body
    ctl.set_config(job_seconds=30)
    tid = requests.post(f"{emu.url}/v1/video/generations", headers=BEARER,
                        json={"model": "sora-2", "prompt": "p"}).json()["task_id"]
    assert requests.get(f"{emu.url}/v1/video/generations/{tid}", headers=BEARER).json()["status"] == "queued"
    r = requests.get(f"{emu.url}/v1/video/generations/download", params={"id": tid}, headers=BEARER)
    assert r.status_code == 400 and r.json()["code"] == "task_not_completed"


# ------------------------------------------------------------------------------------- auth


def test_auth_rejections(emu, ctl):
    """Key handling; each gateway's own refusal bodies are in test_rules.py."""
    r = requests.get(f"{emu.url}/v1/models")
    assert r.status_code == 401 and r.json()["error"]["type"] == "invalid_request_error"
    assert requests.get(f"{emu.url}/v1/models", headers={"Authorization": "Basic abc"}).status_code == 401
    r = requests.post(f"{emu.url}/v1beta/models/{VEO}:predictLongRunning", json={"instances": [{"prompt": "p"}]},
                      headers=BEARER)  # Gemini paths want x-goog-api-key; a Bearer is taken for an OAuth token
    assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED"
    assert requests.get(f"{emu.url}/v1/models", headers=BEARER).status_code == 200
    ctl.set_config(api_key="only-this")
    assert ctl.config()["api_key"] == "***"
    assert requests.get(f"{emu.url}/v1/models", headers=BEARER).status_code == 401
    assert requests.get(f"{emu.url}/v1/models", headers={"Authorization": "Bearer only-this"}).status_code == 200
    assert requests.get(f"{emu.url}/v1beta/models", headers=GOOG).status_code == 400
    assert requests.get(f"{emu.url}/v1beta/models", params={"key": "only-this"}).status_code == 200
    assert not ctl.jobs()
    statuses = [(rec["path"], rec["status"]) for rec in ctl.requests()]
    assert statuses[0] == ("/v1/models", 401) and ("/v1beta/models", 200) in statuses


# ------------------------------------------------------------------------------------- Range


def test_range_requests(emu, ctl):
    vid = submit_video(emu)["id"]
    full = ctl.video(vid)
    url = f"{emu.url}/v1/videos/{vid}/content"
    r = requests.get(url, headers={**BEARER, "Range": "bytes=100-"})
    assert r.status_code == 206 and r.content == full[100:]
    assert r.headers["Content-Range"] == f"bytes 100-{len(full) - 1}/{len(full)}"
    r = requests.get(url, headers={**BEARER, "Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == full[10:20] and r.headers["Content-Length"] == "10"
    r = requests.get(url, headers={**BEARER, "Range": "bytes=-16"})
    assert r.status_code == 206 and r.content == full[-16:]
    r = requests.get(url, headers={**BEARER, "Range": f"bytes={len(full)}-"})
    assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{len(full)}"
    r = requests.head(url, headers=BEARER)
    assert r.status_code == 200 and r.headers["Content-Length"] == str(len(full)) and not r.content
    ctl.set_config(range_support=False)
    r = requests.get(url, headers={**BEARER, "Range": "bytes=100-"})
    assert r.status_code == 200 and r.content == full and "Accept-Ranges" not in r.headers


# ------------------------------------------------------------------------------------ faults


def test_fault_status_with_headers_consumed_in_order(emu, ctl):
    ctl.add_fault(r"^/v1/videos$", method="POST", status=429, headers={"Retry-After": "1"},
                  body={"error": {"message": "rate limited", "type": "rate_limit", "code": "rate_limit"}}, times=2)
    ctl.add_fault(r"^/v1/videos$", status=503, body="<html>busy</html>")
    r1, r2, r3, r4 = (post_video(emu) for _ in range(4))
    assert (r1.status_code, r2.status_code, r3.status_code, r4.status_code) == (429, 429, 503, 200)
    assert r1.headers["Retry-After"] == "1" and r1.json()["error"]["code"] == "rate_limit"
    assert r3.headers["Content-Type"].startswith("text/html") and r3.text == "<html>busy</html>"
    assert len(ctl.jobs()) == 1 and ctl.faults() == []
    assert [rec["fault"] for rec in ctl.requests()] == [["status"], ["status"], ["status"], None]


def test_fault_html_instead_of_video_and_site_filter(emu, ctl):
    ctl.set_config(content_form="redirect")
    vid = submit_video(emu)["id"]
    ctl.add_fault(r"\.mp4$", site="cdn", status=200, body="<html><body>Access denied</body></html>")
    r = requests.get(f"{emu.url}/v1/videos/{vid}/content", headers=BEARER)  # follows the redirect
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html") and b"<html>" in r.content
    assert [rec["site"] for rec in ctl.requests()][-2:] == ["api", "cdn"]
    ctl.add_fault(r"/content$", site="cdn", status=500)  # a CDN-only rule does not touch the API site
    r = requests.get(f"{emu.url}/v1/videos/{vid}/content", headers=BEARER)
    assert r.status_code == 200 and video_track_present(r.content)


def test_fault_delay(emu, ctl):
    ctl.add_fault(r"^/v1/models$", delay_s=0.4)
    t0 = time.monotonic()
    r = requests.get(f"{emu.url}/v1/models", headers=BEARER)
    assert r.status_code == 200 and time.monotonic() - t0 >= 0.35
    t0 = time.monotonic()
    requests.get(f"{emu.url}/v1/models", headers=BEARER)
    assert time.monotonic() - t0 < 0.3


@pytest.mark.parametrize(("kind", "expect"), [("reset_after_bytes", "reset"), ("truncate_to_bytes", "IncompleteRead")])
def test_fault_mid_body_cut(emu, ctl, kind, expect):
    ctl.set_config(video_bytes=3_000_000)
    vid = submit_video(emu)["id"]
    ctl.add_fault(r"/content$", **{kind: 1500})
    got = bytearray()
    with pytest.raises(requests.exceptions.ChunkedEncodingError) as err:
        with requests.get(f"{emu.url}/v1/videos/{vid}/content", headers=BEARER, stream=True) as r:
            assert r.headers["Content-Length"] == "3000000"  # full length announced
            for chunk in r.iter_content(100):  # small reads: keep what arrived before the cut
                got += chunk
    assert expect in str(err.value)
    assert len(got) == 1500 and bytes(got) == ctl.video(vid)[:1500]
    r = requests.get(f"{emu.url}/v1/videos/{vid}/content", headers=BEARER)  # next one is whole again
    assert len(r.content) == 3_000_000


def test_fault_cut_on_json_and_validation(emu, ctl):
    vid = submit_video(emu)["id"]
    ctl.add_fault(rf"/v1/videos/{vid}$", truncate_to_bytes=5)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(f"{emu.url}/v1/videos/{vid}", headers=BEARER)
    for bad in ({"times": 1}, {"path": "(", "times": 1}, {"path": "x", "bogus": 1}, {"path": "x", "status": 99}):
        assert requests.post(f"{emu.url}/_emulator/faults", json=bad).status_code == 400
    ctl.add_fault("nothing-matches", times=-1)
    assert len(ctl.faults()) == 1
    ctl.clear_faults()
    assert ctl.faults() == []


# ----------------------------------------------------------------------- record, config, jobs


def test_request_record(emu, ctl):
    ctl.set_config(content_form="redirect")
    vid = requests.post(f"{emu.url}/v1/videos?x=1", headers=BEARER,
                        json={"model": VEO, "prompt": "p", "seconds": "4"}).json()["id"]
    r = requests.get(f"{emu.url}/v1/videos/{vid}/content", headers=BEARER)  # requests drops Bearer cross-host
    assert r.status_code == 200
    recs = ctl.requests()
    assert [(x["site"], x["method"], x["status"]) for x in recs] == [
        ("api", "POST", 200), ("api", "GET", 302), ("cdn", "GET", 200)]
    assert [x["seq"] for x in recs] == sorted(x["seq"] for x in recs)
    assert recs[0]["query"] == {"x": "1"} and recs[0]["headers"]["Authorization"] == f"Bearer {KEY}"
    assert recs[0]["had_auth"] and not recs[2]["had_auth"] and "Authorization" not in recs[2]["headers"]
    assert recs[2]["path"].endswith(f"/{vid}.mp4") and isinstance(recs[0]["time"], float)
    assert recs[0]["content_type"] == "application/json" and recs[1]["content_type"] is None
    assert recs[0]["body_shape"] == {"model": "string", "prompt": "string", "seconds": "string"}
    assert recs[0]["body_bytes"] > 0 and "body_shape" not in recs[1]
    assert ctl.requests(site="cdn") == recs[2:]
    ctl.clear_requests()
    assert ctl.requests() == []  # control API calls are not recorded


def test_config_and_reset(emu, ctl):
    assert ctl.config()["job_seconds"] == 0  # the startup value
    with pytest.raises(Exception, match="unknown config key"):
        ctl.set_config(nope=1)
    with pytest.raises(Exception, match="status_vocab"):
        ctl.set_config(status_vocab="klingon")
    with pytest.raises(Exception, match="video_bytes"):
        ctl.set_config(video_bytes=10)
    cfg = ctl.set_config(job_seconds=5, mixroute_wrap=True)
    assert cfg["job_seconds"] == 5.0 and cfg["mixroute_wrap"] is True
    submit_video(emu)
    ctl.add_fault("x")
    assert ctl.jobs()[0]["state"] == "queued" and ctl.jobs()[0]["job_seconds"] == 5.0
    ctl.reset()
    assert ctl.jobs() == [] and ctl.faults() == [] and ctl.requests() == []
    assert ctl.config()["job_seconds"] == 0 and ctl.config()["mixroute_wrap"] is False


# ----------------------------------------------------------------------------------- videos


def test_video_padding_box_structure(emu, ctl):
    size = len(sample_clip()) + 100_000
    ctl.set_config(video_bytes=size)
    ids = [submit_video(emu)["id"] for _ in range(2)]
    videos = [ctl.video(i) for i in ids]
    assert [len(v) for v in videos] == [size, size] and sha(videos[0]) != sha(videos[1])
    boxes = top_level_boxes(videos[0])
    assert {"ftyp", "moov", "mdat", "free"} <= {b[0] for b in boxes}
    assert sum(b[2] for b in boxes) == size and boxes[0][0] == "ftyp"
    kinds = [b[0] for b in boxes]
    assert kinds.index("moov") < kinds.index("mdat")  # +faststart
    pad_type, pad_off, pad_size = boxes[-1]
    assert pad_type == "free" and pad_off == len(sample_clip()) and pad_size == 100_000
    assert videos[0][pad_off + 8 : pad_off + 8 + len(ids[0])] == ids[0].encode()
    assert videos[0][pad_off + 8 + len(ids[0]) :] == bytes(100_000 - 8 - len(ids[0]))
    assert handler_types(videos[0]) == ["vide"] and video_track_present(videos[1])
    assert not video_track_present(b"<html>not a video</html>")


def test_video_source_largesize_and_base64_chunks():
    big = VideoSource("video_big", 5 * 2**30)  # never materialised
    off = len(sample_clip())
    assert struct.unpack(">I4sQ", big.prefix[off : off + 16]) == (1, b"free", 5 * 2**30 - off)
    assert big.prefix[off + 16 :] == b"video_big"
    last = list(big.chunks(big.size - 10))
    assert len(last) == 1 and bytes(last[0]) == bytes(10)
    for extra in (8, 9, 10, 2 * B64_CHUNK + 1):
        v = VideoSource("video_x", len(sample_clip()) + extra)
        assert b"".join(v.b64_chunks()) == base64.b64encode(v.read())
        assert v.sha256() == sha(v.read())
    with pytest.raises(ValueError):
        VideoSource("x", len(sample_clip()) + 7)


# ------------------------------------------------------------------------------- subprocess


def test_subprocess_ready_line_log_and_clean_stop(tmp_path):
    ready_file, log = tmp_path / "ready.json", tmp_path / "stderr.log"
    secret = "sk-secret-never-logged-42"
    with open(log, "wb") as err, EmulatorProcess("--ready-file", str(ready_file), "--gateway", "hingnet",
                                                  stderr=err, job_seconds=0) as proc:
        assert set(proc.ready) == {"url", "cdn_url", "pid"} and proc.ready["url"].startswith("http://127.0.0.1:")
        assert proc.cdn_url.startswith("http://127.0.0.2:") and proc.pid == proc.proc.pid
        assert json.loads(ready_file.read_text()) == proc.ready
        auth = {"Authorization": f"Bearer {secret}"}
        r = requests.post(f"{proc.url}/v1/videos", headers=auth,  # HingNet's JSON example (seconds an integer)
                          json={"model": "veo-3.1-fast-generate-preview", "prompt": "p", "seconds": 6,
                                "size": "1280x720"})
        assert r.json()["status"] == "queued"
        vid = r.json()["id"]
        assert requests.get(f"{proc.url}/v1/videos/{vid}", headers=auth).json()["status"] == "success"
        assert requests.get(f"{proc.url}/v1beta/models", params={"key": secret}).status_code == 200
        assert requests.post(f"{proc.url}/v1/videos", headers=auth, data={"prompt": "p"}).status_code == 400
    assert proc.proc.returncode == 0  # SIGTERM handled cleanly
    text = log.read_text()
    assert "POST /v1/videos 200" in text and "GET /v1beta/models 200" in text
    assert secret not in text


def test_subprocess_lenient_flag_restores_acceptance(tmp_path):
    with EmulatorProcess("--lenient", stderr=subprocess.DEVNULL, job_seconds=0) as proc:
        assert proc.client.config()["strict"] is False
        r = requests.post(f"{proc.url}/v1/videos", headers=BEARER, data={"prompt": "p", "watermark": "false"})
        assert r.status_code == 200 and r.json()["model"] == "sora-2"  # form-urlencoded, unknown field, no model
