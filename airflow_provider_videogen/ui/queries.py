"""What the pages show, read from Airflow's metadata database.

A *video* here is an asset event written by a task (``source_dag_id`` and ``source_task_id`` set: events
posted through the REST API have neither) whose asset URI is the stored video, as
:class:`~airflow_provider_videogen.operators.video.VideoDownloadOperator` emits them. Its extra carries
``sha256``, ``size_bytes``, ``content_type``, ``operation_id``, ``dest_conn_id`` and, from newer versions of
the operator, ``provenance`` (prompt, model, gateway, cost...); the download task's XCom (one dict, or a
list of dicts for a task that wrote several videos) fills in what an older event lacks.

Only asset events are ever streamed: XComs are also writable through the REST API by anyone who may edit
the DAG, so a URI found only in an XCom is shown, never opened.

Every query is bounded (``LIMIT``) and reaches ``asset_event`` through an index, never by scanning it (its
``source_*`` columns have none): a task's or run's videos are found by their assets (the URIs in its XCom),
or else among the newest :data:`MAX_FALLBACK_EVENTS` events of the videos' alias; the gallery walks the
primary key of ``asset_alias_asset_event`` (alias id, event id) backwards, so a page costs one index range
scan however many events there are (keyset paging on the event id).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

DEFAULT_ALIAS = "videogen_videos"
MAX_PER_TASK = 100  # videos listed for one task instance
MAX_PER_RUN = 500  # videos listed for one DAG run
MAX_XCOMS_PER_RUN = 2000  # return values scanned for one DAG run
PAGE_SIZE = 24
DOWNLOAD_RESULT_KEYS = ("uri", "size_bytes", "sha256", "operation_id")  # in every VideoDownloadOperator XCom
MAX_PAGE_SIZE = 100
MAX_FALLBACK_EVENTS = 10_000  # newest alias events searched for a task whose XCom names no video


def _models():
    from airflow.models.asset import AssetAliasModel, AssetEvent, AssetModel
    from airflow.models.asset import asset_alias_asset_event_association_table as alias_events

    return AssetEvent, AssetModel, AssetAliasModel, alias_events


def asset_uri(uri: str) -> str:
    """A written URI as its asset URI: without ``conn_id@`` (as the operator names the asset)."""
    parts = urlsplit(uri)
    if "@" in parts.netloc:
        parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
    return urlunsplit(parts)


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return None if value is None or isinstance(value, (dict, list)) else str(value)


def _int(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


@dataclass
class Video:
    """One video as the pages show it. ``dest_conn_id`` stays on the server (it opens the storage)."""

    event_id: int | None
    uri: str | None
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    timestamp: datetime | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    content_type: str | None = None
    operation_id: str | None = None
    video_index: int | None = None
    dest_conn_id: str | None = None
    preview_uri: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def playable(self) -> bool:
        return self.event_id is not None and bool(self.uri)

    @property
    def estimated_cost_usd(self) -> float | None:
        return _float(self.provenance.get("estimated_cost_usd"))

    def describe(self) -> dict[str, Any]:
        """Everything shown about the video (JSON-safe; no connection id)."""
        p = self.provenance
        return {
            "event_id": self.event_id, "uri": self.uri, "dag_id": self.dag_id, "run_id": self.run_id,
            "task_id": self.task_id, "map_index": self.map_index,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "sha256": self.sha256, "size_bytes": self.size_bytes, "content_type": self.content_type,
            "operation_id": self.operation_id or _text(p.get("operation_id")), "video_index": self.video_index,
            "prompt": _text(p.get("prompt")), "negative_prompt": _text(p.get("negative_prompt")),
            "model": _text(p.get("model")), "gateway": _text(p.get("gateway")), "seed": _text(p.get("seed")),
            "created_at": _text(p.get("created_at")), "finished_at": _text(p.get("finished_at")),
            "source_video": _text(p.get("source_video")), "estimated_cost_usd": self.estimated_cost_usd,
            "parameters": p.get("parameters") if isinstance(p.get("parameters"), dict) else None,
            "playable": self.playable, "has_preview": bool(self.preview_uri),
        }


def _provenance(record: dict[str, Any]) -> dict[str, Any]:
    """The record's ``provenance`` (absent from older events: ``{}``), with a top-level cost as fallback."""
    provenance = dict(_as_dict(record.get("provenance")))
    if provenance.get("estimated_cost_usd") is None and record.get("estimated_cost_usd") is not None:
        provenance["estimated_cost_usd"] = record["estimated_cost_usd"]
    return provenance


def _from_event(row: Any) -> Video:
    extra = _as_dict(row.extra)
    return Video(
        event_id=row.id, uri=row.uri, dag_id=row.source_dag_id, run_id=row.source_run_id,
        task_id=row.source_task_id, map_index=-1 if row.source_map_index is None else row.source_map_index,
        timestamp=row.timestamp, sha256=_text(extra.get("sha256")), size_bytes=_int(extra.get("size_bytes")),
        content_type=_text(extra.get("content_type")), operation_id=_text(extra.get("operation_id")),
        video_index=_int(extra.get("video_index")), dest_conn_id=_text(extra.get("dest_conn_id")),
        preview_uri=_text(extra.get("preview_uri")), provenance=_provenance(extra),
    )


