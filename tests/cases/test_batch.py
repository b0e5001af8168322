"""A batch file of cases is reported all or nothing: every bad row and column is listed, and a
file with a single problem reports no case at all."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from openpyxl import Workbook

from bastion import flows
from bastion.cases import batch
from bastion.cases.models import Case, ExposurePlace
from bastion.core.scopes import SYSTEM
from bastion.zones.models import Zone
from tests.cases.test_api import report, resident, snapshot
from tests.conftest import NOW

Places = dict[str, Any]
HEADER = "id_number,address,kind,found_by,onset_on,reported_at,frequent,stayed"


@pytest.fixture
def officer(city: Places, make_user: Callable[..., User]) -> User:
    return make_user("district_officer", district=city["D1"])


def upload(
    client: Client, data: bytes, *, name: str = "cases.csv", language: str = "en", status: int = 200
) -> Any:
    file = io.BytesIO(data)
    file.name = name
    response = client.post("/api/v1/cases/batch", {"file": file}, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == status, response.content[:500]
    return response.json()


def csv(*lines: str, bom: bool = True) -> bytes:
    text = "\r\n".join([HEADER, *lines]) + "\r\n"
    return ("\ufeff" if bom else "").encode() + text.encode()


def good_file() -> bytes:
    first = resident("C1/2/1/301#1")
    return csv(
        f"{first.id_number},,confirmed,screening,2022-08-30,2022-09-01T07:30:00,,C1/1/2;C3/1/1",
        ",C1/1/1/101#2,asymptomatic,quarantine,,,C1/2/2/101,",
        ",C3/1/1/101#1,确诊,community,,,,",
    )


def test_it_reports_every_row_of_a_good_csv_file(client: Client, officer: User) -> None:
    client.force_login(officer)
    body = upload(client, good_file())
    assert body["rows"] == 3
    assert [(c["row"], c["kind"]) for c in body["cases"]] == [
        (2, "confirmed"),
        (3, "asymptomatic"),
        (4, "confirmed"),
    ]
    cases = {c.resident_id: c for c in Case.objects.all()}
    first = cases[resident("C1/2/1/301#1").pk]
    assert (first.found_by, first.onset_on, first.reported_on) == ("screening", date(2022, 8, 30), NOW.date())
    assert {p.address for p in ExposurePlace.objects.filter(case=first, frequent=False)} == {
        "C1/1/2",
        "C3/1/1",
    }
    assert cases[resident("C1/1/1/101#2").pk].kind == "asymptomatic"
    assert cases[resident("C3/1/1/101#1").pk].kind == "confirmed"
    assert {z["row"] for z in body["zone_changes"]} == {2, 3, 4}
    assert Zone.objects.filter(level="high").count() >= 3


def test_it_reads_an_xlsx_file_with_date_cells(client: Client, officer: User) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER.split(","))
    # A spreadsheet's cells carry no time zone.
    eight = datetime(2022, 9, 1, 8, 0)  # noqa: DTZ001
    sheet.append([None, "C1/2/1/301#1", "confirmed", "hospital", date(2022, 8, 29), eight])
    sheet.append([resident("C1/1/1/101#1").id_number, None, "asymptomatic", "screening"])
    out = io.BytesIO()
    book.save(out)
    client.force_login(officer)
    body = upload(client, out.getvalue(), name="cases.xlsx")
    assert body["rows"] == 2
    case = Case.objects.get(resident=resident("C1/2/1/301#1"))
    # 08:00 without a time zone is the city's 08:00: still today, before the frozen 09:00.
    assert (case.onset_on, case.reported_on, case.found_by) == (date(2022, 8, 29), NOW.date(), "hospital")


def test_it_refuses_the_whole_file_and_lists_every_bad_row_and_column(client: Client, officer: User) -> None:
    report("C1/2/2/101#1")  # already a case
    other_district = resident("C4/1/1/101#1")  # outside the officer's district: unknown to them
    ok = resident("C1/2/1/301#1")
    data = csv(
        f"{ok.id_number},,confirmed,screening,,,,",  # 2: good, yet not reported
        "110101199001011234,,confirmed,screening,,,,",  # 3: nobody has this ID number
        f"{other_district.id_number},,confirmed,screening,,,,",  # 4: outside the scope
        ",C1/2/1/301#1,confirmed,screening,,,,",  # 5: the same resident as row 2
        ",C1/2/2/101#1,confirmed,screening,,,,",  # 6: already a case
        ",C1/1/1/101#1,mild,by chance,2022-09-02,2022-09-01T10:00:00,,",  # 7: kind, found_by, dates
        ",C1/1/1/102#1,asymptomatic,community,yesterday,,C1/9,C9;C1/1",  # 8: date, places
        ",C1/1/1,confirmed,community,,,,",  # 9: not a resident's address
        ",,confirmed,community,,,,",  # 10: nobody named
        f"{ok.id_number},C1/1/1/103#1,confirmed,community,,,,",  # 11: two residents named
    )
    before = snapshot()
    client.force_login(officer)
    body = upload(client, data, status=422)
    assert body["code"] == "case_batch_rejected"
    assert body["message"] == "The file was rejected with 14 problems; no case was reported."
    problems = [(p["row"], p["column"], p["code"]) for p in body["details"]]
    assert problems == [
        (3, "id_number", "unknown_resident"),
        (4, "id_number", "unknown_resident"),
        (5, "address", "duplicate_resident"),
        (6, "address", "already_a_case"),
        (7, "kind", "bad_case_kind"),
        (7, "found_by", "bad_found_by"),
        (7, "onset_on", "onset_in_future"),
        (7, "reported_at", "case_in_future"),
        (8, "onset_on", "bad_date"),
        (8, "frequent", "unknown_place"),
        (8, "stayed", "unknown_place"),
        (9, "address", "bad_resident_address"),
        (10, "id_number", "required"),
        (11, "address", "two_residents"),
    ]
    assert all(p["message"] for p in body["details"])
    assert "row 2" in body["details"][2]["message"]
    assert snapshot() == before


def test_days_far_from_today_are_refused_by_cell_on_the_api_and_the_console(
    client: Client, officer: User
) -> None:
    data = csv(
        ",C1/1/1/101#1,confirmed,screening,1900-01-01,,,",  # 2: onset a century ago
        ",C1/1/1/101#2,confirmed,screening,,0001-01-01T00:00:00,,",  # 3: year 1 (a server error)
        ",C1/1/1/102#1,confirmed,screening,,0001-01-01T00:00:00+08:00,,",  # 4: year 1, zoned
        ",C1/1/2/102#1,confirmed,screening,,2000-01-01T00:00,,",  # 5: long before the window
        ",C1/1/2/101#1,confirmed,screening,2022-08-30,2022-09-01T07:30:00,,",  # 6: good
    )
    client.force_login(officer)
    body = upload(client, data, status=422)
    window = "The day must lie between 2017-09-01 and 2023-09-01."
    assert [(p["row"], p["column"], p["code"], p["message"]) for p in body["details"]] == [
        (2, "onset_on", "out_of_window", window),
        (3, "reported_at", "out_of_window", window),
        (4, "reported_at", "out_of_window", window),
        (5, "reported_at", "out_of_window", window),
    ]
    file = io.BytesIO(data)
    file.name = "cases.csv"
    page = client.post("/cases/batch/", {"file": file}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert page.status_code == 422
    assert "日期须在 2017-09-01 与 2023-09-01 之间。" in page.content.decode()
    assert not Case.objects.exists()


def test_a_file_sent_again_is_refused_and_changes_nothing(client: Client, officer: User) -> None:
    client.force_login(officer)
    upload(client, good_file())
    before = snapshot()
    body = upload(client, good_file(), status=422)
    assert [(p["row"], p["code"]) for p in body["details"]] == [
        (2, "already_a_case"),
        (3, "already_a_case"),
        (4, "already_a_case"),
    ]
    assert snapshot() == before


def test_a_row_refused_while_reporting_rolls_back_the_whole_batch(officer: User) -> None:
    rows = batch.read_batch(good_file(), filename="cases.csv", actor=SYSTEM, now=NOW)
    report("C1/1/1/101#2")  # someone reports row 3's resident after the file was checked
    before = snapshot()
    with pytest.raises(batch.CaseBatchRejected) as refused:
        flows.cases_reported_batch(rows=rows, actor=SYSTEM, now=NOW)
    assert [(p.row, p.code) for p in refused.value.problems] == [(3, "already_a_case")]
    assert snapshot() == before


def test_a_community_worker_cannot_send_a_batch(
    client: Client, city: Places, make_user: Callable[..., User]
) -> None:
    client.force_login(make_user("community_worker", community=city["M1"]))
    before = snapshot()
    assert upload(client, good_file(), status=403)["code"] == "forbidden"
    assert snapshot() == before


def test_it_names_bad_columns_in_the_language_of_the_request(client: Client, officer: User) -> None:
    client.force_login(officer)
    body = upload(
        client, b"address,found_by,colour\r\nC1/1/1/101#1,community,red\r\n", language="zh-hans", status=422
    )
    problems = {(p["row"], p["column"], p["code"]): p["message"] for p in body["details"]}
    assert problems[(1, "kind", "missing_column")] == "缺少列 kind。"
    assert (1, "colour", "unknown_column") in problems


@pytest.mark.parametrize(
    ("data", "name", "code"),
    [
        (b"", "cases.csv", "no_rows"),
        (HEADER.encode() + b"\r\n,,,,,,,\r\n", "cases.csv", "no_rows"),
        (b"%PDF-1.4", "cases.pdf", "unknown_format"),
        (b"PK\x03\x04 not a workbook", "cases.xlsx", "unreadable_file"),
    ],
)
def test_it_refuses_a_file_it_cannot_read(
    client: Client, officer: User, data: bytes, name: str, code: str
) -> None:
    client.force_login(officer)
    body = upload(client, data, name=name, status=422)
    assert body["code"] == "case_batch_rejected"
    assert [p["code"] for p in body["details"]] == [code]


# -- encodings, limits and capped reports -----------------------------------------------------


def test_a_gb18030_file_is_reported_when_its_encoding_is_given_and_refused_without_it(
    client: Client, officer: User
) -> None:
    data = good_file().decode("utf-8-sig").encode("gb18030")  # row 4 says 确诊
    client.force_login(officer)

    body = upload(client, data, status=422)
    assert [(p["row"], p["code"]) for p in body["details"]] == [(4, "bad_encoding")]
    assert not Case.objects.exists()

    file = io.BytesIO(data)
    file.name = "cases.csv"
    response = client.post("/api/v1/cases/batch", {"file": file, "encoding": "gb18030"})
    assert response.status_code == 200, response.content
    assert [c["kind"] for c in response.json()["cases"]] == ["confirmed", "asymptomatic", "confirmed"]


def test_a_utf8_file_cut_in_the_middle_of_a_character_names_its_row(client: Client, officer: User) -> None:
    data = good_file()
    cut = data.index("确".encode()) + 2
    client.force_login(officer)
    body = upload(client, data[:cut], status=422)
    assert [(p["row"], p["code"]) for p in body["details"]] == [(4, "cut_short")]
    assert "line 4" in body["details"][0]["message"]
    assert not Case.objects.exists()


def test_the_console_takes_the_encoding_and_refuses_a_file_over_the_limit(
    client: Client, officer: User, settings: Any
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    def send(data: bytes, **fields: str) -> Any:
        file = SimpleUploadedFile("cases.csv", data, "text/csv")
        return client.post("/cases/batch/", {"file": file, **fields}, HTTP_ACCEPT_LANGUAGE="en", follow=True)

    client.force_login(officer)
    data = good_file().decode("utf-8-sig").encode("gb18030")
    settings.UPLOAD_MAX_BYTES = 1024
    response = send(data + b"\r\n" * 600, encoding="gb18030")  # blank lines, over 1 KB
    assert response.status_code == 422
    assert "The file is larger than 1.0\xa0KB, the most an upload may be" in response.content.decode()
    assert not Case.objects.exists()

    settings.UPLOAD_MAX_BYTES = 1024 * 1024
    assert send(data, encoding="klingon").status_code == 422
    assert 'value="gb18030"' in send(data).content.decode()  # the choice is offered
    assert not Case.objects.exists()
    response = send(data, encoding="gb18030")
    assert response.status_code == 200
    assert "3 cases were reported" in response.content.decode()


def test_a_file_of_many_bad_rows_lists_the_first_thousand_problems_and_counts_them_all(
    client: Client, officer: User
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = csv(*[",C1/1/1/101#1,mild,by chance,,,,"] * 600)  # bad kind and found_by on every row
    client.force_login(officer)

    body = upload(client, data, status=422)
    assert len(body["details"]) == 1000
    assert body["total"] == 1799  # and 599 rows naming the resident of row 2 again
    assert body["counts"] == {"bad_case_kind": 600, "bad_found_by": 600, "duplicate_resident": 599}

    file = SimpleUploadedFile("cases.csv", data, "text/csv")
    response = client.post("/cases/batch/", {"file": file}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    html = response.content.decode()
    counts = html.split('data-testid="problem-counts"')[1]
    assert "1799 problems in all; the first 1000 are listed." in counts
    assert "duplicate_resident</span>: 599" in counts
    assert html.split('data-testid="batch-problems"')[1].count("<tr>") == 1 + 1000
