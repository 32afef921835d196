"""The dashboard's figures: requests, spend, errors and latency over the last hour, day or week,
as a series and as totals, with the models and users that used the most.

The day and the week come from the hourly rollups (fast however many records there are); the
hour is cut into five-minute buckets read from the records themselves, with the same latency
histogram, so every percentile here is computed the same way (``usage_log.percentile``).
Buckets without traffic are present, with zeros: a chart's x-axis has no holes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec
from sqlalchemy import ColumnElement, and_, case, func, select

from omnirelay.platform.usage_log import percentile
from omnirelay.store import Database, usage_hourly, usage_records, users
from omnirelay.usage import BUCKET_COLUMNS, LATENCY_BUCKETS_MS

Range = Literal["hour", "day", "week"]
TOP = 5


@dataclass(frozen=True, slots=True)
class _Span:
    seconds: int  # the whole range
    bucket: int  # one point of the series
    hourly: bool  # read from the rollups (else from the records)


_SPANS: dict[str, _Span] = {
    "hour": _Span(3600, 300, hourly=False),
    "day": _Span(86400, 3600, hourly=True),
    "week": _Span(7 * 86400, 3600, hourly=True),
}


class OverviewQuery(msgspec.Struct, forbid_unknown_fields=True):
    range: Range = "day"


class Point(msgspec.Struct):
    start: datetime
    requests: int
    errors: int
    cost: int  # micro-dollars
    latency_p95_ms: float


class Totals(msgspec.Struct):
    requests: int
    errors: int
    error_rate: float  # 0..1
    cost: int
    prompt_tokens: int
    completion_tokens: int
    latency_p50_ms: float
    latency_p95_ms: float


class Top(msgspec.Struct):
    """A model or a user among those that used the most in the range."""

    id: str | int | None
    name: str
    requests: int
    errors: int
    cost: int


class Usage(msgspec.Struct):
    range: str
    since: datetime
    until: datetime
    bucket_seconds: int
    series: list[Point]
    totals: Totals
    top_models: list[Top]


def _measures(hourly: bool) -> list[Any]:
    """requests, errors, cost, tokens and the latency histogram, from either table."""
    if hourly:
        table = usage_hourly.c
        names = ("requests", "errors", "cost", "prompt_tokens", "completion_tokens")
        return [func.sum(table[n]).label(n) for n in (*names, *BUCKET_COLUMNS)]
    record = usage_records.c
    edges = (0, *LATENCY_BUCKETS_MS, None)
    histogram = []
    for index, name in enumerate(BUCKET_COLUMNS):
        low, high = edges[index], edges[index + 1]
        inside = record.latency_ms >= low if high is None else record.latency_ms < high
        if index > 0:
            inside = and_(record.latency_ms >= low, inside)
        histogram.append(func.sum(case((inside, 1), else_=0)).label(name))
    return [
        func.count().label("requests"),
        func.sum(case((record.status >= 400, 1), else_=0)).label("errors"),
        func.sum(record.cost).label("cost"),
        func.sum(record.prompt_tokens).label("prompt_tokens"),
        func.sum(record.completion_tokens).label("completion_tokens"),
        *histogram,
    ]


def _where(hourly: bool, since: datetime, user_id: int | None) -> list[ColumnElement[bool]]:
    if hourly:
        conditions = [usage_hourly.c.hour >= int(since.timestamp())]
        if user_id is not None:
            conditions.append(usage_hourly.c.user_id == user_id)
        return conditions
    conditions = [usage_records.c.created_at >= since]
    if user_id is not None:
        conditions.append(usage_records.c.user_id == user_id)
    return conditions


def _histogram(row: Any) -> list[int]:
    return [int(getattr(row, name) or 0) for name in BUCKET_COLUMNS]


def _bucket_of(hourly: bool, since: datetime, span: _Span) -> Any:
    """The series' bucket index of each row: hours for the rollups, 5-minute steps else."""
    if hourly:
        return ((usage_hourly.c.hour - int(since.timestamp())) / span.bucket).label("slot")
    steps = span.seconds // span.bucket
    edges = [since + timedelta(seconds=span.bucket * (i + 1)) for i in range(steps)]
    created = usage_records.c.created_at
    return case(*((created < edge, i) for i, edge in enumerate(edges)), else_=steps - 1).label(
        "slot"
    )


