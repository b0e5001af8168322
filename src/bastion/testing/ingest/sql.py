"""What the bulk loaders share: the load's report, the reasons a record is refused, staging a
chunk's columns, and the start of a chunk's transaction (one statement per step, never one per
record). The dialect, raw rows and locks come from `bastion.core.sql`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from bastion.city import bulk
from bastion.city import sql as city_sql
from bastion.core import sql as core_sql
from bastion.core.sql import Lock
from bastion.testing import rules
from bastion.testing.models import IssueKind

WHY_KIND = {
    "unreadable": IssueKind.BAD_RECORD,
    "cut_short": IssueKind.BAD_RECORD,
    "bad_resident": IssueKind.BAD_RECORD,
    "no_resident": IssueKind.BAD_RECORD,
    "no_tube": IssueKind.BAD_RECORD,
    "long_value": IssueKind.BAD_RECORD,
    "control_characters": IssueKind.BAD_RECORD,
    "bad_time": IssueKind.BAD_RECORD,
    "bad_retest": IssueKind.BAD_RECORD,
    "bad_result": IssueKind.BAD_RECORD,
    "bad_ct": IssueKind.BAD_RECORD,
    "unknown_site": IssueKind.BAD_RECORD,
    "unknown_lab": IssueKind.BAD_RECORD,
    "unknown_resident": IssueKind.UNKNOWN_RESIDENT,
    "outside_round": IssueKind.OUTSIDE_ROUND,
    rules.BEFORE_START: IssueKind.OUTSIDE_TIME,
    rules.AFTER_CLOSE: IssueKind.OUTSIDE_TIME,
    "duplicate": IssueKind.DUPLICATE_SCAN,
    "no_recall": IssueKind.NO_RECALL,
    "unknown_tube": IssueKind.UNKNOWN_TUBE,
    "already_resulted": IssueKind.ALREADY_RESULTED,
    # A tube that does not admit the scan: `rules.tube_refusal`'s words.
    **{why: IssueKind(kind) for why, kind in rules.ADMISSION_KIND.items()},
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


# --- what every step of a load shares ----------------------------------------------------


def stage(name: str, columns: str, frame: pl.DataFrame) -> None:
    """A TEMP table `name` (`columns`, in SQL) holding `frame`'s rows, for the chunk's joins."""
    core_sql.stage_table(name, columns)
    bulk.write_frame(name, frame)


def chunk_begin(lock_key: int) -> None:
    """Start a chunk's transaction: the load's own lock (`lock_key`: its round, 0 for results),
    then `Lock.INGEST` exclusively, against single scans and results (`testing.sql.
    bulk_loads_wait` takes it shared): nothing lands between this chunk's classification and its
    writes. PostgreSQL only; SQLite admits one writer at a time."""
    core_sql.advisory_lock(Lock.INGEST, sub=lock_key)
    core_sql.advisory_lock(Lock.INGEST)
    core_sql.set_local(
        # Window sorts of a chunk (a few tens of MB) stay in memory; JIT compiling the
        # classifying statement costs about a second a chunk and saves nothing.
        work_mem="'128MB'",
        # Index lookups of residents and households by id over hash joins that read the whole
        # registry for every chunk: the data sits on SSD and mostly in cache (docs/BENCHMARKS.md).
        random_page_cost="1.1",
        jit="off",
        # Every statement of a chunk reads the large tables through an index (the chunk's ids,
        # barcodes, keys, the scans since the last chunk). Statistics taken while the round was
        # empty would plan sequential scans of tables that grow by millions during the load:
        # 16 M scans read again for every chunk, the load slowing as it goes.
        enable_seqscan="off",
    )


def kind_case(column: str) -> str:
    whens = " ".join(f"WHEN '{why}' THEN '{kind}'" for why, kind in WHY_KIND.items())
    return f"CASE {column} {whens} ELSE NULL END"


def issue_counts(report: LoadReport, table: str) -> None:
    for kind, count in core_sql.rows(
        f"SELECT kind, COUNT(*) FROM {table} WHERE kind IS NOT NULL GROUP BY kind"
    ):
        report.refused[kind] = report.refused.get(kind, 0) + int(count)


def source_name(filename: str, source: str | None) -> str:
    name = (source or filename).strip() or "file"
    return name[-150:]


# --- the scan loader's statements (testing.ingest.scans), each over the chunk's stage --------

SITES = "SELECT code, id FROM testing_site"

# Stage ingest_id_numbers (id_number): the residents a file names by ID number only.
RESIDENTS_BY_ID_NUMBER = (
    "SELECT r.id_number, r.id FROM ingest_id_numbers n"
    f" JOIN {city_sql.RESIDENTS} r ON r.id_number = n.id_number"
)

# Stage ingest_keys (client_key): the client keys already taken (a device's or file's retry).
KEYS_SEEN = (
    "SELECT DISTINCT s.client_key FROM ingest_keys k JOIN testing_scan s ON s.client_key = k.client_key"
)

# Stage ingest_ids (resident_id); parameter: the round. Each retested person's open recall,
# whether its retest tube holds their scan already, and that tube's barcode.
OPEN_RECALLS = """
    SELECT rc.resident_id, rc.id,
           EXISTS (SELECT 1 FROM testing_scan x WHERE x.round_id = rc.round_id
                   AND x.resident_id = rc.resident_id AND x.retest AND x.tube_id = rc.retest_tube_id),
           t.barcode
    FROM ingest_ids i
    JOIN testing_recall rc
      ON rc.round_id = %s AND rc.resident_id = i.resident_id AND rc.state = 'open'
    LEFT JOIN testing_tube t ON t.id = rc.retest_tube_id
