"""``/admin/users`` and ``/admin/groups``: who spends, at what price ratio, under which limits;
top-ups and the balance ledger."""

from __future__ import annotations

import msgspec

from omnirelay.api.admin.base import AdminCall, Route
from omnirelay.platform import balances, users
from omnirelay.platform.balances import Entry, EntryQuery, TopUp
from omnirelay.platform.users import (
    Group,
    GroupCreate,
    GroupUpdate,
    User,
    UserCreate,
    UserQuery,
    UserUpdate,
)


class UserList(msgspec.Struct):
    data: list[User]
    next_cursor: str | None = None


class GroupList(msgspec.Struct):
    data: list[Group]


class EntryList(msgspec.Struct):
    data: list[Entry]
    next_cursor: str | None = None


class ToppedUp(msgspec.Struct):
    entry: Entry
    user: User


async def list_users(call: AdminCall) -> UserList:
    found, cursor = await users.list_users(call.db, call.query(UserQuery))
    return UserList(found, cursor)


async def create_user(call: AdminCall) -> User:
    return await users.create_user(call.db, call.body(UserCreate), actor=call.actor)


async def get_user(call: AdminCall) -> User:
    return await users.get_user(call.db, call.path_int("user_id"))


async def update_user(call: AdminCall) -> User:
    return await users.update_user(call.db, call.path_int("user_id"), call.body(UserUpdate))


async def top_up(call: AdminCall) -> ToppedUp:
    user_id = call.path_int("user_id")
    entry = await balances.top_up(call.db, user_id, call.body(TopUp), call.actor)
    return ToppedUp(entry, await users.get_user(call.db, user_id))


async def ledger(call: AdminCall) -> EntryList:
    user_id = call.path_int("user_id")
    await users.get_user(call.db, user_id)  # 404 for an unknown user
    found, cursor = await balances.entries(call.db, user_id, call.query(EntryQuery))
    return EntryList(found, cursor)


async def list_groups(call: AdminCall) -> GroupList:
    return GroupList(await users.list_groups(call.db))


async def create_group(call: AdminCall) -> Group:
    return await users.create_group(call.db, call.body(GroupCreate))


async def get_group(call: AdminCall) -> Group:
    return await users.get_group(call.db, call.path_int("group_id"))


async def update_group(call: AdminCall) -> Group:
    return await users.update_group(call.db, call.path_int("group_id"), call.body(GroupUpdate))


async def delete_group(call: AdminCall) -> None:
    await users.delete_group(call.db, call.path_int("group_id"))


_USER = "/admin/users/{user_id:\\d+}"
_GROUP = "/admin/groups/{group_id:\\d+}"
ROUTES = (
    Route(
        "GET", "/admin/users", list_users, "List users", "users", query=UserQuery, response=UserList
    ),
    Route(
        "POST",
        "/admin/users",
        create_user,
        "Create a user",
        "users",
        body=UserCreate,
        response=User,
        status=201,
        invalidates="keys",
    ),
    Route("GET", _USER, get_user, "Get a user", "users", response=User),
    Route(
        "PATCH",
        _USER,
        update_user,
        "Change a user (group, limits, enabled…)",
        "users",
        body=UserUpdate,
        response=User,
        invalidates="keys",
    ),
    Route(
        "POST",
        _USER + "/topups",
        top_up,
        "Add to (or correct) a user's balance",
        "users",
        body=TopUp,
        response=ToppedUp,
        status=201,
        invalidates="keys",
    ),
    Route(
        "GET",
        _USER + "/ledger",
        ledger,
        "A user's balance ledger, newest first",
        "users",
        query=EntryQuery,
        response=EntryList,
    ),
    Route("GET", "/admin/groups", list_groups, "List groups", "groups", response=GroupList),
    Route(
        "POST",
        "/admin/groups",
        create_group,
        "Create a group",
        "groups",
        body=GroupCreate,
        response=Group,
        status=201,
        invalidates="keys",
    ),
    Route("GET", _GROUP, get_group, "Get a group", "groups", response=Group),
    Route(
        "PATCH",
        _GROUP,
        update_group,
        "Change a group (its ratio applies from now on)",
        "groups",
        body=GroupUpdate,
        response=Group,
        invalidates="keys",
    ),
    Route(
        "DELETE",
        _GROUP,
        delete_group,
        "Delete an empty group",
        "groups",
        status=204,
        invalidates="keys",
    ),
)
