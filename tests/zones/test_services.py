"""Designating, evaluating, confirming, adjusting and lifting zones, as officers and residents see it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test import override_settings

from bastion import flows
from bastion.cases.services import protocol_adopt
from bastion.city.models import Household, Resident
from bastion.city.selectors import actor_for
from bastion.core.errors import DomainError, Forbidden, InvalidInput, InvalidTransition, NotFound
from bastion.core.models import AuditEntry
from bastion.core.scopes import SYSTEM
from bastion.zones import selectors, services
from bastion.zones.models import Zone, ZoneState
from tests.conftest import NOW, TODAY

Places = dict[str, Any]


def resident(address: str) -> Resident:
    household, number = address.split("#")
    return Resident.objects.get(household__address=household, number=int(number))


def report(address: str, now: datetime = NOW, **extra: Any) -> flows.CaseReported:
    return flows.case_reported(
        resident_id=resident(address).pk, kind="confirmed", actor=SYSTEM, now=now, **extra
    )


def at(days: int, hour: int = 9) -> datetime:
    return NOW + timedelta(days=days, hours=hour - 9)


@pytest.fixture
def officer(city: Places, make_user: Callable[..., User]) -> Any:
    return actor_for(make_user("district_officer", district=city["D1"]))


def test_a_case_puts_its_unit_at_high_risk_and_its_households_on_door_to_door_service(city: Places) -> None:
    reported = report("C1/2/1/301#1")
    zone = Zone.objects.get()
    assert (zone.address, zone.level, zone.state, zone.area) == ("C1/2/1", "high", "in_force", "unit")
    assert (zone.households, zone.residents) == (6, 18)
    assert [c.what for c in reported.zone_changes] == ["designated"]
    entry = AuditEntry.objects.get(action="zones.zone.designated")
    assert entry.reason == zone.reason
    assert str(reported.case.pk) in zone.reason
    inside = Household.objects.get(address="C1/2/1/101")
    outside = Household.objects.get(address="C1/2/2/101")
    assert selectors.service_mode(household_id=inside.pk) == selectors.DOOR_TO_DOOR
    assert selectors.service_mode(household_id=outside.pk) == selectors.NORMAL
    assert selectors.households_by_service_mode(selectors.DOOR_TO_DOOR).count() == 6
    assert selectors.locked_residents() == 18
    assert selectors.person_days(zone, today=TODAY) == 18


def test_a_courtyard_with_shared_facilities_is_locked_whole(city: Places) -> None:
    report("C2/1/1/103#1")
    zone = Zone.objects.get()
    assert (zone.address, zone.area, zone.residents) == ("C2", "compound", 16)


def test_a_second_case_in_the_same_unit_restarts_the_clock_rather_than_adding_a_zone(city: Places) -> None:
    report("C1/2/1/301#1")
    second = report("C1/2/1/102#2", now=at(3))
    zone = Zone.objects.get()
    assert zone.clock_start == TODAY + timedelta(days=3)
    assert [c.what for c in second.zone_changes] == ["clock_restarted"]
    assert zone.cases.count() == 2


def test_a_case_entered_late_starts_the_clock_on_its_report_day(city: Places) -> None:
    flows.case_reported(
        resident_id=resident("C1/2/1/301#1").pk, kind="confirmed", reported_at=at(-2), actor=SYSTEM, now=NOW
    )
    zone = Zone.objects.get()
    assert (zone.since, zone.clock_start) == (TODAY, TODAY - timedelta(days=2))
    clock = selectors.zone_clock(zone, today=TODAY)
    assert clock is not None and clock.due_on == TODAY + timedelta(days=5)


def test_under_v9_places_stayed_become_medium_zones_with_staggered_pick_up(city: Places) -> None:
    report("C1/2/1/301#1", stayed=["C3/1"])
    medium = Zone.objects.get(level="medium")
    assert medium.address == "C3/1"
    household = Household.objects.filter(compound__code="C3").first()
    assert household is not None
    assert selectors.service_mode(household_id=household.pk) == selectors.STAGGERED_PICKUP
    staggered = selectors.households_by_service_mode(selectors.STAGGERED_PICKUP)
    assert sorted(h.address for h in staggered) == sorted(
        Household.objects.filter(building__compound__code="C3", building__number=1).values_list(
            "address", flat=True
        )
    )
    # A case inside the medium zone raises it to high: its households move to door-to-door.
    report("C3/1/1/101#1", now=at(1))
    assert selectors.service_mode(household_id=household.pk) == selectors.DOOR_TO_DOOR
    assert not selectors.households_by_service_mode(selectors.STAGGERED_PICKUP).exists()


def test_the_person_days_of_a_unit_inside_a_locked_building_are_counted_once(city: Places) -> None:
    report("C1/2/1/301#1", stayed=["C1/2"])
    unit, building = Zone.objects.get(address="C1/2/1"), Zone.objects.get(address="C1/2")
    later = TODAY + timedelta(days=2)
    assert selectors.person_days(building, today=later) == building.residents * 3
    assert selectors.person_days_total([unit, building], today=later) == building.residents * 3
    # A lifted zone no longer adds up; the unit's own people count again.
    building.state = ZoneState.LIFTED
    assert selectors.person_days_total([unit, building], today=later) == unit.residents * 3


@override_settings(BASTION_ZONE_DESIGNATION="proposed")
def test_a_proposed_zone_locks_nobody_until_an_officer_confirms_it(
    city: Places, officer: Any, make_user: Callable[..., User]
) -> None:
    report("C1/2/1/301#1")
    zone = Zone.objects.get()
    assert zone.state == ZoneState.PROPOSED
    assert selectors.locked_residents() == 0
    worker = actor_for(make_user("community_worker", community=city["M1"]))
    with pytest.raises(Forbidden):
        services.zone_confirm(zone_id=zone.pk, actor=worker, now=at(0, 10))
    assert selectors.proposals_overdue(actor=officer, now=at(0, 13)) == []
    assert selectors.proposals_overdue(actor=officer, now=at(0, 14)) == [zone]
    services.zone_confirm(zone_id=zone.pk, actor=officer, now=at(0, 10))
    zone.refresh_from_db()
    assert (zone.state, zone.since) == (ZoneState.IN_FORCE, TODAY)
    assert selectors.locked_residents() == 18
    with pytest.raises(InvalidTransition):
        services.zone_confirm(zone_id=zone.pk, actor=officer, now=at(0, 11))


def test_lifting_before_the_clock_needs_an_override_and_a_reason(city: Places, officer: Any) -> None:
    report("C1/2/1/301#1")
    zone = Zone.objects.get()
    with pytest.raises(InvalidTransition) as caught:
        services.zone_lift(zone_id=zone.pk, reason="residents asked", actor=officer, now=at(2))
    assert caught.value.code == "clock_running"
    assert "2022-09-08" in str(caught.value.message)
    with pytest.raises(InvalidInput):
        services.zone_lift(zone_id=zone.pk, reason="  ", override=True, actor=officer, now=at(2))
    zone.refresh_from_db()
    assert zone.state == ZoneState.IN_FORCE
    why = "investigation: case never home"
    services.zone_lift(zone_id=zone.pk, reason=why, override=True, actor=officer, now=at(2))
    zone.refresh_from_db()
    assert (zone.state, zone.level, zone.lifted_on) == ("lifted", "low", TODAY + timedelta(days=2))
    entry = AuditEntry.objects.get(action="zones.zone.lifted_early")
    assert entry.reason == "investigation: case never home"
    assert entry.actor_id == officer.user_id
    assert selectors.locked_residents() == 0
    assert selectors.person_days(zone, today=TODAY + timedelta(days=9)) == 18 * 2


def test_an_officer_of_another_district_cannot_touch_the_zone(
    city: Places, make_user: Callable[..., User]
) -> None:
    report("C1/2/1/301#1")
    zone = Zone.objects.get()
    other = actor_for(make_user("district_officer", district=city["D2"]))
    with pytest.raises(NotFound):
        services.zone_lift(zone_id=zone.pk, reason="x", override=True, actor=other, now=at(1))
    assert not selectors.zone_list(actor=other).exists()


def test_the_evaluation_lowers_v9_zones_only_after_a_negative_day_7_screening(city: Places) -> None:
    report("C1/2/1/301#1")
    zone = Zone.objects.get()
    for day in range(1, 8):
        services.zones_evaluate(today=TODAY + timedelta(days=day), actor=SYSTEM, now=at(day, 23))
    zone.refresh_from_db()
    assert zone.level == "high"
    clock = selectors.zone_clock(zone, today=TODAY + timedelta(days=7))
    assert clock is not None
    assert (clock.to, clock.due_on, clock.screening_on, clock.ready) == (
        "medium",
        TODAY + timedelta(days=7),
        TODAY + timedelta(days=7),
        False,
    )
    services.zone_screening_record(
        zone_id=zone.pk, on=TODAY + timedelta(days=7), all_negative=False, actor=SYSTEM, now=at(7, 12)
    )
    assert services.zones_evaluate(today=TODAY + timedelta(days=7), actor=SYSTEM, now=at(7, 23)).lowered == 0
    services.zone_screening_record(
        zone_id=zone.pk, on=TODAY + timedelta(days=8), all_negative=True, actor=SYSTEM, now=at(8, 12)
    )
    first = services.zones_evaluate(today=TODAY + timedelta(days=8), actor=SYSTEM, now=at(8, 23))
    again = services.zones_evaluate(today=TODAY + timedelta(days=8), actor=SYSTEM, now=at(8, 23))
    assert (first.lowered, again.lowered) == (1, 0)
    zone.refresh_from_db()
    assert (zone.level, zone.step) == ("medium", "medium_after_high")
    assert services.zones_evaluate(today=TODAY + timedelta(days=11), actor=SYSTEM, now=at(11)).lifted == 1
    in_force = selectors.zones_in_force_on
    assert in_force(TODAY + timedelta(days=7))[None] == {"high": 1, "medium": 0}
    assert in_force(TODAY + timedelta(days=8))[None] == {"high": 0, "medium": 1}
    assert in_force(TODAY + timedelta(days=11))[None] == {"high": 0, "medium": 0}


def test_dec2022_zones_lift_after_5_days_without_a_screening(city: Places, officer: Any) -> None:
    protocol_adopt(protocol="dec2022", since=TODAY, reason="10 measures", actor=SYSTEM, now=NOW)
    report("C1/2/1/301#1")
    zone = Zone.objects.get()
    assert (zone.area, zone.residents, zone.protocol) == ("household", 3, "dec2022")
    assert services.zones_evaluate(today=TODAY + timedelta(days=4), actor=SYSTEM, now=at(4)).lifted == 0
    assert services.zones_evaluate(today=TODAY + timedelta(days=5), actor=SYSTEM, now=at(5)).lifted == 1


def test_an_officer_can_lower_a_zone_to_medium_with_a_reason(city: Places, officer: Any) -> None:
    report("C1/2/1/301#1")
    zone = Zone.objects.get()
    with pytest.raises(InvalidInput):
        services.zone_adjust(zone_id=zone.pk, level="low", reason="x", actor=officer, now=at(2))
    why = "no spread in the stairwell"
    services.zone_adjust(zone_id=zone.pk, level="medium", reason=why, actor=officer, now=at(2))
    zone.refresh_from_db()
    # Lowered by hand from high, the zone follows v9's next step: 3 more days, no screening.
    assert (zone.level, zone.step, zone.clock_start) == (
        "medium",
        "medium_after_high",
        TODAY + timedelta(days=2),
    )
    assert AuditEntry.objects.filter(action="zones.zone.adjusted", reason=why).exists()


def test_a_resident_sees_the_zone_of_their_household_and_nobody_elses(
    city: Places, make_user: Callable[..., User]
) -> None:
    report("C1/2/1/301#1")
    report("C4/1/1/101#1")
    inside = actor_for(make_user("resident", household=Household.objects.get(address="C1/2/1/201")))
    outside = actor_for(make_user("resident", household=Household.objects.get(address="C1/1/1/201")))
    assert [z.address for z in selectors.zones_visible(inside)] == ["C1/2/1"]
    assert not selectors.zones_visible(outside).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_cases_reported_at_once_in_one_unit_make_one_zone(city: Places) -> None:
    first, second = resident("C1/1/1/101#1").pk, resident("C1/1/1/302#2").pk
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def go(resident_id: int) -> None:
        try:
            barrier.wait()
            flows.case_reported(resident_id=resident_id, kind="confirmed", actor=SYSTEM, now=NOW)
        except (DomainError, threading.BrokenBarrierError) as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=go, args=(r,)) for r in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    zone = Zone.objects.get()
    assert zone.address == "C1/1/1"
    assert zone.cases.count() == 2


def test_the_reasons_the_platform_writes_are_in_the_citys_language_whoever_asks(city: Places) -> None:
    from django.utils import translation

    with translation.override("en"):
        case = report("C1/2/1/301#1").case
    zone = Zone.objects.get()
    assert zone.reason.startswith(f"病例 {case.pk}")
    assert "按单元划定高风险区" in zone.reason


def test_dec2022_keeps_the_clock_only_around_the_isolating_household(city: Places) -> None:
    protocol_adopt(protocol="dec2022", since=TODAY, reason="10 measures", actor=SYSTEM, now=NOW)
    report("C1/1/2/301#1")
    report("C1/2/1/101#1")
    # Day 3: the first case's housemate turns positive; they often stay in the second household.
    report("C1/1/2/301#3", now=at(3), frequent=["C1/2/1/101"])
    first, second = Zone.objects.get(address="C1/1/2/301"), Zone.objects.get(address="C1/2/1/101")
    assert first.clock_start == TODAY
    assert second.clock_start == TODAY + timedelta(days=3)


def test_raising_a_zone_for_a_case_entered_late_never_moves_its_clock_back(city: Places) -> None:
    report("C1/1/1/101#1", stayed=["C3/1"])  # C3/1 medium from day 0
    report("C1/1/2/101#1", now=at(5), stayed=["C3/1"])  # no restart: a stay is not an infection
    medium = Zone.objects.get(address="C3/1")
    report("C3/1/1/101#1", now=at(5))  # a case inside: restarted on day 5 and a high unit zone
    medium.refresh_from_db()
    assert medium.clock_start == TODAY + timedelta(days=5)
    flows.case_reported(
        resident_id=resident("C3/1/1/102#1").pk, kind="confirmed", reported_at=at(3), actor=SYSTEM, now=at(6)
    )
    medium.refresh_from_db()
    assert medium.clock_start == TODAY + timedelta(days=5)


def test_a_place_outside_the_officers_district_is_only_proposed_to_its_own_officers(
    city: Places, officer: Any, make_user: Callable[..., User]
) -> None:
    flows.case_reported(
        resident_id=resident("C1/2/1/301#1").pk, kind="confirmed", stayed=["C4/1"], actor=officer, now=NOW
    )
    elsewhere = Zone.objects.get(address="C4/1")
    assert (elsewhere.state, elsewhere.level) == (ZoneState.PROPOSED, "medium")
    assert Zone.objects.get(address="C1/2/1").state == ZoneState.IN_FORCE
    own = actor_for(make_user("district_officer", district=city["D2"]))
    assert list(selectors.proposals_overdue(actor=own, now=at(1))) == [elsewhere]
    assert selectors.proposals_overdue(actor=officer, now=at(1)) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_designation_does_not_wait_for_another_compounds_open_transaction(city: Places) -> None:
    created = threading.Event()
    other_done = threading.Event()
    waited: list[bool] = []

    def slow_batch() -> None:
        try:
            with transaction.atomic():
                report("C1/1/1/101#1")
                created.set()
                waited.append(other_done.wait(timeout=10))
        finally:
            connection.close()

    def single() -> None:
        try:
            created.wait(timeout=10)
            report("C3/1/1/101#1")
            other_done.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=slow_batch), threading.Thread(target=single)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The single report finished while the batch's transaction was still open.
    assert waited == [True]
    assert Zone.objects.count() == 2