"""

# Stage ingest_barcodes (barcode): the tubes that exist already, in any round.
KNOWN_TUBES = """
    SELECT t.barcode, t.id, t.round_id, t.ratio, t.retest, t.members,
           t.result <> '' OR t.sealed_at IS NOT NULL
    FROM ingest_barcodes b JOIN testing_tube t ON t.barcode = b.barcode
"""

# Stage ingest_tube_ids (tube_id): the household of each tube's members.
TUBE_HOUSEHOLDS = (
    "SELECT i.tube_id,"
    " (SELECT x.household_id FROM testing_scan x WHERE x.tube_id = i.tube_id LIMIT 1)"
    " FROM ingest_tube_ids i"
)

# Stage ingest_new_tubes; parameter: the round. The chunk's new tubes, their ids by barcode.
TUBES_CREATE = """
    INSERT INTO testing_tube (round_id, barcode, ratio, retest, site_id, district_id, grid_id,
                              members, first_scan_at, result)
    SELECT %s, barcode, ratio, retest, site_id, district_id, grid_id, members, first_scan_at, ''
    FROM ingest_new_tubes
    RETURNING barcode, id
"""

# Stage ingest_grown (tube_id, n, first, grid_id): tubes that took more members.
TUBES_GROW = """
    UPDATE testing_tube SET
        members = testing_tube.members + g.n,
        first_scan_at = CASE
            WHEN testing_tube.first_scan_at IS NULL OR g.first < testing_tube.first_scan_at
            THEN g.first ELSE testing_tube.first_scan_at END,
        grid_id = CASE WHEN testing_tube.members = 0 THEN g.grid_id
                       WHEN testing_tube.grid_id = g.grid_id THEN testing_tube.grid_id END
    FROM ingest_grown g WHERE testing_tube.id = g.tube_id
"""

# Per retested person: (their retest tube, their recall).
RECALL_RETEST_TUBE = "UPDATE testing_recall SET retest_tube_id = %s WHERE id = %s"


def refused_list() -> str:
    """Stage ingest_refused; parameters: round, file name, line prefix, now, round, line prefix.
    The refused records into the round's exceptions, each (file, line) listed once."""
    return f"""
        INSERT INTO testing_roundissue (round_id, kind, detail, source, at)
        SELECT %s, r.kind,
               {core_sql.json_object()}('file', CAST(%s AS text), 'line', r.line, 'reason', r.why,
                                'resident_id', r.resident_raw,
                                'id_number', r.id_number, 'tube', r.barcode, 'site', r.site_code,
                                'client_key', r.client_key),
               CAST(%s AS text) || CAST(r.line AS text), %s
        FROM ingest_refused r
        WHERE NOT EXISTS (
            SELECT 1 FROM testing_roundissue i
            WHERE i.round_id = %s AND i.source = CAST(%s AS text) || CAST(r.line AS text))
        ORDER BY r.line
    """
