"""The one place where this package bridges Airflow 3.1, 3.2 and 3.3.

Every other module imports Airflow names from ``airflow.providers.common.compat.sdk``, which maps
each name to where the running Airflow keeps it. What that cannot bridge lives here, decided by
what the running Airflow offers (never by comparing version numbers):

* :class:`BaseHook`: compat's ``BaseHook`` that also gives every subclass the hook-level connection
  form (``get_ui_field_behaviour`` / ``get_connection_form_widgets``) that Airflow 3.1 reads. From 3.2
  on, Airflow draws the form from ``get_provider_info()`` (``ui-field-behaviour``, ``conn-fields``) and
  never calls these methods; on 3.1 it ignores those keys and calls only methods defined in the hook
  class itself, so both are derived here from the same ``get_provider_info()`` entries.
* :func:`operation_record`: where :class:`~airflow_provider_videogen.operators.video.VideoGenerateOperator`
  keeps the operation it submitted, so that a retried task reattaches instead of paying for a second
  job: ``context["task_state_store"]`` where Airflow has it (3.3), else an Airflow Variable (3.1, 3.2;
  XComs would not do: Airflow clears them before every new try).
* :func:`forget_operation`: :class:`~airflow_provider_videogen.operators.video.VideoDownloadOperator`
  deletes that Variable once the video is written.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from airflow.providers.common.compat.sdk import BaseHook as _BaseHook

log = logging.getLogger(__name__)

STATE_KEY = "videogen_operation"  # task_state_store key and Variable prefix; renaming it breaks retries in flight


# -- connection forms on Airflow 3.1 ----------------------------------------------------------------------
def _connection_type_info(conn_type: str) -> dict[str, Any]:
    from airflow_provider_videogen.get_provider_info import get_provider_info

    for item in get_provider_info()["connection-types"]:
        if item["connection-type"] == conn_type:
            return item
    return {}


def _ui_field_behaviour(cls) -> dict[str, Any]:
    """``ui-field-behaviour`` of this hook's connection type, with the snake_case keys of the hook API."""
    behaviour = _connection_type_info(cls.conn_type).get("ui-field-behaviour") or {}
    return {key.replace("-", "_"): value for key, value in behaviour.items()}


def _connection_form_widgets(cls) -> dict[str, Any]:
    """``conn-fields`` of this hook's connection type as the WTForms fields Airflow 3.1 expects.

    Airflow 3.1's API server imports these names from stand-ins when Flask-AppBuilder is not installed
    (``HookMetaService``); the values land in the connection's Extra under the field names.
    """
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, IntegerField, PasswordField, StringField
    from wtforms.validators import Optional

    widgets: dict[str, Any] = {}
    for name, field in (_connection_type_info(cls.conn_type).get("conn-fields") or {}).items():
        schema = field.get("schema") or {}
        types = schema.get("type") or "string"
        kind = next((t for t in ([types] if isinstance(types, str) else types) if t != "null"), "string")
        kwargs: dict[str, Any] = {"description": field.get("description", "")}
        if "default" in schema:
            kwargs["default"] = schema["default"]
        if schema.get("format") == "password":
            widgets[name] = PasswordField(lazy_gettext(field["label"]), widget=BS3PasswordFieldWidget(), **kwargs)
        elif kind == "boolean":
            widgets[name] = BooleanField(lazy_gettext(field["label"]), **kwargs)
        elif kind == "integer":
            widgets[name] = IntegerField(lazy_gettext(field["label"]), validators=[Optional()],
                                         widget=BS3TextFieldWidget(), **kwargs)
        else:
            widgets[name] = StringField(lazy_gettext(field["label"]), widget=BS3TextFieldWidget(), **kwargs)
    return widgets


class BaseHook(_BaseHook):
    """compat's ``BaseHook``, plus the connection form of Airflow 3.1 for every subclass (see the module doc).

    Airflow 3.1 only calls these two methods when the hook class defines them itself (not inherited), so
    each subclass gets its own; they read the subclass's ``conn_type`` when Airflow calls them.
    """

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if "get_ui_field_behaviour" not in cls.__dict__:
            cls.get_ui_field_behaviour = classmethod(_ui_field_behaviour)
        if "get_connection_form_widgets" not in cls.__dict__:
            cls.get_connection_form_widgets = classmethod(_connection_form_widgets)


# -- the submitted operation, kept across retries ---------------------------------------------------------
def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:40]


