"""What each emulated gateway accepts: models, content types, parameters, types and values.

One table per gateway surface, each rule with the public source it comes from. ``[INF]`` marks an
inference that no source states; such rules are the emulator's strict reading, not a quote.

* ``VIDEOS_RULES``: ``POST /v1/videos`` of an OpenAI-compatible gateway (``openai``), HingNet and
  TokenOps (the ``gateway`` config key picks which one plays the shared routes).
* ``GENERATIONS_RULES``: MixRoute's ``POST /v1/video/generations`` (New-API style), per model family.
* ``GEMINI_RULES``: ``POST .../v1beta/models/{model}:predictLongRunning`` of the Gemini API and of
  AI Thực Chiến, a LiteLLM pass-through to it (same body rules).

The checks raise ``Refusal``; ``refusals.py`` turns one into the gateway's own error response.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

GATEWAYS = ("thucchien", "hingnet", "mixroute", "tokenops", "gemini", "openai", "vertex")

# The models each gateway serves; ``/v1/models`` and ``/v1beta/models`` list exactly these and a
# submit naming another model gets the gateway's own "model not found". Overridable per gateway
# with the ``models`` config key (e.g. to replay a retirement).
MODELS_BY_GATEWAY: dict[str, tuple[str, ...]] = {
    # Illustrative: OpenAI shut down the Videos API and sora-2/sora-2-pro on 2026-09-24
    # (https://developers.openai.com/api/docs/guides/video-generation); OpenAI-compatible aggregators
    # keep /v1/videos for other models, e.g. "Seedance 2.0, Wan2.7 ... /v1/videos" (docs.apiyi.com
    # notice "VEO 3.1 official relay retired", 2026-11) and Veo 3.1.
    "openai": ("veo-3.1-generate-preview", "veo-3.1-fast-generate-preview", "seedance-2.0", "wan-2.7"),
    # HingNet "视频生成" pages (https://docs.hingnet.com.cn/gemini/video.md, /openai/video-generation.md)
    "hingnet": ("veo-3.1-generate-preview", "veo-3.1-fast-generate-preview", "sora-2", "sora-2-pro"),
    # TokenOps CreateVideoFormRequest example model sora-2 (docs-model.skyengine.com.cn videos-generations)
    # and the Veo model of its predictLongRunning page (docs-model.skyengine.com.cn predictLongRunning)
    "tokenops": ("sora-2", "veo-3.1-generate-preview"),
    # MixRoute "Submit Video Task" supported models (https://docs.mixroute.ai/en/api-reference/endpoint/submit-video-task)
    "mixroute": ("sora-2", "veo-3.0-fast-generate-001", "veo-3.1-fast-generate-preview", "veo-3.0-generate-preview",
                 "veo-3.1-generate-preview", "wanx-video-v1", "seedance-1.0", "seedance-1.0-pro", "seedance-1.5-pro"),
    # Gemini API video guide examples (https://ai.google.dev/gemini-api/docs/video). Veo 3.0 ids are
    # retired (June 30, 2026: https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/model-versions).
    # A third-party notice reports the 3.1 previews shut down on 2026-10-22 (docs.apiyi.com, citing
    # ai.google.dev/gemini-api/docs/deprecations); not confirmed here: set ``models`` to replay it.
    "gemini": ("veo-3.1-generate-preview", "veo-3.1-fast-generate-preview"),
    # AI Thực Chiến user guide and "Kiểm tra trạng thái video" (docs.thucchien.ai) name these two.
    "thucchien": ("veo-3.0-generate-preview", "veo-3.0-generate-001"),
    # Veo on Vertex AI (Veo models list, https://cloud.google.com/vertex-ai/generative-ai/docs/models; litellm's
    # Vertex AI video page lists veo-3.1-*-preview, veo-3.1-lite-generate-001 and veo-2.0-generate-001).
    "vertex": ("veo-3.1-generate-001", "veo-3.1-fast-generate-001", "veo-3.1-lite-generate-001",
               "veo-3.1-generate-preview", "veo-3.1-fast-generate-preview", "veo-2.0-generate-001"),
}

# Status words per gateway when ``status_vocab`` is "auto" (the VOCABS keys in core.py).
VOCAB_BY_GATEWAY = {"openai": "openai", "hingnet": "hingnet", "tokenops": "tokenops"}


def videos_gateway(gateway: str) -> str:
    """Whose rules apply on the shared ``/v1/videos`` routes: HingNet, TokenOps, else OpenAI-compatible."""
    return gateway if gateway in ("hingnet", "tokenops") else "openai"


def style_for_path(path: str, gateway: str) -> str | None:
    """The gateway whose errors (auth, refusals) a path answers with; None outside the gateway APIs.

    ``/gemini/...`` is always AI Thực Chiến, ``/v1beta/...`` the Gemini API,
    ``/v1/video/generations...`` MixRoute and ``/v1/projects/...`` Vertex AI (``vertex.py``); other
    ``/v1/...`` paths belong to the played gateway (an OpenAI-compatible one unless ``gateway`` names
    HingNet, TokenOps, MixRoute or Thực Chiến).
    """
    if path.startswith("/gemini/") or path == "/gemini":
        return "thucchien"
    if path.startswith("/v1beta/") or path == "/v1beta":
        return "gemini"
    if path.startswith("/v1/video/generations"):
        return "mixroute"
    if path.startswith("/v1/projects/"):  # Vertex AI: /v1/projects/{project}/locations/{location}/...
        return "vertex"
    if path == "/v1" or path.startswith("/v1/"):
        return gateway if gateway in ("hingnet", "tokenops", "mixroute", "thucchien") else "openai"
    return None


# ------------------------------------------------------------------------------- refusals


class Refusal(Exception):
    """A request the gateway refuses: ``kind`` picks the error body (see refusals.py).

    Kinds: ``content_type``, ``bad_body``, ``unknown_param``, ``missing_param``, ``invalid_type``,
    ``invalid_value``, ``vertex_only``, ``model_not_found``. ``param`` is the offending name and
    ``at`` where it sits (Google style ``instances[0]`` / ``parameters``; "" for the top level).
    """

    def __init__(self, kind: str, message: str, param: str | None = None, at: str = "", value: Any = None):
        super().__init__(message)
        self.kind, self.message, self.param, self.at, self.value = kind, message, param, at, value


@dataclass(frozen=True)
class Upload:
    """A multipart file part: its size and digest only, never its bytes."""

    filename: str | None
    content_type: str | None
    size: int
    sha256: str


def json_type(value: Any) -> str:
    """The JSON type name of a parsed value (``file`` for a multipart file part)."""
    if isinstance(value, Upload):
        return "file"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


@dataclass(frozen=True)
class Ctx:
    model: str
    form: str  # "json" | "multipart"
    at: str = ""  # where the checked object sits (Google style: "instances[0].image")

    def inside(self, name: str) -> Ctx:
        return replace(self, at=f"{self.at}.{name}" if self.at else name)


Check = Callable[[str, Any, Ctx], None]
_ARTICLE = {"integer": "an integer", "array": "an array", "object": "an object"}


def _a(type_name: str) -> str:
    return _ARTICLE.get(type_name, f"a {type_name}")


def _quoted(choices: tuple) -> str:
    items = [f"'{c}'" for c in choices]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f", or {items[-1]}"


def _bad_type(name: str, value: Any, expected: str) -> Refusal:
    # OpenAI's wording, e.g. "Invalid type for 'seconds': expected one of '4', '8', or '12', but got an
    # integer instead." (https://github.com/THU-MAIC/OpenMAIC/pull/98 review, quoting the API)
    return Refusal("invalid_type", f"Invalid type for '{name}': expected {expected}, but got "
                                   f"{_a(json_type(value))} instead.", name)


def _bad_value(name: str, value: Any, choices: tuple) -> Refusal:
    return Refusal("invalid_value", f"Invalid value: '{value}'. Supported values are: {_quoted(choices)}.", name)


def one_of(*choices: Any, types: tuple[str, ...] = ("string",)) -> Check:
    """A value of one of ``types`` that equals one of ``choices``."""

    def check(name: str, value: Any, ctx: Ctx) -> None:
        if json_type(value) not in types:
            raise _bad_type(name, value, f"one of {_quoted(choices)}" if types == ("string",) else _a(types[0]))
        if value not in choices:
            raise _bad_value(name, value, choices)

    return check


def lower_one_of(*choices: str) -> Check:
    """A string equal to one of ``choices`` ignoring case (Google enums are case-insensitive)."""

    def check(name: str, value: Any, ctx: Ctx) -> None:
        if not isinstance(value, str):
            raise _bad_type(name, value, "a string")
        if value.lower() not in choices:
            raise _bad_value(name, value, choices)

    return check


def of_type(*types: str) -> Check:
    def check(name: str, value: Any, ctx: Ctx) -> None:
        if json_type(value) not in types:
            raise _bad_type(name, value, _a(types[0]))

    return check


def text(name: str, value: Any, ctx: Ctx) -> None:
    """A non-empty string."""
    if not isinstance(value, str):
        raise _bad_type(name, value, "a string")
    if not value.strip():
        raise Refusal("invalid_value", f"Invalid '{name}': empty string. Expected a non-empty string.", name)


def int_range(low: int, high: int) -> Check:
    def check(name: str, value: Any, ctx: Ctx) -> None:
        if json_type(value) != "integer":
            raise _bad_type(name, value, "an integer")
        if not low <= value <= high:
            raise Refusal("invalid_value", f"Invalid '{name}': {value} is out of range [{low}, {high}].", name)

    return check


def only_models(prefix: str, check: Check) -> Check:
    """``check``, and only for models whose name starts with ``prefix``."""

    def wrapped(name: str, value: Any, ctx: Ctx) -> None:
        if not ctx.model.startswith(prefix):
            raise Refusal("invalid_value", f"'{name}' is only supported by {prefix}* models, not {ctx.model}.", name)
        check(name, value, ctx)

    return wrapped


def family(model: str) -> str:
    """``sora`` / ``veo`` / ``wanx`` / ``seedance`` / ...: the part of a model name before the first '-'."""
    return model.split("-", 1)[0].lower()


# ------------------------------------------------------------- OpenAI-style POST /v1/videos

# openai-python src/openai/types/video_seconds.py, video_size.py (VideoSeconds, VideoSize)
OPENAI_SECONDS = ("4", "8", "12")
OPENAI_SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")


def _ref_object(name: str, value: Any) -> None:
    """``{"image_url": ...}`` or ``{"file_id": ...}``: "Provide exactly one of image_url or file_id"
    (openai-python src/openai/types/video_create_params.py, InputReference)."""
    if not isinstance(value, dict):
        raise _bad_type(name, value, "an object")
    if len(value) != 1 or not set(value) <= {"image_url", "file_id"}:
        raise Refusal("invalid_value", f"Invalid '{name}': provide exactly one of 'image_url' or 'file_id'.", name)
    if not isinstance(next(iter(value.values())), str):
        raise _bad_type(f"{name}.{next(iter(value))}", next(iter(value.values())), "a string")


def _text_ref(name: str, value: str) -> Any:
    """A multipart text part holding a JSON object (how a reference object travels in a form)."""
    try:
        return json.loads(value)
    except ValueError:
        raise _bad_type(name, value, "a file or a JSON object") from None


def openai_input_reference(name: str, value: Any, ctx: Ctx) -> None:
    """A file part, or a reference object: the OpenAPI spec's CreateVideoMultipartBody / CreateVideoJsonBody
    (https://developers.openai.com/api/reference/resources/videos/methods/create). In a form the object
    is a JSON text part or ``input_reference[image_url]`` (openai-python's multipart serialiser,
    ``_base_client._serialize_multipartform``, brackets). JSON bodies take the object only."""
    if isinstance(value, Upload) and ctx.form == "multipart":
        return
    if isinstance(value, str) and ctx.form == "multipart":
        value = _text_ref(name, value)
    _ref_object(name, value)


def hingnet_input_reference(name: str, value: Any, ctx: Ctx) -> None:
    """HingNet: Veo takes a JSON array of image URLs (``"input_reference":["https://…"]``) or files
    (``-F input_reference=@image.jpg``), https://docs.hingnet.com.cn/gemini/video.md; Sora takes the
    official single object, "不要传 [...] 这样的数组" (https://docs.hingnet.com.cn/openai/video-generation.md).
    Up to three repeated file parts for Veo (sister docs, https://docs.rivus.cn/gemini/video) [INF]."""
    items = value if isinstance(value, list) else [value]
    if ctx.form == "multipart" and all(isinstance(v, Upload) for v in items):
        if (len(items) > 1 and family(ctx.model) != "veo") or len(items) > 3:
            raise Refusal("invalid_value", f"Invalid '{name}': at most one file ({ctx.model}).", name)
        return
    if isinstance(value, list):
        if family(ctx.model) != "veo":
            raise Refusal("invalid_value", f"Invalid '{name}': an object is expected for {ctx.model}, not an array.",
                          name)
        if not 1 <= len(value) <= 3 or not all(isinstance(v, str) and v for v in value):
            raise Refusal("invalid_value", f"Invalid '{name}': an array of 1 to 3 image URLs is expected.", name)
        return
    if family(ctx.model) == "veo":
        raise Refusal("invalid_value", f"Invalid '{name}': an array of image URLs or a file is expected.", name)
    openai_input_reference(name, value, ctx)


def hingnet_seconds(name: str, value: Any, ctx: Ctx) -> None:
    """HingNet examples send an integer (``"seconds": 6`` / ``8``) or a form string ``"6"``
    (https://docs.hingnet.com.cn/gemini/video.md): Veo 4/6/8 (Gemini video guide durations), Sora
    the official 4/8/12 (openai-python VideoSeconds)."""
    choices = (4, 6, 8) if family(ctx.model) == "veo" else (4, 8, 12)
    if json_type(value) not in ("integer", "string"):
        raise _bad_type(name, value, "an integer or a string")
    if str(value) not in {str(c) for c in choices}:
        raise _bad_value(name, value, choices)


def tokenops_input_reference(name: str, value: Any, ctx: Ctx) -> None:
    """TokenOps: a file used as the first frame (CreateVideoFormRequest; docs.apigo.ai video twin) [INF]."""
    if not isinstance(value, Upload):
        raise _bad_type(name, value, "a file")


@dataclass(frozen=True)
class BodyRules:
    """Accepted media types, required parameters and one check per accepted parameter."""

    content_types: tuple[str, ...]
    required: tuple[str, ...]
    params: dict[str, Check]


VIDEOS_RULES: dict[str, BodyRules] = {
    # An OpenAI-compatible gateway serves the OpenAI contract: multipart (what openai-python's
    # videos.create sends) or JSON (the API reference's "Body Parameters JSON", CreateVideoJsonBody,
    # https://developers.openai.com/api/reference/resources/videos/methods/create). ``model`` is required
    # here [INF]: the contract's default sora-2 is shut down, so a gateway must be told the model.
    "openai": BodyRules(
        content_types=("multipart/form-data", "application/json"),
        required=("prompt", "model"),
        params={"model": text, "prompt": text, "seconds": one_of(*OPENAI_SECONDS), "size": one_of(*OPENAI_SIZES),
                "input_reference": openai_input_reference}),
    # HingNet: "multipart/form-data" and "application/json" sections of
    # https://docs.hingnet.com.cn/openai/video-generation.md; Veo fields from /gemini/video.md. Sizes are the
    # official contract's ("本文只描述 OpenAI 官方契约"); 1920x1080 is not on HingNet's pages.
    "hingnet": BodyRules(
        content_types=("multipart/form-data", "application/json"),
        required=("model", "prompt"),
        params={"model": text, "prompt": text, "seconds": hingnet_seconds, "size": one_of(*OPENAI_SIZES),
                "input_reference": hingnet_input_reference}),
    # TokenOps: multipart only, CreateVideoFormRequest with required model and prompt, size enum
    # 720x1280|1280x720 (docs-model.skyengine.com.cn/api-reference/endpoint/videos-generations.md);
    # seconds 4|8|12 and input_reference file from its twin [INF]
    # (https://docs.apigo.ai/api-reference/endpoints/openai/video).
    "tokenops": BodyRules(
        content_types=("multipart/form-data",),
        required=("model", "prompt"),
        params={"model": text, "prompt": text, "size": one_of("720x1280", "1280x720"),
                "seconds": one_of(*OPENAI_SECONDS), "input_reference": tokenops_input_reference}),
}

# openai-python src/openai/resources/videos.py ``remix`` posts exactly ``{"prompt": prompt}`` as JSON
# (types/video_remix_params.py: prompt required; "Updated text prompt that directs the remix
# generation"). JSON only: the SDK sends no form for it [INF that a form is refused].
REMIX_BODY = BodyRules(content_types=("application/json",), required=("prompt",), params={"prompt": text})

# ------------------------------------------------------ MixRoute POST /v1/video/generations

_VEO_PARAMS: dict[str, Check] = {
    # MixRoute "Veo" page (https://docs.mixroute.ai/en/api-reference/endpoint/veo): durationSeconds integer
    # 4, 6, 8; aspectRatio "only supports: 16:9, 9:16"; resolution 720p, 1080p; image (URL or Base64);
    # lastFrame "only veo-3.1 series"; generateAudio; "Number of videos ... 1-4" (its name is cut off in
    # the archived page: sampleCount [INF]); personGeneration, addWatermark, seed per "Submit Video Task".
    "durationSeconds": one_of(4, 6, 8, types=("integer",)),
    "aspectRatio": one_of("16:9", "9:16"),
    "resolution": one_of("720p", "1080p"),
    "image": text,
    "lastFrame": only_models("veo-3.1", text),
    "generateAudio": of_type("boolean"),
    "sampleCount": int_range(1, 4),
    "personGeneration": text,
    "addWatermark": of_type("boolean"),
    "seed": of_type("integer"),
}

GENERATIONS_RULES: dict[str, dict[str, Check]] = {
    # Sora 2 example body of MixRoute's "下載影片" page (docs.mixroute.ai download-video): model, prompt,
    # seconds "4" (a string), size "720x1280"; the values are the official contract's (openai-python).
    # The summary page's other Sora names (reference image, remix URL) are not shown: refused [INF].
    "sora": {"seconds": one_of(*OPENAI_SECONDS), "size": one_of(*OPENAI_SIZES)},
    "veo": _VEO_PARAMS,
    # Wanxiang and Seedance parameters are described without names on the submit page: model and
    # prompt only [INF].
    "wanx": {},
    "seedance": {},
}
# JSON only: every MixRoute example is ``Content-Type: application/json``; New API's own validators
# answer "Content-Type must be application/json" (QuantumNous/new-api relay task validators).
GENERATIONS_BODY = BodyRules(content_types=("application/json",), required=("model", "prompt"),
                             params={"model": text, "prompt": text})

# ------------------------------------------------------------- Gemini API predictLongRunning


def _object_of(keys: dict[str, Check]) -> Check:
    """A JSON object whose keys are all in ``keys`` (each checked), Google-style unknown names."""

    def check(name: str, value: Any, ctx: Ctx) -> None:
        if not isinstance(value, dict):
            raise _bad_type(name, value, "an object")
        check_keys(value, keys, ctx.inside(name))

    return check


# _Image_to_mldev: bytesBase64Encoded + mimeType ("gcs_uri ... only supported in ... Agent Platform mode")
GEMINI_IMAGE = {"bytesBase64Encoded": text, "mimeType": text}
# _Video_to_mldev: uri, encodedVideo (bytes), encoding (mime type)
GEMINI_VIDEO = {"uri": text, "encodedVideo": text, "encoding": text}
_REFERENCE_IMAGE = {"image": _object_of(GEMINI_IMAGE), "referenceType": lower_one_of("asset", "style")}


def _reference_images(name: str, value: Any, ctx: Ctx) -> None:
    """``referenceImages``: up to three ``{image, referenceType: ASSET|STYLE}`` (Gemini video guide:
    "up to three reference images"; _VideoGenerationReferenceImage_to_mldev)."""
    if not isinstance(value, list) or not 1 <= len(value) <= 3:
        raise Refusal("invalid_value", f"Invalid '{name}': 1 to 3 reference images are expected.", name)
    for i, item in enumerate(value):
        _object_of(_REFERENCE_IMAGE)(f"{name}[{i}]", item, ctx)


def _resolution(name: str, value: Any, ctx: Ctx) -> None:
    """720p or 1080p; 4k on Veo 3.1 ("8-second 720p, 1080p or 4k videos", https://ai.google.dev/gemini-api/docs/video)."""
    one_of(*(("720p", "1080p", "4k") if ctx.model.startswith("veo-3.1") else ("720p", "1080p")))(name, value, ctx)


# What google-genai 2.x sends in Gemini Developer API (mldev) mode, googleapis/python-genai
# google/genai/models.py _GenerateVideosParameters_to_mldev and _GenerateVideosConfig_to_mldev.
GEMINI_INSTANCE: dict[str, Check] = {
    "prompt": text,
    "image": _object_of(GEMINI_IMAGE),
    "lastFrame": _object_of(GEMINI_IMAGE),
    "referenceImages": _reference_images,
    "video": _object_of(GEMINI_VIDEO),
}
GEMINI_PARAMETERS: dict[str, Check] = {
    "sampleCount": int_range(1, 4),  # number_of_videos
    "durationSeconds": one_of(4, 6, 8, types=("integer",)),  # Veo durations, Gemini video guide
    "aspectRatio": one_of("16:9", "9:16"),  # Gemini video guide: "landscape (16:9) and portrait (9:16)"
    "resolution": _resolution,
    "personGeneration": lower_one_of("allow_all", "allow_adult", "dont_allow"),  # Gemini video guide
    "negativePrompt": text,
    "enhancePrompt": of_type("boolean"),
}
# webhook_config is copied as is: {"uris": [...], "user_metadata": {...}} (types.WebhookConfig).
GEMINI_WEBHOOK = {"uris": of_type("array"), "user_metadata": of_type("object"), "userMetadata": of_type("object")}
# The SDK raises "... only supported in Gemini Enterprise Agent Platform mode, not in Gemini Developer
# API mode" for these; Vertex's names for them (_GenerateVideosConfig_to_vertex, _Image_to_vertex).
VERTEX_ONLY = frozenset({"seed", "generateAudio", "storageUri", "fps", "pubsubTopic", "compressionQuality",
                         "resizeMode", "labels", "mask", "gcsUri"})


def _instances(name: str, value: Any, ctx: Ctx) -> None:
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        raise Refusal("invalid_value", "Invalid value at 'instances': a non-empty list of objects is expected.",
                      name)
    for i, instance in enumerate(value):
        check_keys(instance, GEMINI_INSTANCE, ctx.inside(f"{name}[{i}]"))
    if "prompt" not in value[0]:
        raise Refusal("missing_param", "A text prompt is required: instances[0].prompt.", "prompt", "instances[0]")


GEMINI_RULES: dict[str, Check] = {
    "instances": _instances,
    "parameters": _object_of(GEMINI_PARAMETERS),
    "webhookConfig": _object_of(GEMINI_WEBHOOK),
}


# --------------------------------------------------------------------------------- checking


def check_keys(body: dict[str, Any], params: dict[str, Check], ctx: Ctx) -> None:
    """Refuse names not in ``params`` (Vertex-only names with their own refusal), then check values."""
    for key in body:
        if key not in params:
            kind = "vertex_only" if key in VERTEX_ONLY else "unknown_param"
            raise Refusal(kind, f"Unknown parameter: '{key}'.", key, ctx.at)
    for key, value in body.items():
        params[key](key, value, ctx)


def check_model(model: str, models: tuple[str, ...]) -> None:
    if model not in models:
        raise Refusal("model_not_found", f"The model `{model}` does not exist or you do not have access to it.",
                      "model", value=model)


def _names(rules: BodyRules, body: dict[str, Any], params: dict[str, Check]) -> None:
    """Unknown names, then missing required ones."""
    for key in body:
        if key not in params:
            raise Refusal("unknown_param", f"Unknown parameter: '{key}'.", key)
    for key in rules.required:
        if key not in body:
            raise Refusal("missing_param", f"Missing required parameter: '{key}'.", key)


def check_body(rules: BodyRules, body: dict[str, Any], models: tuple[str, ...], form: str,
               extra: dict[str, Check] | None = None) -> None:
    """Unknown names, then required ones, then the model, then every value."""
    params = {**rules.params, **(extra or {})}
    _names(rules, body, params)
    model = body["model"]
    text("model", model, Ctx("", form))
    check_model(model, models)
    check_keys(body, params, Ctx(model, form))


def body_fields(kind: str, value: Any) -> dict[str, Any]:
    """The parameters of a parsed body (core.read_body): a JSON object as it is; a form's fields with
    single values unwrapped, repeated ones as lists and ``name[key]`` fields folded into an object
    (how openai-python's multipart serialiser sends a nested object). Other bodies: no parameters."""
    if kind == "json":
        if not isinstance(value, dict):  # OpenAI's wording for an unparsable body [INF]
            raise Refusal("bad_body", "We could not parse the JSON body of your request. The API expects a JSON "
                                      "object.")
        return value
    if kind not in ("multipart", "form"):
        return {}
    out: dict[str, Any] = {}
    for key, values in value.items():
        item = values[0] if len(values) == 1 else values
        nested = re.fullmatch(r"([A-Za-z_]\w*)\[(\w+)\]", key)
        if nested and isinstance(out.setdefault(nested[1], {}), dict):
            out[nested[1]][nested[2]] = item
        else:
            out[key] = item
    return out


def check_videos(gateway: str, body: dict[str, Any], models: tuple[str, ...], form: str) -> None:
    """``POST /v1/videos`` under ``VIDEOS_RULES[gateway]`` (the media type is checked by the caller)."""
    check_body(VIDEOS_RULES[gateway], body, models, form)


def check_remix(body: dict[str, Any]) -> None:
    """``POST /v1/videos/{video_id}/remix`` body under ``REMIX_BODY`` (the media type is checked by the caller)."""
    _names(REMIX_BODY, body, REMIX_BODY.params)
    check_keys(body, REMIX_BODY.params, Ctx("", "json"))


def check_generations(body: dict[str, Any], models: tuple[str, ...]) -> None:
    """MixRoute ``POST /v1/video/generations`` (JSON), parameters by model family."""
    model = body.get("model")
    if isinstance(model, str):  # New API picks the channel by model before it reads the rest (distributor.go)
        check_model(model, models)
    extra = GENERATIONS_RULES.get(family(model), {}) if isinstance(model, str) else {}
    check_body(GENERATIONS_BODY, body, models, "json", extra)


def check_gemini(content_type: str | None, body: Any, model: str, models: tuple[str, ...]) -> None:
    """Gemini API ``predictLongRunning`` body (also AI Thực Chiến's pass-through)."""
    if content_type != "application/json" or not isinstance(body, dict):
        raise Refusal("bad_body", "Invalid JSON payload received. Unexpected token.")
    check_model(model, models)
    check_keys(body, GEMINI_RULES, Ctx(model, "json"))
    if "instances" not in body:
        raise Refusal("missing_param", "Invalid value at 'instances': a non-empty list is required.", "instances")
