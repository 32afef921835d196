"""What every list of the admin API shares: ``limit`` and an opaque ``cursor`` in the query,
pages by id (newest first unless said), and times always in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload

import msgspec
from sqlalchemy import Column, Select

from omnirelay.store import Database

MAX_PAGE = 1000


class PageQuery(msgspec.Struct, forbid_unknown_fields=True):
    limit: int = 100
    cursor: str | None = None  # from the previous page's ``next_cursor``

    def problems(self) -> list[str]:
        found = [] if 1 <= self.limit <= MAX_PAGE else [f"'limit' must be between 1 and {MAX_PAGE}"]
        if self.cursor is not None and not self.cursor.isdigit():
            found.append("'cursor' is not one this API gave")
        return found


async def paginate(
    db: Database,
    statement: Select[Any],
    column: Column[Any],
    query: PageQuery,
    *,
    newest_first: bool = True,
) -> tuple[list[Any], str | None]:
    """One page of ``statement``'s rows by ``column`` (an id), and the next page's cursor."""
    if query.cursor is not None:
        after = int(query.cursor)
        statement = statement.where(column < after if newest_first else column > after)
    statement = statement.order_by(column.desc() if newest_first else column)
    async with db.engine.connect() as conn:
        rows = list((await conn.execute(statement.limit(query.limit + 1))).all())
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return rows, (str(getattr(rows[-1], column.name)) if more and rows else None)


@overload
def utc(value: datetime) -> datetime: ...
@overload
def utc(value: None) -> None: ...
def utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC, so say so on the wire.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value
