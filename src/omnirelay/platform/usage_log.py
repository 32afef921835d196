"""The usage log, queried: the request log (filters, cursor paging), aggregates by hour or day
from the hourly rollups (fast however many records there are, and kept when retention deletes
the detail), CSV of both, and retention itself.

Percentiles come from the rollups' latency histogram (``usage.LATENCY_BUCKETS_MS``),
interpolated within a bucket: exact to the bucket, which is what a dashboard needs.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec
from sqlalchemy import Select, delete, func, select

from omnirelay.platform.paging import MAX_PAGE, PageQuery, paginate, utc
from omnirelay.store import Database, usage_hourly, usage_records
from omnirelay.usage import BUCKET_COLUMNS, LATENCY_BUCKETS_MS

RETENTION_BATCH = 5000


class UsageQuery(PageQuery):
    """Filters of the request log (query parameters of ``GET /admin/usage``)."""

    since: datetime | None = msgspec.field(default=None, name="from")
    until: datetime | None = msgspec.field(default=None, name="to")
    user_id: int | None = None
    key_id: int | None = None
    model: str | None = None
    channel_id: int | None = None
    status: int | None = None
    errors: bool | None = None  # only failed requests (status >= 400), or only successes
    request_id: str | None = None

    def __post_init__(self) -> None:
        # Times without a zone are UTC, like everything the gateway stores.
        self.since = utc(self.since) if self.since is not None else None
        self.until = utc(self.until) if self.until is not None else None


class UsageRecord(msgspec.Struct):
    """One request as the log shows it (money in micro-dollars, times in milliseconds)."""

    id: int
    request_id: str
    created_at: datetime
    key_id: int
    user_id: int | None
    model: str
    endpoint: str
    channel_id: int | None
    status: int
    stream: bool
    prompt_tokens: int
    completion_tokens: int
    # Parts of prompt_tokens (cache read, 5-minute and 1-hour cache writes) and of
    # completion_tokens (reasoning).
    cache_read_tokens: int
    cache_write_tokens: int
    cache_write_1h_tokens: int
    reasoning_tokens: int
    units: int
    cost: int
    ratio: float
    latency_ms: int
    first_byte_ms: int | None
    error: str | None


def _record(row: Any) -> UsageRecord:
    return UsageRecord(
        id=row.id,
        request_id=row.request_id,
        created_at=utc(row.created_at),
        key_id=row.key_id,
        user_id=row.user_id,
        model=row.model,
        endpoint=row.endpoint,
        channel_id=row.channel_id,
        status=row.status,
        stream=bool(row.stream),
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        cache_read_tokens=row.cache_read_tokens,
        cache_write_tokens=row.cache_write_tokens,
        cache_write_1h_tokens=row.cache_write_1h_tokens,
        reasoning_tokens=row.reasoning_tokens,
        units=row.units,
        cost=row.cost,
        ratio=row.ratio_ppm / 1_000_000,
        latency_ms=row.latency_ms,
        first_byte_ms=row.first_byte_ms,
        error=row.error,
    )


def _filtered(query: UsageQuery) -> Select[Any]:
    table = usage_records.c
    statement = select(usage_records)
    if query.since is not None:
        statement = statement.where(table.created_at >= query.since)
    if query.until is not None:
        statement = statement.where(table.created_at < query.until)
    for name in ("user_id", "key_id", "model", "channel_id", "status", "request_id"):
        value = getattr(query, name)
        if value is not None:
            statement = statement.where(table[name] == value)
    if query.errors is not None:
        statement = statement.where(table.status >= 400 if query.errors else table.status < 400)
    return statement


async def page(db: Database, query: UsageQuery) -> tuple[list[UsageRecord], str | None]:
    """One page of the log, newest first, and the cursor of the next page (None: last)."""
    rows, cursor = await paginate(db, _filtered(query), usage_records.c.id, query)
    return [_record(r) for r in rows], cursor


async def every_record(db: Database, query: UsageQuery) -> AsyncIterator[UsageRecord]:
    """Every record the filters select, a page at a time (for a streamed export)."""
    cursor = query.cursor
    while True:
        step = msgspec.structs.replace(query, limit=MAX_PAGE, cursor=cursor)
        records, cursor = await page(db, step)
        for record in records:
            yield record
        if cursor is None:
            return


Dimension = Literal["model", "user", "key", "channel"]
_DIMENSIONS = {
    "model": usage_hourly.c.model,
    "user": usage_hourly.c.user_id,
    "key": usage_hourly.c.key_id,
    "channel": usage_hourly.c.channel_id,
}


class AggregateQuery(msgspec.Struct, forbid_unknown_fields=True):
    """``GET /admin/usage/aggregates``: buckets of time x one dimension, with filters."""

    since: datetime | None = msgspec.field(default=None, name="from")  # default: a day ago
    until: datetime | None = msgspec.field(default=None, name="to")
    bucket: Literal["hour", "day"] = "hour"
    by: Dimension | None = None
    user_id: int | None = None
    key_id: int | None = None
    model: str | None = None
    channel_id: int | None = None

    def __post_init__(self) -> None:
        self.since = utc(self.since) if self.since is not None else None
        self.until = utc(self.until) if self.until is not None else None


class Aggregate(msgspec.Struct):
    """One bucket: requests, errors, tokens, cost (micro-dollars) and latency percentiles."""

    start: datetime
    group: str | int | None
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cost: int
    latency_avg_ms: float
    latency_p50_ms: float
    latency_p95_ms: float


def percentile(histogram: Sequence[int], fraction: float) -> float:
    """The latency below which ``fraction`` of the requests fall, interpolated in its bucket."""
    total = sum(histogram)
    if total == 0:
        return 0.0
    rank = fraction * total
    edges = (0, *LATENCY_BUCKETS_MS)
    seen = 0
    for index, count in enumerate(histogram):
        if count and seen + count >= rank:
            low = edges[index]
            if index + 1 >= len(edges):
                return float(low)  # the open-ended last bucket
            high = edges[index + 1]
            return low + (high - low) * (rank - seen) / count
        seen += count
    return float(edges[-1])


def _aggregate_statement(query: AggregateQuery, since: datetime) -> Select[Any]:
    table = usage_hourly.c
    start = table.hour if query.bucket == "hour" else table.hour - table.hour % 86400
    dimension = _DIMENSIONS[query.by] if query.by else None
    columns: list[Any] = [start.label("start")]
    if dimension is not None:
        columns.append(dimension.label("group"))
    sums = ("requests", "errors", "prompt_tokens", "completion_tokens", "cost", "latency_ms")
    columns += [func.sum(table[name]).label(name) for name in (*sums, *BUCKET_COLUMNS)]
    statement = select(*columns).where(table.hour >= int(since.timestamp()) // 3600 * 3600)
    if query.until is not None:
        statement = statement.where(table.hour < query.until.timestamp())
    for name, column in (
        ("user_id", table.user_id),
        ("key_id", table.key_id),
        ("model", table.model),
        ("channel_id", table.channel_id),
    ):
        value = getattr(query, name)
        if value is not None:
            statement = statement.where(column == value)
    grouping = [start] if dimension is None else [start, dimension]
    return statement.group_by(*grouping).order_by(*grouping)


async def aggregates(db: Database, query: AggregateQuery) -> list[Aggregate]:
    since = query.since or datetime.now(UTC) - timedelta(days=1)
    async with db.engine.connect() as conn:
        rows = (await conn.execute(_aggregate_statement(query, since))).all()
    found = []
    for row in rows:
        histogram = [int(getattr(row, name) or 0) for name in BUCKET_COLUMNS]
        requests = int(row.requests or 0)
        group = getattr(row, "group", None) if query.by else None
        if query.by == "channel" and group == 0:
            group = None  # requests that reached no channel
        found.append(
            Aggregate(
                start=datetime.fromtimestamp(int(row.start), UTC),
                group=group,
                requests=requests,
                errors=int(row.errors or 0),
                prompt_tokens=int(row.prompt_tokens or 0),
                completion_tokens=int(row.completion_tokens or 0),
                cost=int(row.cost or 0),
                latency_avg_ms=round(int(row.latency_ms or 0) / requests, 1) if requests else 0.0,
                latency_p50_ms=round(percentile(histogram, 0.50), 1),
                latency_p95_ms=round(percentile(histogram, 0.95), 1),
            )
        )
    return found


def csv_lines(structs: Sequence[msgspec.Struct], header: bool) -> str:
    """Rows of ``structs`` (all of one type) as CSV text, with its header row if asked."""
    if not structs:
        return ""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    names = structs[0].__struct_fields__
    if header:
        writer.writerow(names)
    for item in structs:
        writer.writerow(
            [
                value.isoformat() if isinstance(value, datetime) else value
                for value in (getattr(item, name) for name in names)
            ]
        )
    return out.getvalue()


async def spent_by_scope(db: Database, scope_id: str) -> tuple[int, int]:
    """What a rate-limit scope (``k:ID`` or ``u:ID``) spent today and this month (UTC)."""
    kind, _, raw = scope_id.partition(":")
    column = usage_hourly.c.key_id if kind == "k" else usage_hourly.c.user_id
    now = datetime.now(UTC)
    day = int(datetime(now.year, now.month, now.day, tzinfo=UTC).timestamp())
    month = int(datetime(now.year, now.month, 1, tzinfo=UTC).timestamp())
    statement = select(
        func.coalesce(func.sum(usage_hourly.c.cost).filter(usage_hourly.c.hour >= day), 0),
        func.coalesce(func.sum(usage_hourly.c.cost), 0),
    ).where(column == int(raw), usage_hourly.c.hour >= month)
    async with db.engine.connect() as conn:
        today, this_month = (await conn.execute(statement)).one()
    return int(today), int(this_month)


async def delete_old_usage(db: Database, days: int, batch: int = RETENTION_BATCH) -> int:
    """Delete usage records older than ``days`` days, ``batch`` at a time; the rollups stay."""
    cutoff = datetime.now(UTC) - timedelta(days=days)
    total = 0
    while True:
        oldest = (
            select(usage_records.c.id)
            .where(usage_records.c.created_at < cutoff)
            .order_by(usage_records.c.id)
            .limit(batch)
        )
        async with db.engine.begin() as conn:
            result = await conn.execute(
                delete(usage_records).where(usage_records.c.id.in_(oldest.scalar_subquery()))
            )
        total += result.rowcount
        if result.rowcount < batch:
            return total
        await asyncio.sleep(0.05)  # let the usage writer and requests in between batches
