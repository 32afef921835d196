"""What each documentation sample must show: one check per sample file.

Runnable samples (``.py``, ``.sh``) are run by ``test_samples.py`` and their ``Outcome`` is
checked here. Samples a test cannot run as such (a coding agent's settings, a server's
command line, a proxy's config) are held to the gateway in another way: the settings they give
are used the way the product uses them, and the commands they show are parsed by the real CLI.
"""

from __future__ import annotations

import json
import re
import shlex
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from omnirelay import cli, config
from omnirelay.vendors import default_vendors
from tests.docs.runner import ROOT, SAMPLES_DIR, Outcome

PLACEHOLDER = "https://omnirelay.example.com"


@dataclass
class Context:
    """What a static check may use: the live gateway and the reader's key."""

    base_url: str
    key: str
    admin_key: str

    def client(self) -> httpx.Client:
        return httpx.Client(headers={"Authorization": f"Bearer {self.key}"}, timeout=30)

    def models(self) -> set[str]:
        with self.client() as http:
            return {m["id"] for m in http.get(self.base_url + "/v1/models").json()["data"]}

    def real(self, url: str) -> str:
        return url.replace(PLACEHOLDER, self.base_url)


Check = Callable[[Outcome], None]
StaticCheck = Callable[[str, Context], None]


# Runnable samples.


def lines_matching(*patterns: str) -> Check:
    """Every pattern is found (a regex) somewhere in stdout."""

    def check(outcome: Outcome) -> None:
        for pattern in patterns:
            assert re.search(pattern, outcome.stdout, re.MULTILINE), (
                f"{pattern!r} not in output\n{outcome.describe()}"
            )

    return check


def json_doc(test: Callable[[Any], bool]) -> Check:
    def check(outcome: Outcome) -> None:
        document = outcome.json()
        assert test(document), outcome.describe()

    return check


def json_docs(test: Callable[[list[Any]], bool]) -> Check:
    def check(outcome: Outcome) -> None:
        assert test(outcome.documents()), outcome.describe()

    return check


def sse(data_test: Callable[[list[Any]], bool], done: bool = True) -> Check:
    """A server-sent event stream: its ``data:`` payloads (JSON) pass ``data_test``."""

    def check(outcome: Outcome) -> None:
        payloads = [
            line[len("data: ") :]
            for line in outcome.stdout.splitlines()
            if line.startswith("data: ")
        ]
        assert payloads, outcome.describe()
        if done:
            assert payloads[-1] == "[DONE]", outcome.describe()
            payloads = payloads[:-1]
        assert data_test([json.loads(p) for p in payloads]), outcome.describe()

    return check


def chunk_text(chunks: list[Any]) -> str:
    return "".join(
        (c["choices"][0]["delta"].get("content") or "") for c in chunks if c.get("choices")
    )


def files(*names: str, magic: bytes | None = None, min_size: int = 100) -> Check:
    """The sample left these files behind, of real content."""

    def check(outcome: Outcome) -> None:
        for name in names:
            path = outcome.cwd / name
            assert path.is_file(), f"{name} missing\n{outcome.describe()}"
            data = path.read_bytes()
            assert len(data) >= min_size, (name, len(data))
            if magic is not None:
                assert data.startswith(magic) or magic in data[:4096], (name, data[:16])

    return check


def all_of(*checks: Check) -> Check:
    def check(outcome: Outcome) -> None:
        for each in checks:
            each(outcome)

    return check


PNG = b"\x89PNG"
MP3_FRAME = re.compile(rb"^(ID3|\xff[\xe0-\xff])")
MP4 = b"ftyp"


def mp3(name: str) -> Check:
    def check(outcome: Outcome) -> None:
        data = (outcome.cwd / name).read_bytes()
        assert MP3_FRAME.match(data), (name, data[:8])

    return check


def _ok_message(doc: Any) -> bool:
    return bool(doc["choices"][0]["message"]["content"])


def _task_ok(doc: Any) -> bool:
    return doc["code"] == 0 and doc["data"]["task_status"] in ("submitted", "processing")


