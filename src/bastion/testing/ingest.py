"""Bulk files of scans and of results (layouts: docs/TESTING_FORMAT.md), streamed and set-based.

A file is read in chunks of whole lines (`CHUNK_BYTES`, about 200,000 records). Each chunk is
parsed by polars into columns, written to a staging table (PostgreSQL `COPY` into a TEMP
table, SQLite `executemany`), classified by one `CREATE TEMP TABLE … AS SELECT` that joins the
registry, the round's tubes and scans, and then moved by a few `INSERT … SELECT` / `UPDATE …
FROM` statements: no statement runs per record. Records that cannot be taken are listed in the
round's exceptions (`RoundIssue`) with the file's name and line, in the same statement style.

Each chunk is one transaction. A load killed half-way keeps the chunks it committed; loading
the same file again skips what is there (scans by (round, resident, retest) and client key,
results of tubes already resulted with the same result, exceptions by source = file and line),
so it ends with exactly the rows of one clean run. Chunk boundaries depend only on the file and
`chunk_bytes`, and a chunk sees the state the previous chunks left, in the same order either way.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import polars as pl
from django.db import connection, transaction
from django.utils.translation import gettext_lazy as _

from bastion.city import bulk
from bastion.core import audit, clock
from bastion.core.errors import NotFound
from bastion.core.files import FileRejected, Problem
from bastion.core.scopes import Actor
from bastion.testing import selectors
from bastion.testing.models import IssueKind, Result, Round, RoundArea
from bastion.testing.services import INGEST_LOCK
from bastion.zones import selectors as zones
from bastion.zones.models import Level

CHUNK_BYTES = 16 * 1024 * 1024  # ~200,000 records of ~80 bytes
SCAN_COLUMNS = ("resident", "id_number", "tube", "site", "scanned_at", "sampler", "client_key", "retest")
RESULT_COLUMNS = ("tube", "result", "resulted_at", "lab", "ct")
ALIASES = {"barcode": "tube"}
RESULT_WORDS = {
    "negative": Result.NEGATIVE,
    "positive": Result.POSITIVE,
    "invalid": Result.INVALID,
    "阴性": Result.NEGATIVE,
    "阳性": Result.POSITIVE,
    "无效": Result.INVALID,
}
TRUE_WORDS = ("1", "true", "yes", "y")
FALSE_WORDS = ("0", "false", "no", "n")
# Why a record was not taken -> the exception kind it is listed under. `repeat` is not listed:
# the record is already there (a re-sent file, a retried device).
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


class IngestFileRejected(FileRejected):
    """A file whose header (CSV) or format cannot be read: nothing was written."""

    code = "ingest_file_rejected"
    summary = _("The file was rejected with %(count)d problems; nothing was loaded.")


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


Progress = Callable[[int, int], None]  # (bytes read, records read)


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Chunk:
    """Whole records of the file as string columns, `line` (1-based, as an editor shows it) and
    `bad` (why the record is unreadable, else null). Blank lines are dropped."""

    frame: pl.DataFrame
    bytes_read: int


def _format_of(filename: str, head: bytes) -> str:
    name = filename.lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".ndjson", ".jsonl", ".json")):
        return "ndjson"
    return "ndjson" if head.lstrip().startswith(b"{") else "csv"


def _blocks(stream: IO[bytes], chunk_bytes: int) -> Iterator[tuple[int, bytes, int]]:
    """(number of the block's first line, whole lines ending in a newline, bytes read so far)."""
    line, rest, read = 1, b"", 0
    while True:
        data = stream.read(chunk_bytes)
        if not data:
            break
        if read == 0 and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        read += len(data)
        data = rest + data
        cut = data.rfind(b"\n")
        if cut < 0:
            rest = data
            continue
        block, rest = data[: cut + 1], data[cut + 1 :]
        yield line, block, read
        line += block.count(b"\n")
    if rest:
        yield line, rest + b"\n", read


def _read(
    stream: IO[bytes], *, filename: str, columns: Sequence[str], required: Sequence[str], chunk_bytes: int
) -> Iterator[_Chunk]:
    blocks = _blocks(stream, chunk_bytes)
    first = next(blocks, None)
    if first is None:
        return
    line, block, read = first
    fmt = _format_of(filename, block[:64])
    header: list[str] = []
    if fmt == "csv":
        end = block.index(b"\n")
        header = _header(block[:end], columns=columns, required=required)
        line, block = 2, block[end + 1 :]
    parse = _csv_frame if fmt == "csv" else _ndjson_frame
    while True:
        if block:
            frame = parse(block, first_line=line, header=header, columns=columns)
            if frame.height:
                yield _Chunk(frame, read)
        step = next(blocks, None)
        if step is None:
            return
        line, block, read = step


def _header(raw: bytes, *, columns: Sequence[str], required: Sequence[str]) -> list[str]:
    try:
        text = raw.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        raise IngestFileRejected(
            [Problem(1, "", "not_utf8", str(_("The file is not UTF-8 text.")))]
        ) from None
    names = [ALIASES.get(n.strip().lower(), n.strip().lower()) for n in next(csv.reader([text]), [])]
    problems = [
        Problem(1, name, "unknown_column", str(_("This column is not part of the layout.")))
        for name in names
        if name not in columns
    ]
    problems += [
        Problem(1, name, "duplicate_column", str(_("This column appears twice.")))
        for i, name in enumerate(names)
        if name in names[:i]
    ]
    problems += [
        Problem(1, name, "missing_column", str(_("This column is required.")))
        for name in required
        if name not in names
    ]
    if "resident" in columns and "resident" not in names and "id_number" not in names:
        problems.append(
            Problem(1, "resident", "missing_column", str(_("Name residents by resident or id_number.")))
        )
    if problems:
        raise IngestFileRejected(problems)
    return names


def _csv_frame(block: bytes, *, first_line: int, header: list[str], columns: Sequence[str]) -> pl.DataFrame:
    lines = block.count(b"\n")
    try:
        if b"\x00" in block:  # no text column takes a NUL byte: those lines are unreadable
            raise ValueError("NUL byte")
        frame = pl.read_csv(
            io.BytesIO(block),
            has_header=False,
            new_columns=header,
            infer_schema=False,
            quote_char='"',
            raise_if_empty=False,
        )
        if frame.height != lines or frame.width != len(header):
            raise ValueError("records and lines differ")
        frame = frame.with_columns(bad=pl.lit(None, pl.String))
    except (pl.exceptions.PolarsError, ValueError):
        # A line polars will not read (a stray quote, too many fields, bad UTF-8, a line
        # break inside quotes): read this chunk line by line and mark the bad lines.
        frame = _csv_lines(block, header)
    frame = frame.with_row_index("line", offset=first_line).with_columns(pl.col("line").cast(pl.Int64))
    return _complete(frame, columns)


def _csv_lines(block: bytes, header: list[str]) -> pl.DataFrame:
    rows: list[list[str | None]] = []
    for raw in block.split(b"\n")[:-1]:
        try:
            if b"\x00" in raw:
                raise UnicodeDecodeError("utf-8", raw, 0, 1, "NUL byte")
            text = raw.decode("utf-8").rstrip("\r")
            fields: list[str | None] = list(next(csv.reader([text], strict=True), []))
        except (UnicodeDecodeError, csv.Error):
            rows.append([None] * len(header) + ["unreadable"])
            continue
        if len(fields) > len(header):
            rows.append([None] * len(header) + ["unreadable"])
            continue
        fields += [None] * (len(header) - len(fields))
        rows.append([f if f != "" else None for f in fields] + [None])
    return pl.DataFrame(rows, schema=dict.fromkeys([*header, "bad"], pl.String), orient="row")


def _ndjson_frame(
    block: bytes, *, first_line: int, header: list[str], columns: Sequence[str]
) -> pl.DataFrame:
    del header
    lines = block.count(b"\n")
    schema = dict.fromkeys(columns, pl.String)
    try:
        if b"\x00" in block or b"\\u0000" in block:  # NUL, raw or escaped: unreadable lines
            raise ValueError("NUL byte")
        frame = pl.read_ndjson(io.BytesIO(block), schema=schema)
        if frame.height != lines:  # polars skips blank lines: fall back to keep line numbers
            raise ValueError("records and lines differ")
        frame = frame.with_columns(bad=pl.lit(None, pl.String))
    except (pl.exceptions.PolarsError, ValueError):
        frame = _ndjson_lines(block, columns)
    frame = frame.with_row_index("line", offset=first_line).with_columns(pl.col("line").cast(pl.Int64))
    return _complete(frame, columns)


def _ndjson_lines(block: bytes, columns: Sequence[str]) -> pl.DataFrame:
    rows: list[list[str | None]] = []
    for raw in block.split(b"\n")[:-1]:
        if not raw.strip():
            rows.append([None] * (len(columns) + 1))
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            record = None
        values = [_text(record.get(c)) for c in columns] if isinstance(record, dict) else []
        if not isinstance(record, dict) or any(v is not None and "\x00" in v for v in values):
            rows.append([None] * len(columns) + ["unreadable"])
            continue
        rows.append([*values, None])
    return pl.DataFrame(rows, schema=dict.fromkeys([*columns, "bad"], pl.String), orient="row")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _complete(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """Every layout column present, trimmed, empty strings as null; blank lines dropped."""
    missing = [pl.lit(None, pl.String).alias(c) for c in columns if c not in frame.columns]
    trimmed = [pl.col(c).str.strip_chars() for c in columns]
    frame = frame.with_columns(missing).with_columns(
        [
            pl.when(t == "").then(pl.lit(None, pl.String)).otherwise(t).alias(c)
            for t, c in zip(trimmed, columns, strict=True)
        ]
    )
    blank = pl.all_horizontal([pl.col(c).is_null() for c in columns]) & pl.col("bad").is_null()
    return frame.filter(~blank).select(["line", "bad", *columns])


# --- checking values (whole columns) -------------------------------------------------------

_AWARE = ("%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%d %H:%M%z")
_NAIVE = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M")


def _times(name: str) -> pl.Expr:
    """ISO 8601 date-times with an offset, or naive ones in the city's time, as UTC."""
    text = pl.col(name).str.replace("T", " ", literal=True).str.replace(r"[Zz]$", "+00:00")
    aware = [text.str.strptime(pl.Datetime("us", "UTC"), f, strict=False) for f in _AWARE]
    zone = clock.city_zone().key
    naive = [
        text.str.strptime(pl.Datetime("us"), f, strict=False)
        .dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
        for f in _NAIVE
    ]
    return pl.coalesce([*aware, *naive])


def _db_time(expr: pl.Expr) -> pl.Expr:
    """A UTC date-time as the database column takes it (SQLite: Django's naive UTC text)."""
    if connection.vendor == "postgresql":
        return expr.dt.to_string("%Y-%m-%d %H:%M:%S%.6f+00:00")
    return expr.dt.to_string("%Y-%m-%d %H:%M:%S%.6f").str.replace(r"\.000000$", "")


def _first_problem(*pairs: tuple[pl.Expr, str]) -> pl.Expr:
    return pl.coalesce(
        [
            pl.col("bad"),
            *(pl.when(cond).then(pl.lit(why)).otherwise(pl.lit(None, pl.String)) for cond, why in pairs),
        ]
    )


def _scan_stage(frame: pl.DataFrame) -> pl.DataFrame:
    at = _times("scanned_at")
    resident = pl.col("resident").cast(pl.Int64, strict=False)
    retest = pl.col("retest").str.to_lowercase()
    checked = frame.with_columns(at=at, resident_id=resident).with_columns(
        bad=_first_problem(
            (pl.col("resident").is_not_null() & pl.col("resident_id").is_null(), "bad_resident"),
            (pl.col("resident").is_null() & pl.col("id_number").is_null(), "no_resident"),
            (pl.col("tube").is_null(), "no_tube"),
            (
                (pl.col("tube").str.len_chars() > 40)
                | (pl.col("site").str.len_chars() > 40)
                | (pl.col("client_key").str.len_chars() > 64)
                | (pl.col("id_number").str.len_chars() > 18),
                "long_value",
            ),
            (pl.col("at").is_null(), "bad_time"),
            (retest.is_not_null() & ~retest.is_in([*TRUE_WORDS, *FALSE_WORDS]), "bad_retest"),
        )
    )
    return checked.select(
        "line",
        "bad",
        pl.col("resident").alias("resident_raw"),
        "resident_id",
        pl.col("id_number").str.to_uppercase(),
        pl.col("tube").alias("barcode"),
        pl.col("site").alias("site_code"),
        _db_time(pl.col("at")).alias("scanned_at"),
        pl.col("sampler").str.slice(0, 50),
        "client_key",
        retest.is_in(TRUE_WORDS).fill_null(False).alias("retest"),
    )


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
    cts: list[str | None] = []
    bad_ct: list[bool] = []
    for value in frame["ct"].to_list():  # Ct values are rare (positives): a loop over the few
        try:
            cts.append(_ct_json(value))
            bad_ct.append(False)
        except (ValueError, TypeError, AttributeError):
            cts.append(None)
            bad_ct.append(True)
    words = {word: str(result) for word, result in RESULT_WORDS.items()}
    word = pl.col("result").str.to_lowercase().replace_strict(words, default=None, return_dtype=pl.String)
    checked = frame.with_columns(
        at=_times("resulted_at"),
        outcome=word,
        ct_json=pl.Series(cts, dtype=pl.String),
        ct_bad=pl.Series(bad_ct, dtype=pl.Boolean),
    ).with_columns(
        bad=_first_problem(
            (pl.col("tube").is_null(), "no_tube"),
            ((pl.col("tube").str.len_chars() > 40) | (pl.col("lab").str.len_chars() > 40), "long_value"),
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
        _db_time(pl.col("at")).alias("resulted_at"),
        pl.col("lab").alias("lab_code"),
        pl.col("ct_json").alias("ct"),
    )


# --- SQL helpers ---------------------------------------------------------------------------


def _sql(statement: str, params: Sequence[Any] = ()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(statement, list(params))
        return max(cursor.rowcount, 0)


def _rows(statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(statement, list(params))
        return list(cursor.fetchall())


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _json_object() -> str:
    return "jsonb_build_object" if _postgres() else "json_object"


def _time_type() -> str:
    return "timestamptz" if _postgres() else "text"


def _bool_type() -> str:
    return "boolean" if _postgres() else "integer"


def _stage_table(name: str, columns: str) -> None:
    _sql(f"DROP TABLE IF EXISTS {name}")
    _sql(f"CREATE TEMP TABLE {name} ({columns})")


def _chunk_begin(lock_key: int) -> None:
    if _postgres():
        _sql("SELECT pg_advisory_xact_lock(%s, %s)", [INGEST_LOCK, lock_key])
        # Exclusive against single scans and results (services.bulk_loads_wait takes it
        # shared): nothing lands between this chunk's classification and its writes.
        _sql("SELECT pg_advisory_xact_lock(%s)", [INGEST_LOCK])
        # Window sorts of a chunk (a few tens of MB) stay in memory; JIT compiling the
        # classifying statement costs about a second a chunk and saves nothing.
        _sql("SET LOCAL work_mem = '128MB'")
        # Index lookups of residents and households by id over hash joins that read the whole
        # registry for every chunk: the data sits on SSD and mostly in cache (2.4x at 21 M).
        _sql("SET LOCAL random_page_cost = 1.1")
        _sql("SET LOCAL jit = off")


def _kind_case(column: str) -> str:
    whens = " ".join(f"WHEN '{why}' THEN '{kind}'" for why, kind in WHY_KIND.items())
    return f"CASE {column} {whens} ELSE NULL END"


def _issue_counts(report: LoadReport, table: str) -> None:
    for kind, count in _rows(f"SELECT kind, COUNT(*) FROM {table} WHERE kind IS NOT NULL GROUP BY kind"):
        report.refused[kind] = report.refused.get(kind, 0) + int(count)


def _source_name(filename: str, source: str | None) -> str:
    name = (source or filename).strip() or "file"
    return name[-150:]


# --- scans ---------------------------------------------------------------------------------


def _area_predicate(round_: Round) -> tuple[str, list[Any]]:
    """SQL over the household `h` that is true when it lies in the round's area."""
    terms: list[str] = []
    params: list[Any] = []
    for area in RoundArea.objects.filter(round=round_):
        for column, value in (
            ("id", area.household_id),
            ("unit_id", area.unit_id),
            ("building_id", area.building_id),
            ("compound_id", area.compound_id),
            ("district_id", area.district_id),
        ):
            if value is not None:  # the smallest place the area names (as round_households)
                terms.append(f"h.{column} = %s")
                params.append(value)
                break
    if not terms:
        return "TRUE", []
    return "(" + " OR ".join(terms) + ")", params


def _levels_table() -> None:
    """Households in in-force high and medium zones, with the highest level: computed once per
    load, set-based (the zones' own UNION of indexed lookups)."""
    _stage_table("ingest_levels", "household_id bigint PRIMARY KEY, level text")
    for level in (Level.HIGH, Level.MEDIUM):
        query, params = zones.households_locked(level).values_list("pk").query.sql_with_params()
        _sql(
            f"INSERT INTO ingest_levels (household_id, level) SELECT x.pk, %s FROM ({query}) x "
            "WHERE TRUE ON CONFLICT DO NOTHING",
            [level, *params],
        )


def scans_load(
    *,
    file: IO[bytes],
    filename: str,
    round_code: str,
    source: str | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    progress: Progress | None = None,
    actor: Actor,
    now: datetime,
) -> LoadReport:
    """Load a file of scans into a round (CSV or NDJSON), chunk by chunk.

    Takes every good record as `scan_record` would: the resident by id or ID number, a tube
    created by its first scan with the ratio of where that person lives, one pooled scan per
    person and round. Lists every other record in the round's exceptions, once, under the
    source `scans <name>:<line>`. Idempotent and resumable (see the module's docstring); one
    transaction per chunk, serialised per round on PostgreSQL.
    """
    actor.require("record_samples")
    round_ = Round.objects.filter(code=round_code.strip()).first()
    if round_ is None:
        raise NotFound(_("There is no such round."), code="unknown_round")
    name = _source_name(filename, source)
    report = LoadReport(source=name)
    area, area_params = _area_predicate(round_)
    ratios = {level: selectors.pooling_for(round_, level) for level in ("high", "medium", "low")}
    _levels_table()
    chunks = _read(
        file,
        filename=filename,
        columns=SCAN_COLUMNS,
        required=("tube", "scanned_at"),
        chunk_bytes=chunk_bytes,
    )
    for chunk in chunks:
        with transaction.atomic():
            _chunk_begin(round_.pk)
            taken, listed = _scan_chunk(
                chunk.frame,
                round_=round_,
                name=name,
                area=(area, area_params),
                ratios=ratios,
                report=report,
                now=now,
            )
            if taken or listed:  # a chunk that changed nothing (sent again) leaves no trace
                audit.record(
                    action="testing.scans.loaded",
                    object_type="testing.round",
                    object_id=round_.pk,
                    after={
                        "file": name,
                        "lines": [chunk.frame["line"].min(), chunk.frame["line"].max()],
                        "scans": taken,
                        "listed": listed,
                    },
                    actor=actor,
                    now=now,
                )
        report.records += chunk.frame.height
        report.chunks += 1
        if progress is not None:
            progress(chunk.bytes_read, report.records)
    return report


def _scan_chunk(
    frame: pl.DataFrame,
    *,
    round_: Round,
    name: str,
    area: tuple[str, list[Any]],
    ratios: dict[str, tuple[int, bool]],
    report: LoadReport,
    now: datetime,
) -> tuple[int, int]:
    """Classify and move one chunk; returns (scans taken, exceptions newly listed)."""
    _stage_table(
        "ingest_scan_stage",
        f"line bigint, bad text, resident_raw text, resident_id bigint, id_number text, barcode text,"
        f" site_code text, scanned_at {_time_type()}, sampler text, client_key text, retest {_bool_type()}",
    )
    staged = _scan_stage(frame)
    bulk.write_frame("ingest_scan_stage", staged)
    if _postgres():
        _sql("ANALYZE ingest_scan_stage")
    if staged.filter(pl.col("resident_id").is_null() & pl.col("id_number").is_not_null()).height:
        # Residents named by ID number only: looked up here, once, so that the classifying
        # statement joins residents by id alone (an index lookup per record, not a second join).
        _sql(
            """
            UPDATE ingest_scan_stage SET resident_id = r.id FROM city_resident r
            WHERE ingest_scan_stage.bad IS NULL AND ingest_scan_stage.resident_id IS NULL
              AND r.id_number = ingest_scan_stage.id_number
            """
        )
    area_sql, area_params = area
    (hr, hp), (mr, mp), (lr, lp) = ratios["high"], ratios["medium"], ratios["low"]
    _sql("DROP TABLE IF EXISTS ingest_scan_r")
    # One statement classifies the chunk. Each step considers only the records no earlier step
    # refused (`why IS NULL` is part of every window's partition):
    #   1. per record: unreadable, unknown resident or site, outside the round, already there
    #      (same client key, or the same person in the same tube), scanned before into another
    #      tube, a retest without a recall, a tube of another round, sealed, or of another ratio;
    #   2. per person within the chunk: the first scan (by scanned_at, then line) wins;
    #   3. per tube: the first scan of a new tube sets its ratio and, per household, its household;
    #   4. per tube: scans beyond its ratio (by scanned_at, then line) are refused.
    _sql(
        f"""
        CREATE TEMP TABLE ingest_scan_r AS
        WITH who AS (
            SELECT s.*, r1.id AS rid, r1.household_id AS hid
            FROM ingest_scan_stage s
            LEFT JOIN city_resident r1 ON s.bad IS NULL AND r1.id = s.resident_id
        ),
        base AS (
            SELECT w.line, w.bad, w.resident_raw, w.id_number, w.barcode, w.site_code, w.scanned_at,
                   w.sampler, w.client_key, w.retest, w.rid AS resident_id, h.id AS household_id,
                   h.grid_id, h.district_id, site.id AS site_id, rc.id AS recall_id,
                   t.id AS tube_id, t.ratio AS tube_ratio, t.retest AS tube_retest, t.members AS tube_members,
                   CASE WHEN w.retest THEN 1 WHEN lv.level = 'high' THEN %s
                        WHEN lv.level = 'medium' THEN %s ELSE %s END AS my_ratio,
                   CASE WHEN w.retest THEN TRUE WHEN lv.level = 'high' THEN %s
                        WHEN lv.level = 'medium' THEN %s ELSE %s END AS per_household,
                   CASE
                       WHEN w.bad IS NOT NULL THEN w.bad
                       WHEN w.rid IS NULL THEN 'unknown_resident'
                       WHEN w.site_code IS NOT NULL AND site.id IS NULL THEN 'unknown_site'
                       WHEN NOT {area_sql} THEN 'outside_round'
                       WHEN ck.id IS NOT NULL THEN 'repeat'
                       WHEN old.id IS NOT NULL AND oldt.barcode = w.barcode THEN 'repeat'
                       WHEN old.id IS NOT NULL THEN 'duplicate'
                       WHEN w.retest AND rc.id IS NULL THEN 'no_recall'
                       WHEN t.id IS NULL THEN NULL
                       WHEN t.round_id <> %s THEN 'other_round'
                       WHEN t.result <> '' OR t.sealed_at IS NOT NULL THEN 'sealed'
                       WHEN t.retest <> w.retest THEN 'other_ratio'
                   END AS why1
            FROM who w
            LEFT JOIN city_household h ON h.id = w.hid
            LEFT JOIN testing_site site ON site.code = w.site_code
            LEFT JOIN ingest_levels lv ON lv.household_id = h.id
            LEFT JOIN testing_scan ck ON ck.client_key = w.client_key
            LEFT JOIN testing_recall rc ON w.retest AND rc.round_id = %s AND rc.resident_id = w.rid
                AND rc.state = 'open'
            -- A pooled scan of the person, or for a retest the scan into the recall's tube still
            -- at the lab (after an invalid retest the recall has no tube: a new retest is taken).
            LEFT JOIN testing_scan old
                ON old.round_id = %s AND old.resident_id = w.rid AND old.retest = w.retest
                AND (NOT w.retest OR old.tube_id = rc.retest_tube_id)
            LEFT JOIN testing_tube oldt ON oldt.id = old.tube_id
            LEFT JOIN testing_tube t ON t.barcode = w.barcode
        ),
        persons AS (
            SELECT b.*,
                   row_number() OVER person AS person_rank,
                   first_value(barcode) OVER person AS person_tube,
                   CASE WHEN client_key IS NOT NULL THEN row_number() OVER device END AS key_rank
            FROM base b
            WINDOW person AS (PARTITION BY why1 IS NULL, resident_id, retest ORDER BY scanned_at, line),
                   device AS (PARTITION BY why1 IS NULL, client_key ORDER BY scanned_at, line)
        ),
        step2 AS (
            SELECT p.*, COALESCE(why1, CASE
                WHEN key_rank > 1 THEN 'repeat'
                WHEN person_rank > 1 AND barcode = person_tube THEN 'repeat'
                WHEN person_rank > 1 THEN 'duplicate' END) AS why2
            FROM persons p
        ),
        tubes AS (
            SELECT s.*,
                   COALESCE(tube_ratio, first_value(my_ratio) OVER tube) AS t_ratio,
                   COALESCE(
                       CASE WHEN per_household AND tube_id IS NOT NULL THEN
                           (SELECT x.household_id FROM testing_scan x WHERE x.tube_id = s.tube_id LIMIT 1)
                       END,
                       first_value(household_id) OVER tube
                   ) AS t_household
            FROM step2 s
            WINDOW tube AS (PARTITION BY why2 IS NULL, barcode ORDER BY scanned_at, line)
        ),
        step3 AS (
            SELECT t.*, COALESCE(why2, CASE
                WHEN my_ratio <> t_ratio THEN 'other_ratio'
                WHEN per_household AND household_id <> t_household THEN 'other_household' END) AS why3
            FROM tubes t
        ),
        ranked AS (
            SELECT s.*, row_number() OVER (PARTITION BY why3 IS NULL, barcode ORDER BY scanned_at, line)
                   AS tube_rank
            FROM step3 s
        )
        SELECT f.*, {_kind_case("f.why")} AS kind FROM (
            SELECT line, resident_raw, id_number, barcode, site_code, scanned_at, sampler, client_key,
                   retest, resident_id, household_id, grid_id, district_id, site_id, recall_id, tube_id,
                   t_ratio, tube_rank,
                   COALESCE(why3, CASE WHEN tube_rank + COALESCE(tube_members, 0) > t_ratio
                       THEN 'over_ratio' END) AS why
            FROM ranked
        ) f
        """,
        [hr, mr, lr, hp, mp, lp, *area_params, round_.pk, round_.pk, round_.pk],
    )
    report.tubes_created += _sql(
        """
        INSERT INTO testing_tube (round_id, barcode, ratio, retest, site_id, district_id, members,
                                  first_scan_at, result)
        SELECT %s, barcode, t_ratio, retest, site_id, district_id, 0, scanned_at, ''
        FROM ingest_scan_r WHERE why IS NULL AND tube_id IS NULL AND tube_rank = 1
        ORDER BY line
        ON CONFLICT DO NOTHING
        """,
        [round_.pk],
    )
    taken = _sql(
        """
        INSERT INTO testing_scan (round_id, tube_id, resident_id, household_id, grid_id, district_id,
                                  site_id, retest, scanned_at, sampler, client_key)
        SELECT %s, t.id, r.resident_id, r.household_id, r.grid_id, r.district_id, r.site_id, r.retest,
               r.scanned_at, COALESCE(r.sampler, ''), r.client_key
        FROM ingest_scan_r r JOIN testing_tube t ON t.barcode = r.barcode AND t.round_id = %s
        WHERE r.why IS NULL
        ORDER BY r.line
        ON CONFLICT DO NOTHING
        """,
        [round_.pk, round_.pk],
    )
    # Members counted from the scans themselves: right whatever an earlier, killed load left.
    _sql(
        """
        UPDATE testing_tube SET members = c.n, first_scan_at = c.first
        FROM (
            SELECT x.tube_id, COUNT(*) AS n, MIN(x.scanned_at) AS first FROM testing_scan x
            WHERE x.tube_id IN (
                SELECT t.id FROM testing_tube t JOIN ingest_scan_r r ON t.barcode = r.barcode
                WHERE r.why IS NULL)
            GROUP BY x.tube_id
        ) c
        WHERE testing_tube.id = c.tube_id
        """
    )
    _sql(
        """
        UPDATE testing_recall SET retest_tube_id = c.tube_id
        FROM (
            SELECT r.recall_id, t.id AS tube_id FROM ingest_scan_r r
            JOIN testing_tube t ON t.barcode = r.barcode
            WHERE r.why IS NULL AND r.recall_id IS NOT NULL
        ) c
        WHERE testing_recall.id = c.recall_id
        """
    )
    report.taken += taken
    report.repeated += _rows("SELECT COUNT(*) FROM ingest_scan_r WHERE why = 'repeat'")[0][0]
    _issue_counts(report, "ingest_scan_r")
    listed = _sql(
        f"""
        INSERT INTO testing_roundissue (round_id, kind, detail, source, at)
        SELECT %s, r.kind,
               {_json_object()}('file', CAST(%s AS text), 'line', r.line, 'reason', r.why,
                                'resident_id', r.resident_raw,
                                'id_number', r.id_number, 'tube', r.barcode, 'site', r.site_code,
                                'client_key', r.client_key),
               CAST(%s AS text) || CAST(r.line AS text), %s
        FROM ingest_scan_r r
        WHERE r.kind IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM testing_roundissue i
            WHERE i.round_id = %s AND i.source = CAST(%s AS text) || CAST(r.line AS text))
        ORDER BY r.line
        """,
        [round_.pk, name, f"scans {name}:", _at(now), round_.pk, f"scans {name}:"],
    )
    return taken, listed


def _at(now: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(now)


# --- results -------------------------------------------------------------------------------


def results_load(
    *,
    file: IO[bytes],
    filename: str,
    source: str | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    progress: Progress | None = None,
    on_chunk: Callable[[ResultsChunk], None] | None = None,
    actor: Actor,
    now: datetime,
) -> LoadReport:
    """Load a lab's file of results (CSV or NDJSON), chunk by chunk, as `tube_result` would.

    Only pending tubes take a result; the same result again is a no-op; another result for a
    resulted tube, or a result for an unknown tube, is listed under `results <name>:<line>`.
    Members of positive or invalid pools are recalled (one recall per person and round);
    a retest tube closes its members' recalls (an invalid retest leaves them open). Positive
    single tubes and retests are handed to `on_chunk` (the flow opens their cases) inside the
    chunk's transaction, so that a killed load never keeps a result without its case.
    """
    actor.require("record_results")
    name = _source_name(filename, source)
    report = LoadReport(source=name)
    chunks = _read(
        file,
        filename=filename,
        columns=RESULT_COLUMNS,
        required=("tube", "result", "resulted_at"),
        chunk_bytes=chunk_bytes,
    )
    for chunk in chunks:
        with transaction.atomic():
            _chunk_begin(0)
            changed = _results_chunk(chunk.frame, name=name, report=report, now=now)
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


def _results_chunk(frame: pl.DataFrame, *, name: str, report: LoadReport, now: datetime) -> ResultsChunk:
    _stage_table(
        "ingest_result_stage",
        f"line bigint, bad text, barcode text, result text, result_raw text, resulted_at {_time_type()},"
        " lab_code text, ct text",
    )
    bulk.write_frame("ingest_result_stage", _result_stage(frame))
    if _postgres():
        _sql("ANALYZE ingest_result_stage")
    _sql("DROP TABLE IF EXISTS ingest_result_r")
    # Per record: unreadable, unknown tube or lab, or the tube already resulted (the same
    # result: a repeat; another: refused). Then per tube within the chunk: the first line wins.
    _sql(
        f"""
        CREATE TEMP TABLE ingest_result_r AS
        WITH base AS (
            SELECT s.*, t.id AS tube_id, t.round_id, t.retest AS tube_retest, t.ratio AS tube_ratio,
                   lab.id AS lab_id,
                   CASE
                       WHEN s.bad IS NOT NULL THEN s.bad
                       WHEN t.id IS NULL THEN 'unknown_tube'
                       WHEN s.lab_code IS NOT NULL AND lab.id IS NULL THEN 'unknown_lab'
                       WHEN t.result = s.result THEN 'repeat'
                       WHEN t.result <> '' THEN 'already_resulted'
                   END AS why1
            FROM ingest_result_stage s
            LEFT JOIN testing_tube t ON s.bad IS NULL AND t.barcode = s.barcode
            LEFT JOIN testing_lab lab ON lab.code = s.lab_code
        ),
        ranked AS (
            SELECT b.*, row_number() OVER tube AS tube_rank, first_value(result) OVER tube AS first_result
            FROM base b
            WINDOW tube AS (PARTITION BY why1 IS NULL, barcode ORDER BY line)
        )
        SELECT f.*, {_kind_case("f.why")} AS kind FROM (
            SELECT line, barcode, result, result_raw, resulted_at, lab_code, lab_id, ct, tube_id, round_id,
                   tube_retest, tube_ratio,
                   COALESCE(why1, CASE WHEN tube_rank > 1 AND result = first_result THEN 'repeat'
                                       WHEN tube_rank > 1 THEN 'already_resulted' END) AS why
            FROM ranked
        ) f
        """
    )
    ct = "CAST(r.ct AS jsonb)" if _postgres() else "r.ct"
    report.taken += _sql(
        f"""
        UPDATE testing_tube SET
            result = r.result, resulted_at = r.resulted_at, ct_values = {ct},
            sealed_at = COALESCE(testing_tube.sealed_at, r.resulted_at),
            received_at = CASE WHEN testing_tube.lab_id IS NULL AND r.lab_id IS NOT NULL
                               THEN COALESCE(testing_tube.received_at, r.resulted_at)
                               ELSE testing_tube.received_at END,
            lab_id = COALESCE(testing_tube.lab_id, r.lab_id)
        FROM ingest_result_r r
        WHERE r.why IS NULL AND testing_tube.id = r.tube_id AND testing_tube.result = ''
        """
    )
    # A positive or invalid pool (and an invalid first single tube) recalls every member.
    report.recalls_opened += _sql(
        """
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
    )
    members = """
        SELECT x.round_id, x.resident_id, r.result, r.resulted_at FROM ingest_result_r r
        JOIN testing_scan x ON x.tube_id = r.tube_id
        WHERE r.why IS NULL AND r.tube_retest AND r.result IN ({})
    """
    report.recalls_closed += _sql(
        f"""
        UPDATE testing_recall SET state = 'retested', result = c.result, closed_at = c.resulted_at
        FROM ({members.format("'positive', 'negative'")}) c
        WHERE testing_recall.round_id = c.round_id AND testing_recall.resident_id = c.resident_id
          AND testing_recall.state = 'open'
        """
    )
    # An invalid retest: the person is sampled again; the recall stays open, without a tube.
    _sql(
        f"""
        UPDATE testing_recall SET state = 'open', result = '', closed_at = NULL, retest_tube_id = NULL
        FROM ({members.format("'invalid'")}) c
        WHERE testing_recall.round_id = c.round_id AND testing_recall.resident_id = c.resident_id
        """
    )
    positives = [
        Positive(barcode, int(resident_id), _as_datetime(at))
        for barcode, resident_id, at in _rows(
            """
            SELECT r.barcode, x.resident_id, r.resulted_at FROM ingest_result_r r
            JOIN testing_scan x ON x.tube_id = r.tube_id
            WHERE r.why IS NULL AND r.result = 'positive' AND (r.tube_retest OR r.tube_ratio = 1)
            ORDER BY r.line, x.id
            """
        )
    ]
    report.positives += len(positives)
    rounds = {
        int(round_id): _as_datetime(latest)
        for round_id, latest in _rows(
            "SELECT round_id, MAX(resulted_at) FROM ingest_result_r WHERE why IS NULL GROUP BY round_id"
        )
    }
    report.repeated += _rows("SELECT COUNT(*) FROM ingest_result_r WHERE why = 'repeat'")[0][0]
    _issue_counts(report, "ingest_result_r")
    _sql(
        f"""
        INSERT INTO testing_roundissue (round_id, kind, detail, source, at)
        SELECT r.round_id, r.kind,
               {_json_object()}('file', CAST(%s AS text), 'line', r.line, 'reason', r.why, 'tube', r.barcode,
                                'result', r.result_raw, 'lab', r.lab_code),
               CAST(%s AS text) || CAST(r.line AS text), %s
        FROM ingest_result_r r
        WHERE r.kind IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM testing_roundissue i WHERE i.source = CAST(%s AS text) || CAST(r.line AS text))
        ORDER BY r.line
        """,
        [name, f"results {name}:", _at(now), f"results {name}:"],
    )
    return ResultsChunk(positives=positives, rounds=rounds)


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
