"""A lab's file of results, chunk by chunk: tubes resulted, pools recalled, retests closed."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

import polars as pl
from django.db import transaction

from bastion.core import audit
from bastion.core import sql as core_sql
from bastion.core.scopes import Actor
from bastion.testing.ingest import reading, sql


@dataclass(frozen=True)
class Positive:
    """A resident whose own single tube (or retest) came back positive: a case to open."""

    barcode: str
    resident_id: int
    resulted_at: datetime


@dataclass(frozen=True)
class ResultsChunk:
    """What a chunk of results changed, handed to the flow inside the chunk's transaction."""

    positives: list[Positive]
    rounds: dict[int, datetime]  # rounds with a tube resulted in the chunk -> the latest result time
    # Members of the chunk's tubes that were not a plain negative pool: recalled, retested, or
    # positive (what their health codes read changed).
    touched: list[int] = field(default_factory=list)


def _ct_json(value: str | None) -> str | None:
    """Ct values as a JSON object: `ORF1ab:31.2;N:30.8`, or a JSON object (NDJSON). Raises
    ValueError when unreadable."""
    if value is None:
        return None
    if value.startswith("{"):
        parsed = json.loads(value)
        if not isinstance(parsed, dict):
            raise ValueError(value)
        pairs = {str(k): float(v) for k, v in parsed.items()}
    else:
        pairs = {}
        for part in value.split(";"):
            if not part.strip():
                continue
            gene, _sep, number = part.partition(":")
            if not gene.strip() or not _sep:
                raise ValueError(value)
            pairs[gene.strip()] = float(number)
    if not all(math.isfinite(v) for v in pairs.values()):
        raise ValueError(value)  # NaN or infinity: no Ct value a lab reports (and not JSON)
    return json.dumps(pairs)


def _result_stage(frame: pl.DataFrame) -> pl.DataFrame:
    # Ct values are rare (positives): a loop over the few given, not over every record.
    given = frame["ct"].is_not_null().arg_true()
    cts: list[str | None] = []
    bad: list[bool] = []
    for value in frame["ct"].gather(given).to_list():
        try:
            cts.append(_ct_json(value))
            bad.append(False)
        except (ValueError, TypeError, AttributeError):
            cts.append(None)
            bad.append(True)
    ct_json = pl.Series("ct_json", [None] * frame.height, dtype=pl.String).scatter(
        given, pl.Series(cts, dtype=pl.String)
    )
    ct_bad = pl.Series("ct_bad", [False] * frame.height, dtype=pl.Boolean).scatter(
        given, pl.Series(bad, dtype=pl.Boolean)
    )
    words = {word: str(result) for word, result in reading.RESULT_WORDS.items()}
    word = pl.col("result").str.to_lowercase().replace_strict(words, default=None, return_dtype=pl.String)
    checked = frame.with_columns(
        at=reading.parse_times(frame["resulted_at"]),
        outcome=word,
        ct_json=ct_json,
        ct_bad=ct_bad,
    ).with_columns(
        bad=reading.first_problem(
            (pl.col("tube").is_null(), "no_tube"),
            ((pl.col("tube").str.len_chars() > 40) | (pl.col("lab").str.len_chars() > 40), "long_value"),
            (reading.control_in("tube", "lab"), "control_characters"),
            (pl.col("outcome").is_null(), "bad_result"),
            (pl.col("at").is_null(), "bad_time"),
            (pl.col("ct_bad"), "bad_ct"),
        )
    )
    return checked.select(
        "line",
        "bad",
        pl.col("tube").alias("barcode"),
        pl.col("outcome").alias("result"),
        pl.col("result").alias("result_raw"),
        reading.db_time(pl.col("at")).alias("resulted_at"),
        pl.col("lab").alias("lab_code"),
        pl.col("ct_json").alias("ct"),
    )


# --- results -------------------------------------------------------------------------------

