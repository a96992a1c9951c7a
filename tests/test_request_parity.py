"""Request parity: what the provider sends vs what the gateway's official SDK sends, for the same inputs.

For each gateway with an official SDK (OpenAI, HingNet, TokenOps ↔ ``openai``; Gemini API and AI Thực
Chiến ↔ ``google-genai``) and each case (text-to-video, first-frame image), both clients submit the same
job (prompt, model, 8 s, 1280x720 or 16:9 at 720p, the same PNG) to the emulator, poll it and locate the
video. The emulator's request record gives, per request, its method, path, query, media type
(``content_type``) and body shape (``body_shape``: field names and value types, JSON or multipart). The
provider must send what the SDK sends, except for the differences in ``DOCUMENTED``, each of which a
gateway's own document asks for; the README's "Wire format vs the official SDKs" table lists the same.
A difference missing from the table fails, and so does a table row that no longer happens.

MixRoute (New API's ``/v1/video/generations``) has no official SDK, so it has no parity test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from support import ROOT, connection_uri_env
from test_sdk_oracles import (
    PNG,
    PROMPT,
    SORA_DEPRECATION,
    genai_client,
    genai_generate,
    genai_model,
    genai_wait,
    openai_client,
    openai_create,
    openai_model,
    openai_wait,
    play,
    records,
    until,
)

pytestmark = pytest.mark.filterwarnings(SORA_DEPRECATION)

SDK_OF = {"openai": "openai", "hingnet": "openai", "tokenops": "openai",
          "gemini": "google-genai", "thucchien": "google-genai"}
CASES = ("text", "image")


@dataclass(frozen=True)
class Difference:
    """A deliberate difference of the provider's request from the SDK's, asked for by a gateway's document."""

    gateway: str
    cases: tuple[str, ...]
    step: str  # "submit" | "status" | "download"
    aspect: str  # "content type", "path", "field <name>", ...
    provider: str
    sdk: str
    source: str


# The one table of documented differences (the README's "Wire format vs the official SDKs" repeats it).
DOCUMENTED: tuple[Difference, ...] = (
    Difference("hingnet", ("text",), "submit", "content type", "application/json", "multipart/form-data",
               "HingNet docs /openai/video-generation: the create example is JSON (`seconds` as a number there; "
               "the provider sends the string OpenAI's spec and Rivus ask for). A first frame goes as multipart "
               "(`-F input_reference=@image.jpg`), like the SDK."),
    Difference("thucchien", CASES, "download", "path", "/gemini/download/v1beta/files/{file}:download?alt=media",
               "/gemini/v1beta/files/{file}:download?alt=media",
               "Seed 000 (Thực Chiến's download page). The SDK builds `{base_url}/v1beta/files/{id}:download`: "
               "with base URL `.../gemini` that is LiteLLM's alternative path; "
               "`DownloadFileConfig(http_options=HttpOptions(base_url=\".../gemini/download\"))` gives the "
               "documented one."),
)


# ---------------------------------------------------------------------------- what went on the wire


def flatten(shape: Any, prefix: str = "") -> dict[str, str]:
    """``{"instances[0].image.mimeType": "string", ...}`` from a record's recursive ``body_shape``."""
    if isinstance(shape, dict):
        out: dict[str, str] = {}
        for key, value in shape.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else key))
        return out or {prefix: "object"}
    if isinstance(shape, list):
        out = {}
        for i, value in enumerate(shape):
            out.update(flatten(value, f"{prefix}[{i}]"))
        return out or {prefix: "array"}
    return {prefix: str(shape)}


def the_one(recs: list[dict[str, Any]], what: str) -> dict[str, Any]:
    assert recs, f"no {what} request was recorded"
    return recs[0]


def submit_wire(rec: dict[str, Any]) -> dict[str, str]:
    """Method, path, query, media type and field names/types of a recorded submit."""
    missing = {"content_type", "body_shape"} - set(rec)
    if missing:
        pytest.fail(f"the emulator's request record has no {sorted(missing)} yet (the strict emulator adds them)")
    wire = {"method": rec["method"], "path": rec["path"], "query": urlencode(sorted(rec["query"].items())),
            "content type": str(rec["content_type"])}
    wire.update({f"field {name}": kind for name, kind in flatten(rec["body_shape"] or {}).items()})
    return wire


def templated(text: str, ids: dict[str, str]) -> str:
    for placeholder, value in ids.items():
        text = text.replace(value, placeholder)
    return text


def get_wire(rec: dict[str, Any], ids: dict[str, str]) -> dict[str, str]:
    return {"method": rec["method"], "path": templated(rec["path"], ids),
            "query": urlencode(sorted(rec["query"].items()))}


def download_wire(url: str, ids: dict[str, str]) -> dict[str, str]:
    return {"path": templated(url, ids)}


def differences(step: str, provider: dict[str, str], sdk: dict[str, str]) -> set[tuple[str, str, str, str]]:
    return {(step, aspect, provider.get(aspect, "(absent)"), sdk.get(aspect, "(absent)"))
            for aspect in provider.keys() | sdk.keys() if provider.get(aspect) != sdk.get(aspect)}


# ---------------------------------------------------------------------------------- the two clients


