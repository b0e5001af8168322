"""Scans and results one at a time, as sampling apps and lab systems send them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.utils import translation

from bastion import flows
from bastion.cases.models import Case
from bastion.city.models import Resident
from bastion.city.selectors import actor_for, place_by_address
from bastion.core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from bastion.core.models import AuditEntry
from bastion.core.scopes import SYSTEM
from bastion.testing import selectors, services
from bastion.testing.models import Lab, Recall, RoundIssue, Scan, Site, Tube
from bastion.zones.models import Zone
from tests.conftest import NOW

Places = dict[str, Any]


def resident(address: str) -> Resident:
    household, number = address.split("#")
    return Resident.objects.get(household__address=household, number=int(number))


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


@pytest.fixture
def round_(city: Places) -> Any:
    ten = {"ratio": 10, "per_household": False}
    return services.round_open(
        code="R1",
        starts_at=NOW,
        deadline=at(24),
        places=[place_by_address("C1")],
        pooling={"high": {"ratio": 1, "per_household": True}, "medium": ten, "low": ten},
        actor=SYSTEM,
        now=NOW,
    )


@pytest.fixture
def sampler(city: Places, make_user: Callable[..., User]) -> Any:
    home = resident("C1/1/1/101#1").household
    Site.objects.create(code="S1", name="锦华社区核酸点", grid_id=home.grid_id, district_id=home.district_id)
    return actor_for(make_user("sampler"))


@pytest.fixture
def lab(city: Places, make_user: Callable[..., User]) -> Any:
    Lab.objects.create(code="L1", name="金域检测", capacity_per_hour=2000)
    return actor_for(make_user("lab"))


def scan(sampler: Any, round_: Any, address: str, tube: str, key: str | None = None, hours: float = 1) -> Any:
    return services.scan_record(
        round_id=round_.pk,
        resident_id=resident(address).pk,
        tube_barcode=tube,
        site_code="S1",
        scanned_at=at(hours),
        client_key=key,
        actor=sampler,
        now=at(hours),
    )


def test_a_scan_binds_a_resident_to_a_tube_of_the_rounds_ratio_and_a_retry_changes_nothing(
    round_: Any, sampler: Any
) -> None:
    first = scan(sampler, round_, "C1/1/1/101#1", "T0001", key="app-7:1")
    again = scan(sampler, round_, "C1/1/1/101#1", "T0001", key="app-7:1")
    assert (first.repeated, again.repeated, again.scan.pk) == (False, True, first.scan.pk)
    tube = Tube.objects.get(barcode="T0001")
    assert (tube.ratio, tube.members, tube.site_id) == (10, 1, Site.objects.get().pk)
    assert Scan.objects.count() == 1
    row = Scan.objects.get()
    assert (row.household_id, row.grid_id) == (resident("C1/1/1/101#1").household_id, row.household.grid_id)


def test_refused_scans_are_listed_in_the_rounds_exceptions_and_nothing_is_lost(
    round_: Any, sampler: Any
) -> None:
    for n in range(1, 4):
        for member in range(1, 4):
            scan(sampler, round_, f"C1/1/1/{100 + n}#{member}" if n < 3 else f"C1/1/2/101#{member}", "T0001")
    scan(sampler, round_, "C1/1/2/102#1", "T0001")  # the 10th member
    with pytest.raises(Conflict) as full:
        scan(sampler, round_, "C1/1/2/102#2", "T0001")
    assert full.value.code == "overfull_tube"
    with pytest.raises(Conflict) as twice:
        scan(sampler, round_, "C1/1/1/101#1", "T0002")
    assert twice.value.code == "duplicate_scan"
    with pytest.raises(InvalidInput) as outside:
        scan(sampler, round_, "C3/1/1/101#1", "T0002")
    assert outside.value.code == "outside_round"
    with pytest.raises(NotFound):
        services.scan_record(
            round_id=round_.pk,
            id_number="110101199003070000",
            tube_barcode="T0002",
            scanned_at=at(1),
            actor=sampler,
            now=at(1),
        )
    kinds = sorted(RoundIssue.objects.filter(round_id=round_.pk).values_list("kind", flat=True))
    assert kinds == ["duplicate_scan", "outside_round", "overfull_tube", "unknown_resident"]
    assert Tube.objects.get(barcode="T0001").members == 10
    assert not Tube.objects.filter(barcode="T0002").exists() or Tube.objects.get(barcode="T0002").members == 0


def test_in_a_high_risk_unit_a_tube_holds_one_household_by_single_ratio(round_: Any, sampler: Any) -> None:
    flows.case_reported(resident_id=resident("C1/2/1/301#1").pk, kind="confirmed", actor=SYSTEM, now=NOW)
    scan(sampler, round_, "C1/2/1/101#1", "H0001")
    assert Tube.objects.get(barcode="H0001").ratio == 1
    with pytest.raises(Conflict) as caught:
        scan(sampler, round_, "C1/2/1/101#2", "H0001")
    assert caught.value.code == "overfull_tube"
    with pytest.raises(InvalidInput) as mixed:
        scan(sampler, round_, "C1/1/1/101#1", "H0002") if False else scan(
            sampler, round_, "C1/2/1/102#1", "T0009"
        )
        scan(sampler, round_, "C1/1/1/101#1", "T0009")
    assert mixed.value.code == "wrong_pool"


def test_a_positive_pool_recalls_its_members_and_their_households_are_served_at_the_door(
    round_: Any, sampler: Any, lab: Any
) -> None:
    for member in range(1, 4):
        scan(sampler, round_, f"C1/1/1/101#{member}", "T0001")
    scan(sampler, round_, "C1/1/1/102#1", "T0002")
    outcome = flows.tube_resulted(
        barcode="T0001", result="positive", resulted_at=at(12), lab_code="L1", actor=lab, now=at(12)
    )
    assert sorted(outcome.resulted.recalled) == sorted(resident(f"C1/1/1/101#{m}").pk for m in range(1, 4))
    assert outcome.cases == []  # a pool decides nothing about a person
    isolated = selectors.households_isolated_in_place()
    assert [h.address for h in isolated] == ["C1/1/1/101"]
    same = flows.tube_resulted(barcode="T0001", result="positive", resulted_at=at(13), actor=lab, now=at(13))
    assert same.resulted.repeated and Recall.objects.count() == 3
    with pytest.raises(Conflict) as caught:
        flows.tube_resulted(barcode="T0001", result="negative", resulted_at=at(13), actor=lab, now=at(13))
    assert caught.value.code == "already_resulted"
    with pytest.raises(NotFound):
        flows.tube_resulted(barcode="NOPE", result="negative", resulted_at=at(13), actor=lab, now=at(13))
    assert sorted(RoundIssue.objects.values_list("kind", flat=True)) == ["already_resulted", "unknown_tube"]
    # The single-tube retests decide: one positive opens a case (and its zone), one clears.
    services.scan_record(
        round_id=round_.pk,
        resident_id=resident("C1/1/1/101#1").pk,
        tube_barcode="RT1",
        scanned_at=at(20),
        retest=True,
        actor=sampler,
        now=at(20),
    )
    services.scan_record(
        round_id=round_.pk,
        resident_id=resident("C1/1/1/101#2").pk,
        tube_barcode="RT2",
        scanned_at=at(20),
        retest=True,
        actor=sampler,
        now=at(20),
    )
    positive = flows.tube_resulted(
        barcode="RT1", result="positive", resulted_at=at(24), actor=lab, now=at(24)
    )
    flows.tube_resulted(barcode="RT2", result="negative", resulted_at=at(24), actor=lab, now=at(24))
    case = Case.objects.get()
    assert [c.case for c in positive.cases] == [case]
    assert (case.resident_id, case.found_by, case.kind) == (
        resident("C1/1/1/101#1").pk,
        "screening",
        "asymptomatic",
    )
    assert Zone.objects.get().address == "C1/1/1"
    progress = selectors.round_progress(round_)
    assert (progress.recalls_open, progress.recalls_closed) == (1, 2)
    with pytest.raises(Conflict) as no_recall:
        services.scan_record(
            round_id=round_.pk,
            resident_id=resident("C1/1/1/102#1").pk,
            tube_barcode="RT3",
            scanned_at=at(25),
            retest=True,
            actor=sampler,
            now=at(25),
        )
    assert no_recall.value.code == "no_recall"


def test_only_samplers_scan_and_only_labs_result(
    round_: Any, sampler: Any, lab: Any, make_user: Callable[..., User]
) -> None:
    worker = actor_for(make_user("community_worker", community=resident("C1/1/1/101#1").community))
    with pytest.raises(Forbidden):
        services.scan_record(
            round_id=round_.pk,
            resident_id=resident("C1/1/1/101#1").pk,
            tube_barcode="T1",
            scanned_at=at(1),
            actor=worker,
            now=at(1),
        )
    scan(sampler, round_, "C1/1/1/101#1", "T1")
    with pytest.raises(Forbidden):
        flows.tube_resulted(barcode="T1", result="negative", resulted_at=at(2), actor=sampler, now=at(2))
    assert Tube.objects.get(barcode="T1").result == ""


def test_a_zones_round_records_its_full_screening_when_the_last_result_is_in(city: Places, lab: Any) -> None:
    flows.case_reported(resident_id=resident("C1/2/1/301#1").pk, kind="confirmed", actor=SYSTEM, now=NOW)
    zone = Zone.objects.get()
    later = NOW + timedelta(days=7)
    round_ = services.round_open(
        code="Z7",
        starts_at=later,
        deadline=later + timedelta(hours=24),
        zone_id=zone.pk,
        actor=SYSTEM,
        now=later,
    )
    people = list(Resident.objects.filter(household__unit_id=zone.unit_id).select_related("household"))
    for n, person in enumerate(people):
        services.scan_record(
            round_id=round_.pk,
            resident_id=person.pk,
            tube_barcode=f"Z-{n}",
            scanned_at=later,
            actor=SYSTEM,
            now=later,
        )
    barcodes = list(Tube.objects.filter(round_id=round_.pk).values_list("barcode", flat=True))
    assert all(t.ratio == 1 for t in Tube.objects.filter(round_id=round_.pk))  # high risk: single tubes
    for barcode in barcodes[:-1]:
        assert not flows.tube_resulted(
            barcode=barcode, result="negative", resulted_at=later, actor=lab, now=later
        ).zone_screened
    assert flows.tube_resulted(
        barcode=barcodes[-1], result="negative", resulted_at=later, actor=lab, now=later
    ).zone_screened
    screening = zone.screenings.get()
    assert (screening.on, screening.all_negative, screening.sampled) == (later.date(), True, len(people))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_samplers_filling_the_last_place_of_a_tube_at_once_make_one_member(
    city: Places, make_user: Callable[..., User]
) -> None:
    ten = {"ratio": 10, "per_household": False}
    round_ = services.round_open(
        code="R2",
        starts_at=NOW,
        deadline=at(24),
        places=[place_by_address("C1")],
        pooling={"high": {"ratio": 1, "per_household": True}, "medium": ten, "low": ten},
        actor=SYSTEM,
        now=NOW,
    )
    people = [resident(f"C1/1/{u}/{r}#{m}").pk for u in (1, 2) for r in (101, 102) for m in (1, 2, 3)]
    for person in people[:9]:
        services.scan_record(
            round_id=round_.pk,
            resident_id=person,
            tube_barcode="T-LAST",
            scanned_at=NOW,
            actor=SYSTEM,
            now=NOW,
        )
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def go(person: int) -> None:
        try:
            barrier.wait()
            services.scan_record(
                round_id=round_.pk,
                resident_id=person,
                tube_barcode="T-LAST",
                scanned_at=NOW,
                actor=SYSTEM,
                now=NOW,
            )
            outcomes.append("taken")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=go, args=(p,)) for p in people[9:11]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["overfull_tube", "taken"]
    assert Tube.objects.get(barcode="T-LAST").members == 10
    assert Scan.objects.filter(tube__barcode="T-LAST").count() == 10


def test_a_site_added_in_the_admin_is_audited_and_takes_its_grids_district(
    admin_client: Any, city: Places
) -> None:
    from bastion.core.models import AuditEntry

    client = admin_client
    grid = resident("C4/1/1/101#1").household.grid
    response = client.post(
        "/admin/testing/site/add/",
        {"code": "S9", "name": "望江核酸点", "grid": grid.pk, "samplers": 4, "capacity_per_hour": 240},
    )
    assert response.status_code == 302, response.content[:500]
    site = Site.objects.get(code="S9")
    assert site.district_id == grid.district_id
    assert AuditEntry.objects.filter(object_type="testing.site", object_id=str(site.pk)).exists()


def test_a_household_awaiting_a_retest_is_served_at_the_door_until_the_retest_clears_it(
    round_: Any, sampler: Any, lab: Any
) -> None:
    from bastion.lockdown import selectors as lockdown

    home = resident("C1/1/1/101#1").household
    for member in range(1, 4):
        scan(sampler, round_, f"C1/1/1/101#{member}", "T0001")
    assert lockdown.service_mode(household_id=home.pk) == lockdown.NORMAL
    flows.tube_resulted(barcode="T0001", result="invalid", resulted_at=at(12), actor=lab, now=at(12))
    assert lockdown.service_mode(household_id=home.pk) == lockdown.DOOR_TO_DOOR
    assert [h.address for h in lockdown.households_on(lockdown.DOOR_TO_DOOR)] == ["C1/1/1/101"]
    for member in range(1, 4):
        barcode = f"RT{member}"
        services.scan_record(
            round_id=round_.pk,
            resident_id=resident(f"C1/1/1/101#{member}").pk,
            tube_barcode=barcode,
            scanned_at=at(20),
            retest=True,
            actor=sampler,
            now=at(20),
        )
        flows.tube_resulted(barcode=barcode, result="negative", resulted_at=at(22), actor=lab, now=at(22))
    assert lockdown.service_mode(household_id=home.pk) == lockdown.NORMAL
    assert not lockdown.households_on(lockdown.DOOR_TO_DOOR).exists()


def test_turnaround_is_reported_by_nearest_rank_from_first_scan_to_result(round_: Any) -> None:
    from bastion.testing import rules

    hours = [1, 2, 3, 4, 5, 6, 7, 8, 9, 30]
    for n, h in enumerate(hours):
        Tube.objects.create(
            round_id=round_.pk,
            barcode=f"TT{n}",
            ratio=10,
            first_scan_at=NOW,
            resulted_at=at(h),
            result="negative",
        )
    Tube.objects.create(round_id=round_.pk, barcode="TT-PENDING", ratio=10, first_scan_at=NOW)
    progress = selectors.round_progress(round_)
    expected = (rules.percentile(hours, 50), rules.percentile(hours, 95), 30.0)
    assert (
        progress.turnaround_p50_hours,
        progress.turnaround_p95_hours,
        progress.turnaround_max_hours,
    ) == expected
    assert expected == (5, 30, 30.0)


def test_after_an_invalid_retest_the_person_is_sampled_again_and_the_new_retest_decides(
    round_: Any, sampler: Any, lab: Any
) -> None:
    for member in range(1, 3):
        scan(sampler, round_, f"C1/1/1/101#{member}", "T0001")
    flows.tube_resulted(barcode="T0001", result="positive", resulted_at=at(12), actor=lab, now=at(12))
    person = resident("C1/1/1/101#1").pk

    def retest(barcode: str, hours: float) -> None:
        services.scan_record(
            round_id=round_.pk,
            resident_id=person,
            tube_barcode=barcode,
            scanned_at=at(hours),
            retest=True,
            actor=sampler,
            now=at(hours),
        )

    retest("RT-A", 14)
    with pytest.raises(Conflict) as waiting:
        retest("RT-B", 15)  # the first retest is still at the lab
    assert waiting.value.code == "duplicate_scan"
    flows.tube_resulted(barcode="RT-A", result="invalid", resulted_at=at(16), actor=lab, now=at(16))
    assert Recall.objects.get(resident_id=person).state == "open"
    retest("RT-B", 17)
    flows.tube_resulted(barcode="RT-B", result="negative", resulted_at=at(19), actor=lab, now=at(19))
    recall = Recall.objects.get(resident_id=person)
    assert (recall.state, recall.result) == ("retested", "negative")


def test_a_zone_lifted_before_its_rounds_last_result_keeps_the_result_and_records_no_screening(
    city: Places, lab: Any
) -> None:
    from bastion.zones import services as zone_services

    flows.case_reported(resident_id=resident("C1/2/1/301#1").pk, kind="confirmed", actor=SYSTEM, now=NOW)
    zone = Zone.objects.get()
    day6 = NOW + timedelta(days=6)
    round_ = services.round_open(
        code="Z6",
        starts_at=day6,
        deadline=day6 + timedelta(hours=24),
        zone_id=zone.pk,
        actor=SYSTEM,
        now=day6,
    )
    services.scan_record(
        round_id=round_.pk,
        resident_id=resident("C1/2/1/301#2").pk,
        tube_barcode="Z6-1",
        scanned_at=day6,
        actor=SYSTEM,
        now=day6,
    )
    zone_services.zone_lift(zone_id=zone.pk, reason="wrongly drawn", override=True, actor=SYSTEM, now=day6)
    outcome = flows.tube_resulted(barcode="Z6-1", result="negative", resulted_at=day6, actor=lab, now=day6)
    assert not outcome.zone_screened
    assert Tube.objects.get(barcode="Z6-1").result == "negative"
    assert not zone.screenings.exists()


def test_a_zone_round_sampled_on_day_6_and_resulted_after_midnight_is_not_the_day_7_screening(
    city: Places, lab: Any
) -> None:
    flows.case_reported(resident_id=resident("C1/2/1/301#1").pk, kind="confirmed", actor=SYSTEM, now=NOW)
    zone = Zone.objects.get()
    sampled = NOW + timedelta(days=6, hours=12)  # 21:00 on 09-07, city time
    resulted = sampled + timedelta(hours=4)  # 01:00 on 09-08
    round_ = services.round_open(
        code="Z6",
        starts_at=sampled,
        deadline=sampled + timedelta(hours=24),
        zone_id=zone.pk,
        actor=SYSTEM,
        now=sampled,
    )
    people = list(Resident.objects.filter(household__unit_id=zone.unit_id))
    for n, person in enumerate(people):
        services.scan_record(
            round_id=round_.pk,
            resident_id=person.pk,
            tube_barcode=f"Z6-{n}",
            scanned_at=sampled,
            actor=SYSTEM,
            now=sampled,
        )
    for n in range(len(people)):
        flows.tube_resulted(
            barcode=f"Z6-{n}", result="negative", resulted_at=resulted, actor=lab, now=resulted
        )
    assert zone.screenings.get().on.isoformat() == "2022-09-07"


def test_closing_a_round_refuses_later_scans_but_takes_earlier_ones_and_results(
    city: Places, round_: Any, sampler: Any, lab: Any, make_user: Callable[..., User]
) -> None:
    """A round closed at 11:00: a scan made at 12:00 is refused and listed; a scan made at
    10:30 by a device that was offline still comes in, and the lab's result is taken."""
    scan(sampler, round_, "C1/1/1/101#1", "T0001", hours=1)
    officer = actor_for(make_user("district_officer", district=city["D1"]))
    stranger = actor_for(make_user("district_officer", district=city["D2"]))
    with pytest.raises(InvalidInput) as no_reason:
        services.round_close(round_=round_, actor=officer, now=at(2))
    assert no_reason.value.code == "reason_required"
    with pytest.raises(NotFound):
        services.round_close(round_=round_, reason="done", actor=stranger, now=at(2))
    with pytest.raises(Forbidden):
        services.round_close(round_=round_, reason="done", actor=sampler, now=at(2))
    services.round_close(round_=round_, reason="全员已采", actor=officer, now=at(2))
    round_.refresh_from_db()
    assert (round_.state, round_.closed_at) == ("closed", at(2))
    entry = AuditEntry.objects.get(action="testing.round.closed")
    assert (entry.after["reason"], entry.actor_id) == ("全员已采", officer.user_id)
    with pytest.raises(Conflict) as again:
        services.round_close(round_=round_, reason="again", actor=officer, now=at(3))
    assert again.value.code == "round_closed"

    with pytest.raises(Conflict) as late, translation.override("zh-hans"):
        scan(sampler, round_, "C1/1/1/101#2", "T0001", hours=3)
    assert late.value.code == "outside_time"
    assert str(late.value.message) == "本轮检测已关闭，此次采样在关闭之后。"
    offline = scan(sampler, round_, "C1/1/1/101#3", "T0001", hours=1.5)
    assert not offline.repeated
    assert Tube.objects.get(barcode="T0001").members == 2
    issue = RoundIssue.objects.get(round_id=round_.pk)
    assert (issue.kind, issue.detail["resident_id"]) == ("outside_time", resident("C1/1/1/101#2").pk)
    resulted = services.tube_result(
        barcode="T0001", result="negative", resulted_at=at(5), lab_code="L1", actor=lab, now=at(5)
    )
    assert resulted.tube.result == "negative"


def test_a_scan_before_the_rounds_start_is_refused_and_listed(round_: Any, sampler: Any) -> None:
    with pytest.raises(InvalidInput) as early:
        scan(sampler, round_, "C1/1/1/101#1", "T0001", hours=-0.5)
    assert early.value.code == "outside_time"
    assert not Scan.objects.exists()
    assert list(RoundIssue.objects.values_list("kind", flat=True)) == ["outside_time"]
    # The same person at the start is taken.
    assert not scan(sampler, round_, "C1/1/1/101#1", "T0001", hours=0).repeated
