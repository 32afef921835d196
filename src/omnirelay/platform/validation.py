"""The checks shared by every way in (the admin API and the command line), so both refuse
the same things with the same words."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from ipaddress import ip_network

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from omnirelay.errors import Conflict, InvalidRequest
from omnirelay.store import models

__all__ = ["Conflict", "check", "check_networks", "known_models"]


def check(condition: bool, message: str, param: str | None = None) -> None:
    if not condition:
        raise InvalidRequest(message, param=param)


async def known_models(conn: AsyncConnection, names: Iterable[str]) -> list[str]:
    """``names`` if every one is in the catalogue; else say which is not (and what is near)."""
    wanted = list(dict.fromkeys(n.strip() for n in names))
    known = set((await conn.execute(select(models.c.name))).scalars())
    for name in wanted:
        if name not in known:
            near = difflib.get_close_matches(name, sorted(known), n=3)
            hint = f"; did you mean {', '.join(repr(n) for n in near)}?" if near else ""
            raise InvalidRequest(f"unknown model '{name}'{hint}", param="models")
    return wanted


def check_networks(networks: Iterable[str]) -> list[str]:
    """CIDR blocks (or single addresses), normalised; a bad one is refused by name."""
    found = []
    for raw in networks:
        try:
            found.append(str(ip_network(raw.strip(), strict=False)))
        except ValueError as exc:
            raise InvalidRequest(
                f"'{raw}' is not an IP address or CIDR block ({exc})", param="allowed_ips"
            ) from exc
    return found
