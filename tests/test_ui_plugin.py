"""The UI plugin (``airflow_provider_videogen/ui``) through Airflow's own API server app.

The app is Airflow's ``create_app()`` (the plugin found through the package's ``airflow.plugins`` entry point,
mounted as the API server mounts it, behind Airflow's middlewares), driven with FastAPI's TestClient against
the real metadata DB. The videos are real: the example DAGs run with ``dag.test()`` against the emulator and
write MP4s, XComs and asset events as in production. A few events are added by hand for what a run cannot
produce (an older event without provenance, events pointing where no video is, 10,000 events for the gallery).

Authorization goes through the configured auth manager: Airflow's SimpleAuthManager with one per-DAG rule
added (user ``outsider`` may not read ``videogen_batch``), as a deployment's FAB or Keycloak rules would.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from datetime import date, timedelta
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
from support import GATEWAY_PROFILES, connection_uri_env, fast

PREFIX = "/videogen"
DENIED_DAG = "videogen_batch"
OUTSIDER = "outsider"
JWT_SECRET = "ui-plugin-tests-" + "x" * 64  # long enough for HS512, obviously not a real secret
PASSWORDS = {"admin": "admin-password-1", "viewer": "viewer-password-1", OUTSIDER: "outsider-password-1"}


class DagDenyingAuthManager(SimpleAuthManager):
    """Airflow's SimpleAuthManager, plus one per-DAG rule: ``outsider`` (a viewer) may not read DENIED_DAG."""

    def is_authorized_dag(self, *, method, user, access_entity=None, details=None):
        if user.username == OUTSIDER and details is not None and details.id == DENIED_DAG:
            return False
        return super().is_authorized_dag(method=method, user=user, access_entity=access_entity, details=details)

    def get_authorized_dag_ids(self, *, user, method="GET", **kwargs):
        dag_ids = super().get_authorized_dag_ids(user=user, method=method, **kwargs)
        return dag_ids - {DENIED_DAG} if user.username == OUTSIDER else dag_ids


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def ui_env(tmp_path_factory):
    """The API server's configuration for these tests (restored afterwards)."""
    home = tmp_path_factory.mktemp("ui-auth")
    (home / "passwords.json").write_text(json.dumps(PASSWORDS))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW__CORE__AUTH_MANAGER", f"{__name__}.DagDenyingAuthManager")
        mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", f"admin:admin,viewer:viewer,{OUTSIDER}:viewer")
        mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(home / "passwords.json"))
        mp.setenv("AIRFLOW__API_AUTH__JWT_SECRET", JWT_SECRET)
        yield mp


@pytest.fixture(scope="module")
def runs(ui_env, airflow_db, dagbag_class, emulator_process, tmp_path_factory):
    """Two real runs: ``videogen_text_to_video`` (one video) and ``videogen_batch`` (two mapped downloads)."""
    out = tmp_path_factory.mktemp("ui-videos")
    ui_env.setenv(*connection_uri_env("videogen_default", "openai", emulator_process.url))
    with emulator_process.client as ctl:
        ctl.reset()
        ctl.set_config(**GATEWAY_PROFILES["openai"], job_seconds=1.0, video_bytes=400_000)
        bag = dagbag_class(str(Path(__file__).resolve().parents[1] / "dags_examples"))
        result = {}
        for dag_id, conf in (("videogen_text_to_video", {"prompt": "A red kite over the dunes", "duration_seconds": 4,
                                                          "output_dir": str(out)}),
                             (DENIED_DAG, {"prompts": ["first batch clip", "second batch clip"],
                                           "output_dir": str(out)})):
            dag = bag.get_dag(dag_id)
            fast(dag)
            run = dag.test(run_conf=conf)
            assert run.state == "success", dag_id
            result[dag_id] = run.run_id
        result["sha256"] = {job["prompt"]: ctl.sha256(job["id"])["sha256"] for job in ctl.jobs()}
    result["out"] = out
    return result


@pytest.fixture(scope="module")
def app(ui_env, airflow_db):
    """Airflow's API server app (``create_app()``), with the plugin mounted from its entry point."""
    from airflow.api_fastapi import app as api_app

    api_app.purge_cached_app()
    yield api_app.create_app()
    api_app.purge_cached_app()  # the next module gets the configured auth manager again


@pytest.fixture(scope="module")
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as test_client:
        yield test_client


def token(username: str) -> str:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    role = "admin" if username == "admin" else "viewer"
    return get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=username, role=role))


