"""``omnirelay tasks watch | list``: follow tasks from the terminal, straight from the store."""

from __future__ import annotations

import asyncio
from typing import TextIO

from omnirelay.money import micro_to_usd
from omnirelay.store import open_database
from omnirelay.tasks.model import Task, now_ms
from omnirelay.tasks.store import TaskStore

BAR_WIDTH = 30


def progress_line(task: Task) -> str:
    """``[#########---------]  45%  running  12.3 s`` (the bar is full once the task ends)."""
    done = 100 if task.status.finished else max(0, min(task.progress, 99))
    filled = BAR_WIDTH * done // 100
    end = task.finished_ms or now_ms()
    seconds = (end - task.created_ms) / 1000
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    line = f"[{bar}] {done:3d}%  {task.status:<10} {seconds:6.1f} s"
    if task.last_error and not task.status.finished:
        line += f"  (last poll: {task.last_error[:60]})"  # e.g. a rejected channel credential
    return line


def _outcome(task: Task) -> list[str]:
    lines = [f"task {task.id}: {task.status}"]
    if task.failure:
        lines.append(f"reason: {task.failure}")
    result = task.result or {}
    for kind in ("videos", "images", "clips"):
        for item in result.get(kind, []):
            # Suno's clips carry their audio as audio_url.
            lines.append(f"{kind[:-1]}: {item.get('url') or item.get('audio_url')}")
    lyrics = result.get("lyrics")
    if isinstance(lyrics, dict):
        lines.append(f"lyrics: {lyrics.get('title')}")
    if result.get("imageUrl"):  # Midjourney: one picture (the vendor's URL; clients get ours)
        lines.append(f"image: {result['imageUrl']}")
    for prompt in result.get("prompts") or []:  # Midjourney's describe and shorten
        lines.append(f"prompt: {prompt}")
    charged = micro_to_usd(task.charged or 0)
    lines.append(f"charged ${charged} ({task.settlement or 'not settled'})")
    return lines


async def watch(database_url: str, task_id: str, out: TextIO, interval: float = 0.5) -> int:
    """Redraw a progress bar until the task ends; 0 if it succeeded, 1 if not, 2 if unknown."""
    db = await open_database(database_url, migrate=False)
    store = TaskStore(db)
    tty = out.isatty()
    shown: tuple[str, int] | None = None
    try:
        while True:
            task = await store.get(task_id)
            if task is None:
                out.write(f"no task {task_id}\n")
                return 2
            line = progress_line(task)
            if tty:
                out.write("\r" + line)
            elif shown != (task.status, task.progress):
                out.write(line + "\n")  # not a terminal: one line per change, no redraws
            out.flush()
            shown = (task.status, task.progress)
            if task.status.finished:
                out.write(("\n" if tty else "") + "\n".join(_outcome(task)) + "\n")
                return 0 if task.status == "succeeded" else 1
            await asyncio.sleep(interval)
    finally:
        await db.close()


async def list_tasks(database_url: str, out: TextIO, limit: int = 20) -> None:
    db = await open_database(database_url, migrate=False)
    try:
        for task in await TaskStore(db).recent(limit):
            out.write(
                f"{task.id}  {task.action:<18} {task.model:<12} {task.status:<10} "
                f"{task.progress:3d}%  key {task.key_id}\n"
            )
    finally:
        await db.close()
