"""Console sessions: what a browser holds instead of a key.

Signing in with a key opens a session: the browser gets a random token in an HttpOnly,
SameSite=Strict cookie (kept here only as its SHA-256) and a CSRF token it must echo on every
mutating call. The key itself stays on the server, encrypted with the gateway's secret box, so
every request of the session is authenticated as that key again — revoking, disabling or
expiring the key ends its sessions at once, and its IP allow-list still applies. Sessions end
at their expiry or at sign-out; expired rows are deleted as they are met and by ``purge``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from omnirelay.crypto import SecretBox
from omnirelay.platform.paging import utc
from omnirelay.store import Database, console_sessions

COOKIE = "omnirelay_session"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True, slots=True)
class Session:
    id: int
    key_id: int
    raw_key: str  # decrypted for this request only; never logged nor answered
    csrf_token: str
    expires_at: datetime

    def csrf_matches(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given, self.csrf_token)


@dataclass(frozen=True, slots=True)
class Opened:
    token: str  # the cookie's value
    csrf_token: str
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(
    db: Database,
    box: SecretBox,
    *,
    raw_key: str,
    key_id: int,
    lifetime: timedelta,
    ip: str | None,
    user_agent: str | None,
) -> Opened:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    async with db.engine.begin() as conn:
        await conn.execute(
            console_sessions.insert().values(
                token_hash=_digest(token),
                key_id=key_id,
                key_enc=box.encrypt(raw_key),
                csrf_token=csrf,
                created_at=now,
                expires_at=now + lifetime,
                ip=ip,
                user_agent=(user_agent or "")[:300] or None,
            )
        )
    return Opened(token, csrf, now + lifetime)


async def find(db: Database, box: SecretBox, token: str) -> Session | None:
    """The live session of a cookie's token, or None (unknown, expired or undecryptable)."""
    digest = _digest(token)
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(
                select(console_sessions).where(console_sessions.c.token_hash == digest)
            )
        ).first()
    if row is None:
        return None
    expires = utc(row.expires_at)
    if expires <= datetime.now(UTC):
        await close(db, token)
        return None
    try:
        raw = box.decrypt(row.key_enc)
    except ValueError:
        return None  # the gateway's secret changed: sign in again
    return Session(row.id, row.key_id, raw, row.csrf_token, expires)


async def close(db: Database, token: str) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(
            delete(console_sessions).where(console_sessions.c.token_hash == _digest(token))
        )


async def purge(db: Database) -> int:
    """Delete every expired session; returns how many."""
    async with db.engine.begin() as conn:
        result = await conn.execute(
            delete(console_sessions).where(console_sessions.c.expires_at <= datetime.now(UTC))
        )
    return int(result.rowcount or 0)
