"""Webhook signing secrets: one per API key, its own random secret (``whsec_...``).

The secret is shown once (when the key is made, or when an operator rotates it) and stored
encrypted with the gateway's secret key (``crypto.SecretBox``), so a copy of the database
alone cannot forge a signature. Keys made before secrets existed (migration 0011) have none:
their webhooks go out unsigned, or — while ``webhook_legacy_signing`` is on, for receivers not
yet moved over — signed the old way, keyed with the key's stored SHA-256 hash.
"""

from __future__ import annotations

import logging
import secrets

from sqlalchemy import select

from omnirelay.crypto import SecretBox
from omnirelay.store import Database, api_keys

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


class SigningKeys:
    """The HMAC key of each API key's webhooks, read (and decrypted) when a webhook goes out."""

    def __init__(self, db: Database, box: SecretBox, *, legacy: bool = False) -> None:
        self._db = db
        self._box = box
        self._legacy = legacy
        self._warned: set[int] = set()

    async def key_for(self, key_id: int) -> bytes | None:
        """None: send unsigned (a key without a secret, legacy signing off, or deleted)."""
        async with self._db.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(api_keys.c.webhook_secret, api_keys.c.key_hash).where(
                        api_keys.c.id == key_id
                    )
                )
            ).first()
        if row is None:
            return None
        if row.webhook_secret is not None:
            return self._box.decrypt(row.webhook_secret).encode()
        if self._legacy:
            return str(row.key_hash).encode("ascii")
        if key_id not in self._warned:
            self._warned.add(key_id)
            log.warning(
                "key %d has no webhook signing secret (made before 0011): its webhooks go out "
                "unsigned until its secret is rotated (docs/security.md)",
                key_id,
            )
        return None
