from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.utils.translation import gettext as _
from django.utils.translation import override

from bastion.city import registry_io, rules, services
from bastion.city.models import (
    Community,
    CommunityFigures,
    Compound,
    District,
    Household,
    HouseholdProfile,
    Resident,
)
from bastion.city.registry_io import COLUMNS, RegistryFileRejected
from bastion.city.selectors import actor_for
from bastion.core.errors import Forbidden, InvalidInput
from bastion.core.models import AuditEntry
from bastion.core.scopes import SYSTEM, Actor

TABLES = [
    "city_district",
    "city_subdistrict",
    "city_community",
    "city_grid",
    "city_compound",
    "city_building",
    "city_unit",
    "city_household",
    "city_resident",
    "city_communityfigures",
]


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    """Messages are asserted in English; the project's default language is Chinese."""
    with override("en"):
        yield


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the registry tables: equal snapshots mean nothing changed."""
    out = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f'SELECT * FROM "{table}" ORDER BY 1')
            out[table] = cursor.fetchall()
    return out


def export(actor: Actor = SYSTEM, fmt: str = "csv", *, now: datetime) -> bytes:
    out = io.BytesIO()
    services.registry_export(fmt=fmt, out=out, actor=actor, now=now)
    return out.getvalue()


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def write_csv(rows: list[dict[str, str]], columns: list[str] | None = None) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns or list(COLUMNS))
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue().encode()


def import_bytes(data: bytes, *, now: datetime, filename: str = "city.csv", actor: Actor = SYSTEM) -> Any:
    return services.registry_import(file=data, filename=filename, actor=actor, now=now)


def rejected(data: bytes, *, now: datetime, filename: str = "city.csv") -> list[dict[str, Any]]:
    with pytest.raises(RegistryFileRejected) as caught:
        import_bytes(data, now=now, filename=filename)
    assert caught.value.status == 422
    return list(caught.value.details)


def where(problems: list[dict[str, Any]]) -> set[tuple[int, str, str]]:
    return {(p["row"], p["column"], p["code"]) for p in problems}


def new_id_number(born: date, *, male: bool, serial: int = 99) -> str:
    """A valid ID number nobody in the generated city holds (serials there start at 001)."""
    sequence = serial * 10 + (1 if male else 2)
    body = f"510199{born:%Y%m%d}{sequence:03d}"
    return body + rules.id_check_digit(body)


def imported_entries() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action="city.registry.imported").order_by("id"))


# -- round trips and idempotency -----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_it_round_trips_an_export_to_no_change(city: dict[str, Any], now: datetime, fmt: str) -> None:
    data = export(fmt=fmt, now=now)
    before = snapshot()

    result = import_bytes(data, filename=f"registry.{fmt}", now=now)

    assert snapshot() == before
    assert result.rows == Resident.objects.count() == 106
    assert not any(result.created.values())
    assert not any(result.updated.values())
    assert result.unchanged["residents"] == 106
    assert result.unchanged["compounds"] == 4
    assert result.unchanged["households"] == Household.objects.count()


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_it_rebuilds_an_empty_registry_from_its_export(city: dict[str, Any], now: datetime, fmt: str) -> None:
    data = export(fmt=fmt, now=now)
    csv_before = export(now=now)
    figures_before = {
        f.community.code: f.residents for f in CommunityFigures.objects.select_related("community")
    }
    services.registry_clear()

    result = import_bytes(data, filename=f"registry.{fmt}", now=now)

    assert result.created["residents"] == 106
    assert result.created["districts"] == 2
    assert result.created["communities"] == 3
    assert result.created["households"] == Household.objects.count()
    assert export(now=now) == csv_before
    figures = {f.community.code: f.residents for f in CommunityFigures.objects.select_related("community")}
    assert figures == figures_before
    assert Compound.objects.get(code="C2").shared_facilities is True


def test_importing_the_same_file_twice_changes_nothing(city: dict[str, Any], now: datetime) -> None:
    data = export(now=now)
    services.registry_clear()
    import_bytes(data, now=now)
    after_first = snapshot()

    second = import_bytes(data, now=now)

    assert snapshot() == after_first
    assert second.as_dict() == {
        "rows": 106,
        "created": dict.fromkeys(services.LEVELS, 0),
        "updated": dict.fromkeys(services.LEVELS, 0),
        "unchanged": {
            "districts": 2,
            "subdistricts": 2,
            "communities": 3,
            "grids": 3,
            "compounds": 4,
            "buildings": 5,
            "units": 7,
            "households": len(after_first["city_household"]),
            "residents": 106,
        },
    }
    first_entry, second_entry = imported_entries()
    assert first_entry.after is not None
    assert second_entry.after is not None
    assert first_entry.after["created"]["residents"] == 106
    assert second_entry.after["created"]["residents"] == 0
    assert second_entry.after["unchanged"]["residents"] == 106
    assert second_entry.after["file"] == "city.csv"


def test_an_updated_file_updates_only_the_changed_rows(city: dict[str, Any], now: datetime) -> None:
    rows = read_csv(export(now=now))
    renamed, flagged = rows[0], rows[1]
    renamed["name"] = "王新名"
    renamed["phone"] = "13900000001"
    flagged["disabled"] = "true"
    flagged["chronic_treatment"] = "dialysis"
    for row in rows:
        if row["compound_code"] == "C3":
            row["compound_name"] = "玉林北苑"
    newcomer = dict(rows[2])
    born = date(1990, 5, 17)
    newcomer.update(
        resident_number="9",
        name="李来",
        id_number=new_id_number(born, male=False),
        sex="F",
        birth_date=born.isoformat(),
        phone="",
    )
    rows.append(newcomer)
    m1_before = CommunityFigures.objects.get(community=city["M1"])

    result = import_bytes(write_csv(rows), now=now)

    assert result.updated["residents"] == 2
    assert result.created["residents"] == 1
    assert result.unchanged["residents"] == 104
    assert result.updated["compounds"] == 1
    assert result.unchanged["compounds"] == 3
    assert Resident.objects.get(id_number=renamed["id_number"]).name == "王新名"
    changed = Resident.objects.get(id_number=flagged["id_number"])
    assert (changed.disabled, changed.chronic_treatment) == (True, "dialysis")
    # The household's profile (what supplies read of its vulnerability) follows the import.
    assert HouseholdProfile.objects.get(household_id=changed.household_id).flagged
    assert Compound.objects.get(code="C3").name == "玉林北苑"
    arrived = Resident.objects.get(id_number=newcomer["id_number"])
    assert arrived.household.address == f"{rows[2]['compound_code']}/1/1/101"
    assert (arrived.community_id, arrived.district_id) == (city["M1"].pk, city["D1"].pk)
    m1_after = CommunityFigures.objects.get(community=city["M1"])
    assert m1_after.residents == m1_before.residents + 1
    assert m1_after.disabled == m1_before.disabled + 1


def test_it_moves_and_swaps_residents_between_places(city: dict[str, Any], now: datetime) -> None:
    rows = read_csv(export(now=now))
    first, second = rows[0], rows[1]  # #1 and #2 of the same household
    assert first["room"] == second["room"]
    first["resident_number"], second["resident_number"] = second["resident_number"], first["resident_number"]
    mover = next(r for r in rows if r["community_code"] == "M3")
    mover.update({k: rows[3][k] for k in COLUMNS[:19]})  # into rows[3]'s household, M1
    mover["resident_number"] = "5"

    result = import_bytes(write_csv(rows), now=now)

    assert result.updated["residents"] == 3
    assert Resident.objects.get(id_number=first["id_number"]).number == int(first["resident_number"])
    moved = Resident.objects.get(id_number=mover["id_number"])
    assert moved.household.address.startswith(rows[3]["compound_code"])
    assert (moved.community_id, moved.district_id) == (city["M1"].pk, city["D1"].pk)
    # Both communities' figures follow the move.
    assert CommunityFigures.objects.get(community=city["M3"]).residents == 5


def test_a_resident_moves_into_a_place_the_same_file_creates(city: dict[str, Any], now: datetime) -> None:
    rows = read_csv(export(now=now))
    mover = next(r for r in rows if r["community_code"] == "M3")
    mover.update(
        compound_code="C9",
        compound_name="新苑",
        compound_latitude="",
        compound_longitude="",
        compound_shared_facilities="false",
        building_number="1",
        building_latitude="",
        building_longitude="",
        building_floors="6",
        unit_number="1",
        room="101",
        floor="1",
        resident_number="1",
    )
    newcomer = dict(mover)
    born = date(1991, 2, 3)
    newcomer.update(
        resident_number="2",
        name="周新",
        id_number=new_id_number(born, male=True),
        sex="M",
        birth_date=str(born),
    )

    result = import_bytes(write_csv([mover, newcomer]), now=now)

    assert (result.created["compounds"], result.created["households"], result.created["residents"]) == (
        1,
        1,
        1,
    )
    assert result.updated["residents"] == 1
    household = Household.objects.get(address="C9/1/1/101")
    assert household.compound.code == "C9"
    assert household.unit.building.compound_id == household.compound_id
    assert {r.id_number for r in household.residents.all()} == {mover["id_number"], newcomer["id_number"]}
    assert CommunityFigures.objects.get(community=city["M3"]).residents == 7  # the mover stays in M3


# -- rejection -----------------------------------------------------------------------------


def test_a_file_with_bad_rows_is_rejected_whole_with_every_problem(
    city: dict[str, Any], now: datetime
) -> None:
    rows = read_csv(export(now=now))
    n = len(rows)
    rows[0]["id_number"] = rows[0]["id_number"][:17] + ("0" if rows[0]["id_number"][17] != "0" else "1")
    rows[1]["birth_date"] = "1900-01-01"
    rows[2]["sex"] = "F" if rows[2]["sex"] == "M" else "M"
    rows[5]["living_alone"] = "maybe"
    rows[6]["chronic_treatment"] = "acupuncture"
    rows[7]["compound_latitude"] = "95"
    m2 = next(r for r in rows if r["community_code"] == "M2")
    rows[8].update(community_code="M2", community_name=m2["community_name"])  # its grid is M1's
    twin = dict(rows[20])  # a second person in rows[20]'s place
    born = date.fromisoformat(twin["birth_date"])
    twin.update(name="赵双", id_number=new_id_number(born, male=twin["sex"] == "M"))
    again = dict(rows[21])  # the same person twice
    again["resident_number"] = "7"
    fine = dict(rows[22])  # a good new row, which must not be written either
    fine.update(
        resident_number="8", name="钱好", id_number=new_id_number(date(1980, 1, 2), male=True, serial=98)
    )
    fine.update(sex="M", birth_date="1980-01-02")
    rows += [twin, again, fine]
    before = snapshot()

    problems = rejected(write_csv(rows), now=now)

    assert where(problems) == {
        (2, "id_number", "id_check_digit"),
        (3, "birth_date", "birth_date_mismatch"),
        (4, "sex", "sex_mismatch"),
        (7, "living_alone", "bad_boolean"),
        (8, "chronic_treatment", "unknown_chronic_treatment"),
        (9, "compound_latitude", "bad_coordinate"),
        (10, "community_code", "inconsistent_hierarchy"),
        (n + 2, "resident_number", "duplicate_resident_number"),
        (n + 3, "id_number", "duplicate_id_number"),
    }
    assert [p["row"] for p in problems] == sorted(p["row"] for p in problems)
    assert snapshot() == before
    assert imported_entries() == []
    messages = {p["code"]: p["message"] for p in problems}
    assert messages["id_check_digit"] == "The check digit of the ID number is wrong."
    assert messages["duplicate_id_number"] == f"The ID number is also on row {23}."
    assert messages["inconsistent_hierarchy"].startswith(f"Grid {rows[8]['grid_code']} is under M1 on row")


def test_it_refuses_codes_and_names_a_spreadsheet_would_run_as_formulas(
    city: dict[str, Any], now: datetime
) -> None:
    row = read_csv(export(now=now))[0]
    row.update(
        name='=HYPERLINK("http://example.com/?x","点此")',
        district_name="@SUM(1+1)",
        subdistrict_code="+D1-S1",
        compound_name="-cmd|' /C calc'!A0",
        grid_code="'=M1-G1",  # the quote our CSV export writes is not a way around the check
        phone="+86 13800138000",  # a phone may start with "+"
        room="-101",  # and a basement room with "-"
    )
    before = snapshot()

    problems = rejected(write_csv([row]), now=now)

    assert where(problems) == {
        (2, "subdistrict_code", "formula_like"),
        (2, "grid_code", "formula_like"),
        (2, "compound_name", "formula_like"),
        (2, "name", "formula_like"),
        (2, "district_name", "formula_like"),
    }
    assert problems[0]["message"] == (
        "A code or name cannot start with '=', '+', '-' or '@': spreadsheets run it as a formula."
    )
    assert snapshot() == before


def test_an_export_writes_formula_like_text_as_text(city: dict[str, Any], now: datetime) -> None:
    from openpyxl import load_workbook

    person = Resident.objects.select_related("household__compound").order_by("id").first()
    assert person is not None
    formula = '=HYPERLINK("http://example.com/?x","点此")'
    Resident.objects.filter(pk=person.pk).update(name=formula, phone="+86 13800138000")
    Compound.objects.filter(pk=person.household.compound_id).update(name="@SUM(1+1)", longitude=-104.5)
    Household.objects.filter(pk=person.household_id).update(floor=-1)

    book = load_workbook(io.BytesIO(export(fmt="xlsx", now=now)))
    sheet = book.worksheets[0]
    name, compound_name = COLUMNS.index("name") + 1, COLUMNS.index("compound_name") + 1
    cell = next(c for c in sheet.iter_rows(min_col=name, max_col=name) if c[0].value == formula)[0]
    assert cell.data_type == "s"
    row = cell.row
    assert (sheet.cell(row, compound_name).value, sheet.cell(row, compound_name).data_type) == (
        "@SUM(1+1)",
        "s",
    )
    assert sheet.cell(row, COLUMNS.index("floor") + 1).value == -1
    book.close()

    exported = next(r for r in read_csv(export(now=now)) if r["id_number"] == person.id_number)
    assert exported["name"] == "'" + formula
    assert exported["compound_name"] == "'@SUM(1+1)"
    assert exported["phone"] == "'+86 13800138000"
    # Numbers are not text: a negative one is written as it is.
    assert (exported["floor"], exported["compound_longitude"]) == ("-1", "-104.5")

    # The quote is taken off again on import: such a phone round-trips unchanged.
    Resident.objects.filter(pk=person.pk).update(name="王安")
    Compound.objects.filter(pk=person.household.compound_id).update(name="安苑")
    before = snapshot()
    result = import_bytes(export(now=now), now=now)
    assert not result.changed
    assert snapshot() == before
    assert Resident.objects.get(pk=person.pk).phone == "+86 13800138000"


def test_it_names_missing_and_unknown_columns(city: dict[str, Any], now: datetime) -> None:
    rows = read_csv(export(now=now))
    columns = [c for c in COLUMNS if c not in ("phone", "pregnant")] + ["nickname"]
    for row in rows:
        row.pop("phone")
        row.pop("pregnant")
        row["nickname"] = "x"

    problems = rejected(write_csv(rows, columns), now=now)

    assert where(problems) == {
        (1, "phone", "missing_column"),
        (1, "pregnant", "missing_column"),
        (1, "nickname", "unknown_column"),
    }


def test_it_checks_the_cells_one_by_one(now: datetime, db: None) -> None:
    born = date(1950, 3, 4)
    good = {
        "district_code": "D9",
        "district_name": "新区",
        "subdistrict_code": "D9-S1",
        "subdistrict_name": "新街道",
        "community_code": "M9",
        "community_name": "新社区",
        "grid_code": "M9-G1",
        "compound_code": "C9",
        "compound_name": "新苑",
        "compound_latitude": "30.6",
        "compound_longitude": "104.1",
        "compound_shared_facilities": "否",
        "building_number": "1",
        "building_latitude": "",
        "building_longitude": "",
        "building_floors": "6",
        "unit_number": "1",
        "room": "101",
        "floor": "1",
        "resident_number": "1",
        "name": "孙一",
        "id_number": new_id_number(born, male=True).lower(),
        "sex": "男",
        "birth_date": "1950/03/04",
        "phone": "",
        "living_alone": "yes",
        "disabled": "",
        "pregnant": "0",
        "chronic_treatment": "",
        "cannot_order_online": "TRUE",
    }
    bad = dict(good)
    bad.update(
        district_code="D 9",
        building_number="0",
        compound_longitude="east",
        id_number="12345",
        sex="X",
        birth_date="last spring",
        phone="139****0000",
        name="",
        floor="1.5",
    )
    problems = rejected(write_csv([good, bad]), now=now)

    assert where(problems) == {
        (3, "district_code", "bad_code"),
        (3, "compound_longitude", "bad_coordinate"),
        (3, "building_number", "bad_integer"),
        (3, "floor", "bad_integer"),
        (3, "name", "required"),
        (3, "id_number", "id_length"),
        (3, "sex", "bad_sex"),
        (3, "birth_date", "bad_date"),
        (3, "phone", "bad_phone"),
    }

    result = import_bytes(write_csv([good]), now=now)

    assert result.created["residents"] == 1
    person = Resident.objects.get()
    assert person.id_number == good["id_number"].upper()
    assert (person.sex, person.birth_date, person.living_alone, person.cannot_order_online) == (
        "M",
        born,
        True,
        True,
    )


def test_it_refuses_an_id_number_that_belongs_to_someone_else(city: dict[str, Any], now: datetime) -> None:
    rows = read_csv(export(now=now))
    impostor = dict(rows[3])
    impostor.update(name="冒名", resident_number="9", id_number=rows[40]["id_number"])
    impostor.update(sex=rows[40]["sex"], birth_date=rows[40]["birth_date"])
    squatter = dict(rows[4])  # a new person in a place the registry gives someone not in the file
    born = date(1985, 6, 7)
    squatter.update(
        name="占位", id_number=new_id_number(born, male=False), sex="F", birth_date=born.isoformat()
    )
    before = snapshot()

    problems = rejected(write_csv([impostor, squatter]), now=now)

    assert where(problems) == {
        (2, "id_number", "id_number_taken"),
        (3, "resident_number", "resident_number_taken"),
    }
    owner = Resident.objects.select_related("household").get(id_number=rows[40]["id_number"])
    # The uploader learns that the number is taken, never by whom nor where they live.
    assert problems[0]["message"] == "The ID number is registered to another person in the registry."
    assert owner.name not in problems[0]["message"]
    assert owner.household.address not in problems[0]["message"]
    assert snapshot() == before


def test_a_file_cannot_move_a_place_under_another_parent(city: dict[str, Any], now: datetime) -> None:
    rows = [r for r in read_csv(export(now=now)) if r["compound_code"] == "C3"]
    m1 = read_csv(export(now=now))[0]
    for row in rows:
        row.update(grid_code=m1["grid_code"], community_code="M1", community_name=m1["community_name"])

    problems = rejected(write_csv(rows), now=now)

    assert where(problems) == {(2, "grid_code", "moved_place")}
    assert problems[0]["message"] == (
        f"Compound C3 is under M2-G1 in the registry; a file cannot move it under {m1['grid_code']}."
    )


def test_it_refuses_a_file_that_is_not_a_registry(db: None, now: datetime) -> None:
    assert where(rejected(b"", now=now)) == {(0, "", "no_rows")}
    assert where(rejected(write_csv([]), now=now)) == {(0, "", "no_rows")}
    assert where(rejected(b"%PDF-1.4", filename="city.pdf", now=now)) == {(0, "", "unknown_format")}
    assert where(rejected(b"PK\x03\x04garbage", filename="city.xlsx", now=now)) == {
        (0, "", "unreadable_file")
    }


def test_the_report_is_written_in_the_language_of_the_request(city: dict[str, Any], now: datetime) -> None:
    rows = read_csv(export(now=now))
    born = rows[1]["birth_date"]
    rows[0]["living_alone"] = "也许"
    rows[1]["birth_date"] = "1900-01-01"
    data = write_csv(rows)

    with override("en"), pytest.raises(RegistryFileRejected) as in_english:
        import_bytes(data, now=now)
    with override("zh-hans"), pytest.raises(RegistryFileRejected) as in_chinese:
        import_bytes(data, now=now)

    assert str(in_english.value.message) == "The file was rejected with 2 problems; nothing was imported."
    assert [(p["row"], p["code"], p["message"]) for p in in_english.value.details] == [
        (2, "bad_boolean", "Write true or false (or yes/no, 1/0, 是/否)."),
        (
            3,
            "birth_date_mismatch",
            f"The birth date 1900-01-01 differs from the one in the ID number ({born}).",
        ),
    ]
    # Same problems, same codes; the words are whatever the zh-hans catalogue says (English
    # until a message is translated).
    assert in_chinese.value.as_dict()["code"] == "registry_rejected"
    assert [(p["row"], p["column"], p["code"]) for p in in_chinese.value.details] == [
        (p["row"], p["column"], p["code"]) for p in in_english.value.details
    ]
    with override("zh-hans"):
        expected = [
            _("Write true or false (or yes/no, 1/0, 是/否)."),
            _("The birth date %(given)s differs from the one in the ID number (%(expected)s).")
            % {"given": "1900-01-01", "expected": born},
        ]
        assert str(in_chinese.value.message) == _(
            "The file was rejected with %(count)d problems; nothing was imported."
        ) % {"count": 2}
    assert [p["message"] for p in in_chinese.value.details] == expected
    assert all(isinstance(p["message"], str) for p in in_chinese.value.details)


# -- encodings, limits and capped reports -----------------------------------------------------


def renamed(now: datetime, name: str = "测试新区") -> list[dict[str, str]]:
    """The export with community M1 renamed."""
    rows = read_csv(export(now=now))
    for row in rows:
        if row["community_code"] == "M1":
            row["community_name"] = name
    return rows


def community_name() -> str:
    return Community.objects.get(code="M1").name


def new_district(now: datetime) -> bytes:
    """Two residents of a new district 测试新区, in UTF-8."""
    rows = []
    for number, (name, male) in enumerate([("王芳", False), ("李雷", True)], start=1):
        row = dict(read_csv(export(now=now))[0])
        born = date.fromisoformat(row["birth_date"])
        row.update(
            district_code="T1",
            district_name="测试新区",
            subdistrict_code="T1S",
            subdistrict_name="测试街道",
            community_code="T1M",
            community_name="测试社区",
            grid_code="T1G",
            compound_code="T1C",
            compound_name="测试小区",
            resident_number=str(number),
            name=name,
            sex="M" if male else "F",
            pregnant="false",
            id_number=new_id_number(born, male=male, serial=90 + number),
        )
        rows.append(row)
    return write_csv(rows)


def test_a_utf8_file_with_one_stray_byte_is_refused_at_its_line_and_byte_not_imported_garbled(
    city: dict[str, Any], now: datetime
) -> None:
    data = new_district(now)
    third = data.index(b"\n", data.index(b"\n") + 1) + 1  # where line 3 begins
    broken = data[:third] + b"\xa0" + data[third:]
    # Read as GB 18030 the file decodes whole: "测试新区" comes out as "娴嬭瘯鏂板尯".
    assert "娴嬭瘯鏂板尯" in broken.decode("gb18030")
    before = snapshot()

    problems = rejected(broken, now=now)

    assert where(problems) == {(3, "", "bad_encoding")}
    assert f"line 3, at byte {third} of the file" in problems[0]["message"]
    assert snapshot() == before
    assert imported_entries() == []
    import_bytes(data, now=now)  # the file as it was meant
    assert District.objects.get(code="T1").name == "测试新区"


def test_a_gb18030_file_is_read_when_its_encoding_is_given_and_refused_without_it(
    city: dict[str, Any], now: datetime, tmp_path: Path
) -> None:
    data = write_csv(renamed(now)).decode().encode("gb18030")
    before = snapshot()

    problems = rejected(data, now=now)  # never guessed: UTF-8 unless told
    assert where(problems) == {(2, "", "bad_encoding")}
    assert "give that encoding" in problems[0]["message"]
    assert snapshot() == before

    path = tmp_path / "gb.csv"
    path.write_bytes(data)
    out = io.StringIO()
    call_command("city", "import", str(path), "--encoding", "gb18030", stdout=out)
    assert json.loads(out.getvalue())["updated"]["communities"] == 1
    assert community_name() == "测试新区"


def test_a_file_cut_in_the_middle_of_a_character_names_its_line(city: dict[str, Any], now: datetime) -> None:
    data = write_csv(renamed(now, "测试新区" * 3))
    cut = data.rindex("新".encode()) + 1  # in the last row's community name
    lines = data[:cut].count(b"\n") + 1
    before = snapshot()

    problems = rejected(data[:cut], now=now)

    assert where(problems) == {(lines, "", "cut_short")}
    assert f"in the middle of a character on line {lines}" in problems[0]["message"]
    assert snapshot() == before


def test_an_unknown_encoding_is_refused_by_the_api_and_the_command_line(
    city: dict[str, Any], make_user: Callable[..., User], client: Client, tmp_path: Path, now: datetime
) -> None:
    client.force_login(make_user("command_centre"))
    upload = io.BytesIO(export(now=now))
    upload.name = "registry.csv"
    before = snapshot()

    response = client.post(
        "/api/v1/city/registry/import", {"file": upload, "encoding": "latin-1"}, HTTP_ACCEPT_LANGUAGE="en"
    )

    assert response.status_code == 422
    assert response.json() == {
        "code": "unknown_encoding",
        "message": "Unknown encoding latin-1: give one of utf-8, gb18030, gbk.",
    }
    path = tmp_path / "city.csv"
    path.write_bytes(export(now=now))
    with pytest.raises(CommandError, match="Unknown encoding klingon"):
        call_command("city", "import", str(path), "--encoding", "klingon")
    assert snapshot() == before


def test_the_api_reads_the_encoding_it_is_given(
    city: dict[str, Any], make_user: Callable[..., User], client: Client, now: datetime
) -> None:
    client.force_login(make_user("command_centre"))
    data = write_csv(renamed(now)).decode().encode("gb18030")
    upload = io.BytesIO(data)
    upload.name = "registry.csv"
    response = client.post("/api/v1/city/registry/import", {"file": upload})
    assert response.status_code == 422  # not guessed
    assert [p["code"] for p in response.json()["details"]] == ["bad_encoding"]

    upload = io.BytesIO(data)
    upload.name = "registry.csv"
    response = client.post("/api/v1/city/registry/import", {"file": upload, "encoding": "GB18030"})
    assert response.status_code == 200, response.content
    assert community_name() == "测试新区"


def test_an_upload_over_the_limit_is_refused_before_it_is_read_and_nothing_is_written(
    city: dict[str, Any], make_user: Callable[..., User], client: Client, now: datetime, settings: Any
) -> None:
    settings.UPLOAD_MAX_BYTES = 1024 * 1024
    client.force_login(make_user("command_centre"))
    data = write_csv(renamed(now))
    upload = io.BytesIO(data + b"\n" * (1024 * 1024 + 1 - len(data)))
    upload.name = "registry.csv"
    before = snapshot()

    response = client.post("/api/v1/city/registry/import", {"file": upload}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 413
    assert response.json() == {
        "code": "upload_too_large",
        "message": "The file is larger than 1.0\xa0MB, the most an upload may be; nothing was read.",
    }
    assert snapshot() == before
    assert imported_entries() == []


def test_an_upload_far_over_the_limit_is_refused_by_its_length_without_reading_its_body(
    city: dict[str, Any],
    make_user: Callable[..., User],
    client: Client,
    now: datetime,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.http import multipartparser

    def unread(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the body was read")

    settings.UPLOAD_MAX_BYTES = 1024 * 1024
    client.force_login(make_user("command_centre"))
    monkeypatch.setattr(multipartparser.MultiPartParser, "parse", unread)
    before = snapshot()

    def send(path: str, language: str) -> Any:
        upload = io.BytesIO(b"x" * (2 * 1024 * 1024))
        upload.name = "registry.csv"
        response = client.post(path, {"file": upload}, HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 413
        return response

    assert send("/api/v1/city/registry/import", "en").json() == {
        "code": "upload_too_large",
        "message": "The file is larger than 1.0\xa0MB, the most an upload may be; nothing was read.",
    }
    page = send("/cases/batch/", "zh-hans").content.decode()  # a console page, in Chinese
    assert "文件超过了上传大小上限 1.0\xa0MB，未读取任何内容。" in page
    assert snapshot() == before


def test_a_file_of_many_bad_rows_gets_a_capped_report_with_totals_per_kind(
    city: dict[str, Any], make_user: Callable[..., User], client: Client, tmp_path: Path, now: datetime
) -> None:
    rows = [dict(row, sex="X", living_alone="perhaps") for row in read_csv(export(now=now)) * 6]
    data = write_csv(rows)
    bad = len(rows)  # 636 rows, two problems each
    client.force_login(make_user("command_centre"))
    upload = io.BytesIO(data)
    upload.name = "registry.csv"

    response = client.post("/api/v1/city/registry/import", {"file": upload}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 422
    body = response.json()
    assert len(body["details"]) == 1000
    assert body["details"][-1]["row"] == 501  # the first thousand, by row
    assert body["total"] == 2 * bad
    assert body["counts"] == {"bad_boolean": bad, "bad_sex": bad}
    assert body["message"] == (
        f"The file was rejected with {2 * bad} problems; nothing was imported. The first 1000 are listed."
    )
    assert len(response.content) < 200_000

    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("city", "import", str(path), stderr=err)
    printed = err.getvalue().splitlines()
    assert len(printed) == 1000 + 3
    assert printed[-3:] == [
        f"{2 * bad:,} problems in all, 1,000 listed:",
        f"  bad_boolean: {bad:,}",
        f"  bad_sex: {bad:,}",
    ]


# -- scope, masking, permissions -------------------------------------------------------------


def test_a_community_workers_export_holds_only_their_community(
    city: dict[str, Any], make_user: Callable[..., User], now: datetime
) -> None:
    worker = actor_for(make_user("community_worker", community=city["M1"]))

    rows = read_csv(export(worker, now=now))

    assert {r["community_code"] for r in rows} == {"M1"}
    assert len(rows) == Resident.objects.filter(community=city["M1"]).count() == 88
    assert all("*" not in r["id_number"] for r in rows)  # their role needs the real numbers


def test_an_export_masks_personal_data_for_a_role_without_it(
    city: dict[str, Any], make_user: Callable[..., User], now: datetime
) -> None:
    officer = actor_for(make_user("district_officer", district=city["D2"]))

    data = export(officer, fmt="xlsx", now=now)

    rows = read_csv(export(officer, now=now))
    assert {r["district_code"] for r in rows} == {"D2"}
    real = {
        (r.household.address, str(r.number)): r
        for r in Resident.objects.filter(district=city["D2"]).select_related("household")
    }
    for row in rows:
        address = f"{row['compound_code']}/{row['building_number']}/{row['unit_number']}/{row['room']}"
        person = real[address, row["resident_number"]]
        assert row["name"] == person.name[0] + "*" * (len(person.name) - 1)  # as on every page
        assert row["id_number"] == person.id_number[:4] + "*" * 12 + person.id_number[-2:]
        assert row["phone"] == (person.phone[:3] + "****" + person.phone[-4:] if person.phone else "")
        assert row["birth_date"] == ""  # it would give the hidden ID digits back
    entry = AuditEntry.objects.filter(action="city.registry.exported").latest("id")
    assert entry.after == {"format": "csv", "rows": 6, "masked": True}
    # A masked file can never be imported back over the real numbers.
    problems = rejected(data, filename="masked.xlsx", now=now)
    assert {p["code"] for p in problems if p["column"] == "id_number"} == {"id_characters"}


@pytest.mark.django_db(transaction=True)
def test_an_export_reads_outside_any_transaction(
    city: dict[str, Any], now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On SQLite an open transaction is the write lock (IMMEDIATE): an export must not hold
    # every other writer off while it writes a whole city.
    in_transaction: list[bool] = []
    write = registry_io.write_registry

    def watching(rows: Iterator[list[Any]], out: Any, *, fmt: str) -> int:
        def watched() -> Iterator[list[Any]]:
            for row in rows:
                raw = connection.connection
                in_transaction.append(
                    connection.in_atomic_block or bool(getattr(raw, "in_transaction", False))
                )
                yield row

        return write(watched(), out, fmt=fmt)

    monkeypatch.setattr(registry_io, "write_registry", watching)

    data = export(fmt="xlsx", now=now)

    assert data.startswith(b"PK")
    assert len(in_transaction) == 106
    assert not any(in_transaction)
    entry = AuditEntry.objects.get(action="city.registry.exported")
    assert entry.after == {"format": "xlsx", "rows": 106, "masked": False}


def test_an_xlsx_export_refuses_more_rows_than_a_sheet_holds(
    city: dict[str, Any],
    now: datetime,
    monkeypatch: pytest.MonkeyPatch,
    make_user: Callable[..., User],
    client: Client,
) -> None:
    monkeypatch.setattr(registry_io, "XLSX_MAX_ROWS", 105)

    with pytest.raises(InvalidInput) as caught:
        export(fmt="xlsx", now=now)

    assert caught.value.code == "too_many_rows_for_xlsx"
    assert (
        str(caught.value.message) == "An XLSX sheet holds at most 105 residents; export this registry as CSV."
    )
    assert not AuditEntry.objects.filter(action="city.registry.exported").exists()
    assert len(read_csv(export(fmt="csv", now=now))) == 106
    client.force_login(make_user("command_centre"))
    response = client.get("/api/v1/city/registry/export?format=xlsx", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    assert response.json()["code"] == "too_many_rows_for_xlsx"
    # The writer keeps to the limit too, should rows arrive after the count.
    with pytest.raises(InvalidInput):
        registry_io.write_xlsx([read_csv(export(now=now))[0].values()] * 106, io.BytesIO())  # type: ignore[list-item]


def test_import_and_export_need_their_permissions(
    city: dict[str, Any], make_user: Callable[..., User], now: datetime
) -> None:
    data = export(now=now)
    worker = actor_for(make_user("community_worker", community=city["M1"]))
    volunteer = actor_for(make_user("volunteer", community=city["M1"]))

    with pytest.raises(Forbidden):
        import_bytes(data, actor=worker, now=now)
    with pytest.raises(Forbidden):
        export(volunteer, now=now)


@pytest.mark.parametrize("level", ["district", "community"])
def test_only_a_city_wide_actor_may_import(city: dict[str, Any], now: datetime, level: str) -> None:
    # Even a file within its own district would rename the city's levels above it, and the
    # report of a narrow importer must not speak of residents it may not see.
    narrow = Actor(
        user_id=None,
        role="command_centre",
        level=level,
        district_id=city["D1"].pk,
        community_id=city["M1"].pk if level == "community" else None,
        permissions=frozenset({"import_registry"}),
    )
    rows = [r for r in read_csv(export(now=now)) if r["community_code"] == "M1"]
    rows[0]["district_name"] = "改名区"
    before = snapshot()

    with pytest.raises(Forbidden) as caught:
        import_bytes(write_csv(rows), actor=narrow, now=now)

    assert str(caught.value.message) == "Only a city-wide role may import the registry."
    assert snapshot() == before
    assert imported_entries() == []


# -- command line and HTTP ---------------------------------------------------------------------


def test_the_command_line_exports_and_imports(city: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "city.xlsx"
    err = io.StringIO()
    call_command("city", "export", str(path), stderr=err)
    assert "exported 106 residents" in err.getvalue()

    out = io.StringIO()
    call_command("city", "import", str(path), stdout=out)
    assert json.loads(out.getvalue())["unchanged"]["residents"] == 106

    csv_path = tmp_path / "city.txt"
    call_command("city", "export", str(csv_path), "--format", "csv", stderr=io.StringIO())
    assert csv_path.read_bytes().startswith("\ufeffdistrict_code,".encode())


def test_the_command_line_prints_the_report_of_a_rejected_file(
    city: dict[str, Any], tmp_path: Path, now: datetime
) -> None:
    rows = read_csv(export(now=now))
    rows[4]["pregnant"] = "perhaps"
    path = tmp_path / "bad.csv"
    path.write_bytes(write_csv(rows))
    err = io.StringIO()

    with pytest.raises(CommandError, match="rejected with 1 problems"):
        call_command("city", "import", str(path), stderr=err)

    assert "row 6, pregnant: Write true or false" in err.getvalue()
    assert "[bad_boolean]" in err.getvalue()


def test_the_api_imports_and_exports(
    city: dict[str, Any], make_user: Callable[..., User], client: Client, now: datetime
) -> None:
    client.force_login(make_user("command_centre"))

    response = client.get("/api/v1/city/registry/export?format=xlsx")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    data = b"".join(response.streaming_content)  # type: ignore[attr-defined]

    response = client.get("/api/v1/city/registry/export")
    exported = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert response["Content-Disposition"].startswith("attachment")
    # The command centre may not see personal data: its export is masked and refused back.
    assert "*" in read_csv(exported)[0]["id_number"]
    response = client.post("/api/v1/city/registry/import", {"file": io.BytesIO(data)})
    assert response.status_code == 422

    full = export(now=now)
    upload = io.BytesIO(full)
    upload.name = "registry.csv"
    response = client.post("/api/v1/city/registry/import", {"file": upload})
    assert response.status_code == 200, response.content
    assert response.json()["unchanged"]["residents"] == 106

    rows = read_csv(full)
    rows[0]["sex"] = "X"
    upload = io.BytesIO(write_csv(rows))
    upload.name = "registry.csv"
    response = client.post("/api/v1/city/registry/import", {"file": upload}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "registry_rejected"
    assert body["details"] == [
        {"row": 2, "column": "sex", "code": "bad_sex", "message": "Write M (male) or F (female)."}
    ]


def test_the_api_export_stays_within_the_callers_scope(
    city: dict[str, Any], make_user: Callable[..., User], client: Client
) -> None:
    client.force_login(make_user("community_worker", community=city["M2"]))

    response = client.get("/api/v1/city/registry/export?format=csv")

    rows = read_csv(b"".join(response.streaming_content))  # type: ignore[attr-defined]
    assert {r["compound_code"] for r in rows} == {"C3"}
    assert client.post("/api/v1/city/registry/import", {"file": io.BytesIO(b"x")}).status_code == 403


# -- PostgreSQL ------------------------------------------------------------------------------


@pytest.mark.postgres
def test_new_rows_go_in_by_copy_and_the_sequences_follow(city: dict[str, Any], now: datetime) -> None:
    data = export(now=now)
    services.registry_clear()

    import_bytes(data, now=now)

    # Rows were written with explicit ids: the next ORM insert must not collide with them.
    community = Community.objects.order_by("id").last()
    assert community is not None
    extra = Community.objects.create(
        subdistrict=community.subdistrict, district_id=community.district_id, code="M-new", name="新"
    )
    assert extra.pk > community.pk


@pytest.mark.postgres
def test_an_import_takes_ids_after_those_the_sequence_handed_out(city: dict[str, Any], now: datetime) -> None:
    row = read_csv(export(now=now))[0]
    born = date(1992, 4, 5)
    row.update(
        district_code="D9",
        district_name="新区",
        subdistrict_code="D9-S1",
        community_code="M9",
        grid_code="M9-G1",
        compound_code="C9",
        name="吴新",
        id_number=new_id_number(born, male=True),
        sex="M",
        birth_date=born.isoformat(),
    )
    # An ordinary insert in another session has drawn the next id and not committed yet.
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('city_district', 'id'))")
        drawn = cursor.fetchone()[0]

    import_bytes(write_csv([row]), now=now)

    assert District.objects.get(code="D9").pk > drawn
    assert District.objects.create(code="D10", name="后来").pk > District.objects.get(code="D9").pk


def test_the_layout_matches_the_row_type() -> None:
    names = [f for f in registry_io.Row.__dataclass_fields__ if f != "line"]
    assert tuple(names) == COLUMNS
