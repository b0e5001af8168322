"""What a load of scans knows about its round and the people in it.

Once per load: the round's areas and pooling, the households in high and medium zones, and the
sampling sites (`setting_of`). For a large file on PostgreSQL, the registry too (resident ->
household -> grid, district and the places a round's area can name), read by one binary COPY per
table into numpy arrays, and, inside the first chunk's lock, the round's pooled scans (resident
-> tube): a Chengdu round then never looks a person up in the database. A small file looks its
residents and their scans up per chunk instead (an indexed join of the chunk's ids). `People`
answers both ways alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
from django.db import connection

from bastion.city import sql as city_sql
from bastion.core import sql as core_sql
from bastion.testing import rules, selectors
from bastion.testing.ingest import sql
from bastion.testing.models import Round
from bastion.zones import selectors as zones
from bastion.zones.models import Level

# --- what a load knows once ----------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    round_id: int
    # (household column, id) for each area of the round, the smallest place it names; empty: city.
    areas: list[tuple[str, int]]
    place_columns: list[str]  # household columns looked up besides grid and district
    ratios: dict[str, tuple[int, bool]]  # level -> (ratio, one household per tube)
    levels: pl.DataFrame  # household_id -> "high" | "medium"
    sites: dict[str, int]
    starts_at: datetime
    closed_at: datetime | None  # read again by every chunk: a round closed during a load


def setting_of(round_: Round) -> Setting:
    # The household's own id is `household_id` in the chunk's columns.
    areas = [("household_id" if c == "id" else c, v) for c, v in selectors.round_places(round_)]
    wanted = {column for column, _value in areas} - {"household_id", "district_id"}
    levels = zones.household_levels()  # the highest in force over each; the others are low
    return Setting(
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


class People:
    """Residents -> household, grid, district (and the places the round's areas name), and the
    round's pooled scans (resident -> tube id). From arrays read once (`snapshot`) or from the
    database chunk by chunk."""

    def __init__(self, setting: Setting, *, snapshot: bool) -> None:
        self.setting = setting
        self.columns = ["household_id", "grid_id", "district_id", *setting.place_columns]
        self.snapshot = snapshot
        self.households: np.ndarray | None = None
        self.places: np.ndarray | None = None
        self.scanned: np.ndarray | None = None  # resident id -> tube id of their pooled scan
        self.watermark = 0
        if snapshot:
            self.households = _by_id(_ints_by_id(city_sql.RESIDENTS, "household_id", 2))[:, 0]
            places = ", ".join(f"COALESCE({c}, 0)" for c in self.columns[1:])
            self.places = _by_id(_ints_by_id(city_sql.HOUSEHOLDS, places, len(self.columns)))

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
            f" JOIN {city_sql.RESIDENTS} r ON r.id = i.resident_id"
            f" JOIN {city_sql.HOUSEHOLDS} h ON h.id = r.household_id"
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
