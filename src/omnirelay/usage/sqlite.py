"""A usage batch written to SQLite in one trip to a thread, in a few multi-row statements.

Through the async driver every statement is a round trip between the event loop and the
driver's thread, and each one waits for the GIL: under load a flush held SQLite's write lock
(which every worker process shares) for seconds. Here the transaction runs in a thread from
BEGIN to COMMIT, on a connection of its own.

That thread still gives up the GIL at every step of every statement (Python's sqlite3 module
releases it around SQLite's own work) and must win it back: while the event loop is busy, each
trip back waits for up to the interpreter's switch interval (5 ms), with the write lock held.
So every part of the batch goes in as a few multi-row statements (``ManyRows``) - the records,
their rollups, the keys' and the users' settlements (``executemany`` steps once a row) - and
the time a flush holds the lock no longer grows with how many keys, users and models it
covers. Only the releases of node holds stay one statement each: each one's row count says
whether its node was reaped.
"""

from __future__ import annotations

import operator
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Dialect

from omnirelay.store import usage_records
from omnirelay.usage.records import (
    RECORD_COLUMNS,
    ROLLUP_COLUMNS,
    ROLLUP_KEY,
    ROLLUP_SUMMED,
    Settlement,
    UsageEvent,
)

_MARK_BATCH = "INSERT INTO usage_batches (id, created_ms) VALUES (?, ?)"
_RELEASE = (
    "UPDATE node_holds SET amount = amount - ? WHERE node_id = ? AND key_id = ? AND user_id = ?"
)
# SQLite's limit on bound variables in one statement (999 before 3.32).
_VARIABLES = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999

Statement = tuple[str, list[Any]]