def _event_columns():
    AssetEvent, AssetModel, _, _ = _models()
    return (AssetEvent.id, AssetEvent.extra, AssetEvent.timestamp, AssetEvent.source_dag_id,
            AssetEvent.source_run_id, AssetEvent.source_task_id, AssetEvent.source_map_index, AssetModel.uri)


def _task_events():
    """Asset events written by a task, with their asset's URI."""
    AssetEvent, AssetModel, _, _ = _models()
    return (select(*_event_columns()).join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetEvent.source_dag_id.is_not(None), AssetEvent.source_task_id.is_not(None),
                   AssetEvent.source_run_id.is_not(None)))


def dag_exists(session: Session, dag_id: str) -> bool:
    from airflow.models.dag import DagModel

    return session.scalar(select(DagModel.dag_id).where(DagModel.dag_id == dag_id)) is not None


# ----------------------------------------------------------------------------------------------- XCom
def download_results(value: Any) -> list[dict[str, Any]]:
    """The download results in a task's return value: one dict, or a list of them (others: none)."""
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict) and isinstance(item.get("uri"), str)
            and all(key in item for key in DOWNLOAD_RESULT_KEYS)]


def _xcom_values(session: Session, *conditions: Any, limit: int) -> list[tuple[str, int, Any]]:
    from airflow.models.xcom import XComModel

    rows = session.execute(select(XComModel.task_id, XComModel.map_index, XComModel.value)
                           .where(XComModel.key == "return_value", *conditions).limit(limit))
    return [(task_id, map_index, value) for task_id, map_index, value in rows]


def _merge_xcom(videos: list[Video], results: list[tuple[str, int, dict[str, Any]]]) -> list[Video]:
    """Fill each event-based video from its XCom entry (same task instance and URI, or same sha256); an
    XCom entry no event matches becomes a video that is listed but not playable."""
    unmatched: list[Video] = []
    for task_id, map_index, item in results:
        uri = asset_uri(item["uri"])
        match = next((v for v in videos if v.task_id == task_id and v.map_index == map_index
                      and (v.uri == uri or (v.sha256 and v.sha256 == item.get("sha256")))), None)
        provenance = _provenance(item)
        if match is None:
            unmatched.append(Video(event_id=None, uri=uri, dag_id="", run_id="", task_id=task_id, map_index=map_index,
                                   sha256=_text(item.get("sha256")), size_bytes=_int(item.get("size_bytes")),
                                   content_type=_text(item.get("content_type")),
                                   operation_id=_text(item.get("operation_id")),
                                   video_index=_int(item.get("video_index")), provenance=provenance))
            continue
        match.provenance = {**provenance, **{k: v for k, v in match.provenance.items() if v is not None}}
        match.sha256 = match.sha256 or _text(item.get("sha256"))
        match.size_bytes = match.size_bytes if match.size_bytes is not None else _int(item.get("size_bytes"))
        match.content_type = match.content_type or _text(item.get("content_type"))
        match.operation_id = match.operation_id or _text(item.get("operation_id"))
        if match.video_index is None:
            match.video_index = _int(item.get("video_index"))
    return videos + unmatched


def _events_for(session: Session, uris: set[str], limit: int, *conditions: Any) -> list[Video]:
    """Task-written events matching ``conditions``: among the events of the assets of ``uris`` when given (an
    indexed lookup: an asset made from a URI is named by it), else among the newest
    :data:`MAX_FALLBACK_EVENTS` events of the videos' alias (its primary key walked backwards; a task whose
    XCom was not pushed or was cleared, and whose videos are older than that, shows none)."""
    AssetEvent, AssetModel, AssetAliasModel, alias_events = _models()
    stmt = _task_events().where(*conditions)
    if uris:
        assets = select(AssetModel.id).where(AssetModel.name.in_(sorted(uris)), AssetModel.uri.in_(sorted(uris)))
        found = [_from_event(row) for row in session.execute(
            stmt.where(AssetEvent.asset_id.in_(assets)).order_by(AssetEvent.id).limit(limit))]
        if found:
            return found
    recent = (select(alias_events.c.event_id).join(AssetAliasModel, AssetAliasModel.id == alias_events.c.alias_id)
              .where(AssetAliasModel.name == DEFAULT_ALIAS).order_by(alias_events.c.event_id.desc())
              .limit(MAX_FALLBACK_EVENTS).subquery())  # a derived table: MySQL refuses LIMIT inside IN (...)
    stmt = stmt.join(recent, recent.c.event_id == AssetEvent.id)
    return [_from_event(row) for row in session.execute(stmt.order_by(AssetEvent.id).limit(limit))]


