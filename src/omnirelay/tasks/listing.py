"""Every task, of every vendor, as one list: filters, cursor paging, and each task's media.

A task's result keeps its vendor's shape (Kling's ``videos``/``images``, Suno's ``clips``,
Midjourney's ``imageUrl``, Flux's ``sample``…). ``media_of`` reads any of them by what the
fields say, not by vendor: a URL under ``audio_url`` is audio, under ``video_url`` or in a list
named ``videos`` a video, and so on, the file extension deciding where the name does not. One
object (a Suno clip) gives one item: its audio, with its picture as the poster. Files are
numbered in the order they are found; the gateway serves file *n* itself (``files_of``), so a
browser never has to reach a vendor's CDN.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from sqlalchemy import and_, func, or_, select

from omnirelay.platform.paging import MAX_PAGE, PageQuery
from omnirelay.store import Database, tasks
from omnirelay.tasks.model import POLLED, Task, TaskStatus

Kind = Literal["image", "video", "audio"]
_BY_FIELD: dict[str, Kind | None] = {
    "audio_url": "audio",
    "video_url": "video",
    "image_url": "image",
    "imageUrl": "image",
    "sample": "image",
    "url": None,  # decided by the list it is in, or by its extension
}
_BY_LIST: dict[str, Kind] = {"videos": "video", "images": "image", "audios": "audio"}
_BY_EXTENSION: dict[str, Kind] = {
    **dict.fromkeys(("mp4", "webm", "mov", "m4v"), "video"),
    **dict.fromkeys(("mp3", "wav", "m4a", "ogg", "flac", "aac"), "audio"),
    **dict.fromkeys(("png", "jpg", "jpeg", "webp", "gif"), "image"),
}
_PRECEDENCE: tuple[Kind, ...] = ("audio", "video", "image")
_CURSOR = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
IN_FLIGHT = (TaskStatus.SUBMITTING, *POLLED)


class Media(msgspec.Struct):
    kind: Kind
    url: str  # served by the gateway
    poster: str | None = None  # a picture that goes with it (a song's cover)
    title: str | None = None


class TaskView(msgspec.Struct):
    """One task as the console shows it (money in micro-dollars, times in UTC)."""

    id: str
    vendor: str
    action: str
    model: str
    status: str
    progress: int
    key_id: int
    user_id: int | None
    channel_id: int | None
    prompt: str | None
    price_micro_usd: int
    charged_micro_usd: int | None
    refunded_micro_usd: int
    settlement: str | None  # charged | refunded | null (not settled yet)
    failure: str | None
    failure_code: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    media: list[Media]
    text: str | None  # what a result without media says (lyrics, prompts)


class TaskQuery(PageQuery):
    vendor: str | None = None
    status: str | None = None  # a task status, or "in_flight"
    model: str | None = None
    action: str | None = None
    user_id: int | None = None
    key_id: int | None = None
    limit: int = 24

    def problems(self) -> list[str]:
        found = [] if 1 <= self.limit <= MAX_PAGE else [f"'limit' must be between 1 and {MAX_PAGE}"]
        if self.cursor is not None and not _CURSOR.match(self.cursor):
            found.append("'cursor' is not one this API gave")
        known = {s.value for s in TaskStatus} | {"in_flight"}
        if self.status is not None and self.status not in known:
            found.append(f"'status' must be one of {', '.join(sorted(known))}")
        return found


@dataclass(slots=True)
class _Found:
    files: list[str] = field(default_factory=list)
    media: list[tuple[Kind, int, int | None, str | None]] = field(default_factory=list)

    def file(self, url: str) -> int:
        self.files.append(url)
        return len(self.files) - 1


def _kind(name: str, url: str, hint: Kind | None) -> Kind | None:
    if name not in _BY_FIELD:
        return None
    named = _BY_FIELD[name] or hint
    if named is not None:
        return named
    extension = url.split("?", 1)[0].rsplit(".", 1)[-1].lower()
    return _BY_EXTENSION.get(extension)


def _walk(node: Any, hint: Kind | None, found: _Found) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item, hint, found)
        return
    if not isinstance(node, dict):
        return
    here: dict[Kind, str] = {}
    for name, value in node.items():
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            kind = _kind(name, value, hint)
            if kind is not None and kind not in here:
                here[kind] = value
        elif isinstance(value, dict | list):
            _walk(value, _BY_LIST.get(name, hint), found)
    main = next((kind for kind in _PRECEDENCE if kind in here), None)
    if main is None:
        return
    title = node.get("title") if isinstance(node.get("title"), str) else None
    poster = found.file(here["image"]) if main != "image" and "image" in here else None
    found.media.append((main, found.file(here[main]), poster, title))


def _found(result: dict[str, Any] | None) -> _Found:
    found = _Found()
    _walk(result or {}, None, found)
    return found


def files_of(task: Task) -> list[str]:
    """The vendor URLs of a task's result files, in the numbering ``media_of`` uses."""
    return _found(task.result).files


