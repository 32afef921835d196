"""``/admin/channels``: upstream channels (secrets write-only), their test and health."""

from __future__ import annotations

import msgspec

from omnirelay.api.admin.base import AdminCall, Route
from omnirelay.errors import NotFound
from omnirelay.platform import channel_admin
from omnirelay.platform.channel_admin import (
    ChannelCreate,
    ChannelHealthView,
    ChannelTest,
    ChannelUpdate,
    ChannelView,
    TestResult,
)
from omnirelay.store import channels
from omnirelay.vendors import TaskVendor


class ChannelList(msgspec.Struct):
    data: list[ChannelView]


class HealthList(msgspec.Struct):
    data: list[ChannelHealthView]


class SecretField(msgspec.Struct):
    name: str
    label: str
    placeholder: str


class VendorForm(msgspec.Struct):
    """What a channel of one vendor needs: the console draws its form from this."""

    name: str
    label: str
    base_url: str  # the vendor's own address; empty: none (a proxy the operator runs)
    secret: list[SecretField]  # joined with ``joiner`` into the channel's api_key
    joiner: str
    note: str
    operations: list[str]  # synchronous operations it relays
    tasks: bool  # runs asynchronous tasks
    models: list[str]  # the catalogue's models it serves when a channel lists none


class VendorList(msgspec.Struct):
    data: list[VendorForm]


async def list_vendors(call: AdminCall) -> VendorList:
    catalogue = call.gateway.catalogue
    forms = []
    for name, vendor in sorted(call.gateway.vendors.items()):
        form = vendor.form
        forms.append(
            VendorForm(
                name=name,
                label=form.label,
                base_url=form.base_url,
                secret=[SecretField(p.name, p.label, p.placeholder) for p in form.secret],
                joiner=form.joiner,
                note=form.note,
                operations=sorted(vendor.operations),
                tasks=isinstance(vendor, TaskVendor),
                models=sorted(m.name for m in catalogue.values() if m.family in vendor.families),
            )
        )
    return VendorList(forms)


async def list_channels(call: AdminCall) -> ChannelList:
    router = call.gateway.router
    return ChannelList([channel_admin.view(r, router) for r in await channel_admin.rows(call.db)])


async def get_channel(call: AdminCall) -> ChannelView:
    row = await channel_admin.row_of(call.db, call.path_int("channel_id"))
    return channel_admin.view(row, call.gateway.router)


async def create_channel(call: AdminCall) -> ChannelView:
    gateway = call.gateway
    channel_id = await channel_admin.create(
        call.db, call.body(ChannelCreate), gateway.vendors, gateway.box
    )
    return channel_admin.view(await channel_admin.row_of(call.db, channel_id), gateway.router)


async def update_channel(call: AdminCall) -> ChannelView:
    gateway, channel_id = call.gateway, call.path_int("channel_id")
    await channel_admin.update(
        call.db, channel_id, call.body(ChannelUpdate), gateway.vendors, gateway.box
    )
    return channel_admin.view(await channel_admin.row_of(call.db, channel_id), gateway.router)


async def delete_channel(call: AdminCall) -> None:
    await channel_admin.delete(call.db, call.path_int("channel_id"))


async def test_channel(call: AdminCall) -> TestResult:
    gateway = call.gateway
    row = await channel_admin.row_of(call.db, call.path_int("channel_id"))
    families = {name: vendor.families for name, vendor in gateway.vendors.items()}
    channel = channel_admin.loaded(row, gateway.box, gateway.catalogue, families)
    wanted = call.body(ChannelTest).model
    return await channel_admin.run_test(
        call.db, gateway.session, gateway.vendors, channel, gateway.catalogue, wanted
    )


async def channel_health(call: AdminCall) -> HealthList:
    router = call.gateway.router
    return HealthList([channel_admin.health(r, router) for r in await channel_admin.rows(call.db)])


async def set_enabled_by_name(call: AdminCall) -> ChannelView:
    """The console's enable/disable buttons (by name, as before ids were in the API)."""
    name, enabled = call.path("name"), call.path("action") == "enable"
    async with call.db.engine.begin() as conn:
        values = {"enabled": enabled, **(channel_admin.ENABLED_AGAIN if enabled else {})}
        result = await conn.execute(
            channels.update().where(channels.c.name == name).values(**values)
        )
    if result.rowcount != 1:
        raise NotFound(f"no channel named '{name}'")
    for row in await channel_admin.rows(call.db):
        if row.name == name:
            return channel_admin.view(row, call.gateway.router)
    raise NotFound(f"no channel named '{name}'")


_ONE = "/admin/channels/{channel_id:\\d+}"
ROUTES = (
    Route(
        "GET",
        "/admin/vendors",
        list_vendors,
        "The vendors a channel may be of, with the fields each needs",
        "channels",
        response=VendorList,
    ),
    Route(
        "GET",
        "/admin/channels",
        list_channels,
        "List channels (never their secrets)",
        "channels",
        response=ChannelList,
    ),
    Route(
        "POST",
        "/admin/channels",
        create_channel,
        "Create a channel",
        "channels",
        body=ChannelCreate,
        response=ChannelView,
        status=201,
        invalidates="catalogue",
    ),
    Route(
        "GET",
        "/admin/channels/health",
        channel_health,
        "Each channel's health as this node sees it",
        "channels",
        response=HealthList,
    ),
    Route("GET", _ONE, get_channel, "Get a channel", "channels", response=ChannelView),
    Route(
        "PATCH",
        _ONE,
        update_channel,
        "Change a channel (api_key replaces the secret)",
        "channels",
        body=ChannelUpdate,
        response=ChannelView,
        invalidates="catalogue",
    ),
    Route(
        "DELETE",
        _ONE,
        delete_channel,
        "Delete a channel",
        "channels",
        status=204,
        invalidates="catalogue",
    ),
    Route(
        "POST",
        _ONE + "/test",
        test_channel,
        "Send the smallest real request; record latency and answer",
        "channels",
        body=ChannelTest,
        response=TestResult,
    ),
    Route(
        "POST",
        "/admin/channels/{name}/{action:enable|disable}",
        set_enabled_by_name,
        "Enable or disable a channel by name",
        "channels",
        response=ChannelView,
        invalidates="catalogue",
    ),
)
