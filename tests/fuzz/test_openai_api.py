"""schemathesis against the official OpenAI OpenAPI document, cut to the routes omnirelay
serves (tests/fixtures/openai_openapi/, its source noted there), with a real key. Cases name
real models half of the time, so the fuzzing reaches translation and the vendors (the
sandbox), not only the model lookup."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from tests.fuzz.test_admin_api import known_secrets
from tests.support.fuzzing import fuzz
from tests.support.servers import GatewayProcess

DOCUMENT = Path(__file__).parents[1] / "fixtures" / "openai_openapi" / "openapi.json"
# Real models for each operation's ``model`` field (OpenAI's own, and others through the pivot).
MODELS = {
    "/chat/completions": ["gpt-4o-mini", "claude-sonnet-4-20250514", "gemini-2.0-flash"],
    "/completions": ["gpt-3.5-turbo-instruct", "gpt-4o-mini"],
    "/embeddings": ["text-embedding-3-small", "gemini-embedding-001"],
    "/images/generations": ["dall-e-3", "dall-e-2", "flux-pro-1.1"],
    "/audio/speech": ["tts-1", "tts-1-hd"],
    "/audio/transcriptions": ["whisper-1"],
    "/audio/translations": ["whisper-1"],
    "/responses": ["gpt-4o-mini", "claude-sonnet-4-20250514", "gemini-2.0-flash"],
}


def test_the_document_is_the_trimmed_official_one() -> None:
    document = json.loads(DOCUMENT.read_text())
    source = document["info"]["x-source"]
    assert (
        source["repository"] == "github.com/openai/openai-openapi" and len(source["commit"]) == 40
    )
    assert set(document["paths"]) == {
        "/chat/completions",
        "/completions",
        "/embeddings",
        "/images/generations",
        "/audio/speech",
        "/audio/transcriptions",
        "/audio/translations",
        "/models",
        "/models/{model}",
        "/responses",
        "/responses/{response_id}",
        "/responses/{response_id}/input_items",
    }


@pytest.mark.timeout(1800)
def test_the_openai_surface_holds_under_fuzzing(target: GatewayProcess) -> None:
    key, _ = target.create_key("fuzz-openai", quota_usd=1000)
    document = json.loads(DOCUMENT.read_text())

    def adjust(case: Any, data: Any) -> bool:
        models = MODELS.get(case.operation.path)
        if models and isinstance(case.body, dict) and data.draw(st.booleans()):
            case.body["model"] = data.draw(st.sampled_from(models))
        if case.operation.path == "/models/{model}" and data.draw(st.booleans()):
            case.path_parameters = {
                "model": data.draw(st.sampled_from(MODELS["/chat/completions"]))
            }
        return True

    findings = fuzz(
        document,
        base_url=target.v1,
        headers={"Authorization": f"Bearer {key}"},
        secrets=[*known_secrets(target), key],
        adjust=adjust,
    )
    findings.report("openai")
    assert len(findings.sent) >= 20, sorted(findings.sent)
    assert findings.problems == [], "\n".join(findings.problems[:20])
