"""Claude Code's real requests (captured from @anthropic-ai/claude-code 2.1.332, in
tests/fixtures/claude_code/) translated to every vendor, each result checked by the sandbox's
strict imitation of that vendor: what the real API would refuse, the sandbox refuses.

The fixtures: a first turn and a tool-result turn, for a Claude model (thinking by budget,
signed thinking blocks) and for a model Claude Code does not know (adaptive thinking, effort,
a ``system`` message inside ``messages``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from omnirelay.catalogue import builtin_models
from omnirelay.formats import neutral
from omnirelay.formats.codec import codec
from omnirelay.sandbox import anthropic_rules
from omnirelay.sandbox import gemini as sandbox_gemini
from omnirelay.sandbox import openai as sandbox_openai
from omnirelay.sandbox.chat import SandboxInputError, validate_chat
from omnirelay.sandbox.gemini_rules import check_output_limit, check_thinking

FIXTURES = Path(__file__).parents[1] / "fixtures" / "claude_code"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.json"))


def fixture(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / f"{name}.json").read_text()))


LIMITS = {m.name: m.max_output_tokens for m in builtin_models()}


def decoded(name: str, model: str = "m") -> neutral.Request:
    """The fixture in the pivot, held to ``model``'s output limit as the gateway holds it."""
    body = json.dumps(fixture(name)["body"]).encode()
    request = codec("anthropic").decode_request(body, model=model, stream=True)
    limit = LIMITS.get(model)
    if limit is not None and request.max_tokens is not None:
        request.max_tokens = min(request.max_tokens, limit)
    return request


def test_the_fixtures_are_what_claude_code_sends() -> None:
    assert NAMES == [
        "claude_model_first_turn",
        "claude_model_tool_result",
        "other_model_first_turn",
        "other_model_tool_result",
    ]
    other = fixture("other_model_first_turn")
    body = other["body"]
    assert {"context-management-2025-06-27", "effort-2025-11-24"} <= set(
        other["anthropic-beta"].split(",")
    )
    assert body["thinking"] == {"type": "adaptive", "display": "omitted"}
    assert body["output_config"] == {"effort": "high"}
    assert [m["role"] for m in body["messages"]] == ["user", "system"]
    assert body["tools"][0]["input_schema"]["$schema"].endswith("2020-12/schema")
    assert fixture("claude_model_first_turn")["body"]["thinking"]["type"] == "enabled"


@pytest.mark.parametrize("name", NAMES)
def test_the_sandbox_takes_them_as_the_real_api_does(name: str) -> None:
    """Passed through to a Claude vendor untouched: today's API (and the sandbox) takes them."""
    document = fixture(name)
    body = document["body"]
    betas = document["anthropic-beta"].split(",")
    if body["model"] in anthropic_rules.MODELS:
        anthropic_rules.validate(body, betas)
        return
    body = {**body, "model": "claude-sonnet-4-6"}  # a model with adaptive thinking
    if name == "other_model_tool_result":
        # A tool call made by another vendor carries no signed thinking: Claude refuses
        # thinking there (so the translation leaves thinking off: test_to_claude_...).
        with pytest.raises(SandboxInputError, match="must start with a thinking block"):
            anthropic_rules.validate(body, betas)
        return
    anthropic_rules.validate(body, betas)


@pytest.mark.parametrize("name", NAMES)
def test_decoding_keeps_what_the_model_reads(name: str) -> None:
    request = decoded(name)
    body = fixture(name)["body"]
    # The system blocks and the system message inside messages, all instructions.
    assert request.system[0].startswith("x-anthropic-billing-header")
    assert any("You are" in s for s in request.system)
    if name.startswith("other"):
        assert any(s.startswith("# Environment") for s in request.system)
        assert request.reasoning == neutral.Reasoning(effort="high", include_thoughts=False)
    else:
        assert request.reasoning == neutral.Reasoning(budget_tokens=31999, include_thoughts=False)
    # The deferred placeholder stays hidden, as from Claude; the other tools are all there.
    assert [t.name for t in request.tools] == [
        t["name"] for t in body["tools"] if not t.get("defer_loading")
    ]
    assert request.user is not None and "device_id" in request.user
    if name.endswith("tool_result"):
        calls = [p for m in request.messages for p in m.parts if isinstance(p, neutral.ToolCall)]
        results = [
            p for m in request.messages for p in m.parts if isinstance(p, neutral.ToolResult)
        ]
        assert [c.id for c in calls] == [r.id for r in results] and calls[0].name == "Read"


