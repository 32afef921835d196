"""``/admin/keys``: user keys (spending their user's balance) and admin keys."""

from __future__ import annotations

import msgspec

from omnirelay.api.admin.base import AdminCall, Route
from omnirelay.platform import keyring
from omnirelay.platform.keyring import (
    CreatedKey,
    Key,
    KeyCreate,
    KeyQuery,
    KeyUpdate,
    WebhookSecret,
)


class KeyList(msgspec.Struct):
    data: list[Key]
    next_cursor: str | None = None


async def list_keys(call: AdminCall) -> KeyList:
    found, cursor = await keyring.list_keys(call.db, call.query(KeyQuery))
    return KeyList(found, cursor)


async def create_key(call: AdminCall) -> CreatedKey:
    return await keyring.create(call.db, call.body(KeyCreate), call.gateway.box)


async def rotate_webhook_secret(call: AdminCall) -> WebhookSecret:
    return await keyring.rotate_webhook_secret(call.db, call.path_int("key_id"), call.gateway.box)


async def get_key(call: AdminCall) -> Key:
    return await keyring.get_key(call.db, call.path_int("key_id"))


async def update_key(call: AdminCall) -> Key:
    return await keyring.update(call.db, call.path_int("key_id"), call.body(KeyUpdate))


async def delete_key(call: AdminCall) -> None:
    await keyring.delete(call.db, call.path_int("key_id"))


_ONE = "/admin/keys/{key_id:\\d+}"
ROUTES = (
    Route("GET", "/admin/keys", list_keys, "List keys", "keys", query=KeyQuery, response=KeyList),
    Route(
        "POST",
        "/admin/keys",
        create_key,
        "Create a key (shown once); without user_id, a user of its own is created",
        "keys",
        body=KeyCreate,
        response=CreatedKey,
        status=201,
        invalidates="keys",
    ),
    Route("GET", _ONE, get_key, "Get a key", "keys", response=Key),
    Route(
        "PATCH",
        _ONE,
        update_key,
        "Change a key (the last enabled admin key cannot be disabled or demoted)",
        "keys",
        body=KeyUpdate,
        response=Key,
        invalidates="keys",
    ),
    Route("DELETE", _ONE, delete_key, "Delete a key", "keys", status=204, invalidates="keys"),
    Route(
        "POST",
        _ONE + "/webhook-secret",
        rotate_webhook_secret,
        "A new webhook signing secret for the key (shown once; the old one stops signing)",
        "keys",
        response=WebhookSecret,
        status=201,
    ),
)
