"""Stored Responses API answers: write one, read or delete it by id, always within one key
(another key's response is as absent as one that never existed)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import delete, select

from omnirelay.store.db import Database
from omnirelay.store.tables import responses


@dataclass(frozen=True, slots=True)
class StoredResponse:
    id: str
    model: str
    context: list[dict[str, Any]]  # the input items it was made from, earlier turns included
    body: bytes  # the Response object as answered

    @property
    def output(self) -> list[dict[str, Any]]:
        document = msgspec.json.decode(self.body)
        output = document.get("output") if isinstance(document, dict) else None
        return [i for i in output or () if isinstance(i, dict)]


class ResponseStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(
        self, key_id: int, response_id: str, model: str, context: list[Any], body: bytes
    ) -> None:
        values = {
            "id": response_id,
            "key_id": key_id,
            "model": model,
            "context": msgspec.json.encode(context).decode(),
            "body": body.decode(),
            "created_ms": int(time.time() * 1000),
        }
        async with self._db.engine.begin() as conn:
            # An upstream may reuse an id (a retried request): the newest answer wins.
            await conn.execute(
                delete(responses).where(responses.c.id == response_id, responses.c.key_id == key_id)
            )
            await conn.execute(responses.insert().values(**values))

    async def get(self, key_id: int, response_id: str) -> StoredResponse | None:
        query = select(responses).where(responses.c.id == response_id, responses.c.key_id == key_id)
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return StoredResponse(
            id=row.id,
            model=row.model,
            context=msgspec.json.decode(row.context),
            body=row.body.encode(),
        )

    async def delete(self, key_id: int, response_id: str) -> bool:
        query = delete(responses).where(responses.c.id == response_id, responses.c.key_id == key_id)
        async with self._db.engine.begin() as conn:
            result = await conn.execute(query)
        return bool(result.rowcount)
