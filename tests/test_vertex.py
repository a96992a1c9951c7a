"""Vertex AI (Veo): the seventh connection type, end to end against the strict emulator, Cloud Storage and S3.

Credentials are the Google provider's (``GoogleBaseHook``): these tests inject, as the machine's default
credentials (``google.auth.default``), a ``google.auth.credentials.Credentials`` whose ``refresh()`` mints
``test-vertex-token`` without any network, and a guard makes every name lookup of a Google host
(``*.googleapis.com``, the metadata server) fail loudly: no real Google endpoint is ever called.

Cloud Storage is gcp-storage-emulator (its JSON API on loopback), started here; the emulator uploads
``storageUri`` outputs into it, and the download reads them back through ``ObjectStoragePath`` with the
``google_cloud_platform`` connection. S3 is moto's server on loopback. The session's key scan
(``conftest.py``) also looks for the Vertex token in every captured log and Airflow task log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import importlib.util
import json
import socket
import sys
import threading
import time
from importlib.metadata import version

import pytest
import requests
from deployment.deployment_support import MotoS3Server
from storage_servers import GcsEmulator
from support import GATEWAY_PROFILES, ROOT, VERTEX_TOKEN, connection_uri_env, fast, finished, submit

from airflow_provider_videogen.exceptions import (
    GatewayAuthError,
    InvalidVideoRequest,
    ModelNotAvailable,
    TransientGatewayError,
    VideoContentFiltered,
    VideoGenError,
)
from airflow_provider_videogen.gateways import GATEWAYS, GenerationRequest, ImageInput
from airflow_provider_videogen.gateways.base import SourceVideo
from airflow_provider_videogen.hooks.google_auth import GoogleTokenCredentials

AIRFLOW_VERSION = tuple(int(part) for part in version("apache-airflow-core").split(".")[:2])
PROJECT, LOCATION, BUCKET = "videogen-test", "us-central1", "videogen-vertex"
GCP_CONN = "gcp_vertex"  # the google_cloud_platform connection (credentials, and it reads storageUri outputs)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
FETCH = r":fetchPredictOperation$"
needs_google = pytest.mark.skipif(
    importlib.util.find_spec("airflow.providers.google") is None,
    reason="apache-airflow-providers-google is not installed (the [google] extra; `make test` installs it in .venv)")


# -- credentials that mint a fixed token, and no Google endpoint ever ----------------------------------------
def minted(lifetime: float = 3600.0, delay: float = 0.0):
    """Credentials whose ``refresh()`` sets ``test-vertex-token`` valid for ``lifetime`` seconds (blocking for
    ``delay`` seconds, like a slow token endpoint), recording the thread of every refresh."""
    import google.auth.credentials

    class Minted(google.auth.credentials.Credentials):
        def __init__(self):
            super().__init__()
            self.refreshes: list[str] = []

        def refresh(self, request):
            time.sleep(delay)
            self.refreshes.append(threading.current_thread().name)
            self.token = VERTEX_TOKEN
            # google-auth compares naive UTC datetimes and refreshes ahead of expiry (REFRESH_THRESHOLD)
            self.expiry = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(seconds=lifetime)

    return Minted()


@pytest.fixture
def no_google(monkeypatch):
    """Every name lookup of a Google host fails loudly (recorded; the test fails if there was any)."""
    tried: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        name = (host.decode() if isinstance(host, bytes) else str(host or "")).lower().rstrip(".")
        if name.endswith(("googleapis.com", "google.internal", "google.com")) or name in ("metadata",
                                                                                          "169.254.169.254"):
            tried.append(name)
            raise socket.gaierror(socket.EAI_NONAME, f"tests never reach Google: {name}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield tried
    assert tried == [], f"something tried to reach Google: {sorted(set(tried))}"


@pytest.fixture
def credentials(monkeypatch, no_google):
    """The machine's default credentials, as GoogleBaseHook finds them without a key: minted tokens."""
    import google.auth

    made: list = []

    def default(scopes=None, **kwargs):
        made.append(minted())
        return made[-1], PROJECT

    monkeypatch.setattr(google.auth, "default", default)
    return made


