"""A hostile or broken gateway and CDN, played by the emulator's hostile mode, against the one transport.

Each test names the rule it proves (issue "One transport for every request"): the key only to the
gateway's own origin, bounded reads, deadlines, resuming only the same object, safe destinations, typed
and redacted errors, strict parsing of connection extras and of status bodies.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import http.client
import http.server
import os
import socket
import threading
import tracemalloc
import urllib.parse
from types import SimpleNamespace

import pytest
from airflow.sdk import ObjectStoragePath
from support import TEST_KEY, connection_uri_env, finished, submit

from airflow_provider_videogen.download import VideoDownloader, check_destination
from airflow_provider_videogen.exceptions import (
    DestinationExists,
    GatewayResponseError,
    InvalidConnection,
    InvalidDestination,
    InvalidVideoRequest,
    TransientGatewayError,
    UnsafeURL,
    VideoIntegrityError,
    VideoNotFound,
)
from airflow_provider_videogen.gateways import GATEWAYS, GenerationRequest, ImageInput
from airflow_provider_videogen.gateways.wire import Base64Stream, JsonScanner
from airflow_provider_videogen.hooks.base import VideoGenHook, settings_from_connection
from airflow_provider_videogen.transport import Policy, SyncTransport, shared_client_session

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MiB = 1024 * 1024


@pytest.fixture
def hook_for(emulator, monkeypatch):
    emulator.ctl.set_config(job_seconds=0, video_bytes=2_000_000)

    def make(gateway: str, **extra) -> VideoGenHook:
        emulator.ctl.set_config(gateway=gateway)
        monkeypatch.setenv(*connection_uri_env("videogen_test", gateway, emulator.url,
                                               timeout=extra.pop("timeout", 3), **extra))
        return VideoGenHook.for_connection("videogen_test", retry_initial=0.01, max_attempts=2)

    return make


def fault(emulator, **rule) -> None:
    """Script one fault rule (including the hostile-mode fields) on the emulator."""
    emulator.ctl._call("POST", "faults", {k: v for k, v in rule.items() if v is not None})


def dest(tmp_path, name="video.mp4") -> ObjectStoragePath:
    return ObjectStoragePath(f"file://{tmp_path}/out/{name}")


def keyed(records) -> list[dict]:
    """Requests that carried the test key, on any site."""
    return [r for r in records if TEST_KEY in str(r["headers"])]


def nothing_written(tmp_path) -> bool:
    out = tmp_path / "out"
    return not out.exists() or not any(out.iterdir())


# -- High: the key goes only to the gateway's own origin -------------------------------------------------

def _policy(base_url="https://gateway.example"):
    return Policy(gateway="hingnet", protocol=GATEWAYS["hingnet"].protocol, base_url=base_url, api_key=TEST_KEY)


@pytest.mark.parametrize("url", [
    "https://gateway.example/v1/videos/x/content",
    "https://GATEWAY.example/x.mp4",
    "https://gateway.example:443/x.mp4",
])
def test_the_key_goes_to_the_gateway_origin(url):
    assert SyncTransport(_policy()).headers_for(url) == {"Authorization": f"Bearer {TEST_KEY}"}


@pytest.mark.parametrize("url", [
    "http://gateway.example/x.mp4",  # https -> http
    "https://gateway.example:8443/x.mp4",  # another port
    "https://cdn.example#@gateway.example/x.mp4",
    "https://cdn.example?@gateway.example/x.mp4",
    "https://gatewa\u0443.example/x.mp4",  # IDNA: a Cyrillic letter
    "https://cdn.example/gateway.example/x.mp4",
])
def test_no_key_for_any_other_origin_as_the_client_parses_it(url):
    assert SyncTransport(_policy()).headers_for(url) == {}


@pytest.mark.parametrize("url", [
    "http://cdn.example\\@gateway.example/x.mp4",
    "https://cdn.example@gateway.example/x.mp4",
    "https://user:pass@gateway.example/x.mp4",
    "https://gateway%2Eexample/x.mp4",
    "ftp://gateway.example/x.mp4",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "https://gateway.example/x mp4",
    "//gateway.example/x.mp4",
])
def test_urls_with_userinfo_backslash_or_other_schemes_are_refused(url):
    with pytest.raises(UnsafeURL):
        _policy().check_foreign_url(url, what="redirect")


@pytest.mark.parametrize("trick", ["userinfo", "backslash", "fragment", "query"])
def test_a_hostile_hingnet_redirect_never_gets_the_key(trick, hook_for, emulator, tmp_path):
    hook = hook_for("hingnet")
    emulator.ctl.set_config(status_vocab="hingnet", content_form="bytes")
    op = finished(hook)
    api, cdn = emulator.url.split("://")[1], emulator.cdn_url.split("://")[1]
    location = {"userinfo": f"http://{cdn}@{api}/x.mp4", "backslash": f"http://{cdn}\\@{api}/x.mp4",
                "fragment": f"http://{cdn}/x.mp4#@{api}", "query": f"http://{cdn}/x.mp4?@{api}"}[trick]
    emulator.ctl.clear_requests()
    fault(emulator, path=r"/content$", status=302, headers={"Location": location})
    with pytest.raises((UnsafeURL, VideoNotFound)):
        VideoDownloader(hook).download(op, dest(tmp_path))
    records = emulator.ctl.requests()
    assert [r["site"] for r in keyed(records)] == ["api"]  # only the gateway's own /content request
    assert nothing_written(tmp_path)


def test_a_tokenops_video_url_with_a_backslash_is_refused_before_any_request(hook_for, emulator, tmp_path):
    hook = hook_for("tokenops")
    emulator.ctl.set_config(status_vocab="tokenops", content_form="json_url")
    op = finished(hook)
    api, cdn = emulator.url.split("://")[1], emulator.cdn_url.split("://")[1]
    emulator.ctl.clear_requests()
    fault(emulator, path=r"/content$", status=200, body={"video_url": f"http://{cdn}\\@{api}/x.mp4"})
    with pytest.raises(UnsafeURL, match="backslash"):
        VideoDownloader(hook).download(op, dest(tmp_path))
    assert [r["site"] for r in emulator.ctl.requests()] == ["api"]
    assert nothing_written(tmp_path)


def test_block_private_addresses_refuses_a_cdn_on_loopback(hook_for, emulator, tmp_path):
    hook = hook_for("hingnet", block_private_addresses="true")
    emulator.ctl.set_config(status_vocab="hingnet", content_form="redirect")
    op = finished(hook)
    with pytest.raises(UnsafeURL, match="private"):
        VideoDownloader(hook).download(op, dest(tmp_path))
    assert not [r for r in emulator.ctl.requests() if r["site"] == "cdn"]


# -- Medium: bounded reads ----------------------------------------------------------------------------------

def _gzip_bomb(inflated: int) -> str:
    """base64 of a gzip'd JSON status whose padding inflates to ``inflated`` bytes (built in pieces)."""
    z = gzip.compress(b'{"status":"in_progress","pad":' + b" " * inflated + b"1}", compresslevel=9)
    return base64.b64encode(z).decode()