RUN_CHECKS: dict[str, Check] = {
    "start/models.sh": json_doc(lambda d: d["object"] == "list" and len(d["data"]) > 10),
    "start/first-request.sh": json_doc(_ok_message),
    "start/first-request.py": lines_matching(r"Hello, relay!", r"^\d+ tokens$"),
    "start/balance.sh": json_doc(lambda d: d["object"] == "billing_subscription"),
    "start/auth-headers.sh": lines_matching(
        r"OpenAI +200", r"Anthropic +200", r"Gemini +200", r"Midjourney +200", r"no key +401"
    ),
    "start/error.sh": json_doc(lambda d: d["error"]["code"] == "model_not_found"),
    "chat/chat.sh": json_doc(_ok_message),
    "chat/chat-completion.py": lines_matching(r"finish_reason: stop", r"usage: \d+ in, \d+ out"),
    "chat/stream.sh": sse(lambda c: len(c) > 2 and c[-1]["usage"]["total_tokens"] > 0),
    "chat/chat-stream.py": lines_matching(r"Count to five", r"usage: \d+ tokens"),
    "chat/vision-url-stream.sh": sse(lambda c: "image" in chunk_text(c)),
    "chat/vision-base64-stream.sh": sse(lambda c: "inline image/png" in chunk_text(c)),
    "chat/vision.sh": json_doc(lambda d: "image" in d["choices"][0]["message"]["content"]),
    "chat/vision-stream.py": lines_matching(r"2 image\(s\)", r"inline image/png"),
    "chat/tools.sh": json_doc(
        lambda d: (
            d["choices"][0]["finish_reason"] == "tool_calls"
            and d["choices"][0]["message"]["tool_calls"][0]["function"]["name"]
            == "get_current_weather"
        )
    ),
    "chat/function-calling.py": lines_matching(
        r"the model calls: get_current_weather \{.*location", r"answer: .*72"
    ),
    "chat/n.sh": json_doc(lambda d: [c["index"] for c in d["choices"]] == [0, 1, 2]),
    "chat/n-choices.py": lines_matching(r"^0 ", r"^1 ", r"^2 ", r"completion tokens"),
    "chat/structured.sh": json_doc(
        lambda d: (
            set(json.loads(d["choices"][0]["message"]["content"]))
            == {"name", "date", "participants"}
        )
    ),
    "chat/structured-output.py": lines_matching(r"^CalendarEvent \{'name': .*'participants': \["),
    "chat/completions.sh": json_doc(lambda d: d["object"] == "text_completion"),
    "chat/text-completion.py": lines_matching(r"'.+' (length|stop)"),
    "chat/embeddings.sh": json_doc(
        lambda d: len(d["data"]) == 2 and len(d["data"][0]["embedding"]) == 1536
    ),
    "chat/embedding-similarity.py": lines_matching(r"2 vectors of 1536 dimensions"),
    "chat/speech.sh": all_of(files("speech.mp3", min_size=1000), mp3("speech.mp3")),
    "chat/transcription.sh": json_doc(lambda d: "speech.mp3" in d["text"]),
    "chat/translation.sh": json_doc(lambda d: "translate" in d["text"]),
    "chat/responses.sh": json_doc(
        lambda d: d["object"] == "response" and d["status"] == "completed"
    ),
    "chat/responses-api.py": lines_matching(
        r"call: get_weather .*Paris", r"answer: .*sunny", r"Tell me a story", r"stored: completed"
    ),
    "claude/messages.sh": json_doc(lambda d: d["type"] == "message" and d["content"][0]["text"]),
    "claude/claude-messages.py": lines_matching(
        r"Hello, Claude", r"^end_turn \d+ \d+$", r"Count to three", r"^gpt-4o-mini "
    ),
    "claude/claude-tools.py": lines_matching(r"tool: get_weather \{'city': 'Paris'\}", r"18°C"),
    "claude/count-tokens.sh": json_doc(lambda d: d["input_tokens"] > 0),
    "claude/openai-sdk.py": lines_matching(r"^claude-3-5-sonnet-20241022 -> .+"),
    "claude/stream.sh": lines_matching(r"event: message_start", r"event: message_stop"),
    "claude/prompt-caching.py": lines_matching(
        r"call 2: input \d+, cache write \d+, cache read [1-9]\d*"
    ),
    "gemini/generate.sh": json_doc(lambda d: d["candidates"][0]["finishReason"] == "STOP"),
    "gemini/stream.sh": sse(lambda c: c[-1]["candidates"][0]["finishReason"] == "STOP", done=False),
    "gemini/gemini-generate.py": lines_matching(
        r"Explain how AI works", r"\d+ tokens", r"\d+ dimensions"
    ),
    "gemini/count-tokens.sh": json_doc(lambda d: d["totalTokens"] > 0),
    "images/dall-e-3.sh": json_doc(lambda d: d["data"][0]["url"].startswith("http")),
    "images/dall-e-3.py": all_of(lines_matching(r"saved cat.png"), files("cat.png", magic=PNG)),
    "images/flux.sh": json_doc(lambda d: len(d["data"]) == 2),
    "images/flux-images.py": files("fox-0.png", "fox-1.png"),
    "images/ideogram.sh": json_doc(
        lambda d: len(d["data"]) == 2 and d["data"][0]["resolution"] == "1280x768"
    ),
    "images/ideogram-v3.sh": json_doc(lambda d: len(d["data"]) == 2),
    "images/ideogram-generate.py": lines_matching(r"saved fox-\d+\.png \d+x\d+"),
    "images/kling-image.sh": lines_matching(r"status: succeed", r"^https?://\S+\.png$"),
    "images/kling-image.py": lines_matching(r"^https?://\S+"),
    "images/midjourney.sh": all_of(
        lines_matching(r"SUCCESS 100%", r'"code":1'), files("grid.png", magic=PNG)
    ),
    "images/midjourney-submit.sh": json_doc(lambda d: d["code"] == 1 and d["result"]),
    "images/midjourney-buttons.py": all_of(
        lines_matching(r"IMAGINE SUCCESS", r"UPSCALE SUCCESS", r"code 21", r"ZOOM SUCCESS"),
        files("koi.png", magic=PNG),
    ),
    "images/midjourney-describe.py": lines_matching(r"1️⃣ .+", r"4️⃣ .+"),
    "video/image2video.sh": lines_matching(r"task: \S+", r"status: succeed", r'"url": "http'),
    "video/image2video-submit.sh": json_doc(_task_ok),
    "video/image-to-video.py": all_of(
        lines_matching(r"saved video.mp4, 5 seconds"), files("video.mp4", magic=MP4)
    ),
    "video/text2video.sh": lines_matching(r"task: \S+", r"status: succeed"),
    "video/list.sh": json_doc(lambda d: d["code"] == 0 and isinstance(d["data"], list)),
    "video/invalid.sh": lines_matching(r'"code":1201', r'"message":"duration: ', r"HTTP 400"),
    "video/query.sh": json_doc(lambda d: d["data"]["task_status"] == "succeed"),
    "suno/music.sh": lines_matching(r"SUCCESS 100%", r"^.+: https?://\S+\.mp3$"),
    "suno/submit-custom.sh": json_doc(lambda d: d["code"] == "success" and d["data"]),
    "suno/lyrics.sh": json_doc(lambda d: d["data"]["action"] == "LYRICS"),
    "suno/fetch-many.sh": json_doc(lambda d: len(d["data"]) == 2),
    "suno/suno-music.py": lines_matching(
        r"Keeper https?://\S+\.mp3 [\d.]+ s", r"continuation: SUCCESS"
    ),
    "python/openai-library.py": lines_matching(r"/v1/$", r"\d+ models, e.g.", r"Say hello"),
    "python/speech-to-text.py": lines_matching(
        r"transcribe of speech.mp3", r"translate of speech.mp3"
    ),
    "python/text-to-speech.py": all_of(lines_matching(r"saved speech.mp3"), mp3("speech.mp3")),
    "python/embeddings-search.py": lines_matching(r"^[+-]\d\.\d{3}  ", r"\d+ tokens"),
    "python/dall-e.py": files("otter.png", magic=PNG),
    "python/langchain-demo.py": lines_matching(
        r"Good morning", r"Name three colours", r"^1536 dimensions$"
    ),
    "python/llama-index.py": lines_matching(
        r"Paul Graham is", r"Which vendor makes songs\?", r"source: Kling makes videos", r"Say hi"
    ),
    "python/vision-local.py": lines_matching(r"inline image/png"),
    "python/vision-url.py": lines_matching(r"an image at https://"),
    "python/streaming-output.py": lines_matching(r"Tell me a short story", r"finish_reason: stop"),
    "clients/three-sdks.py": lines_matching(
        r"^openai → claude: .+", r"^anthropic → gemini: .+", r"^google-genai → gpt: .+"
    ),
    "help/verify-webhook.py": lines_matching(
        r"submitted signature ok: True", r"succeed signature ok: True"
    ),
    "help/rate-limited.sh": lines_matching(
        r"^x-ratelimit-limit-requests: \d+", r"^x-ratelimit-remaining-requests: \d+"
    ),
    "help/usage.sh": json_docs(
        lambda d: d[0]["object"] == "billing_subscription" and "total_usage" in d[1]
    ),
    "help/redeem.sh": json_doc(lambda d: d["error"]["code"] == "invalid_code"),
    "operators/channels-admin.sh": json_docs(
        lambda d: d[0]["name"] == "openai-eu-backup" and "api_key" not in d[0] and d[1]["data"]
    ),
    "operators/prices.sh": json_docs(
        lambda d: (
            d[1]["prices_micro_usd"]["output"] == 900_000
            and d[1]["prices_micro_usd"]["input"] == 600_000
            and all(p["model"] == "kling-v1" for p in d[2:])
            and len(d) > 3
        )
    ),
    "operators/users-admin.sh": json_docs(
        lambda d: (
            d[0]["ratio"] == 0.8
            and d[1]["key"].startswith("sk-or-")
            and d[2]["user"]["balance_micro_usd"] == 35_000_000
            and d[3]["data"][0]["note"] == "invoice 42"
        )
    ),
    "operators/users-cli.sh": lines_matching(r"acme-cli", r"sk-or-\S+"),
    "operators/codes.sh": json_doc(lambda d: len(d["codes"]) == 10),
    "operators/usage.sh": json_docs(lambda d: len(d[0]["data"]) > 0 and "data" in d[1]),
}

