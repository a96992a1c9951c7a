"""The Airflow plugin, registered by the package's ``airflow.plugins`` entry point (installing it is enough).

Every Airflow process loads plugins (the scheduler, the DAG processor, each task's runner), so this module
stays light: the FastAPI app (FastAPI routes, Jinja, SQLAlchemy queries) is built on first access to
``fastapi_apps``, which only the API server (and ``airflow plugins``) reads.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from airflow.providers.common.compat.sdk import AirflowPlugin

from airflow_provider_videogen.ui.links import (
    GALLERY_ROUTE,
    RUN_TAB_ROUTE,
    TI_TAB_ROUTE,
    URL_PREFIX,
    WatchVideoLink,
)

_MOUNT = URL_PREFIX.lstrip("/")  # external views' hrefs are relative to the UI's <base href>: no leading slash
ICON = f"{_MOUNT}/static/icon.svg"

EXTERNAL_VIEWS = [
    {   # a tab on every task instance; for tasks that wrote no video it says so
        "name": "Video",
        "href": f"{_MOUNT}/ti/{{DAG_ID}}/{{TASK_ID}}/{{MAP_INDEX}}/{{RUN_ID}}",
        "destination": "task_instance",
        "url_route": TI_TAB_ROUTE,
        "icon": ICON,
    },
    {
        "name": "Videos",
        "href": f"{_MOUNT}/run/{{DAG_ID}}/{{RUN_ID}}",
        "destination": "dag_run",
        "url_route": RUN_TAB_ROUTE,
        "icon": ICON,
    },
    {
        "name": "Videos",
        "href": f"{_MOUNT}/videos",
        "destination": "nav",
        "url_route": GALLERY_ROUTE,
        "category": "browse",
        "icon": ICON,
    },
]


@cache
def fastapi_app() -> dict[str, Any]:
    from airflow_provider_videogen.ui.app import create_app

    return {"app": create_app(), "url_prefix": URL_PREFIX, "name": "Video generation: videos"}


class VideoGenPlugin(AirflowPlugin):
    """Videos in the Airflow UI: task-instance and DAG-run tabs, a gallery, and the "Watch video" link."""

    name = "videogen"
    external_views = EXTERNAL_VIEWS
    # For VideoDownloadOperator tasks, also where the operator does not declare the link itself (older
    # DAG versions): the API server then computes it live, with precedence over the XCom-stored one.
    operator_extra_links = [WatchVideoLink()]

    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]  (lazy: the API server only)
        return [fastapi_app()]
