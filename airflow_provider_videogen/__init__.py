"""Apache Airflow provider for AI video-generation gateways.

Public surface (imported lazily, so that Airflow's provider discovery stays cheap)::

    from airflow_provider_videogen import (
        VideoGenerateOperator, VideoOperationSensor, VideoDownloadOperator, VideoOperationTrigger,
    )
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

from airflow_provider_videogen import registry

# Public names -> the module that defines them; one hook class per entry of the gateway registry.
_LAZY = {
    "VideoGenerateOperator": "airflow_provider_videogen.operators.video",
    "VideoDownloadOperator": "airflow_provider_videogen.operators.video",
    "VideoOperationSensor": "airflow_provider_videogen.sensors.video",
    "VideoOperationTrigger": "airflow_provider_videogen.triggers.video",
    "VideoGenHook": "airflow_provider_videogen.hooks.base",
    **{info["hook_class"]: registry.HOOK_MODULE for info in registry.GATEWAYS.values()},
}

# Kept literal for type checkers and linters; tests/test_units.py checks it equals _LAZY's names.
__all__ = [  # noqa: RUF022  (public operators first)
    "VideoDownloadOperator",
    "VideoGenerateOperator",
    "VideoOperationSensor",
    "VideoOperationTrigger",
    "VideoGenHook",
    "GeminiVideoHook",
    "HingNetVideoHook",
    "MixRouteVideoHook",
    "OpenAIVideoHook",
    "ThucChienVideoHook",
    "TokenOpsVideoHook",
    "VertexVideoHook",
]

if TYPE_CHECKING:
    from airflow_provider_videogen.hooks.base import VideoGenHook
    from airflow_provider_videogen.hooks.gateways import (
        GeminiVideoHook,
        HingNetVideoHook,
        MixRouteVideoHook,
        OpenAIVideoHook,
        ThucChienVideoHook,
        TokenOpsVideoHook,
        VertexVideoHook,
    )
    from airflow_provider_videogen.operators.video import VideoDownloadOperator, VideoGenerateOperator
    from airflow_provider_videogen.sensors.video import VideoOperationSensor
    from airflow_provider_videogen.triggers.video import VideoOperationTrigger


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
