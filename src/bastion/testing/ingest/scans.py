"""A file of scans into a round: classified chunk by chunk in memory (polars), written by COPY.

Once per load: the round's areas and pooling, the households in high and medium zones, and the
sampling sites. For a large file on PostgreSQL, the registry too (resident -> household -> grid,
district and the places a round's area can name), read by one binary COPY per table into numpy
arrays, and, inside the first chunk's lock, the round's pooled scans (resident -> tube): a
Chengdu round then never looks a person up in the database. A small file looks its residents
and their scans up per chunk instead (an indexed join of the chunk's ids).

Each chunk is one transaction under the exclusive ingest lock (single scans from devices wait
for it and never land between a chunk's checks and its writes). The pooled scans devices wrote
since the previous chunk are folded in; the chunk's tubes, client keys and recalls are read by
one indexed query each; the records are classified by whole-column expressions in the order the
module `bastion.testing.ingest` describes; then new tubes are inserted (ids returned), existing
ones updated, and the scans COPYed in the file's order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import IO, Any

import numpy as np
import polars as pl
from django.db import connection, transaction
from django.utils.translation import gettext_lazy as _

from bastion.city import bulk
from bastion.core import audit
from bastion.core import sql as core_sql
from bastion.core.errors import NotFound
from bastion.core.scopes import Actor
from bastion.testing import rules, selectors
from bastion.testing.ingest import reading, sql
from bastion.testing.models import Round
from bastion.zones import selectors as zones
from bastion.zones.models import Level

# A file at least this large (about 2 M records) on PostgreSQL reads the registry once instead
# of looking its residents up chunk by chunk (8 s for 21 M residents against ~1 s a chunk).
SNAPSHOT_BYTES = 10 * reading.CHUNK_BYTES
# The household's columns a round's area can name, from the smallest place up.
AREA_COLUMNS = (("household_id", "household"), ("unit_id", "unit"), ("building_id", "building"))


def _scan_stage(frame: pl.DataFrame) -> pl.DataFrame:
    resident = pl.col("resident").cast(pl.Int64, strict=False)
    retest = pl.col("retest").str.to_lowercase()
    at = reading.parse_times(frame["scanned_at"])
    checked = frame.with_columns(at=at, resident_id=resident).with_columns(
        bad=reading.first_problem(
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
            (retest.is_not_null() & ~retest.is_in([*reading.TRUE_WORDS, *reading.FALSE_WORDS]), "bad_retest"),
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
        "at",
        pl.col("sampler").str.slice(0, 50),
        "client_key",
        retest.is_in(reading.TRUE_WORDS).fill_null(False).alias("retest"),
    )


# --- what a load knows once ----------------------------------------------------------------


@dataclass(frozen=True)
class _Setting:
    round_id: int
    # (household column, id) for each area of the round, the smallest place it names; empty: city.
    areas: list[tuple[str, int]]
    place_columns: list[str]  # household columns looked up besides grid and district
    ratios: dict[str, tuple[int, bool]]  # level -> (ratio, one household per tube)
    levels: pl.DataFrame  # household_id -> "high" | "medium"
    sites: dict[str, int]
    starts_at: datetime
    closed_at: datetime | None  # read again by every chunk: a round closed during a load


def _setting(round_: Round) -> _Setting:
    # The household's own id is `household_id` in the chunk's columns.
    areas = [("household_id" if c == "id" else c, v) for c, v in selectors.round_places(round_)]
    wanted = {column for column, _value in areas} - {"household_id", "district_id"}
    levels = zones.household_levels()  # the highest in force over each; the others are low
    return _Setting(
        round_id=round_.pk,
        areas=areas,
        place_columns=sorted(wanted),
        ratios={level: rules.pooling_for(round_.pooling, level) for level in Level.values},
        levels=pl.DataFrame(
            {"household_id": list(levels), "level": list(levels.values())},
            schema={"household_id": pl.Int64, "level": pl.String},
        ),
        sites=dict(core_sql.rows("SELECT code, id FROM testing_site")),
        starts_at=round_.starts_at,
        closed_at=round_.closed_at,
    )


def _ints(query: str, params: Sequence[Any], width: int) -> np.ndarray:
    """The rows of `query` (`width` integer columns, none NULL) as an (n, width) int64 array.

    On PostgreSQL the server packs the rows into one bytea (8 bytes a value), which numpy reads
    without a Python object per row: a COPY TO sends one message per row, which costs more in
    Python than the rows themselves (3 s per million)."""
    with connection.cursor() as cursor:
        if not core_sql.postgres():
            cursor.execute(query, list(params))
            return np.array(cursor.fetchall(), dtype=np.int64).reshape(-1, width)
        packed = " || ".join(f"int8send(q.c{i})" for i in range(width))
        names = ", ".join(f"c{i}" for i in range(width))
        cursor.execute(f"SELECT string_agg({packed}, ''::bytea) FROM ({query}) AS q ({names})", list(params))
        data = cursor.fetchone()[0]
    if not data:
        return np.zeros((0, width), dtype=np.int64)
    return np.frombuffer(bytes(data), dtype=">i8").astype(np.int64).reshape(-1, width)


def _ints_by_id(table: str, columns: str, width: int, step: int = 2_000_000) -> np.ndarray:
    """`SELECT id, <columns> FROM <table>` as `_ints`, in slices of ids (bounded bytea)."""
    low, high = core_sql.rows(f"SELECT MIN(id), MAX(id) FROM {table}")[0]
    if low is None:
        return np.zeros((0, width), dtype=np.int64)
    parts = [
        _ints(f"SELECT id, {columns} FROM {table} WHERE id >= %s AND id < %s", [start, start + step], width)
        for start in range(int(low), int(high) + 1, step)
    ]
    return np.concatenate(parts)


def _by_id(pairs: np.ndarray) -> np.ndarray:
    """Rows (id, values...) -> an array indexed by id (row 0 and missing ids all zero)."""
    size = int(pairs[:, 0].max()) + 1 if len(pairs) else 1
    table = np.zeros((size, pairs.shape[1] - 1), dtype=np.int64)
    table[pairs[:, 0]] = pairs[:, 1:]
    return table


def _gather(table: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Rows of `table` for `ids` (0 or beyond the table: zeros)."""
    inside = (ids > 0) & (ids < len(table))
    return np.where(inside[:, None], table[np.where(inside, ids, 0)], 0)


