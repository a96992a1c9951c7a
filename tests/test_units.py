"""Small pure pieces: the streaming base64 decoder, Retry-After parsing, typed errors, provider info."""

from __future__ import annotations

import base64
import email.utils
import json
import os
import pickle
import random
from pathlib import Path

import pytest

from airflow_provider_videogen import exceptions, retries
from airflow_provider_videogen.gateways.wire import Base64Stream, JsonScanner
from airflow_provider_videogen.get_provider_info import get_provider_info


def _decode(body: bytes, field: str, splits: list[int]) -> tuple[bytes, JsonScanner]:
    """What the download does with a base64 body: scan for the field's string, decode it as it arrives."""
    scanner, decoder, out, last = JsonScanner(path=(field,), scalars=("size",)), Base64Stream(), [], 0
    for cut in [*splits, len(body)]:
        out.append(decoder.feed(scanner.feed(body[last:cut]), final=scanner.done))
        last = cut
    return b"".join(out), scanner


@pytest.mark.parametrize("seed", range(40))
def test_base64_decoder_is_exact_on_random_splits(seed):
    rng = random.Random(seed)
    video = rng.randbytes(rng.randint(0, 5000))
    encoded = base64.b64encode(video).decode()
    lines = "\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76)) if seed % 3 == 0 else encoded
    wrapped = json.dumps(lines)[1:-1]  # JSON escapes the line breaks as \n
    wrapped = wrapped.replace("/", "\\/") if seed % 2 else wrapped  # PHP-style escaping of "/"
    body = (f'{{"success":true,"note":"base64","size":{len(video)},"base64":"{wrapped}",'
            f'"data_url":"data:video/mp4;base64,{encoded}"}}').encode()
    splits = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.randint(0, 30))))
    decoded, decoder = _decode(body, "base64", splits)
    assert decoded == video and decoder.done and decoder.scalars["size"] == len(video)


def test_base64_decoder_strips_a_data_url_prefix_split_anywhere():
    video = os.urandom(3000)
    body = json.dumps({"status": "succeeded", "url": "data:video/mp4;base64," + base64.b64encode(video).decode()})
    for cut in range(1, 60):
        decoded, decoder = _decode(body.encode(), "url", [cut, cut + 7])
        assert decoded == video and decoder.done


def test_base64_decoder_reports_invalid_data():
    with pytest.raises(ValueError, match="invalid base64"):
        _decode(b'{"base64":"AAA=AAA="}', "base64", [])


