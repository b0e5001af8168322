"""What every context's SQL needs: the dialect, staging tables, raw rows, advisory locks.

SQLite is the embedded default and PostgreSQL production; a statement that reads or writes a
whole table (a dispatch, a bulk load, coverage) is written once, with the few words that differ
between them taken from here. No other module asks which database it runs on.

A context's own statements live in its `sql.py`; this module holds only what they share.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from django.db import connection, transaction

# The audit log's table and the columns a statement fills when it writes its own audit row in
# the same statement as the change it records (the single scan's fast way, testing/sql.py):
# the row `core.audit.record` writes, without its `before`.
AUDIT_INSERT = (
    "INSERT INTO core_auditentry"
    " (action, actor_id, actor_label, object_type, object_id, after, reason, district_id, at)"
)

# --- the dialect -----------------------------------------------------------------------------


def postgres() -> bool:
    """True on PostgreSQL (production), False on SQLite (the embedded default)."""
    return connection.vendor == "postgresql"


def false() -> str:
    return "FALSE" if postgres() else "0"


def true() -> str:
    return "TRUE" if postgres() else "1"


def fence() -> str:
    """Ends a subquery that PostgreSQL must plan on its own, keeping its order (`OFFSET 0`: it is
    not pulled up into the outer statement); SQLite plans it as it is."""
    return "OFFSET 0" if postgres() else ""


def bool_or() -> str:
    """The aggregate "any of these is true"."""
    return "bool_or" if postgres() else "max"


def bool_and() -> str:
    """The aggregate "all of these are true"."""
    return "bool_and" if postgres() else "min"


def bool_type() -> str:
    return "boolean" if postgres() else "integer"


def time_type() -> str:
    """The column type of an aware moment in a staging table."""
    return "timestamptz" if postgres() else "text"


def json_object() -> str:
    return "jsonb_build_object" if postgres() else "json_object"


def bytewise() -> str:
    """A collation for grouping codes by their bytes, not the database's language (several
    times cheaper to sort; grouping only needs equal to be equal)."""
    return ' COLLATE "C"' if postgres() else ""


def random_digits(digits: int) -> str:
    """An expression giving a random string of `digits` decimal digits (recipient codes)."""
    if not 1 <= digits <= 9:
        raise ValueError("between 1 and 9 digits")
    top = 10**digits
    if postgres():
        return f"lpad(CAST(CAST(floor(random() * {top}) AS integer) AS text), {digits}, '0')"
    return f"substr('{'0' * (digits - 1)}' || (abs(random()) % {top}), -{digits}, {digits})"


# --- running statements ---------------------------------------------------------------------


def run(statement: str, params: Sequence[Any] = ()) -> int:
    """Run one statement; the number of rows it changed (0 when the driver cannot tell)."""
    with connection.cursor() as cursor:
        cursor.execute(statement, list(params))
        return max(cursor.rowcount, 0)


def run_named(statement: str, params: Mapping[str, Any]) -> int:
    """Run one statement with named parameters (`%(name)s`): for a value used several times."""
    with connection.cursor() as cursor:
        cursor.execute(statement, dict(params))
        return max(cursor.rowcount, 0)


def run_many(statement: str, params: Iterable[Sequence[Any]]) -> None:
    """Run one statement for each row of parameters (a few thousand at most; bulk rows go
    through `city.bulk.write_frame`)."""
    with connection.cursor() as cursor:
        cursor.executemany(statement, [list(row) for row in params])


def rows(statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(statement, list(params))
        return list(cursor.fetchall())


def one(statement: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
    with connection.cursor() as cursor:
        cursor.execute(statement, list(params))
        return cursor.fetchone()


def of_query(queryset: Any) -> tuple[str, list[Any]]:
    """A queryset's SQL and parameters, to be used as a subquery of a set-based statement."""
    sql, params = queryset.query.sql_with_params()
    return sql, list(params)


# Planning a small hot statement can cost PostgreSQL several times running it (the single
# scan, docs/BENCHMARKS.md): each connection prepares it once and then only executes it.
# Prepared statements outlive a rollback and die with their connection.
_prepared: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
_PLACEHOLDER = re.compile("%s")


def run_prepared(cursor: Any, name: str, statement: str, params: list[Any]) -> None:
    """Run `statement` on `cursor`: prepared once per connection on PostgreSQL under `name`,
    as SQLite's statement cache already does."""
    if not postgres():
        cursor.execute(statement, params)
        return
    names = _prepared.setdefault(connection.connection, set())
    if name not in names:
        numbered = iter(range(1, len(params) + 1))
        cursor.execute(f"PREPARE {name} AS " + _PLACEHOLDER.sub(lambda _m: f"${next(numbered)}", statement))
        names.add(name)
    cursor.execute(f"EXECUTE {name}({', '.join(['%s'] * len(params))})", params)


