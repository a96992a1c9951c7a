"""The videos in the Airflow UI, in a real deployment and a real browser (Debian's headless Chromium).

Its own Airflow (the same four components as the package's deployment, on loopback), because refusing one
user one DAG needs a deployment-wide setting: **multi-team mode** (``[core] multi_team``, Airflow 3.2+). The
example DAGs' bundle has no team; a second bundle, owned by team ``videogen_restricted``, holds
``videogen_restricted_videos``. Airflow's SimpleAuthManager has two users: ``admin`` (every team) and
``viewer``, a Viewer in team ``videogen_open`` only, who may read the example DAGs but not the restricted
one (SimpleAuthManager's roles alone cannot do that: a Viewer reads every DAG). The restricted DAG's
sensor pokes on the worker (a deferred trigger of a team's DAG would need a triggerer started for that
team), and its download records no provenance (an older event, as the view must handle).

What a user does, checked in the browser: sign in; open a finished run's download task, its **Video** tab,
and the ``<video>`` loads its metadata (``duration > 0``), plays (``currentTime`` advances) and seeks (a
206 answer); the prompt, sha256 and the other fields are next to it. The same for a video on S3 (moto),
in the DAG run's **Videos** tab; the **Watch video** extra link; the **Videos** gallery in the navigation
and its DAG filter. The viewer is refused the restricted DAG's view and video (403) and does not find its
video in the gallery, while the open DAG's video plays for them; nobody signed in gets 401. Screenshots go
to ``test-artifacts/deployment/ui-video-*.png``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from playwright.sync_api import expect

from airflow_provider_videogen.ui.storage import OPEN_RANGE_LIMIT

from .deployment_support import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    S3_CONN_ID,
    S3_KEY_ID,
    S3_SECRET,
    TEST_KEY,
    AirflowDeployment,
    job_for_prompt,
    save_task_logs,
    wait_until,
)

pytestmark = [pytest.mark.deployment, pytest.mark.timeout(1500)]

CHROMIUM = os.environ.get("VIDEOGEN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required", "--mute-audio"]
DAG_ID = "videogen_text_to_video"
RESTRICTED_DAG = "videogen_restricted_videos"
TEAM_OPEN, TEAM_RESTRICTED = "videogen_open", "videogen_restricted"
VIEWER, VIEWER_PASSWORD = "viewer", "viewer-password-123"  # obviously fake, throw-away deployment
MODEL = "veo-3.1-fast-generate-preview"
BUCKET = "videogen-ui"
VIDEO_BYTES = 6_000_000  # more than one answer to an open-ended range (OPEN_RANGE_LIMIT)

RESTRICTED_DAG_FILE = f'''
"""A DAG owned by team {TEAM_RESTRICTED} (its bundle's team): the viewer may not read it."""
import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_videogen import VideoDownloadOperator, VideoGenerateOperator, VideoOperationSensor

with DAG(dag_id="{RESTRICTED_DAG}", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
         catchup=False, tags=["videogen"],
         params={{"prompt": Param("a restricted clip", type="string"), "output_dir": Param("/tmp", type="string")}}):
    generate = VideoGenerateOperator(task_id="generate", conn_id="videogen_default", prompt="{{{{ params.prompt }}}}",
                                     model="{MODEL}", duration_seconds=4)
    wait = VideoOperationSensor(task_id="wait", conn_id="videogen_default",
                                operation_id=generate.output["operation_id"], poke_interval=1, timeout=600,
                                deferrable=False)
    VideoDownloadOperator(task_id="download", conn_id="videogen_default", operation=wait.output,
                          destination="{{{{ params.output_dir }}}}/restricted/"
                                      "{{{{ run_id | replace(':', '-') | replace('+', '_') }}}}.mp4")
'''


class MultiTeamDeployment(AirflowDeployment):
    """:class:`AirflowDeployment` in multi-team mode, with a team-owned second DAG bundle and two users."""

    def __init__(self, home: Path, log_dir: Path, env: dict[str, str], restricted_dags: Path):
        bundles = [
            {"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {}},
            {"name": "videogen-restricted", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
             "kwargs": {"path": str(restricted_dags)}, "team_name": TEAM_RESTRICTED},
        ]
        super().__init__(home, log_dir, {
            **env,
            "AIRFLOW__CORE__MULTI_TEAM": "True",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS":
                f"{ADMIN_USER}:admin:{TEAM_OPEN}|{TEAM_RESTRICTED},{VIEWER}:viewer:{TEAM_OPEN}",
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
            # On a loaded machine a task's first call (PATCH .../run) can outlast the default timeout; its
            # retry then meets the first call's effect (400) and the task fails before it starts.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
        })

    def _airflow(self, *args: str) -> None:
        done = subprocess.run([sys.executable, "-m", "airflow", *args], env=self.env, cwd=self.home,
                              capture_output=True, text=True, timeout=600)
        with open(self.log_dir / "setup.log", "a") as log:
            log.write(f"$ airflow {' '.join(args)}\n{done.stdout}{done.stderr}\n")
        if done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")

    def start(self, timeout: float = 300) -> MultiTeamDeployment:
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        (self.home / "passwords.json").write_text(json.dumps({ADMIN_USER: ADMIN_PASSWORD, VIEWER: VIEWER_PASSWORD}))
        self._airflow("db", "migrate")
        for team in (TEAM_OPEN, TEAM_RESTRICTED):  # the auth manager checks its users' teams exist at start
            self._airflow("teams", "create", team)
        for p in self.processes:
            p.start()
        wait_until("Airflow (multi-team) healthy", self._healthy, timeout, interval=1.0, alive=self.check_alive)
        self.api.login()
        return self


@pytest.fixture(scope="module")
def team_airflow(gateway, s3_server, artifacts):
    home = Path(tempfile.mkdtemp(prefix="videogen-ui-airflow-home-"))
    restricted = home / "restricted_dags"
    restricted.mkdir(parents=True)
    (restricted / "videogen_restricted_videos.py").write_text(RESTRICTED_DAG_FILE)
    log_dir = artifacts / "video-view"
    env = {
        "AIRFLOW_CONN_VIDEOGEN_DEFAULT": json.dumps(
            {"conn_type": "videogen_openai", "host": gateway.proxy.url, "password": TEST_KEY,
             "extra": {"default_model": MODEL}}),
        f"AIRFLOW_CONN_{S3_CONN_ID.upper()}": json.dumps(
            {"conn_type": "aws", "login": S3_KEY_ID, "password": S3_SECRET,
             "extra": {"endpoint_url": s3_server.url, "region_name": "us-east-1"}}),
    }
    deployment = MultiTeamDeployment(home, log_dir, env, restricted)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        deployment.start()
        for dag_id in (DAG_ID, RESTRICTED_DAG):
            deployment.api.wait_for_dag(dag_id, timeout=180)
            deployment.api.unpause(dag_id)
        yield deployment
    finally:
        deployment.stop()
        signal.signal(signal.SIGTERM, previous)
        if (home / "logs").is_dir():
            shutil.copytree(home / "logs", log_dir / "airflow-logs", dirs_exist_ok=True)
        shutil.rmtree(home, ignore_errors=True)
        alive = [p.name for p in deployment.processes if p.group_alive()]
        assert not alive, f"Airflow components still running after stop: {alive}"
        leaks = [str(f) for f in log_dir.rglob("*") if f.is_file()
                 and any(secret in f.read_text(errors="replace") for secret in (TEST_KEY, S3_SECRET))]
        assert not leaks, f"a key or secret was written to these logs: {leaks}"


@pytest.fixture(scope="module")
def finished(team_airflow, gateway, s3_client, artifacts, tmp_path_factory):
    """Three finished runs: the example DAG to local disk and to S3, and the restricted DAG."""
    api = team_airflow.api
    # jobs long enough that the sensor's deferral has settled before the trigger fires (a trigger firing
    # within a second or two can race the scheduler's handling of the deferred exit on a loaded machine)
    gateway.ctl.set_config(job_seconds=10, video_bytes=VIDEO_BYTES)
    s3_client.create_bucket(Bucket=BUCKET)
    out = tmp_path_factory.mktemp("ui-video-out")
    tag = uuid.uuid4().hex[:8]
    prompts = {"local": f"A tram crossing a snowy bridge {tag}", "s3": f"A lighthouse in the fog, stored in S3 {tag}",
               "restricted": f"A confidential product teaser {tag}"}
    confs = {
        "local": (DAG_ID, {"prompt": prompts["local"], "model": MODEL, "duration_seconds": 4, "output_dir": str(out)}),
        "s3": (DAG_ID, {"prompt": prompts["s3"], "model": MODEL, "duration_seconds": 4,
                        "output_dir": f"s3://{S3_CONN_ID}@{BUCKET}/videos"}),
        "restricted": (RESTRICTED_DAG, {"prompt": prompts["restricted"], "output_dir": str(out)}),
    }
    runs = {}
    for name, (dag_id, conf) in confs.items():  # one after the other: gentler on a shared machine
        run_id = api.trigger(dag_id, conf)
        runs[name] = (dag_id, run_id)
        run, _ = api.wait_for_run(dag_id, run_id, timeout=300, alive=team_airflow.check_alive)
        logs = save_task_logs(api, artifacts / "video-view", dag_id, run_id, ("generate", "wait", "download"))
        assert run["state"] == "success", f"{name}: {''.join(logs.values())[-4000:]}\n{team_airflow.logs()}"
    sha256 = {name: gateway.ctl.sha256(job_for_prompt(gateway.ctl, prompt)["id"])["sha256"]
              for name, prompt in prompts.items()}
    videos = {}
    for name, (dag_id, run_id) in runs.items():  # what the plugin lists for each run (as admin, JSON)
        answer = api.session.get(f"{team_airflow.url}/videogen/run/{dag_id}/{quote(run_id, safe='')}",
                                 params={"format": "json"}, timeout=30)
        assert answer.status_code == 200, answer.text
        (videos[name],) = answer.json()["videos"]
    return {"runs": runs, "prompts": prompts, "sha256": sha256, "videos": videos}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    expect.set_options(timeout=30_000)  # the UI renders slowly on a loaded machine (default: 5 s)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()
            expect.set_options(timeout=5_000)


@pytest.fixture
def admin_page(team_airflow, browser):
    """A page of a fresh browser context, signed in as the admin."""
    page = new_page(browser, user=ADMIN_USER, password=ADMIN_PASSWORD, url=team_airflow.url)
    try:
        yield page
    finally:
        page.context.close()


def new_page(browser, *, user: str | None = None, password: str | None = None, url: str = ""):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    if user:
        page.goto(f"{url}/")
        page.wait_for_url(re.compile(r"/auth/login"))
        page.get_by_label("Username").fill(user)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(rf"^{re.escape(url)}/(\?.*)?$"))
    return page


def shot(page, path) -> None:
    page.screenshot(path=str(path), animations="disabled")


METADATA = """v => new Promise((resolve, reject) => {
  const done = () => resolve({duration: v.duration, width: v.videoWidth, height: v.videoHeight});
  if (v.readyState >= 1) return done();
  v.addEventListener('loadedmetadata', done, {once: true});
  v.addEventListener('error', () => reject(new Error('media error ' + (v.error && v.error.code))), {once: true});
  setTimeout(() => reject(new Error('no metadata within 30 s, readyState ' + v.readyState)), 30000);
})"""

PLAYS = """async v => {
  v.muted = true;
  await v.play();
  const start = v.currentTime;
  const deadline = Date.now() + 30000;
  while (v.currentTime <= start + 0.5) {
    if (Date.now() > deadline) throw new Error('currentTime stuck at ' + v.currentTime);
    await new Promise(r => setTimeout(r, 100));
  }
  return {start, now: v.currentTime, paused: v.paused};
}"""

SEEKS = """async v => {
  const target = v.duration / 2;
  await new Promise((resolve, reject) => {
    v.addEventListener('seeked', resolve, {once: true});
    setTimeout(() => reject(new Error('no seeked event within 30 s')), 30000);
    v.currentTime = target;
  });
  const deadline = Date.now() + 30000;
  while (v.currentTime <= target + 0.3) {
    if (Date.now() > deadline) throw new Error('not playing after the seek: ' + v.currentTime);
    await new Promise(r => setTimeout(r, 100));
  }
  return {target, now: v.currentTime};
}"""


def check_player(video, seek: bool = True) -> dict:
    """The <video> loads metadata, plays, and (``seek``) plays on from the middle after a seek."""
    support = video.evaluate("v => v.canPlayType('video/mp4; codecs=\"avc1.42E01E\"')")
    assert support in ("probably", "maybe"), f"this Chromium cannot play H.264 MP4 ({support!r})"
    meta = video.evaluate(METADATA)
    assert meta["duration"] > 0 and meta["width"] > 0, meta
    played = video.evaluate(PLAYS)
    assert played["now"] > played["start"], played
    if seek:
        sought = video.evaluate(SEEKS)
        assert sought["now"] > sought["target"], sought
    return meta


def media_responses(page) -> list[tuple[str, int, dict]]:
    seen: list[tuple[str, int, dict]] = []
    page.on("response", lambda r: seen.append((r.url, r.status, r.headers)) if "/videogen/events/" in r.url else None)
    return seen


def test_video_tab_of_a_finished_run_plays_and_seeks(team_airflow, finished, admin_page, artifacts):
    url, page = team_airflow.url, admin_page
    dag_id, run_id = finished["runs"]["local"]
    video_info = finished["videos"]["local"]
    assert video_info["sha256"] == finished["sha256"]["local"] and video_info["playable"]
    media = media_responses(page)
    page.goto(f"{url}/dags/{dag_id}/runs/{quote(run_id, safe='')}/tasks/download", wait_until="networkidle")
    tab = page.locator("a[href$='/plugin/videogen-video']").first
    expect(tab).to_be_visible()
    tab.click()
    page.wait_for_url(re.compile(r"/plugin/videogen-video"))
    frame = page.frame_locator("iframe[title='Video']")
    video = frame.locator("[data-testid=videogen-player]")
    expect(video).to_have_count(1)
    expect(frame.locator("[data-field=prompt]")).to_have_text(finished["prompts"]["local"])
    expect(frame.locator("[data-field=sha256]")).to_have_text(finished["sha256"]["local"])
    expect(frame.locator("[data-field=model]")).to_have_text(MODEL)
    expect(frame.locator("[data-field=operation_id]")).not_to_have_text("—")
    expect(frame.locator("[data-field=size]")).to_contain_text(f"{VIDEO_BYTES:,} bytes")
    meta = check_player(video)
    shot(page, artifacts / "ui-video-01-task-instance-tab.png")
    # the browser fetched the video in byte ranges (206), none longer than the server's bound
    partial = [(u, s, h) for u, s, h in media if s == 206]
    assert partial and all(h.get("content-range", "").startswith("bytes ") for _, _, h in partial), media
    assert all(int(h["content-length"]) <= OPEN_RANGE_LIMIT for _, _, h in partial), media
    assert any(h["content-range"].endswith(f"/{VIDEO_BYTES}") and int(h["content-length"]) < VIDEO_BYTES
               for _, _, h in partial), media  # the video is bigger than one answer: never sent whole
    assert all(h.get("accept-ranges") == "bytes" for _, s, h in media if s in (200, 206)), media
    assert all(not u.startswith(("file:", "s3:")) for u, _, _ in media)
    assert meta["duration"] > 0


def test_dag_run_tab_plays_a_video_stored_in_s3(team_airflow, finished, admin_page, artifacts):
    url, page = team_airflow.url, admin_page
    dag_id, run_id = finished["runs"]["s3"]
    assert finished["videos"]["s3"]["uri"].startswith(f"s3://{BUCKET}/videos/")
    page.goto(f"{url}/dags/{dag_id}/runs/{quote(run_id, safe='')}", wait_until="networkidle")
    tab = page.locator("a[href$='/plugin/videogen-run-videos']").first
    expect(tab).to_be_visible()
    tab.click()
    frame = page.frame_locator("iframe[title='Videos']")
    expect(frame.locator("[data-field=uri]")).to_have_text(re.compile(rf"^s3://{BUCKET}/videos/"))
    expect(frame.locator("[data-field=sha256]")).to_have_text(finished["sha256"]["s3"])
    check_player(frame.locator("[data-testid=videogen-player]"))
    html = frame.locator("body").inner_html()
    assert S3_SECRET not in html and S3_KEY_ID not in html and S3_CONN_ID not in html  # credentials stay home
    shot(page, artifacts / "ui-video-02-dag-run-tab-s3.png")


def test_watch_video_extra_link_and_the_gallery(team_airflow, finished, admin_page, artifacts):
    url, page = team_airflow.url, admin_page
    dag_id, run_id = finished["runs"]["local"]
    page.goto(f"{url}/dags/{dag_id}/runs/{quote(run_id, safe='')}/tasks/download/details",
              wait_until="networkidle")
    link = page.get_by_role("link", name="Watch video")  # the task instance's Details: Extra Links
    expect(link).to_be_visible()
    link.click()
    page.wait_for_url(re.compile(r"/videogen/ti/.*standalone=1"))
    check_player(page.locator("[data-testid=videogen-player]"), seek=False)
    expect(page.get_by_role("link", name="Open in Airflow")).to_be_visible()
    shot(page, artifacts / "ui-video-03-watch-video-link.png")

    # the navigation's Videos page: the gallery, newest first, with a DAG filter
    page.goto(f"{url}/", wait_until="networkidle")
    page.get_by_role("button", name=re.compile("^Browse$")).click()
    page.get_by_role("menuitem", name="Videos").click()
    page.wait_for_url(re.compile(r"/plugin/videogen-videos"))
    gallery = page.frame_locator("iframe[title='Videos']")
    cards = gallery.locator("[data-testid=videogen-card]")
    expect(cards.first).to_be_visible()
    shown = [int(i) for i in cards.evaluate_all("cs => cs.map(c => c.dataset.eventId)")]
    ours = {v["event_id"] for v in finished["videos"].values()}
    assert ours <= set(shown) and shown == sorted(shown, reverse=True)
    first_video = gallery.locator("[data-testid=videogen-card] video").first
    assert first_video.get_attribute("preload") == "metadata"
    assert first_video.evaluate(METADATA)["duration"] > 0
    shot(page, artifacts / "ui-video-04-gallery.png")
    gallery.locator("input[name=dag_id]").fill(RESTRICTED_DAG)
    gallery.get_by_role("button", name="Filter").click()
    expect(gallery.locator("[data-testid=videogen-card]")).to_have_count(1)
    expect(gallery.locator("[data-testid=videogen-card]")).to_have_attribute(
        "data-event-id", str(finished["videos"]["restricted"]["event_id"]))
    shot(page, artifacts / "ui-video-05-gallery-filtered.png")


def test_a_user_without_access_to_the_dag_is_refused(team_airflow, finished, browser, artifacts):
    url = team_airflow.url
    dag_id, run_id = finished["runs"]["restricted"]
    restricted = finished["videos"]["restricted"]
    assert restricted["prompt"] is None  # the restricted DAG records no provenance: an older-style event
    page = new_page(browser, user=VIEWER, password=VIEWER_PASSWORD, url=url)
    try:
        view = page.goto(f"{url}/videogen/ti/{dag_id}/download/-1/{quote(run_id, safe='')}")
        assert view.status == 403
        expect(page.get_by_test_id("videogen-error")).to_be_visible()
        shot(page, artifacts / "ui-video-06-viewer-refused.png")
        for path in (f"/videogen/events/{restricted['event_id']}/video",
                     f"/videogen/run/{dag_id}/{quote(run_id, safe='')}"):
            answer = page.request.get(url + path, headers={"Range": "bytes=0-"})
            assert answer.status == 403, path
            assert b"ftyp" not in answer.body()

        # the gallery leaves the restricted DAG's video out, and the viewer's own DAGs' videos play
        page.goto(f"{url}/videogen/videos")
        shown = {int(i) for i in page.locator("[data-testid=videogen-card]").evaluate_all(
            "cs => cs.map(c => c.dataset.eventId)")}
        assert finished["videos"]["local"]["event_id"] in shown and restricted["event_id"] not in shown
        page.goto(f"{url}/videogen/ti/{DAG_ID}/download/-1/{quote(finished['runs']['local'][1], safe='')}")
        check_player(page.locator("[data-testid=videogen-player]"), seek=False)
        shot(page, artifacts / "ui-video-07-viewer-allowed.png")
    finally:
        page.context.close()

    anonymous = new_page(browser)
    try:
        for path in ("/videogen/videos", f"/videogen/events/{restricted['event_id']}/video"):
            answer = anonymous.goto(url + path)
            assert answer.status == 401, path
        shot(anonymous, artifacts / "ui-video-08-signed-out.png")
    finally:
        anonymous.context.close()
    assert requests.get(f"{url}/videogen/events/{restricted['event_id']}/video", timeout=30).status_code == 401