def test_retry_after_forms():
    assert retries.retry_after({"Retry-After": "7"}) == 7.0
    assert retries.retry_after({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert retries.retry_after({"Retry-After": date}, now=1_000_000) == pytest.approx(30.0)
    assert retries.retry_after({"Retry-After": "soon"}) is None
    assert retries.retry_after({}) is None


def test_backoff_grows_and_is_capped_and_honours_hints():
    assert retries.next_wait(3, 4.0) == 4.0
    assert retries.next_wait(3, 500.0, max_wait=60) == 60
    waits = [retries.next_wait(n, None, initial=1.0, max_wait=30) for n in range(1, 12)]
    assert all(0 <= w <= 30 for w in waits)
    assert max(waits[6:]) > max(waits[:2])  # exponential ceiling: 1-2 s early, up to 30 s later


def test_backoff_without_a_hint_never_retries_within_half_the_first_wait():
    """Full jitter draws from zero, so a hint-less 429 could be retried milliseconds later (the scale-out test
    saw a 0.01 s gap). Both the trigger's loop and the worker's tenacity policy keep a floor of initial / 2."""
    waits = [retries.next_wait(n, None, initial=1.0) for n in (1, 2, 3) for _ in range(300)]
    assert min(waits) >= 0.5 and max(waits) <= 4.0
    assert max(waits) > 1.0  # still spread above the floor
    policy = retries.WaitGatewayHint(initial=2.0)
    for attempt in (1, 4):
        state = retries.tenacity.RetryCallState(None, None, (), {})
        state.attempt_number = attempt
        assert all(policy(state) >= 1.0 for _ in range(300))


def test_errors_name_gateway_and_operation_and_survive_pickling():
    err = exceptions.VideoContentFiltered("blocked", gateway="gemini", operation_id="operations/x")
    assert str(err) == "[gateway gemini, operation operations/x] blocked"
    assert isinstance(err, exceptions.VideoGenerationFailed)
    from airflow.providers.common.compat.sdk import AirflowFailException

    assert isinstance(err, AirflowFailException)  # permanent: no Airflow retry
    assert not isinstance(exceptions.TransientGatewayError("x"), AirflowFailException)
    again = pickle.loads(pickle.dumps(err))
    assert (type(again), str(again)) == (type(err), str(err))


def test_provider_info_declares_seven_connection_forms():
    info = get_provider_info()
    types = {c["connection-type"]: c for c in info["connection-types"]}
    assert set(types) == {"videogen_thucchien", "videogen_hingnet", "videogen_mixroute", "videogen_tokenops",
                          "videogen_gemini", "videogen_openai", "videogen_vertex"}
    vertex = types.pop("videogen_vertex")  # Google credentials: no API key; project, location, credential fields
    assert "password" in vertex["ui-field-behaviour"]["hidden-fields"]
    assert {"project", "location", "gcp_conn_id", "key_path", "keyfile_dict"} <= set(vertex["conn-fields"])
    assert vertex["conn-fields"]["keyfile_dict"]["schema"]["format"] == "password"
    for conn in types.values():
        assert conn["ui-field-behaviour"]["relabeling"]["password"] == "API Key"
    for conn in [*types.values(), vertex]:
        assert {"schema", "login", "port"} <= set(conn["ui-field-behaviour"]["hidden-fields"])
        assert conn["ui-field-behaviour"]["placeholders"]["host"].startswith("https://")
        module, _, cls = conn["hook-class-name"].rpartition(".")
        hook = getattr(__import__(module, fromlist=[cls]), cls)
        assert hook.conn_type == conn["connection-type"] and hasattr(hook, "test_connection")


def test_the_key_scanner_finds_a_planted_key():
    from support import key_leaks

    assert key_leaks("Authorization: Bearer test-key-123 sent")
    assert not key_leaks("Authorization: Bearer *** sent")


def test_tls_verification_stays_on_unless_the_connection_turns_it_off():
    from types import SimpleNamespace

    from airflow_provider_videogen.gateways import GATEWAYS
    from airflow_provider_videogen.hooks.base import settings_from_connection

    def conn(host):
        return SimpleNamespace(host=host, schema=None, port=None, password="fake-key-for-repr")

    gw = GATEWAYS["hingnet"]
    assert settings_from_connection(conn(""), {}, gw, 60).verify is True
    assert settings_from_connection(conn(""), {}, gw, 60).base_url == "https://models.hingnet.com.cn"
    assert settings_from_connection(conn("proxy.local"), {"verify": "false"}, gw, 60).verify is False
    assert settings_from_connection(conn("proxy.local"), {}, gw, 60).base_url == "https://proxy.local"
    ca = Path(__file__)  # any existing file stands for a CA bundle path
    assert settings_from_connection(conn("http://127.0.0.1:8080/"), {"verify": str(ca)}, gw, 60).verify == str(ca)
    assert "fake-key-for-repr" not in repr(settings_from_connection(conn(""), {}, gw, 60))


def test_poll_schedule_waits_until_progress_moves_then_aims_at_the_earliest_end():
    from airflow_provider_videogen.triggers.video import PollSchedule

    schedule = PollSchedule(10)
    assert schedule.next_delay(10, 0) == 10  # queued at 0 %: the user's interval
    assert schedule.next_delay(20, 0) == 10
    assert schedule.next_delay(200, 0) == 20  # 10 % of the job's age
    assert schedule.next_delay(220, 5) == 22  # first moving sample: no speed yet
    first = schedule.next_delay(230, 10)  # speed <= 6 %/10 s: the end is >= 148 s away, first jump capped
    assert first == pytest.approx(0.25 * 230)
    steady = schedule.next_delay(230 + first, 10 + round(first * 0.5))  # steady: trusted, up to the earliest end
    assert steady > 0.25 * (230 + first)
    no_progress = PollSchedule(10)
    assert [no_progress.next_delay(a, None) for a in (10, 100, 400, 10_000)] == [10, 10, 40, 300]
    assert PollSchedule(10).next_delay(10, 50, hint=30) == 30  # the gateway's hint is a floor


def simulate(duration: float, poll_interval: float, adaptive: bool) -> tuple[int, float]:
    """(status requests, delay in noticing the end) for a job whose progress grows linearly (int %)."""
    from airflow_provider_videogen.triggers.video import PollSchedule

    schedule, polls, t = PollSchedule(poll_interval), 1, poll_interval  # the sensor pokes at submit time
    while True:
        polls += 1
        if t >= duration:
            return polls, t - duration
        progress = int(100 * t / duration)
        t += schedule.next_delay(t, progress) if adaptive else poll_interval


def test_adaptive_polling_halves_requests_and_notices_the_end_sooner():
    durations = range(30, 301, 5)
    fixed = [simulate(d, 10, adaptive=False) for d in durations]
    adaptive = [simulate(d, 10, adaptive=True) for d in durations]
    assert sum(p for p, _ in adaptive) <= 0.5 * sum(p for p, _ in fixed)
    assert all(delay <= 0.1 * d for (_, delay), d in zip(adaptive, durations, strict=True))


async def test_triggers_in_one_event_loop_share_one_session_closed_by_the_last():
    from airflow_provider_videogen.hooks.base import shared_client_session

    async with shared_client_session() as first:
        async with shared_client_session() as second:
            assert first is second and not first.closed
        assert not first.closed  # still used by the first trigger
    assert first.closed
    async with shared_client_session() as third:
        assert third is not first and not third.closed


@pytest.mark.parametrize("seed", range(12))
def test_slot_reader_hashes_random_bytes_in_order_even_when_the_body_breaks(seed):
    """The binary copy path on random data (the emulator's padding is zeros, which hides ordering bugs)."""
    import hashlib
    import io

    from airflow_provider_videogen.download import VideoDownloader, _Sink

    rng = random.Random(seed)
    body = rng.randbytes(rng.randint(3 << 20, 6 << 20))
    body = body[:4] + b"ftyp" + body[8:]
    break_at = rng.randint(1, len(body) - 1) if seed % 2 else None

    class Raw:
        def __init__(self, start):
            self.pos = start

        def pieces(self):
            while self.pos < len(body):
                if break_at is not None and self.pos >= break_at and not done:
                    raise ConnectionResetError("reset by peer")
                n = min(rng.randint(1, 70_000), len(body) - self.pos)
                self.pos += n
                yield body[self.pos - n:self.pos]

    class Path:
        def open(self, mode):
            return written

    written, done = io.BytesIO(), False
    written.close = lambda: None
    sink = _Sink(Path(), None, "test")
    downloader = VideoDownloader.__new__(VideoDownloader)
    downloader.chunk_size = 1 << 20
    if break_at is not None:
        with pytest.raises(ConnectionResetError):
            downloader._copy(Raw(0), sink, None)
        assert 0 < sink.size <= len(body) and written.getvalue() == body[:sink.size]
        done = True
    downloader._copy(Raw(sink.size), sink, None)  # what a Range resume continues with
    assert written.getvalue() == body
    assert sink.sha256() == hashlib.sha256(body).hexdigest()
    sink.close()


def test_public_exports_follow_the_gateway_registry():
    import airflow_provider_videogen as package
    from airflow_provider_videogen import registry

    hooks = {info["hook_class"] for info in registry.GATEWAYS.values()}
    assert hooks <= set(package.__all__) and set(package.__all__) == set(package._LAZY)
    assert all(getattr(package, name).__name__ == name for name in package.__all__)
