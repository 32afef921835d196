"""Webhook signing secrets: each key's own (shown once, rotatable), stored so that the
database alone cannot forge a signature; keys from before 0011 as docs/operators/security.md says."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

from sqlalchemy import select

from omnirelay.config import normalize_database_url
from omnirelay.crypto import load_secret_box
from omnirelay.store import api_keys, open_database
from tests.support.kling import TEXT2VIDEO, submit
from tests.support.receiver import Received, signed_with, webhook_receiver
from tests.support.servers import GatewayProcess, start_gateway


def _finished(calls: list[Received]) -> bool:
    return any(json.loads(c.body)["data"]["task_status"] in ("succeed", "failed") for c in calls)


def _hooks(gateway: GatewayProcess, key: str) -> list[Received]:
    with webhook_receiver() as receiver:
        submit(gateway, TEXT2VIDEO, key, {"prompt": "a quiet bay", "callback_url": receiver.url})
        return receiver.wait_for(_finished)


def _stored(gateway: GatewayProcess, key_id: int) -> tuple[str | None, str]:
    async def read() -> tuple[str | None, str]:
        db = await open_database(normalize_database_url(gateway.database_url))
        try:
            async with db.engine.connect() as conn:
                row = (
                    await conn.execute(
                        select(api_keys.c.webhook_secret, api_keys.c.key_hash).where(
                            api_keys.c.id == key_id
                        )
                    )
                ).one()
        finally:
            await db.close()
        return row.webhook_secret, row.key_hash

    return asyncio.run(read())


def _forget_secret(gateway: GatewayProcess, key_id: int) -> None:
    """Make the key look like one created before migration 0011."""

    async def clear() -> None:
        db = await open_database(normalize_database_url(gateway.database_url))
        try:
            async with db.engine.begin() as conn:
                await conn.execute(
                    api_keys.update().where(api_keys.c.id == key_id).values(webhook_secret=None)
                )
        finally:
            await db.close()

    asyncio.run(clear())


def test_a_new_key_signs_with_its_own_secret_which_the_database_cannot_give(
    gateway: GatewayProcess,
) -> None:
    key, key_id = gateway.create_key("signing")
    secret = gateway.webhook_secret(key)
    assert secret.startswith("whsec_") and len(secret) > 40
    stored, key_hash = _stored(gateway, key_id)
    assert stored is not None and secret not in stored and stored != key_hash
    # Only with the gateway's secret key (outside the database) does it open.
    box = load_secret_box(None, gateway.data_dir)
    assert box.decrypt(stored) == secret
    # Never shown again.
    assert secret not in gateway.admin("GET", f"/admin/keys/{key_id}").text
    assert secret not in gateway.admin("GET", "/admin/keys").text
    calls = _hooks(gateway, key)
    assert calls and all(signed_with(secret, c) for c in calls)
    # The old derivation (the stored hash) no longer signs anything.
    assert not any(signed_with(key_hash, c) for c in calls)
    assert not any(signed_with(hashlib.sha256(key.encode()).hexdigest(), c) for c in calls)


def test_rotating_the_secret_shows_it_once_and_the_old_one_stops(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("rotating")
    old = gateway.webhook_secret(key)
    rotated = gateway.admin("POST", f"/admin/keys/{key_id}/webhook-secret")
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()["webhook_secret"]
    assert rotated.json()["id"] == key_id and new.startswith("whsec_") and new != old
    calls = _hooks(gateway, key)
    assert all(signed_with(new, c) for c in calls)
    assert not any(signed_with(old, c) for c in calls)
    # The audit log knows a rotation happened, not the secret.
    audit = gateway.admin("GET", "/admin/audit", params={"path": f"/admin/keys/{key_id}"})
    assert audit.status_code == 200 and new not in audit.text
    assert gateway.admin("POST", "/admin/keys/999999/webhook-secret").status_code == 404


def test_a_key_from_before_secrets_sends_unsigned_until_rotated(gateway: GatewayProcess) -> None:
    key, key_id = gateway.create_key("pre-0011")
    _forget_secret(gateway, key_id)
    calls = _hooks(gateway, key)
    assert calls and all("X-Omnirelay-Signature" not in c.headers for c in calls)
    new = gateway.admin("POST", f"/admin/keys/{key_id}/webhook-secret").json()["webhook_secret"]
    assert all(signed_with(new, c) for c in _hooks(gateway, key))


def test_legacy_signing_keeps_old_receivers_working_while_they_move(
    new_database_url: object, tmp_path: Path
) -> None:
    url = new_database_url("sqlite")  # type: ignore[operator]
    process = start_gateway(
        url, tmp_path / "legacy", extra_env={"OMNIRELAY_WEBHOOK_LEGACY_SIGNING": "1"}
    )
    try:
        key, key_id = process.create_key("old-receiver")
        _forget_secret(process, key_id)
        legacy = hashlib.sha256(key.encode()).hexdigest()  # what old receivers computed
        assert all(signed_with(legacy, c) for c in _hooks(process, key))
        # A key with a secret signs with it, legacy mode or not.
        other, _ = process.create_key("new-receiver")
        assert all(signed_with(process.webhook_secret(other), c) for c in _hooks(process, other))
    finally:
        process.stop()
