"""``/admin/usage``: the request log, its aggregates, CSV exports (streamed), retention."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from aiohttp import web

from omnirelay.api.admin.base import AdminCall, Route
from omnirelay.platform import usage_log
from omnirelay.platform.usage_log import Aggregate, AggregateQuery, UsageQuery, UsageRecord


class UsagePage(msgspec.Struct):
    data: list[UsageRecord]
    next_cursor: str | None
    now: datetime


class AggregateList(msgspec.Struct):
    data: list[Aggregate]


class Retention(msgspec.Struct, forbid_unknown_fields=True):
    days: int  # delete detail older than this; the aggregates stay

    def problems(self) -> list[str]:
        return [] if 1 <= self.days <= 365_000 else ["'days' must be between 1 and 365000"]


class Deleted(msgspec.Struct):
    deleted: int


async def list_usage(call: AdminCall) -> UsagePage:
    records, cursor = await usage_log.page(call.db, call.query(UsageQuery))
    return UsagePage(records, cursor, datetime.now(UTC))


async def _csv_response(call: AdminCall, name: str) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{name}"',
        }
    )
    await response.prepare(call.request)
    return response


async def export_usage(call: AdminCall) -> web.StreamResponse:
    """Every record the filters select, written as it is read (a page of 1,000 at a time)."""
    response = await _csv_response(call, "usage.csv")
    batch: list[UsageRecord] = []
    header = True
    async for record in usage_log.every_record(call.db, call.query(UsageQuery)):
        batch.append(record)
        if len(batch) >= 500:
            await response.write(usage_log.csv_lines(batch, header).encode())
            batch, header = [], False
    if batch or header:
        text = usage_log.csv_lines(batch, header) if batch else _header(UsageRecord)
        await response.write(text.encode())
    await response.write_eof()
    return response


def _header(kind: type[msgspec.Struct]) -> str:
    return ",".join(kind.__struct_fields__) + "\n"


async def aggregates(call: AdminCall) -> AggregateList:
    return AggregateList(await usage_log.aggregates(call.db, call.query(AggregateQuery)))


async def export_aggregates(call: AdminCall) -> web.StreamResponse:
    found = await usage_log.aggregates(call.db, call.query(AggregateQuery))
    response = await _csv_response(call, "usage-aggregates.csv")
    for start in range(0, max(len(found), 1), 500):
        chunk = found[start : start + 500]
        text = usage_log.csv_lines(chunk, start == 0) if chunk else _header(Aggregate)
        await response.write(text.encode())
    await response.write_eof()
    return response


async def apply_retention(call: AdminCall) -> Deleted:
    return Deleted(await usage_log.delete_old_usage(call.db, call.body(Retention).days))


ROUTES = (
    Route(
        "GET",
        "/admin/usage",
        list_usage,
        "The request log, newest first (cursor paging)",
        "usage",
        query=UsageQuery,
        response=UsagePage,
    ),
    Route(
        "GET",
        "/admin/usage/export.csv",
        export_usage,
        "The request log as CSV (streamed)",
        "usage",
        query=UsageQuery,
        csv=True,
    ),
    Route(
        "GET",
        "/admin/usage/aggregates",
        aggregates,
        "Requests, tokens, cost, errors and latency by hour or day x dimension",
        "usage",
        query=AggregateQuery,
        response=AggregateList,
    ),
    Route(
        "GET",
        "/admin/usage/aggregates.csv",
        export_aggregates,
        "The aggregates as CSV",
        "usage",
        query=AggregateQuery,
        csv=True,
    ),
    Route(
        "POST",
        "/admin/usage/retention",
        apply_retention,
        "Delete usage detail older than N days now (aggregates kept)",
        "usage",
        body=Retention,
        response=Deleted,
    ),
)
