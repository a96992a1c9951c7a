"""Gateway emulator: a fake of the seven video-generation gateways, over real HTTP on loopback.

Serves, at each gateway's own paths, as each gateway's public documents describe them:

* Gemini long-running operations: the Gemini API (``/v1beta/...``, https://ai.google.dev/gemini-api/docs/video)
  and AI Thực Chiến (``/gemini/...``, docs.thucchien.ai "Kiểm tra trạng thái video" / "Tải xuống video
  hoàn thành");
* OpenAI-style ``/v1/videos``: an OpenAI-compatible gateway, HingNet (HingNet 视频生成 / 视频下载,
  docs.hingnet.com.cn) or TokenOps (docs-model.skyengine.com.cn), chosen by the ``gateway`` config key;
* New-API task style ``/v1/video/generations``: MixRoute (docs.mixroute.ai);
* Vertex AI (Veo) under ``/v1/projects/{project}/locations/{location}/...``, with an OAuth bearer token and
  ``storageUri`` outputs written into a Cloud Storage JSON API (``vertex.py``);

plus a second "CDN" site for redirects and video URLs, and a control API under ``/_emulator/``
(jobs, request record, config, scripted and hostile faults). Strict by default: each gateway's
documented content types, parameters, values and models only (``rules.py``), refused in the
gateway's own words (``refusals.py``); ``strict: false`` / ``--lenient`` accepts more. Pure stdlib +
aiohttp; no Airflow imports.

Run it with ``python -m airflow_provider_videogen.emulator --port 0``, in a thread with
``Emulator``, or as a child process with ``EmulatorProcess``; drive it with ``EmulatorClient``.
"""

from .client import EmulatorClient, EmulatorError, EmulatorProcess
from .core import BUILTIN_DEFAULTS
from .server import Emulator, build_apps, start_servers, stop_servers

__all__ = ["BUILTIN_DEFAULTS", "Emulator", "EmulatorClient", "EmulatorError", "EmulatorProcess",
           "build_apps", "start_servers", "stop_servers"]
