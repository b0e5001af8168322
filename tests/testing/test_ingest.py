"""Bulk files of scans and results: streamed, set-based, idempotent and resumable."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import translation

from bastion import flows
from bastion.cases.models import Case
from bastion.city.models import Resident
from bastion.city.selectors import place_by_address
from bastion.core.errors import Forbidden
from bastion.core.models import AuditEntry
from bastion.core.scopes import SYSTEM, Actor
from bastion.testing import ingest, services
from bastion.testing.models import Lab, Recall, RecallState, Round, RoundIssue, Scan, Site, Tube
from tests.conftest import NOW

Places = dict[str, Any]
BASTION = Path(sys.executable).with_name("bastion")
TEN = {"ratio": 10, "per_household": False}


def resident(address: str) -> Resident:
    household, number = address.split("#")
    return Resident.objects.get(household__address=household, number=int(number))


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


@pytest.fixture
def round_(city: Places) -> Any:
    """A round of compound C1 (24 households of 3), pooled 10:1, single tubes in high-risk areas."""
    home = resident("C1/1/1/101#1").household
    Site.objects.create(code="S1", name="锦华社区核酸点", grid_id=home.grid_id, district_id=home.district_id)
    Lab.objects.create(code="L1", name="金域检测")
    return services.round_open(
        code="R1",
        starts_at=NOW,
        deadline=at(24),
        places=[place_by_address("C1")],
        pooling={"high": {"ratio": 1, "per_household": True}, "medium": TEN, "low": TEN},
        actor=SYSTEM,
        now=NOW,
    )


def c1_residents() -> list[Resident]:
    return list(Resident.objects.filter(household__compound__code="C1").order_by("id"))


def csv_file(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> bytes:
    lines = [",".join(columns)]
    lines += [",".join(str(row.get(c, "")) for c in columns) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def ndjson_file(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


SCAN_COLUMNS = ("resident", "id_number", "tube", "site", "scanned_at", "sampler", "client_key")


def round_rows(people: list[Resident]) -> list[dict[str, Any]]:
    """Everyone in tubes of ten, in order, a minute apart (naive times: the city's)."""
    return [
        {
            "resident": person.pk,
            "tube": f"T{i // 10:04d}",
            "site": "S1",
            "scanned_at": f"2022-09-01T09:{i % 60:02d}:00",
            "sampler": "王芳",
        }
        for i, person in enumerate(people)
    ]


# How the loader reads residents and the round's scans: per chunk, or once (as for the files of
# a city-wide round). Every test of this module runs both ways and must see the same outcome.
READING = {"snapshot": False}


@pytest.fixture(autouse=True, params=[False, True], ids=["per-chunk", "snapshot"])
def registry_read(request: pytest.FixtureRequest) -> Any:
    READING["snapshot"] = request.param
    yield request.param
    READING["snapshot"] = False


def load_scans(data: bytes, name: str = "scans.csv", **kwargs: Any) -> ingest.LoadReport:
    kwargs.setdefault("snapshot", READING["snapshot"])
    return ingest.scans_load(
        file=io.BytesIO(data), filename=name, round_code="R1", actor=SYSTEM, now=NOW, **kwargs
    )


def load_results(data: bytes, name: str = "results.csv", **kwargs: Any) -> flows.ResultsLoaded:
    return flows.results_loaded(file=io.BytesIO(data), filename=name, actor=SYSTEM, now=at(20), **kwargs)


def state() -> dict[str, Any]:
    """Everything a load writes, without ids and clocks of the load itself."""
    barcodes = dict(Tube.objects.values_list("id", "barcode"))
    return {
        "scans": sorted(
            (
                s.resident_id,
                barcodes[s.tube_id],
                s.household_id,
                s.grid_id,
                s.site_id,
                s.scanned_at,
                s.sampler,
            )
            for s in Scan.objects.all()
        ),
        "tubes": sorted(
            Tube.objects.values_list("barcode", "ratio", "members", "first_scan_at", "result", "district_id")
        ),
        "issues": sorted(RoundIssue.objects.values_list("kind", "source")),
        "recalls": sorted(Recall.objects.values_list("resident_id", "state", "reason")),
        "audit": AuditEntry.objects.filter(action__startswith="testing.")
        .exclude(action="testing.round.opened")
        .count(),
    }


def test_it_loads_a_round_file_into_exactly_the_expected_scans_and_tubes(round_: Any) -> None:
    people = c1_residents()
    report = load_scans(csv_file(round_rows(people), SCAN_COLUMNS))
    assert (report.records, report.taken, report.refused) == (72, 72, {})
    tubes = {t.barcode: t for t in Tube.objects.all()}
    assert sorted(tubes) == [f"T{i:04d}" for i in range(8)]
    assert [tubes[b].members for b in sorted(tubes)] == [10] * 7 + [2]
    assert {t.ratio for t in tubes.values()} == {10}
    first = Scan.objects.get(resident_id=people[0].pk)
    home = people[0].household
    assert (first.household_id, first.grid_id, first.district_id) == (home.pk, home.grid_id, home.district_id)
    assert first.scanned_at == datetime.fromisoformat("2022-09-01T09:00:00+08:00")
    assert first.site_id == Site.objects.get(code="S1").pk and first.sampler == "王芳"
    assert tubes["T0000"].first_scan_at == first.scanned_at
    assert not RoundIssue.objects.exists()


def test_bad_lines_are_listed_with_their_line_numbers_and_no_good_line_is_lost(round_: Any) -> None:
    people = c1_residents()
    rows = round_rows(people[:20])
    outsider = Resident.objects.filter(household__compound__code="C4").first()
    assert outsider is not None
    rows += [
        {"resident": 99_999_999, "tube": "T0100", "scanned_at": "2022-09-01T10:00:00"},  # line 22
        {"resident": people[0].pk, "tube": "T0101", "scanned_at": "2022-09-01T10:00:00"},  # 23: again
        {"resident": people[20].pk, "tube": "T0000", "scanned_at": "2022-09-01T10:00:00"},  # 24: full
        {"resident": outsider.pk, "tube": "T0102", "scanned_at": "2022-09-01T10:00:00"},  # 25
        {"resident": people[21].pk, "tube": "T0103", "scanned_at": "yesterday"},  # 26
        {"resident": people[22].pk, "tube": "T0104", "site": "NOPE", "scanned_at": "2022-09-01T10:00"},  # 27
        {"id_number": people[23].id_number.lower(), "tube": "T0105", "scanned_at": "2022-09-01 10:00+08:00"},
    ]
    data = (
        csv_file(rows, SCAN_COLUMNS) + b'1,"unclosed,T9,2022-09-01T10:00:00\n\n' + b"2,,T9,S1,x,y,z,extra\n"
    )
    report = load_scans(data)
    issues = {
        int(i.source.rsplit(":", 1)[1]): (i.kind, i.detail["reason"])
        for i in RoundIssue.objects.filter(round_id=round_.pk)
    }
    assert issues == {
        22: ("unknown_resident", "unknown_resident"),
        23: ("duplicate_scan", "duplicate"),
        24: ("overfull_tube", "over_ratio"),
        25: ("outside_round", "outside_round"),
        26: ("bad_record", "bad_time"),
        27: ("bad_record", "unknown_site"),
        29: ("bad_record", "unreadable"),
        31: ("bad_record", "unreadable"),
    }
    assert RoundIssue.objects.get(source="scans scans.csv:22").detail["file"] == "scans.csv"
    assert report.taken == 21 and Scan.objects.count() == 21  # the 20 of the round and line 28
    assert Scan.objects.get(resident_id=people[23].pk).tube_id == Tube.objects.get(barcode="T0105").pk
    assert Tube.objects.get(barcode="T0000").members == 10


def test_lines_before_the_start_or_after_the_closing_are_listed_and_the_rest_taken(round_: Any) -> None:
    """The round starts at 09:00 and is closed at 10:00, while the file's second chunk waits:
    a line scanned at 08:59 and one at 10:00 are listed; one at 09:59, sent after the closing,
    is taken (the device was offline)."""
    people = c1_residents()[:6]
    times = [f"2022-09-01T{hhmm}" for hhmm in ("09:05", "08:59", "09:59", "10:00", "11:30")]
    rows = [
        {"resident": person.pk, "tube": "T0001", "scanned_at": when}
        for person, when in zip(people, [*times, "2022-09-01T09:10"], strict=True)
    ]
    data = csv_file(rows, SCAN_COLUMNS)

    def close_after_first_chunk(_read: int, records: int) -> None:
        if records and Round.objects.get(pk=round_.pk).closed_at is None:
            services.round_close(round_=round_, reason="全员已采", actor=SYSTEM, now=at(1))

    report = load_scans(data, chunk_bytes=40, progress=close_after_first_chunk)
    assert report.chunks > 2
    issues = {
        int(i.source.rsplit(":", 1)[1]): (i.kind, i.detail["reason"])
        for i in RoundIssue.objects.filter(round_id=round_.pk)
    }
    assert issues == {
        3: ("outside_time", "before_start"),
        5: ("outside_time", "after_close"),
        6: ("outside_time", "after_close"),
    }
    taken = set(Scan.objects.values_list("resident_id", flat=True))
    assert taken == {people[0].pk, people[2].pk, people[5].pk}
    assert Tube.objects.get(barcode="T0001").members == 3
    # Sent again after the closing: nothing changes, nothing is listed twice.
    again = load_scans(data)
    assert (again.taken, again.repeated, RoundIssue.objects.count()) == (0, 3, 3)


def test_a_device_retrying_within_a_file_is_a_repeat_not_an_exception(round_: Any) -> None:
    people = c1_residents()[:4]
    rows = [
        {"resident": people[0].pk, "tube": "T1", "scanned_at": "2022-09-01T09:00", "client_key": "d:1"},
        {"resident": people[0].pk, "tube": "T1", "scanned_at": "2022-09-01T09:00", "client_key": "d:1"},
        {"resident": people[1].pk, "tube": "T1", "scanned_at": "2022-09-01T09:01"},
        {"resident": people[1].pk, "tube": "T1", "scanned_at": "2022-09-01T09:02"},  # the same tube
        {"resident": people[2].pk, "tube": "T1", "scanned_at": "2022-09-01T09:03", "client_key": "d:3"},
        {"resident": people[3].pk, "tube": "T1", "scanned_at": "2022-09-01T09:04", "client_key": "d:3"},
    ]
    report = load_scans(csv_file(rows, SCAN_COLUMNS))
    assert (report.taken, report.repeated, report.refused) == (3, 3, {})
    assert Tube.objects.get(barcode="T1").members == 3
    assert not RoundIssue.objects.exists()
    assert set(Scan.objects.values_list("resident_id", flat=True)) == {p.pk for p in people[:3]}


def test_scans_beyond_a_tubes_ratio_are_refused_by_scan_time_then_line(round_: Any) -> None:
    people = c1_residents()[:12]
    rows = [
        {"resident": p.pk, "tube": "T0001", "scanned_at": f"2022-09-01T09:{59 - i:02d}:00"}
        for i, p in enumerate(people)
    ]
    load_scans(csv_file(rows, SCAN_COLUMNS))
    refused = {issue.detail["resident_id"] for issue in RoundIssue.objects.all()}
    assert refused == {str(people[0].pk), str(people[1].pk)}  # the two scanned last
    assert Tube.objects.get(barcode="T0001").members == 10


def test_a_tube_in_a_high_risk_area_holds_one_person_and_others_are_refused(round_: Any) -> None:
    flows.case_reported(resident_id=resident("C1/2/1/301#1").pk, kind="confirmed", actor=SYSTEM, now=NOW)
    rows = [
        {"resident": resident("C1/2/1/101#1").pk, "tube": "H1", "scanned_at": "2022-09-01T09:00"},
        {"resident": resident("C1/2/1/101#2").pk, "tube": "H1", "scanned_at": "2022-09-01T09:01"},
        {"resident": resident("C1/1/1/101#1").pk, "tube": "H1", "scanned_at": "2022-09-01T09:02"},
        {"resident": resident("C1/1/1/101#2").pk, "tube": "P1", "scanned_at": "2022-09-01T09:03"},
    ]
    load_scans(csv_file(rows, SCAN_COLUMNS))
    assert Tube.objects.get(barcode="H1").ratio == 1 and Tube.objects.get(barcode="P1").ratio == 10
    kinds = sorted(RoundIssue.objects.values_list("detail__line", "kind", "detail__reason"))
    assert kinds == [(3, "overfull_tube", "over_ratio"), (4, "wrong_pool", "other_ratio")]


def test_sending_a_file_again_changes_nothing(round_: Any) -> None:
    people = c1_residents()
    rows = [*round_rows(people), {"resident": 1234567, "tube": "X", "scanned_at": "2022-09-01T10:00"}]
    data = csv_file(rows, SCAN_COLUMNS)
    load_scans(data)
    before = state()
    again = load_scans(data)
    assert state() == before
    assert (again.taken, again.repeated, again.refused) == (0, 72, {"unknown_resident": 1})
    assert RoundIssue.objects.count() == 1


def test_a_device_scanning_between_two_chunks_is_seen_by_the_next_chunk(round_: Any) -> None:
    """A device's scan that lands while a file is loading (between two chunks) wins for that
    person: the file's later line for them is a listed duplicate, whichever way the loader
    reads the round's scans."""
    people = c1_residents()
    data = csv_file(round_rows(people), SCAN_COLUMNS)
    late = people[-1]  # in the file's last tube, read by a later chunk

    def between_chunks(_read: int, records: int) -> None:
        if records and not Scan.objects.filter(resident=late).exists():
            services.scan_record(
                round_id=round_.pk,
                resident_id=late.pk,
                tube_barcode="DEVICE-1",
                scanned_at=at(0),
                client_key="device-1",
                actor=SYSTEM,
                now=NOW,
            )

    report = load_scans(data, chunk_bytes=256, progress=between_chunks)
    assert report.chunks > 3
    assert report.taken == len(people) - 1
    assert report.refused == {"duplicate_scan": 1}
    mine = Scan.objects.get(resident=late)
    assert Tube.objects.get(pk=mine.tube_id).barcode == "DEVICE-1"
    issue = RoundIssue.objects.get()
    assert issue.kind == "duplicate_scan" and issue.detail["resident_id"] == str(late.pk)


def test_a_resident_registered_while_a_file_loads_is_found(round_: Any) -> None:
    """The loader may read the registry once, at the start: a person registered since is looked
    up in the database, not refused as unknown."""
    people = c1_residents()
    home = people[0].household
    rows = round_rows(people[:30])
    rows.append({"id_number": "51010420000101999X", "tube": "NEW-1", "scanned_at": "2022-09-01T10:30:00"})
    data = csv_file(rows, SCAN_COLUMNS)

    def between_chunks(_read: int, records: int) -> None:
        if records and not Resident.objects.filter(id_number="51010420000101999X").exists():
            Resident.objects.create(
                household=home,
                community_id=home.community_id,
                district_id=home.district_id,
                number=9,
                name="新生",
                id_number="51010420000101999X",
                sex="F",
                birth_date=date(2000, 1, 1),
            )

    report = load_scans(data, chunk_bytes=256, progress=between_chunks)
    assert (report.taken, report.refused) == (31, {})
    newcomer = Resident.objects.get(id_number="51010420000101999X")
    scan = Scan.objects.get(resident=newcomer)
    assert (scan.household_id, scan.grid_id) == (home.pk, home.grid_id)


def test_csv_and_ndjson_and_any_chunk_size_give_the_same_data(round_: Any) -> None:
    people = c1_residents()
    rows = round_rows(people)
    rows[3]["client_key"] = "dev-1:3"
    rows.append({"resident": 4242424, "tube": "T0099", "scanned_at": "2022-09-01T11:00:00+08:00"})
    results = [
        {
            "tube": "T0000",
            "result": "positive",
            "resulted_at": "2022-09-01T20:00",
            "lab": "L1",
            "ct": "N:30.5;ORF1ab:31",
        },
        {"tube": "T0001", "result": "negative", "resulted_at": "2022-09-01T20:00", "lab": "L1"},
        {"tube": "NOPE", "result": "negative", "resulted_at": "2022-09-01T20:00"},
    ]
    load_scans(csv_file(rows, SCAN_COLUMNS))
    load_results(csv_file(results, ingest.RESULT_COLUMNS))
    from_csv = state()
    assert Tube.objects.get(barcode="T0000").ct_values == {"N": 30.5, "ORF1ab": 31.0}
    for model in (Scan, Tube, RoundIssue, Recall, AuditEntry):
        model.objects.all().delete()
    results[0]["ct"] = {"N": 30.5, "ORF1ab": 31}  # NDJSON: numbers as numbers, Ct as an object
    # Small chunks: the same records cut into many transactions.
    load_scans(ndjson_file(rows), name="scans.ndjson", chunk_bytes=512)
    load_results(ndjson_file(results), name="results.ndjson", chunk_bytes=100)
    from_ndjson = state()
    # NDJSON has no header line: its line numbers are one less than the CSV's.
    assert from_ndjson["issues"] == [
        ("unknown_resident", "scans scans.ndjson:73"),
        ("unknown_tube", "results results.ndjson:3"),
    ]
    assert from_csv["issues"] == [
        ("unknown_resident", "scans scans.csv:74"),
        ("unknown_tube", "results results.csv:4"),
    ]
    for name in ("scans", "tubes", "recalls"):
        assert from_ndjson[name] == from_csv[name]
    assert Tube.objects.get(barcode="T0000").ct_values == {"N": 30.5, "ORF1ab": 31.0}


def test_results_clear_recall_and_open_cases_and_a_retest_file_closes_recalls(round_: Any) -> None:
    people = c1_residents()
    load_scans(csv_file(round_rows(people), SCAN_COLUMNS))
    results = [
        {"tube": "T0000", "result": "positive", "resulted_at": "2022-09-01T20:00", "lab": "L1"},
        {"tube": "T0001", "result": "invalid", "resulted_at": "2022-09-01T20:00", "lab": "L1"},
        {"tube": "T0002", "result": "negative", "resulted_at": "2022-09-01T20:00", "lab": "L1"},
        {"tube": "T0002", "result": "positive", "resulted_at": "2022-09-01T20:05"},  # line 5: another
        {"tube": "T0009", "result": "negative", "resulted_at": "2022-09-01T20:00"},  # line 6: unknown
        {"tube": "T0003", "result": "maybe", "resulted_at": "2022-09-01T20:00"},  # line 7: unreadable
    ]
    loaded = load_results(csv_file(results, ingest.RESULT_COLUMNS))
    assert loaded.report.taken == 3 and loaded.cases == []
    recalls = Recall.objects.filter(round_id=round_.pk, state=RecallState.OPEN)
    assert recalls.count() == 20
    assert set(recalls.values_list("reason", flat=True)) == {"positive", "invalid"}
    assert Tube.objects.get(barcode="T0002").result == "negative"
    assert Tube.objects.get(barcode="T0000").lab_id == Lab.objects.get().pk
    issues = sorted(RoundIssue.objects.values_list("detail__line", "kind"))
    assert issues == [(5, "already_resulted"), (6, "unknown_tube"), (7, "bad_record")]
    assert RoundIssue.objects.get(detail__line=6).round_id is None
    # The recalled are sampled again, each in a single tube.
    retests = [
        {"resident": p.pk, "tube": f"R{i:03d}", "scanned_at": "2022-09-02T08:00", "retest": "true"}
        for i, p in enumerate(people[:10])
    ]
    outsider = people[30]
    retests.append({"resident": outsider.pk, "tube": "R999", "scanned_at": "2022-09-02T08:00", "retest": "1"})
    load_scans(csv_file(retests, (*SCAN_COLUMNS, "retest")), name="retests.csv")
    assert RoundIssue.objects.get(source="scans retests.csv:12").kind == "no_recall"
    assert Tube.objects.get(barcode="R000").ratio == 1
    assert Recall.objects.get(resident_id=people[0].pk).retest_tube_id == Tube.objects.get(barcode="R000").pk
    second = [
        {"tube": "R000", "result": "positive", "resulted_at": "2022-09-02T12:00"},
        *(
            {"tube": f"R{i:03d}", "result": "negative", "resulted_at": "2022-09-02T12:00"}
            for i in range(1, 10)
        ),
    ]
    outcome = load_results(csv_file(second, ingest.RESULT_COLUMNS), name="retests.csv")
    case = Case.objects.get()
    assert [c.case for c in outcome.cases] == [case]
    assert (case.resident_id, case.found_by) == (people[0].pk, "screening")
    assert Recall.objects.filter(state=RecallState.RETESTED).count() == 10
    assert Recall.objects.filter(state=RecallState.OPEN).count() == 10  # the invalid pool's
    again = load_results(csv_file(second, ingest.RESULT_COLUMNS), name="retests.csv")
    assert again.cases == [] and again.report.repeated == 10 and Case.objects.count() == 1


def test_a_file_with_an_unknown_column_is_refused_before_anything_is_written(round_: Any) -> None:
    with pytest.raises(ingest.IngestFileRejected) as caught:
        load_scans(b"resident,tube,scanned_at,colour\n1,T1,2022-09-01T09:00\n")
    assert [p.code for p in caught.value.problems] == ["unknown_column"]
    with pytest.raises(ingest.IngestFileRejected):
        load_scans(b"\xef\xbb\xbfresident,scanned_at\n1,2022-09-01T09:00\n")
    assert not Scan.objects.exists() and not RoundIssue.objects.exists()


def test_a_lab_account_may_not_load_scans(round_: Any) -> None:
    lab = Actor(user_id=None, role="lab", level="city", permissions=frozenset({"record_results"}))
    with pytest.raises(Forbidden):
        ingest.scans_load(file=io.BytesIO(b""), filename="x.csv", round_code="R1", actor=lab, now=NOW)


# --- a load killed half-way -----------------------------------------------------------------


def _env(db: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DATABASE_URL=f"sqlite:///{db}", BASTION_DEV="1")
    return env


def _prepare(db: Path) -> None:
    subprocess.run([str(BASTION), "migrate", "-v0"], env=_env(db), check=True, timeout=120)
    subprocess.run(
        [str(BASTION), "city", "generate", "--residents", "30000", "--seed", "4", "--as-of", "2022-09-01"],
        env=_env(db),
        check=True,
        timeout=300,
        capture_output=True,
    )
    opening = (
        "from datetime import UTC, datetime;"
        "from bastion.core.scopes import SYSTEM;"
        "from bastion.testing import services;"
        "t = datetime(2022, 9, 1, tzinfo=UTC);"
        "services.round_open(code='R1', starts_at=t, deadline=datetime(2022, 9, 2, tzinfo=UTC),"
        " actor=SYSTEM, now=t)"
    )
    subprocess.run([str(BASTION), "shell", "-c", opening], env=_env(db), check=True, timeout=120)


def _snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    queries = {
        "scans": "SELECT s.resident_id, t.barcode, s.scanned_at, s.household_id FROM testing_scan s"
        " JOIN testing_tube t ON t.id = s.tube_id ORDER BY s.resident_id",
        "tubes": "SELECT barcode, ratio, members, first_scan_at FROM testing_tube ORDER BY barcode",
        "issues": "SELECT kind, source FROM testing_roundissue ORDER BY source",
    }
    with sqlite3.connect(db) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in queries.items()}


