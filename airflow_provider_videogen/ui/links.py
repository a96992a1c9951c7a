"""The "Watch video" extra link and the URLs of the plugin's pages.

Import-light on purpose: ``operators/video.py`` imports :class:`WatchVideoLink`, and the plugin module
(loaded by every Airflow process) imports it too; the operator class is imported only when Airflow asks
which operators the link belongs to.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from airflow.providers.common.compat.sdk import BaseOperatorLink

URL_PREFIX = "/videogen"  # where the API server mounts the plugin's FastAPI app
TI_TAB_ROUTE = "videogen-video"  # url_route of the task-instance tab
RUN_TAB_ROUTE = "videogen-run-videos"  # url_route of the DAG-run tab
GALLERY_ROUTE = "videogen-videos"  # url_route of the navigation page


def _segment(value: Any) -> str:
    return quote(str(value), safe="")


def ti_view_path(dag_id: str, run_id: str, task_id: str, map_index: int | str = -1) -> str:
    """Path (below the mount point) of the view of one task instance's videos.

    The run id comes last, as a ``path`` parameter: Airflow 3.1 puts it into external views' URLs as it
    is (``+`` and ``:`` included), 3.2+ percent-encoded; in a path both arrive intact.
    """
    return f"/ti/{_segment(dag_id)}/{_segment(task_id)}/{_segment(map_index)}/{_segment(run_id)}"


def run_view_path(dag_id: str, run_id: str) -> str:
    return f"/run/{_segment(dag_id)}/{_segment(run_id)}"


def _base_path() -> str:
    """The path of ``[api] base_url`` (``""`` at the root), so links stay on the host the user browses."""
    try:
        from airflow.configuration import conf

        base_url = conf.get("api", "base_url", fallback="") or ""
    except Exception:  # noqa: BLE001  (no core configuration in this process: links stay root-relative)
        base_url = ""
    return urlsplit(base_url).path.rstrip("/")


class WatchVideoLink(BaseOperatorLink):
    """Operator extra link "Watch video": the page that plays the videos the task instance wrote.

    The link is a host-relative path (``[api] base_url``'s path + ``/videogen/ti/...?standalone=1``), so it
    opens on whatever host the user browses Airflow through. Airflow 3 computes it in the worker when the
    task ends (stored in XCom ``_link_WatchVideoLink``) for operators that declare it, and live in the
    API server for ``VideoDownloadOperator`` tasks through the plugin's ``operator_extra_links``.
    """

    name = "Watch video"

    @property
    def operators(self) -> list[type]:  # type: ignore[override]  (a ClassVar upstream; lazy here)
        from airflow_provider_videogen.operators.video import VideoDownloadOperator

        return [VideoDownloadOperator]

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        map_index = getattr(ti_key, "map_index", -1)
        path = ti_view_path(ti_key.dag_id, ti_key.run_id, ti_key.task_id, -1 if map_index is None else map_index)
        return f"{_base_path()}{URL_PREFIX}{path}?standalone=1"
