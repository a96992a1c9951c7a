"""How each emulated gateway says no: auth failures, refused bodies, unknown models and ids, not ready.

The "style" of a request is the gateway answering it (``rules.style_for_path``). Bodies and statuses
follow the gateway's own documents; ``[INF]`` marks shapes no source shows (then the nearest
documented shape of the same gateway is used).
"""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from .core import json_response
from .rules import Refusal

_GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                  429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}


def openai_error(status: int, message: str, code: str | None, type_: str = "invalid_request_error",
                 param: str | None = None) -> web.Response:
    """OpenAI error body ``{"error":{"message","type","param","code"}}`` (openai-python APIError fields)."""
    return json_response({"error": {"message": message, "type": type_, "param": param, "code": code}}, status)


def google_error(status: int, message: str, details: list[dict[str, Any]] | None = None) -> web.Response:
    """google.rpc.Status body ``{"error":{"code","message","status"[,"details"]}}`` (Gemini API errors)."""
    error: dict[str, Any] = {"code": status, "message": message, "status": _GOOGLE_STATUS.get(status, "UNKNOWN")}
    if details:
        error["details"] = details
    return json_response({"error": error}, status)


def task_error(code: str, message: str, status: int = 400) -> web.Response:
    """New API task error ``{"code","message","data":null}`` (QuantumNous/new-api dto/task.go TaskError)."""
    return json_response({"code": code, "message": message, "data": None}, status)


def tokenops_error(message: str) -> web.Response:
    """TokenOps ErrorResponse ``{"error":{"code":int,"message","details":[]}}``, always HTTP 400: its OpenAPI
    lists 400 for "请求参数错误、API密钥无效等" and no 401/404 (docs-model.skyengine.com.cn videos content)."""
    return json_response({"error": {"code": 400, "message": message, "details": []}}, 400)


def _request_id() -> str:
    return secrets.token_hex(10)


def hub_error(status: int, message: str, hub: str, code: str | None = None) -> web.Response:
    """New API / One-Hub middleware error ``{"error":{"message":"… (request id: …)","type":…}}``:
    ``new_api_error`` with a ``code`` (QuantumNous/new-api middleware/utils.go abortWithOpenAiMessage) or
    ``one_hub_error`` (MartialBE/one-hub abortWithMessage)."""
    error: dict[str, Any] = {"message": f"{message} (request id: {_request_id()})", "type": hub}
    if hub == "new_api_error":
        error["code"] = code or ""
    return json_response({"error": error}, status)


_HUB = {"hingnet": "one_hub_error", "mixroute": "new_api_error"}

# ------------------------------------------------------------------------------------- auth