# Files a sample reads, put in its directory before it runs (the pages say they are yours).
INPUTS: dict[str, tuple[str, ...]] = {
    "chat/vision-base64-stream.sh": ("picture.png",),
    "chat/vision-stream.py": ("picture.png",),
    "python/vision-local.py": ("picture.png",),
    "images/midjourney-describe.py": ("picture.png",),
    "chat/transcription.sh": ("speech.mp3",),
    "chat/translation.sh": ("speech.mp3",),
    "python/speech-to-text.py": ("speech.mp3",),
}


# Samples that are not run: held to the gateway another way.


def _logical_lines(text: str) -> list[str]:
    joined = text.replace("\\\n", " ")
    lines = []
    for raw in joined.splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if line:
            lines.append(line)
    return lines


_ASSIGNMENT = re.compile(r"(?:^|\s)([A-Z][A-Z0-9_]*)=(\$\([^)]*\)|\"[^\"]*\"|\S*)")


def _exports(text: str) -> dict[str, str]:
    """``export A=1 B=$(cat f)`` lines → {A: "1", B: "$(cat f)"}."""
    found: dict[str, str] = {}
    for line in _logical_lines(text):
        if line.startswith("export "):
            for name, value in _ASSIGNMENT.findall(line[len("export ") :]):
                found[name] = value.strip('"')
    return found


