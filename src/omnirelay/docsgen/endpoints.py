"""Every documented request body: its wire struct and, per field, the rule its validator applies.

The limits in the sentences are the validators' own constants, so a changed limit changes the
page; ``tests/docs/test_tables.py`` holds each endpoint to its struct (a field without a
sentence, or a sentence for a field that is gone, fails) and sends each field marked required
through the real validator without it, expecting the refusal to name it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import msgspec

from omnirelay.api import images as images_api
from omnirelay.api import openai as openai_api
from omnirelay.api import suno as suno_api
from omnirelay.formats import ideogram, kling, suno
from omnirelay.formats.anthropic import wire as anthropic_wire
from omnirelay.formats.gemini import wire as gemini_wire
from omnirelay.formats.midjourney import plans as mj_plans
from omnirelay.formats.midjourney import wire as mj
from omnirelay.formats.openai import wire as openai_wire
from omnirelay.platform import balances, channel_admin, keyring, model_admin, users
from omnirelay.platform.limits.base import Limits


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A request body as the gateway reads it.

    ``notes`` has one sentence per field path of ``struct``; ``required`` names the fields a
    validator demands although the struct lets them be absent; ``passthrough`` lists fields
    the gateway does not read but relays (type, sentence), for surfaces that relay bodies.
    ``example`` is a minimal valid body and ``check`` the validator it passes, which the tests
    use to prove each required field is refused when missing.
    """

    struct: type[msgspec.Struct]
    notes: Mapping[str, str]
    required: frozenset[str] = frozenset()
    passthrough: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    example: Mapping[str, Any] | None = None
    check: Callable[[bytes], object] | None = None


def _ids(names: Iterable[str]) -> str:
    return ", ".join(f"`{n}`" for n in sorted(names))


_KLING_MODELS = frozenset({"kling-v1", "kling-v1-5", "kling-v1-6"})
_SUNO_MODELS = frozenset({"chirp-v3-0", "chirp-v3-5", "chirp-v4"})
_KLING_IMAGE = (
    f"an http(s) URL (at most {kling.MAX_URL} characters) or raw base64 (no `data:` prefix) of a "
    f"jpg/png of at most {kling.MAX_IMAGE_BYTES // 2**20} MB, at least {kling.MIN_IMAGE_SIDE} px "
    f"a side, aspect ratio between 1:{kling.MAX_ASPECT} and {kling.MAX_ASPECT}:1"
)
_KLING_TEXT = f"at most {kling.MAX_PROMPT} characters"
_KLING_DELIVERY = {
    "callback_url": "an http(s) URL; omnirelay POSTs the task to it at each status change "
    "(signed, see the task pages); the vendor never sees it",
    "external_task_id": f"your own id for the task, 1 to {kling.MAX_EXTERNAL_ID} characters; "
    "echoed in `task_info`",
}
_CAMERA = {
    "camera_control": "a camera movement; cannot be combined with `image_tail` or masks",
    "camera_control.type": "required when `camera_control` is given; `simple` needs `config`, "
    "the others take none",
    "camera_control.config": "for type `simple` only: exactly one of the six axes non-zero",
    **{
        f"camera_control.config.{axis}": "from -10 to 10"
        for axis in ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")
    },
}


def _kling_video(action: str) -> Callable[[bytes], object]:
    def check(body: bytes) -> None:
        kling.check_video(kling.decode(body, kling.VideoRequest), action, _KLING_MODELS)

    return check


def _kling_video_notes(image: bool) -> dict[str, str]:
    notes = {
        "model_name": f"one of the gateway's Kling models ({_ids(_KLING_MODELS)}); default "
        "`kling-v1`",
        "prompt": _KLING_TEXT + ("" if image else "; required"),
        "negative_prompt": _KLING_TEXT,
        "cfg_scale": "from 0 to 1: how closely the video follows the prompt",
        "mode": "`std` (faster, cheaper) or `pro` (better)"
        + ("; required" if image else "; default `std`"),
        "aspect_ratio": "the video's shape" + ("" if image else "; default `16:9`"),
        "duration": "seconds, as a string" + ("; required" if image else "; default `5`"),
        "image": ("the first frame: " + _KLING_IMAGE + "; required")
        if image
        else "not used by text2video",
        "image_tail": "the last frame (same rules as `image`); needs `image`"
        if image
        else "not used by text2video",
        "static_mask": "image2video only: the area that stays still (same rules as `image`)",
        "dynamic_masks": f"image2video only: at most {kling.MAX_DYNAMIC_MASKS} moving areas",
        "dynamic_masks[].mask": "the area (same rules as `image`)",
        "dynamic_masks[].trajectories": "the path it follows; must not be empty",
        "dynamic_masks[].trajectories[].x": "pixel column",
        "dynamic_masks[].trajectories[].y": "pixel row",
        **_CAMERA,
        **_KLING_DELIVERY,
    }
    return notes


