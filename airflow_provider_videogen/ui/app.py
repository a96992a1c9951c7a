"""The plugin's FastAPI app, mounted by the API server at ``/videogen``.

Pages (HTML; ``?format=json`` gives the same data as JSON):

* ``GET /videogen/ti/{dag_id}/{task_id}/{map_index}/{run_id}``: the videos one task instance wrote (the
  task-instance tab, and the "Watch video" extra link with ``?standalone=1``). ``map_index`` may be the
  literal ``{MAP_INDEX}`` the UI leaves in the URL of an unmapped task: -1.
* ``GET /videogen/run/{dag_id}/{run_id}``: every video of a DAG run (the DAG-run tab).
* ``GET /videogen/videos?dag_id=&since=&until=&before=&after=&limit=``: the gallery (the navigation page).

Media (the only endpoints that read storage; both take an asset event id, never a path or URI):

* ``GET|HEAD /videogen/events/{event_id}/video``: the video, with HTTP Range (206, ``Content-Range``,
  ``Accept-Ranges: bytes``, 416); ``?download=1`` for an attachment.
* ``GET|HEAD /videogen/events/{event_id}/preview``: the event's ``preview_uri`` image (poster frame).

Every one of them authenticates the user and asks Airflow's auth manager (``access.py``); the two static
files (stylesheet, icon) carry no data and are public.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

from airflow.api_fastapi.common.db.common import SessionDep
from fastapi import FastAPI, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from airflow_provider_videogen.ui import access, pages, queries, storage
from airflow_provider_videogen.ui.access import UserDep
from airflow_provider_videogen.ui.links import URL_PREFIX, ti_view_path

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    # no scripts at all; media, images and styles only from the API server; framed only by the Airflow UI
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'self'; "
                               "form-action 'self'; frame-ancestors 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
MEDIA_CACHE = "private, max-age=0, must-revalidate"


def _base(request: Request) -> str:
    """Where this app is mounted, as a path (``/videogen``, below ``[api] base_url``'s path if any)."""
    root = str(request.scope.get("root_path") or "").rstrip("/")
    return root or URL_PREFIX


def _airflow_base(request: Request) -> str:
    base = _base(request)
    return base[: -len(URL_PREFIX)] if base.endswith(URL_PREFIX) else ""


def _wants_json(request: Request) -> bool:
    return request.query_params.get("format") == "json"


def _html(content: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(content, status_code=status_code, headers=SECURITY_HEADERS)


def _map_index(raw: str) -> int:
    if raw in ("{MAP_INDEX}", "%7BMAP_INDEX%7D", ""):  # the UI's placeholder for an unmapped task
        return -1
    try:
        value = int(raw)
    except ValueError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such task instance") from None
    if value < -1:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such task instance")
    return value


def _known_dag(session: Any, dag_id: str) -> None:
    if not queries.dag_exists(session, dag_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such DAG")


def _ti_path(description: dict[str, Any]) -> str:
    return ti_view_path(description["dag_id"], description["run_id"], description["task_id"],
                        description["map_index"])


def _total_cost(videos: list[queries.Video]) -> float | None:
    costs = [v.estimated_cost_usd for v in videos if v.estimated_cost_usd is not None]
    return round(sum(costs), 6) if costs else None


def _parse_day(raw: str | None, name: str, notices: list[str]) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        notices.append(f"Ignored {name}={raw!r}: not a date (YYYY-MM-DD).")
        return None


def _view(request: Request, *, title: str, dag_id: str, run_id: str, videos: list[queries.Video], empty: str,
          task_id: str | None = None, map_index: int = -1) -> Response:
    if _wants_json(request):
        return JSONResponse({"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": map_index,
                             "estimated_cost_usd": _total_cost(videos),
                             "videos": [v.describe() for v in videos]}, headers=SECURITY_HEADERS)
    airflow_link = None
    if request.query_params.get("standalone"):  # opened from the extra link: not inside the UI's iframe
        path = f"{_airflow_base(request)}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
        if task_id:
            path += f"/tasks/{quote(task_id, safe='')}" + (f"/mapped/{map_index}" if map_index >= 0 else "")
        airflow_link = path
    return _html(pages.render("view.html", base=_base(request), title=title, dag_id=dag_id, run_id=run_id,
                              task_id=task_id, map_index=map_index, videos=videos, empty=empty,
                              airflow_link=airflow_link, total_cost=_total_cost(videos) if len(videos) > 1 else None))


# ----------------------------------------------------------------------------------------------- media
def _serve(request: Request, video: queries.Video, *, kind: str) -> Response:
    uri = video.uri if kind == "video" else video.preview_uri
    if not uri:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "This video has no preview image.")
    if kind != "video" and not storage.same_store(uri, video.uri):
        # a preview is read with the video's connection, so only from the video's own store
        raise HTTPException(status.HTTP_404_NOT_FOUND, "This video has no preview image that can be served.")
    try:
        obj = storage.inspect(uri, video.dest_conn_id, kind=kind, declared_type=video.content_type)
    except storage.StorageRefused as refused:
        raise HTTPException(refused.status, refused.reason) from None
    # "identity": the API server's GZipMiddleware leaves a response alone that names its encoding; the
    # Starlette of Airflow 3.1 would otherwise gzip the video, and a compressed 206 breaks Content-Range
    headers = {**SECURITY_HEADERS, "Accept-Ranges": "bytes", "Cache-Control": MEDIA_CACHE,
               "Content-Encoding": "identity"}
    name = uri.rstrip("/").rsplit("/", 1)[-1] or "video"
    disposition = "attachment" if request.query_params.get("download") else "inline"
    headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(name, safe='')}"
    byte_range = storage.parse_range(request.headers.get("range"), obj.size)
    if byte_range is None:
        return Response(status_code=416,
                        headers={**headers, "Content-Range": f"bytes */{obj.size}"})
    code = status.HTTP_206_PARTIAL_CONTENT if byte_range.partial else status.HTTP_200_OK
    headers["Content-Length"] = str(byte_range.length)
    if byte_range.partial:
        headers["Content-Range"] = f"bytes {byte_range.start}-{byte_range.end}/{obj.size}"
    if request.method == "HEAD":
        return Response(status_code=code, headers=headers, media_type=obj.content_type)
    return StreamingResponse(storage.iter_range(obj.path, byte_range), status_code=code, headers=headers,
                             media_type=obj.content_type)


def _event(request: Request, user: Any, session: Any, event_id: int) -> queries.Video:
    video = queries.video_event(session, event_id)
    if video is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such video")
    access.authorize_dag(request, user, video.dag_id)  # 403 unless the user may read the DAG that wrote it
    return video


# ------------------------------------------------------------------------------------------------- app
def create_app() -> FastAPI:
    app = FastAPI(title="Video generation: videos in the Airflow UI", docs_url=None, redoc_url=None,
                  openapi_url=None)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = str(exc.detail)
        path = request.url.path
        if "/events/" in path or _wants_json(request):
            return JSONResponse({"detail": message}, status_code=exc.status_code,
                                headers={**SECURITY_HEADERS, **(exc.headers or {})})
        heading = {401: "Sign in to see the videos", 403: "You may not see these videos",
                   404: "Not found"}.get(exc.status_code, "Error")
        if exc.status_code == 403 and message == "Forbidden":
            message = "Your Airflow permissions do not let you read this DAG's task instances, so not its videos."
        login = access.login_url(path) if exc.status_code == 401 else None
        return _html(pages.render("error.html", base=_base(request), status=exc.status_code, heading=heading,
                                  message=message, login=login), exc.status_code)

    @app.get("/static/videogen.css", include_in_schema=False)
    def stylesheet() -> Response:
        return Response(pages.CSS, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})

    @app.get("/static/icon.svg", include_in_schema=False)
    def icon() -> Response:
        return Response(pages.ICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/ti/{dag_id}/{task_id}/{map_index}/{run_id:path}", response_class=HTMLResponse)
    def task_instance_view(dag_id: str, task_id: str, map_index: str, run_id: str, request: Request,
                           user: UserDep, session: SessionDep) -> Response:
        access.authorize_dag(request, user, dag_id)
        _known_dag(session, dag_id)
        index = _map_index(map_index)
        videos = queries.task_instance_videos(session, dag_id, run_id, task_id, index)
        return _view(request, title=f"Video{'s' if len(videos) > 1 else ''} of {task_id}", dag_id=dag_id,
                     run_id=run_id, task_id=task_id, map_index=index, videos=videos,
                     empty="This task instance wrote no video (only VideoDownloadOperator tasks do, once they "
                           "succeed).")

    @app.get("/run/{dag_id}/{run_id:path}", response_class=HTMLResponse)
    def run_view(dag_id: str, run_id: str, request: Request, user: UserDep, session: SessionDep) -> Response:
        access.authorize_dag(request, user, dag_id)
        _known_dag(session, dag_id)
        videos = queries.run_videos(session, dag_id, run_id)
        return _view(request, title="Videos of this run", dag_id=dag_id, run_id=run_id, videos=videos,
                     empty="No task of this run has written a video yet.")

    @app.get("/videos", response_class=HTMLResponse)
    def gallery(request: Request, user: UserDep, session: SessionDep, dag_id: str | None = None,
                since: str | None = None, until: str | None = None, before: int | None = None,
                after: int | None = None, limit: int = queries.PAGE_SIZE) -> Response:
        readable = access.readable_dag_ids(user)
        notices: list[str] = []
        since_day, until_day = _parse_day(since, "since", notices), _parse_day(until, "until", notices)
        page = queries.gallery_page(session, readable_dag_ids=readable, dag_id=dag_id or None, since=since_day,
                                    until=until_day, before=before, after=after, limit=limit)
        if _wants_json(request):
            return JSONResponse({"videos": [v.describe() for v in page.videos], "older": page.older,
                                 "newer": page.newer}, headers=SECURITY_HEADERS)
        filters = {k: v for k, v in (("dag_id", dag_id), ("since", since_day and since_day.isoformat()),
                                     ("until", until_day and until_day.isoformat())) if v}
        if limit != queries.PAGE_SIZE:
            filters["limit"] = str(limit)

        def query(**cursor: Any) -> str:
            return urlencode({**filters, **cursor})

        return _html(pages.render("gallery.html", base=_base(request), alias=queries.DEFAULT_ALIAS,
                                  videos=page.videos, older=page.older, newer=page.newer, dag_id=dag_id,
                                  since=filters.get("since"), until=filters.get("until"), notices=notices,
                                  dag_ids=sorted(readable)[:1000], query=query, ti_path=_ti_path))

    @app.api_route("/events/{event_id}/video", methods=["GET", "HEAD"])
    def stream_video(event_id: int, request: Request, user: UserDep, session: SessionDep) -> Response:
        return _serve(request, _event(request, user, session, event_id), kind="video")

    @app.api_route("/events/{event_id}/preview", methods=["GET", "HEAD"])
    def stream_preview(event_id: int, request: Request, user: UserDep, session: SessionDep) -> Response:
        return _serve(request, _event(request, user, session, event_id), kind="image")

    return app