def _task_key(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    """Variable holding what one task instance submitted (keyed by dag_id, run_id, task_id and map_index,
    hashed: Variable keys are at most 250 characters and travel in URL paths)."""
    return f"{STATE_KEY}__{_digest(dag_id, run_id, task_id, map_index)}"


def _operation_key(gateway: str, operation_id: str) -> str:
    """Variable naming, for one operation, the task Variable to delete once it is downloaded."""
    return f"{STATE_KEY}_of__{_digest(gateway, operation_id)}"


class _TaskStateStoreRecord:
    """Airflow 3.3: ``task_state_store`` (per task instance, kept across tries, expires by itself)."""

    def __init__(self, store: Any):
        self.store = store

    def get(self) -> Any:
        return self.store.get(STATE_KEY, None)

    def set(self, value: dict[str, str]) -> None:
        self.store.set(STATE_KEY, value)


class _VariableRecord:
    """Airflow 3.1 and 3.2: an Airflow Variable per task instance, plus one per operation naming it, so the
    download (which knows only the operation) can delete both once the video is written."""

    def __init__(self, ti: Any):
        self.ti = ti
        self.key = _task_key(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1))

    def _where(self) -> str:
        ti = self.ti
        return f"dag_id={ti.dag_id}, run_id={ti.run_id}, task_id={ti.task_id}, map_index={ti.map_index}"

    def get(self) -> Any:
        from airflow.providers.common.compat.sdk import Variable

        if (getattr(self.ti, "try_number", None) or 1) <= 1:
            return None  # a first try has nothing to reattach to (and a lookup of a missing key logs an error)
        return Variable.get(self.key, None, deserialize_json=True)

    def set(self, value: dict[str, str]) -> None:
        from airflow.providers.common.compat.sdk import Variable

        Variable.set(self.key, value, serialize_json=True, description=(
            f"VideoGenerateOperator ({self._where()}) submitted this operation: a retry reattaches to it instead "
            "of paying for a second job. Deleted once VideoDownloadOperator has written the video."))
        Variable.set(_operation_key(value["gateway"], value["operation_id"]), {"task_key": self.key},
                     serialize_json=True, description=(
                         f"Names the Variable {self.key} to delete once operation {value['operation_id']} "
                         f"({value['gateway']}) is downloaded."))


class _NoRecord:
    """No task instance (``execute({})`` outside Airflow): nothing to keep."""

    def get(self) -> None:
        return None

    def set(self, value: dict[str, str]) -> None:
        pass


def operation_record(context: Any) -> _TaskStateStoreRecord | _VariableRecord | _NoRecord:
    """Where this task instance keeps the operation it submitted (``get()`` / ``set(value)``)."""
    getter = getattr(context, "get", None)
    store = getter("task_state_store") if getter else None
    if store is not None:
        return _TaskStateStoreRecord(store)
    ti = getter("ti") if getter else None
    if ti is not None and getattr(ti, "run_id", None):
        return _VariableRecord(ti)
    return _NoRecord()


def forget_operation(context: Any, gateway: str, operation_id: str) -> None:
    """After a successful download: delete the Variables a generate task kept for this operation (3.1, 3.2).

    Nothing to do where Airflow has ``task_state_store`` (it expires by itself), nor outside a task run.
    Never raises: the video is written whatever happens to this bookkeeping.
    """
    getter = getattr(context, "get", None)
    if not getter or getter("task_state_store") is not None or getter("ti") is None:
        return
    from airflow.providers.common.compat.sdk import Variable

    pointer = _operation_key(gateway, operation_id)
    try:
        found = Variable.get(pointer, None, deserialize_json=True)
        if not isinstance(found, dict) or not found.get("task_key"):
            return  # not submitted by a VideoGenerateOperator on this deployment (or already forgotten)
        record = Variable.get(found["task_key"], None, deserialize_json=True)
        if isinstance(record, dict) and record.get("operation_id") == operation_id:
            Variable.delete(found["task_key"])
        Variable.delete(pointer)
        log.info("Deleted the Variable that kept operation %s for retries of its generate task.", operation_id)
    except Exception as error:  # noqa: BLE001  (bookkeeping only: the download itself succeeded)
        log.warning("Could not delete the Variables kept for operation %s (%s); they are harmless and "
                    "can be deleted by hand (keys starting with %r).", operation_id, error, STATE_KEY)
