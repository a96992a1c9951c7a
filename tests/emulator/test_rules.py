"""Strict mode: every gateway's documented forms are accepted and everything else is refused with
that gateway's own status and body (rules in airflow_provider_videogen/emulator/rules.py, bodies in
refusals.py; the sources are cited there). Lenient mode accepts the refused forms again."""

from __future__ import annotations

import base64
import json

import pytest
import requests

from airflow_provider_videogen.emulator.rules import MODELS_BY_GATEWAY

KEY = "sk-test-key-123"
BEARER = {"Authorization": f"Bearer {KEY}"}
GOOG = {"x-goog-api-key": KEY}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
VEO31 = "veo-3.1-generate-preview"


def form(**fields):
    """Multipart parts for ``requests`` (text parts unless a value is a file tuple or a list)."""
    parts = []
    for k, v in fields.items():
        for item in v if isinstance(v, list) else [v]:
            parts.append((k, item if isinstance(item, tuple) else (None, item)))
    return parts


def videos(emu, *, json_body=None, data=None, **fields):
    if json_body is not None:
        return requests.post(f"{emu.url}/v1/videos", headers=BEARER, json=json_body)
    if data is not None:
        return requests.post(f"{emu.url}/v1/videos", headers=BEARER, data=data)
    return requests.post(f"{emu.url}/v1/videos", headers=BEARER, files=form(**fields))


def generations(emu, body):
    return requests.post(f"{emu.url}/v1/video/generations", headers=BEARER, json=body)


def gemini(emu, body, model=VEO31, prefix=""):
    return requests.post(f"{emu.url}{prefix}/v1beta/models/{model}:predictLongRunning", headers=GOOG, json=body)


def openai_err(r, status, code, param=None):
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert (err["type"], err["code"], err["param"]) == ("invalid_request_error", code, param), err
    return err["message"]


def google_err(r, status, state):
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert (err["code"], err["status"]) == (status, state), err
    return err["message"]


def tokenops_err(r):
    assert r.status_code == 400 and set(r.json()) == {"error"}, r.text
    err = r.json()["error"]
    assert err["code"] == 400 and err["details"] == [] and isinstance(err["message"], str)
    return err["message"]


def task_err(r, code="invalid_request"):
    assert r.status_code == 400 and r.json()["code"] == code and r.json()["data"] is None, r.text
    return r.json()["message"]


# ------------------------------------------------------------------------------ content types


def test_openai_accepts_multipart_and_json_refuses_forms(emu, ctl):
    assert videos(emu, model=VEO31, prompt="p", seconds="8", size="1280x720").status_code == 200
    assert videos(emu, json_body={"model": VEO31, "prompt": "p", "seconds": "8"}).status_code == 200
    r = videos(emu, data={"model": VEO31, "prompt": "p"})
    message = openai_err(r, 400, "unsupported_content_type")
    assert message.startswith("Unsupported content type: 'application/x-www-form-urlencoded'.")
    r = requests.post(f"{emu.url}/v1/videos", headers={**BEARER, "Content-Type": "text/plain"}, data=b"p")
    assert "'text/plain'" in openai_err(r, 400, "unsupported_content_type")
    assert not any(j["model"] != VEO31 for j in ctl.jobs()) and len(ctl.jobs()) == 2


def test_hingnet_accepts_json_and_multipart_refuses_forms(emu, ctl):
    ctl.set_config(gateway="hingnet")
    assert videos(emu, json_body={"model": "veo-3.1-fast-generate-preview", "prompt": "p", "seconds": 6,
                                  "size": "1280x720"}).status_code == 200
    assert videos(emu, model="sora-2", prompt="p", seconds="8", size="720x1280").status_code == 200
    openai_err(videos(emu, data={"model": "sora-2", "prompt": "p"}), 400, "unsupported_content_type")


