"""One UPDATE for many rows, each with its own values: ``UPDATE … FROM (SELECT … UNION ALL
SELECT …) AS v WHERE table.key = v.key``.

A batch of writes (``tasks/commits.py``) used to send one UPDATE per row: a round trip, and
SQLAlchemy's building and compiling of a statement, each. Here the rows travel as a list in
one statement, which SQLite (3.33 and later: UPDATE … FROM) and PostgreSQL both take.
Statements are built once per size, with bound parameters only; sizes are rounded up to a power
of two (the extra rows are NULLs, which match no row), so a backend prepares a handful of
statements per kind, not one per batch size.

The rows are a subquery, not a CTE: a statement that begins with ``WITH`` is not seen as a
write by Python's sqlite3 module, which then opens no transaction for it. As the first
statement of a transaction it committed on its own: a task marked settled stayed so while the
money and the usage record written after it in the same transaction were rolled back (or lost
with a process killed in between).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Subquery, bindparam, select, union_all
from sqlalchemy.sql.dml import Update
from sqlalchemy.types import TypeEngine

# Builds the statement from the rows (a subquery named ``v``, with the declared columns).
Build = Callable[[Subquery], Update]


class BatchUpdate:
    """An UPDATE of many rows at once, each row given as a tuple in ``columns``' order."""

    def __init__(self, columns: Sequence[tuple[str, TypeEngine[Any]]], build: Build) -> None:
        self._columns = tuple(columns)
        self._build = build
        self._statements: dict[int, tuple[Update, list[list[str]]]] = {}

    def __call__(self, rows: Sequence[Sequence[Any]]) -> tuple[Update, dict[str, Any]]:
        """The statement for ``rows`` (at least one) and its parameters."""
        size = 1 << (len(rows) - 1).bit_length()
        built = self._statements.get(size)
        if built is None:
            names = [[f"r{i}_{name}" for name, _ in self._columns] for i in range(size)]
            built = self._statements[size] = (self._statement(names), names)
        statement, names = built
        params: dict[str, Any] = {}
        for keys, row in zip(names, rows, strict=False):
            params.update(zip(keys, row, strict=True))
        for keys in names[len(rows) :]:
            params.update(dict.fromkeys(keys))
        return statement, params

    def _statement(self, names: list[list[str]]) -> Update:
        # SELECT … UNION ALL SELECT …, not VALUES: SQLAlchemy caches the compiled form of
        # this (it compiles a VALUES list again at every execution), and each row's bound
        # parameters carry their types (PostgreSQL casts them: ``$1::VARCHAR``).
        rows = [
            select(
                *(
                    bindparam(key, type_=type_).label(name)
                    for key, (name, type_) in zip(keys, self._columns, strict=True)
                )
            )
            for keys in names
        ]
        return self._build((union_all(*rows) if len(rows) > 1 else rows[0]).subquery("v"))