# The chunk's good results onto their pending tubes (a tube a lab had not received is received
# when resulted). PostgreSQL stores Ct values as jsonb, SQLite as text: the one difference.
_RESULTED_POSTGRES = """
    UPDATE testing_tube SET
        result = r.result, resulted_at = r.resulted_at, ct_values = CAST(r.ct AS jsonb),
        sealed_at = COALESCE(testing_tube.sealed_at, r.resulted_at),
        received_at = CASE WHEN testing_tube.lab_id IS NULL AND r.lab_id IS NOT NULL
                           THEN COALESCE(testing_tube.received_at, r.resulted_at)
                           ELSE testing_tube.received_at END,
        lab_id = COALESCE(testing_tube.lab_id, r.lab_id)
    FROM ingest_result_r r
    WHERE r.why IS NULL AND testing_tube.id = r.tube_id AND testing_tube.result = ''
"""
_RESULTED_SQLITE = """
    UPDATE testing_tube SET
        result = r.result, resulted_at = r.resulted_at, ct_values = r.ct,
        sealed_at = COALESCE(testing_tube.sealed_at, r.resulted_at),
        received_at = CASE WHEN testing_tube.lab_id IS NULL AND r.lab_id IS NOT NULL
                           THEN COALESCE(testing_tube.received_at, r.resulted_at)
                           ELSE testing_tube.received_at END,
        lab_id = COALESCE(testing_tube.lab_id, r.lab_id)
    FROM ingest_result_r r
    WHERE r.why IS NULL AND testing_tube.id = r.tube_id AND testing_tube.result = ''
"""
# What a result triggers (`rules.result_effect`, held to its table by
# tests/testing/test_result_effects.py), for the chunk's good results at once:
# a positive or invalid pool (and an invalid first single tube) recalls every member (RECALL_OPEN),
_RECALLS_OPENED = """
    INSERT INTO testing_recall (round_id, resident_id, household_id, grid_id, district_id, tube_id,
                                reason, opened_at, state, result)
    SELECT x.round_id, x.resident_id, x.household_id, x.grid_id, x.district_id, x.tube_id,
           r.result, r.resulted_at, 'open', ''
    FROM ingest_result_r r JOIN testing_scan x ON x.tube_id = r.tube_id
    WHERE r.why IS NULL AND NOT r.tube_retest
      AND (r.result = 'invalid' OR (r.result = 'positive' AND r.tube_ratio > 1))
    ORDER BY r.line, x.id
    ON CONFLICT DO NOTHING
"""
# a positive or negative retest closes its member's recall (RECALL_CLOSE),
_RECALLS_RETESTED = """
    UPDATE testing_recall SET state = 'retested', result = c.result, closed_at = c.resulted_at
    FROM (
        SELECT x.round_id, x.resident_id, r.result, r.resulted_at FROM ingest_result_r r
        JOIN testing_scan x ON x.tube_id = r.tube_id
        WHERE r.why IS NULL AND r.tube_retest AND r.result IN ('positive', 'negative')
    ) c
    WHERE testing_recall.round_id = c.round_id AND testing_recall.resident_id = c.resident_id
      AND testing_recall.state = 'open'
"""
# an invalid retest leaves it open, without a tube (RECALL_REOPEN),
_RECALLS_SAMPLED_AGAIN = """
    UPDATE testing_recall SET state = 'open', result = '', closed_at = NULL, retest_tube_id = NULL
    FROM (
        SELECT x.round_id, x.resident_id FROM ingest_result_r r
        JOIN testing_scan x ON x.tube_id = r.tube_id
        WHERE r.why IS NULL AND r.tube_retest AND r.result = 'invalid'
    ) c
    WHERE testing_recall.round_id = c.round_id AND testing_recall.resident_id = c.resident_id
"""
# Whose recall or case this chunk may have changed: every member of a tube that was a retest or
# not negative (a member twice over is made one in Python). No DISTINCT: under the chunk's
# enable_seqscan=off every plan pays the same penalty for reading the unindexed stage, so their
# costs tie within the planner's 1% fuzz, and a plan sorted by resident won: every scan of the
# round read in resident order for each chunk (80 s a chunk at 1 M; docs/BENCHMARKS.md).
_TOUCHED = """
    SELECT x.resident_id FROM ingest_result_r r JOIN testing_scan x ON x.tube_id = r.tube_id
    WHERE r.why IS NULL AND (r.tube_retest OR r.result <> 'negative')
"""
# and a positive single tube or retest is a case to open (`cases`).
_POSITIVES = """
    SELECT r.barcode, x.resident_id, r.resulted_at FROM ingest_result_r r
    JOIN testing_scan x ON x.tube_id = r.tube_id
    WHERE r.why IS NULL AND r.result = 'positive' AND (r.tube_retest OR r.tube_ratio = 1)
    ORDER BY r.line, x.id
"""