def media_of(task: Task, base: str) -> list[Media]:
    """The task's media, each file served at ``{base}/{task id}/files/{n}``."""

    def url(index: int) -> str:
        return f"{base}/{task.id}/files/{index}"

    return [
        Media(kind, url(main), url(poster) if poster is not None else None, title)
        for kind, main, poster, title in _found(task.result).media
    ]


def _text(result: dict[str, Any] | None) -> str | None:
    """Lyrics, or the prompts of a describe: what a result without media has to show."""
    if not result:
        return None
    lyrics = result.get("lyrics")
    if isinstance(lyrics, dict) and isinstance(lyrics.get("text"), str):
        return str(lyrics["text"])[:4000]
    prompts = result.get("prompts")
    if isinstance(prompts, list) and prompts:
        return "\n\n".join(str(p) for p in prompts)[:4000]
    return None


def _prompt(request: str) -> str | None:
    try:
        body = json.loads(request)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    for name, value in body.items():
        if "prompt" in name.lower() and isinstance(value, str) and value.strip():
            return value[:1000]
    return None


def _time(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, UTC) if ms is not None else None


def view(task: Task, base: str) -> TaskView:
    refunded = task.reserved if task.settlement == "refunded" else 0
    return TaskView(
        id=task.id,
        vendor=task.vendor,
        action=task.action,
        model=task.model,
        status=task.status.value,
        progress=100 if task.status is TaskStatus.SUCCEEDED else task.progress,
        key_id=task.key_id,
        user_id=task.user_id,
        channel_id=task.channel_id,
        prompt=_prompt(task.request),
        price_micro_usd=task.price,
        charged_micro_usd=task.charged,
        refunded_micro_usd=refunded,
        settlement=task.settlement,
        failure=task.failure,
        failure_code=task.failure_code,
        created_at=_time(task.created_ms) or datetime.now(UTC),
        updated_at=_time(task.updated_ms) or datetime.now(UTC),
        finished_at=_time(task.finished_ms),
        media=media_of(task, base),
        text=_text(task.result),
    )


def _filtered(query: TaskQuery) -> Any:
    statement = select(tasks)
    for name in ("vendor", "model", "action", "user_id", "key_id"):
        value = getattr(query, name)
        if value is not None:
            statement = statement.where(tasks.c[name] == value)
    if query.status == "in_flight":
        statement = statement.where(tasks.c.status.in_([s.value for s in IN_FLIGHT]))
    elif query.status is not None:
        statement = statement.where(tasks.c.status == query.status)
    if query.cursor is not None:
        ms, _, after = query.cursor.partition(":")
        statement = statement.where(
            or_(
                tasks.c.created_ms < int(ms),
                and_(tasks.c.created_ms == int(ms), tasks.c.id > after),
            )
        )
    return statement.order_by(tasks.c.created_ms.desc(), tasks.c.id)


async def page(db: Database, query: TaskQuery) -> tuple[list[Task], str | None]:
    """One page of tasks, newest first, and the next page's cursor (None: the last)."""
    async with db.engine.connect() as conn:
        rows = (await conn.execute(_filtered(query).limit(query.limit + 1))).all()
    found = [Task.from_row(r) for r in rows[: query.limit]]
    more = len(rows) > query.limit and found
    return found, (f"{found[-1].created_ms}:{found[-1].id}" if more else None)


async def get(db: Database, task_id: str) -> Task | None:
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(tasks).where(tasks.c.id == task_id))).first()
    return Task.from_row(row) if row is not None else None


class InFlight(msgspec.Struct):
    vendor: str
    status: str
    count: int


async def in_flight(db: Database, user_id: int | None = None) -> list[InFlight]:
    """How many tasks are not finished, by vendor and status."""
    statement = select(tasks.c.vendor, tasks.c.status, func.count().label("n")).where(
        tasks.c.status.in_([s.value for s in IN_FLIGHT])
    )
    if user_id is not None:
        statement = statement.where(tasks.c.user_id == user_id)
    statement = statement.group_by(tasks.c.vendor, tasks.c.status).order_by(
        tasks.c.vendor, tasks.c.status
    )
    async with db.engine.connect() as conn:
        rows = (await conn.execute(statement)).all()
    return [InFlight(r.vendor, r.status, int(r.n)) for r in rows]
