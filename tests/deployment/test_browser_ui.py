"""The UI in a real browser: Debian's headless Chromium, driven by Playwright, against the API server.

Logs in through the simple auth manager's form; opens Admin → Connections → Add Connection and checks,
for each of the six connection types, what the provider declares: Host relabelled *Base URL* with the
gateway's default URL as placeholder, Password relabelled *API Key* (a password input), Login, Schema
and Port hidden, and the extra fields (default model, timeout, TLS verification) with their help
text. Then triggers the example DAG from its Params form and watches the run page until it shows
success. Screenshots go to ``test-artifacts/deployment/`` (git-ignored).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from urllib.parse import unquote

import pytest

from airflow_provider_videogen.get_provider_info import get_provider_info

from .deployment_support import ADMIN_PASSWORD, ADMIN_USER, job_for_prompt, save_task_logs, sha256_file

pytestmark = [pytest.mark.deployment, pytest.mark.timeout(900)]

CHROMIUM = os.environ.get("VIDEOGEN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DAG_ID = "videogen_text_to_video"
HIDDEN = {"Host", "Login", "Password", "Schema", "Port"}  # hidden or relabelled by the provider


@pytest.fixture
def page(tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh --user-data-dir for every run
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(30_000)
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def label(scope, *texts: str):
    """The form labels reading exactly one of ``texts`` (a required field's label ends in ``*``)."""
    names = "|".join(re.escape(t) for t in texts)
    return scope.locator("label").filter(has_text=re.compile(rf"^\s*({names})\s*\*?\s*$"))


def shot(page, path) -> None:
    page.screenshot(path=str(path), animations="disabled")  # accordions finish opening first


def open_section(dialog, section: str, probe) -> None:
    """Expand an accordion section of the connection form unless ``probe`` in it is already visible."""
    if not probe.is_visible():
        dialog.get_by_role("button", name=section, exact=True).click()
    probe.wait_for(state="visible")


def choose_type(page, dialog, label: str) -> None:
    dialog.get_by_role("combobox").fill(label.split(" (")[0])
    page.get_by_role("option", name=label, exact=True).click()


def test_ui_connection_forms_and_params_form_trigger(airflow, gateway, artifacts, tmp_path, page):
    from playwright.sync_api import expect

    url = airflow.url
    page.goto(f"{url}/")
    page.wait_for_url(re.compile(r"/auth/login"))  # not logged in: the UI sends us to the login form
    page.get_by_label("Username").fill(ADMIN_USER)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(rf"^{re.escape(url)}/(\?.*)?$"))
    page.wait_for_load_state("networkidle")
    shot(page, artifacts / "ui-01-home.png")

    # -- Admin → Connections → Add Connection, one connection type after the other --------------------------
    page.goto(f"{url}/connections", wait_until="networkidle")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    for conn in get_provider_info()["connection-types"]:  # each form as the provider declares it
        name, behaviour, fields = conn["connection-type"], conn["ui-field-behaviour"], conn["conn-fields"]
        choose_type(page, dialog, conn["hook-name"])
        base_url = dialog.get_by_label(behaviour["relabeling"]["host"], exact=True)
        open_section(dialog, "Standard Fields", base_url)
        expect(base_url).to_have_attribute("placeholder", behaviour["placeholders"]["host"])
        if "password" not in behaviour["hidden-fields"]:  # API-key gateways; Vertex signs in with Google
            api_key = dialog.get_by_label(behaviour["relabeling"]["password"], exact=True)
            expect(api_key).to_be_visible()
            expect(api_key).to_have_attribute("type", "password")
            expect(api_key).to_have_attribute("placeholder", behaviour["placeholders"]["password"])
        expect(label(dialog, "Description")).to_be_visible()
        expect(label(dialog, *HIDDEN)).to_have_count(0)  # not hidden by CSS: not in the form at all
        shot(page, artifacts / f"ui-02-connection-{name}-standard.png")

        first = dialog.get_by_text(fields["default_model"]["label"], exact=True)
        open_section(dialog, "Extra Fields", first)
        expect(dialog.get_by_text(fields["default_model"]["description"])).to_be_visible()
        for field in fields.values():
            expect(dialog.get_by_text(field["label"], exact=True)).to_be_visible()
        shot(page, artifacts / f"ui-03-connection-{name}-extra.png")

    # the same check finds those fields on a type that shows them (so a count of 0 above means hidden)
    choose_type(page, dialog, "HTTP")
    open_section(dialog, "Standard Fields", dialog.get_by_label("Host", exact=True))
    expect(label(dialog, *HIDDEN)).to_have_count(len(HIDDEN))
    shot(page, artifacts / "ui-02-connection-http-control.png")
    page.keyboard.press("Escape")

    # -- the example DAG's Params form → Trigger → the run page shows success ---------------------------------
    # a job long enough that the trigger fires after the executor has taken in the deferral (a quicker one
    # races Airflow's LocalExecutor under load: "task state changed externally", the wait set failed)
    gateway.ctl.set_config(job_seconds=10, video_bytes=3_000_000)
    prompt = f"A kite over the dunes, from the UI {uuid.uuid4().hex[:8]}"
    output_dir = tmp_path / "ui-videos"
    page.goto(f"{url}/dags/{DAG_ID}", wait_until="networkidle")
    page.get_by_role("button", name="Trigger").first.click()
    form = page.get_by_role("dialog")
    expect(form).to_contain_text("Run Parameters")
    for title in ("Prompt", "Model", "Duration (seconds)", "Output folder or URI"):
        expect(label(form, title)).to_be_visible()
    expect(form.locator("#element_prompt")).to_have_value(re.compile("paper boat"))  # the Param's default
    form.locator("#element_prompt").fill(prompt)
    # The form refuses an empty Model (the Param is a required string), so name the connection's default.
    form.locator("#element_model").fill("seedance-2.0")  # one the OpenAI-compatible gateway serves
    form.locator("input[name=element_duration_seconds]").fill("4")
    form.locator("#element_output_dir").fill(str(output_dir))
    shot(page, artifacts / "ui-04-trigger-form.png")
    form.get_by_role("button", name="Trigger", exact=True).click()

    page.wait_for_url(re.compile(rf"/dags/{DAG_ID}/runs/"))
    run_id = unquote(page.url.split("/runs/", 1)[1].split("?")[0].split("/")[0])
    badge = page.get_by_test_id("header-card").get_by_test_id("state-badge")
    deadline, state, reloaded = time.monotonic() + 240, "", time.monotonic()
    while time.monotonic() < deadline:
        airflow.check_alive()
        state = badge.inner_text(timeout=10_000).strip() if badge.count() else ""
        if state in ("Success", "Failed"):
            break
        if time.monotonic() - reloaded > 30:  # the page refreshes itself; reload only if it seems stuck
            page.reload(wait_until="networkidle")
            reloaded = time.monotonic()
        time.sleep(1)
    shot(page, artifacts / "ui-05-run.png")
    logs = save_task_logs(airflow.api, artifacts, DAG_ID, run_id, ("generate", "wait", "download"))
    assert state == "Success", f"run page shows {state!r}\n{logs['download'][-3000:]}"
    expect(page.get_by_text("Success").first).to_be_visible()

    # what the browser triggered is what ran: the form's values in the run's conf, the video on disk
    run = airflow.api.get(f"dags/{DAG_ID}/dagRuns/{run_id}")
    assert run["state"] == "success" and run["triggering_user_name"] == ADMIN_USER
    assert run["conf"] == {"prompt": prompt, "model": "seedance-2.0", "duration_seconds": 4,
                           "output_dir": str(output_dir)}
    job = job_for_prompt(gateway.ctl, prompt)
    assert job["model"] == "seedance-2.0"
    (video,) = (output_dir / "text_to_video").glob("*.mp4")
    assert sha256_file(video) == gateway.ctl.sha256(job["id"])["sha256"]
