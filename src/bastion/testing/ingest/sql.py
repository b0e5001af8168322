"""What the bulk loaders share: the load's report, the reasons a record is refused, and the
few SQL helpers every step uses (one statement per step, never one per record)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl
from django.db import connection

from bastion.city import bulk
from bastion.core.sql import Lock
from bastion.testing.models import IssueKind

WHY_KIND = {
    "unreadable": IssueKind.BAD_RECORD,
    "bad_resident": IssueKind.BAD_RECORD,
    "no_resident": IssueKind.BAD_RECORD,
    "no_tube": IssueKind.BAD_RECORD,
    "long_value": IssueKind.BAD_RECORD,
    "bad_time": IssueKind.BAD_RECORD,
    "bad_retest": IssueKind.BAD_RECORD,
    "bad_result": IssueKind.BAD_RECORD,
    "bad_ct": IssueKind.BAD_RECORD,
    "unknown_site": IssueKind.BAD_RECORD,
    "unknown_lab": IssueKind.BAD_RECORD,
    "unknown_resident": IssueKind.UNKNOWN_RESIDENT,
    "outside_round": IssueKind.OUTSIDE_ROUND,
    "before_start": IssueKind.OUTSIDE_TIME,
    "after_close": IssueKind.OUTSIDE_TIME,
    "duplicate": IssueKind.DUPLICATE_SCAN,
    "no_recall": IssueKind.NO_RECALL,
    "other_round": IssueKind.WRONG_POOL,
    "other_ratio": IssueKind.WRONG_POOL,
    "other_household": IssueKind.WRONG_POOL,
    "sealed": IssueKind.OVERFULL_TUBE,
    "over_ratio": IssueKind.OVERFULL_TUBE,
    "unknown_tube": IssueKind.UNKNOWN_TUBE,
    "already_resulted": IssueKind.ALREADY_RESULTED,
}


@dataclass
class LoadReport:
    """What one load did. `refused` counts the records not taken in this load, by exception
    kind (listed once, however often the file is sent); `repeated` those already there."""

    source: str
    records: int = 0
    taken: int = 0
    repeated: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    tubes_created: int = 0
    recalls_opened: int = 0
    recalls_closed: int = 0
    positives: int = 0
    chunks: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "records": self.records,
            "taken": self.taken,
            "repeated": self.repeated,
            "refused": dict(sorted(self.refused.items())),
            "tubes_created": self.tubes_created,
            "recalls_opened": self.recalls_opened,
            "recalls_closed": self.recalls_closed,
            "positives": self.positives,
            "chunks": self.chunks,
        }


# --- SQL helpers ---------------------------------------------------------------------------


def run(statement: str, params: Sequence[Any] = ()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(statement, list(params))
        return max(cursor.rowcount, 0)


def rows(statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(statement, list(params))
        return list(cursor.fetchall())


def postgres() -> bool:
    return connection.vendor == "postgresql"


def json_object() -> str:
    return "jsonb_build_object" if postgres() else "json_object"


def bytewise() -> str:
    """A collation for grouping barcodes: bytes, not the database's language (several times
    cheaper to sort; grouping only needs equal to be equal)."""
    return ' COLLATE "C"' if postgres() else ""


def time_type() -> str:
    return "timestamptz" if postgres() else "text"


def bool_type() -> str:
    return "boolean" if postgres() else "integer"


def stage_table(name: str, columns: str) -> None:
    run(f"DROP TABLE IF EXISTS {name}")
    run(f"CREATE TEMP TABLE {name} ({columns})")


def stage(name: str, columns: str, frame: pl.DataFrame) -> None:
    """A TEMP table `name` (`columns`, in SQL) holding `frame`'s rows, for the chunk's joins."""
    stage_table(name, columns)
    bulk.write_frame(name, frame)


def chunk_begin(lock_key: int) -> None:
    if postgres():
        run("SELECT pg_advisory_xact_lock(%s, %s)", [int(Lock.INGEST), lock_key])
        # Exclusive against single scans and results (services.bulk_loads_wait takes it
        # shared): nothing lands between this chunk's classification and its writes.
        run("SELECT pg_advisory_xact_lock(%s)", [int(Lock.INGEST)])
        # Window sorts of a chunk (a few tens of MB) stay in memory; JIT compiling the
        # classifying statement costs about a second a chunk and saves nothing.
        run("SET LOCAL work_mem = '128MB'")
        # Index lookups of residents and households by id over hash joins that read the whole
        # registry for every chunk: the data sits on SSD and mostly in cache (2.4x at 21 M).
        run("SET LOCAL random_page_cost = 1.1")
        run("SET LOCAL jit = off")
        # Every statement of a chunk reads the large tables through an index (the chunk's ids,
        # barcodes, keys, the scans since the last chunk). Statistics taken while the round was
        # empty would plan sequential scans of tables that grow by millions during the load:
        # 16 M scans read again for every chunk, the load slowing as it goes.
        run("SET LOCAL enable_seqscan = off")


def kind_case(column: str) -> str:
    whens = " ".join(f"WHEN '{why}' THEN '{kind}'" for why, kind in WHY_KIND.items())
    return f"CASE {column} {whens} ELSE NULL END"


def issue_counts(report: LoadReport, table: str) -> None:
    for kind, count in rows(f"SELECT kind, COUNT(*) FROM {table} WHERE kind IS NOT NULL GROUP BY kind"):
        report.refused[kind] = report.refused.get(kind, 0) + int(count)


def source_name(filename: str, source: str | None) -> str:
    name = (source or filename).strip() or "file"
    return name[-150:]


def db_now(now: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(now)


def as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