def test_a_load_killed_half_way_and_run_again_ends_as_one_clean_run(tmp_path: Path) -> None:
    killed, clean = tmp_path / "killed.db", tmp_path / "clean.db"
    _prepare(killed)
    shutil.copyfile(killed, clean)
    with sqlite3.connect(killed) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM city_resident ORDER BY id")]
    lines = ["resident,tube,scanned_at"]
    for i, rid in enumerate(ids):
        tube = i // 10 if i % 97 else 7  # every 97th person into tube 7: over its ratio
        lines.append(f"{rid},T{tube:06d},2022-09-01T{8 + i % 12:02d}:{i % 60:02d}:00")
        if i % 501 == 0:
            lines.append(f"{rid},X{i:06d},2022-09-01T22:00:00")  # scanned twice, other tube
    file = tmp_path / "scans.csv"
    file.write_text("\n".join(lines) + "\n")
    args = [str(BASTION), "testing", "load-scans", str(file), "--round", "R1", "--chunk-bytes", "16384"]
    args.append("--snapshot" if READING["snapshot"] else "--no-snapshot")
    proc = subprocess.Popen(args, env=_env(killed), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    taken = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with sqlite3.connect(killed, timeout=0.05) as conn:
                taken = conn.execute("SELECT COUNT(*) FROM testing_scan").fetchone()[0]
        except sqlite3.OperationalError:
            taken = 0
        if taken > 3000:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the load finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    half = _snapshot(killed)
    assert 0 < len(half["scans"]) < len(ids)
    subprocess.run(args, env=_env(killed), check=True, timeout=300, capture_output=True)
    subprocess.run(args, env=_env(clean), check=True, timeout=300, capture_output=True)
    after, expected = _snapshot(killed), _snapshot(clean)
    assert after == expected
    overfull = [source for kind, source in expected["issues"] if kind == "overfull_tube"]
    assert len(expected["scans"]) == len(ids) - len(overfull)
    assert {kind for kind, _s in expected["issues"]} == {"overfull_tube", "duplicate_scan"}


def test_nul_bytes_and_impossible_ct_values_are_listed_lines_not_a_failed_load(round_: Any) -> None:
    people = c1_residents()[:3]
    rows = round_rows(people)
    data = csv_file(rows, SCAN_COLUMNS).replace(b"\xe7\x8e\x8b\xe8\x8a\xb3", b"\xe7\x8e\x8b\x00", 1)
    report = load_scans(data)
    assert Scan.objects.count() == 2
    assert RoundIssue.objects.filter(source="scans scans.csv:2").exists()
    del report
    nd = ndjson_file([{**rows[0], "resident": people[0].pk, "sampler": "a\u0000b"}])
    load_scans(nd, name="again.ndjson")
    assert Scan.objects.count() == 2
    results = "tube,result,resulted_at,lab,ct\nT0000,positive,2022-09-01T20:00:00,L1,N:nan\n"
    loaded = load_results(results.encode())
    assert Tube.objects.get(barcode="T0000").result == ""
    assert RoundIssue.objects.filter(source__startswith="results results.csv:2").exists()
    del loaded


def test_control_characters_in_a_files_values_are_listed_lines_not_stored(round_: Any) -> None:
    people = c1_residents()[:4]
    rows = round_rows(people)
    rows[1]["sampler"] = "王\u202e芳"  # a bidirectional override: a name that reads backwards
    rows[2]["tube"] = "T\x010000"
    rows[3]["client_key"] = "pad\x1b[2J"
    report = load_scans(csv_file(rows, SCAN_COLUMNS))
    assert report.taken == 1 and Scan.objects.get().resident_id == people[0].pk
    listed = RoundIssue.objects.filter(round_id=round_.pk).order_by("source")
    assert [(i.source, i.kind, i.detail["reason"]) for i in listed] == [
        (f"scans scans.csv:{line}", "bad_record", "control_characters") for line in (3, 4, 5)
    ]
    results = "tube,result,resulted_at,lab\nT0000,negative,2022-09-01T20:00:00,L\x071\n"
    load_results(results.encode())
    assert Tube.objects.get(barcode="T0000").result == ""
    assert RoundIssue.objects.get(source="results results.csv:2").detail["reason"] == "control_characters"


def test_a_results_file_with_a_long_name_loads(round_: Any) -> None:
    load_scans(csv_file(round_rows(c1_residents()[:2]), SCAN_COLUMNS))
    name = "lab-金域-2022-09-01-night-shift-second-delivery-of-results-for-round-R1.csv"
    loaded = load_results(b"tube,result,resulted_at,lab\nT0000,negative,2022-09-01T20:00:00,L1\n", name=name)
    assert Tube.objects.get(barcode="T0000").result == "negative"
    assert AuditEntry.objects.filter(action="testing.results.loaded", after__file=name).exists()
    del loaded


def test_a_result_from_an_unknown_lab_is_listed_and_a_lab_opened_during_the_load_is_known(
    round_: Any,
) -> None:
    load_scans(csv_file(round_rows(c1_residents()[:30]), SCAN_COLUMNS))
    data = (
        b"tube,result,resulted_at,lab\n"
        b"T0000,negative,2022-09-01T20:00:00,L9\n"
        b"T0001,negative,2022-09-01T20:00:00,L1\n"
        b"T0002,negative,2022-09-01T20:00:00,L2\n"
    )

    def lab_opens(_read: int, records: int) -> None:
        Lab.objects.get_or_create(code="L2", defaults={"name": "华西检测"})

    loaded = load_results(data, chunk_bytes=40, progress=lab_opens)
    assert loaded.report.refused == {"bad_record": 1}
    issue = RoundIssue.objects.get()
    assert (issue.detail["reason"], issue.detail["lab"], issue.source) == (
        "unknown_lab",
        "L9",
        "results results.csv:2",
    )
    tubes = dict(Tube.objects.values_list("barcode", "result"))
    assert (tubes["T0000"], tubes["T0001"], tubes["T0002"]) == ("", "negative", "negative")
    assert Tube.objects.get(barcode="T0002").lab.code == "L2"


def test_a_gb18030_file_is_loaded_when_its_encoding_is_given_and_refused_whole_without_it(
    round_: Any, tmp_path: Path
) -> None:
    data = csv_file(round_rows(c1_residents()), SCAN_COLUMNS).decode().encode("gb18030")  # 王芳

    with pytest.raises(ingest.IngestFileRejected) as caught:
        load_scans(data)  # never guessed: UTF-8 unless told, and this is not UTF-8

    [problem] = caught.value.problems
    assert (problem.row, problem.code) == (2, "bad_encoding")
    offset = data.index("王".encode("gb18030"))
    assert f"第 2 行，位于文件第 {offset} 字节" in problem.message  # in the platform's language
    with translation.override("en"), pytest.raises(ingest.IngestFileRejected) as caught:
        load_scans(data)  # and in the sender's, though the file is read in a thread of its own
    assert f"line 2, at byte {offset}" in caught.value.problems[0].message
    assert not Scan.objects.exists() and not RoundIssue.objects.exists()

    path = tmp_path / "scans.csv"
    path.write_bytes(data)
    out = io.StringIO()
    call_command(
        "testing",
        "load-scans",
        str(path),
        "--round",
        "R1",
        "--encoding",
        "gb18030",
        stdout=out,
        stderr=io.StringIO(),
    )
    assert json.loads(out.getvalue())["taken"] == 72
    assert set(Scan.objects.values_list("sampler", flat=True)) == {"王芳"}
    assert not RoundIssue.objects.exists()


def test_a_line_that_does_not_decode_is_listed_and_a_file_cut_short_names_its_last_line(round_: Any) -> None:
    people = c1_residents()
    rows = round_rows(people[:10])
    data = csv_file(rows, SCAN_COLUMNS).decode().encode("gb18030")
    line_4 = data.index(b"\n", data.index(b"\n", data.index(b"\n") + 1) + 1) + 1
    damaged = data[:line_4] + b"\x81\n" + data[line_4:]  # a lead byte with nothing after it

    report = load_scans(damaged, encoding="gb18030")

    assert report.taken == 10
    assert set(Scan.objects.values_list("sampler", flat=True)) == {"王芳"}
    assert {i.source: i.detail["reason"] for i in RoundIssue.objects.all()} == {
        "scans scans.csv:4": "unreadable"
    }

    more = [dict(row, tube="T0099") for row in round_rows(people[10:20])]
    cut = csv_file(more, SCAN_COLUMNS)[:-3]  # the last line loses its newline and half of 芳
    report = load_scans(cut, name="cut.csv")

    assert report.taken == 9
    issues = RoundIssue.objects.filter(source__startswith="scans cut.csv")
    assert {i.source: i.detail["reason"] for i in issues} == {"scans cut.csv:11": "cut_short"}