def auth_failure(style: str, key: str | None, bearer: bool) -> web.Response:
    """The gateway's answer to a missing (``key`` None) or wrong key; ``bearer``: an Authorization
    Bearer header came (Gemini treats it as an OAuth token)."""
    if style == "openai":
        if key is None:  # OpenAI error-codes guide: 401 "Invalid Authentication" / "Incorrect API key provided"
            return openai_error(401, "You didn't provide an API key. You need to provide your API key in an "
                                     "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                                None)
        return openai_error(401, "Incorrect API key provided.", "invalid_api_key")
    if style in _HUB:  # New API TokenAuth: 401 "无效的令牌" (QuantumNous/new-api middleware/auth.go)
        return hub_error(401, "未提供令牌" if key is None else "无效的令牌", _HUB[style])
    if style == "tokenops":
        return tokenops_error("API key is missing" if key is None else "API key is invalid")
    if style == "thucchien":  # LiteLLM proxy auth error (https://github.com/BerriAI/litellm/issues/7287)
        message = ("Authentication Error, No api key passed in." if key is None
                   else "Authentication Error, Invalid proxy server token passed. valid_token=None.")
        return json_response({"error": {"message": message, "type": "auth_error", "param": "None", "code": "401"}},
                             401)
    # Gemini API
    if key is None and bearer:  # https://github.com/mscraftsman/generative-ai/issues/51
        return google_error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                                 "login cookie or other valid authentication credential. See "
                                 "https://developers.google.com/identity/sign-in/web/devconsole-project.")
    if key is None:  # https://github.com/PublicAffairs/openai-gemini/issues/92
        return google_error(403, "Method doesn't allow unregistered callers (callers without established "
                                 "identity). Please use API Key or other form of API consumer identity to call "
                                 "this API.")
    # https://github.com/continuedev/continue/issues/8516
    return google_error(400, "API key not valid. Please pass a valid API key.", [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
         "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}])


# --------------------------------------------------------------------------------- refusals

_OPENAI_CODES = {"unknown_param": "unknown_parameter", "missing_param": "missing_required_parameter",
                 "invalid_type": "invalid_type", "invalid_value": "invalid_value",
                 "content_type": "unsupported_content_type", "bad_body": None}


def refuse(style: str, refusal: Refusal, content_type: str | None = None) -> web.Response:
    """A refused request in the gateway's own words."""
    kind, param = refusal.kind, refusal.param
    if kind == "model_not_found":
        return model_not_found(style, str(refusal.value))
    if style in ("gemini", "thucchien"):  # Thực Chiến passes Google's answer through (LiteLLM pass-through)
        return _google_refusal(refusal)
    message = refusal.message
    if kind == "content_type":
        # https://github.com/openai/openai-openapi/issues/194 (OpenAI's unsupported_content_type wording)
        message = (f"Unsupported content type: '{content_type}'. This API method only accepts "
                   f"{_accepted(style)} requests, but you specified the header 'Content-Type: {content_type}'. "
                   f"Please try again with a supported content type.")
    if style == "tokenops":
        return tokenops_error(message)
    if style == "mixroute":
        if kind == "content_type":  # New API: "Content-Type must be application/json"
            message = "Content-Type must be application/json"
        return task_error("invalid_request", message)
    # OpenAI-compatible and HingNet (which documents the official contract [INF for its error body])
    return openai_error(400, message, _OPENAI_CODES.get(kind), param=param)


def _accepted(style: str) -> str:
    return "'multipart/form-data'" if style == "tokenops" else "'application/json' and 'multipart/form-data'"


def _google_refusal(refusal: Refusal) -> web.Response:
    if refusal.kind == "unknown_param":
        # "Invalid JSON payload received. Unknown name \"seed\": Cannot find field." with a BadRequest
        # fieldViolation (https://github.com/Vali-98/ChatterUI/issues/227); " at 'path'" for nested names.
        where = f" at '{refusal.at}'" if refusal.at else ""
        message = f'Invalid JSON payload received. Unknown name "{refusal.param}"{where}: Cannot find field.'
        return google_error(400, message, [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                                            "fieldViolations": [{"field": refusal.at or None,
                                                                 "description": message}]}])
    if refusal.kind == "vertex_only":
        # The SDK refuses these client-side: "... is only supported in Gemini Enterprise Agent Platform
        # mode, not in Gemini Developer API mode" (python-genai _GenerateVideosConfig_to_mldev); the
        # server's wording is [INF].
        return google_error(400, f"`{refusal.param}` isn't supported by the Gemini API: it is a Vertex AI "
                                 f"(Gemini Enterprise Agent Platform) parameter.")
    where = f"{refusal.at}.{refusal.param}" if refusal.at and refusal.param else (refusal.param or "")
    prefix = f"Invalid value at '{where}': " if refusal.kind in ("invalid_type", "invalid_value") and where else ""
    return google_error(400, prefix + refusal.message)  # [INF] wording beyond Google's status shape


def model_not_found(style: str, model: str) -> web.Response:
    """An unknown or retired model."""
    if style in ("gemini", "thucchien"):  # https://github.com/google-gemini/cookbook/issues/706
        return google_error(404, f"models/{model} is not found for API version v1beta, or is not supported for "
                                 f"predictLongRunning. Call ListModels to see the list of available models and "
                                 f"their supported methods.")
    if style in _HUB:  # New API / One-Hub distributor: 503 "当前分组 %s 下对于模型 %s 无可用渠道"
        return hub_error(503, f"当前分组 default 下对于模型 {model} 无可用渠道", _HUB[style], "model_not_found")
    if style == "tokenops":
        return tokenops_error(f"model {model} is not supported")
    return openai_error(404, f"The model `{model}` does not exist or you do not have access to it.",
                        "model_not_found", param="model")


# ----------------------------------------------------------------------- unknown, not ready


def unknown_route(method: str, path: str) -> web.Response:
    """A path no gateway serves (or one the played gateway does not document), in the style of its
    prefix: Google's "Method not found", OpenAI's "Invalid URL (METHOD /path)" (openai-python
    NotFoundError bodies), else a plain 404."""
    if path.startswith(("/v1beta", "/gemini")):
        return google_error(404, f"Method not found: {method} {path}")
    if path.startswith("/v1"):
        return openai_error(404, f"Invalid URL ({method} {path})", "not_found")
    return web.Response(status=404, text="Not Found")


def unknown_video(style: str) -> web.Response:
    """``/v1/videos/{id}[/content]`` for an id the gateway does not know."""
    if style == "tokenops":  # 400 ErrorResponse is the only documented client error
        return tokenops_error("video not found")
    if style == "hingnet":  # HingNet 视频下载: 404 "任务不存在" with the Error schema
        return openai_error(404, "任务不存在", "not_found")
    return openai_error(404, "Video not found", "not_found")


def video_not_ready(style: str, state: str) -> web.Response:
    """``/v1/videos/{id}/content`` before success: HingNet 400 "视频未就绪" (HingNet 视频下载), TokenOps 400
    ErrorResponse, OpenAI-compatible 400 (New API's video proxy: "Task is not completed yet") [INF]."""
    ready = state in ("queued", "running")
    message = "Video is not ready" if ready else f"Video generation failed: {state}"
    if style == "tokenops":
        return tokenops_error(message)
    if style == "hingnet" and ready:
        message = "视频未就绪"
    return openai_error(400, message, "video_not_ready" if ready else "video_generation_failed")