def _makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):", text, re.MULTILINE))


def _vendor_env_names() -> set[str]:
    """The environment variables config.py reads (vendor keys and base URLs)."""
    source = Path(config.__file__).read_text()
    return set(re.findall(r'env(?:\.get\(|\[)"([A-Z_]+)"', source)) | set(
        config._ENV_NAMES.values()
    )


def commands_parse(extra_env: set[str] = frozenset()) -> StaticCheck:  # type: ignore[assignment]
    """Each `omnirelay …` line parses with the real CLI, each `make X` is a target, and each
    exported variable is one omnirelay reads."""

    def check(text: str, context: Context) -> None:
        targets, known = _makefile_targets(), _vendor_env_names() | set(extra_env)
        seen = 0
        for line in _logical_lines(text):
            words = shlex.split(line)
            if words[0] == "omnirelay":
                args = cli.build_parser().parse_args(words[1:])
                if getattr(args, "vendor", None) is not None:
                    assert args.vendor in default_vendors(), line
                seen += 1
            elif words[0] == "make":
                assert words[1] in targets, line
                seen += 1
        for name in _exports(text):
            assert name in known, f"{name} is not a setting omnirelay reads"
        assert seen or _exports(text), "nothing checked"

    return check


def _agent_env_names(test_file: str) -> set[str]:
    source = (ROOT / "tests" / "agents" / test_file).read_text()
    return set(re.findall(r'"([A-Z][A-Z0-9_]+)":', source))


