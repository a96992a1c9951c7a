"""Who may see what: every endpoint goes through Airflow's own authentication and auth manager.

Plugin apps are mounted on the API server without any protection of their own, so each route depends on
:data:`UserDep` (Airflow's ``get_user``: the JWT from ``Authorization: Bearer`` or the UI's ``_token``
cookie; none or expired: 401, invalid: 403) and then asks the configured auth manager, exactly as
Airflow's own routes do:

* a view or a stream of one DAG's videos: :func:`authorize_dag`, Airflow's ``requires_access_dag("GET",
  TASK_INSTANCE)`` for that DAG (with its team, in multi-team deployments); refused: 403;
* the gallery: :func:`readable_dag_ids`, the auth manager's ``get_authorized_dag_ids`` (events of other
  DAGs are filtered out in SQL, so they are neither shown nor counted), after
  ``is_authorized_asset("GET")``.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.core_api.security import GetUserDep as UserDep  # noqa: F401  (re-exported)
from fastapi import HTTPException, Request, status


def _auth_manager() -> Any:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


def authorize_dag(request: Request, user: Any, dag_id: str) -> None:
    """Raise 403 unless ``user`` may read task instances of ``dag_id`` (Airflow's own check)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    if not dag_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such DAG")
    requires_access_dag("GET", DagAccessEntity.TASK_INSTANCE, param_dag_id=dag_id)(request, user)


def readable_dag_ids(user: Any) -> set[str]:
    """The DAGs whose videos ``user`` may see in the gallery (403 without read access to assets)."""
    manager = _auth_manager()
    if not manager.is_authorized_asset(method="GET", user=user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Forbidden")
    return set(manager.get_authorized_dag_ids(user=user, method="GET"))


def login_url(next_url: str) -> str | None:
    try:
        return _auth_manager().get_url_login(next_url=next_url)
    except Exception:  # noqa: BLE001  (an auth manager without a login page: no link)
        return None
