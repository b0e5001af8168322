"""Health codes as residents, officers and venues see them: each colour follows its trigger in
the trigger's own transaction, says why, keeps its history, and checks by token."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.utils import translation

from bastion import flows
from bastion.city.models import Resident
from bastion.city.selectors import actor_for, place_by_address
from bastion.codes import api as codes_api
from bastion.codes import rules, selectors, services, tokens
from bastion.codes.models import CodeChange, HealthCode, Trigger
from bastion.codes.policy import code_rules
from bastion.core import devices
from bastion.core import sql as core_sql
from bastion.core.errors import Forbidden, InvalidInput, NotFound
from bastion.core.models import AuditEntry
from bastion.core.scopes import SYSTEM
from bastion.testing import selectors as testing_selectors
from bastion.testing import services as testing
from bastion.testing.models import Lab, Site
from bastion.zones.models import Zone
from tests.conftest import NOW

Places = dict[str, Any]


def resident(address: str) -> Resident:
    household, number = address.split("#")
    return Resident.objects.get(household__address=household, number=int(number))


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


def code(address: str) -> tuple[str, str]:
    """(colour, rule) as stored; green and no rule for a resident never coloured."""
    row = HealthCode.objects.filter(pk=resident(address).pk).values_list("colour", "rule").first()
    return row or ("green", "")


def report(address: str, now: datetime = NOW) -> flows.CaseReported:
    return flows.case_reported(resident_id=resident(address).pk, kind="confirmed", actor=SYSTEM, now=now)


def test_a_case_turns_red_with_its_zone_in_the_same_transaction_and_says_why(city: Places) -> None:
    report("C1/2/1/301#1")
    assert code("C1/2/1/301#1") == ("red", "case")
    # The case's unit is a high-risk zone: everyone in it is red for the zone, nobody else changes.
    assert code("C1/2/1/101#2") == ("red", "high_risk_zone")
    assert code("C1/2/2/101#1") == ("green", "")
    assert HealthCode.objects.count() == Zone.objects.get().residents
    change = CodeChange.objects.get(resident=resident("C1/2/1/301#1"))
    assert (change.was, change.colour, change.trigger, change.version) == (
        "green",
        "red",
        "case",
        "2022-v9-1",
    )
    audit = AuditEntry.objects.get(action="codes.recoloured")
    assert audit.after["changed"] == HealthCode.objects.count()
    view = selectors.code_of(actor=SYSTEM, resident_id=resident("C1/2/1/101#2").pk)
    with translation.override("zh-hans"):
        said = selectors.code_of(actor=SYSTEM, resident_id=resident("C1/2/1/101#2").pk).reason
    assert "高风险区" in said
    assert view.set_at == NOW


def test_lifting_the_zone_turns_its_residents_green_at_once(city: Places) -> None:
    report("C1/2/1/301#1")
    zone = Zone.objects.get()
    flows.case_discharged(case_id=_first_case(), actor=SYSTEM, now=at(1))
    flows.zone_lifted(zone_id=zone.pk, reason="核查后解除", override=True, actor=SYSTEM, now=at(2))
    assert code("C1/2/1/101#2") == ("green", "")
    # The discharged case is under home monitoring: yellow, and says so.
    assert code("C1/2/1/301#1") == ("yellow", "home_monitoring")
    lifted = CodeChange.objects.filter(resident=resident("C1/2/1/101#2")).order_by("at").last()
    assert lifted is not None and (lifted.was, lifted.colour, lifted.trigger) == ("red", "green", "zone")


def test_contacts_are_red_or_yellow_and_the_end_of_quarantine_gives_green(city: Places) -> None:
    reported = report("C1/2/1/301#1")
    close = flows.contact_added(
        resident_id=resident("C2/1/1/101#1").pk,
        kind="close",
        last_exposure_on=NOW.date(),
        case_id=reported.case.pk,
        actor=SYSTEM,
        now=NOW,
    )
    flows.contact_added(
        resident_id=resident("C2/1/1/102#1").pk,
        kind="secondary",
        last_exposure_on=NOW.date(),
        via_contact_id=close.pk,
        actor=SYSTEM,
        now=NOW,
    )
    assert code("C2/1/1/101#1") == ("red", "close_contact")
    assert code("C2/1/1/102#1") == ("yellow", "secondary_contact")
    # Day by day the releases run; by the end of every plan and monitoring, both are green.
    for day in range(1, 20):
        flows.quarantines_released(NOW + timedelta(days=day))
    assert code("C2/1/1/101#1") == ("green", "")
    assert code("C2/1/1/102#1") == ("green", "")
    history = list(
        CodeChange.objects.filter(resident=resident("C2/1/1/101#1"))
        .order_by("at")
        .values_list("colour", flat=True)
    )
    assert history[0] == "red" and history[-1] == "green"


@pytest.fixture
def round_(city: Places) -> Any:
    ten = {"ratio": 10, "per_household": False}
    Lab.objects.create(code="L1", name="金域检测", capacity_per_hour=2000)
    home = resident("C1/1/1/101#1").household
    Site.objects.create(code="S1", name="锦华社区核酸点", grid_id=home.grid_id, district_id=home.district_id)
    return testing.round_open(
        code="R1",
        starts_at=NOW,
        deadline=at(24),
        places=[place_by_address("C1/1/1")],
        pooling={"high": {"ratio": 1, "per_household": True}, "medium": ten, "low": ten},
        actor=SYSTEM,
        now=NOW,
    )


def scan(round_: Any, address: str, tube: str, hours: float = 1, retest: bool = False) -> None:
    testing.scan_record(
        round_id=round_.pk,
        resident_id=resident(address).pk,
        tube_barcode=tube,
        site_code="S1",
        scanned_at=at(hours),
        retest=retest,
        actor=SYSTEM,
        now=at(hours),
    )


def test_a_positive_pool_makes_its_members_yellow_and_a_negative_retest_green_the_same_hour(
    round_: Any,
) -> None:
    for member in range(1, 4):
        scan(round_, f"C1/1/1/101#{member}", "T1")
    flows.tube_resulted(
        barcode="T1", result="positive", resulted_at=at(12), lab_code="L1", actor=SYSTEM, now=at(12)
    )
    assert code("C1/1/1/101#2") == ("yellow", "pool_retest")
    scan(round_, "C1/1/1/101#2", "RT2", hours=13, retest=True)
    flows.tube_resulted(barcode="RT2", result="negative", resulted_at=at(14), actor=SYSTEM, now=at(14))
    assert code("C1/1/1/101#2") == ("green", "")
    assert HealthCode.objects.get(pk=resident("C1/1/1/101#2").pk).set_at == at(14)
    assert code("C1/1/1/101#3") == ("yellow", "pool_retest")


def test_a_round_deadline_turns_the_unsampled_yellow_and_a_later_test_green(round_: Any) -> None:
    scan(round_, "C1/1/1/101#1", "T1")
    flows.rounds_due(at(23))  # before the deadline: nothing
    assert code("C1/1/1/102#1") == ("green", "")
    flows.rounds_due(at(24.25))
    assert code("C1/1/1/102#1") == ("yellow", "missed_screening")
    assert code("C1/1/1/101#1") == ("green", "")
    assert code("C1/2/1/101#1") == ("green", "")  # outside the round
    flows.rounds_due(at(25))  # once per round
    assert CodeChange.objects.filter(resident=resident("C1/1/1/102#1")).count() == 1
    # Tested in the next round: green at the codes' next quarter hour.
    later = testing.round_open(
        code="R2",
        starts_at=at(30),
        deadline=at(50),
        places=[place_by_address("C1/1/1/102")],
        pooling={
            "high": {"ratio": 1, "per_household": True},
            "medium": {"ratio": 1, "per_household": False},
            "low": {"ratio": 1, "per_household": False},
        },
        actor=SYSTEM,
        now=at(30),
    )
    scan(later, "C1/1/1/102#1", "T9", hours=31)
    flows.codes_timed(at(31.25))
    assert code("C1/1/1/102#1") == ("green", "")
    assert code("C1/1/1/102#2") == ("yellow", "missed_screening")
    # A missed round counts for the rules' window only (7 days after R2's deadline, too:
    # #2 missed that one as well).
    flows.codes_timed(at(24 + 24 * 7 + 1))
    assert code("C1/1/1/102#2") == ("yellow", "missed_screening")
    flows.codes_timed(at(50 + 24 * 7 + 1))
    assert code("C1/1/1/102#2") == ("green", "")


def _open_r2(hours: float = 30) -> Any:
    """A second round over C1/1/1/102, started `hours` after NOW."""
    one = {"ratio": 1, "per_household": False}
    return testing.round_open(
        code="R2",
        starts_at=at(hours),
        deadline=at(hours + 20),
        places=[place_by_address("C1/1/1/102")],
        pooling={"high": {"ratio": 1, "per_household": True}, "medium": one, "low": one},
        actor=SYSTEM,
        now=at(hours),
    )


def _coded() -> list[tuple[int, str, str, int]]:
    return list(HealthCode.objects.order_by("pk").values_list("pk", "colour", "rule", "facts"))


def _nothing_left_for_a_full_look(now: datetime) -> None:
    """Every coded resident looked at again, as the sweep did before it looked only where time can
    have changed something: nothing to change, not even the facts stored."""
    before = _coded()
    services.codes_recolour(residents=[pk for pk, *_ in before], trigger=Trigger.TIME, actor=SYSTEM, now=now)
    assert _coded() == before


@pytest.mark.parametrize(("deadline_in", "counts"), rules.MISSED_WINDOW_CASES)
def test_a_missed_rounds_window_is_one_rule_pure_at_the_deadline_and_in_every_triggers_facts(
    round_: Any, deadline_in: float, counts: bool
) -> None:
    now = round_.deadline - timedelta(hours=deadline_in)
    window = code_rules().windows.missed_screening_days
    assert rules.missed_counts(deadline=round_.deadline, now=now, window_days=window) is counts
    expected = ("yellow", "missed_screening") if counts else ("green", "")
    unsampled = resident("C1/1/1/102#1")
    # Per resident, as every trigger's facts read it (testing.sql.MISSED_ROUND) …
    services.codes_recolour(residents=[unsampled.pk], trigger=Trigger.TIME, actor=SYSTEM, now=now)
    assert code("C1/1/1/102#1") == expected
    HealthCode.objects.all().delete()
    # … and for the round's unsampled at once, as its deadline decides it.
    services.codes_recolour(missed_round=round_, trigger=Trigger.ROUND_DEADLINE, actor=SYSTEM, now=now)
    assert code("C1/1/1/102#1") == expected
    assert HealthCode.objects.count() == (
        Resident.objects.filter(household__address__startswith="C1/1/1/").count() if counts else 0
    )


def test_a_deadline_with_a_later_round_already_open_leaves_green_those_sampled_in_it(round_: Any) -> None:
    later = _open_r2(hours=20)  # before R1's deadline
    scan(later, "C1/1/1/102#1", "T9", hours=21)
    flows.rounds_due(at(24.25))
    assert code("C1/1/1/102#1") == ("green", "")  # sampled in a round started after R1
    assert code("C1/1/1/102#2") == ("yellow", "missed_screening")
    _nothing_left_for_a_full_look(at(24.25))


@pytest.mark.parametrize("over", ["the whole city", "a compound"])
def test_a_rounds_deadline_turns_yellow_exactly_those_it_did_not_sample(city: Places, over: str) -> None:
    one = {"ratio": 1, "per_household": False}
    Lab.objects.create(code="L1", name="金域检测", capacity_per_hour=2000)
    home = resident("C1/1/1/101#1").household
    Site.objects.create(code="S1", name="核酸点", grid_id=home.grid_id, district_id=home.district_id)
    round_ = testing.round_open(
        code="RC",
        starts_at=NOW,
        deadline=at(24),
        places=[place_by_address("C1")] if over == "a compound" else [],
        pooling={"high": one, "medium": one, "low": one},
        actor=SYSTEM,
        now=NOW,
    )
    sampled = ["C1/1/1/101#1", "C1/2/1/101#2"] + (
        ["C3/1/1/101#1", "C4/1/1/101#1"] if over == "the whole city" else []
    )
    for n, address in enumerate(sampled):
        scan(round_, address, f"T{n}")
    # The deadline's statement (a merge of two indexes for the whole city) names the selector's
    # residents: everyone the round covers, less those sampled.
    named = set(testing_selectors.unsampled_of_round(round_).values_list("pk", flat=True))
    staged = {pk for (pk,) in core_sql.rows(*testing_selectors.unsampled_of_round_statement(round_))}
    covered = Resident.objects.filter(household__address__startswith="C1/") if over == "a compound" else None
    expected = set((covered if covered is not None else Resident.objects.all()).values_list("pk", flat=True))
    expected -= {resident(a).pk for a in sampled}
    assert staged == named == expected
    flows.codes_timed(at(23.75))
    flows.rounds_due(at(24.25))
    assert set(HealthCode.objects.filter(rule="missed_screening").values_list("pk", flat=True)) == expected
    _nothing_left_for_a_full_look(at(24.25))
    # The round's window runs out: the sweep finds them all, through the registry for a round
    # with areas, by the round's scans alone for the whole city's.
    flows.codes_timed(at(24 + 24 * 7 - 0.25))
    assert HealthCode.objects.filter(colour="yellow").count() == len(expected)
    flows.codes_timed(at(24 + 24 * 7 + 0.25))
    assert not HealthCode.objects.filter(colour="yellow").exists()
    _nothing_left_for_a_full_look(at(24 + 24 * 7 + 0.25))


# (what happened, the sweeps' times in hours after R1's deadline, whether C1/1/1/102#1, who
# missed R1, is sampled in R2 before the last sweep, their colour after the last sweep). A sweep
# ran a quarter of an hour before the deadline: the sweeps' mark.
SWEEPS = [
    ("the window runs out between two sweeps", (1, 24 * 7 - 0.25, 24 * 7 + 0.25), False, "green"),
    ("still within the window", (1, 24 * 7 - 0.25), False, "yellow"),
    ("no sweep for ten days", (1, 24 * 10), False, "green"),
    ("no sweep from before the deadline until the window ran out", (24 * 7 + 1,), False, "green"),
    ("the clock went back, as in a replayed day", (24 * 3, 1, 24 * 7 + 0.25), False, "green"),
    ("sampled in a later round", (1, 24, 25), True, "green"),
    ("sampled in a later round, the sweeps stopped for days", (1, 24 * 5), True, "green"),
]


@pytest.mark.parametrize(("what", "sweeps", "sampled", "expected"), SWEEPS, ids=[c[0] for c in SWEEPS])
def test_the_sweep_looking_only_where_time_changed_something_misses_nobody(
    round_: Any, what: str, sweeps: tuple[float, ...], sampled: bool, expected: str
) -> None:
    scan(round_, "C1/1/1/101#1", "T1")
    flows.codes_timed(at(23.75))
    flows.rounds_due(at(24.25))
    assert code("C1/1/1/102#1") == ("yellow", "missed_screening")
    yellow = HealthCode.objects.filter(rule="missed_screening").count()
    if sampled:
        scan(_open_r2(), "C1/1/1/102#1", "T9", hours=31)
    for hours in sweeps:
        flows.codes_timed(at(24 + hours))
        _nothing_left_for_a_full_look(at(24 + hours))
    assert code("C1/1/1/102#1")[0] == expected
    assert code("C1/1/1/102#2")[0] == ("green" if sweeps[-1] >= 24 * 7 else "yellow")
    assert HealthCode.objects.filter(rule="missed_screening").count() == (
        0 if sweeps[-1] >= 24 * 7 else yellow - sampled
    )
    del what


def test_a_sweep_between_deadlines_reads_none_of_those_a_missed_round_turned_yellow(round_: Any) -> None:
    flows.codes_timed(at(23.75))
    flows.rounds_due(at(24.25))
    assert HealthCode.objects.filter(rule="missed_screening").count() > 10
    first = services.codes_recolour(timed=True, trigger=Trigger.TIME, actor=SYSTEM, now=at(24.5))
    assert first.looked_at == 0
    # Someone sampled in a later round is read, and only they.
    scan(_open_r2(), "C1/1/1/102#1", "T9", hours=31)
    sampled = services.codes_recolour(timed=True, trigger=Trigger.TIME, actor=SYSTEM, now=at(31.25))
    assert (sampled.looked_at, sampled.to) == (1, {"green": 1})


def test_an_officers_correction_needs_a_reason_is_shown_and_lapses_when_the_facts_change(
    city: Places, make_user: Callable[..., User]
) -> None:
    officer = actor_for(make_user("district_officer", district=city["D1"]))
    target = resident("C1/2/1/101#2")
    report("C1/2/1/301#1")
    with pytest.raises(InvalidInput):
        services.code_correct(resident_id=target.pk, colour="green", reason="  ", actor=officer, now=at(1))
    services.code_correct(
        resident_id=target.pk, colour="yellow", reason="经核查已转运至外地", actor=officer, now=at(1)
    )
    view = selectors.code_of(actor=SYSTEM, resident_id=target.pk)
    assert view.colour == "yellow" and view.corrected
    assert "经核查已转运至外地" in view.reason
    assert view.history[0].by and view.history[0].colour == "yellow"
    entry = AuditEntry.objects.get(action="codes.corrected")
    assert entry.reason == "经核查已转运至外地" and entry.before == {"colour": "red"}
    # The same facts again (another case elsewhere in the compound) leave the correction alone...
    report("C1/2/2/101#1", now=at(2))
    assert code("C1/2/1/101#2") == ("yellow", "")
    # ...new facts end it: the rules take over, and the resident is told.
    flows.contact_added(
        resident_id=target.pk,
        kind="close",
        last_exposure_on=NOW.date(),
        case_id=_first_case(),
        actor=SYSTEM,
        now=at(3),
    )
    assert code("C1/2/1/101#2") == ("red", "close_contact")
    assert not HealthCode.objects.get(pk=target.pk).corrected
    # Out of scope: it does not exist for the officer; other roles may not correct.
    with pytest.raises(NotFound):
        services.code_correct(
            resident_id=resident("C4/1/1/101#1").pk, colour="green", reason="x", actor=officer, now=at(4)
        )
    worker = actor_for(make_user("community_worker", community=city["M1"]))
    with pytest.raises(Forbidden):
        services.code_correct(resident_id=target.pk, colour="green", reason="x", actor=worker, now=at(4))


def _first_case() -> int:
    from bastion.cases.models import Case

    return Case.objects.order_by("pk").first().pk  # type: ignore[union-attr]


def test_a_venue_checks_a_token_and_learns_the_colour_and_time_only(
    city: Places, make_user: Callable[..., User]
) -> None:
    report("C1/2/1/301#1")
    client = Client()
    client.force_login(make_user("code_checker"))
    red = tokens.token_for(resident("C1/2/1/101#1").pk)
    answer = client.get(f"/api/v1/codes/check/{red}")
    assert answer.status_code == 200
    assert answer.json() == {"colour": "red", "set_at": "2022-09-01T09:00:00+08:00"} or set(
        answer.json()
    ) == {
        "colour",
        "set_at",
    }
    assert answer.json()["colour"] == "red"
    green = client.get(f"/api/v1/codes/check/{tokens.token_for(resident('C2/1/1/101#1').pk)}").json()
    assert green == {"colour": "green", "set_at": None}
    # An altered token, or another resident's id under the same mac, is not a code.
    head, mac = red.split("-")
    for forged in (f"{int(head) + 1}-{mac}", f"{head}-{'a' * 16}", "garbage", f"{head}-{mac[:-1]}"):
        refused = client.get(f"/api/v1/codes/check/{forged}")
        assert refused.status_code == 404, forged
        assert refused.json()["code"] == "unknown_code"
    # The checker sees nothing else of the resident.
    assert client.get(f"/api/v1/codes/residents/{resident('C1/2/1/101#1').pk}").status_code == 403


def test_a_venues_scanner_checks_with_a_device_token_and_a_revoked_one_is_refused(
    city: Places, make_user: Callable[..., User]
) -> None:
    report("C1/2/1/301#1")
    checker = make_user("code_checker")
    issued = devices.device_token_issue(username=checker.username, name="gate 3", actor=SYSTEM, now=NOW)
    scanner = Client(enforce_csrf_checks=True)  # no session, no cookie
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}
    red = tokens.token_for(resident("C1/2/1/101#1").pk)
    answer = scanner.get(f"/api/v1/codes/check/{red}", **bearer)
    assert answer.status_code == 200, answer.content
    assert answer.json()["colour"] == "red"
    assert datetime.fromisoformat(answer.json()["set_at"].replace("Z", "+00:00")) == NOW
    green = scanner.get(f"/api/v1/codes/check/{tokens.token_for(resident('C2/1/1/101#1').pk)}", **bearer)
    assert green.json() == {"colour": "green", "set_at": None}
    # A well-signed token of nobody in the registry is not a code either.
    nobody = scanner.get(f"/api/v1/codes/check/{tokens.token_for(10**12)}", **bearer)
    assert (nobody.status_code, nobody.json()["code"]) == (404, "unknown_code")
    # A sampler's device may post scans, not check codes.
    sampler = make_user("sampler")
    pda = devices.device_token_issue(username=sampler.username, name="PDA", actor=SYSTEM, now=NOW).secret
    assert scanner.get(f"/api/v1/codes/check/{red}", HTTP_AUTHORIZATION=f"Bearer {pda}").status_code == 403
    devices.device_token_revoke(token_id=issued.token.pk, actor=SYSTEM, now=NOW)
    revoked = scanner.get(f"/api/v1/codes/check/{red}", **bearer)
    assert (revoked.status_code, revoked.json()["code"]) == (401, "bad_device_token")
    assert scanner.get(f"/api/v1/codes/check/{red}").status_code == 401  # nothing at all


@pytest.mark.parametrize("way", ["device", "session"])
def test_a_check_beyond_what_the_server_serves_is_told_to_come_back_in_the_users_language(
    way: str, city: Places, make_user: Callable[..., User]
) -> None:
    report("C1/2/1/301#1")
    checker = make_user("code_checker")
    client, headers = Client(), {}
    if way == "device":
        secret = devices.device_token_issue(
            username=checker.username, name="gate 3", actor=SYSTEM, now=NOW
        ).secret
        headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    else:
        client.force_login(checker)
    red = tokens.token_for(resident("C1/2/1/101#1").pk)
    with override_settings(SHEDDING_IN_FLIGHT=1, SHEDDING_WAIT_MS=0, SHEDDING_RETRY_AFTER_S=1):
        assert codes_api.CHECKS.enter()  # another check of this process is being served
        try:
            busy = client.get(f"/api/v1/codes/check/{red}", **headers)
            chinese = client.get(f"/api/v1/codes/check/{red}", HTTP_ACCEPT_LANGUAGE="zh-hans", **headers)
        finally:
            codes_api.CHECKS.leave()
    assert (busy.status_code, busy["Retry-After"], busy.json()["code"]) == (503, "1", "overloaded")
    assert chinese.json()["message"] == "系统繁忙，本次未作记录，请稍后再试。"
    assert client.get(f"/api/v1/codes/check/{red}", **headers).json()["colour"] == "red"


@pytest.mark.parametrize("way", ["device", "session"])
def test_a_token_that_is_not_plain_text_is_refused_as_invalid_either_way(
    way: str, city: Places, make_user: Callable[..., User]
) -> None:
    checker = make_user("code_checker")
    client, headers = Client(), {}
    if way == "device":
        secret = devices.device_token_issue(
            username=checker.username, name="gate 3", actor=SYSTEM, now=NOW
        ).secret
        headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    else:
        client.force_login(checker)
    refused = client.get("/api/v1/codes/check/12%01-abc", **headers)
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid_input"
    # A scanner that reads a token but posts it: not a check (the same answer as Ninja's).
    assert client.post(f"/api/v1/codes/check/{tokens.token_for(1)}", **headers).status_code == 405


def test_a_resident_reads_their_own_code_and_why_in_their_language(
    city: Places, make_user: Callable[..., User]
) -> None:
    report("C1/2/1/301#1")
    me = resident("C1/2/1/301#2")
    client = Client()
    client.force_login(make_user("resident", household=me.household))
    mine = client.get(f"/api/v1/codes/residents/{me.pk}", HTTP_ACCEPT_LANGUAGE="en").json()
    assert mine["colour"] == "red"
    assert mine["reason"] == "You live in a high-risk zone: red until the zone is lifted."
    assert tokens.resident_of(mine["token"]) == me.pk
    assert client.get(f"/api/v1/codes/residents/{resident('C1/2/1/101#1').pk}").status_code == 404
    rules_now = client.get(f"/api/v1/codes/residents/{me.pk}/rules", HTTP_ACCEPT_LANGUAGE="en").json()
    assert [r["rule"] for r in rules_now] == ["high_risk_zone"]


@pytest.mark.parametrize(("stored", "facts", "expected"), rules.RECOLOUR_CASES)
def test_every_recolouring_case_gives_the_same_outcome_pure_and_through_the_database(
    city: Places, stored: Any, facts: frozenset[str], expected: Any
) -> None:
    policy = code_rules()
    as_stored = rules.Stored(stored[0], stored[1], rules.bits(stored[2]), stored[3]) if stored else None
    pure = rules.recolour(policy, as_stored, facts)
    assert ((pure.colour, pure.rule, pure.recorded) if pure else None) == expected
    # The same case through the service: the facts made real in the database, the code stored.
    target = resident("C1/2/1/301#1")
    _make_facts(target, facts)
    if stored:
        HealthCode.objects.create(
            resident=target,
            colour=stored[0],
            rule=stored[1],
            version="old",
            set_at=NOW - timedelta(days=1),
            trigger="case",
            facts=rules.bits(stored[2]),
            corrected=stored[3],
        )
    before = CodeChange.objects.count()
    services.codes_recolour(residents=[target.pk], trigger="rules", actor=SYSTEM, now=at(1))
    row = HealthCode.objects.filter(pk=target.pk).first()
    recorded = CodeChange.objects.count() > before
    if expected is None:
        assert not recorded
        assert (row is None) == (stored is None)
    else:
        assert row is not None and (row.colour, row.rule, recorded) == expected
        assert row.facts == rules.bits(facts)


def _make_facts(target: Resident, facts: frozenset[str]) -> None:
    """Make each fact true of `target` the way the platform would, then forget the code the
    flows gave them: the case starts from its own stored code."""
    from bastion.cases.models import Case

    neighbour = resident("C1/2/1/302#1")  # same unit: their case makes the unit high risk
    if "home_monitoring" in facts:
        flows.case_reported(
            resident_id=target.pk, kind="confirmed", actor=SYSTEM, now=NOW - timedelta(days=3)
        )
        flows.case_discharged(case_id=Case.objects.get(resident=target).pk, actor=SYSTEM, now=NOW)
    if "case" in facts:
        flows.case_reported(resident_id=target.pk, kind="confirmed", actor=SYSTEM, now=NOW)
    if facts & {"high_risk_zone", "medium_risk_zone"}:
        flows.case_reported(resident_id=neighbour.pk, kind="confirmed", actor=SYSTEM, now=NOW)
    if "medium_risk_zone" in facts:
        zone = Zone.objects.get(address="C1/2/1")
        flows.zone_adjusted(zone_id=zone.pk, level="medium", reason="核查", actor=SYSTEM, now=NOW)
    if not facts & {"high_risk_zone", "medium_risk_zone"} and facts & {"case", "home_monitoring"}:
        # A case's own unit is high risk under v9: lifted by an officer, the case stands alone.
        zone = Zone.objects.get(address="C1/2/1")
        flows.zone_lifted(zone_id=zone.pk, reason="核查", override=True, actor=SYSTEM, now=NOW)
    if facts & {"pool_retest", "missed_screening"}:
        ten = {"ratio": 10, "per_household": False}
        Lab.objects.create(code="L1", name="金域检测", capacity_per_hour=2000)
        home = target.household
        Site.objects.create(code="S1", name="核酸点", grid_id=home.grid_id, district_id=home.district_id)
        round_ = testing.round_open(
            code="R1",
            starts_at=NOW - timedelta(days=2),
            deadline=NOW - timedelta(days=1),
            places=[place_by_address(home.address)],
            pooling={"high": ten, "medium": ten, "low": ten},
            actor=SYSTEM,
            now=NOW - timedelta(days=2),
        )
        if "pool_retest" in facts:
            testing.scan_record(
                round_id=round_.pk,
                resident_id=target.pk,
                tube_barcode="T1",
                site_code="S1",
                scanned_at=NOW - timedelta(days=2) + timedelta(hours=1),
                actor=SYSTEM,
                now=NOW - timedelta(days=2) + timedelta(hours=1),
            )
            flows.tube_resulted(
                barcode="T1", result="positive", resulted_at=NOW, lab_code="L1", actor=SYSTEM, now=NOW
            )
    HealthCode.objects.filter(pk=target.pk).delete()
    CodeChange.objects.filter(resident=target).delete()


@pytest.mark.postgres
def test_many_recolourings_in_one_transaction_hold_no_more_locks_than_a_few(city: Places) -> None:
    # A batch of cases recolours once per case in one transaction: each call's staging tables
    # are reused, so the locks held do not grow with the calls (they filled the server's lock
    # table when each call created and dropped its own).
    from django.db import transaction

    from bastion.codes.models import Trigger
    from bastion.core import sql as core_sql

    someone = resident("C1/2/1/101#1").pk

    def locks() -> int:
        row = core_sql.one("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid()")
        return int(row[0]) if row else 0

    with transaction.atomic():
        for _ in range(5):
            services.codes_recolour(residents=[someone], trigger=Trigger.TIME, actor=SYSTEM, now=NOW)
        after_five = locks()
        for _ in range(45):
            services.codes_recolour(residents=[someone], trigger=Trigger.TIME, actor=SYSTEM, now=NOW)
        assert locks() <= after_five


def test_a_scan_arriving_late_in_the_missed_round_itself_turns_the_resident_green_at_the_next_sweep(
    round_: Any,
) -> None:
    scan(round_, "C1/1/1/101#1", "T1")
    flows.codes_timed(at(23.75))
    flows.rounds_due(at(24.25))
    assert code("C1/1/1/102#1") == ("yellow", "missed_screening")
    # The device was offline: its scan of 23:00 reaches the round at 25:00, the round still open.
    testing.scan_record(
        round_id=round_.pk,
        resident_id=resident("C1/1/1/102#1").pk,
        tube_barcode="T2",
        site_code="S1",
        scanned_at=at(23),
        retest=False,
        actor=SYSTEM,
        now=at(25),
    )
    flows.codes_timed(at(25.25))
    assert code("C1/1/1/102#1") == ("green", "")