OPENAI_MODELS = {"gpt-4o-mini": None, "o4-mini": "high"}


@pytest.mark.parametrize("model", list(OPENAI_MODELS))
@pytest.mark.parametrize("name", NAMES)
def test_to_openai(name: str, model: str) -> None:
    body = json.loads(codec("openai").encode_request(decoded(name, model), model))
    validate_chat(body)
    sandbox_openai.check_output_limit(body)
    roles = [m["role"] for m in body["messages"]]
    assert roles[: roles.index("user")] == ["system"] * roles.index("user")
    assert body.get("reasoning_effort") == OPENAI_MODELS[model]
    assert len(body["user"]) <= 64
    for tool in body["tools"]:
        assert "$schema" not in tool["function"]["parameters"]
        assert tool["function"]["parameters"]["type"] == "object"
    if name.endswith("tool_result"):
        (call,) = next(m for m in body["messages"] if m.get("tool_calls"))["tool_calls"]
        (result,) = [m for m in body["messages"] if m["role"] == "tool"]
        assert result["tool_call_id"] == call["id"] and "PELICAN" in result["content"]


GEMINI_MODELS = ["gemini-2.5-flash", "gemini-2.0-flash", "gemini-2.5-pro"]


@pytest.mark.parametrize("model", GEMINI_MODELS)
@pytest.mark.parametrize("name", NAMES)
def test_to_gemini(name: str, model: str) -> None:
    body = json.loads(codec("gemini").encode_request(decoded(name, model), model))
    sandbox_gemini.validate(body)  # the strict Schema: no $schema, $defs, additionalProperties…
    check_output_limit(model, body["generationConfig"])
    config = body.get("generationConfig", {}).get("thinkingConfig")
    check_thinking(model, config)
    if model == "gemini-2.0-flash":
        assert config is None  # it does not think: no config it could refuse
    else:
        assert config is not None and config["includeThoughts"] is False
        assert config.get("thinkingBudget", 0) != 0
    assert "Environment" in json.dumps(body["systemInstruction"]) or name.startswith("claude")
    declared = body["tools"][0]["functionDeclarations"]
    assert len(declared) == len(
        [t for t in fixture(name)["body"]["tools"] if not t.get("defer_loading")]
    )
    if name.endswith("tool_result"):
        model_turn = body["contents"][-2]
        (call,) = [p["functionCall"] for p in model_turn["parts"] if "functionCall" in p]
        (result,) = [
            p["functionResponse"] for p in body["contents"][-1]["parts"] if "functionResponse" in p
        ]
        assert call["name"] == result["name"] == "Read"


@pytest.mark.parametrize(
    "model", ["claude-sonnet-4-20250514", "claude-sonnet-4-6", "claude-3-5-haiku-20241022"]
)
@pytest.mark.parametrize("name", NAMES)
def test_to_claude_through_the_pivot(name: str, model: str) -> None:
    """Re-encoded for Claude (as for a client of another format): the signed thinking goes
    back as it came; thinking is asked for only as the model can, and never mid tool use
    without the signed thinking the API requires then."""
    request = decoded(name, model)
    body = json.loads(codec("anthropic").encode_request(request, model))
    anthropic_rules.validate(body, [])
    thinking = body.get("thinking")
    if model == "claude-3-5-haiku-20241022":
        assert thinking is None
    elif name == "other_model_tool_result":
        assert thinking is None  # the tool call came from a vendor that signs nothing
    elif model == "claude-sonnet-4-6" and name.startswith("other"):
        assert thinking == {"type": "adaptive", "display": "omitted"}
        assert body["output_config"] == {"effort": "high"}
    else:
        assert thinking is not None and thinking["type"] == "enabled"
        assert thinking["budget_tokens"] < body["max_tokens"]
    if name == "claude_model_tool_result":
        assistant = body["messages"][-2]
        original = fixture(name)["body"]["messages"][-2]["content"][0]
        assert assistant["content"][0] == {
            k: original[k] for k in ("type", "thinking", "signature")
        }
