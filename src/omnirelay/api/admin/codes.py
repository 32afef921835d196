"""``/admin/codes``: batches of redemption codes (each redeemed once, by one user)."""

from __future__ import annotations

import msgspec

from omnirelay.api.admin.base import AdminCall, Route
from omnirelay.platform import balances
from omnirelay.platform.balances import Code, CodeBatch, CodeQuery, CreatedCodes


class CodeList(msgspec.Struct):
    data: list[Code]
    next_cursor: str | None = None


async def create_codes(call: AdminCall) -> CreatedCodes:
    return await balances.create_codes(call.db, call.body(CodeBatch))


async def list_codes(call: AdminCall) -> CodeList:
    found, cursor = await balances.list_codes(call.db, call.query(CodeQuery))
    return CodeList(found, cursor)


async def disable_code(call: AdminCall) -> Code:
    return await balances.disable_code(call.db, call.path_int("code_id"))


ROUTES = (
    Route(
        "POST",
        "/admin/codes",
        create_codes,
        "Create a batch of codes (shown once)",
        "codes",
        body=CodeBatch,
        response=CreatedCodes,
        status=201,
    ),
    Route(
        "GET", "/admin/codes", list_codes, "List codes", "codes", query=CodeQuery, response=CodeList
    ),
    Route(
        "DELETE",
        "/admin/codes/{code_id:\\d+}",
        disable_code,
        "Withdraw a code that was not redeemed",
        "codes",
        response=Code,
    ),
)