class ManyRows:
    """A statement that carries many rows of ``width`` values: ``sql`` with ``{rows}`` where
    they go (``(?, …), (?, …)``).

    The rows go 512 at most a statement, and the last statement's are padded with rows of
    NULLs up to a power of two, which the statement must skip (a real row's first value, or
    its id, is never NULL). So a kind has at most ten statements, each kept prepared in the
    connection's statement cache. One of every size a flush happens to have grew that cache
    by a megabyte a statement, and a worker by 200 MB within a minute of load; 1,024 rows a
    statement held the lock no shorter than 512 and kept 2 MB more prepared.

    Our own SQL (table and column names from our definitions); every value is bound."""

    def __init__(self, sql: str, width: int) -> None:
        self._template = sql
        self._width = width
        self._row = "(" + ", ".join("?" * width) + ")"
        self._largest = 1 << (min(_VARIABLES // width, 512).bit_length() - 1)
        self._sql: dict[int, str] = {}

    def statements(self, values: list[Any], largest: int | None = None) -> list[Statement]:
        """``values`` (rows one after another) as statements of whole powers of two of rows,
        ``largest`` (a power of two) at most if given."""
        found = []
        step = min(self._largest, largest or self._largest) * self._width
        for start in range(0, len(values), step):
            params = values[start : start + step]
            rows = len(params) // self._width
            size = 1 << (rows - 1).bit_length()
            params += [None] * ((size - rows) * self._width)
            sql = self._sql.get(size)
            if sql is None:
                rows_sql = ", ".join([self._row] * size)
                sql = self._sql[size] = self._template.replace("{rows}", rows_sql)
            found.append((sql, params))
        return found


# A padding row's first value is NULL; a real row's never is (a request id, an hour).
_RECORDS = ManyRows(
    f"INSERT INTO {usage_records.name} ({', '.join(RECORD_COLUMNS)}) "  # noqa: S608
    "SELECT * FROM (VALUES {rows}) WHERE column1 IS NOT NULL",
    len(RECORD_COLUMNS),
)
_ROLLUPS = ManyRows(
    f"INSERT INTO usage_hourly ({', '.join(ROLLUP_COLUMNS)}) "  # noqa: S608
    "SELECT * FROM (VALUES {rows}) WHERE column1 IS NOT NULL "
    f"ON CONFLICT ({', '.join(ROLLUP_KEY)}) DO UPDATE SET "
    + ", ".join(f"{c} = usage_hourly.{c} + excluded.{c}" for c in ROLLUP_SUMMED),
    len(ROLLUP_COLUMNS),
)
# (refund, spent, id) a row; a VALUES list names its columns column1, column2, ... NULL + n
# stays NULL: unlimited keys and users keep no balance, only what they spent. Each id comes
# once in a batch, so each row is updated once; a padding row's NULL id matches none.
_SETTLE_KEYS = ManyRows(
    "UPDATE api_keys SET quota_remaining = quota_remaining + v.column1, "
    "spent = spent + v.column2 FROM (VALUES {rows}) AS v WHERE api_keys.id = v.column3",
    3,
)
_SETTLE_USERS = ManyRows(
    "UPDATE users SET balance = balance + v.column1, spent = spent + v.column2 "
    "FROM (VALUES {rows}) AS v WHERE users.id = v.column3",
    3,
)


def _flat(rows: Sequence[Sequence[Any]]) -> list[Any]:
    return [value for row in rows for value in row]


class SQLiteBatch:
    """Writes whole batches to SQLite, each in one transaction run by ``write`` in a thread."""

    def __init__(self, path: str, dialect: Dialect) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None
        columns = [usage_records.c[name] for name in RECORD_COLUMNS]
        processors = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
        # A row's values in one C call; only the few columns with a processor (the time, the
        # booleans) go through Python.
        self._values = operator.attrgetter(*RECORD_COLUMNS)
        self._processors = [(i, p) for i, p in enumerate(processors) if p is not None]

    def values(self, events: Sequence[UsageEvent]) -> list[Any]:
        """The records' bound values, row after row (built on the event loop, a slice of the
        batch at a time)."""
        params: list[Any] = []
        values_of, processors = self._values, self._processors
        for event in events:
            values = list(values_of(event))
            for i, process in processors:
                values[i] = process(values[i])
            params += values
        return params

    def write(
        self,
        batch_id: str,
        values: list[Any],
        rolled: list[dict[str, Any]],
        settlement: Settlement,
        rows_per_statement: int | None = None,
    ) -> bool:
        """One transaction (runs in a worker thread): the batch's mark, the records (``values``),
        their rollups, the nodes' holds, then the keys' and the users' settlement. False if the
        batch had been applied already.

        ``rows_per_statement`` (a power of two) caps the statements' rows below 512. Binding a
        statement's values holds the GIL throughout (~0.15 µs a value): an event loop waking
        meanwhile waits for all of it, ~1.3-1.7 ms at 512 records, ~0.1-0.3 at 64 (``make
        bench``, the platform section).
        Each statement also passes the GIL back and forth once, which a busy loop makes slow
        while the write lock is held: few large statements under load, small ones when quiet."""
        if self._connection is None:
            self._connection = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, timeout=10
            )
            self._connection.execute("PRAGMA synchronous=NORMAL")
        connection = self._connection
        # Before BEGIN: flattening and padding the rows is Python work that needs the GIL, and
        # SQLite's write lock need not be held while this thread waits for it.
        statements = _RECORDS.statements(values, rows_per_statement)
        rollups = [row[name] for row in rolled for name in ROLLUP_COLUMNS]
        statements += _ROLLUPS.statements(rollups, rows_per_statement)
        connection.execute("BEGIN IMMEDIATE")
        try:
            try:
                connection.execute(_MARK_BATCH, (batch_id, int(time.time() * 1000)))
            except sqlite3.IntegrityError:
                connection.execute("ROLLBACK")
                return False
            for statement, params in statements:
                connection.execute(statement, params)
            for row in settlement.release_rows():
                if connection.execute(_RELEASE, row).rowcount != 1:
                    settlement.void(row[1:])
            # After the releases: a void release moves its refund into what is charged.
            settled = _SETTLE_KEYS.statements(_flat(settlement.rows(users_too=False)))
            settled += _SETTLE_USERS.statements(_flat(settlement.rows(users_too=True)))
            for statement, params in settled:
                connection.execute(statement, params)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        return True

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
