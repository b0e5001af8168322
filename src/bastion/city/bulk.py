"""Set-based writing of many rows: PostgreSQL COPY, SQLite executemany in one transaction.

The ORM is for one row at a time. Generation and imports hand whole columns to `write_table`,
which streams them into the database in the fastest way the vendor offers. Callers run it
inside one `transaction.atomic()`, so a load that is killed half-way leaves nothing behind.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import polars as pl
from django.db import connection
from psycopg.copy import QueuedLibpqWriter

from bastion.core import sql

CHUNK_ROWS = 500_000


def _require_transaction() -> None:
    sql.require_transaction("bulk writes")


def write_frame(table: str, frame: pl.DataFrame) -> int:
    """Write every row of `frame` (column names = table columns) into `table`."""
    _require_transaction()
    if frame.height == 0:
        return 0
    if sql.postgres():
        return _copy_frame(table, frame)
    return _executemany_frame(table, frame)


def write_frames(table: str, frames: Iterable[pl.DataFrame]) -> int:
    return sum(write_frame(table, frame) for frame in frames)


def _copy_frame(table: str, frame: pl.DataFrame) -> int:
    columns = ", ".join(f'"{name}"' for name in frame.columns)
    sql = f'COPY "{table}" ({columns}) FROM STDIN WITH (FORMAT csv)'
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        # The queued writer sends to the server from its own thread, so that formatting the
        # next chunk (polars, without the GIL) overlaps the server's parsing of this one.
        with raw.copy(sql, writer=QueuedLibpqWriter(raw)) as copy:
            for chunk in _csv_chunks(frame):
                copy.write(chunk)
    return frame.height


def csv_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False, null_value="")
    return buffer.getvalue()


def _csv_chunks(frame: pl.DataFrame) -> Iterator[bytes]:
    for start in range(0, frame.height, CHUNK_ROWS):
        yield csv_bytes(frame.slice(start, CHUNK_ROWS))


def _executemany_frame(table: str, frame: pl.DataFrame) -> int:
    columns = ", ".join(f'"{name}"' for name in frame.columns)
    marks = ", ".join(["?"] * frame.width)
    sql = f'INSERT INTO "{table}" ({columns}) VALUES ({marks})'
    raw = connection.connection  # sqlite3.Connection: its executemany is the fast path
    # SQLite keeps dates as ISO text and booleans as 0/1: convert whole columns in polars, then
    # hand plain lists to executemany (several times faster than polars' row iterator).
    plain = frame.with_columns(
        pl.col(pl.Date).dt.strftime("%Y-%m-%d"),
        pl.col(pl.Boolean).cast(pl.Int8),
    )
    for start in range(0, plain.height, CHUNK_ROWS):
        chunk = plain.slice(start, CHUNK_ROWS)
        raw.executemany(sql, zip(*(chunk[name].to_list() for name in chunk.columns), strict=True))
    return frame.height


@dataclass
class _Dropped:
    drop: list[str]
    create: list[str]


@contextmanager
def indexes_deferred(tables: Sequence[str]) -> Iterator[None]:
    """Drop the indexes and constraints of `tables`, rebuild them once on exit.

    Building an index once over loaded rows is several times cheaper than maintaining it
    row by row. On PostgreSQL this includes the primary keys and every foreign key that
    points at them; they come back in dependency order (keys, then unique indexes and
    indexes, then foreign keys, each validated over the whole table in one pass). Runs inside
    the caller's transaction, so a failure restores everything.
    """
    _require_transaction()
    saved = _postgres_indexes(tables) if sql.postgres() else _sqlite_indexes(tables)
    with connection.cursor() as cursor:
        for statement in saved.drop:
            cursor.execute(statement)
    yield
    with connection.cursor() as cursor:
        for statement in saved.create:
            cursor.execute(statement)


def _postgres_indexes(tables: Sequence[str]) -> _Dropped:
    names = list(tables)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT contype, conrelid::regclass::text, conname, pg_get_constraintdef(oid)
            FROM pg_constraint
            WHERE (contype IN ('p', 'u', 'f') AND conrelid = ANY(%s::regclass[]))
               OR (contype = 'f' AND confrelid = ANY(%s::regclass[]))
            """,
            [names, names],
        )
        constraints = {
            (table, name): (kind, definition) for kind, table, name, definition in cursor.fetchall()
        }
        cursor.execute(
            """
            SELECT x.indrelid::regclass::text, i.relname, pg_get_indexdef(i.oid) FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            WHERE x.indrelid = ANY(%s::regclass[]) AND NOT x.indisprimary
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)
            """,
            [names],
        )
        indexes = cursor.fetchall()

    def of(kind: str) -> list[tuple[str, str, str]]:
        return sorted((table, name, d) for (table, name), (k, d) in constraints.items() if k == kind)

    drop = [f'ALTER TABLE {table} DROP CONSTRAINT "{name}"' for table, name, _ in of("f")]
    drop += [f'ALTER TABLE {table} DROP CONSTRAINT "{name}"' for table, name, _ in of("u")]
    drop += [f'DROP INDEX "{name}"' for _, name, _ in indexes]
    drop += [f'ALTER TABLE {table} DROP CONSTRAINT "{name}"' for table, name, _ in of("p")]
    create = [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {d}' for table, name, d in of("p")]
    create += [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {d}' for table, name, d in of("u")]
    create += [definition for _, _, definition in indexes]
    create += [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {d}' for table, name, d in of("f")]
    return _Dropped(drop=drop, create=create)


def _sqlite_indexes(tables: Sequence[str]) -> _Dropped:
    drop: list[str] = []
    create: list[str] = []
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master"
                " WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL",
                [table],
            )
            for name, definition in cursor.fetchall():
                drop.append(f'DROP INDEX "{name}"')
                create.append(definition)
    return _Dropped(drop=drop, create=create)


def lock_registry() -> None:
    """Serialise bulk writers of the registry until the end of the current transaction.

    SQLite needs nothing more: its IMMEDIATE transactions already admit one writer at a time.
    """
    sql.advisory_lock(sql.Lock.REGISTRY)


def reserve_ids(table: str, count: int) -> int:
    """Reserve `count` consecutive ids of `table` and return the first.

    On PostgreSQL the table's sequence is moved past the block in one statement, so that an
    ordinary ORM insert committed meanwhile (an admin edit, a console action) takes an id after
    the block instead of colliding with it. SQLite admits one writer at a time, and its
    AUTOINCREMENT follows the largest id written.
    """
    _require_transaction()
    if count < 0:
        raise ValueError("cannot reserve a negative number of ids")
    if not sql.postgres():
        return next_id(table)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        sequence = cursor.fetchone()[0]
        cursor.execute(
            f"""
            SELECT setval(%s::regclass, GREATEST(
                       (SELECT COALESCE(MAX(id), 0) FROM "{table}"),
                       (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM {sequence})
                   ) + %s)
            """,
            [sequence, max(count, 1)],
        )
        last = int(cursor.fetchone()[0])
    return last - max(count, 1) + 1


def next_id(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT COALESCE(MAX(id), 0) + 1 FROM "{table}"')
        return int(cursor.fetchone()[0])


def reset_sequences(tables: Sequence[str]) -> None:
    """After rows were written with explicit ids, make the next ORM insert follow them.

    Never moves a sequence backwards (ids reserved by `reserve_ids` stay reserved).
    """
    if not sql.postgres():
        return  # SQLite's AUTOINCREMENT follows MAX(id) by itself
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            sequence = cursor.fetchone()[0]
            cursor.execute(
                f"""
                WITH taken AS (
                    SELECT GREATEST(
                        (SELECT COALESCE(MAX(id), 0) FROM "{table}"),
                        (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {sequence})
                    ) AS last
                )
                SELECT setval(%s::regclass, GREATEST(last, 1), last > 0) FROM taken
                """,
                [sequence],
            )


def rows_frame(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=list(columns), orient="row")