def test_tokenops_multipart_only(emu, ctl):
    ctl.set_config(gateway="tokenops")
    r = videos(emu, model="sora-2", prompt="p", size="720x1280", seconds="4",
               input_reference=("first.png", PNG, "image/png"))
    assert r.status_code == 200 and r.json()["status"] == "pending"  # status_vocab "auto": TokenOps' words
    assert "'application/json'" in tokenops_err(videos(emu, json_body={"model": "sora-2", "prompt": "p"}))
    tokenops_err(videos(emu, data={"model": "sora-2", "prompt": "p"}))


def test_mixroute_json_only(emu, ctl):
    assert generations(emu, {"model": "sora-2", "prompt": "p", "seconds": "4", "size": "720x1280"}).status_code == 200
    r = requests.post(f"{emu.url}/v1/video/generations", headers=BEARER,
                      files=form(model="sora-2", prompt="p"))
    assert task_err(r) == "Content-Type must be application/json"
    r = requests.post(f"{emu.url}/v1/video/generations", headers=BEARER, data={"model": "sora-2", "prompt": "p"})
    assert task_err(r) == "Content-Type must be application/json"


@pytest.mark.parametrize("prefix", ["", "/gemini"])
def test_gemini_and_thucchien_json_only(emu, ctl, prefix):
    model = VEO31 if not prefix else "veo-3.0-generate-preview"
    assert gemini(emu, {"instances": [{"prompt": "p"}]}, model, prefix).status_code == 200
    r = requests.post(f"{emu.url}{prefix}/v1beta/models/{model}:predictLongRunning", headers=GOOG,
                      data={"instances": "p"})
    assert google_err(r, 400, "INVALID_ARGUMENT").startswith("Invalid JSON payload received.")
    r = requests.post(f"{emu.url}{prefix}/v1beta/models/{model}:predictLongRunning",
                      headers={**GOOG, "Content-Type": "application/json"}, data=b"{not json")
    google_err(r, 400, "INVALID_ARGUMENT")


# -------------------------------------------------------------------------- unknown parameters


def test_unknown_parameters_in_each_gateways_words(emu, ctl):
    r = videos(emu, model=VEO31, prompt="p", watermark="false")
    assert openai_err(r, 400, "unknown_parameter", "watermark") == "Unknown parameter: 'watermark'."
    ctl.set_config(gateway="hingnet")
    openai_err(videos(emu, json_body={"model": "sora-2", "prompt": "p", "n": 1}), 400, "unknown_parameter", "n")
    ctl.set_config(gateway="tokenops")
    assert "'style'" in tokenops_err(videos(emu, model="sora-2", prompt="p", style="anime"))
    r = generations(emu, {"model": "veo-3.1-generate-preview", "prompt": "p", "negativePrompt": "blur"})
    assert task_err(r) == "Unknown parameter: 'negativePrompt'."  # not on MixRoute's Veo page
    r = generations(emu, {"model": "sora-2", "prompt": "p", "image": "https://x/y.png"})
    assert "'image'" in task_err(r)


@pytest.mark.parametrize(("body", "message"), [
    ({"instances": [{"prompt": "p"}], "config": {}}, 'Unknown name "config": Cannot find field.'),
    ({"instances": [{"prompt": "p", "text": "x"}]}, """Unknown name "text" at 'instances[0]': Cannot find field."""),
    ({"instances": [{"prompt": "p"}], "parameters": {"numberOfVideos": 1}},
     """Unknown name "numberOfVideos" at 'parameters': Cannot find field."""),
    ({"instances": [{"prompt": "p", "image": {"uri": "https://x/y.png"}}]},
     """Unknown name "uri" at 'instances[0].image': Cannot find field."""),
])
def test_gemini_unknown_names(emu, ctl, body, message):
    r = gemini(emu, body)
    assert google_err(r, 400, "INVALID_ARGUMENT") == f"Invalid JSON payload received. {message}"
    violation = r.json()["error"]["details"][0]
    assert violation["@type"] == "type.googleapis.com/google.rpc.BadRequest"


