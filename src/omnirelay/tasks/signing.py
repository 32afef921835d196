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

from omnirelay.crypto import SecretBox

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


class SigningKeys:
    """The HMAC key of each API key's webhooks, decrypted when a webhook goes out."""

    def __init__(self, box: SecretBox, *, legacy: bool = False) -> None:
        self._box = box
        self._legacy = legacy
        self._warned: set[int] = set()

    def resolve(
        self, key_id: int, webhook_secret: str | None, key_hash: str | None
    ) -> bytes | None:
        """The HMAC key from a key's stored columns (the outbox reads them with its claim);
        None: send unsigned (a key without a secret while legacy signing is off)."""
        if webhook_secret is not None:
            return self._box.decrypt(webhook_secret).encode()
        if self._legacy and key_hash is not None:
            return key_hash.encode("ascii")
        if key_id not in self._warned:
            self._warned.add(key_id)
            log.warning(
                "key %d has no webhook signing secret (made before 0011): its webhooks go out "
                "unsigned until its secret is rotated (docs/operators/security.md)",
                key_id,
            )
        return None
