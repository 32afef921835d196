"""``/admin/audit``: every mutating admin call, who made it and how it ended."""

from __future__ import annotations

import msgspec

from omnirelay.api.admin.base import AdminCall, Route
from omnirelay.platform import audit
from omnirelay.platform.audit import AuditEntry, AuditQuery


class AuditList(msgspec.Struct):
    data: list[AuditEntry]
    next_cursor: str | None = None


async def list_audit(call: AdminCall) -> AuditList:
    found, cursor = await audit.entries(call.db, call.query(AuditQuery))
    return AuditList(found, cursor)


ROUTES = (
    Route(
        "GET",
        "/admin/audit",
        list_audit,
        "The audit log, newest first",
        "audit",
        query=AuditQuery,
        response=AuditList,
    ),
)
