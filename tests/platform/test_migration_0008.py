"""Migration 0008 (console sessions, the gallery's task indexes) on a database with tasks."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, inspect, text

from omnirelay.store.db import _alembic_config


def test_0008_adds_sessions_and_task_indexes_keeping_tasks(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0007")
        conn.execute(
            text(
                "INSERT INTO tasks (id, key_id, vendor, action, model, request, status, progress,"
                " price, reserved, created_ms, updated_ms, next_poll_ms, attempts, user_held,"
                " ratio_ppm) VALUES ('t1', 1, 'kling', 'kling.text2video', 'kling-v1', '{}',"
                " 'succeeded', 100, 1, 1, 5, 5, 0, 1, 0, 1000000)"
            )
        )
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "head")
        found = inspect(conn)
        assert "console_sessions" in found.get_table_names()
        indexes = {i["name"] for i in found.get_indexes("tasks")}
        assert {"ix_tasks_created", "ix_tasks_user_created"} <= indexes
        assert conn.execute(text("SELECT id FROM tasks")).scalar_one() == "t1"
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0007")
        assert "console_sessions" not in inspect(conn).get_table_names()
    engine.dispose()