def results_load(
    *,
    file: IO[bytes],
    filename: str,
    source: str | None = None,
    chunk_bytes: int = reading.CHUNK_BYTES,
    encoding: str = "utf-8",
    progress: reading.Progress | None = None,
    on_chunk: Callable[[ResultsChunk], None] | None = None,
    actor: Actor,
    now: datetime,
) -> sql.LoadReport:
    """Load a lab's file of results (CSV or NDJSON), chunk by chunk, as `tube_result` would.

    Only pending tubes take a result; the same result again is a no-op; another result for a
    resulted tube, or a result for an unknown tube, is listed under `results <name>:<line>`.
    Members of positive or invalid pools are recalled (one recall per person and round);
    a retest tube closes its members' recalls (an invalid retest leaves them open). Positive
    single tubes and retests are handed to `on_chunk` (the flow opens their cases) inside the
    chunk's transaction, so that a killed load never keeps a result without its case. The file
    is read strictly in `encoding` (`reading.read_chunks`).
    """
    actor.require("record_results")
    name = sql.source_name(filename, source)
    report = sql.LoadReport(source=name)
    chunks = reading.read_chunks(
        file,
        filename=filename,
        columns=reading.RESULT_COLUMNS,
        required=("tube", "result", "resulted_at"),
        chunk_bytes=chunk_bytes,
        encoding=encoding,
    )
    labs: dict[str, int] = {}
    for chunk in chunks:
        with transaction.atomic():
            sql.chunk_begin(0)
            changed = _results_chunk(chunk.frame, labs=labs, name=name, report=report, now=now)
            if on_chunk is not None and (changed.positives or changed.rounds):
                on_chunk(changed)
            if changed.rounds:
                audit.record(
                    action="testing.results.loaded",
                    object_type="testing.file",
                    object_id=name[:64],  # the log's id column; the whole name is in `after`
                    after={
                        "file": name,
                        "lines": [chunk.frame["line"].min(), chunk.frame["line"].max()],
                        "rounds": sorted(changed.rounds),
                        "positives": len(changed.positives),
                    },
                    actor=actor,
                    now=now,
                )
        report.records += chunk.frame.height
        report.chunks += 1
        if progress is not None:
            progress(chunk.bytes_read, report.records)
    return report


