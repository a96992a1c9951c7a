"""The gateways' official SDKs as clients of the emulator: oracles this project did not write.

* ``openai`` (OpenAI's Python SDK) against every OpenAI-style gateway the emulator plays (OpenAI,
  HingNet, TokenOps): ``videos.create`` (text, and a first frame as ``input_reference``), ``retrieve``
  until done, ``download_content``.
* ``google-genai`` (Google's Python SDK, Gemini Developer API mode, API key) against Google's Gemini API
  and AI Thực Chiến's ``/gemini`` proxy: ``models.generate_videos`` (text, and ``image``),
  ``operations.get`` until done, ``files.download``.

Both must succeed end to end with the exact bytes of the job's video. And requests that neither SDK
would send (a form-urlencoded submit, integer ``seconds``, unknown parameters, Vertex-only Gemini
parameters) must be refused by the strict emulator, as the gateways' documents refuse them; where the
SDK itself refuses to build such a request (``seed`` in API-key mode), that is asserted too.

MixRoute (New API's ``/v1/video/generations``) has no official SDK; it is not covered here.
``tests/test_request_parity.py`` compares these SDKs' requests with the provider's.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest
import requests
from support import GATEWAY_PROFILES, TEST_KEY

# The SDKs mark the Sora ``videos`` resource deprecated (shut down on 24 Sep 2026); the gateways keep the
# same contract for other models. Silence exactly that warning.
SORA_DEPRECATION = "ignore:The Sora API is scheduled:DeprecationWarning"
pytestmark = pytest.mark.filterwarnings(SORA_DEPRECATION)

# A valid 1x1 RGBA PNG, the first frame of the image-to-video cases.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5d6a4d20000000049454e44ae426082"
)
PROMPT = "A cinematic shot of a hummingbird flying in slow motion"
DEADLINE_S = 20.0  # every wait below is bounded by this

OPENAI_STYLE = ("openai", "hingnet", "tokenops")
# API prefix at the gateway: Google's Gemini API, and AI Thực Chiến's LiteLLM-style /gemini proxy
# (https://docs.thucchien.ai/docs/user-guide/video-generation-veo3).
GEMINI_STYLE = {"gemini": "", "thucchien": "/gemini"}

# The word each OpenAI-style gateway uses for a finished job (openai-python types/video.py;
# HingNet /openai/video-query.md; TokenOps/apigo video-status), and every word of "not yet".
DONE_WORD = {"openai": "completed", "hingnet": "success", "tokenops": "completed"}
RUNNING_WORDS = {"queued", "pending", "in_progress", "processing"}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def play(emulator, gateway: str, **config: Any) -> None:
    """Make the emulator play ``gateway`` (whose documents it enforces, whose models it lists), with the
    gateway's documented profile (``GATEWAY_PROFILES``) plus ``config``."""
    emulator.ctl.set_config(**{"gateway": gateway, **GATEWAY_PROFILES[gateway], **config})


def records(emulator, method: str | None = None, site: str = "api") -> list[dict[str, Any]]:
    """The emulator's request record without headers (they hold the API key: never print them)."""
    return [{k: v for k, v in r.items() if k != "headers"} for r in emulator.ctl.requests(site)
            if method is None or r["method"] == method]