def provider_run(emulator, monkeypatch, gateway: str, model: str, image: bool) -> dict[str, Any]:
    """Submit through the provider's hook, poll until done, locate the video; what it sent."""
    from airflow_provider_videogen.gateways import GenerationRequest, ImageInput
    from airflow_provider_videogen.hooks.base import VideoGenHook

    monkeypatch.setenv(*connection_uri_env("videogen_parity", gateway, emulator.url))
    hook = VideoGenHook.for_connection("videogen_parity")
    shape = {"size": "1280x720"} if SDK_OF[gateway] == "openai" else {"aspect_ratio": "16:9", "resolution": "720p"}
    emulator.ctl.clear_requests()
    op_id = hook.submit(GenerationRequest(prompt=PROMPT, model=model, duration_seconds=8, **shape,
                                          image=ImageInput(PNG, "image/png") if image else None))
    op = until(lambda: (o := hook.get_operation(op_id)).done and o, f"provider's {op_id}")
    assert op.state == "succeeded", op.to_dict()
    return {"id": op_id, "records": records(emulator), "download": op.videos[0].url}


def sdk_run(emulator, gateway: str, model: str, image: bool) -> dict[str, Any]:
    """The same job through the official SDK: submit, poll until done, download; what it sent."""
    emulator.ctl.clear_requests()
    if SDK_OF[gateway] == "openai":
        with openai_client(emulator) as client:
            job_id = openai_create(client, model, image).id
            openai_wait(client, job_id)
            client.videos.download_content(job_id).read()
    else:
        with genai_client(emulator, gateway) as client:
            done = genai_wait(client, genai_generate(client, model, image))
            job_id = done.name
            client.files.download(file=done.response.generated_videos[0].video)
    return {"id": job_id, "records": records(emulator)}


def listed_model(emulator, gateway: str) -> str:
    if SDK_OF[gateway] == "openai":
        with openai_client(emulator) as client:
            return openai_model(client)
    with genai_client(emulator, gateway) as client:
        return genai_model(client)


def observed(emulator, run: dict[str, Any], download: str | None) -> dict[str, dict[str, str]]:
    """The run's submit, first status poll and video location, ids replaced by placeholders."""
    job = emulator.ctl.job(run["id"])
    ids = {"{id}": run["id"], **({"{file}": job["file_id"]} if job.get("file_id") else {})}
    recs = run["records"]
    submit = the_one([r for r in recs if r["method"] == "POST"], "submit")
    status = the_one([r for r in recs if r["method"] == "GET" and templated(r["path"], ids).endswith("{id}")],
                     "status")
    if download is None:  # the SDK's: the GET it sent to the gateway for the video
        sent = the_one([r for r in recs if r["method"] == "GET" and r["site"] == "api"
                        and ("/content" in r["path"] or ":download" in r["path"])], "download")
        download = sent["path"] + (f"?{urlencode(sent['query'])}" if sent["query"] else "")
    return {"submit": submit_wire(submit), "status": get_wire(status, ids), "download": download_wire(download, ids)}


# ------------------------------------------------------------------------------------------ the test


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("gateway", SDK_OF)
def test_provider_sends_what_the_official_sdk_sends(emulator, monkeypatch, gateway, case):
    play(emulator, gateway, job_seconds=0)
    model = listed_model(emulator, gateway)
    image = case == "image"
    provider = provider_run(emulator, monkeypatch, gateway, model, image)
    sdk = sdk_run(emulator, gateway, model, image)
    mine, theirs = observed(emulator, provider, provider["download"]), observed(emulator, sdk, None)

    found = set().union(*(differences(step, mine[step], theirs[step]) for step in mine))
    expected = {(d.step, d.aspect, d.provider, d.sdk) for d in DOCUMENTED if d.gateway == gateway and case in d.cases}
    lines = [f"  {step} {aspect}: provider {p!r}, {SDK_OF[gateway]} SDK {s!r}" for step, aspect, p, s in sorted(found)]
    assert not found - expected, (f"{gateway} ({case}): differences from the official SDK that no document asks "
                                  "for (fix the provider, or add the gateway's source to DOCUMENTED and the README):\n"
                                  + "\n".join(lines))
    assert not expected - found, (f"{gateway} ({case}): documented differences that no longer happen (remove them "
                                  f"from DOCUMENTED and the README): {sorted(expected - found)}")


def readme_rows() -> list[list[str]]:
    """The cells of the README's "Wire format vs the official SDKs" table."""
    text = (ROOT / "README.md").read_text()
    section = re.search(r"^## Wire format vs the official SDKs\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "README.md has no '## Wire format vs the official SDKs' section"
    rows = [line.strip().strip("|").split("|") for line in section.group(1).splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row] for row in rows[2:]]  # past the header and its rule


def test_readme_table_lists_exactly_the_documented_differences():
    listed = {(row[3].strip("`"), row[4].strip("`")) for row in readme_rows()
              if row[3].startswith("`") and row[4].startswith("`")}
    assert listed == {(d.provider, d.sdk) for d in DOCUMENTED}
    gateways_listed = " ".join(row[0] for row in readme_rows())
    for label in ("OpenAI", "HingNet", "TokenOps", "Gemini", "Thực Chiến", "MixRoute"):
        assert label in gateways_listed, f"the README's table has no row for {label}"