@pytest.mark.parametrize(("where", "name", "value"), [
    ("parameters", "seed", 1), ("parameters", "generateAudio", True), ("parameters", "storageUri", "gs://b"),
    ("parameters", "fps", 24), ("parameters", "pubsubTopic", "t"), ("parameters", "compressionQuality", "x"),
    ("parameters", "resizeMode", "pad"), ("top", "labels", {"a": "b"}), ("instance", "mask", {}),
])
@pytest.mark.parametrize("prefix", ["", "/gemini"])
def test_vertex_only_parameters_refused(emu, ctl, where, name, value, prefix):
    body = {"instances": [{"prompt": "p"}]}
    target = {"parameters": body.setdefault("parameters", {}), "top": body, "instance": body["instances"][0]}
    target[where][name] = value
    r = gemini(emu, body, VEO31 if not prefix else "veo-3.0-generate-preview", prefix)
    assert google_err(r, 400, "INVALID_ARGUMENT").startswith(f"`{name}` isn't supported by the Gemini API")


def test_gemini_accepts_everything_google_genai_sends(emu, ctl):
    """The mldev body of google-genai 2.x for every option (python-genai _GenerateVideosConfig_to_mldev)."""
    image = {"bytesBase64Encoded": base64.b64encode(PNG).decode(), "mimeType": "image/png"}
    body = {"instances": [{"prompt": "p", "image": image, "lastFrame": image}],
            "parameters": {"sampleCount": 1, "durationSeconds": 8, "aspectRatio": "16:9", "resolution": "4k",
                           "personGeneration": "allow_all", "negativePrompt": "n", "enhancePrompt": True},
            "webhookConfig": {"uris": ["https://hooks.example/v"], "user_metadata": {"a": 1}}}
    assert gemini(emu, body).status_code == 200
    refs = {"instances": [{"prompt": "p", "referenceImages": [{"image": image, "referenceType": "ASSET"}] * 3}]}
    assert gemini(emu, refs).status_code == 200
    # extension: a finished Veo video of this emulator, by its bytes or by its Files URI
    source = requests.get(f"{emu.url}/v1beta/{gemini(emu, {'instances': [{'prompt': 'p'}]}).json()['name']}",
                          headers=GOOG).json()["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]
    encoded = base64.b64encode(ctl.video(source["uri"].split("/files/")[1][:12])).decode()
    video = {"instances": [{"prompt": "p", "video": {"encodedVideo": encoded, "encoding": "video/mp4"}}]}
    assert gemini(emu, video).status_code == 200
    assert gemini(emu, {"instances": [{"prompt": "p", "video": {"uri": source["uri"]}}]}).status_code == 200
    assert gemini(emu, {"instances": [{"prompt": "p"}], "parameters": {"personGeneration": "ALLOW_ADULT"}}
                  ).status_code == 200


# ------------------------------------------------------------------------------ types and values


@pytest.mark.parametrize(("fields", "code", "param"), [
    ({"seconds": "6"}, "invalid_value", "seconds"),
    ({"size": "1920x1080"}, "invalid_value", "size"),
    ({"input_reference": "https://x/y.png"}, "invalid_type", "input_reference"),
    ({"input_reference": json.dumps({"image_url": "u", "file_id": "f"})}, "invalid_value", "input_reference"),
    ({"prompt": ""}, "invalid_value", "prompt"),
    ({"model": None}, "missing_required_parameter", "model"),
])
def test_openai_form_values_refused(emu, ctl, fields, code, param):
    base = {"model": VEO31, "prompt": "p", **fields}
    openai_err(videos(emu, **{k: v for k, v in base.items() if v is not None}), 400, code, param)


def test_openai_json_seconds_must_be_a_string(emu, ctl):
    r = videos(emu, json_body={"model": VEO31, "prompt": "p", "seconds": 8})
    assert openai_err(r, 400, "invalid_type", "seconds") == (
        "Invalid type for 'seconds': expected one of '4', '8', or '12', but got an integer instead.")
    r = videos(emu, json_body={"model": VEO31, "prompt": "p", "input_reference": "https://x/y.png"})
    openai_err(r, 400, "invalid_type", "input_reference")


@pytest.mark.parametrize("size", ["720x1280", "1280x720", "1024x1792", "1792x1024"])
@pytest.mark.parametrize("seconds", ["4", "8", "12"])
def test_openai_documented_values_accepted(emu, ctl, size, seconds):
    assert videos(emu, model=VEO31, prompt="p", size=size, seconds=seconds).status_code == 200


def test_openai_input_reference_forms(emu, ctl):
    """File part; reference object as a JSON text part, as ``input_reference[image_url]`` (openai-python's
    multipart brackets) or inside a JSON body."""
    r = videos(emu, model=VEO31, prompt="p", input_reference=("f.png", PNG, "image/png"))
    assert r.status_code == 200 and ctl.job(r.json()["id"])["image"]["size"] == len(PNG)
    r = videos(emu, model=VEO31, prompt="p", input_reference=json.dumps({"image_url": "https://x/y.png"}))
    assert r.status_code == 200 and ctl.job(r.json()["id"])["image"] == {"image_url": "https://x/y.png"}
    r = requests.post(f"{emu.url}/v1/videos", headers=BEARER,
                      files=form(model=VEO31, prompt="p", **{"input_reference[file_id]": "file_123"}))
    assert r.status_code == 200 and ctl.job(r.json()["id"])["image"] == {"file_id": "file_123"}
    r = videos(emu, json_body={"model": VEO31, "prompt": "p", "input_reference": {"image_url": "data:image/png;"
                                                                                  "base64,iVBORw0KGgo="}})
    assert r.status_code == 200


def test_hingnet_values(emu, ctl):
    ctl.set_config(gateway="hingnet")
    veo, sora = "veo-3.1-generate-preview", "sora-2"
    ok = [
        {"model": veo, "prompt": "p", "seconds": 6, "size": "1280x720", "input_reference": ["https://x/a.jpg"]},
        {"model": veo, "prompt": "p", "seconds": "8", "input_reference": ["https://x/a.jpg", "https://x/b.jpg"]},
        {"model": sora, "prompt": "p", "seconds": 12, "size": "720x1280",
         "input_reference": {"image_url": "https://x/ref.jpg"}},
    ]
    for body in ok:
        assert videos(emu, json_body=body).status_code == 200, body
    bad = [
        ({"model": veo, "prompt": "p", "seconds": 12}, "invalid_value", "seconds"),
        ({"model": sora, "prompt": "p", "seconds": 6}, "invalid_value", "seconds"),
        ({"model": veo, "prompt": "p", "seconds": 6.0}, "invalid_type", "seconds"),
        ({"model": veo, "prompt": "p", "size": "1920x1080"}, "invalid_value", "size"),
        ({"model": sora, "prompt": "p", "input_reference": ["https://x/a.jpg"]}, "invalid_value", "input_reference"),
        ({"model": veo, "prompt": "p", "input_reference": {"image_url": "u"}}, "invalid_value", "input_reference"),
        ({"model": veo, "prompt": "p", "input_reference": ["u"] * 4}, "invalid_value", "input_reference"),
    ]
    for body, code, param in bad:
        openai_err(videos(emu, json_body=body), 400, code, param)
    files = [("f.png", PNG, "image/png")] * 3
    assert videos(emu, model=veo, prompt="p", input_reference=files).status_code == 200
    openai_err(videos(emu, model=veo, prompt="p", input_reference=files + files[:1]), 400, "invalid_value",
               "input_reference")
    openai_err(videos(emu, model=sora, prompt="p", input_reference=files[:2]), 400, "invalid_value", "input_reference")


def test_tokenops_values(emu, ctl):
    ctl.set_config(gateway="tokenops")
    for fields in ({"size": "1024x1792"}, {"seconds": "6"}, {"input_reference": "https://x/y.png"}):
        tokenops_err(videos(emu, model="sora-2", prompt="p", **fields))
    assert "prompt" in tokenops_err(videos(emu, model="sora-2"))
    assert videos(emu, model="sora-2", prompt="p", size="1280x720", seconds="12").status_code == 200


def test_mixroute_veo_values(emu, ctl):
    documented = {"model": "veo-3.1-fast-generate-preview", "prompt": "p", "durationSeconds": 6,
                  "aspectRatio": "9:16",
                  "resolution": "1080p", "image": "https://x/first.png", "lastFrame": "https://x/last.png",
                  "generateAudio": False, "personGeneration": "allow_all", "addWatermark": False, "seed": 7,
                  "sampleCount": 2}
    assert generations(emu, documented).status_code == 200
    for change in ({"durationSeconds": "6"}, {"durationSeconds": 5}, {"aspectRatio": "1:1"}, {"resolution": "4k"},
                   {"sampleCount": 5}, {"generateAudio": "false"}, {"model": "veo-3.0-generate-preview"}):
        task_err(generations(emu, {**documented, **change}))  # the last: lastFrame is veo-3.1 only
    base = {"model": "veo-3.0-generate-preview", "prompt": "p", "durationSeconds": 8, "image": "https://x/y.png"}
    assert generations(emu, base).status_code == 200
    assert generations(emu, {"model": "seedance-1.0-pro", "prompt": "p"}).status_code == 200


def test_mixroute_sora_values(emu, ctl):
    task_err(generations(emu, {"model": "sora-2", "prompt": "p", "seconds": 4}))
    task_err(generations(emu, {"model": "sora-2", "prompt": "p", "size": "1080p"}))
    assert "'prompt'" in task_err(generations(emu, {"model": "sora-2"}))


@pytest.mark.parametrize(("body", "model"), [
    ({"instances": [{"image": {"bytesBase64Encoded": "AAAA", "mimeType": "image/png"}}]}, VEO31),
    ({"instances": [{"prompt": 5}]}, VEO31),
    ({"instances": []}, VEO31),
    ({"parameters": {"durationSeconds": 8}}, VEO31),
    ({"instances": [{"prompt": "p"}], "parameters": {"durationSeconds": "8"}}, VEO31),
    ({"instances": [{"prompt": "p"}], "parameters": {"durationSeconds": 5}}, VEO31),
    ({"instances": [{"prompt": "p"}], "parameters": {"aspectRatio": "1:1"}}, VEO31),
    ({"instances": [{"prompt": "p"}], "parameters": {"resolution": "4k"}}, "veo-3.0-generate-preview"),
    ({"instances": [{"prompt": "p"}], "parameters": {"personGeneration": "everyone"}}, VEO31),
    ({"instances": [{"prompt": "p", "referenceImages": [{"image": {}, "referenceType": "asset"}] * 4}]}, VEO31),
    ({"instances": [{"prompt": "p", "referenceImages": [{"image": {}, "referenceType": "face"}]}]}, VEO31),
])
def test_gemini_values_refused(emu, ctl, body, model):
    prefix = "/gemini" if model.startswith("veo-3.0") else ""
    google_err(gemini(emu, body, model, prefix), 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize(("prefix", "query", "status"), [
    ("", "", 400), ("", "?alt=json", 400), ("", "?alt=media", 302), ("/gemini/download", "", 400),
    ("/gemini/download", "?alt=media", 200)])
def test_gemini_downloads_require_alt_media(emu, ctl, prefix, query, status):
    name = gemini(emu, {"instances": [{"prompt": "p"}]}, "veo-3.0-generate-preview" if prefix else VEO31,
                  "/gemini" if prefix else "").json()["name"]
    file_id = ctl.job(name)["file_id"]
    r = requests.get(f"{emu.url}{prefix}/v1beta/files/{file_id}:download{query}", headers=GOOG, allow_redirects=False)
    assert r.status_code == status
    if status == 400:
        assert "alt=media" in google_err(r, 400, "INVALID_ARGUMENT")


# ------------------------------------------------------------------------------------- models


@pytest.mark.parametrize("gateway", ["openai", "hingnet", "tokenops", "mixroute", "thucchien"])
def test_v1_models_lists_the_played_gateway(emu, ctl, gateway):
    ctl.set_config(gateway=gateway)
    data = requests.get(f"{emu.url}/v1/models", headers=BEARER).json()["data"]
    assert [m["id"] for m in data] == list(MODELS_BY_GATEWAY[gateway])


def test_v1beta_models_lists_gemini_and_thucchien(emu, ctl):
    ids = [m["name"] for m in requests.get(f"{emu.url}/v1beta/models", headers=GOOG).json()["models"]]
    assert ids == [f"models/{m}" for m in MODELS_BY_GATEWAY["gemini"]]
    ids = [m["name"] for m in requests.get(f"{emu.url}/gemini/v1beta/models", headers=GOOG).json()["models"]]
    assert ids == [f"models/{m}" for m in MODELS_BY_GATEWAY["thucchien"]]
    assert "sora-2" not in MODELS_BY_GATEWAY["openai"]  # shut down on 2026-09-24


def test_unknown_models_in_each_gateways_words(emu, ctl):
    r = videos(emu, model="sora-2", prompt="p")
    assert openai_err(r, 404, "model_not_found", "model") == (
        "The model `sora-2` does not exist or you do not have access to it.")
    ctl.set_config(gateway="hingnet")
    r = videos(emu, model="veo-3.0-generate-preview", prompt="p")
    assert r.status_code == 503 and r.json()["error"]["type"] == "one_hub_error"
    assert r.json()["error"]["message"].startswith("当前分组 default 下对于模型 veo-3.0-generate-preview 无可用渠道")
    ctl.set_config(gateway="tokenops")
    assert "wan-2.7" in tokenops_err(videos(emu, model="wan-2.7", prompt="p"))
    r = generations(emu, {"model": "kling-v2", "prompt": "p"})
    assert r.status_code == 503 and r.json()["error"]["type"] == "new_api_error"
    assert r.json()["error"]["code"] == "model_not_found"
    for prefix, model in (("", "veo-3.0-generate-preview"), ("/gemini", VEO31)):
        message = google_err(gemini(emu, {"instances": [{"prompt": "p"}]}, model, prefix), 404, "NOT_FOUND")
        assert message.startswith(f"models/{model} is not found for API version v1beta, or is not supported for "
                                  f"predictLongRunning.")


def test_models_override(emu, ctl):
    ctl.set_config(models={"gemini": ["veo-9-test"]})
    assert gemini(emu, {"instances": [{"prompt": "p"}]}, "veo-9-test").status_code == 200
    assert gemini(emu, {"instances": [{"prompt": "p"}]}).status_code == 404
    with pytest.raises(Exception, match="models must map"):
        ctl.set_config(models={"nowhere": ["x"]})


# --------------------------------------------------------------------------------------- auth


@pytest.mark.parametrize(("gateway", "status", "check"), [
    ("openai", 401, lambda e: e["code"] == "invalid_api_key" and e["type"] == "invalid_request_error"),
    ("hingnet", 401, lambda e: e["type"] == "one_hub_error" and e["message"].startswith("无效的令牌 (request id: ")),
    ("mixroute", 401, lambda e: e["type"] == "new_api_error" and e["code"] == "" and "无效的令牌" in e["message"]),
    ("tokenops", 400, lambda e: e["code"] == 400 and e["details"] == []),
    ("thucchien", 401, lambda e: e == {"message": "Authentication Error, Invalid proxy server token passed. "
                                                  "valid_token=None.", "type": "auth_error", "param": "None",
                                       "code": "401"}),
])
def test_wrong_key_on_v1_routes(emu, ctl, gateway, status, check):
    ctl.set_config(gateway=gateway, api_key="right")
    path = "/v1/video/generations/task_x" if gateway == "mixroute" else "/v1/models"
    r = requests.get(f"{emu.url}{path}", headers=BEARER)
    assert r.status_code == status and check(r.json()["error"]), r.text
    assert requests.get(f"{emu.url}{path}", headers={"Authorization": "Bearer right"}).status_code != status


def test_missing_keys(emu, ctl):
    r = requests.get(f"{emu.url}/v1/models")
    assert openai_err_missing(r).startswith("You didn't provide an API key.")
    r = requests.get(f"{emu.url}/v1/video/generations/task_x")
    assert r.status_code == 401 and r.json()["error"]["message"].startswith("未提供令牌")
    r = requests.get(f"{emu.url}/gemini/v1beta/models")
    assert r.status_code == 401 and r.json()["error"]["message"] == "Authentication Error, No api key passed in."
    assert requests.get(f"{emu.url}/gemini/v1beta/models", headers=BEARER).status_code == 401  # LiteLLM: goog key
    assert google_err(requests.get(f"{emu.url}/v1beta/models"), 403, "PERMISSION_DENIED").startswith(
        "Method doesn't allow unregistered callers")
    google_err(requests.get(f"{emu.url}/v1beta/models", headers=BEARER), 401, "UNAUTHENTICATED")


def openai_err_missing(r):
    assert r.status_code == 401 and r.json()["error"]["code"] is None, r.text
    return r.json()["error"]["message"]


def test_gemini_wrong_key(emu, ctl):
    ctl.set_config(api_key="right")
    r = requests.get(f"{emu.url}/v1beta/models", headers=GOOG)
    assert google_err(r, 400, "INVALID_ARGUMENT") == "API key not valid. Please pass a valid API key."
    assert r.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"


# ---------------------------------------------------------------------- not ready, unknown ids


@pytest.mark.parametrize(("gateway", "not_ready", "unknown"), [
    ("openai", 400, 404), ("hingnet", 400, 404), ("tokenops", 400, 400)])
def test_content_not_ready_and_unknown(emu, ctl, gateway, not_ready, unknown):
    ctl.set_config(gateway=gateway, job_seconds=30)
    model = "sora-2" if gateway != "openai" else VEO31
    vid = videos(emu, model=model, prompt="p").json()["id"]
    r = requests.get(f"{emu.url}/v1/videos/{vid}/content", headers=BEARER)
    assert r.status_code == not_ready
    if gateway == "hingnet":  # HingNet 视频下载: 400 视频未就绪 / 404 任务不存在, Error {message, type, code}
        assert r.json()["error"]["message"] == "视频未就绪"
    for path in ("/v1/videos/video_nope/content", "/v1/videos/video_nope"):
        r = requests.get(f"{emu.url}{path}", headers=BEARER)
        assert r.status_code == unknown
        if gateway == "tokenops":
            tokenops_err(r)
        else:
            assert r.json()["error"]["code"] == "not_found"


def test_unknown_task_and_operation(emu, ctl):
    task_err(requests.get(f"{emu.url}/v1/video/generations/task_nope", headers=BEARER), "task_not_exist")
    for prefix in ("", "/gemini"):
        r = requests.get(f"{emu.url}{prefix}/v1beta/models/{VEO31}/operations/nosuchop", headers=GOOG)
        google_err(r, 404, "NOT_FOUND")


# ------------------------------------------------------------------------- vocabulary, lenient


@pytest.mark.parametrize(("gateway", "queued", "done"), [
    ("openai", "queued", "completed"), ("hingnet", "queued", "success"), ("tokenops", "pending", "completed")])
def test_status_vocab_auto_follows_gateway(emu, ctl, gateway, queued, done):
    ctl.set_config(gateway=gateway)
    created = videos(emu, model=MODELS_BY_GATEWAY[gateway][0], prompt="p").json()
    assert created["status"] == queued
    assert requests.get(f"{emu.url}/v1/videos/{created['id']}", headers=BEARER).json()["status"] == done
    ctl.set_config(status_vocab="hingnet_veo")  # an explicit vocabulary wins
    assert requests.get(f"{emu.url}/v1/videos/{created['id']}", headers=BEARER).json()["status"] == "completed"


def test_lenient_accepts_what_strict_refuses(emu, ctl):
    ctl.set_config(strict=False)
    assert videos(emu, data={"prompt": "p", "watermark": "false"}).status_code == 200
    assert videos(emu, json_body={"model": "sora-2", "prompt": "p", "seconds": 8}).status_code == 200
    assert generations(emu, {"model": "kling-v2", "prompt": "p", "negativePrompt": "x"}).status_code == 200
    body = {"instances": [{"prompt": "p"}], "parameters": {"seed": 1, "durationSeconds": "8"}}
    name = gemini(emu, body, "veo-2.0-generate-001").json()["name"]
    file_id = ctl.job(name)["file_id"]
    r = requests.get(f"{emu.url}/v1beta/files/{file_id}:download", headers=GOOG, allow_redirects=False)
    assert r.status_code == 302
    assert requests.get(f"{emu.url}/v1/models", headers={"Authorization": "Bearer "}).status_code == 401


# ----------------------------------------------------------------------------------- record


def test_record_body_shapes(emu, ctl):
    gemini(emu, {"instances": [{"prompt": "p", "referenceImages": [{"image": {"bytesBase64Encoded": "AA",
                                                                              "mimeType": "image/png"},
                                                                    "referenceType": "asset"}] * 3}],
                 "parameters": {"durationSeconds": 8, "enhancePrompt": True, "negativePrompt": None}})
    requests.post(f"{emu.url}/v1/video/generations", headers=BEARER, json={"model": "sora-2", "prompt": "p",
                                                                          "seconds": 4.5, "x": [1, "a", None, 3]})
    ctl.set_config(gateway="hingnet")
    requests.post(f"{emu.url}/v1/videos", headers=BEARER,
                  files=form(model="veo-3.1-generate-preview", prompt="p",
                             input_reference=[("a.png", PNG, "image/png"), ("b.png", PNG, "image/png")]))
    requests.post(f"{emu.url}/v1/videos", headers={**BEARER, "Content-Type": "Application/X-WWW-Form-Urlencoded; "
                                                                              "charset=UTF-8"}, data="prompt=p")
    requests.get(f"{emu.url}/v1/models", headers=BEARER)
    recs = ctl.requests()
    assert recs[0]["content_type"] == "application/json" and recs[0]["body_shape"] == {
        "instances": [{"prompt": "string", "referenceImages": [
            {"image": {"bytesBase64Encoded": "string", "mimeType": "string"}, "referenceType": "string"}] * 3}],
        "parameters": {"durationSeconds": "integer", "enhancePrompt": "boolean", "negativePrompt": "null"}}
    assert recs[1]["body_shape"] == {"model": "string", "prompt": "string", "seconds": "number",
                                     "x": ["integer", "string", "null"]}
    assert recs[2]["content_type"] == "multipart/form-data"
    assert recs[2]["body_shape"] == {"model": "string", "prompt": "string", "input_reference": ["file", "file"]}
    assert recs[2]["status"] == 200 and ctl.jobs()[-1]["image"]["sha256"]
    assert recs[3]["content_type"] == "application/x-www-form-urlencoded" and recs[3]["body_shape"] is None
    assert recs[4]["content_type"] is None and "body_shape" not in recs[4]
    assert "AA" not in json.dumps(recs) and PNG.decode("latin-1") not in json.dumps(recs)
