"""API keys: created once and shown once, stored as SHA-256 hashes, looked up through a cache.

Keys are 256-bit random tokens, so a fast hash is enough (no password stretching needed).
A user key spends its user's balance; an admin key belongs to no user and manages the gateway.
The cache holds what a key *may* do (models, expiry, enabled, address, its user's group and
rate limits); the balance is never cached: billing reads and writes it in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Any

import msgspec
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from omnirelay.errors import AuthenticationFailed, PermissionDenied
from omnirelay.platform.auth_throttle import AuthThrottle
from omnirelay.platform.context import current
from omnirelay.platform.limits.base import Limits, Scope, limits_from_json, scopes_for
from omnirelay.store import Database, api_keys, groups, users

IPNetwork = IPv4Network | IPv6Network
log = logging.getLogger(__name__)

KEY_PREFIX = "sk-or-"
# A cached key is re-read in the background once its entry is this share of the TTL old.
REFRESH_AFTER = 0.5
# Keys used within this many seconds are kept fresh in the background even while idle, so
# the first request after a pause does not wait for the database either.
KEEP_WARM_SECONDS = 60.0
_WARM_BATCH = 100
_WARM_SLICE = 20  # records made between two yields (~20 µs each)


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


# Copying an empty hasher skips OpenSSL's set-up of a new one: 0.36 us a key instead of 0.87.
_SHA256 = hashlib.sha256()


def hash_key(raw: str) -> str:
    hasher = _SHA256.copy()
    hasher.update(raw.encode())
    return hasher.hexdigest()


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What a key may do, with its user's and group's part of it (cached; never a balance)."""

    id: int
    name: str
    models: frozenset[str] | None
    expires_at: datetime | None
    is_admin: bool
    enabled: bool
    limited: bool  # has a quota of its own (False: only its user's balance limits it)
    user_id: int | None = None  # None: an admin key, which belongs to no user
    user_limited: bool = False  # its user has a balance (False: unlimited)
    group: str = "default"
    ratio_ppm: int = 1_000_000  # the group's price ratio
    group_models: frozenset[str] | None = None
    networks: tuple[IPNetwork, ...] | None = None  # the IP allow-list
    scopes: tuple[Scope, ...] = ()  # its rate limits and its user's

    def may_use(self, model: str) -> bool:
        return (self.models is None or model in self.models) and (
            self.group_models is None or model in self.group_models
        )

    def check_model(self, model: str) -> None:
        if self.models is not None and model not in self.models:
            raise PermissionDenied(f"this API key may not use the model '{model}'")
        if self.group_models is not None and model not in self.group_models:
            raise PermissionDenied(
                f"the group '{self.group}' may not use the model '{model}'",
                code="model_not_in_group",
            )

    def check_address(self, ip: str | None) -> None:
        if self.networks is None or ip is None:
            return
        try:
            address = ip_address(ip)
        except ValueError:
            address = None
        if address is None or not any(address in network for network in self.networks):
            raise PermissionDenied(f"this API key may not be used from {ip}", code="ip_not_allowed")


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # SQLite returns naive datetimes
    return value


def _record(row: Any) -> KeyRecord:
    group_limits = limits_from_json(row.group_limits)
    return KeyRecord(
        id=row.id,
        name=row.name,
        models=frozenset(row.models) if row.models is not None else None,
        expires_at=_utc(row.expires_at),
        is_admin=bool(row.is_admin),
        enabled=bool(row.enabled) and (row.user_id is None or bool(row.user_enabled)),
        limited=row.quota_remaining is not None,
        user_id=row.user_id,
        user_limited=row.user_id is not None and row.user_balance is not None,
        group=row.group_name or "default",
        ratio_ppm=row.ratio_ppm if row.ratio_ppm is not None else 1_000_000,
        group_models=frozenset(row.group_models) if row.group_models is not None else None,
        networks=tuple(ip_network(n, strict=False) for n in row.allowed_ips)
        if row.allowed_ips
        else None,
        scopes=scopes_for(
            row.id,
            limits_from_json(row.limits),
            row.user_id,
            limits_from_json(row.user_limits),
            group_limits,
        ),
    )


# A key with its user's and group's columns, as the cache needs them.
KEY_WITH_USER = select(
    api_keys,
    users.c.balance.label("user_balance"),
    users.c.enabled.label("user_enabled"),
    users.c.limits.label("user_limits"),
    groups.c.name.label("group_name"),
    groups.c.ratio_ppm,
    groups.c.models.label("group_models"),
    groups.c.limits.label("group_limits"),
).select_from(
    api_keys.outerjoin(users, users.c.id == api_keys.c.user_id).outerjoin(
        groups, groups.c.id == users.c.group_id
    )
)


# Built once (bound parameters): a statement built per read costs its cache key every time.
_KEY_BY_HASH = KEY_WITH_USER.where(api_keys.c.key_hash == bindparam("digest"))
_KEYS_BY_HASH = KEY_WITH_USER.where(api_keys.c.key_hash.in_(bindparam("digests", expanding=True)))


