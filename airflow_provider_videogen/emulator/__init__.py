"""Gateway emulator: a fake of the six video-generation gateways, over real HTTP on loopback.

Serves, at each gateway's own paths (see ``/work/shared/reference/gateway-protocols.md``):

* Gemini long-running operations: Google (``/v1beta/...``) and AI Thực Chiến (``/gemini/...``);
* OpenAI-style ``/v1/videos``: OpenAI, HingNet, TokenOps;
* New-API task style ``/v1/video/generations``: MixRoute;

plus a second "CDN" site for redirects and video URLs, and a control API under ``/_emulator/``
(jobs, request record, config, scripted faults). Pure stdlib + aiohttp; no Airflow imports.

Run it with ``python -m airflow_provider_videogen.emulator --port 0``, in a thread with
``Emulator``, or as a child process with ``EmulatorProcess``; drive it with ``EmulatorClient``.
"""

from .client import EmulatorClient, EmulatorError, EmulatorProcess
from .core import BUILTIN_DEFAULTS
from .server import Emulator, build_apps, start_servers, stop_servers

__all__ = ["BUILTIN_DEFAULTS", "Emulator", "EmulatorClient", "EmulatorError", "EmulatorProcess",
           "build_apps", "start_servers", "stop_servers"]