def agent_env(
    test_file: str, command: str, documented: frozenset[str] = frozenset()
) -> StaticCheck:
    """An agent's settings: the variables are the ones its acceptance test sets (or named in
    ``documented``), the base URL answers, and the model it asks for is served."""

    def check(text: str, context: Context) -> None:
        exports = _exports(text)
        allowed = _agent_env_names(test_file) | documented
        assert set(exports) <= allowed, set(exports) - allowed
        for value in exports.values():
            if value.startswith(PLACEHOLDER):
                assert httpx.get(context.real(value) + "/healthz", timeout=10).status_code == 200
        runs = [line for line in _logical_lines(text) if line.startswith(command)]
        assert runs, f"no {command} command"
        for line in runs:
            words = shlex.split(line)
            for flag in ("--model", "-m"):
                if flag in words:
                    assert words[words.index(flag) + 1] in context.models(), line

    return check


def _env_file(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in _logical_lines(text))


def chat_app(url_variable: str, path: str, models_variable: str | None = None) -> StaticCheck:
    """A chat app's settings, used as the app uses them: it POSTs ``<url><path>``."""

    def check(text: str, context: Context) -> None:
        settings = _env_file(text)
        url = context.real(settings[url_variable]) + path
        with context.client() as http:
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
            reply = http.post(url, json=body)
            assert reply.status_code == 200, (url, reply.text)
            if path.endswith("/chat/completions"):
                models_url = url.removesuffix("/chat/completions") + "/models"
                assert http.get(models_url).status_code == 200, models_url
        if models_variable is not None:
            added = {m[1:] for m in settings[models_variable].split(",") if m.startswith("+")}
            assert added and added <= context.models(), added

    return check


def codex_config(text: str, context: Context) -> None:
    document = tomllib.loads(text)
    provider = document["model_providers"][document["model_provider"]]
    assert provider["wire_api"] == "responses"
    assert document["model"] in context.models()
    codex_test = (ROOT / "tests" / "agents" / "test_codex.py").read_text()
    assert f'env_key = "{provider["env_key"]}"' in codex_test
    assert provider["env_key"] in _exports((SAMPLES_DIR / "clients" / "codex.sh").read_text())
    with context.client() as http:
        reply = http.post(
            context.real(provider["base_url"]) + "/responses",
            json={"model": document["model"], "input": "Hi", "store": False},
        )
        assert reply.status_code == 200, reply.text


def claude_settings(text: str, context: Context) -> None:
    env = json.loads(text)["env"]
    assert {"ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"} <= set(env)
    assert env["ANTHROPIC_DEFAULT_HAIKU_MODEL"] in context.models()
    assert set(env) <= _agent_env_names("test_claude_code.py") | CLAUDE_CODE_DOCUMENTED


