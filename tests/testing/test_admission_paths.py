"""Tube admission and the round's time window are each one rule (`testing.rules.tube_refusal`,
`testing.rules.outside_time`) written again, for speed, as the prepared SQL of the single scan's
fast way and as the bulk loader's column expressions. Every case of the rules' tables goes
through every path, and every path must decide it as the rule does: no path can drift."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from bastion.city.models import Household, Resident
from bastion.core.errors import Conflict, DomainError, InvalidInput
from bastion.core.scopes import SYSTEM
from bastion.testing import ingest, rules, services
from bastion.testing.models import Round, RoundIssue, Scan, Tube
from bastion.testing.services import scans as scan_services
from bastion.testing.services import scans_fast
from tests.conftest import NOW

Places = dict[str, Any]
ADMITTED = "admitted"
SCANNED_AT = NOW + timedelta(hours=1)


# --- the cases, as rows of the database -----------------------------------------------------


def _people() -> tuple[list[int], list[int]]:
    """The scanning person's household (the person first) and a neighbour's, of three each."""
    home, neighbour = Household.objects.filter(compound__code="C1").order_by("pk")[:2]
    return (
        list(Resident.objects.filter(household=home).order_by("pk").values_list("pk", flat=True)),
        list(Resident.objects.filter(household=neighbour).order_by("pk").values_list("pk", flat=True)),
    )


def _round(code: str, *, ratio: int, per_household: bool, starts_at: datetime = NOW) -> Round:
    """A round whose people all pool alike, whatever zone they live in."""
    pooling = {level: {"ratio": ratio, "per_household": per_household} for level in ("high", "medium", "low")}
    return services.round_open(
        code=code,
        starts_at=starts_at,
        deadline=starts_at + timedelta(days=1),
        pooling=pooling,
        actor=SYSTEM,
        now=NOW,
    )


def _arrange(number: int, case: rules.AdmissionCase, other_round: Round) -> tuple[Round, str, int]:
    """The case's round, the tube as the case finds it (its member households each with one
    scan), and the scanning person: (round, barcode, resident id)."""
    home, neighbour = _people()
    round_ = _round(f"A{number}", ratio=case.scan.ratio, per_household=case.scan.per_household)
    barcode = f"T{number:03d}"
    tube = case.tube
    if tube is not None:
        in_round = round_ if tube.round_id == case.scan.round_id else other_round
        household = Resident.objects.get(pk=home[0]).household
        made = Tube.objects.create(
            round=in_round,
            barcode=barcode,
            ratio=tube.ratio,
            retest=tube.retest,
            members=tube.members,
            sealed_at=NOW if tube.sealed else None,
            district_id=household.district_id,
            grid_id=household.grid_id,
            first_scan_at=NOW,
        )
        for household_id in sorted(tube.households):
            member = home[1] if household_id == case.scan.household_id else neighbour[0]
            person = Resident.objects.select_related("household").get(pk=member)
            Scan.objects.create(
                round=in_round,
                tube=made,
                resident_id=member,
                household_id=person.household_id,
                grid_id=person.household.grid_id,
                district_id=person.household.district_id,
                retest=tube.retest,
                scanned_at=NOW,
            )
    return round_, barcode, home[0]


def _expected_kind(case: rules.AdmissionCase) -> str:
    return ADMITTED if case.refusal is None else rules.ADMISSION_KIND[case.refusal]


def _decided_by(path: Callable[[Round, str, int], str]) -> dict[str, str]:
    other_round = _round("OTHER", ratio=5, per_household=False)
    return {
        case.name: path(*_arrange(number, case, other_round))
        for number, case in enumerate(rules.ADMISSION_CASES)
    }


# --- the rule and its table --------------------------------------------------------------


def test_the_rule_decides_every_case_of_its_table() -> None:
    decided = {
        case.name: None if case.tube is None else rules.tube_refusal(case.tube, case.scan)
        for case in rules.ADMISSION_CASES
    }
    assert decided == {case.name: case.refusal for case in rules.ADMISSION_CASES}
    assert len({case.name for case in rules.ADMISSION_CASES}) == len(rules.ADMISSION_CASES)


def test_every_refusal_of_the_rule_has_a_case_and_a_round_exception() -> None:
    refusals = {case.refusal for case in rules.ADMISSION_CASES} - {None}
    assert refusals == set(rules.ADMISSION_KIND)
    assert {str(kind) for kind in ingest.sql.WHY_KIND.values()} >= set(rules.ADMISSION_KIND.values())


# --- every path ------------------------------------------------------------------------------


def _step_by_step(round_: Round, barcode: str, resident_id: int) -> str:
    try:
        scan_services._scan_record_checked(
            round_id=round_.pk,
            resident_id=resident_id,
            tube_barcode=barcode,
            scanned_at=SCANNED_AT,
            actor=SYSTEM,
            now=NOW,
        )
    except DomainError as refused:
        return refused.code
    return ADMITTED


def _as_devices_send_it(round_: Round, barcode: str, resident_id: int) -> str:
    try:
        services.scan_record(
            round_code=round_.code,
            resident_id=resident_id,
            tube_barcode=barcode,
            scanned_at=SCANNED_AT,
            actor=SYSTEM,
            now=NOW,
        )
    except DomainError as refused:
        return refused.code
    return ADMITTED


def test_the_step_by_step_scan_decides_every_case_as_the_rule(city: Places) -> None:
    decided = _decided_by(_step_by_step)
    assert decided == {case.name: _expected_kind(case) for case in rules.ADMISSION_CASES}


def test_a_devices_scan_decides_every_case_as_the_rule(city: Places) -> None:
    decided = _decided_by(_as_devices_send_it)
    assert decided == {case.name: _expected_kind(case) for case in rules.ADMISSION_CASES}
    assert RoundIssue.objects.count() == sum(1 for case in rules.ADMISSION_CASES if case.refusal)


def test_the_fast_way_takes_exactly_the_scans_the_rule_admits(city: Places) -> None:
    """The prepared SQL takes a first pooled scan outside one-household areas, or nothing (the
    step-by-step path then says why): it must take every such scan the rule admits, no other."""

    def fast(round_: Round, barcode: str, resident_id: int) -> str:
        taken = scans_fast.scan_fast(
            round_id=round_.pk,
            round_code=None,
            resident_id=resident_id,
            id_number=None,
            barcode=barcode,
            site_code=None,
            scanned_at=SCANNED_AT,
            sampler="",
            client_key=None,
            actor=SYSTEM,
            now=SCANNED_AT,
        )
        return ADMITTED if taken is not None else "not taken"

    decided = _decided_by(fast)
    assert decided == {
        case.name: ADMITTED if case.refusal is None and not case.scan.per_household else "not taken"
        for case in rules.ADMISSION_CASES
    }


@pytest.mark.parametrize("snapshot", [False, True], ids=["per-chunk", "snapshot"])
def test_the_bulk_loader_decides_every_case_as_the_rule(city: Places, snapshot: bool) -> None:
    def loaded(round_: Round, barcode: str, resident_id: int) -> str:
        line = f"resident,tube,scanned_at\n{resident_id},{barcode},{SCANNED_AT.isoformat()}\n"
        report = ingest.scans_load(
            file=io.BytesIO(line.encode()),
            filename=f"{round_.code}.csv",
            round_code=round_.code,
            snapshot=snapshot,
            actor=SYSTEM,
            now=NOW,
        )
        if report.taken:
            return ADMITTED
        return str(RoundIssue.objects.get(round=round_).detail["reason"])

    decided = _decided_by(loaded)
    assert decided == {case.name: case.refusal or ADMITTED for case in rules.ADMISSION_CASES}


# --- the round's time ------------------------------------------------------------------------


def _time_round(number: int, starts_at: datetime, closed_at: datetime | None) -> Round:
    round_ = _round(f"W{number}", ratio=5, per_household=False, starts_at=starts_at)
    if closed_at is not None:
        round_ = services.round_close(round_=round_, reason="全员已采", actor=SYSTEM, now=closed_at)
    return round_


def _times_decided_by(path: Callable[[Round, datetime, int], str | None]) -> dict[str, str | None]:
    person = _people()[0][0]
    return {
        name: path(_time_round(number, starts_at, closed_at), scanned_at, person)
        for number, (name, scanned_at, starts_at, closed_at, _why) in enumerate(rules.TIME_CASES)
    }


EXPECTED_TIMES = {name: why for name, _at, _start, _closed, why in rules.TIME_CASES}


def test_the_time_rule_decides_every_case_of_its_table() -> None:
    decided = {
        name: rules.outside_time(scanned_at=at, starts_at=start, closed_at=closed)
        for name, at, start, closed, _why in rules.TIME_CASES
    }
    assert decided == EXPECTED_TIMES


def test_a_devices_scan_keeps_the_rounds_time_as_the_rule(city: Places) -> None:
    # Refused as invalid before the start, as a conflict after the closing.
    refusal = {InvalidInput: rules.BEFORE_START, Conflict: rules.AFTER_CLOSE}

    def scanned(round_: Round, at: datetime, person: int) -> str | None:
        try:
            services.scan_record(
                round_id=round_.pk,
                resident_id=person,
                tube_barcode=f"{round_.code}-T",
                scanned_at=at,
                actor=SYSTEM,
                now=NOW,
            )
        except DomainError as refused:
            assert refused.code == "outside_time"
            return refusal[type(refused)]
        return None

    assert _times_decided_by(scanned) == EXPECTED_TIMES


def test_the_fast_way_takes_only_scans_within_the_rounds_time(city: Places) -> None:
    def fast(round_: Round, at: datetime, person: int) -> str | None:
        taken = scans_fast.scan_fast(
            round_id=round_.pk,
            round_code=None,
            resident_id=person,
            id_number=None,
            barcode=f"{round_.code}-T",
            site_code=None,
            scanned_at=at,
            sampler="",
            client_key=None,
            actor=SYSTEM,
            now=SCANNED_AT,
        )
        return None if taken is not None else "outside"

    assert _times_decided_by(fast) == {name: why and "outside" for name, why in EXPECTED_TIMES.items()}


@pytest.mark.parametrize("snapshot", [False, True], ids=["per-chunk", "snapshot"])
def test_the_bulk_loader_keeps_the_rounds_time_as_the_rule(city: Places, snapshot: bool) -> None:
    def loaded(round_: Round, at: datetime, person: int) -> str | None:
        line = f"resident,tube,scanned_at\n{person},{round_.code}-T,{at.isoformat()}\n"
        report = ingest.scans_load(
            file=io.BytesIO(line.encode()),
            filename="w.csv",
            round_code=round_.code,
            snapshot=snapshot,
            actor=SYSTEM,
            now=NOW,
        )
        return None if report.taken else str(RoundIssue.objects.get(round=round_).detail["reason"])

    assert _times_decided_by(loaded) == EXPECTED_TIMES


@pytest.mark.parametrize("snapshot", [False, True], ids=["per-chunk", "snapshot"])
def test_within_one_file_the_loader_decides_as_scans_one_after_another(city: Places, snapshot: bool) -> None:
    """A file's lines for one tube are judged as if scanned one by one: in a one-household area
    of single tubes, a neighbour's line after the tube is taken finds it full, as a device's
    scan would."""
    home, neighbour = _people()
    lines = [(neighbour[0], "1"), (home[0], "1"), (home[1], "2"), (home[2], "2")]
    devices = _round("S", ratio=1, per_household=True)
    one_by_one = [_as_devices_send_it(devices, f"S{tube}", person) for person, tube in lines]
    file_round = _round("F", ratio=1, per_household=True)
    data = "resident,tube,scanned_at\n" + "".join(
        f"{person},F{tube},{(SCANNED_AT + timedelta(minutes=n)).isoformat()}\n"
        for n, (person, tube) in enumerate(lines)
    )
    ingest.scans_load(
        file=io.BytesIO(data.encode()),
        filename="f.csv",
        round_code="F",
        snapshot=snapshot,
        actor=SYSTEM,
        now=NOW,
    )
    reasons = {
        int(i.detail["line"]): str(i.detail["reason"]) for i in RoundIssue.objects.filter(round=file_round)
    }
    loaded = [
        rules.ADMISSION_KIND[reasons[n + 2]] if n + 2 in reasons else ADMITTED for n in range(len(lines))
    ]
    assert one_by_one == [ADMITTED, "overfull_tube", ADMITTED, "overfull_tube"]
    assert loaded == one_by_one
