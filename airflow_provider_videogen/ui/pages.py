"""The plugin's HTML: server-rendered Jinja templates (autoescaped), one stylesheet, no JavaScript.

The pages run inside the Airflow UI's sandboxed iframe (tabs and the navigation page) or on their own
(the "Watch video" extra link); every URL in them is a path on the API server, every video and image is
served by the plugin's own endpoints (never a storage URL).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import DictLoader, Environment, select_autoescape

CSS = """
:root { color-scheme: light dark; --fg: #1a202c; --muted: #5a6474; --line: #d9dee6; --card: #fff; --bg: #f6f7f9;
  --accent: #0b63c5; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ef; --muted: #a3acb9; --line: #394150; --card: #1c222b;
  --bg: #12161c; --accent: #6aa9ff; } }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 20px 32px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: var(--fg); background: var(--bg); }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 20px 0 8px; }
a { color: var(--accent); }
.sub { color: var(--muted); margin: 0 0 16px; } .sub code { font-size: 12px; }
.notice { padding: 10px 12px; border: 1px solid var(--line); border-radius: 6px; background: var(--card); }
.video { display: grid; grid-template-columns: minmax(280px, 640px) minmax(260px, 1fr); gap: 16px;
  background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px; margin: 0 0 16px; }
@media (max-width: 900px) { .video { grid-template-columns: 1fr; } }
video { width: 100%; max-height: 70vh; background: #000; border-radius: 6px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 12px; margin: 0; align-content: start; }
dt { color: var(--muted); } dd { margin: 0; overflow-wrap: anywhere; }
dd.prompt { white-space: pre-wrap; font-size: 15px; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.actions { margin-top: 8px; display: flex; gap: 12px; flex-wrap: wrap; }
form.filters { display: flex; gap: 10px; align-items: end; flex-wrap: wrap; margin: 0 0 16px; }
form.filters label { display: flex; flex-direction: column; gap: 2px; color: var(--muted); font-size: 12px; }
input, button { font: inherit; padding: 5px 8px; border: 1px solid var(--line); border-radius: 5px;
  background: var(--card); color: var(--fg); }
button { cursor: pointer; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 14px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 8px;
  display: flex; flex-direction: column; gap: 6px; }
.card video { aspect-ratio: 16 / 9; object-fit: contain; }
.card .prompt { display: -webkit-box; -webkit-line-clamp: 3; -webkit-box-orient: vertical; overflow: hidden; }
.card .meta { color: var(--muted); font-size: 12px; overflow-wrap: anywhere; }
.pager { display: flex; gap: 16px; margin-top: 16px; }
.total { font-weight: 600; }
"""

ICON = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#4a5568"
stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><rect x="2" y="5" width="14" height="14" rx="2"/>
<path d="m16 10 6-4v12l-6-4z"/></svg>"""

_BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}Videos{% endblock %}</title>
<link rel="stylesheet" href="{{ base }}/static/videogen.css"></head>
<body>{% block body %}{% endblock %}</body></html>"""

_DETAILS = """
{% macro size(n) %}
{% if n is not none %}{{ "%.1f"|format(n / 1000000) }} MB <span class="mono">({{ "{:,}".format(n) }} bytes)</span>
{%- else %}—{% endif %}
{% endmacro %}
{% macro video_card(v, base) %}
{% set d = v.describe() %}
<article class="video" data-testid="videogen-video" data-event-id="{{ d.event_id if d.event_id is not none else '' }}">
  <div>
  {% if v.playable %}
    <video data-testid="videogen-player" controls playsinline preload="metadata"
      src="{{ base }}/events/{{ d.event_id }}/video"
      {% if d.has_preview %}poster="{{ base }}/events/{{ d.event_id }}/preview"{% endif %}></video>
    <div class="actions">
      <a data-testid="videogen-open" href="{{ base }}/events/{{ d.event_id }}/video">Open the video</a>
      <a href="{{ base }}/events/{{ d.event_id }}/video?download=1" download>Download</a>
    </div>
  {% else %}
    <p class="notice">This video has no asset event (the task ran with <code>asset_alias=None</code>, or the event
    was deleted), so it cannot be played here.</p>
  {% endif %}
  </div>
  <dl>
    <dt>Prompt</dt><dd class="prompt" data-field="prompt">{{ d.prompt or "—" }}</dd>
    {% if d.negative_prompt %}
    <dt>Negative prompt</dt><dd data-field="negative_prompt">{{ d.negative_prompt }}</dd>
    {% endif %}
    <dt>Model</dt><dd data-field="model">{{ d.model or "—" }}</dd>
    <dt>Gateway</dt><dd data-field="gateway">{{ d.gateway or "—" }}</dd>
    <dt>Operation</dt><dd class="mono" data-field="operation_id">{{ d.operation_id or "—" }}</dd>
    <dt>Size</dt><dd data-field="size">{{ size(d.size_bytes) }}</dd>
    <dt>SHA-256</dt><dd class="mono" data-field="sha256">{{ d.sha256 or "—" }}</dd>
    {% if d.estimated_cost_usd is not none %}<dt>Estimated cost</dt>
      <dd data-field="estimated_cost_usd">${{ "%.2f"|format(d.estimated_cost_usd) }}</dd>{% endif %}
    {% if d.seed %}<dt>Seed</dt><dd class="mono">{{ d.seed }}</dd>{% endif %}
    {% if d.source_video %}<dt>Source video</dt><dd class="mono">{{ d.source_video }}</dd>{% endif %}
    {% if d.parameters %}<dt>Parameters</dt><dd class="mono">
      {%- for k, val in d.parameters|dictsort %}{{ k }}={{ val }}{% if not loop.last %}, {% endif %}{% endfor -%}
    </dd>{% endif %}
    <dt>Task</dt><dd class="mono">{{ d.task_id }}{% if d.map_index >= 0 %} [{{ d.map_index }}]{% endif %}</dd>
    {% if d.timestamp %}<dt>Written</dt><dd>{{ d.timestamp[:19].replace("T", " ") }} UTC</dd>{% endif %}
    <dt>Stored at</dt><dd class="mono" data-field="uri">{{ d.uri or "—" }}</dd>
  </dl>
</article>
{% endmacro %}
"""

_VIEW = """{% extends "base.html" %}{% from "details.html" import video_card %}
{% block title %}{{ title }}{% endblock %}
{% block body %}
<h1>{{ title }}</h1>
<p class="sub"><code>{{ dag_id }}</code> · run <code>{{ run_id }}</code>
{% if task_id %} · task <code>{{ task_id }}</code>{% if map_index >= 0 %} [{{ map_index }}]{% endif %}{% endif %}
{% if airflow_link %} · <a href="{{ airflow_link }}">Open in Airflow</a>{% endif %}
 · <a href="{{ base }}/videos">All videos</a></p>
{% if total_cost is not none %}
<p class="total" data-testid="videogen-total-cost">Estimated cost of these videos: ${{ "%.2f"|format(total_cost) }}</p>
{% endif %}
{% for v in videos %}{{ video_card(v, base) }}{% else %}
<p class="notice" data-testid="videogen-empty">{{ empty }}</p>
{% endfor %}
{% endblock %}"""

_GALLERY = """{% extends "base.html" %}
{% block title %}Videos{% endblock %}
{% block body %}
<h1>Videos</h1>
<p class="sub">The newest videos written to the <code>{{ alias }}</code> asset alias, from the DAGs you may read.</p>
<form class="filters" method="get" action="{{ base }}/videos" data-testid="videogen-filters">
  <label>DAG <input name="dag_id" list="videogen-dags" value="{{ dag_id or '' }}" placeholder="any DAG"></label>
  <datalist id="videogen-dags">{% for d in dag_ids %}<option value="{{ d }}">{% endfor %}</datalist>
  <label>From <input type="date" name="since" value="{{ since or '' }}"></label>
  <label>To <input type="date" name="until" value="{{ until or '' }}"></label>
  <button type="submit">Filter</button>
  {% if dag_id or since or until %}<a href="{{ base }}/videos">Clear</a>{% endif %}
</form>
{% for message in notices %}<p class="notice">{{ message }}</p>{% endfor %}
<div class="grid" data-testid="videogen-gallery">
{% for v in videos %}{% set d = v.describe() %}
  <div class="card" data-testid="videogen-card" data-event-id="{{ d.event_id }}">
    <video preload="metadata" muted playsinline controls src="{{ base }}/events/{{ d.event_id }}/video#t=0.1"
      {% if d.has_preview %}poster="{{ base }}/events/{{ d.event_id }}/preview"{% endif %}></video>
    <div class="prompt">{{ d.prompt or "(no prompt recorded)" }}</div>
    <div class="meta">{{ d.model or "" }}{% if d.model and d.gateway %} · {% endif %}{{ d.gateway or "" }}
      {% if d.estimated_cost_usd is not none %} · ${{ "%.2f"|format(d.estimated_cost_usd) }}{% endif %}
      {% if d.size_bytes is not none %} · {{ "%.1f"|format(d.size_bytes / 1000000) }} MB{% endif %}</div>
    <div class="meta"><code>{{ d.dag_id }}</code>
      · {{ d.timestamp[:16].replace("T", " ") if d.timestamp else "" }} UTC</div>
    <a href="{{ base }}{{ ti_path(d) }}">Details</a>
  </div>
{% else %}
  <p class="notice" data-testid="videogen-empty">
    No videos{% if dag_id or since or until %} match these filters{% endif %}.</p>
{% endfor %}
</div>
<nav class="pager">
  {% if newer is not none %}
  <a data-testid="videogen-newer" href="{{ base }}/videos?{{ query(after=newer) }}">← Newer</a>
  {% endif %}
  {% if older is not none %}
  <a data-testid="videogen-older" href="{{ base }}/videos?{{ query(before=older) }}">Older →</a>
  {% endif %}
</nav>
{% endblock %}"""

_ERROR = """{% extends "base.html" %}
{% block title %}{{ status }}{% endblock %}
{% block body %}
<h1>{{ heading }}</h1>
<p class="notice" data-testid="videogen-error">{{ message }}</p>
{% if login %}<p><a href="{{ login }}" target="_top">Sign in to Airflow</a></p>{% endif %}
{% endblock %}"""


@cache
def environment() -> Environment:
    return Environment(
        loader=DictLoader({"base.html": _BASE, "details.html": _DETAILS, "view.html": _VIEW,
                           "gallery.html": _GALLERY, "error.html": _ERROR}),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True, lstrip_blocks=True,
    )


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
