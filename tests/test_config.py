from __future__ import annotations

from pathlib import Path

from omnirelay.config import load_settings, normalize_database_url
from omnirelay.crypto import load_secret_box


def test_defaults_and_env(tmp_path: Path) -> None:
    settings = load_settings(env={})
    assert settings.port == 8000 and settings.resolved_database_url.startswith(
        "sqlite+aiosqlite:///"
    )
    settings = load_settings(
        env={
            "OMNIRELAY_PORT": "9001",
            "OMNIRELAY_DATABASE_URL": "postgresql://u@h/db",
            "OPENAI_API_KEY": "sk-real",
            "OMNIRELAY_OPENAI_BASE_URL": "http://local/v1",
        }
    )
    assert settings.port == 9001
    assert settings.database_url == "postgresql+asyncpg://u@h/db"
    (channel,) = settings.channels
    assert (channel.vendor, channel.base_url, channel.secret) == (
        "openai",
        "http://local/v1",
        "sk-real",
    )


def test_toml_channels_models_and_overrides(tmp_path: Path) -> None:
    config = tmp_path / "omnirelay.toml"
    config.write_text(
        "[server]\nport = 7000\nworkers = 2\n"
        '[[channels]]\nname = "a"\nbase_url = "https://up/v1"\napi_key_env = "UP_KEY"\n'
        'models = ["gpt-4o"]\nmodel_map = { "gpt-4o" = "gpt-4o-2024" }\npriority = 3\n'
        '[[models]]\nname = "mine"\nkind = "chat"\nprices = { input = 1, output = 2 }\n'
    )
    settings = load_settings(
        env={"UP_KEY": "k", "OMNIRELAY_PORT": "7100"}, config_file=config, workers=4
    )
    assert settings.port == 7100 and settings.workers == 4
    (channel,) = settings.channels
    assert (
        channel.secret == "k"
        and channel.model_map == {"gpt-4o": "gpt-4o-2024"}
        and channel.priority == 3
    )
    assert settings.models[0].prices == {"input": 1.0, "output": 2.0}


def test_normalize_database_url() -> None:
    assert normalize_database_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert normalize_database_url("postgres://h/d") == "postgresql+asyncpg://h/d"


def test_secret_box_key_file_is_created_once(tmp_path: Path) -> None:
    box = load_secret_box(None, tmp_path)
    token = box.encrypt("sk-secret")
    assert "sk-secret" not in token
    assert load_secret_box(None, tmp_path).decrypt(token) == "sk-secret"
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