def until(check, what: str):
    """Call ``check`` until it returns something truthy, for at most ``DEADLINE_S`` seconds."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"{what}: not done within {DEADLINE_S} s")


# ---------------------------------------------------------------------------------- the two SDKs


def openai_client(emulator):
    from openai import OpenAI

    return OpenAI(api_key=TEST_KEY, base_url=emulator.url + "/v1", max_retries=0, timeout=30)


def genai_client(emulator, gateway: str):
    from google import genai
    from google.genai import types

    base_url = emulator.url + GEMINI_STYLE[gateway]
    return genai.Client(vertexai=False, api_key=TEST_KEY,
                        http_options=types.HttpOptions(base_url=base_url, timeout=30_000))


def openai_model(client) -> str:
    """The first model the gateway lists at ``GET /v1/models`` (through the SDK)."""
    models = [m.id for m in client.models.list()]
    assert models, "the gateway lists no models"
    return models[0]


def genai_model(client) -> str:
    """The first model the gateway lists at ``GET .../v1beta/models`` that can ``predictLongRunning``."""
    models = [m.name.removeprefix("models/") for m in client.models.list()
              if "predictLongRunning" in (m.supported_actions or [])]
    assert models, "the gateway lists no video model"
    return models[0]


def openai_create(client, model: str, image: bool):
    """``videos.create`` with the inputs every parity case uses: 8 s at 1280x720, optionally a first frame."""
    kwargs: dict[str, Any] = {"prompt": PROMPT, "model": model, "seconds": "8", "size": "1280x720"}
    if image:
        kwargs["input_reference"] = ("first_frame.png", PNG, "image/png")
    return client.videos.create(**kwargs)


def openai_wait(client, video_id: str):
    """``videos.retrieve`` until the status leaves the "not yet" words (the SDK's own ``poll()`` stops at
    any word but ``queued``/``in_progress``, so it cannot wait at HingNet or TokenOps)."""
    return until(lambda: (v := client.videos.retrieve(video_id)).status not in RUNNING_WORDS and v,
                 f"video {video_id}")


def genai_generate(client, model: str, image: bool):
    """``models.generate_videos`` with the parity inputs: 8 s, 16:9 at 720p, optionally a first frame."""
    from google.genai import types

    return client.models.generate_videos(
        model=model, prompt=PROMPT,
        image=types.Image(image_bytes=PNG, mime_type="image/png") if image else None,
        config=types.GenerateVideosConfig(duration_seconds=8, aspect_ratio="16:9", resolution="720p"))


def genai_wait(client, operation):
    return until(lambda: (op := client.operations.get(operation)).done and op, f"operation {operation.name}")


# ------------------------------------------------------------------------- end to end with the SDKs


@pytest.mark.parametrize("image", [False, True], ids=["text", "image"])
@pytest.mark.parametrize("gateway", OPENAI_STYLE)
def test_openai_sdk_generates_and_downloads_the_exact_video(emulator, gateway, image):
    # TokenOps documents two 200 bodies for /content: the MP4, or JSON {video_url, expires_at}. The SDK
    # returns either as bytes; the JSON form is covered by test_openai_sdk_gets_tokenops_json_url_as_is.
    play(emulator, gateway, job_seconds=0.5, **({"content_form": "bytes"} if gateway == "tokenops" else {}))
    with openai_client(emulator) as client:
        model = openai_model(client)
        video = openai_create(client, model, image)
        assert video.id and video.model == model and video.status in RUNNING_WORDS
        done = openai_wait(client, video.id)
        assert done.status == DONE_WORD[gateway], done
        data = client.videos.download_content(video.id).read()

    assert sha256(data) == emulator.ctl.sha256(video.id)["sha256"]
    job = emulator.ctl.job(video.id)
    assert job["prompt"] == PROMPT and job["model"] == model
    if image:
        assert job["image"]["sha256"] == sha256(PNG)
    else:
        assert job["image"] is None
    posts = records(emulator, "POST")
    assert [(r["path"], r["status"]) for r in posts] == [("/v1/videos", 200)]
    downloads = [r for r in records(emulator, "GET") if r["path"].endswith("/content")]
    assert [r["path"] for r in downloads] == [f"/v1/videos/{video.id}/content"]
    if GATEWAY_PROFILES[gateway].get("content_form") == "redirect":  # HingNet "视频下载": "use curl -L"
        # The SDK follows the redirect to the CDN host without the key (httpx drops Authorization there).
        assert [(r["status"], r["had_auth"]) for r in records(emulator, "GET", site="cdn")] == [(200, False)]


def test_openai_sdk_gets_tokenops_json_url_as_is(emulator):
    """TokenOps' other documented /content answer, JSON ``{video_url, expires_at}``
    (TokenOps AI API, GET /v1/videos/{video_id}/content): the SDK
    hands the JSON back as the "video"; a client has to fetch ``video_url`` itself (the provider does)."""
    play(emulator, "tokenops", job_seconds=0)
    with openai_client(emulator) as client:
        video = openai_create(client, openai_model(client), image=False)
        openai_wait(client, video.id)
        body = client.videos.download_content(video.id).json()
    assert set(body) == {"video_url", "expires_at"}
    data = requests.get(body["video_url"], timeout=30).content  # the CDN link: no key sent
    assert sha256(data) == emulator.ctl.sha256(video.id)["sha256"]


def test_openai_sdk_poll_helper_stops_at_tokenops_pending(emulator):
    """The SDK's ``videos.poll()`` waits only while the status is ``queued`` or ``in_progress``: at TokenOps
    (``pending``) it returns the unfinished job at once. Clients need a synonym table."""
    play(emulator, "tokenops", job_seconds=60)
    with openai_client(emulator) as client:
        video = openai_create(client, openai_model(client), image=False)
        polled = client.videos.poll(video.id, poll_interval_ms=10)
    assert polled.status == "pending"
    assert len(records(emulator, "GET")) == 2  # the model list and one status request


@pytest.mark.parametrize("image", [False, True], ids=["text", "image"])
@pytest.mark.parametrize("gateway", GEMINI_STYLE)
def test_genai_sdk_generates_and_downloads_the_exact_video(emulator, gateway, image):
    play(emulator, gateway, job_seconds=0.5)
    prefix = GEMINI_STYLE[gateway]
    with genai_client(emulator, gateway) as client:
        model = genai_model(client)
        operation = genai_generate(client, model, image)
        assert operation.name.startswith(f"models/{model}/operations/") and not operation.done
        done = genai_wait(client, operation)
        assert done.error is None, done.error
        video = done.response.generated_videos[0].video
        data = client.files.download(file=video)
        assert video.video_bytes == data  # the SDK also keeps the bytes on the Video object

    assert sha256(data) == emulator.ctl.sha256(operation.name)["sha256"]
    job = emulator.ctl.job(operation.name)
    assert job["prompt"] == PROMPT and job["model"] == model
    assert (job["image"] or {}).get("sha256") == (sha256(PNG) if image else None)
    assert [(r["path"], r["status"]) for r in records(emulator, "POST")] == [
        (f"{prefix}/v1beta/models/{model}:predictLongRunning", 200)]
    polls = [r["path"] for r in records(emulator, "GET") if "/operations/" in r["path"]]
    assert polls and set(polls) == {f"{prefix}/v1beta/{operation.name}"}
    # files.download builds "{base_url}/v1beta/files/{id}:download?alt=media", the id taken from the uri
    # (_transformers.t_file_name); it follows redirects (Google's answer) to storage.
    file_id = job["file_id"]
    downloads = [r for r in records(emulator, "GET") if ":download" in r["path"]]
    assert [(r["path"], r["query"]) for r in downloads] == [
        (f"{prefix}/v1beta/files/{file_id}:download", {"alt": "media"})]
    if GATEWAY_PROFILES[gateway].get("gemini_download") == "redirect":
        # Unlike the provider, the SDK sends x-goog-api-key on to the storage host of the redirect (httpx
        # drops only Authorization across origins): recorded here as the SDK's behaviour, not a model.
        assert [(r["status"], r["had_auth"]) for r in records(emulator, "GET", site="cdn")] == [(200, True)]


def test_genai_sdk_downloads_from_thucchien_documented_path(emulator):
    """Thực Chiến documents ``/gemini/download/v1beta/files/{id}:download?alt=media``
    (AI Thực Chiến "Tải xuống video hoàn thành", docs.thucchien.ai): the SDK
    reaches it only with a download base URL of ``.../gemini/download`` (its default with base URL
    ``.../gemini`` is LiteLLM's ``/gemini/v1beta/files/{id}:download``, which the emulator also serves)."""
    from google.genai import types

    play(emulator, "thucchien", job_seconds=0)
    with genai_client(emulator, "thucchien") as client:
        done = genai_wait(client, genai_generate(client, genai_model(client), image=False))
        config = types.DownloadFileConfig(http_options=types.HttpOptions(base_url=emulator.url + "/gemini/download"))
        data = client.files.download(file=done.response.generated_videos[0].video, config=config)

    assert sha256(data) == emulator.ctl.sha256(done.name)["sha256"]
    file_id = emulator.ctl.job(done.name)["file_id"]
    downloads = [(r["path"], r["query"], r["status"]) for r in records(emulator, "GET") if ":download" in r["path"]]
    assert downloads == [(f"/gemini/download/v1beta/files/{file_id}:download", {"alt": "media"}, 200)]


# ----------------------------------------------- requests neither SDK sends: the strict emulator refuses


def bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {TEST_KEY}"}


def goog() -> dict[str, str]:
    return {"x-goog-api-key": TEST_KEY}


VIDEO_FIELDS = {"prompt": PROMPT, "seconds": "8", "size": "1280x720"}


def post_video(emulator, **kwargs) -> requests.Response:
    return requests.post(emulator.url + "/v1/videos", headers=bearer(), timeout=30, **kwargs)


def multipart(fields: dict[str, str]) -> dict[str, tuple[None, str]]:
    """``requests``' ``files=`` form of plain fields: multipart/form-data, as the SDK sends them."""
    return {k: (None, v) for k, v in fields.items()}


def listed_openai_model(emulator) -> str:
    with openai_client(emulator) as client:
        return openai_model(client)


def assert_refused(response: requests.Response, what: str, names: str) -> None:
    """A 4xx refusal (not an auth, not-found or rate-limit answer) whose error names ``names``."""
    assert 400 <= response.status_code < 500 and response.status_code not in (401, 403, 404, 429), (
        f"{what}: the emulator answered HTTP {response.status_code} instead of refusing the request")
    assert names in response.text, f"{what}: the refusal does not name {names!r}: {response.text[:300]}"


def job_count(emulator) -> int:
    return len(emulator.ctl.jobs())


@pytest.mark.parametrize("gateway", OPENAI_STYLE)
def test_form_urlencoded_submit_is_refused(emulator, gateway):
    """Every copy of ``POST /v1/videos`` documents multipart (or JSON at HingNet), never a URL-encoded form;
    the SDK always sends multipart. The same fields as multipart are accepted (the control)."""
    play(emulator, gateway)
    fields = {**VIDEO_FIELDS, "model": listed_openai_model(emulator)}
    assert_refused(post_video(emulator, data=fields), "form-urlencoded submit", "application/x-www-form-urlencoded")
    assert job_count(emulator) == 0
    accepted = post_video(emulator, files=multipart(fields))
    assert accepted.status_code == 200, accepted.text
    assert job_count(emulator) == 1


def test_integer_seconds_is_refused_at_an_openai_compatible_gateway(emulator):
    """``seconds`` is a string, ``"4"|"8"|"12"``, in OpenAI's contract (openai-python ``VideoSeconds``); the
    SDK cannot send an integer. (TokenOps takes no JSON at all; HingNet's own examples send an integer.)"""
    play(emulator, "openai")
    body = {**VIDEO_FIELDS, "model": listed_openai_model(emulator), "seconds": 8}
    assert_refused(post_video(emulator, json=body), "integer seconds", "seconds")
    assert job_count(emulator) == 0


def test_hingnet_accepts_its_documented_json_with_integer_seconds(emulator):
    """HingNet's create example is JSON with ``"seconds": 6`` (docs /openai/video-generation): strictness
    must not refuse what a gateway's own document sends."""
    play(emulator, "hingnet")
    body = {**VIDEO_FIELDS, "model": listed_openai_model(emulator), "seconds": 6}
    response = post_video(emulator, json=body)
    assert response.status_code == 200, response.text


def test_tokenops_refuses_json(emulator):
    """TokenOps documents ``CreateVideoFormRequest`` only: multipart/form-data
    (TokenOps AI API videos-generations page)."""
    play(emulator, "tokenops")
    body = {**VIDEO_FIELDS, "model": listed_openai_model(emulator)}
    assert_refused(post_video(emulator, json=body), "JSON submit at TokenOps", "application/json")
    assert job_count(emulator) == 0


@pytest.mark.parametrize("gateway", OPENAI_STYLE)
def test_unknown_video_parameter_is_refused(emulator, gateway):
    """A field no document and no SDK version names (OpenAI answers ``unknown_parameter``)."""
    play(emulator, gateway)
    fields = {**VIDEO_FIELDS, "model": listed_openai_model(emulator), "frame_rate_boost": "2"}
    assert_refused(post_video(emulator, files=multipart(fields)), "unknown parameter", "frame_rate_boost")
    assert job_count(emulator) == 0


def post_gemini(emulator, gateway: str, model: str, body: dict[str, Any]) -> requests.Response:
    url = f"{emulator.url}{GEMINI_STYLE[gateway]}/v1beta/models/{model}:predictLongRunning"
    return requests.post(url, headers=goog(), json=body, timeout=30)


def listed_genai_model(emulator, gateway: str) -> str:
    with genai_client(emulator, gateway) as client:
        return genai_model(client)


GEMINI_BODY = {"instances": [{"prompt": PROMPT}],
               "parameters": {"durationSeconds": 8, "aspectRatio": "16:9", "resolution": "720p"}}


@pytest.mark.parametrize("gateway", GEMINI_STYLE)
def test_gemini_unknown_top_level_key_is_refused(emulator, gateway):
    """Google answers an unknown JSON name with 400 INVALID_ARGUMENT ("Unknown name ... Cannot find field");
    the SDK only ever sends ``instances``, ``parameters`` (and ``webhookConfig``). Control: the same body
    without it is accepted."""
    play(emulator, gateway)
    model = listed_genai_model(emulator, gateway)
    response = post_gemini(emulator, gateway, model, {**GEMINI_BODY, "generationConfig": {"seed": 1}})
    assert_refused(response, "unknown top-level key", "generationConfig")
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert job_count(emulator) == 0
    assert post_gemini(emulator, gateway, model, GEMINI_BODY).status_code == 200
    assert job_count(emulator) == 1


# The Vertex-only parameters the SDK refuses in Gemini Developer API (API key) mode
# (models.py _GenerateVideosConfig_to_mldev, _Image_to_mldev), their JSON names and the JSON each would add.
VERTEX_ONLY = {
    "seed": ({"seed": 42}, "seed", {"parameters": {"seed": 42}}),
    "generate_audio": ({"generate_audio": True}, "generateAudio", {"parameters": {"generateAudio": True}}),
    "gcs_uri": ({}, "gcsUri",
                {"instances": [{"image": {"gcsUri": "gs://bucket/first_frame.png", "mimeType": "image/png"}}]}),
}


def merged(body: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``body`` with ``extra``'s ``parameters`` and ``instances[0]`` keys merged in."""
    return {"instances": [{**body["instances"][0], **(extra.get("instances") or [{}])[0]}],
            "parameters": {**body["parameters"], **extra.get("parameters", {})}}


@pytest.mark.parametrize("param", VERTEX_ONLY)
@pytest.mark.parametrize("gateway", GEMINI_STYLE)
def test_vertex_only_parameters_are_refused_by_the_sdk_and_the_emulator(emulator, gateway, param):
    from google.genai import types

    play(emulator, gateway)
    config, wire_name, extra = VERTEX_ONLY[param]
    with genai_client(emulator, gateway) as client:
        model = genai_model(client)
        image = types.Image(gcs_uri=extra["instances"][0]["image"]["gcsUri"], mime_type="image/png") \
            if param == "gcs_uri" else None
        with pytest.raises(ValueError, match=f"{param} parameter is only supported in .*Agent Platform mode"):
            client.models.generate_videos(model=model, prompt=PROMPT, image=image,
                                          config=types.GenerateVideosConfig(duration_seconds=8, **config))
    assert records(emulator, "POST") == []  # the SDK raised before sending anything
    response = post_gemini(emulator, gateway, model, merged(GEMINI_BODY, extra))
    assert_refused(response, f"Vertex-only {param}", wire_name)
    assert job_count(emulator) == 0