@pytest.fixture(scope="module")
def as_admin(client):
    return {"Authorization": f"Bearer {token('admin')}"}


@pytest.fixture(scope="module")
def as_outsider(client):
    return {"Authorization": f"Bearer {token(OUTSIDER)}"}


@pytest.fixture(scope="module")
def hand_made(runs, tmp_path_factory):
    """Events no run produces, removed afterwards: added through the ORM as a task's would be."""
    from airflow.models.asset import AssetAliasModel, AssetEvent, AssetModel
    from airflow.models.asset import asset_alias_asset_event_association_table as alias_events
    from airflow.utils.session import create_session
    from sqlalchemy import delete, select

    folder = tmp_path_factory.mktemp("hand-made")
    video = next(Path(runs["out"]).glob("text_to_video/*.mp4"))
    older = folder / "older.mp4"
    older.write_bytes(video.read_bytes())
    (folder / "poster.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    (folder / "not-a-video.mp4").write_text("root:x:0:0:root:/root:/bin/bash\n")
    run_id = runs["videogen_text_to_video"]
    specs = {
        # an event from before provenance: no prompt or model recorded, still playable
        "older": (older.as_uri(), {"sha256": hashlib.sha256(older.read_bytes()).hexdigest(),
                                   "size_bytes": older.stat().st_size, "content_type": "video/mp4",
                                   "operation_id": "op-older", "dest_conn_id": None,
                                   "preview_uri": (folder / "poster.png").as_uri()}, "older_task"),
        # hostile text in provenance; a storage connection id that must never reach the browser
        "hostile": (older.as_uri() + "?copy", {"sha256": "0" * 64, "size_bytes": 1, "dest_conn_id": "conn_never_shown",
                                               "provenance": {"prompt": "<script>alert('x')</script>",
                                                              "model": "<b>m</b>"},
                                               "preview_uri": "file:///etc/hostname"}, "hostile_task"),
        "passwd": ("file:///etc/passwd", {"sha256": "1" * 64}, "passwd_task"),
        "not_mp4": ((folder / "not-a-video.mp4").as_uri(), {"sha256": "2" * 64}, "not_mp4_task"),
        "dot_segments": (f"file://{folder}/../{folder.name}/older.mp4", {"sha256": "3" * 64}, "dots_task"),
        "gone": ((folder / "deleted.mp4").as_uri(), {"sha256": "4" * 64}, "gone_task"),
        "api_posted": (older.as_uri() + "#api", {"from_rest_api": True}, None),  # no source task: not a video
    }
    ids, asset_ids = {}, []
    with create_session() as session:
        alias = session.scalar(select(AssetAliasModel).where(AssetAliasModel.name == "videogen_videos"))
        for name, (uri, extra, task_id) in specs.items():
            asset = AssetModel(name=uri, uri=uri, group="asset")
            session.add(asset)
            session.flush()
            asset_ids.append(asset.id)
            event = AssetEvent(asset_id=asset.id, extra=extra, source_task_id=task_id, source_map_index=-1,
                               source_dag_id="videogen_text_to_video" if task_id else None,
                               source_run_id=run_id if task_id else None)
            if task_id:
                event.source_aliases.append(alias)
            session.add(event)
            session.flush()
            ids[name] = event.id
    yield ids
    with create_session() as session:  # the alias links too (SQLite may not cascade)
        session.execute(delete(alias_events).where(alias_events.c.event_id.in_(list(ids.values()))))
        session.execute(delete(AssetEvent).where(AssetEvent.id.in_(list(ids.values()))))
        session.execute(delete(AssetModel).where(AssetModel.id.in_(asset_ids)))


def event_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-event-id="(\d+)"', html)]


def ti_url(dag_id: str, run_id: str, task_id: str = "download", map_index: str = "-1") -> str:
    from airflow_provider_videogen.ui.links import ti_view_path

    return PREFIX + ti_view_path(dag_id, run_id, task_id, map_index)


# ------------------------------------------------------------------------------------------- registration
def test_installed_package_registers_the_plugin(app):
    from airflow import plugins_manager

    (entry,) = [e for e in entry_points(group="airflow.plugins") if e.name == "videogen"]
    assert entry.value == "airflow_provider_videogen.ui.plugin:VideoGenPlugin"
    (info,) = [p for p in plugins_manager.get_plugin_info() if p["name"] == "videogen"]
    assert {(v["destination"], v["href"]) for v in info["external_views"]} == {
        ("task_instance", "videogen/ti/{DAG_ID}/{TASK_ID}/{MAP_INDEX}/{RUN_ID}"),
        ("dag_run", "videogen/run/{DAG_ID}/{RUN_ID}"),
        ("nav", "videogen/videos")}
    assert [a["url_prefix"] for a in info["fastapi_apps"]] == [PREFIX]
    assert info["operator_extra_links"] == ["<airflow_provider_videogen.ui.links.WatchVideoLink object>"]
    assert any(r.path == PREFIX for r in app.routes)  # mounted by Airflow's create_app()


def test_watch_video_extra_link(client, runs, as_admin):
    dag_id, run_id = "videogen_text_to_video", runs["videogen_text_to_video"]
    links = client.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/download/links", headers=as_admin)
    assert links.status_code == 200, links.text
    link = links.json()["extra_links"]["Watch video"]
    assert link == ti_url(dag_id, run_id) + "?standalone=1"
    page = client.get(link, headers=as_admin)
    assert page.status_code == 200 and 'data-testid="videogen-player"' in page.text
    assert f'href="/dags/{dag_id}/runs/' in page.text  # standalone: a way back into the Airflow UI
    mapped = client.get(f"/api/v2/dags/{DENIED_DAG}/dagRuns/{runs[DENIED_DAG]}/taskInstances/download/links",
                        headers=as_admin, params={"map_index": 1})
    assert mapped.json()["extra_links"]["Watch video"] == ti_url(DENIED_DAG, runs[DENIED_DAG], map_index="1") + \
        "?standalone=1"


def test_a_watch_video_link_declared_by_the_operator(airflow_db):
    """The operator's own ``operator_extra_links = (WatchVideoLink(),)`` survives DAG serialization (the
    worker stores the link in XCom when the task ends; the API server reads it back by name)."""
    import pendulum
    from airflow.models.taskinstancekey import TaskInstanceKey
    from airflow.sdk import DAG
    from airflow.serialization import serialized_objects

    from airflow_provider_videogen.operators.video import VideoDownloadOperator
    from airflow_provider_videogen.ui.links import WatchVideoLink

    class DeclaringDownload(VideoDownloadOperator):
        operator_extra_links = (WatchVideoLink(),)

    with DAG("ui_declared_link", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        DeclaringDownload(task_id="download", operation_id="op-1", destination="/tmp/ui-declared-link.mp4")
    serializer = getattr(serialized_objects, "DagSerialization", None) or serialized_objects.SerializedDAG
    restored = serializer.from_dict(serializer.to_dict(dag)).get_task("download")
    assert restored.extra_links == ["Watch video"]
    assert restored.operator_extra_link_dict["Watch video"].xcom_key == "_link_WatchVideoLink"
    key = TaskInstanceKey(dag_id="d", task_id="t", run_id="manual__2026-01-01T00:00:00+00:00", map_index=3)
    assert WatchVideoLink().get_link(None, ti_key=key) == \
        "/videogen/ti/d/t/3/manual__2026-01-01T00%3A00%3A00%2B00%3A00?standalone=1"


# ---------------------------------------------------------------------------------------------- the views
def test_task_instance_view_plays_the_video_with_its_provenance(client, runs, as_admin):
    dag_id, run_id = "videogen_text_to_video", runs["videogen_text_to_video"]
    # the UI leaves {MAP_INDEX} in the URL of an unmapped task: the same task instance
    for url in (ti_url(dag_id, run_id), ti_url(dag_id, run_id, map_index="{MAP_INDEX}")):
        page = client.get(url, headers=as_admin)
        assert page.status_code == 200, page.text
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        (event_id,) = event_ids(page.text)
        assert f'src="{PREFIX}/events/{event_id}/video"' in page.text
    data = client.get(ti_url(dag_id, run_id), headers=as_admin, params={"format": "json"}).json()
    (video,) = data["videos"]
    assert video["prompt"] == "A red kite over the dunes" and video["playable"]
    assert video["sha256"] == runs["sha256"]["A red kite over the dunes"] and video["size_bytes"] == 400_000
    assert video["operation_id"] and video["model"] and video["gateway"] == "openai"
    assert video["uri"].startswith("file:///") and "dest_conn_id" not in video
    for field in ("prompt", "model", "gateway", "operation_id", "size", "sha256", "uri"):
        assert f'data-field="{field}"' in page.text
    if video["estimated_cost_usd"] is not None:
        assert f"${video['estimated_cost_usd']:.2f}" in page.text


def test_run_view_lists_every_mapped_video(client, runs, as_admin):
    from airflow_provider_videogen.ui.links import run_view_path

    data = client.get(PREFIX + run_view_path(DENIED_DAG, runs[DENIED_DAG]), headers=as_admin,
                      params={"format": "json"}).json()
    assert sorted((v["task_id"], v["map_index"]) for v in data["videos"]) == [("download", 0), ("download", 1)]
    assert {v["sha256"] for v in data["videos"]} == {runs["sha256"]["first batch clip"],
                                                     runs["sha256"]["second batch clip"]}
    page = client.get(PREFIX + run_view_path(DENIED_DAG, runs[DENIED_DAG]), headers=as_admin)
    assert len(event_ids(page.text)) == 2
    one = client.get(ti_url(DENIED_DAG, runs[DENIED_DAG], map_index="1"), headers=as_admin, params={"format": "json"})
    assert [v["map_index"] for v in one.json()["videos"]] == [1]


def test_a_task_without_video_and_an_older_event_without_provenance(client, runs, hand_made, as_admin):
    dag_id, run_id = "videogen_text_to_video", runs["videogen_text_to_video"]
    empty = client.get(ti_url(dag_id, run_id, task_id="generate"), headers=as_admin)
    assert empty.status_code == 200 and 'data-testid="videogen-empty"' in empty.text
    older = client.get(ti_url(dag_id, run_id, task_id="older_task"), headers=as_admin)
    assert older.status_code == 200 and event_ids(older.text) == [hand_made["older"]]
    assert 'data-field="prompt">—<' in older.text and 'data-field="model">—<' in older.text
    assert f'poster="{PREFIX}/events/{hand_made["older"]}/preview"' in older.text
    poster = client.get(f"{PREFIX}/events/{hand_made['older']}/preview", headers=as_admin)
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/png"
    missing_dag = client.get(ti_url("no_such_dag", run_id), headers=as_admin)
    assert missing_dag.status_code == 404


def test_text_from_events_is_escaped_and_connections_stay_on_the_server(client, runs, hand_made, as_admin):
    page = client.get(ti_url("videogen_text_to_video", runs["videogen_text_to_video"], task_id="hostile_task"),
                      headers=as_admin)
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text and "<b>m</b>" not in page.text
    gallery = client.get(f"{PREFIX}/videos", headers=as_admin, params={"format": "json"}).text
    for body in (page.text, gallery):
        assert "conn_never_shown" not in body
    # its preview_uri points outside the video's folder: never read
    assert client.get(f"{PREFIX}/events/{hand_made['hostile']}/preview", headers=as_admin).status_code == 404


# ------------------------------------------------------------------------------------------------- stream
def test_stream_supports_http_range(client, runs, as_admin):
    video_file = next(Path(runs["out"]).glob("text_to_video/*.mp4"))
    body = video_file.read_bytes()
    size = len(body)
    data = client.get(ti_url("videogen_text_to_video", runs["videogen_text_to_video"]), headers=as_admin,
                      params={"format": "json"}).json()
    url = f"{PREFIX}/events/{data['videos'][0]['event_id']}/video"

    whole = client.get(url, headers={**as_admin, "Accept-Encoding": "gzip"})
    assert whole.status_code == 200 and whole.content == body
    assert whole.headers["content-encoding"] == "identity"  # never gzipped (Airflow 3.1's middleware would)
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["content-length"] == str(size)
    assert whole.headers["content-type"] == "video/mp4"
    assert hashlib.sha256(whole.content).hexdigest() == runs["sha256"]["A red kite over the dunes"]

    first = client.get(url, headers={**as_admin, "Range": "bytes=0-99"})
    assert first.status_code == 206 and first.content == body[:100]
    assert first.headers["content-range"] == f"bytes 0-99/{size}" and first.headers["content-length"] == "100"
    middle = client.get(url, headers={**as_admin, "Range": "bytes=1000-"})  # what a seeking <video> asks
    assert middle.status_code == 206 and middle.content == body[1000:]
    assert middle.headers["content-range"] == f"bytes 1000-{size - 1}/{size}"
    tail = client.get(url, headers={**as_admin, "Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == body[-10:]
    beyond = client.get(url, headers={**as_admin, "Range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    head = client.head(url, headers={**as_admin, "Range": "bytes=0-9"})
    assert head.status_code == 206 and head.headers["content-length"] == "10" and head.content == b""
    download = client.get(url, headers=as_admin, params={"download": 1})
    assert download.headers["content-disposition"].startswith("attachment;")


def test_open_ended_ranges_are_answered_in_bounded_pieces(tmp_path):
    from airflow_provider_videogen.ui import storage

    size = 3 * storage.OPEN_RANGE_LIMIT
    assert storage.parse_range("bytes=0-", size) == storage.ByteRange(0, storage.OPEN_RANGE_LIMIT - 1, True)
    assert storage.parse_range("bytes=5-9", size) == storage.ByteRange(5, 9, True)
    assert storage.parse_range("bytes=0-1,5-6", size).partial is False  # several ranges: the whole object
    assert storage.parse_range("items=0-1", size).partial is False
    assert storage.parse_range(f"bytes={size}-", size) is None
    path = tmp_path / "v.bin"
    path.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    pieces = list(storage.iter_range(ObjectStoragePath(path.as_uri()), storage.ByteRange(10, 300_009, True),
                                     chunk=64 * 1024))
    assert max(len(p) for p in pieces) <= 64 * 1024 and b"".join(pieces) == path.read_bytes()[10:300_010]


# ---------------------------------------------------------------------------------------------- refusals
def test_every_endpoint_refuses_without_authentication(client, runs, hand_made):
    dag_id, run_id = "videogen_text_to_video", runs["videogen_text_to_video"]
    urls = [ti_url(dag_id, run_id), f"{PREFIX}/run/{dag_id}/{run_id}", f"{PREFIX}/videos",
            f"{PREFIX}/events/{hand_made['older']}/video", f"{PREFIX}/events/{hand_made['older']}/preview"]
    for url in urls:
        anonymous = client.get(url)
        assert anonymous.status_code == 401, url
        assert b"ftyp" not in anonymous.content
        forged = client.get(url, headers={"Authorization": "Bearer not.a.jwt"})
        assert forged.status_code in (401, 403), url
        client.cookies.set("_token", "forged")  # the UI's cookie, forged
        assert client.get(url).status_code in (401, 403), url
        client.cookies.clear()
    login = client.get(ti_url(dag_id, run_id))
    assert "Sign in" in login.text and "/auth/login" in login.text


def test_the_ui_cookie_is_accepted(client, runs):
    client.cookies.set("_token", token("viewer"))
    try:
        page = client.get(ti_url("videogen_text_to_video", runs["videogen_text_to_video"]))
        assert page.status_code == 200 and event_ids(page.text)
    finally:
        client.cookies.clear()


def test_a_user_without_access_to_the_dag_is_refused(client, runs, as_outsider):
    from airflow_provider_videogen.ui.links import run_view_path

    run_id = runs[DENIED_DAG]
    admin_view = client.get(PREFIX + run_view_path(DENIED_DAG, run_id), params={"format": "json"},
                            headers={"Authorization": f"Bearer {token('admin')}"}).json()
    denied_event = admin_view["videos"][0]["event_id"]
    for url in (ti_url(DENIED_DAG, run_id, map_index="0"), PREFIX + run_view_path(DENIED_DAG, run_id),
                f"{PREFIX}/events/{denied_event}/video", f"{PREFIX}/events/{denied_event}/preview"):
        refused = client.get(url, headers={**as_outsider, "Range": "bytes=0-"})
        assert refused.status_code == 403, url
        assert b"ftyp" not in refused.content and b"batch clip" not in refused.content
    # the same user still sees the DAG they may read, and the gallery hides the other one
    allowed = client.get(ti_url("videogen_text_to_video", runs["videogen_text_to_video"]), headers=as_outsider)
    assert allowed.status_code == 200
    gallery = client.get(f"{PREFIX}/videos", headers=as_outsider, params={"format": "json", "limit": 100}).json()
    assert gallery["videos"] and DENIED_DAG not in {v["dag_id"] for v in gallery["videos"]}
    only_denied = client.get(f"{PREFIX}/videos", headers=as_outsider, params={"format": "json", "dag_id": DENIED_DAG})
    assert only_denied.json()["videos"] == []


def test_nothing_is_read_that_no_video_event_points_to(client, hand_made, as_admin, runs):
    def video(name, **params):
        return client.get(f"{PREFIX}/events/{hand_made[name]}/video", headers=as_admin, params=params)

    assert video("api_posted").status_code == 404  # posted through the REST API: not written by a task
    assert video("passwd").status_code == 415 and b"root:" not in video("passwd").content
    assert video("not_mp4").status_code == 415 and b"root:" not in video("not_mp4").content
    assert video("dot_segments").status_code == 404
    assert video("gone").status_code == 404
    assert client.get(f"{PREFIX}/events/987654321/video", headers=as_admin).status_code == 404
    # the endpoint takes an event id only: a URI or path in the query changes nothing
    served = video("older", uri="file:///etc/passwd", path="/etc/passwd")
    assert served.status_code == 200 and served.content[4:8] == b"ftyp"
    traversals = [f"{PREFIX}/events/..%2F..%2F..%2Fetc%2Fpasswd/video", f"{PREFIX}/events/%2e%2e/video",
                  f"{PREFIX}/events/-1/video", f"{PREFIX}/events/1%20OR%201=1/video",
                  f"{PREFIX}/ti/..%2F..%2Fetc/passwd/-1/x", f"{PREFIX}/ti/videogen_text_to_video/download/..%2F..%2F/x",
                  f"{PREFIX}/run/..%2F..%2Fetc%2Fpasswd/x", f"{PREFIX}/static/..%2F..%2Fapp.py"]
    for url in traversals:
        answer = client.get(url, headers=as_admin)
        assert answer.status_code in (404, 422), (url, answer.status_code)
        assert b"root:" not in answer.content and b"import" not in answer.content


# ---------------------------------------------------------------------------------------------- gallery
def test_gallery_filters_and_pages(client, runs, hand_made, as_admin):
    def page(**params):
        answer = client.get(f"{PREFIX}/videos", headers=as_admin, params={"format": "json", **params})
        assert answer.status_code == 200, answer.text
        return answer.json()

    newest = page(limit=100)["videos"]
    ids = [v["event_id"] for v in newest]
    assert ids == sorted(ids, reverse=True)  # newest first
    assert hand_made["api_posted"] not in ids  # not written by a task
    mine = [v for v in newest if v["run_id"] in (runs["videogen_text_to_video"], runs[DENIED_DAG])]
    assert {v["dag_id"] for v in mine} == {"videogen_text_to_video", DENIED_DAG}

    first, second = page(limit=1), None
    assert len(first["videos"]) == 1 and first["newer"] is None and first["older"] == first["videos"][0]["event_id"]
    second = page(limit=1, before=first["older"])
    assert second["videos"][0]["event_id"] < first["videos"][0]["event_id"]
    back = page(limit=1, after=second["newer"])
    assert back["videos"] == first["videos"]

    batch = page(dag_id=DENIED_DAG, limit=100)["videos"]
    assert batch and {v["dag_id"] for v in batch} == {DENIED_DAG}
    tomorrow, yesterday = date.today() + timedelta(days=2), date.today() - timedelta(days=2)
    assert page(since=tomorrow.isoformat())["videos"] == []
    assert page(until=yesterday.isoformat())["videos"] == []
    assert page(since=yesterday.isoformat(), until=tomorrow.isoformat(), limit=1)["videos"]

    html = client.get(f"{PREFIX}/videos", headers=as_admin, params={"limit": 2, "since": "not-a-date"}).text
    assert "Ignored since=" in html and html.count('data-testid="videogen-card"') == 2
    assert 'preload="metadata"' in html and 'data-testid="videogen-older"' in html


def test_a_task_without_xcom_finds_its_video_through_the_alias_never_by_scanning_events(client, runs, hand_made,
                                                                                         as_admin):
    """``older_task`` wrote an event but pushed no XCom: the fallback finds it among the alias's newest events
    (the alias's primary key, then ``asset_event`` by its own), never by scanning ``asset_event`` or ``asset``
    on the ``source_*`` columns, which have no index in Airflow's schema."""
    from airflow.settings import engine
    from sqlalchemy import event

    dag_id, run_id = "videogen_text_to_video", runs["videogen_text_to_video"]
    statements: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        older = client.get(ti_url(dag_id, run_id, task_id="older_task"), headers=as_admin)
        empty = client.get(ti_url(dag_id, run_id, task_id="generate"), headers=as_admin)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert older.status_code == 200 and event_ids(older.text) == [hand_made["older"]]
    assert empty.status_code == 200 and event_ids(empty.text) == []
    on_events = [(sql, params) for sql, params in statements if re.search(r"\bFROM asset_event\b", sql)]
    assert len(on_events) == 2, on_events  # one per page: the fallback, as neither task's XCom names a video
    assert all(re.search(r"\bLIMIT\b", sql) for sql, _ in on_events)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            for sql, params in on_events:
                plan = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)]
                scans = [line for line in plan if re.match(r"SCAN (asset_event|asset|asset_alias_asset_event)\b",
                                                           line)]
                assert not scans, plan


def test_gallery_stays_bounded_with_10000_events(client, app, runs, as_admin):
    """10,000 events: a page reads at most ``limit + 1`` rows in one statement, walking an index backwards."""
    from airflow.models.asset import AssetAliasModel, AssetEvent, AssetModel
    from airflow.models.asset import asset_alias_asset_event_association_table as alias_events
    from airflow.settings import engine
    from airflow.utils.session import create_session
    from sqlalchemy import delete, event, insert, select

    from airflow_provider_videogen.ui import queries

    dag_id, count = "videogen_text_to_video", 10_000
    tag = uuid.uuid4().hex[:8]
    with create_session() as session:
        alias_id = session.scalar(select(AssetAliasModel.id).where(AssetAliasModel.name == "videogen_videos"))
        asset = AssetModel(name=f"file:///perf/{tag}.mp4", uri=f"file:///perf/{tag}.mp4", group="asset")
        session.add(asset)
        session.flush()
        asset_id = asset.id
        first_id = (session.scalar(select(AssetEvent.id).order_by(AssetEvent.id.desc()).limit(1)) or 0) + 1
        session.execute(insert(AssetEvent), [
            {"asset_id": asset_id, "extra": {"sha256": f"{i:064x}", "size_bytes": i, "provenance": {"prompt": f"p{i}"}},
             "source_dag_id": dag_id, "source_run_id": f"perf_{tag}", "source_task_id": "download",
             "source_map_index": i % 4 - 1} for i in range(count)])
        new_ids = list(session.scalars(select(AssetEvent.id).where(AssetEvent.asset_id == asset_id)))
        assert len(new_ids) == count and min(new_ids) >= first_id
        session.execute(insert(alias_events), [{"alias_id": alias_id, "event_id": i} for i in new_ids])
    try:
        statements: list[str] = []

        def record(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", record)
        try:
            started = time.perf_counter()
            answer = client.get(f"{PREFIX}/videos", headers=as_admin, params={"format": "json", "limit": 24})
            first_page = time.perf_counter() - started
            deep = client.get(f"{PREFIX}/videos", headers=as_admin,
                              params={"format": "json", "limit": 24, "before": sorted(new_ids)[count // 2]})
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert answer.status_code == 200 and deep.status_code == 200
        videos = answer.json()["videos"]
        assert len(videos) == 24 and [v["event_id"] for v in videos] == sorted(new_ids, reverse=True)[:24]
        assert [v["event_id"] for v in deep.json()["videos"]] == \
            sorted((i for i in new_ids if i < sorted(new_ids)[count // 2]), reverse=True)[:24]
        events_queries = [s for s in statements if "asset_event" in s]
        assert len(events_queries) == 2, events_queries  # one statement per page, whatever the event count
        assert all(re.search(r"\bLIMIT\b", s) for s in events_queries)
        assert len(statements) <= 12, statements  # a constant: authentication, DAG filter, the page
        assert first_page < 10, f"{first_page:.2f} s"  # generous (a shared machine); the bounds above are the test

        if engine.dialect.name == "sqlite":  # the plan walks (alias_id, event_id) backwards: no sort, no scan
            stmt = queries.gallery_statement(readable_dag_ids={dag_id}, limit=24)
            sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
            with engine.connect() as conn:
                plan = " | ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
            assert "TEMP B-TREE" not in plan, plan
            assert re.search(r"SEARCH asset_alias_asset_event USING (COVERING )?INDEX", plan), plan
            assert "SCAN asset_event" not in plan, plan
    finally:
        with create_session() as session:
            session.execute(delete(alias_events).where(alias_events.c.event_id.in_(
                select(AssetEvent.id).where(AssetEvent.asset_id == asset_id))))
            session.execute(delete(AssetEvent).where(AssetEvent.asset_id == asset_id))
            session.execute(delete(AssetModel).where(AssetModel.id == asset_id))