def task_instance_videos(session: Session, dag_id: str, run_id: str, task_id: str, map_index: int) -> list[Video]:
    """The videos one task instance wrote: its asset events, completed from its XCom return value."""
    from airflow.models.xcom import XComModel

    AssetEvent, _, _, _ = _models()
    xcoms = [(t, m, item) for t, m, value in _xcom_values(
        session, XComModel.dag_id == dag_id, XComModel.run_id == run_id, XComModel.task_id == task_id,
        XComModel.map_index == map_index, limit=1) for item in download_results(value)]
    videos = _events_for(session, {asset_uri(item["uri"]) for _, _, item in xcoms}, MAX_PER_TASK,
                         AssetEvent.source_dag_id == dag_id, AssetEvent.source_run_id == run_id,
                         AssetEvent.source_task_id == task_id, AssetEvent.source_map_index == map_index)
    merged = _merge_xcom(videos, xcoms)
    for video in merged:
        video.dag_id, video.run_id = dag_id, run_id
    return merged


def run_videos(session: Session, dag_id: str, run_id: str) -> list[Video]:
    """The videos every task of one DAG run wrote, in the order they were written."""
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel

    AssetEvent, _, _, _ = _models()
    run_pk = session.scalar(select(DagRun.id).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    xcoms = [] if run_pk is None else [
        (t, m, item) for t, m, value in _xcom_values(session, XComModel.dag_run_id == run_pk,
                                                     limit=MAX_XCOMS_PER_RUN)
        for item in download_results(value)]
    videos = _events_for(session, {asset_uri(item["uri"]) for _, _, item in xcoms}, MAX_PER_RUN,
                         AssetEvent.source_dag_id == dag_id, AssetEvent.source_run_id == run_id)
    merged = _merge_xcom(videos, xcoms)
    for video in merged:
        video.dag_id, video.run_id = dag_id, run_id
    return merged


def video_event(session: Session, event_id: int) -> Video | None:
    """The task-written asset event ``event_id`` (None: no such event, or not written by a task)."""
    AssetEvent, _, _, _ = _models()
    row = session.execute(_task_events().where(AssetEvent.id == event_id)).first()
    return _from_event(row) if row is not None else None


# -------------------------------------------------------------------------------------------- gallery
@dataclass
class GalleryPage:
    videos: list[Video]
    older: int | None  # ``before=`` cursor of the next (older) page, None on the last page
    newer: int | None  # ``after=`` cursor of the previous (newer) page, None on the first page


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def gallery_statement(*, readable_dag_ids: set[str], alias_name: str = DEFAULT_ALIAS, dag_id: str | None = None,
                      since: date | None = None, until: date | None = None, before: int | None = None,
                      after: int | None = None, limit: int = PAGE_SIZE):
    """One page of the alias's task-written events, newest first (``after``: the page above, oldest first).

    The order is the association's event id, so the database walks its (alias id, event id) primary key
    and stops after ``limit + 1`` rows; the DAG and date filters are applied on the way.
    """
    AssetEvent, _, AssetAliasModel, alias_events = _models()
    stmt = (_task_events().join(alias_events, alias_events.c.event_id == AssetEvent.id)
            .join(AssetAliasModel, AssetAliasModel.id == alias_events.c.alias_id)
            .where(AssetAliasModel.name == alias_name, AssetEvent.source_dag_id.in_(sorted(readable_dag_ids))))
    if dag_id:
        stmt = stmt.where(AssetEvent.source_dag_id == dag_id)
    if since:
        stmt = stmt.where(AssetEvent.timestamp >= _day_start(since))
    if until:
        stmt = stmt.where(AssetEvent.timestamp < _day_start(until + timedelta(days=1)))
    if after is not None:
        stmt = stmt.where(alias_events.c.event_id > after).order_by(alias_events.c.event_id.asc())
    else:
        if before is not None:
            stmt = stmt.where(alias_events.c.event_id < before)
        stmt = stmt.order_by(alias_events.c.event_id.desc())
    return stmt.limit(limit + 1)


def gallery_page(session: Session, *, readable_dag_ids: set[str], alias_name: str = DEFAULT_ALIAS,
                 dag_id: str | None = None, since: date | None = None, until: date | None = None,
                 before: int | None = None, after: int | None = None, limit: int = PAGE_SIZE) -> GalleryPage:
    """One page of the gallery: at most ``limit`` videos from DAGs in ``readable_dag_ids``, one query."""
    limit = max(1, min(int(limit), MAX_PAGE_SIZE))
    if not readable_dag_ids or (dag_id and dag_id not in readable_dag_ids):
        return GalleryPage([], None, None)
    stmt = gallery_statement(readable_dag_ids=readable_dag_ids, alias_name=alias_name, dag_id=dag_id, since=since,
                             until=until, before=before, after=after, limit=limit)
    videos = [_from_event(row) for row in session.execute(stmt)]
    more = len(videos) > limit
    videos = videos[:limit]
    if after is not None:
        videos.reverse()  # newest first on screen
        newer = videos[0].event_id if more and videos else None
        older = videos[-1].event_id if videos else None
    else:
        older = videos[-1].event_id if more and videos else None
        newer = videos[0].event_id if before is not None and videos else None
    return GalleryPage(videos, older, newer)