async def default_group_id(conn: AsyncConnection) -> int:
    found = await conn.scalar(select(groups.c.id).where(groups.c.name == "default"))
    if found is None:  # deleted by hand: make it again
        result = await conn.execute(
            groups.insert().values(
                name="default", ratio_ppm=1_000_000, created_at=datetime.now(UTC)
            )
        )
        found = result.inserted_primary_key[0]  # type: ignore[index]
    return int(found)


async def _user_for(conn: AsyncConnection, name: str) -> int:
    """A new user of its own for a key created without one (named after it, made unique)."""
    taken = set(
        (await conn.execute(select(users.c.name).where(users.c.name.like(f"{name}%")))).scalars()
    )
    unique, n = name, 1
    while unique in taken:
        n += 1
        unique = f"{name}-{n}"
    result = await conn.execute(
        users.insert().values(
            name=unique,
            group_id=await default_group_id(conn),
            balance=None,
            spent=0,
            enabled=True,
            created_at=datetime.now(UTC),
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def create_key(
    db: Database,
    *,
    name: str,
    quota: int | None = None,
    models: Iterable[str] | None = None,
    expires_at: datetime | None = None,
    is_admin: bool = False,
    raw: str | None = None,
    user_id: int | None = None,
    allowed_ips: Iterable[str] | None = None,
    limits: Limits | None = None,
    webhook_secret: str | None = None,
) -> tuple[str, int]:
    """Store a new key and return (the raw key, its id). The raw key is not kept.

    ``quota`` is the key's own cap (None: none); it spends its user's balance. A user key
    created without ``user_id`` gets a user of its own (unlimited balance). ``webhook_secret``
    is the key's signing secret already encrypted (``tasks.signing``). Storage only:
    ``platform.keyring`` validates what people ask for.
    """
    raw = raw or new_key()
    async with db.engine.begin() as conn:
        if user_id is None and not is_admin:
            user_id = await _user_for(conn, name)
        result = await conn.execute(
            api_keys.insert().values(
                name=name,
                key_hash=hash_key(raw),
                key_prefix=raw[:10],
                quota_remaining=quota,
                spent=0,
                models=sorted(models) if models is not None else None,
                expires_at=expires_at,
                is_admin=is_admin,
                enabled=True,
                created_at=datetime.now(UTC),
                user_id=None if is_admin else user_id,
                allowed_ips=list(allowed_ips) if allowed_ips is not None else None,
                limits=msgspec.to_builtins(limits) if limits is not None else None,
                webhook_secret=webhook_secret,
            )
        )
        key_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    return raw, key_id


async def ensure_admin_key(db: Database, raw: str | None) -> str | None:
    """Make sure an admin key exists. Returns a newly generated raw key, or None."""
    async with db.engine.connect() as conn:
        if raw is not None:
            found = await conn.scalar(
                select(api_keys.c.id).where(api_keys.c.key_hash == hash_key(raw))
            )
            if found is not None:
                return None
        else:
            found = await conn.scalar(select(api_keys.c.id).where(api_keys.c.is_admin))
            if found is not None:
                return None
    created, _ = await create_key(db, name="admin", is_admin=True, raw=raw)
    return None if raw is not None else created


class KeyCache:
    """Maps raw keys to records, re-reading a key from the database after ``ttl`` seconds.

    A key in use is re-read in the background once its entry is half its ``ttl`` old, while
    the entry still answers: a busy key never makes a request wait for the database (it did,
    once per ``ttl``, on the request's own path). Once ``start``ed, keys used in the last
    ``KEEP_WARM_SECONDS`` are also re-read every third of ``ttl``, in batches, whether or not
    requests come. An entry older than ``ttl`` is never used, so a change (a key revoked)
    still takes effect within ``ttl`` without an invalidation.

    Keys are found by their SHA-256 digest (in the cache and the database), never compared
    as text, so how long a lookup takes says nothing about a guess; wrong keys count against
    the client's address (``platform.auth_throttle``)."""

    def __init__(self, db: Database, ttl: float, throttle: AuthThrottle | None = None) -> None:
        self._db = db
        self._ttl = ttl
        self._entries: dict[str, tuple[float, KeyRecord]] = {}
        # Lookups under way: requests that miss together share one query (when an entry
        # expires under load, every request in flight would otherwise ask the database).
        self._reading: dict[str, asyncio.Future[Any]] = {}
        # Bumped by every invalidation: a read begun before one is not cached after it.
        self._generation = 0
        self._used: dict[str, float] = {}  # digest → when a request last presented it
        self._warmer: asyncio.Task[None] | None = None
        self.throttle = throttle

    def start(self) -> None:
        self._warmer = asyncio.create_task(self._keep_warm(), name="key-cache")

    async def stop(self) -> None:
        if self._warmer is not None:
            self._warmer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warmer
            self._warmer = None

    async def _keep_warm(self) -> None:
        period = self._ttl / 3
        while True:
            await asyncio.sleep(period)
            try:
                await self.refresh_recent(period)
            except Exception:
                log.exception("re-reading cached API keys failed; they expire as usual")

    async def refresh_recent(self, older_than: float) -> None:
        """Re-read the cached keys used lately whose entries are ``older_than`` seconds."""
        now = time.monotonic()
        for digest, used in list(self._used.items()):
            if now - used > KEEP_WARM_SECONDS:
                del self._used[digest]
        due = [
            digest
            for digest in self._used
            if (entry := self._entries.get(digest)) is not None
            and now - entry[0] >= older_than
            and digest not in self._reading
        ]
        for start in range(0, len(due), _WARM_BATCH):
            chunk = due[start : start + _WARM_BATCH]
            started, generation = time.monotonic(), self._generation
            async with self._db.engine.connect() as conn:
                if len(chunk) == 1:  # the common case; an IN list costs its expansion
                    rows = (await conn.execute(_KEY_BY_HASH, {"digest": chunk[0]})).all()
                else:
                    rows = (await conn.execute(_KEYS_BY_HASH, {"digests": chunk})).all()
            if generation != self._generation:
                return  # invalidated meanwhile: these rows may be older than the change
            found = {row.key_hash: row for row in rows}
            for n, digest in enumerate(chunk, 1):
                row = found.get(digest)
                if row is None:
                    self._entries.pop(digest, None)  # deleted: the next request is refused
                else:
                    self._keep(digest, (started, _record(row)))
                if n % _WARM_SLICE == 0:
                    await asyncio.sleep(0)  # requests run between slices of the batch
                    if generation != self._generation:
                        return

    def invalidate(self) -> None:
        self._generation += 1
        self._entries.clear()
        self._reading.clear()  # a lookup under way may have read the old row

    def _start_read(self, digest: str) -> asyncio.Future[Any]:
        reading = self._reading.get(digest)
        if reading is None:
            # Its own task: a caller that goes away (a client hanging up) cancels only itself.
            reading = self._reading[digest] = asyncio.ensure_future(self._query(digest))

            def done(finished: asyncio.Future[Any]) -> None:
                if self._reading.get(digest) is finished:
                    del self._reading[digest]
                if not finished.cancelled():
                    finished.exception()  # read by the callers; by nobody if all went away

            reading.add_done_callback(done)
        return reading

    async def _read(self, digest: str) -> Any:
        return await asyncio.shield(self._start_read(digest))

    def _keep(self, digest: str, entry: tuple[float, KeyRecord]) -> None:
        if len(self._entries) > 100_000:
            self._entries.clear()
            self._used.clear()
        self._entries[digest] = entry

    def _refresh(self, digest: str) -> None:
        """Re-read a key in the background; its entry answers meanwhile."""
        started, generation = time.monotonic(), self._generation

        def done(finished: asyncio.Future[Any]) -> None:
            if finished.cancelled() or finished.exception() is not None:
                return  # the entry expires as it would have; the next miss reads again
            if generation != self._generation:
                return  # invalidated meanwhile: the row may be older than the change
            row = finished.result()
            if row is None:
                self._entries.pop(digest, None)  # deleted: the next request is refused
            else:
                self._keep(digest, (started, _record(row)))

        self._start_read(digest).add_done_callback(done)

    async def _query(self, digest: str) -> Any:
        async with self._db.engine.connect() as conn:
            return (await conn.execute(_KEY_BY_HASH, {"digest": digest})).first()

    async def authenticate(self, raw: str | None) -> KeyRecord:
        """The key's record, if it may be used now and from here (the request's address)."""
        if not raw:
            raise AuthenticationFailed(
                "missing API key: send it as 'Authorization: Bearer <key>'",
                code="missing_api_key",
            )
        context = current()
        address = context.ip if context is not None else None
        if self.throttle is not None:
            self.throttle.check(address)
        digest = hash_key(raw)
        now = time.monotonic()
        entry = self._entries.get(digest)
        if entry is None or now - entry[0] > self._ttl:
            generation = self._generation
            row = await self._read(digest)
            if row is None:
                if self.throttle is not None:
                    self.throttle.failed(address)
                raise AuthenticationFailed("invalid API key")
            entry = (now, _record(row))
            if generation == self._generation:
                self._keep(digest, entry)
        elif now - entry[0] > self._ttl * REFRESH_AFTER and digest not in self._reading:
            self._refresh(digest)
        self._used[digest] = now
        record = entry[1]
        if not record.enabled:
            raise AuthenticationFailed("this API key is disabled", code="api_key_disabled")
        if record.expires_at is not None and record.expires_at <= datetime.now(UTC):
            raise AuthenticationFailed("this API key has expired", code="api_key_expired")
        if context is not None:
            record.check_address(context.ip)
            context.key = record
        return record