BOMB = _gzip_bomb(512 * MiB)  # about 500 KB of gzip


def test_a_gzip_bomb_status_body_is_refused_in_bounded_memory(hook_for, emulator):
    hook = hook_for("openai")
    operation_id = submit(hook)
    fault(emulator, path=r"^/v1/videos/[^/]+$", method="GET", status=200, times=-1, body_b64=BOMB,
          headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        with pytest.raises(GatewayResponseError, match="larger than"):
            hook.get_operation(operation_id)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * MiB


async def test_a_gzip_bomb_is_refused_in_the_triggerer_too(hook_for, emulator):
    hook = hook_for("openai")
    operation_id = submit(hook)
    fault(emulator, path=r"^/v1/videos/[^/]+$", method="GET", status=200, times=-1, body_b64=BOMB,
          headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    async_hook = await VideoGenHook.afor_connection("videogen_test")
    tracemalloc.start()
    try:
        async with shared_client_session() as session:
            with pytest.raises(GatewayResponseError, match="larger than"):
                await async_hook.aget_operation(operation_id, session)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * MiB


@pytest.mark.parametrize(("gateway", "config", "model"), [
    ("mixroute", {"mixroute_url_form": "data_url"}, "veo-3.1-fast-generate-preview"),
    ("gemini", {"gemini_download": "inline"}, None),
])
def test_a_status_carrying_the_whole_video_is_scanned_not_held(gateway, config, model, hook_for, emulator,
                                                               tmp_path):
    hook = hook_for(gateway)
    emulator.ctl.set_config(video_bytes=60 * MiB, **config)
    operation_id = submit(hook, model)
    tracemalloc.start()
    try:
        op = hook.get_operation(operation_id)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert op.state == "succeeded" and op.videos[0].kind == "json_base64"
    assert peak < 16 * MiB  # the 80 MB of base64 in the body never sat in memory
    result = VideoDownloader(hook).download(op, dest(tmp_path))
    assert result.sha256 == emulator.ctl.sha256(operation_id)["sha256"]


# -- Medium: deadlines and minimum transfer rate ------------------------------------------------------------

def test_a_status_body_that_drips_hits_the_total_deadline(hook_for, emulator):
    hook = hook_for("openai", timeout=1)
    operation_id = submit(hook)
    fault(emulator, path=r"^/v1/videos/[^/]+$", method="GET", times=-1, drip_bytes=1, drip_interval_s=0.3)
    with pytest.raises(TransientGatewayError, match="timed out"):
        hook.get_operation(operation_id)


async def test_a_dripping_status_body_hits_the_deadline_in_the_triggerer(hook_for, emulator):
    hook = hook_for("openai", timeout=1)
    operation_id = submit(hook)
    fault(emulator, path=r"^/v1/videos/[^/]+$", method="GET", times=-1, drip_bytes=1, drip_interval_s=0.3)
    async_hook = await VideoGenHook.afor_connection("videogen_test")
    async with shared_client_session() as session:
        with pytest.raises(TransientGatewayError, match="timed out"):
            await asyncio.wait_for(async_hook.aget_operation(operation_id, session), 30)


def test_a_download_slower_than_the_minimum_rate_fails_over(hook_for, emulator, tmp_path):
    hook = hook_for("openai", timeout=1)
    op = finished(hook)
    fault(emulator, path=r"/content$", method="GET", times=-1, drip_bytes=100, drip_interval_s=0.2)
    with pytest.raises(TransientGatewayError, match="minimum rate"):
        VideoDownloader(hook).download(op, dest(tmp_path))
    assert nothing_written(tmp_path)


# -- Medium: resume only the same object --------------------------------------------------------------------

def test_a_resume_never_splices_two_versions(hook_for, emulator, tmp_path):
    hook = hook_for("openai")
    op = finished(hook)
    first = emulator.ctl.sha256(op.operation_id)["sha256"]
    fault(emulator, path=r"/content$", method="GET", reset_after_bytes=700_000, bump_version=True)
    result = VideoDownloader(hook, chunk_size=64 * 1024).download(op, dest(tmp_path))
    now = emulator.ctl.sha256(op.operation_id)["sha256"]
    assert now != first  # the object changed between the two requests
    assert result.sha256 == now == hashlib.sha256((tmp_path / "out" / "video.mp4").read_bytes()).hexdigest()
    resumed = [r for r in emulator.ctl.requests() if r["path"].endswith("/content")][-1]
    assert resumed["headers"].get("If-Range")  # the resume named the version it continues


# -- Medium: the triggerer's shared session -----------------------------------------------------------------

class _ForwardProxy(http.server.BaseHTTPRequestHandler):
    """A plain-HTTP forward proxy on loopback: records each absolute-form request line, then relays it."""

    def _relay(self) -> None:
        self.server.seen.append((self.command, self.path))
        target = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")}
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        try:
            upstream.request(self.command, target.path + (f"?{target.query}" if target.query else ""), body=body,
                             headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _relay

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def forward_proxy(monkeypatch):
    """``HTTP_PROXY`` pointing at a forward proxy on loopback (no other proxy variable set)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ForwardProxy)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.server_address[1]}")
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


async def _poll_in_the_triggerer(operation_id: str):
    async_hook = await VideoGenHook.afor_connection("videogen_test")
    async with shared_client_session() as session:
        return await async_hook.aget_operation(operation_id, session)


async def test_the_triggerer_polls_through_the_proxy_the_worker_uses(hook_for, emulator, forward_proxy,
                                                                     monkeypatch):
    import aiohttp

    hook = hook_for("openai")
    operation_id = submit(hook)
    status_url = f"{emulator.url}/v1/videos/{operation_id}"
    forward_proxy.seen.clear()  # the set-up went through it too
    hook.get_operation(operation_id)  # the worker (requests, trust_env)
    assert forward_proxy.seen == [("GET", status_url)]
    async with shared_client_session() as session:
        assert isinstance(session.cookie_jar, aiohttp.DummyCookieJar)  # no cookies cross connections
    operation = await _poll_in_the_triggerer(operation_id)  # the triggerer (aiohttp): the same proxy
    assert operation.operation_id == operation_id
    assert forward_proxy.seen == [("GET", status_url)] * 2

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # both clients now connect directly, read afresh
    hook.get_operation(operation_id)
    await _poll_in_the_triggerer(operation_id)
    assert len(forward_proxy.seen) == 2


async def test_a_netrc_entry_for_the_gateway_never_replaces_the_key(hook_for, emulator, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))  # read by requests and aiohttp instead of ~/.netrc
    hook = hook_for("openai")  # Authorization: Bearer <key>
    operation_id = submit(hook)
    hook.get_operation(operation_id)
    await _poll_in_the_triggerer(operation_id)
    sent = [r["headers"].get("Authorization") for r in emulator.ctl.requests() if r["path"].startswith("/v1/videos")]
    assert len(sent) == 3
    assert sent == [f"Bearer {TEST_KEY}"] * 3


# -- Medium: bad destinations -------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["", "   ", "/tmp/videos/", "s3://bucket/videos/", "/tmp/a\0b.mp4"])
def test_bad_destination_strings_get_a_clear_error(bad):
    with pytest.raises(InvalidDestination):
        check_destination(bad)


def test_an_existing_directory_is_refused_and_nothing_hides_in_it(hook_for, emulator, tmp_path):
    hook = hook_for("openai")
    op = finished(hook)
    (tmp_path / "out" / "video.mp4").mkdir(parents=True)
    with pytest.raises(InvalidDestination, match="directory"):
        VideoDownloader(hook).download(op, dest(tmp_path))
    assert list((tmp_path / "out" / "video.mp4").iterdir()) == []


# -- Low ----------------------------------------------------------------------------------------------------

def test_media_downloads_ask_for_identity_so_a_compressing_server_still_works(hook_for, emulator, tmp_path):
    hook = hook_for("openai")
    emulator.ctl.set_config(compress_media=True)
    op = finished(hook)
    result = VideoDownloader(hook).download(op, dest(tmp_path))
    assert result.sha256 == emulator.ctl.sha256(op.operation_id)["sha256"]
    media = [r for r in emulator.ctl.requests() if r["path"].endswith("/content")]
    assert media and all(r["headers"].get("Accept-Encoding") == "identity" for r in media)


def test_a_body_cut_short_without_any_declared_size_is_caught_by_the_mp4_structure(hook_for, emulator, tmp_path):
    hook = hook_for("openai")
    op = finished(hook)
    fault(emulator, path=r"/content$", method="GET", times=-1, close_delimited=True, truncate_to_bytes=1_500_000)
    with pytest.raises(VideoIntegrityError, match="structure"):
        VideoDownloader(hook).download(op, dest(tmp_path))
    assert nothing_written(tmp_path)


def test_a_close_delimited_complete_body_is_accepted(hook_for, emulator, tmp_path):
    hook = hook_for("openai")
    op = finished(hook)
    fault(emulator, path=r"/content$", method="GET", close_delimited=True)
    result = VideoDownloader(hook).download(op, dest(tmp_path))
    assert result.sha256 == emulator.ctl.sha256(op.operation_id)["sha256"]


def test_a_data_prefix_without_a_comma_is_capped():
    stream = Base64Stream()
    with pytest.raises(ValueError, match="comma"):
        for _ in range(100):
            stream.feed(b"data:video/mp4;base64" + b"A" * 10)


def test_max_bytes_applies_to_base64_downloads_too(hook_for, emulator, tmp_path):
    hook = hook_for("mixroute")
    op = finished(hook, "sora-2")
    with pytest.raises(VideoIntegrityError, match="max_bytes"):
        VideoDownloader(hook, max_bytes=1_000_000).download(op, dest(tmp_path))
    assert nothing_written(tmp_path)


@pytest.mark.parametrize("status", [200, 400])
def test_the_key_echoed_by_a_gateway_is_redacted_from_errors(status, hook_for, emulator):
    hook = hook_for("openai")
    operation_id = submit(hook)
    body = f"<html>bad request from key {TEST_KEY}</html>" if status == 200 else {
        "error": {"message": f"Incorrect API key provided: {TEST_KEY}"}}
    fault(emulator, path=r"^/v1/videos/[^/]+$", method="GET", status=status, body=body)
    with pytest.raises(Exception) as err:
        hook.get_operation(operation_id)
    assert TEST_KEY not in str(err.value) and "***" in str(err.value)


def test_a_dns_failure_on_submit_means_nothing_was_sent_so_it_is_retried(monkeypatch):
    attempts = []

    def no_dns(host, *args, **kwargs):
        attempts.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setenv(*connection_uri_env("videogen_dns", "hingnet", "https://gateway.invalid"))
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    hook = VideoGenHook.for_connection("videogen_dns", retry_initial=0.01, max_attempts=3)
    with pytest.raises(TransientGatewayError, match="nothing was sent"):
        submit(hook)
    assert len(attempts) == 3  # retried: a request that never left cannot have been billed


@pytest.mark.parametrize("body", [
    b'{"id":"v","status":"in_progress","progress":1e999}',
    b'{"id":"v","status":"failed","error":"x","progress":' + b"9" * 400 + b"}",
    b'["not", "an", "object"]',
])
def test_malformed_openai_status_fields_are_typed_errors(body, hook_for, emulator):
    hook = hook_for("openai")
    operation_id = submit(hook)
    fault(emulator, path=r"^/v1/videos/[^/]+$", method="GET", status=200, times=-1,
          body_b64=base64.b64encode(body).decode(), headers={"Content-Type": "application/json"})
    with pytest.raises(GatewayResponseError):
        hook.get_operation(operation_id)


@pytest.mark.parametrize("body", [
    {"name": "x", "done": True, "response": "a string where an object belongs"},
    {"name": "x", "done": True, "response": {"generateVideoResponse": {"generatedSamples": "nope"}}},
    {"name": "x", "done": True, "response": {"generateVideoResponse": {"generatedSamples": [{"video": 7}]}}},
    {"name": "x", "metadata": "nope"},
])
def test_malformed_gemini_status_fields_are_typed_errors(body, hook_for, emulator):
    hook = hook_for("gemini")
    operation_id = submit(hook)
    fault(emulator, path=r"/operations/", method="GET", status=200, times=-1, body=body)
    with pytest.raises(GatewayResponseError):
        hook.get_operation(operation_id)


def _conn(host="http://127.0.0.1:1"):
    return SimpleNamespace(host=host, schema=None, port=None, password="fake")


@pytest.mark.parametrize(("extra", "field", "value"), [
    ({"verify": "false"}, "verify", False), ({"verify": "off"}, "verify", False), ({"verify": "true"}, "verify", True),
    ({"verify": True}, "verify", True), ({"timeout": "30"}, "timeout", 30.0), ({"timeout": 5}, "timeout", 5.0),
    ({"block_private_addresses": "yes"}, "block_private_addresses", True),
])
def test_connection_extras_given_as_strings_are_parsed(extra, field, value):
    policy = settings_from_connection(_conn(), extra, GATEWAYS["hingnet"], 60)
    assert getattr(policy, field) == value


@pytest.mark.parametrize(("extra", "field"), [
    ({"verify": "/no/such/ca.pem"}, "verify"), ({"timeout": "soon"}, "timeout"), ({"timeout": "-1"}, "timeout"),
    ({"timeout": "nan"}, "timeout"), ({"block_private_addresses": "maybe"}, "block_private_addresses"),
])
def test_nonsense_extras_get_an_error_naming_the_field(extra, field):
    with pytest.raises(InvalidConnection, match=field):
        settings_from_connection(_conn(), extra, GATEWAYS["hingnet"], 60)


def test_a_verify_path_to_a_ca_bundle_is_kept(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    assert settings_from_connection(_conn(), {"verify": str(ca)}, GATEWAYS["hingnet"], 60).verify == str(ca)


def test_a_very_long_file_name_still_gets_a_temporary_name_that_fits(hook_for, emulator, tmp_path):
    hook = hook_for("openai")
    op = finished(hook)
    name = "v" * 251 + ".mp4"
    result = VideoDownloader(hook).download(op, dest(tmp_path, name))
    assert result.size_bytes == 2_000_000 and (tmp_path / "out" / name).exists()


def test_overwrite_false_never_replaces_a_dangling_symlink(hook_for, emulator, tmp_path):
    hook = hook_for("openai")
    op = finished(hook)
    (tmp_path / "out").mkdir()
    os.symlink(tmp_path / "nowhere.mp4", tmp_path / "out" / "video.mp4")
    with pytest.raises(DestinationExists):
        VideoDownloader(hook).download(op, dest(tmp_path), overwrite=False)
    assert os.path.islink(tmp_path / "out" / "video.mp4") and not (tmp_path / "nowhere.mp4").exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["video.mp4"]  # no temporary left


@pytest.mark.parametrize(("change", "words"), [
    ({"prompt": ""}, "prompt"), ({"prompt": "   "}, "prompt"), ({"duration_seconds": -4}, "duration_seconds"),
    ({"duration_seconds": 0}, "duration_seconds"),
    ({"image": ImageInput(b"GIF89a" + b"\0" * 20, "image/gif")}, "image"),
    ({"image": ImageInput(b"not an image at all", "image/png")}, "image"),
])
def test_inputs_are_validated_before_any_paid_request(change, words, hook_for, emulator):
    hook = hook_for("openai")
    request = GenerationRequest(**{"prompt": "a clip", "model": hook.default_model(), "duration_seconds": 4, **change})
    with pytest.raises(InvalidVideoRequest, match=words):
        hook.submit(request)
    assert emulator.ctl.jobs() == [] and not [r for r in emulator.ctl.requests() if r["method"] == "POST"]


def test_the_base64_scanner_reads_only_the_documented_top_level_field():
    real, decoy = os.urandom(300), os.urandom(300)
    body = (b'{"meta":{"base64":"' + base64.b64encode(decoy) + b'"},"list":[{"base64":"AAAA"}],'
            b'"base64":"' + base64.b64encode(real) + b'"}')
    scanner, stream = JsonScanner(path=("base64",)), Base64Stream()
    out = b"".join(stream.feed(scanner.feed(body[i:i + 7]), final=scanner.done) for i in range(0, len(body), 7))
    assert out == real and scanner.done


def test_a_png_first_frame_passes_validation(hook_for, emulator):
    hook = hook_for("openai")
    request = GenerationRequest("a clip", hook.default_model(), duration_seconds=4, image=ImageInput(PNG, "image/png"))
    assert hook.submit(request)


async def test_the_key_echoed_into_a_poll_error_is_redacted_in_the_triggerer_too(hook_for, emulator):
    hook = hook_for("openai")
    operation_id = submit(hook)
    fault(emulator, path=r"^/v1/videos/[^/]+$", method="GET", status=200, times=-1,
          body=f"<html>maintenance for key {TEST_KEY}</html>")
    async_hook = await VideoGenHook.afor_connection("videogen_test")
    async with shared_client_session() as session:
        with pytest.raises(GatewayResponseError) as err:
            await async_hook.aget_operation(operation_id, session)
    assert TEST_KEY not in str(err.value) and "***" in str(err.value)


def test_temporaries_of_killed_earlier_tries_are_removed_once_the_video_is_in_place(hook_for, emulator, tmp_path):
    hook = hook_for("openai")
    op = finished(hook)
    (tmp_path / "out").mkdir()
    stale = tmp_path / "out" / ".video.mp4.0123456789ab.partial"  # what a SIGKILLed try leaves behind
    stale.write_bytes(b"\0" * 1000)
    other = tmp_path / "out" / ".other.mp4.0123456789ab.partial"  # another destination's: not ours to remove
    other.write_bytes(b"\0")
    VideoDownloader(hook).download(op, dest(tmp_path))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".other.mp4.0123456789ab.partial", "video.mp4"]
