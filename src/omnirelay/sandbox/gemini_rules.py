"""What the sandbox's Gemini checks beyond the envelope, as the real API does: the Schema of
``parameters`` and ``responseSchema`` (its own keywords only; ``parametersJsonSchema`` takes
JSON Schema as it is), ``thinkingConfig`` per model, and the prompt as tokens (for counting
and for implicit caching).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from omnirelay.sandbox.chat import SandboxInputError

_TYPES = frozenset({"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"})
SCHEMA_FIELDS = frozenset(
    {
        "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
        "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
        "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum",
        "maximum",
    }
)  # fmt: skip
_FORMATS = {
    "STRING": frozenset({"enum", "date-time"}),
    "NUMBER": frozenset({"float", "double"}),
    "INTEGER": frozenset({"int32", "int64"}),
}


def unknown_field(where: str, name: str) -> SandboxInputError:
    return SandboxInputError(
        f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': Cannot find field."
    )


def check_schema(schema: Any, where: str) -> None:
    """Gemini's Schema proto: unknown keywords are errors, enums are for strings."""
    if not isinstance(schema, dict):
        raise SandboxInputError(f"{where}: a schema must be an object")
    for name in schema:
        if name not in SCHEMA_FIELDS:
            raise unknown_field(where, name)
    kind = str(schema.get("type", "")).upper() or None
    if kind is not None and kind not in _TYPES:
        raise SandboxInputError(f"{where}.type: invalid value {schema['type']!r}")
    if "enum" in schema and kind not in (None, "STRING"):
        raise SandboxInputError(f"{where}.enum: only allowed for STRING type")
    fmt = schema.get("format")
    if fmt is not None and kind in _FORMATS and fmt not in _FORMATS[kind]:
        allowed = " and ".join(f"'{f}'" for f in sorted(_FORMATS[kind]))
        raise SandboxInputError(f"{where}.format: only {allowed} are supported for {kind} type")
    for name, sub in (schema.get("properties") or {}).items():
        check_schema(sub, f"{where}.properties[{name}]")
    if "items" in schema:
        check_schema(schema["items"], f"{where}.items")
    for i, option in enumerate(schema.get("anyOf") or ()):
        check_schema(option, f"{where}.any_of[{i}]")


@dataclass(frozen=True, slots=True)
class Thinking:
    """A thinking model's budget range; ``can_stop``: a budget of 0 turns thinking off."""

    low: int
    high: int
    can_stop: bool = True
    cache_minimum: int = 1024  # implicit caching's shortest prefix


THINKING_MODELS = {
    "gemini-2.5-flash": Thinking(1, 24576),
    "gemini-2.5-pro": Thinking(128, 32768, can_stop=False, cache_minimum=4096),
}


MAX_OUTPUT = {
    "gemini-2.0-flash": 8192,
    "gemini-2.0-flash-lite": 8192,
    "gemini-1.5-pro": 8192,
    "gemini-1.5-flash": 8192,
    "gemini-2.5-pro": 65536,
    "gemini-2.5-flash": 65536,
}


def check_output_limit(model: str, config: dict[str, Any]) -> None:
    asked = config.get("maxOutputTokens")
    limit = MAX_OUTPUT.get(model)
    if isinstance(asked, int) and limit is not None and asked > limit:
        raise SandboxInputError(
            f"Unable to submit request because it has a maxOutputTokens value of {asked} but "
            f"the supported range is from 1 (inclusive) to {limit + 1} (exclusive)."
        )


def check_thinking(model: str, config: Any) -> None:
    if config is None:
        return
    if not isinstance(config, dict):
        raise SandboxInputError("generationConfig.thinkingConfig: must be an object")
    for name in config:
        if name not in ("thinkingBudget", "includeThoughts", "thinkingLevel"):
            raise unknown_field("generation_config.thinking_config", name)
    limits = THINKING_MODELS.get(model)
    budget = config.get("thinkingBudget")
    if limits is None or budget is None or budget == -1:
        return  # models that do not think ignore the config; -1: as the model judges
    if budget == 0 and not limits.can_stop:
        raise SandboxInputError("Budget 0 is invalid. This model only works in thinking mode.")
    if budget != 0 and not limits.low <= budget <= limits.high:
        raise SandboxInputError(
            f"The thinking budget {budget} is invalid. Please choose a value between "
            f"{limits.low} and {limits.high}."
        )


def thinks(model: str, config: dict[str, Any] | None) -> bool:
    """Whether this answer thinks (the 2.5 models do unless told a budget of 0)."""
    return model in THINKING_MODELS and (config or {}).get("thinkingBudget", -1) != 0


def text_of(content: dict[str, Any]) -> str:
    return " ".join(p["text"] for p in content["parts"] if "text" in p and not p.get("thought"))


def prompt_tokens(body: dict[str, Any]) -> list[str]:
    """The prompt as the sandbox's tokens: system words, the tools (a token per four
    characters), per content four framing tokens, its words and 258 tokens a media part."""
    tokens: list[str] = []
    system = body.get("systemInstruction")
    if system:
        tokens += text_of(system).split()
    if body.get("tools"):
        text = json.dumps(body["tools"])
        tokens += [text[i : i + 4] for i in range(0, len(text) - 3, 4)]
    for content in body.get("contents") or []:
        tokens += [f"<{content.get('role', 'user')}>"] * 4
        tokens += text_of(content).split()
        for part in content["parts"]:
            media = part.get("inlineData") or part.get("fileData")
            if media is not None:
                digest = hashlib.sha256(json.dumps(media).encode()).hexdigest()[:8]
                tokens += [digest] * 258
    return tokens