class _People:
    """Residents -> household, grid, district (and the places the round's areas name), and the
    round's pooled scans (resident -> tube id). From arrays read once (`snapshot`) or from the
    database chunk by chunk."""

    def __init__(self, setting: _Setting, *, snapshot: bool) -> None:
        self.setting = setting
        self.columns = ["household_id", "grid_id", "district_id", *setting.place_columns]
        self.snapshot = snapshot
        self.households: np.ndarray | None = None
        self.places: np.ndarray | None = None
        self.scanned: np.ndarray | None = None  # resident id -> tube id of their pooled scan
        self.watermark = 0
        if snapshot:
            self.households = _by_id(_ints_by_id("city_resident", "household_id", 2))[:, 0]
            places = ", ".join(f"COALESCE({c}, 0)" for c in self.columns[1:])
            self.places = _by_id(_ints_by_id("city_household", places, len(self.columns)))

    # Residents

    def lookup(self, ids: pl.Series) -> pl.DataFrame:
        """One row per id, in order: the person's household and places (nulls: unknown)."""
        if not self.snapshot or self.households is None or self.places is None:
            return self._query(ids)
        wanted = ids.fill_null(0).to_numpy().astype(np.int64)
        household = _gather(self.households[:, None], wanted)[:, 0]
        places = _gather(self.places, household)
        found = pl.DataFrame(
            {"household_id": household, **{c: places[:, i] for i, c in enumerate(self.columns[1:])}}
        ).with_columns(pl.when(pl.col("household_id") > 0).then(pl.all()).otherwise(None))
        missing = ids.filter(found["household_id"].is_null() & ids.is_not_null())
        if missing.len():  # registered since the snapshot: looked up in the database
            unique = missing.unique().sort()
            late = self._query(unique).with_columns(resident_id=unique)
            found = (
                found.with_columns(resident_id=ids)
                .join(late, on="resident_id", how="left", maintain_order="left", suffix="_late")
                .select([pl.coalesce(pl.col(c), pl.col(f"{c}_late")).alias(c) for c in self.columns])
            )
        return found

    def _query(self, ids: pl.Series) -> pl.DataFrame:
        sql.stage(
            "ingest_ids", "resident_id bigint", pl.DataFrame({"resident_id": ids.drop_nulls().unique()})
        )
        places = ", ".join(f"h.{c}" for c in self.columns[1:])
        rows = core_sql.rows(
            f"SELECT r.id, r.household_id, {places} FROM ingest_ids i"
            " JOIN city_resident r ON r.id = i.resident_id JOIN city_household h ON h.id = r.household_id"
        )
        known = pl.DataFrame(
            rows, schema={"resident_id": pl.Int64, **dict.fromkeys(self.columns, pl.Int64)}, orient="row"
        )
        return (
            pl.DataFrame({"resident_id": ids})
            .join(known, on="resident_id", how="left", maintain_order="left")
            .drop("resident_id")
        )

    # The round's pooled scans

    def refresh(self) -> None:
        """Fold in the pooled scans written since the last chunk (under the chunk's lock, when
        no device's scan is in flight)."""
        if not self.snapshot:
            return
        if self.scanned is None:  # the first chunk: the round's pooled scans, by its index
            size = len(self.households) if self.households is not None else 1
            self.scanned = np.zeros(size, dtype=np.int64)
            top = len(self.scanned)
            step = 2_000_000
            for start in range(0, top, step):
                found = _ints(
                    "SELECT resident_id, tube_id FROM testing_scan WHERE round_id = %s AND NOT retest"
                    " AND resident_id >= %s AND resident_id < %s",
                    [self.setting.round_id, start, start + step if start + step < top else 2**62],
                    2,
                )
                self._keep(found[:, 0], found[:, 1])
        else:
            # Then the scans written since, by the primary key alone: with the round's
            # predicates the planner may walk the round's whole index instead, every chunk.
            since = _ints(
                "SELECT id, round_id, CASE WHEN retest THEN 1 ELSE 0 END, resident_id, tube_id"
                " FROM testing_scan WHERE id > %s",
                [self.watermark],
                5,
            )
            mine = since[(since[:, 1] == self.setting.round_id) & (since[:, 2] == 0)]
            self._keep(mine[:, 3], mine[:, 4])
        self.watermark = self._top()

    def scanned_tubes(self, ids: pl.Series, *, retest: pl.Series) -> pl.Series:
        """The tube of each person's pooled scan in the round (null: none, or a retest row)."""
        if self.snapshot and self.scanned is not None:
            tube = _gather(self.scanned[:, None], ids.fill_null(0).to_numpy().astype(np.int64))[:, 0]
            return (
                pl.DataFrame({"t": tube, "r": retest})
                .select(pl.when((pl.col("t") > 0) & ~pl.col("r")).then(pl.col("t")).alias("old_tube"))
                .to_series()
            )
        pooled = ids.filter(~retest).drop_nulls().unique()
        sql.stage("ingest_ids", "resident_id bigint", pl.DataFrame({"resident_id": pooled}))
        rows = core_sql.rows(
            "SELECT s.resident_id, s.tube_id FROM ingest_ids i JOIN testing_scan s"
            " ON s.round_id = %s AND s.resident_id = i.resident_id AND NOT s.retest",
            [self.setting.round_id],
        )
        old = pl.DataFrame(rows, schema={"resident_id": pl.Int64, "old_tube": pl.Int64}, orient="row")
        return (
            pl.DataFrame({"resident_id": ids, "r": retest})
            .join(old, on="resident_id", how="left", maintain_order="left")
            .select(pl.when(~pl.col("r")).then(pl.col("old_tube")).alias("old_tube"))
            .to_series()
        )

    def taken(self, residents: pl.Series, tubes: pl.Series) -> None:
        """The chunk's own pooled scans, written: kept without reading them back."""
        if self.snapshot and self.scanned is not None:
            self._keep(residents.to_numpy().astype(np.int64), tubes.to_numpy().astype(np.int64))
            self.watermark = self._top()

    def _keep(self, residents: np.ndarray, tubes: np.ndarray) -> None:
        if self.scanned is None:
            return
        top = int(residents.max()) + 1 if len(residents) else 0
        if top > len(self.scanned):
            self.scanned = np.concatenate([self.scanned, np.zeros(top - len(self.scanned), dtype=np.int64)])
        self.scanned[residents] = tubes

    @staticmethod
    def _top() -> int:
        return int(core_sql.rows("SELECT COALESCE(MAX(id), 0) FROM testing_scan")[0][0])