def _results_chunk(
    frame: pl.DataFrame, *, labs: dict[str, int], name: str, report: sql.LoadReport, now: datetime
) -> ResultsChunk:
    staged = _result_stage(frame)
    codes = set(staged["lab_code"].drop_nulls().unique().to_list())
    if not codes <= labs.keys():  # the labs, read once per load (and again when one is new)
        labs.update(dict(core_sql.rows("SELECT code, id FROM testing_lab")))
    lab_id = pl.col("lab_code").replace_strict(labs, default=None, return_dtype=pl.Int64)
    sql.stage(
        "ingest_result_stage",
        "line bigint, bad text, barcode text, result text, result_raw text,"
        f" resulted_at {core_sql.time_type()}, lab_code text, lab_id bigint, ct text",
        staged.with_columns(lab_id=lab_id).select(
            "line", "bad", "barcode", "result", "result_raw", "resulted_at", "lab_code", "lab_id", "ct"
        ),
    )
    core_sql.analyze("ingest_result_stage")
    core_sql.drop_table("ingest_result_r")
    # Per record: unreadable, unknown tube or lab, or the tube already resulted (the same
    # result: a repeat; another: refused). Then per tube within the chunk: the first line wins.
    core_sql.run(
        f"""
        CREATE TEMP TABLE ingest_result_r AS
        WITH base AS (
            SELECT s.*, t.id AS tube_id, t.round_id, t.retest AS tube_retest, t.ratio AS tube_ratio,
                   CASE
                       WHEN s.bad IS NOT NULL THEN s.bad
                       WHEN t.id IS NULL THEN 'unknown_tube'
                       WHEN s.lab_code IS NOT NULL AND s.lab_id IS NULL THEN 'unknown_lab'
                       WHEN t.result = s.result THEN 'repeat'
                       WHEN t.result <> '' THEN 'already_resulted'
                   END AS why1
            FROM ingest_result_stage s
            LEFT JOIN testing_tube t ON s.bad IS NULL AND t.barcode = s.barcode
        ),
        ranked AS (
            SELECT b.*, row_number() OVER tube AS tube_rank, first_value(result) OVER tube AS first_result
            FROM base b
            WINDOW tube AS (PARTITION BY why1 IS NULL, barcode{core_sql.bytewise()} ORDER BY line)
        )
        SELECT f.*, {sql.kind_case("f.why")} AS kind FROM (
            SELECT line, barcode, result, result_raw, resulted_at, lab_code, lab_id, ct, tube_id, round_id,
                   tube_retest, tube_ratio,
                   COALESCE(why1, CASE WHEN tube_rank > 1 AND result = first_result THEN 'repeat'
                                       WHEN tube_rank > 1 THEN 'already_resulted' END) AS why
            FROM ranked
        ) f
        """
    )
    report.taken += core_sql.run(_RESULTED_POSTGRES if core_sql.postgres() else _RESULTED_SQLITE)
    report.recalls_opened += core_sql.run(_RECALLS_OPENED)
    report.recalls_closed += core_sql.run(_RECALLS_RETESTED)
    # An invalid retest: the person is sampled again; the recall stays open, without a tube.
    core_sql.run(_RECALLS_SAMPLED_AGAIN)
    positives = [
        Positive(barcode, int(resident_id), core_sql.as_datetime(at))
        for barcode, resident_id, at in core_sql.rows(_POSITIVES)
    ]
    report.positives += len(positives)
    rounds = {
        int(round_id): core_sql.as_datetime(latest)
        for round_id, latest in core_sql.rows(
            "SELECT round_id, MAX(resulted_at) FROM ingest_result_r WHERE why IS NULL GROUP BY round_id"
        )
    }
    report.repeated += core_sql.rows("SELECT COUNT(*) FROM ingest_result_r WHERE why = 'repeat'")[0][0]
    sql.issue_counts(report, "ingest_result_r")
    core_sql.run(
        f"""
        INSERT INTO testing_roundissue (round_id, kind, detail, source, at)
        SELECT r.round_id, r.kind,
               {core_sql.json_object()}('file', CAST(%s AS text), 'line', r.line, 'reason', r.why,
                                'tube', r.barcode, 'result', r.result_raw, 'lab', r.lab_code),
               CAST(%s AS text) || CAST(r.line AS text), %s
        FROM ingest_result_r r
        WHERE r.kind IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM testing_roundissue i WHERE i.source = CAST(%s AS text) || CAST(r.line AS text))
        ORDER BY r.line
        """,
        [name, f"results {name}:", core_sql.db_datetime(now), f"results {name}:"],
    )
    touched = sorted({int(row[0]) for row in core_sql.rows(_TOUCHED)})
    return ResultsChunk(positives=positives, rounds=rounds, touched=touched)