def _start(span: _Span, now: datetime) -> datetime:
    # Whole buckets, the last one holding now: the chart's points stay put as time passes.
    epoch = int(now.timestamp())
    last = epoch - epoch % span.bucket
    return datetime.fromtimestamp(last + span.bucket - span.seconds, UTC)


async def usage(db: Database, range_: str, user_id: int | None = None) -> Usage:
    """The range's series, totals and top models (of one user if ``user_id`` is given)."""
    span = _SPANS[range_]
    now = datetime.now(UTC)
    since = _start(span, now)
    table = usage_hourly if span.hourly else usage_records
    where = _where(span.hourly, since, user_id)
    slot = _bucket_of(span.hourly, since, span)
    measures = _measures(span.hourly)
    model = table.c.model
    async with db.engine.connect() as conn:
        series_rows = (
            await conn.execute(select(slot, *measures).where(*where).group_by(slot))
        ).all()
        models = (
            await conn.execute(
                select(model, *measures[:3])
                .where(*where)
                .group_by(model)
                .order_by(func.sum(table.c.cost).desc(), model)
                .limit(TOP)
            )
        ).all()
    steps = span.seconds // span.bucket
    points = [Point(since + timedelta(seconds=span.bucket * i), 0, 0, 0, 0.0) for i in range(steps)]
    total_histogram = [0] * len(BUCKET_COLUMNS)
    sums = dict.fromkeys(("requests", "errors", "cost", "prompt_tokens", "completion_tokens"), 0)
    for row in series_rows:
        index = min(max(int(row.slot), 0), steps - 1)
        histogram = _histogram(row)
        point = points[index]
        point.requests += int(row.requests or 0)
        point.errors += int(row.errors or 0)
        point.cost += int(row.cost or 0)
        point.latency_p95_ms = round(percentile(histogram, 0.95), 1)
        total_histogram = [a + b for a, b in zip(total_histogram, histogram, strict=True)]
        for name in sums:
            sums[name] += int(getattr(row, name) or 0)
    totals = Totals(
        requests=sums["requests"],
        errors=sums["errors"],
        error_rate=round(sums["errors"] / sums["requests"], 4) if sums["requests"] else 0.0,
        cost=sums["cost"],
        prompt_tokens=sums["prompt_tokens"],
        completion_tokens=sums["completion_tokens"],
        latency_p50_ms=round(percentile(total_histogram, 0.50), 1),
        latency_p95_ms=round(percentile(total_histogram, 0.95), 1),
    )
    top = [
        Top(r.model, r.model, int(r.requests or 0), int(r.errors or 0), int(r.cost or 0))
        for r in models
    ]
    return Usage(range_, since, now, span.bucket, points, totals, top)


async def top_users(db: Database, range_: str) -> list[Top]:
    """The users that spent the most in the range (then by requests)."""
    span = _SPANS[range_]
    since = _start(span, datetime.now(UTC))
    table = usage_hourly if span.hourly else usage_records
    measures = _measures(span.hourly)[:3]
    user = table.c.user_id
    statement = (
        select(user, users.c.name, *measures)
        .select_from(table.outerjoin(users, users.c.id == user))
        .where(*_where(span.hourly, since, None))
        .group_by(user, users.c.name)
        .order_by(func.sum(table.c.cost).desc(), user)
        .limit(TOP)
    )
    async with db.engine.connect() as conn:
        rows = (await conn.execute(statement)).all()
    return [
        Top(
            r.user_id,
            r.name or ("admin keys" if not r.user_id else f"user {r.user_id}"),
            int(r.requests or 0),
            int(r.errors or 0),
            int(r.cost or 0),
        )
        for r in rows
    ]
