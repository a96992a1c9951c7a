"""Watch the videos where the pipeline runs: an Airflow plugin shipped with the provider.

Installing the package registers :class:`~airflow_provider_videogen.ui.plugin.VideoGenPlugin` through
the ``airflow.plugins`` entry point. It adds to the Airflow UI:

* a **Video** tab on every task instance and a **Videos** tab on every DAG run (``external_views``),
  playing the videos the run wrote, with their prompt, model, gateway, operation id, size, sha256 and
  estimated cost;
* a **Videos** page under *Browse*: a gallery of recent videos (asset events of the ``videogen_videos``
  asset alias), with filters by DAG and date and keyset paging;
* a **Watch video** extra link on :class:`~airflow_provider_videogen.operators.video.VideoDownloadOperator`
  (:class:`~airflow_provider_videogen.ui.links.WatchVideoLink`).

Modules: ``links`` (the extra link and the view URLs; import-light, the operator module imports it),
``plugin`` (the plugin class; import-light too, every Airflow process loads it), ``app`` (the FastAPI app,
built only where Airflow mounts it: the API server), ``access`` (authentication and authorization through
Airflow's own auth manager), ``queries`` (the metadata-DB queries), ``storage`` (streaming with HTTP Range
through ``ObjectStoragePath``), ``pages`` (the HTML).
"""
