"""The pure protocols, on the gateways' own example bodies (their public documentation pages)."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from airflow_provider_videogen.exceptions import GatewayResponseError, InvalidIdentifier
from airflow_provider_videogen.gateways import GATEWAYS, GenerationRequest, ImageInput
from airflow_provider_videogen.gateways.base import STATUS_SYNONYMS, normalise_status, validate_id

THUCCHIEN = GATEWAYS["thucchien"].protocol
GEMINI = GATEWAYS["gemini"].protocol
HINGNET = GATEWAYS["hingnet"].protocol
TOKENOPS = GATEWAYS["tokenops"].protocol
OPENAI = GATEWAYS["openai"].protocol
MIXROUTE = GATEWAYS["mixroute"].protocol

# AI Thực Chiến "Kiểm tra trạng thái video"
# (https://docs.thucchien.ai/docs/api-reference/video-generation-status): example response, verbatim.
SEED_001_STATUS = json.loads("""{
  "name": "models/veo-3.0-generate-preview/operations/idrk08ltkg0a",
  "done": true,
  "response": {
    "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
    "generateVideoResponse": {
      "generatedSamples": [
        {
          "video": {
            "uri": "https://generativelanguage.googleapis.com/v1beta/files/3j6svp4106e7:download?alt=media"
          }
        }
      ]
    }
  }
}""")
# MixRoute "Download video" (https://docs.mixroute.ai/zh-hant/api-reference/endpoint/download-video):
# the Sora 2 flow: submit answer, and the download endpoint's body (shortened).
SEED_003_SUBMIT = {"task_id": "video_69095b4ce0048190893a01510c0c98b0", "status": "submitted", "format": "mp4"}
SEED_003_DOWNLOAD = {"success": True, "generation_id": "video_xxx", "task_id": "video_xxx", "format": "mp4",
                     "size": 15728640, "base64": "AAAAIGZ0eXBpc29tAAACAGlzb21pc28yYXZjMW1wNDE...",
                     "data_url": "data:video/mp4;base64,AAAAIGZ0eXBpc29tAAACAGlzb21pc28yYXZjMW1wNDE..."}


# -- Gemini long-running operations (AI Thực Chiến, Google) ------------------------------------------
def test_thucchien_seed_status_yields_the_documented_video_id_and_download_path():
    op = THUCCHIEN.parse_status(SEED_001_STATUS["name"], SEED_001_STATUS)
    assert op.state == "succeeded" and op.progress == 100
    assert [v.url for v in op.videos] == ["/gemini/download/v1beta/files/3j6svp4106e7:download?alt=media"]
    assert op.videos[0].kind == "binary"


def test_google_rewrites_the_same_uri_onto_its_own_api():
    op = GEMINI.parse_status(SEED_001_STATUS["name"], SEED_001_STATUS)
    assert [v.url for v in op.videos] == ["/v1beta/files/3j6svp4106e7:download?alt=media"]


def test_thucchien_submit_and_status_paths():
    req = THUCCHIEN.build_submit(GenerationRequest(prompt="A hummingbird", model="veo-3.0-generate-preview",
                                                   duration_seconds=8, aspect_ratio="16:9"))
    assert (req.method, req.path) == ("POST", "/gemini/v1beta/models/veo-3.0-generate-preview:predictLongRunning")
    assert req.json == {"instances": [{"prompt": "A hummingbird"}],
                        "parameters": {"durationSeconds": 8, "aspectRatio": "16:9"}}
    name = THUCCHIEN.parse_submit({"name": "models/veo-3.0-generate-preview/operations/idrk08ltkg0a"})
    assert THUCCHIEN.build_status(name).path == "/gemini/v1beta/models/veo-3.0-generate-preview/operations/idrk08ltkg0a"
    assert THUCCHIEN.auth_headers("test-key-123") == {"x-goog-api-key": "test-key-123"}


def test_gemini_maps_size_image_negative_prompt_and_extra_params():
    req = GEMINI.build_submit(GenerationRequest(
        prompt="p", model="veo-3.0-generate-preview", size="720x1280", negative_prompt="blur",
        image=ImageInput(b"\x89PNGdata", "image/png"), extra_params={"personGeneration": "allow_all",
                                                                     "instance": {"lastFrame": {"uri": "x"}}}))
    instance = req.json["instances"][0]
    encoded = base64.b64encode(b"\x89PNGdata").decode()
    assert instance["image"] == {"bytesBase64Encoded": encoded, "mimeType": "image/png"}
    assert instance["lastFrame"] == {"uri": "x"}
    assert req.json["parameters"] == {"aspectRatio": "9:16", "resolution": "720p", "negativePrompt": "blur",
                                      "personGeneration": "allow_all"}


def test_gemini_running_error_and_filtered():
    assert GEMINI.parse_status("operations/a", {"name": "operations/a"}).state == "running"
    assert GEMINI.parse_status("operations/a", {"name": "operations/a", "done": False}).state == "running"
    failed = GEMINI.parse_status("operations/a", {"done": True, "error": {"code": 13, "message": "Internal"}})
    assert (failed.state, failed.error_code, failed.error_message) == ("failed", "13", "Internal")
    assert not failed.filtered
    filtered = GEMINI.parse_status("operations/a", {"done": True, "response": {"generateVideoResponse": {
        "raiMediaFilteredCount": 1, "raiMediaFilteredReasons": ["Unsafe content detected"]}}})
    assert (filtered.state, filtered.error_code) == ("failed", "RAI_FILTERED") and filtered.filtered
    assert "Unsafe content detected" in filtered.error_message and filtered.videos == []
    vertex_codes = GEMINI.parse_status("operations/a", {"done": True, "response": {
        "raiMediaFilteredReasons": ["58061214"]}})
    assert vertex_codes.filtered and "58061214" in vertex_codes.error_message


def test_gemini_done_without_any_video_is_failed_not_succeeded():
    op = GEMINI.parse_status("operations/a", {"done": True, "response": {"generateVideoResponse": {}}})
    assert (op.state, op.error_code) == ("failed", "NO_OUTPUT")


def test_gemini_inline_and_vertex_shapes():
    inline = GEMINI.parse_status("operations/a", {"done": True, "response": {"generateVideoResponse": {
        "generatedSamples": [{"video": {"encodedVideo": "AAAA", "encoding": "video/mp4"}}]}}})
    assert [(v.kind, v.url, v.field) for v in inline.videos] == [
        ("json_base64", "/v1beta/operations/a", "response.generateVideoResponse.generatedSamples.0.video.encodedVideo")]
    skyengine = GEMINI.parse_status("operations/a", {"done": True, "response": {"generatedVideos": [
        {"uri": "https://cdn.example/v.mp4", "mimeType": "video/mp4"}]}})
    assert [v.url for v in skyengine.videos] == ["https://cdn.example/v.mp4"]


# -- OpenAI-style /v1/videos (OpenAI, HingNet, TokenOps) ------------------------------------------------
def test_openai_style_submit_is_multipart_with_seconds_as_string():
    req = OPENAI.build_submit(GenerationRequest(prompt="cat", model="sora-2", duration_seconds=8,
                                                aspect_ratio="9:16", extra_params={"quality": {"x": 1}}))
    assert (req.path, req.json) == ("/v1/videos", None)
    assert req.form == {"model": "sora-2", "prompt": "cat", "seconds": "8", "size": "720x1280", "quality": '{"x": 1}'}
    with_image = TOKENOPS.build_submit(GenerationRequest(prompt="cat", model="sora-2",
                                                         image=ImageInput(b"\xff\xd8\xffjpeg", "image/jpeg")))
    assert with_image.files == [("input_reference", ("first_frame.jpeg", b"\xff\xd8\xffjpeg", "image/jpeg"))]


def test_hingnet_submit_is_json_like_its_examples():
    req = HINGNET.build_submit(GenerationRequest(prompt="…", model="veo-3.1-fast-generate-preview",
                                                 duration_seconds=6, size="1280x720"))
    assert req.json == {"model": "veo-3.1-fast-generate-preview", "prompt": "…", "seconds": "6", "size": "1280x720"}


def test_hingnet_documented_bodies():
    # https://docs.hingnet.com.cn/openai/video-generation (create answer), /openai/video-query.md (in progress, done).
    assert HINGNET.parse_submit({"id": "video_abc123", "object": "video", "status": "queued", "progress": 0}) == \
        "video_abc123"
    running = HINGNET.parse_status("video_abc123", {"status": "processing", "progress": 45, "seconds": "4"})
    assert (running.state, running.progress) == ("running", 45)
    done = HINGNET.parse_status("video_abc123", {"status": "success", "progress": 100, "completed_at": 1762789891,
                                                 "expires_at": 1762793491})
    assert done.state == "succeeded" and done.expires_at == 1762793491
    assert [v.url for v in done.videos] == ["/v1/videos/video_abc123/content"]
    veo = HINGNET.parse_status("video_abc123", {"status": "completed", "video_url": "https://cdn.example/v.mp4"})
    assert veo.state == "succeeded" and veo.videos[0].url == "/v1/videos/video_abc123/content"


def test_tokenops_pending_and_openai_failed_and_poll_hint():
    assert TOKENOPS.parse_status("video_123456789", {"id": "video_123456789", "status": "pending"}).state == "pending"
    failed = OPENAI.parse_status("video_1", {"status": "failed", "error": {"code": "moderation_blocked",
                                                                           "message": "blocked by moderation"}})
    assert (failed.state, failed.error_code, failed.filtered) == ("failed", "moderation_blocked", True)
    hinted = OPENAI.parse_status("video_1", {"status": "in_progress", "progress": 3}, {"openai-poll-after-ms": "2500"})
    assert hinted.poll_after == 2.5 and hinted.state == "running"
    with pytest.raises(GatewayResponseError):
        OPENAI.parse_submit({"object": "video"})
    with pytest.raises(GatewayResponseError):
        OPENAI.parse_status("video_1", ["not", "an", "object"])


# -- New-API task style /v1/video/generations (MixRoute) ---------------------------------------------
def test_mixroute_seed_sora_flow_uses_the_base64_download_endpoint():
    task_id = MIXROUTE.parse_submit(SEED_003_SUBMIT)
    assert task_id == "video_69095b4ce0048190893a01510c0c98b0"
    assert MIXROUTE.build_status(task_id).path == f"/v1/video/generations/{task_id}"
    assert MIXROUTE.parse_status(task_id, SEED_003_SUBMIT).state == "pending"
    op = MIXROUTE.parse_status(task_id, {"task_id": task_id, "status": "succeeded", "format": "mp4"})
    assert [(v.kind, v.url, v.field) for v in op.videos] == [
        ("json_base64", f"/v1/video/generations/download?id={task_id}", "base64")]


def test_mixroute_url_forms_and_wrapped_bodies():
    http = MIXROUTE.parse_status("video_xxx", {"task_id": "video_xxx", "status": "succeeded", "format": "mp4",
                                               "url": "https://example.com/video.mp4"})
    assert [(v.kind, v.url) for v in http.videos] == [("binary", "https://example.com/video.mp4")]
    inline = MIXROUTE.parse_status("task_1", {"code": "success", "message": "", "data": {
        "task_id": "task_1", "status": "SUCCESS", "progress": "100%", "url": SEED_003_DOWNLOAD["data_url"]}})
    assert [(v.kind, v.url, v.field) for v in inline.videos] == [("json_base64", "/v1/video/generations/task_1",
                                                                "data.url")]
    running = MIXROUTE.parse_status("task_1", {"code": "success", "data": {"status": "IN_PROGRESS", "progress": "45%"}})
    assert (running.state, running.progress) == ("running", 45)
    failed = MIXROUTE.parse_status("task_1", {"status": "FAILURE", "fail_reason": "upstream refused"})
    assert (failed.state, failed.error_message) == ("failed", "upstream refused")


def test_mixroute_sora_and_veo_field_mapping():
    sora = MIXROUTE.build_submit(GenerationRequest(prompt="貓", model="sora-2", duration_seconds=4, size="720x1280"))
    assert sora.json == {"model": "sora-2", "prompt": "貓", "seconds": "4", "size": "720x1280"}
    veo = MIXROUTE.build_submit(GenerationRequest(prompt="p", model="veo-3.1-fast-generate-preview",
                                                  duration_seconds=6, aspect_ratio="16:9", resolution="1080p",
                                                  extra_params={"generateAudio": False}))
    assert veo.json == {"model": "veo-3.1-fast-generate-preview", "prompt": "p", "durationSeconds": 6,
                        "aspectRatio": "16:9", "resolution": "1080p", "generateAudio": False}


# -- the synonym table and ids ------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "state"), sorted(STATUS_SYNONYMS.items()))
def test_every_synonym_maps_case_insensitively(raw, state):
    assert normalise_status(raw) == state
    assert normalise_status(f"  {raw.upper()} ") == state


@pytest.mark.parametrize(("raw", "state"), [("SUCCESS", "succeeded"), ("In_Progress", "running"),
                                            ("NOT_START", "pending"), ("Cancelled", "failed"),
                                            ("in-progress", "running")])
def test_documented_vocabularies(raw, state):
    assert normalise_status(raw) == state


def test_unknown_status_is_logged_and_still_in_progress(caplog):
    with caplog.at_level(logging.WARNING):
        assert normalise_status("rendering_frames") == "pending"
        assert normalise_status("rendering_frames", progress=30) == "running"
    assert "rendering_frames" in caplog.text


@pytest.mark.parametrize("bad", ["", "../etc", "a/../b", "a?b=1", "a#b", "a\nb", "a b", "a%2fb", "a/b", None, 5])
def test_unsafe_ids_are_rejected(bad):
    with pytest.raises(InvalidIdentifier):
        validate_id(bad, what="video id", gateway="openai")


def test_safe_ids_pass_and_gemini_names_keep_their_slashes():
    assert validate_id("video_abc-123.x:y", what="id", gateway="openai") == "video_abc-123.x:y"
    assert GEMINI.validate_operation_id("models/veo-3/operations/abc") == "models/veo-3/operations/abc"
    with pytest.raises(InvalidIdentifier):
        GEMINI.build_status("models/../../v1/secrets")
    with pytest.raises(InvalidIdentifier):
        OPENAI.build_status("video_1/../../admin")