_IMAGE_EXAMPLE = "https://example.com/first-frame.png"

_LIMITS = {
    "limits": "rate limits; each unset one falls back to the group's default",
    "limits.rpm": "requests per minute",
    "limits.tpm": "tokens per minute (estimated at admission, corrected at settlement)",
    "limits.concurrency": "requests in flight at once",
    "limits.daily_usd": "spending per UTC day, dollars",
    "limits.monthly_usd": "spending per UTC month, dollars",
}
assert {f"limits.{name}" for name in Limits.__struct_fields__} <= set(_LIMITS)

ENDPOINTS: Mapping[str, Endpoint] = MappingProxyType(
    {
        "admin.key": Endpoint(
            struct=keyring.KeyCreate,
            notes={
                "name": "a name for the key (unique per user)",
                "user_id": "the user whose balance it spends; null: a new user of its own, "
                "named after the key",
                "quota_usd": "the key's own cap in dollars, on top of its user's balance; "
                "null: no cap",
                "models": "the models it may use; null: every model its group may see",
                "expires_at": "an ISO 8601 time; null: never",
                "allowed_ips": "CIDR blocks or addresses it may be used from; null: anywhere",
                "is_admin": "an admin key (manages the gateway, belongs to no user)",
                **_LIMITS,
            },
        ),
        "admin.user": Endpoint(
            struct=users.UserCreate,
            notes={
                "name": "unique",
                "group": "the group (price ratio, models, default limits)",
                "balance_usd": "the opening balance in dollars (a top-up in the ledger); null: "
                "unlimited",
                "note": "free text",
                **_LIMITS,
            },
        ),
        "admin.group": Endpoint(
            struct=users.GroupCreate,
            notes={
                "name": "unique",
                "ratio": "multiplies every price at settlement (0.8: 20% off); above 0, at "
                "most 100",
                "models": "the models its users may see; null: all",
                **_LIMITS,
            },
        ),
        "admin.codes": Endpoint(
            struct=balances.CodeBatch,
            notes={
                "batch": "a name for the batch (`spring-promo`)",
                "value_usd": "what each code adds to the balance that redeems it",
                "count": "how many codes",
                "expires_at": "an ISO 8601 time; null: never",
            },
        ),
        "admin.channel": Endpoint(
            struct=channel_admin.ChannelCreate,
            notes={
                "name": "unique",
                "base_url": "the vendor's API root (see Channels per vendor)",
                "api_key": "the vendor credential; write-only, encrypted at rest",
                "vendor": "the adapter: `openai`, `openai-chat`, `anthropic`, `gemini`, "
                "`kling`, `suno`, `midjourney`, `ideogram`, `bfl`",
                "models": "the catalogue models it serves; empty: every model of the vendor",
                "model_map": "our model name → the vendor's name for it",
                "priority": "higher first; lower priorities are failover",
                "weight": "its share of traffic among channels of the same priority",
                "groups": "the user groups it serves; null: all",
                "connect_timeout": "seconds; null: the gateway's setting",
                "read_timeout": "seconds allowed between two reads; null: the gateway's setting",
                "first_byte_timeout": "seconds to the first byte of an answer; null: the "
                "gateway's setting",
                "total_timeout": "seconds for the whole exchange; null: the gateway's setting",
                "failure_threshold": "failures within the window that open its circuit; "
                "null: the gateway's setting",
                "failure_window": "seconds in which its failures are counted; null: the "
                "gateway's setting",
                "cooldown": "seconds an open circuit keeps it out; null: the gateway's setting",
                "enabled": "a disabled channel gets no traffic",
            },
        ),
        "admin.model": Endpoint(
            struct=model_admin.ModelCreate,
            notes={
                "name": "the name clients send",
                "kind": "`chat`, `completion`, `embedding`, `speech`, `transcription`, "
                "`image` or `task`",
                "family": "the vendor family that serves it (`openai`, `anthropic`, `gemini`…)",
                "prices": "dollars by price name: `input`, `output` (per 1M tokens), "
                "`cache_read`, `cache_write`, `cache_write_1h`, `per_request`, `per_image`, "
                "`per_second`, `per_mchar`",
            },
        ),
        "admin.task-price": Endpoint(
            struct=model_admin.TaskPriceCreate,
            notes={
                "model": "a task model (`kling-v1`, `chirp-v4`, `midjourney-fast`…)",
                "product": "what is made: `video`, `image`, `music`, `lyrics`, `imagine`, "
                "`upscale`…",
                "usd": "the price of one",
                "mode": "Kling's `std`/`pro`; empty: every mode",
                "duration": "Kling's `5`/`10`; empty: every duration",
            },
        ),
        "openai.chat": Endpoint(
            struct=openai_wire.ChatRequest,
            notes={
                "model": "a chat model of the gateway (any vendor: GPT, Claude, Gemini…); "
                "`GET /v1/models` lists yours",
                "messages": "the conversation, at least one message; each "
                "`{role, content}` with role `system`, `developer`, `user`, `assistant` or "
                "`tool`; `content` is a string or an array of parts (`text`, `image_url`, "
                "`input_audio`)",
                "stream": "answer as server-sent events (`data: {chunk}` … `data: [DONE]`)",
                "stream_options": "streaming options",
                "stream_options.include_usage": "a last chunk with `usage` and no choices",
                "n": f"how many answers, 1 to {openai_api.MAX_CHOICES}; each is charged",
                "max_tokens": "the most tokens the answer may have (older name)",
                "max_completion_tokens": "the same, for reasoning models too (includes the "
                "reasoning tokens); the quota held for the request is this times `n`",
            },
            required=frozenset({"model", "messages"}),
            passthrough={
                "temperature": ("number", "0 to 2"),
                "top_p": ("number", "nucleus sampling, 0 to 1"),
                "stop": ("string or array", "up to 4 sequences that end the answer"),
                "tools": ("array", "functions the model may call, see Function calling"),
                "tool_choice": ("string or object", "`auto`, `none`, `required` or one tool"),
                "response_format": (
                    "object",
                    "`{type: json_object}` or `{type: json_schema, "
                    "json_schema: {name, schema, strict}}`, see Structured output",
                ),
                "reasoning_effort": ("string", "`low`, `medium`, `high` for reasoning models"),
                "seed": ("integer", "best-effort determinism"),
                "user": ("string", "your end user's id, relayed"),
            },
        ),
        "openai.completions": Endpoint(
            struct=openai_wire.CompletionRequest,
            notes={
                "model": "a completion model (`gpt-3.5-turbo-instruct`)",
                "prompt": "a string or an array of strings",
                "stream": "answer as server-sent events",
                "stream_options": "streaming options",
                "stream_options.include_usage": "a last chunk with `usage`",
                "n": f"how many completions per prompt, 1 to {openai_api.MAX_CHOICES}",
                "best_of": "generate this many and return the best `n`",
                "max_tokens": "the most tokens per completion; default 16",
            },
            required=frozenset({"model", "prompt"}),
            passthrough={
                "temperature": ("number", "0 to 2"),
                "stop": ("string or array", "sequences that end the completion"),
                "suffix": ("string", "text after the completion"),
                "echo": ("boolean", "repeat the prompt in the answer"),
            },
        ),
        "openai.embeddings": Endpoint(
            struct=openai_wire.EmbeddingRequest,
            notes={
                "model": "an embedding model (`text-embedding-3-small`, "
                "`text-embedding-3-large`, `gemini-embedding-001`…)",
                "input": "a string, an array of strings, or token arrays",
            },
            required=frozenset({"model", "input"}),
            passthrough={
                "encoding_format": ("string", "`float` (default) or `base64`"),
                "dimensions": ("integer", "shorter vectors (text-embedding-3 models)"),
            },
        ),
        "openai.speech": Endpoint(
            struct=openai_wire.SpeechRequest,
            notes={
                "model": "a speech model (`tts-1`, `tts-1-hd`)",
                "input": "the text to say; must not be empty; priced per character",
                "voice": "`alloy`, `echo`, `fable`, `onyx`, `nova`, `shimmer`…",
            },
            required=frozenset({"model", "input", "voice"}),
            passthrough={
                "response_format": (
                    "string",
                    "`mp3` (default), `opus`, `aac`, `flac`, `wav`, `pcm`",
                ),
                "speed": ("number", "0.25 to 4.0"),
            },
        ),
        "openai.images": Endpoint(
            struct=openai_wire.ImageRequest,
            notes={
                "prompt": "what to draw; must not be empty",
                "model": "any image model of the gateway: `dall-e-3`, `dall-e-2`, `flux-*`, "
                "`ideogram-*`, `kling-v1`…; default `dall-e-2`",
                "n": f"how many images, 1 to {images_api.MAX_IMAGES} (each model has its own "
                "maximum: DALL·E 3 makes 1)",
                "size": "`WIDTHxHEIGHT`; each model takes its own sizes (a size it cannot make "
                "is refused naming the ones it can)",
                "response_format": "`url` (default) or `b64_json`",
                "quality": "`standard` or `hd` (DALL·E 3)",
                "style": "`vivid` or `natural` (DALL·E 3)",
            },
            required=frozenset({"prompt"}),
        ),
        "anthropic.messages": Endpoint(
            struct=anthropic_wire.Routing,
            notes={
                "model": "any chat model of the gateway (Claude models are relayed as sent, "
                "others translated)",
                "max_tokens": "the most tokens the answer may have; at least 1",
                "messages": "the conversation, at least one `{role, content}`",
                "stream": "answer as Anthropic's server-sent events",
            },
            required=frozenset({"model", "max_tokens", "messages"}),
            passthrough={
                "system": ("string or array", "the system prompt"),
                "temperature": ("number", "0 to 1"),
                "tools": ("array", "`{name, description, input_schema}`"),
                "tool_choice": ("object", "`{type: auto | any | tool | none}`"),
                "thinking": ("object", "`{type: enabled, budget_tokens}` extended thinking"),
                "stop_sequences": ("array", "strings that end the answer"),
                "metadata": ("object", "`{user_id}`"),
            },
        ),
        "gemini.generate": Endpoint(
            struct=gemini_wire.Routing,
            notes={
                "contents": "the conversation, at least one `{role, parts}`",
                "generationConfig": "generation settings (relayed, see below)",
                "generationConfig.maxOutputTokens": "the most tokens the answer may have",
            },
            required=frozenset({"contents"}),
            passthrough={
                "systemInstruction": ("object", "`{parts: [{text}]}`"),
                "generationConfig.*": (
                    "any JSON",
                    "`temperature`, `topP`, `stopSequences`, "
                    "`responseMimeType`, `responseSchema`, `thinkingConfig`…",
                ),
                "tools": ("array", "`[{functionDeclarations: [...]}]`"),
                "safetySettings": ("array", "relayed to Gemini models"),
            },
        ),
        "kling.text2video": Endpoint(
            struct=kling.VideoRequest,
            notes=_kling_video_notes(image=False),
            required=frozenset({"prompt"}),
            example={"model_name": "kling-v1", "prompt": "a cat waves"},
            check=_kling_video(kling.TEXT2VIDEO),
        ),
        "kling.image2video": Endpoint(
            struct=kling.VideoRequest,
            notes=_kling_video_notes(image=True),
            required=frozenset({"image", "mode", "duration"}),
            example={
                "model_name": "kling-v1",
                "image": _IMAGE_EXAMPLE,
                "prompt": "a cat waves",
                "mode": "std",
                "duration": "5",
            },
            check=_kling_video(kling.IMAGE2VIDEO),
        ),
        "kling.images": Endpoint(
            struct=kling.ImageRequest,
            notes={
                "model_name": f"one of {_ids(_KLING_MODELS)}; default `kling-v1`",
                "prompt": _KLING_TEXT + "; required",
                "negative_prompt": _KLING_TEXT + "; not with `image`",
                "image": "a reference image: " + _KLING_IMAGE,
                "image_reference": "`subject` or `face`; needs `image`; `kling-v1-5` only",
                "image_fidelity": "from 0 to 1: how closely to follow `image`",
                "human_fidelity": "from 0 to 1: how closely to follow the face",
                "resolution": "`1k` or `2k`",
                "n": "how many images, 1 to 9 (each is charged)",
                "aspect_ratio": "the images' shape; default `16:9`",
                **_KLING_DELIVERY,
            },
            required=frozenset({"prompt"}),
            example={"model_name": "kling-v1", "prompt": "a lighthouse"},
            check=lambda body: kling.check_images(
                kling.decode(body, kling.ImageRequest), _KLING_MODELS
            ),
        ),
        "suno.music": Endpoint(
            struct=suno.SubmitRequest,
            notes={
                "prompt": f"custom mode: your lyrics, at most {suno.MAX_LYRICS} characters "
                "(or, without lyrics, `gpt_description_prompt`)",
                "gpt_description_prompt": "inspiration mode: what the song is about, at most "
                f"{suno.MAX_DESCRIPTION} characters; not with `prompt`",
                "mv": f"the model: {_ids(_SUNO_MODELS)}…; default `{suno.DEFAULT_MV}`",
                "title": f"at most {suno.MAX_TITLE} characters",
                "tags": f"style tags (`pop, upbeat`), at most {suno.MAX_TAGS} characters",
                "make_instrumental": "no vocals",
                "continue_at": "continuation: the second of the clip to continue from (≥ 0)",
                "continue_clip_id": "continuation: the clip to extend (one of your "
                f"succeeded tasks' clips, at most {suno.MAX_ID} characters)",
                "task_id": "continuation: the task that made `continue_clip_id`",
                "notify_hook": "an http(s) URL omnirelay POSTs the task to when it changes",
            },
            required=frozenset({"prompt"}),
            example={"prompt": "[Verse]\nla la la", "tags": "pop"},
            check=lambda body: suno.check_music(
                suno.decode(body, suno.SubmitRequest), _SUNO_MODELS
            ),
        ),
        "suno.lyrics": Endpoint(
            struct=suno.SubmitRequest,
            notes={
                "prompt": f"what the lyrics are about; required; at most "
                f"{suno.MAX_LYRICS_PROMPT} characters",
                "notify_hook": "an http(s) URL omnirelay POSTs the task to when it changes",
                **{
                    name: "not used for lyrics"
                    for name in (
                        "gpt_description_prompt",
                        "mv",
                        "title",
                        "tags",
                        "make_instrumental",
                        "continue_at",
                        "continue_clip_id",
                        "task_id",
                    )
                },
            },
            required=frozenset({"prompt"}),
            example={"prompt": "a song about the sea"},
            check=lambda body: suno.check_lyrics(suno.decode(body, suno.SubmitRequest)),
        ),
        "suno.fetch": Endpoint(
            struct=suno.FetchRequest,
            notes={
                "ids": f"task ids (yours), at most {suno_api.MAX_FETCH_IDS}",
                "action": "`MUSIC` or `LYRICS` to keep only those",
            },
            required=frozenset({"ids"}),
        ),
        "ideogram.generate": Endpoint(
            struct=ideogram.GenerateRequest,
            notes={
                "image_request": "the request; required",
                "image_request.prompt": f"required; at most {ideogram.MAX_PROMPT} characters",
                "image_request.model": f"{_ids(ideogram.LEGACY_MODELS)}; default `V_2`",
                "image_request.aspect_ratio": "`ASPECT_1_1`, `ASPECT_16_9`, `ASPECT_9_16`, "
                "`ASPECT_4_3`…; not with `resolution`",
                "image_request.resolution": "`RESOLUTION_1024_1024`…; V_2 and newer",
                "image_request.magic_prompt_option": _ids(ideogram.MAGIC_OPTIONS),
                "image_request.seed": f"0 to {ideogram.MAX_SEED}",
                "image_request.style_type": f"{_ids(ideogram.LEGACY_STYLES)}; V_2 and newer",
                "image_request.negative_prompt": "what to avoid; V_2 and newer",
                "image_request.num_images": f"1 to {ideogram.MAX_IMAGES}; default 1",
                "image_request.color_palette": "a preset `{name}` "
                f"({_ids(ideogram.PALETTES)}) or `{{members: [...]}}`",
            },
            required=frozenset({"image_request", "image_request.prompt"}),
            example={"image_request": {"prompt": "a lighthouse"}},
            check=ideogram.check_legacy,
        ),
        "midjourney.imagine": Endpoint(
            struct=mj.ImagineRequest,
            notes={
                "prompt": f"required; at most {mj.MAX_PROMPT} characters; Midjourney "
                "parameters (`--ar 16:9`, `--v 6`) go in the prompt",
                "base64Array": f"reference images as data URLs, at most {mj.MAX_IMAGES}",
                "base64": "one reference image (the original proxy's field)",
                "botType": "`MID_JOURNEY` (default) or `NIJI_JOURNEY`",
                "accountFilter": "accepted for compatibility; the gateway picks the channel",
                "notifyHook": f"an http(s) URL for status callbacks, at most "
                f"{mj.MAX_NOTIFY_HOOK} characters",
                "state": f"your own text, echoed in the task, at most {mj.MAX_STATE} characters",
            },
            required=frozenset({"prompt"}),
            example={"prompt": "a lighthouse at dusk"},
            check=lambda body: mj_plans.plan_imagine(
                mj.decode(body, mj.ImagineRequest), mj.DEFAULT_MODE
            ),
        ),
    }
)