def set_local(**settings: str) -> None:
    """PostgreSQL planner settings for the rest of the transaction (`jit="off"`); nothing on
    SQLite. Names and values are the caller's constants, never user input."""
    if not postgres():
        return
    require_transaction("SET LOCAL")
    for name, value in settings.items():
        if not re.fullmatch(r"[a-z_]+", name) or not re.fullmatch(r"[A-Za-z0-9_.']+", value):
            raise ValueError(f"not a setting: {name} = {value}")
        run(f"SET LOCAL {name} = {value}")


# --- staging tables --------------------------------------------------------------------------


def stage_table(name: str, columns: str) -> None:
    """A fresh TEMP table `name` with `columns` (SQL), for one set-based step's joins: the
    rows a statement needs, so that no statement reads the table it fills."""
    run(f"DROP TABLE IF EXISTS {name}")
    run(f"CREATE TEMP TABLE {name} ({columns})")


def scratch_table(name: str, columns: str) -> None:
    """A TEMP table `name` with `columns` (SQL), empty, for a step that runs often (a health
    code's recolouring runs with every trigger): made once per connection and emptied each time.
    A table created and dropped at every step takes a new lock each time, held until the
    transaction ends, and a long transaction (a scenario replayed in one, a batch of cases) runs
    out of PostgreSQL's lock table. Its columns are the name's own: one name, one shape."""
    run(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({columns})")
    empty_table(name)


def empty_table(name: str) -> None:
    """Empty a (temporary) table: TRUNCATE on PostgreSQL, which leaves no dead rows behind (no
    autovacuum ever visits a temporary table), DELETE on SQLite, which has no TRUNCATE."""
    run(f"TRUNCATE {name}" if postgres() else f"DELETE FROM {name}")


def drop_table(name: str) -> None:
    run(f"DROP TABLE IF EXISTS {name}")


def analyze(table: str) -> None:
    """PostgreSQL has no statistics of a temporary table until it is analysed (autovacuum never
    sees it): without them it plans the next joins as if the stage held a handful of rows."""
    if postgres():
        run(f"ANALYZE {table}")


# --- moments in raw rows ---------------------------------------------------------------------


def db_datetime(moment: datetime) -> Any:
    """An aware moment as a parameter of a raw statement (SQLite stores text in UTC)."""
    return connection.ops.adapt_datetimefield_value(moment)


def as_datetime(value: Any) -> datetime:
    """A moment read from a raw row, aware: PostgreSQL gives datetimes, SQLite text in UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def as_datetime_or_none(value: Any) -> datetime | None:
    return None if value is None else as_datetime(value)


# --- advisory locks --------------------------------------------------------------------------


class Lock(IntEnum):
    """Every advisory lock of the platform, in one place so that no two share a key.

    SQLite needs none of them: its IMMEDIATE transactions admit one writer at a time.
    """

    # Bulk changes of the registry (generation, build, import): two at once would both read
    # "empty" or the same next ids and collide half-way.
    REGISTRY = 0x42A57100
    # Mass testing's bulk loads take it exclusively for each chunk they classify and move;
    # single scans and results take it shared, so that nothing lands between a chunk's
    # classification and its writes.
    INGEST = 0x42A57200
    # The day's dispatch of packages into building tasks: two at once would both see the same
    # households due or the same buildings without a task.
    DISPATCH = 0x42A57501
    # Transfer's assignment of beds, vehicles and seats: two dispatchers at once would both
    # count the same bed free (the unique beds and seats held are the backstop).
    TRANSFER = 0x42A57601


def require_transaction(what: str = "this") -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(f"{what} must run inside transaction.atomic()")


def advisory_lock(key: Lock, *, sub: int | None = None, shared: bool = False, wait: bool = True) -> bool:
    """Take `key` (with an optional `sub` key) until the end of the current transaction.

    With `wait` False, take it only if it is free: False when another transaction holds it.
    Always True on SQLite. Refuses to run outside a transaction, where the lock would be
    released at once and protect nothing.
    """
    require_transaction(f"the advisory lock {key.name}")
    if not postgres():
        return True
    name = "pg_" + ("" if wait else "try_") + "advisory_xact_lock" + ("_shared" if shared else "")
    keys = [int(key)] if sub is None else [int(key), sub]
    got = one(f"SELECT {name}({', '.join(['%s'] * len(keys))})", keys)
    return wait or bool(got and got[0])