# --- the load ------------------------------------------------------------------------------


def _file_size(file: IO[bytes]) -> int | None:
    size = getattr(file, "size", None)
    if isinstance(size, int):
        return size
    try:
        return os.fstat(file.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return None


def scans_load(
    *,
    file: IO[bytes],
    filename: str,
    round_code: str,
    source: str | None = None,
    chunk_bytes: int = reading.CHUNK_BYTES,
    progress: reading.Progress | None = None,
    snapshot: bool | None = None,
    actor: Actor,
    now: datetime,
) -> sql.LoadReport:
    """Load a file of scans into a round (CSV or NDJSON), chunk by chunk.

    Takes every good record as `scan_record` would: the resident by id or ID number, a tube
    created by its first scan with the ratio of where that person lives, one pooled scan per
    person and round. Lists every other record in the round's exceptions, once, under the
    source `scans <name>:<line>`. Idempotent and resumable (see the package's docstring); one
    transaction per chunk, serialised against every other writer of scans on PostgreSQL.
    `snapshot` reads the registry once instead of per chunk (default: for files of 160 MB and
    more on PostgreSQL).
    """
    actor.require("record_samples")
    round_ = Round.objects.filter(code=round_code.strip()).first()
    if round_ is None:
        raise NotFound(_("There is no such round."), code="unknown_round")
    name = sql.source_name(filename, source)
    report = sql.LoadReport(source=name)
    setting = _setting(round_)
    if snapshot is None:
        size = _file_size(file)
        snapshot = core_sql.postgres() and size is not None and size >= SNAPSHOT_BYTES
    people = _People(setting, snapshot=snapshot)
    chunks = reading.read_chunks(
        file,
        filename=filename,
        columns=reading.SCAN_COLUMNS,
        required=("tube", "scanned_at"),
        chunk_bytes=chunk_bytes,
    )
    for chunk, staged in _read_ahead(chunks):
        with transaction.atomic():
            sql.chunk_begin(round_.pk)
            setting = replace(
                setting, closed_at=Round.objects.filter(pk=round_.pk).values_list("closed_at", flat=True)[0]
            )
            people.refresh()
            taken, listed = _scan_chunk(
                staged, setting=setting, people=people, name=name, report=report, now=now
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


def _read_ahead(chunks: Iterator[reading.Chunk]) -> Iterator[tuple[reading.Chunk, pl.DataFrame]]:
    """Chunks with their checked values, the next one read and checked in a thread while this
    one is classified and written: polars parses without the GIL, so reading the file overlaps
    the database's work. The thread never touches the database."""

    def work() -> tuple[reading.Chunk, pl.DataFrame] | None:
        chunk = next(chunks, None)
        return None if chunk is None else (chunk, _scan_stage(chunk.frame))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="scans-ahead") as pool:
        ahead = pool.submit(work)
        while (got := ahead.result()) is not None:
            ahead = pool.submit(work)
            yield got


# --- one chunk -----------------------------------------------------------------------------


def _first(expr: pl.Expr, keys: list[str]) -> pl.Expr:
    return expr.first().over(keys)


def _rank(keys: list[str]) -> pl.Expr:
    return pl.int_range(1, pl.len() + 1).over(keys)


def _reason(*pairs: tuple[pl.Expr, str]) -> pl.Expr:
    """The first reason whose condition holds (null conditions do not hold), else null."""
    chain: Any = None
    for condition, why in pairs:
        chain = (pl.when(condition) if chain is None else chain.when(condition)).then(pl.lit(why))
    return chain.otherwise(pl.lit(None, pl.String))


def _scan_chunk(
    staged: pl.DataFrame,
    *,
    setting: _Setting,
    people: _People,
    name: str,
    report: sql.LoadReport,
    now: datetime,
) -> tuple[int, int]:
    """Classify and write one chunk (read and checked by `_scan_stage`); returns (scans taken,
    exceptions newly listed)."""
    staged = _by_id_number(staged)
    who = people.lookup(staged["resident_id"])
    df = pl.concat([staged, who], how="horizontal")
    df = df.with_columns(
        resident_id=pl.when(pl.col("household_id").is_not_null()).then(pl.col("resident_id")),
        site_id=pl.col("site_code").replace_strict(setting.sites, default=None, return_dtype=pl.Int64),
    )
    if df.filter(pl.col("site_code").is_not_null() & pl.col("site_id").is_null()).height:
        setting.sites.update(dict(core_sql.rows("SELECT code, id FROM testing_site")))  # opened since
        df = df.with_columns(
            site_id=pl.col("site_code").replace_strict(setting.sites, default=None, return_dtype=pl.Int64)
        )
    df = df.join(setting.levels, on="household_id", how="left", maintain_order="left").with_columns(
        pl.col("level").fill_null("low")
    )
    df = _with_pooling(df, setting)
    df = df.with_columns(people.scanned_tubes(df["resident_id"], retest=df["retest"]))
    df = _with_keys(df)
    df = _with_recalls(df, setting.round_id)
    df = _with_tubes(df)
    df = _classify(df, setting)
    return _write(df, setting=setting, people=people, name=name, report=report, now=now)


def _by_id_number(staged: pl.DataFrame) -> pl.DataFrame:
    """Residents named by ID number only: looked up once per chunk, by an indexed join."""
    wanted = staged.filter(
        pl.col("bad").is_null() & pl.col("resident_id").is_null() & pl.col("id_number").is_not_null()
    )["id_number"].unique()
    if not wanted.len():
        return staged
    sql.stage("ingest_id_numbers", "id_number text", pl.DataFrame({"id_number": wanted}))
    found = pl.DataFrame(
        core_sql.rows(
            "SELECT r.id_number, r.id FROM ingest_id_numbers n"
            " JOIN city_resident r ON r.id_number = n.id_number"
        ),
        schema={"id_number": pl.String, "by_number": pl.Int64},
        orient="row",
    ).unique("id_number", keep="first")
    return (
        staged.join(found, on="id_number", how="left", maintain_order="left")
        .with_columns(
            resident_id=pl.when(pl.col("bad").is_null())
            .then(pl.coalesce("resident_id", "by_number"))
            .otherwise(pl.col("resident_id"))
        )
        .drop("by_number")
    )


def _with_keys(df: pl.DataFrame) -> pl.DataFrame:
    """`key_seen`: a scan with this client key is already there (a device's or file's retry)."""
    keys = df.filter(pl.col("client_key").is_not_null())["client_key"].unique()
    seen: list[str] = []
    if keys.len():
        sql.stage("ingest_keys", "client_key text", pl.DataFrame({"client_key": keys}))
        seen = [
            k
            for (k,) in core_sql.rows(
                "SELECT DISTINCT s.client_key FROM ingest_keys k"
                " JOIN testing_scan s ON s.client_key = k.client_key"
            )
        ]
    return df.with_columns(key_seen=pl.col("client_key").is_in(seen).fill_null(False))


def _with_recalls(df: pl.DataFrame, round_id: int) -> pl.DataFrame:
    """For retests: the person's open recall, and whether its retest tube already holds their
    scan (and that tube's barcode). Retests are few: one indexed query over them."""
    wanted = df.filter(pl.col("retest") & pl.col("resident_id").is_not_null())["resident_id"].unique()
    schema = {
        "resident_id": pl.Int64,
        "recall_id": pl.Int64,
        "retest_scanned": pl.Boolean,
        "retest_barcode": pl.String,
    }
    rows: list[tuple[Any, ...]] = []
    if wanted.len():
        sql.stage("ingest_ids", "resident_id bigint", pl.DataFrame({"resident_id": wanted}))
        rows = core_sql.rows(
            """
            SELECT rc.resident_id, rc.id,
                   EXISTS (SELECT 1 FROM testing_scan x WHERE x.round_id = rc.round_id
                           AND x.resident_id = rc.resident_id AND x.retest AND x.tube_id = rc.retest_tube_id),
                   t.barcode
            FROM ingest_ids i
            JOIN testing_recall rc
              ON rc.round_id = %s AND rc.resident_id = i.resident_id AND rc.state = 'open'
            LEFT JOIN testing_tube t ON t.id = rc.retest_tube_id
            """,
            [round_id],
        )
    recalls = pl.DataFrame(rows, schema=schema, orient="row").with_columns(
        pl.col("retest_scanned").cast(pl.Boolean)
    )
    return df.join(recalls, on="resident_id", how="left", maintain_order="left").with_columns(
        recall_id=pl.when(pl.col("retest")).then(pl.col("recall_id")),
        retest_scanned=pl.col("retest") & pl.col("retest_scanned").fill_null(False),
    )


def _with_tubes(df: pl.DataFrame) -> pl.DataFrame:
    """The tubes the chunk names that exist already (any round), by one indexed join."""
    barcodes = df.filter(pl.col("bad").is_null())["barcode"].unique()
    sql.stage("ingest_barcodes", "barcode text", pl.DataFrame({"barcode": barcodes}))
    rows = core_sql.rows(
        """
        SELECT t.barcode, t.id, t.round_id, t.ratio, t.retest, t.members,
               t.result <> '' OR t.sealed_at IS NOT NULL
        FROM ingest_barcodes b JOIN testing_tube t ON t.barcode = b.barcode
        """
    )
    tubes = pl.DataFrame(
        rows,
        schema={
            "barcode": pl.String,
            "tube_id": pl.Int64,
            "tube_round": pl.Int64,
            "tube_ratio": pl.Int64,
            "tube_retest": pl.Boolean,
            "tube_members": pl.Int64,
            "tube_closed": pl.Boolean,
        },
        orient="row",
    )
    df = df.join(tubes, on="barcode", how="left", maintain_order="left")
    # One household per tube: the household of an existing tube's members, for the few rows
    # that need it (high-risk areas and retests).
    wanted = df.filter(pl.col("per_household") & (pl.col("tube_members") > 0))["tube_id"].unique()
    households: list[tuple[Any, ...]] = []
    if wanted.len():
        sql.stage("ingest_tube_ids", "tube_id bigint", pl.DataFrame({"tube_id": wanted}))
        households = core_sql.rows(
            "SELECT i.tube_id,"
            " (SELECT x.household_id FROM testing_scan x WHERE x.tube_id = i.tube_id LIMIT 1)"
            " FROM ingest_tube_ids i"
        )
    found = pl.DataFrame(households, schema={"tube_id": pl.Int64, "tube_household": pl.Int64}, orient="row")
    return df.join(found, on="tube_id", how="left", maintain_order="left")


def _with_pooling(df: pl.DataFrame, setting: _Setting) -> pl.DataFrame:
    """Each person's pooling where they live: 1 and one household for a retest."""
    ratio = {level: r for level, (r, _one) in setting.ratios.items()}
    one = {level: o for level, (_r, o) in setting.ratios.items()}
    return df.with_columns(
        my_ratio=pl.when(pl.col("retest"))
        .then(pl.lit(1, pl.Int64))
        .otherwise(pl.col("level").replace_strict(ratio, return_dtype=pl.Int64)),
        per_household=pl.when(pl.col("retest"))
        .then(pl.lit(True))
        .otherwise(pl.col("level").replace_strict(one, return_dtype=pl.Boolean)),
    )


def _in_area(setting: _Setting) -> pl.Expr:
    if not setting.areas:
        return pl.lit(True)
    inside = pl.lit(False)
    for column, value in setting.areas:
        inside = inside | (pl.col(column) == value).fill_null(False)
    return inside


def _classify(df: pl.DataFrame, setting: _Setting) -> pl.DataFrame:
    """`why` each record is not taken (null: taken), in the order of the SQL it replaces:
    1. per record: unreadable, scanned before the round's start or after its closing, unknown
       resident or site, outside the round, already there (same client key, or the same person
       in the same tube), sampled before into another tube, a retest without a recall, a tube
       of another round, sealed, or of another kind;
    2. per person within the chunk: the first scan (by time, then line) wins;
    3. per tube: the first scan of a new tube sets its ratio and, per household, its household;
    4. per tube: scans beyond its ratio (by time, then line) are refused.
    Each step considers only the records no earlier step refused."""
    df = df.sort(["at", "line"], nulls_last=True)
    old = pl.col("old_tube").is_not_null()
    df = df.with_columns(
        why1=pl.coalesce(
            pl.col("bad"),
            _reason(
                # `rules.outside_time`, held to its table by tests/testing/test_admission_paths.py.
                (pl.col("at") < setting.starts_at, rules.BEFORE_START),
                (
                    pl.lit(False) if setting.closed_at is None else pl.col("at") >= setting.closed_at,
                    rules.AFTER_CLOSE,
                ),
                (pl.col("resident_id").is_null(), "unknown_resident"),
                (pl.col("site_code").is_not_null() & pl.col("site_id").is_null(), "unknown_site"),
                (~_in_area(setting), "outside_round"),
                (pl.col("key_seen"), "repeat"),
                (old & (pl.col("old_tube") == pl.col("tube_id")).fill_null(False), "repeat"),
                (old, "duplicate"),
                (pl.col("retest_scanned") & (pl.col("retest_barcode") == pl.col("barcode")), "repeat"),
                (pl.col("retest_scanned"), "duplicate"),
                (pl.col("retest") & pl.col("recall_id").is_null(), "no_recall"),
                # `rules.tube_refusal` for a tube already there, in the rule's order (its ratio,
                # household and room: steps 3 and 4).
                (
                    pl.col("tube_id").is_not_null() & (pl.col("tube_round") != setting.round_id),
                    rules.OTHER_ROUND,
                ),
                (pl.col("tube_closed").fill_null(False), rules.SEALED),
                ((pl.col("tube_retest") != pl.col("retest")).fill_null(False), rules.OTHER_RATIO),
            ),
        )
    ).with_columns(ok1=pl.col("why1").is_null())
    person = ["ok1", "resident_id", "retest"]
    # Ranking 300,000 groups of one costs more than the rest of the classification: rank people
    # and client keys only when one appears twice among the records still in the running.
    person_key = pl.when(pl.col("ok1")).then(pl.col("resident_id") * 2 + pl.col("retest").cast(pl.Int64))
    key = pl.when(pl.col("ok1")).then(pl.col("client_key"))
    twice = df.select(
        people=(person_key.is_duplicated() & person_key.is_not_null()).any(),
        keys=(key.is_duplicated() & key.is_not_null()).any(),
    ).row(0, named=True)
    df = (
        df.with_columns(
            person_rank=_rank(person) if twice["people"] else pl.lit(1, pl.Int64),
            person_tube=_first(pl.col("barcode"), person) if twice["people"] else pl.col("barcode"),
            key_rank=pl.when(pl.col("client_key").is_not_null()).then(
                _rank(["ok1", "client_key"]) if twice["keys"] else pl.lit(1, pl.Int64)
            ),
        )
        .with_columns(
            why2=pl.coalesce(
                pl.col("why1"),
                _reason(
                    (pl.col("key_rank") > 1, "repeat"),
                    ((pl.col("person_rank") > 1) & (pl.col("barcode") == pl.col("person_tube")), "repeat"),
                    (pl.col("person_rank") > 1, "duplicate"),
                ),
            )
        )
        .with_columns(ok2=pl.col("why2").is_null())
    )
    tube = ["ok2", "barcode"]
    df = (
        df.with_columns(
            t_ratio=pl.coalesce(pl.col("tube_ratio"), _first(pl.col("my_ratio"), tube)),
            t_household=pl.coalesce(
                pl.when(pl.col("per_household") & pl.col("tube_id").is_not_null()).then(
                    pl.col("tube_household")
                ),
                _first(pl.col("household_id"), tube),
            ),
        )
        .with_columns(
            why3=pl.coalesce(
                pl.col("why2"),
                _reason(
                    (pl.col("my_ratio") != pl.col("t_ratio"), rules.OTHER_RATIO),
                    (
                        pl.col("per_household") & (pl.col("household_id") != pl.col("t_household")),
                        rules.OTHER_HOUSEHOLD,
                    ),
                ),
            )
        )
        .with_columns(ok3=pl.col("why3").is_null())
    )
    if df.select((pl.col("why3") == rules.OTHER_HOUSEHOLD).any()).item():
        # The rule finds a tube full before it looks at whose it is: a record of another
        # household is over the ratio when the records of the tube's own household taken
        # before it (and the tube's members) already fill it. Few rows: only when one is here.
        own_before = pl.col("ok3").cast(pl.Int64).cum_sum().over("barcode") - pl.col("ok3").cast(pl.Int64)
        full = own_before + pl.col("tube_members").fill_null(0) >= pl.col("t_ratio")
        df = df.with_columns(
            why3=pl.when((pl.col("why3") == rules.OTHER_HOUSEHOLD) & full)
            .then(pl.lit(rules.OVER_RATIO))
            .otherwise(pl.col("why3"))
        )
    df = df.with_columns(tube_rank=_rank(["ok3", "barcode"])).with_columns(
        why=pl.coalesce(
            pl.col("why3"),
            _reason(
                (
                    pl.col("tube_rank") + pl.col("tube_members").fill_null(0) > pl.col("t_ratio"),
                    rules.OVER_RATIO,
                )
            ),
        )
    )
    kinds = {why: str(kind) for why, kind in sql.WHY_KIND.items()}
    return df.with_columns(kind=pl.col("why").replace_strict(kinds, default=None, return_dtype=pl.String))


def _write(
    df: pl.DataFrame,
    *,
    setting: _Setting,
    people: _People,
    name: str,
    report: sql.LoadReport,
    now: datetime,
) -> tuple[int, int]:
    taken = df.filter(pl.col("why").is_null())  # sorted by time, then line
    one_grid = pl.when(pl.col("grid_id").n_unique() == 1).then(pl.col("grid_id").first())
    new = (
        taken.filter(pl.col("tube_id").is_null())
        .group_by("barcode", maintain_order=True)
        .agg(
            ratio=pl.col("t_ratio").first(),
            retest=pl.col("retest").first(),
            site_id=pl.col("site_id").first(),
            district_id=pl.col("district_id").first(),
            grid_id=one_grid,
            members=pl.len(),
            first_scan_at=pl.col("at").min(),
        )
    )
    created: dict[str, int] = {}
    if new.height:
        sql.stage(
            "ingest_new_tubes",
            f"barcode text, ratio integer, retest {core_sql.bool_type()}, site_id bigint, district_id bigint,"
            f" grid_id bigint, members integer, first_scan_at {core_sql.time_type()}",
            new.with_columns(reading.db_time(pl.col("first_scan_at")).alias("first_scan_at")),
        )
        created = dict(
            core_sql.rows(
                """
                INSERT INTO testing_tube (round_id, barcode, ratio, retest, site_id, district_id, grid_id,
                                          members, first_scan_at, result)
                SELECT %s, barcode, ratio, retest, site_id, district_id, grid_id, members, first_scan_at, ''
                FROM ingest_new_tubes
                RETURNING barcode, id
                """,
                [setting.round_id],
            )
        )
        report.tubes_created += len(created)
    grown = (
        taken.filter(pl.col("tube_id").is_not_null())
        .group_by("tube_id")
        .agg(n=pl.len(), first=pl.col("at").min(), grid_id=one_grid)
    )
    if grown.height:
        sql.stage(
            "ingest_grown",
            f"tube_id bigint, n integer, first {core_sql.time_type()}, grid_id bigint",
            grown.with_columns(reading.db_time(pl.col("first")).alias("first")),
        )
        core_sql.run(
            """
            UPDATE testing_tube SET
                members = testing_tube.members + g.n,
                first_scan_at = CASE
                    WHEN testing_tube.first_scan_at IS NULL OR g.first < testing_tube.first_scan_at
                    THEN g.first ELSE testing_tube.first_scan_at END,
                grid_id = CASE WHEN testing_tube.members = 0 THEN g.grid_id
                               WHEN testing_tube.grid_id = g.grid_id THEN testing_tube.grid_id END
            FROM ingest_grown g WHERE testing_tube.id = g.tube_id
            """
        )
    scans = taken.sort("line").with_columns(
        tube_id=pl.coalesce(
            pl.col("tube_id"), pl.col("barcode").replace_strict(created, default=None, return_dtype=pl.Int64)
        )
    )
    bulk.write_frame(
        "testing_scan",
        scans.select(
            pl.lit(setting.round_id, pl.Int64).alias("round_id"),
            "tube_id",
            "resident_id",
            "household_id",
            "grid_id",
            "district_id",
            "site_id",
            "retest",
            reading.db_time(pl.col("at")).alias("scanned_at"),
            pl.col("sampler").fill_null(""),
            "client_key",
        ),
    )
    retested = scans.filter(pl.col("recall_id").is_not_null())
    if retested.height:
        with connection.cursor() as cursor:
            cursor.executemany(
                "UPDATE testing_recall SET retest_tube_id = %s WHERE id = %s",
                list(zip(retested["tube_id"].to_list(), retested["recall_id"].to_list(), strict=True)),
            )
    pooled = scans.filter(~pl.col("retest"))
    people.taken(pooled["resident_id"], pooled["tube_id"])
    report.taken += scans.height
    report.repeated += df.filter(pl.col("why") == "repeat").height
    listed = _list_issues(
        df.filter(pl.col("kind").is_not_null()), setting=setting, name=name, report=report, now=now
    )
    return scans.height, listed


def _list_issues(
    refused: pl.DataFrame, *, setting: _Setting, name: str, report: sql.LoadReport, now: datetime
) -> int:
    """The refused records in the round's exceptions, each (file, line) listed once."""
    if not refused.height:
        return 0
    for kind, count in refused.group_by("kind").len().iter_rows():
        report.refused[kind] = report.refused.get(kind, 0) + int(count)
    sql.stage(
        "ingest_refused",
        "line bigint, kind text, why text, resident_raw text, id_number text, barcode text, site_code text,"
        " client_key text",
        refused.sort("line").select(
            "line", "kind", "why", "resident_raw", "id_number", "barcode", "site_code", "client_key"
        ),
    )
    prefix = f"scans {name}:"
    return core_sql.run(
        f"""
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
        """,
        [setting.round_id, name, prefix, core_sql.db_datetime(now), setting.round_id, prefix],
    )
