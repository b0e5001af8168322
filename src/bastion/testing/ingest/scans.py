"""A file of scans into a round: classified chunk by chunk in memory (polars), written by COPY.

What the load knows of its round and its people, read once or per chunk, is `known`'s: the
round's areas and pooling, the zone levels, the sites, and for a large file on PostgreSQL the
registry and the round's pooled scans as numpy arrays.

Each chunk is one transaction under the exclusive ingest lock (single scans from devices wait
for it and never land between a chunk's checks and its writes). The pooled scans devices wrote
since the previous chunk are folded in; the chunk's tubes, client keys and recalls are read by
one indexed query each; the records are classified by whole-column expressions in the order the
module `bastion.testing.ingest` describes; then new tubes are inserted (ids returned), existing
ones updated, and the scans COPYed in the file's order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import IO, Any

import polars as pl
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from bastion.city import bulk
from bastion.core import audit
from bastion.core import sql as core_sql
from bastion.core.errors import NotFound
from bastion.core.scopes import Actor
from bastion.testing import rules
from bastion.testing.ingest import reading, sql
from bastion.testing.ingest.known import People, Setting, setting_of
from bastion.testing.models import Round

# A file at least this large (about 2 M records) on PostgreSQL reads the registry once instead
# of looking its residents up chunk by chunk: one read of the whole registry costs less than a
# few chunks' lookups (docs/BENCHMARKS.md).
SNAPSHOT_BYTES = 10 * reading.CHUNK_BYTES


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
            (
                reading.control_in("resident", "id_number", "tube", "site", "sampler", "client_key"),
                "control_characters",
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
    encoding: str = "utf-8",
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
    more on PostgreSQL). The file is read strictly in `encoding` (`reading.read_chunks`).
    """
    actor.require("record_samples")
    round_ = Round.objects.filter(code=round_code.strip()).first()
    if round_ is None:
        raise NotFound(_("There is no such round."), code="unknown_round")
    name = sql.source_name(filename, source)
    report = sql.LoadReport(source=name)
    setting = setting_of(round_)
    if snapshot is None:
        size = _file_size(file)
        snapshot = core_sql.postgres() and size is not None and size >= SNAPSHOT_BYTES
    people = People(setting, snapshot=snapshot)
    chunks = reading.read_chunks(
        file,
        filename=filename,
        columns=reading.SCAN_COLUMNS,
        required=("tube", "scanned_at"),
        chunk_bytes=chunk_bytes,
        encoding=encoding,
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
    the database's work. The thread never touches the database; it speaks the caller's language
    (a file refused while read ahead says so in the words of whoever sent it)."""
    language = translation.get_language()

    def work() -> tuple[reading.Chunk, pl.DataFrame] | None:
        with translation.override(language):
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
    setting: Setting,
    people: People,
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
        setting.sites.update(dict(core_sql.rows(sql.SITES)))  # opened since
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
        core_sql.rows(sql.RESIDENTS_BY_ID_NUMBER),
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
        seen = [k for (k,) in core_sql.rows(sql.KEYS_SEEN)]
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
        rows = core_sql.rows(sql.OPEN_RECALLS, [round_id])
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
    rows = core_sql.rows(sql.KNOWN_TUBES)
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
        households = core_sql.rows(sql.TUBE_HOUSEHOLDS)
    found = pl.DataFrame(households, schema={"tube_id": pl.Int64, "tube_household": pl.Int64}, orient="row")
    return df.join(found, on="tube_id", how="left", maintain_order="left")


def _with_pooling(df: pl.DataFrame, setting: Setting) -> pl.DataFrame:
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


def _in_area(setting: Setting) -> pl.Expr:
    if not setting.areas:
        return pl.lit(True)
    inside = pl.lit(False)
    for column, value in setting.areas:
        inside = inside | (pl.col(column) == value).fill_null(False)
    return inside


def _classify(df: pl.DataFrame, setting: Setting) -> pl.DataFrame:
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
    setting: Setting,
    people: People,
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
        created = dict(core_sql.rows(sql.TUBES_CREATE, [setting.round_id]))
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
        core_sql.run(sql.TUBES_GROW)
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
        core_sql.run_many(
            sql.RECALL_RETEST_TUBE,
            zip(retested["tube_id"].to_list(), retested["recall_id"].to_list(), strict=True),
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
    refused: pl.DataFrame, *, setting: Setting, name: str, report: sql.LoadReport, now: datetime
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
        sql.refused_list(),
        [setting.round_id, name, prefix, core_sql.db_datetime(now), setting.round_id, prefix],
    )