def gemini_settings(text: str, context: Context) -> None:
    assert json.loads(text)["security"]["auth"]["selectedType"] == "gemini-api-key"
    assert "gemini-api-key" in (ROOT / "tests" / "agents" / "test_gemini_cli.py").read_text()


def omnirelay_toml(text: str, context: Context) -> None:
    """The TOML loads with the real settings loader, into what the page says it declares."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "omnirelay.toml"
        path.write_text(text)
        env = {"BACKUP_KEY": "sk-b"}  # vendor keys in the env would add channels of their own
        settings = config.load_settings(env=env, config_file=path)
    assert [c.name for c in settings.channels] == ["openai-main", "openai-backup", "claude"]
    assert settings.channels[1].model_map == {"gpt-4o": "gpt-4o-2024-08-06"}
    assert settings.models[0].prices["cache_read"] == 1.25
    assert settings.workers == 2 and settings.public_url == "https://ai.example.com"


def nginx_conf(text: str, context: Context) -> None:
    size = re.search(r"client_max_body_size (\d+)m;", text)
    assert size and int(size.group(1)) * 2**20 == config.Settings().max_body_bytes
    assert "proxy_buffering off;" in text and "X-Forwarded-Proto" in text


def setup_vars(text: str, context: Context) -> None:
    """The two variables the pages ask for are exactly those the samples read."""
    exports = set(_exports(text))
    used: set[str] = set()
    for sample in SAMPLES_DIR.rglob("*"):
        if sample.suffix in (".py", ".sh") and not sample.parent.name == "operators":
            used |= set(re.findall(r"OMNIRELAY_(?:BASE_URL|KEY)\b", sample.read_text()))
    assert exports == used == {"OMNIRELAY_BASE_URL", "OMNIRELAY_KEY"}, (exports, used)
    assert _exports(text)["OMNIRELAY_BASE_URL"] == PLACEHOLDER


CLAUDE_CODE_DOCUMENTED = frozenset({"ANTHROPIC_DEFAULT_HAIKU_MODEL"})

STATIC_CHECKS: dict[str, StaticCheck] = {
    "start/setup.sh": setup_vars,
    "clients/claude-code.sh": agent_env("test_claude_code.py", "claude"),
    "clients/claude-code-settings.json": claude_settings,
    "clients/codex.sh": agent_env("test_codex.py", "codex", frozenset({"OMNIRELAY_API_KEY"})),
    "clients/codex-config.toml": codex_config,
    "clients/gemini-cli.sh": agent_env("test_gemini_cli.py", "gemini"),
    "clients/gemini-cli-settings.json": gemini_settings,
    "clients/open-webui.env": chat_app("OPENAI_API_BASE_URL", "/chat/completions"),
    "clients/lobechat.env": chat_app("OPENAI_PROXY_URL", "/chat/completions", "OPENAI_MODEL_LIST"),
    "clients/nextchat.env": chat_app("BASE_URL", "/v1/chat/completions", "CUSTOM_MODELS"),
    "operators/install.sh": commands_parse(),
    "operators/first-start.sh": commands_parse(),
    "operators/serve-config.sh": commands_parse(),
    "operators/channels-cli.sh": commands_parse(),
    "operators/scaling.sh": commands_parse(),
    "operators/upgrade.sh": commands_parse(),
    "operators/backup.sh": lambda text, context: None,  # replaced below
    "operators/omnirelay.toml": omnirelay_toml,
    "operators/nginx.conf": nginx_conf,
}


def backup_commands(text: str, context: Context) -> None:
    """The backup names the files a gateway really keeps: its database and its secret key."""
    assert "data/omnirelay.db" in text and config.Settings().resolved_database_url.endswith(
        "data/omnirelay.db"
    )
    assert "data/secret.key" in text
    assert (
        "$OMNIRELAY_DATABASE_URL" in text and "OMNIRELAY_DATABASE_URL" in config._ENV_NAMES.values()
    )


STATIC_CHECKS["operators/backup.sh"] = backup_commands