# -- Cloud Storage (gcp-storage-emulator) and S3 (moto), on loopback -----------------------------------------
@pytest.fixture(scope="module")
def gcs(tmp_path_factory):
    """gcp-storage-emulator (the Cloud Storage JSON API, in memory) with the bucket (``storage_servers``)."""
    pytest.importorskip("gcp_storage_emulator")
    with GcsEmulator(tmp_path_factory.mktemp("gcs"), BUCKET) as server:
        yield server


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3 server with a bucket (``deployment_support``); yields its URL and a boto3 client."""
    pytest.importorskip("moto")
    pytest.importorskip("s3fs")
    server = MotoS3Server(tmp_path_factory.mktemp("moto"))
    try:
        server.start()
        import boto3

        client = boto3.client("s3", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        client.create_bucket(Bucket=BUCKET)
        yield server.url, client
    finally:
        server.stop()


def _forget_filesystems() -> None:
    """ObjectStoragePath keeps one filesystem per (scheme, connection), fsspec one per arguments: start afresh."""
    from airflow.sdk.io import store

    store._STORE_CACHE.clear()
    for module, name in (("gcsfs.core", "GCSFileSystem"), ("s3fs.core", "S3FileSystem")):
        if module in sys.modules:
            getattr(sys.modules[module], name).clear_instance_cache()


# -- the Vertex connection -------------------------------------------------------------------------------------
@pytest.fixture
def vertex(emulator, monkeypatch, credentials, request):
    """``videogen_vertex`` connection ``videogen_vertex_test`` on the emulator; returns a hook factory.

    With the ``gcs`` fixture in use, the emulator uploads storageUri outputs there and ``gcp_vertex`` (a
    ``google_cloud_platform`` connection: default credentials, the emulator as GCS endpoint) reads them.
    """
    from airflow_provider_videogen.hooks.base import VideoGenHook

    config = {**GATEWAY_PROFILES["vertex"], "job_seconds": 0.3, "video_bytes": 2_000_000}
    if "gcs" in request.fixturenames:
        gcs_url = request.getfixturevalue("gcs").url
        config["gcs_endpoint"] = gcs_url
        monkeypatch.setenv(f"AIRFLOW_CONN_{GCP_CONN.upper()}", json.dumps(
            {"conn_type": "google_cloud_platform", "extra": {"project": PROJECT, "gcs.endpoint": gcs_url}}))
        # gcsfs >= 2026.10 defaults to a filesystem that asks the bucket's layout over gRPC; the emulator
        # speaks only the JSON API: the plain filesystem, for a new import and for one already imported.
        monkeypatch.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
        import gcsfs
        import gcsfs.core

        monkeypatch.setattr(gcsfs, "GCSFileSystem", gcsfs.core.GCSFileSystem)
    emulator.ctl.set_config(**config)
    _forget_filesystems()

    def make(conn_id: str = "videogen_vertex_test", **extra) -> VideoGenHook:
        extra.setdefault("timeout", 5)
        if "gcs" in request.fixturenames:
            extra.setdefault("gcp_conn_id", GCP_CONN)
        monkeypatch.setenv(*connection_uri_env(conn_id, "vertex", emulator.url, **extra))
        return VideoGenHook.for_connection(conn_id, retry_initial=0.01)

    yield make
    _forget_filesystems()


def api_requests(emulator) -> list[dict]:
    return [r for r in emulator.ctl.requests() if r["site"] == "api"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# == the protocol, pure ========================================================================================
def test_the_protocol_builds_vertex_requests_on_the_gemini_body():
    protocol = GATEWAYS["vertex"].protocol.bind(PROJECT, LOCATION)
    request = GenerationRequest(prompt="a kite", model="veo-3.1-generate-001", duration_seconds=8,
                                aspect_ratio="16:9", resolution="1080p", image=ImageInput(PNG), seed=42,
                                generate_audio=True, number_of_videos=2, person_generation="allow_adult",
                                storage_uri=f"gs://{BUCKET}/videos", extra_params={"compressionQuality": "lossless"})
    protocol.check(request)
    http = protocol.build_submit(request)
    assert (http.method, http.path) == ("POST", f"/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/"
                                                "models/veo-3.1-generate-001:predictLongRunning")
    gemini = GATEWAYS["gemini"].protocol.build_body(GenerationRequest(
        prompt="a kite", model="m", duration_seconds=8, aspect_ratio="16:9", resolution="1080p",
        image=ImageInput(PNG), number_of_videos=2, person_generation="allow_adult"))
    assert http.json["instances"] == gemini["instances"]  # the Gemini builder's instance, image and all
    assert http.json["parameters"] == {**gemini["parameters"], "seed": 42, "generateAudio": True,
                                       "storageUri": f"gs://{BUCKET}/videos", "compressionQuality": "lossless"}

    name = f"projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/veo-3.1-generate-001/operations/a-1"
    status = protocol.build_status(name)
    assert (status.method, status.json) == ("POST", {"operationName": name})
    assert status.path == (f"/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/"
                           "veo-3.1-generate-001:fetchPredictOperation")
    assert protocol.build_cancel(name) is None  # Vertex AI documents no cancel for these operations

    done = {"name": name, "done": True, "response": {"videos": [
        {"gcsUri": f"gs://{BUCKET}/videos/1/sample_0.mp4", "mimeType": "video/mp4"},
        {"bytesBase64Encoded": "AAAA", "mimeType": "video/mp4"}]}}
    gcs_video, inline = protocol.parse_status(name, done).videos
    assert (gcs_video.kind, gcs_video.url) == ("gcs", f"gs://{BUCKET}/videos/1/sample_0.mp4")
    assert (inline.kind, inline.field, inline.body) == ("json_base64", "response.videos.1.bytesBase64Encoded",
                                                        {"operationName": name})
    filtered = protocol.parse_status(name, {"name": name, "done": True, "response": {
        "raiMediaFilteredCount": 1, "raiMediaFilteredReasons": ["unsafe"]}})
    assert (filtered.state, filtered.error_code, filtered.filtered) == ("failed", "RAI_FILTERED", True)
    with pytest.raises(Exception, match="unsafe operation name"):
        protocol.build_status("projects/p/locations/l/../operations/x")


@pytest.mark.parametrize(("field", "value", "words"), [
    ("seed", 2**32, "uint32"), ("storage_uri", "s3://bucket/x", "Cloud Storage folder"),
    ("source", SourceVideo("op", "https://example/v.mp4"), "Cloud Storage")])
def test_vertex_refuses_what_it_cannot_send_before_paying(field, value, words):
    protocol = GATEWAYS["vertex"].protocol.bind(PROJECT, LOCATION)
    with pytest.raises(InvalidVideoRequest, match=words):
        protocol.check(GenerationRequest(prompt="x", model="veo-3.1-generate-001", **{field: value}))


@pytest.mark.parametrize("gateway", sorted(set(GATEWAYS) - {"vertex"}))
def test_every_other_gateway_refuses_storage_uri_and_gemini_refuses_seed(gateway):
    with pytest.raises(InvalidVideoRequest, match="storage_uri is not supported"):
        GATEWAYS[gateway].protocol.check(GenerationRequest(prompt="x", model="veo-3.1-generate-preview",
                                                           storage_uri=f"gs://{BUCKET}/v"))


# == credentials ================================================================================================
def test_google_token_credentials_refresh_when_needed_and_off_the_event_loop():
    creds = minted(lifetime=3600, delay=0.3)
    wrapped = GoogleTokenCredentials(creds, gateway="vertex")
    assert wrapped.secrets() == ()  # nothing minted yet, nothing to redact
    assert wrapped.headers() == {"Authorization": f"Bearer {VERTEX_TOKEN}"}
    assert wrapped.headers() == {"Authorization": f"Bearer {VERTEX_TOKEN}"} and len(creds.refreshes) == 1
    assert wrapped.secrets() == (VERTEX_TOKEN,) and VERTEX_TOKEN not in repr(wrapped)

    expiring = minted(lifetime=1, delay=0.3)  # inside google-auth's refresh threshold: every use refreshes

    async def main():
        wrapped = GoogleTokenCredentials(expiring, gateway="vertex")
        lags, stop = [], asyncio.Event()

        async def ticker():
            while not stop.is_set():
                started = time.monotonic()
                await asyncio.sleep(0.01)
                lags.append(time.monotonic() - started - 0.01)

        tick = asyncio.create_task(ticker())
        headers = [await wrapped.aheaders() for _ in range(3)]
        stop.set()
        await tick
        return headers, max(lags), threading.current_thread().name

    headers, lag, loop_thread = asyncio.run(main())
    assert headers == [{"Authorization": f"Bearer {VERTEX_TOKEN}"}] * 3
    assert len(expiring.refreshes) == 3 and loop_thread not in expiring.refreshes  # refreshed in threads
    assert lag < 0.2  # three 0.3 s refreshes never held the loop


def test_a_quota_project_goes_with_the_token_as_google_auth_applies_it():
    creds = minted()
    creds._quota_project_id = "billed-project"  # what with_quota_project() sets on google-auth's own classes
    wrapped = GoogleTokenCredentials(creds, gateway="vertex")
    expected = {}
    creds.refresh(None)
    creds.apply(expected)  # google-auth's own headers for these credentials
    assert {k.lower(): v for k, v in wrapped.headers().items()} == expected
    assert asyncio.run(wrapped.aheaders()) == wrapped.headers()
    assert wrapped.headers()["x-goog-user-project"] == "billed-project"


def test_a_rejected_credential_is_an_auth_error_without_the_token():
    import google.auth.exceptions

    class Refused(type(minted())):
        def refresh(self, request):
            raise google.auth.exceptions.RefreshError(f"invalid_grant: token {VERTEX_TOKEN} revoked")

    wrapped = GoogleTokenCredentials(Refused(), gateway="vertex")
    wrapped._tokens.append(VERTEX_TOKEN)  # a token handed out earlier is redacted too
    with pytest.raises(GatewayAuthError, match="refused the connection's credentials") as err:
        wrapped.headers()
    assert VERTEX_TOKEN not in str(err.value)


# == the emulator plays Vertex ==================================================================================
def test_the_emulator_wants_the_bearer_token_and_answers_like_google(emulator):
    emulator.ctl.set_config(**GATEWAY_PROFILES["vertex"])
    base = f"{emulator.url}/v1/projects/{PROJECT}/locations/{LOCATION}"
    submit = f"{base}/publishers/google/models/veo-3.1-generate-001:predictLongRunning"
    body = {"instances": [{"prompt": "x"}], "parameters": {"seed": 1, "generateAudio": False, "sampleCount": 1}}
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"x-goog-api-key": VERTEX_TOKEN}):
        answer = requests.post(submit, json=body, headers=headers, timeout=10)
        assert answer.status_code == 401 and answer.json()["error"]["status"] == "UNAUTHENTICATED"
    auth = {"Authorization": f"Bearer {VERTEX_TOKEN}"}
    unknown = requests.post(submit, json={**body, "webhookConfig": {}}, headers=auth, timeout=10)
    assert unknown.status_code == 400 and 'Unknown name "webhookConfig"' in unknown.json()["error"]["message"]
    seed = requests.post(submit, json={"instances": [{"prompt": "x"}], "parameters": {"seed": -1}}, headers=auth,
                         timeout=10)
    assert seed.status_code == 400 and "seed" in seed.json()["error"]["message"]
    model = requests.post(submit.replace("veo-3.1-generate-001", "veo-9"), json=body, headers=auth, timeout=10)
    assert model.status_code == 404 and "Publisher Model" in model.json()["error"]["message"]
    name = requests.post(submit, json=body, headers=auth, timeout=10).json()["name"]
    assert name.startswith(f"projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/veo-3.1-generate-001/"
                           "operations/")
    fetch = submit.replace(":predictLongRunning", ":fetchPredictOperation")
    assert requests.post(fetch, json={"operationName": name}, headers=auth, timeout=10).json() == {"name": name}
    assert requests.post(fetch, json={"operationName": name + "x"}, headers=auth, timeout=10).status_code == 404
    assert requests.get(base, headers=auth, timeout=10).json()["locationId"] == LOCATION
    assert emulator.ctl.config()["vertex_token"] == "***"


# == end to end through the hook ================================================================================
@needs_google
def test_submit_poll_and_download_the_base64_video(vertex, emulator, tmp_path):
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_videogen.download import VideoDownloader

    hook = vertex()
    op = finished(hook, seed=7, generate_audio=True, image=ImageInput(PNG))
    (locator,) = op.videos
    assert (locator.kind, locator.field) == ("json_base64", "response.videos.0.bytesBase64Encoded")
    result = VideoDownloader(hook, chunk_size=128 * 1024).download(op, ObjectStoragePath(f"file://{tmp_path}/v.mp4"))
    served = emulator.ctl.sha256(op.operation_id)
    assert result.sha256 == served["sha256"] == sha256((tmp_path / "v.mp4").read_bytes())
    assert result.size_bytes == served["size"] == 2_000_000

    record = api_requests(emulator)
    assert all(r["headers"].get("Authorization") == f"Bearer {VERTEX_TOKEN}" for r in record)
    assert not any("x-goog-api-key" in {k.lower() for k in r["headers"]} for r in record)
    (post,) = [r for r in record if r["path"].endswith(":predictLongRunning")]
    assert post["body_shape"] == {"instances": [{"prompt": "string", "image": {"bytesBase64Encoded": "string",
                                                                              "mimeType": "string"}}],
                                  "parameters": {"durationSeconds": "integer", "seed": "integer",
                                                 "generateAudio": "boolean"}}
    polls = [r for r in record if r["path"].endswith(":fetchPredictOperation")]
    assert polls and all(r["method"] == "POST" and r["body_shape"] == {"operationName": "string"} for r in polls)


@needs_google
def test_storage_uri_lands_in_gcs_and_is_copied_to_a_file_and_to_s3(vertex, gcs, s3, emulator, tmp_path,
                                                                   monkeypatch):
    """Done when: the video generated with storage_uri is in Cloud Storage, and copied from there to a local
    file and to S3 with the right sha256; a destination that is the object itself is checked, not copied."""
    from airflow_provider_videogen.operators.video import VideoDownloadOperator, VideoGenerateOperator
    from airflow_provider_videogen.sensors.video import VideoOperationSensor

    s3_url, s3_client = s3
    monkeypatch.setenv("AIRFLOW_CONN_AWS_VERTEX", json.dumps({
        "conn_type": "aws", "login": "testing", "password": "testing",
        "extra": {"endpoint_url": s3_url, "region_name": "us-east-1"}}))
    vertex("videogen_vertex_test")
    generated = VideoGenerateOperator(task_id="generate", conn_id="videogen_vertex_test", prompt="a lighthouse",
                                      duration_seconds=4, storage_uri=f"gs://{BUCKET}/videos").execute({})
    wait = VideoOperationSensor(task_id="wait", conn_id="videogen_vertex_test", deferrable=False,
                                operation_id=generated["operation_id"])
    deadline = time.monotonic() + 15
    while not (poked := wait.poke({})).is_done:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    operation = poked.xcom_value
    (locator,) = operation["videos"]
    assert locator["kind"] == "gcs" and locator["url"].startswith(f"gs://{BUCKET}/videos/")
    served = emulator.ctl.sha256(generated["operation_id"])
    key = locator["url"].removeprefix(f"gs://{BUCKET}/")
    assert gcs.names("videos/") == [key]
    assert sha256(gcs.read(key)) == served["sha256"]  # written by "Vertex" into the bucket

    def download(destination: str) -> dict:
        return VideoDownloadOperator(task_id="download", conn_id="videogen_vertex_test", operation=operation,
                                     generation=generated, destination=destination, asset_alias=None).execute({})

    local = download(str(tmp_path / "copy.mp4"))
    assert local["sha256"] == served["sha256"] == sha256((tmp_path / "copy.mp4").read_bytes())
    on_s3 = download(f"s3://aws_vertex@{BUCKET}/videos/copy.mp4")
    body = s3_client.get_object(Bucket=BUCKET, Key="videos/copy.mp4")["Body"].read()
    assert on_s3["sha256"] == served["sha256"] == sha256(body) and len(body) == served["size"]
    assert [o["Key"] for o in s3_client.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["videos/copy.mp4"]
    in_place = download(f"gs://{GCP_CONN}@{BUCKET}/{key}")  # the object itself: checked, nothing copied
    assert in_place["sha256"] == served["sha256"] and gcs.names() == [key]
    assert on_s3["provenance"]["parameters"]["storage_uri"] == f"gs://{BUCKET}/videos"
    assert VERTEX_TOKEN not in json.dumps([generated, operation, local, on_s3, in_place])


@needs_google
def test_a_video_extension_names_the_source_in_cloud_storage(vertex, gcs, emulator):
    hook = vertex()
    first = finished(hook, storage_uri=f"gs://{BUCKET}/ext")
    second = finished(hook, source=SourceVideo(first.operation_id, first.videos[0].uri),
                      storage_uri=f"gs://{BUCKET}/ext")
    assert second.state == "succeeded"
    assert emulator.ctl.job(second.operation_id)["source_video"] == first.videos[0].uri


@needs_google
def test_the_test_button_unknown_models_and_filtered_jobs(vertex, emulator, monkeypatch):
    from airflow_provider_videogen.hooks.base import VideoGenHook

    ok, message = vertex().test_connection()
    assert ok and "accepted the Google credentials" in message
    emulator.ctl.set_config(vertex_token="another-token")
    ok, message = vertex().test_connection()
    assert not ok and message.startswith("Key rejected") and VERTEX_TOKEN not in message
    emulator.ctl.set_config(vertex_token=VERTEX_TOKEN)
    with pytest.raises(ModelNotAvailable, match=r"gateway vertex.*'veo-9'"):
        vertex().submit(GenerationRequest(prompt="x", model="veo-9"))
    op = finished(vertex(), prompt="[[filtered]] x")
    from airflow_provider_videogen.sensors.video import failure_error

    assert isinstance(failure_error(op), VideoContentFiltered)
    monkeypatch.setenv(*connection_uri_env("videogen_vertex_down", "vertex", "http://127.0.0.1:1"))
    ok, message = VideoGenHook.for_connection("videogen_vertex_down", retry_initial=0.01).test_connection()
    assert not ok and message.startswith("Gateway unreachable")


@needs_google
def test_without_a_host_the_endpoint_is_derived_from_the_location(credentials, monkeypatch, no_google):
    from airflow_provider_videogen.hooks.base import VideoGenHook

    for location, url in (("europe-west4", "https://europe-west4-aiplatform.googleapis.com"),
                          ("global", "https://aiplatform.googleapis.com")):
        monkeypatch.setenv("AIRFLOW_CONN_VIDEOGEN_VERTEX_REAL", json.dumps(
            {"conn_type": "videogen_vertex", "extra": {"project": "p-1", "location": location}}))
        hook = VideoGenHook.for_connection("videogen_vertex_real")
        assert hook.settings.base_url == url and hook.protocol.location == location
        assert hook.protocol.submit_path("veo-3.1-generate-001").startswith(f"/v1/projects/p-1/locations/{location}/")
    with pytest.raises(TransientGatewayError, match="could not connect"):  # the guard refuses the lookup...
        hook.transport.api(hook.protocol.build_test_connection(), step="connection test")
    assert set(no_google) == {"aiplatform.googleapis.com"}  # ...and it was the only try to reach Google
    no_google.clear()


# == faults, redaction ==========================================================================================
@needs_google
@pytest.mark.parametrize("fault", [{"status": 429, "headers": {"Retry-After": "0"}}, {"status": 503},
                                   {"reset_after_bytes": 0}])
def test_polls_survive_429_503_and_resets(fault, vertex, emulator):
    hook = vertex()
    operation_id = submit(hook)
    time.sleep(0.4)
    emulator.ctl.add_fault(FETCH, method="POST", times=2, **fault)
    assert hook.get_operation(operation_id).state == "succeeded"
    assert len([r for r in api_requests(emulator) if r["path"].endswith(":fetchPredictOperation")]) == 3


@needs_google
@pytest.mark.parametrize("fault", [{"reset_after_bytes": 700_000}, {"truncate_to_bytes": 900_000}, {"status": 503}])
def test_the_base64_download_restarts_with_identical_bytes(fault, vertex, emulator, tmp_path):
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_videogen.download import VideoDownloader

    hook = vertex()
    op = finished(hook)
    emulator.ctl.add_fault(FETCH, method="POST", **fault)
    result = VideoDownloader(hook, chunk_size=64 * 1024).download(op, ObjectStoragePath(f"file://{tmp_path}/v.mp4"))
    assert result.sha256 == emulator.ctl.sha256(op.operation_id)["sha256"]
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


@needs_google
def test_a_token_echoed_in_an_error_body_is_redacted(vertex, emulator):
    hook = vertex()
    operation_id = submit(hook)
    echo = {"error": {"code": 400, "status": "INVALID_ARGUMENT",
                      "message": f"bad request (Authorization: Bearer {VERTEX_TOKEN})"}}
    emulator.ctl.add_fault(FETCH, method="POST", status=400, body=echo)
    with pytest.raises(VideoGenError) as err:  # whichever typed error: its words matter
        hook.get_operation(operation_id)
    assert VERTEX_TOKEN not in str(err.value) and "Bearer ***" in str(err.value)


def run_trigger(trigger) -> list:
    async def collect():
        return [event async for event in trigger.run()]

    return asyncio.run(asyncio.wait_for(collect(), 30))


@needs_google
def test_the_trigger_refreshes_tokens_off_the_loop_backs_off_and_redacts(vertex, emulator, credentials,
                                                                         monkeypatch):
    import google.auth

    from airflow_provider_videogen.triggers.video import VideoOperationTrigger

    hook = vertex()
    emulator.ctl.set_config(job_seconds=1.5)
    operation_id = submit(hook)
    made: list = []

    def expiring(scopes=None, **kwargs):  # tokens that expire at once: every poll refreshes (slowly)
        made.append(minted(lifetime=1, delay=0.2))
        return made[-1], PROJECT

    monkeypatch.setattr(google.auth, "default", expiring)
    emulator.ctl.add_fault(FETCH, method="POST", times=1, status=429, headers={"Retry-After": "0"})
    emulator.ctl.add_fault(FETCH, method="POST", times=1, status=503)
    trigger = VideoOperationTrigger("videogen_vertex_test", operation_id, poll_interval=0.2, timeout=20)
    _classpath, kwargs = trigger.serialize()
    assert kwargs == {"conn_id": "videogen_vertex_test", "operation_id": operation_id, "poll_interval": 0.2,
                      "timeout": 20.0, "max_consecutive_failures": 10, "cancel_on_kill": True}  # ids only
    events = run_trigger(trigger)
    assert [e.payload["status"] for e in events] == ["success"]
    (creds,) = made
    assert len(creds.refreshes) >= 3 and "MainThread" not in creds.refreshes  # in asyncio.to_thread workers
    polls = [r for r in api_requests(emulator) if r["path"].endswith(":fetchPredictOperation")]
    assert all(r["headers"]["Authorization"] == f"Bearer {VERTEX_TOKEN}" for r in polls)
    assert "airflow-provider-videogen (triggerer)" in {r["headers"].get("User-Agent") for r in polls}

    echo = {"error": {"code": 403, "status": "PERMISSION_DENIED", "message": f"token {VERTEX_TOKEN} denied"}}
    emulator.ctl.add_fault(FETCH, method="POST", status=403, body=echo)
    (event,) = run_trigger(VideoOperationTrigger("videogen_vertex_test", operation_id, poll_interval=0.1))
    assert event.payload["error_type"] == "GatewayAuthError"
    assert VERTEX_TOKEN not in json.dumps(event.payload) and "***" in event.payload["message"]


# == the example DAG ============================================================================================
@needs_google
def test_the_text_to_video_example_dag_runs_on_a_vertex_connection(dagbag_class, use_gateway, emulator,
                                                                   credentials, tmp_path):
    from airflow_provider_videogen.hooks.base import TRIGGER_USER_AGENT, USER_AGENT

    use_gateway("vertex", job_seconds=4.0)
    dag = dagbag_class(str(ROOT / "dags_examples")).get_dag("videogen_text_to_video")
    fast(dag)
    run = dag.test(run_conf={"prompt": "A vertex test clip", "duration_seconds": 4, "output_dir": str(tmp_path)})
    assert run.state == "success"
    (job,) = emulator.ctl.jobs()
    (video,) = (tmp_path / "text_to_video").glob("*.mp4")
    assert sha256(video.read_bytes()) == emulator.ctl.sha256(job["id"])["sha256"]
    sidecar = json.loads(video.with_suffix(".json").read_text())
    assert sidecar["gateway"] == "vertex" and sidecar["operation_id"] == job["id"]
    polls = [r for r in api_requests(emulator) if r["path"].endswith(":fetchPredictOperation")]
    assert {USER_AGENT, TRIGGER_USER_AGENT} <= {r["headers"].get("User-Agent") for r in polls}  # it deferred
    xcoms = [run.get_task_instance(task).xcom_pull(task_ids=task) for task in ("generate", "wait", "download")]
    assert all(xcoms) and VERTEX_TOKEN not in json.dumps(xcoms, default=str)
    assert all(r["headers"].get("Authorization") == f"Bearer {VERTEX_TOKEN}" for r in api_requests(emulator))


# == the official SDK as an oracle ==============================================================================
@needs_google
def test_google_genai_in_vertex_mode_drives_the_emulator_and_sends_what_the_provider_sends(vertex, emulator):
    """google-genai (Vertex AI mode, with the same minted credentials) generates, polls and reads a video from the
    emulator, byte for byte; the provider's submit and poll carry the same names and types as the SDK's."""
    genai = pytest.importorskip("google.genai")
    from google.genai import types

    client = genai.Client(vertexai=True, project=PROJECT, location=LOCATION, credentials=minted(),
                          http_options=types.HttpOptions(base_url=emulator.url, api_version="v1"))
    config = {"duration_seconds": 4, "seed": 7, "generate_audio": True, "number_of_videos": 1,
              "aspect_ratio": "16:9", "resolution": "720p"}
    operation = client.models.generate_videos(model="veo-3.1-generate-001", prompt="a kite",
                                              config=types.GenerateVideosConfig(**config))
    deadline = time.monotonic() + 10
    while not operation.done:
        assert time.monotonic() < deadline
        time.sleep(0.05)
        operation = client.operations.get(operation)
    video = operation.result.generated_videos[0].video.video_bytes
    assert sha256(video) == emulator.ctl.sha256(operation.name)["sha256"]
    sdk = api_requests(emulator)
    emulator.ctl.clear_requests()

    finished(vertex(), model="veo-3.1-generate-001", prompt="a kite", aspect_ratio="16:9", resolution="720p",
             seed=7, generate_audio=True, number_of_videos=1)
    ours = api_requests(emulator)

    def calls(record):
        return {(r["method"], r["path"].rsplit(":", 1)[-1], json.dumps(r["body_shape"], sort_keys=True))
                for r in record}

    assert calls(ours) == calls(sdk)
    assert {r["headers"]["Authorization"] for r in sdk + ours} == {f"Bearer {VERTEX_TOKEN}"}
