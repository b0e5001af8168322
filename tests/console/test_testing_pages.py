"""The mass-testing pages as the people who use them see them: the command centre following a
round, officers reading coverage, a community worker printing who is left, the recalls."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bastion import flows
from bastion.cases.models import Case
from bastion.city.models import Grid, Resident
from bastion.city.selectors import actor_for
from bastion.core import clock
from bastion.core.errors import Conflict
from bastion.core.masking import mask_id_number, mask_name, mask_phone
from bastion.core.scopes import SYSTEM, Actor
from bastion.testing import services
from bastion.testing.models import Lab, Round, RoundIssue, Scan, Site
from bastion.zones.models import Zone
from tests.conftest import NOW
from tests.console.pages import print_css

Places = dict[str, Any]
HOUR = timedelta(hours=1)


def resident_at(address: str) -> Resident:
    household, number = address.split("#")
    return Resident.objects.get(household__address=household, number=int(number))


def household_of(address: str) -> list[str]:
    return [f"{address}#{r.number}" for r in Resident.objects.filter(household__address=address)]


def as_user(client: Client, user: User, language: str = "en") -> Client:
    client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    return client


def page(client: Client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response.content.decode()


def figure(html: str, name: str) -> int:
    match = re.search(rf'data-figure="{name}">(?:<a [^>]*>)?(\d+)<', html)
    assert match, name
    return int(match.group(1))


def listed(html: str) -> list[str]:
    return re.findall(r'data-resident="([^"]+)"', html)


@pytest.fixture
def command_centre(city: Places, make_user: Callable[..., User]) -> User:
    return make_user("command_centre")


@pytest.fixture
def district_officer(city: Places, make_user: Callable[..., User]) -> User:
    return make_user("district_officer", district=city["D1"])


@pytest.fixture
def community_worker(city: Places, make_user: Callable[..., User]) -> User:
    return make_user("community_worker", community=city["M1"])


@pytest.fixture
def sampler(city: Places, make_user: Callable[..., User]) -> Actor:
    return actor_for(make_user("sampler"))


@pytest.fixture
def lab(city: Places, make_user: Callable[..., User]) -> Actor:
    return actor_for(make_user("lab"))


@pytest.fixture
def round_d1(city: Places) -> Round:
    """A round over D1: M1's grid (88 residents) and M2's (12)."""
    return open_round("R-D1", districts=[city["D1"].pk])


def open_round(code: str, *, districts: Sequence[int] = ()) -> Round:
    return services.round_open(
        code=code,
        starts_at=NOW,
        deadline=NOW + timedelta(days=1),
        district_ids=districts,
        actor=SYSTEM,
        now=NOW,
    )


def sample(
    round_: Round, sampler: Actor, tube: str, *addresses: str, at: datetime = NOW, site: str | None = None
) -> None:
    for address in addresses:
        services.scan_record(
            round_id=round_.pk,
            resident_id=resident_at(address).pk,
            tube_barcode=tube,
            site_code=site,
            scanned_at=at,
            actor=sampler,
            now=at,
        )


def result(lab: Actor, tube: str, outcome: str, at: datetime, lab_code: str | None = None) -> None:
    flows.tube_resulted(barcode=tube, result=outcome, resulted_at=at, lab_code=lab_code, actor=lab, now=at)


@pytest.fixture
def later() -> Iterator[Callable[[datetime], None]]:
    """Move the frozen clock on: later(NOW + 8 * HOUR)."""
    stack: list[Any] = []

    def move(at: datetime) -> None:
        context = clock.use(clock.FrozenClock(at))
        context.__enter__()
        stack.append(context)

    yield move
    for context in reversed(stack):
        context.__exit__(None, None, None)


def grid(code: str) -> Grid:
    return Grid.objects.get(code=code)


# --- who sees what ------------------------------------------------------------------------


def test_a_community_worker_sees_their_grids_and_who_is_left_in_them(
    client: Client, round_d1: Round, community_worker: User, sampler: Actor
) -> None:
    sample(round_d1, sampler, "T1", *household_of("C1/1/1/101"))
    as_user(client, community_worker)
    html = page(client, f"/testing/{round_d1.pk}/coverage/")
    assert 'data-grid="M1-G1"' in html
    assert 'data-grid="M2-G1"' not in html
    assert figure(html, "residents") == 88
    assert figure(html, "sampled") == 3
    assert figure(html, "unsampled") == 85

    door = page(client, f"/testing/{round_d1.pk}/grids/{grid('M1-G1').pk}/")
    assert len(listed(door)) == 85
    assert "C1/1/1/101#1" not in listed(door)
    # A community worker has the phone numbers the door-to-door team needs.
    someone = resident_at("C1/1/1/102#1")
    assert someone.phone and someone.phone in door
    page(client, f"/testing/{round_d1.pk}/grids/{grid('M2-G1').pk}/", status=404)
    page(client, f"/testing/{round_d1.pk}/grids/{grid('M3-G1').pk}/print/", status=404)
    # The round's totals, labs and exceptions are the command centre's page.
    response = client.get(f"/testing/{round_d1.pk}/")
    assert response.status_code == 302
    assert response["Location"] == f"/testing/{round_d1.pk}/coverage/"
    page(client, f"/testing/{round_d1.pk}/exceptions/", status=404)


def test_the_printable_list_holds_exactly_the_unsampled_residents(
    client: Client, round_d1: Round, community_worker: User, sampler: Actor
) -> None:
    taken = household_of("C1/1/1/101") + household_of("C2/1/1/101")
    sample(round_d1, sampler, "T1", *taken)
    html = page(as_user(client, community_worker), f"/testing/{round_d1.pk}/grids/{grid('M1-G1').pk}/print/")
    everyone = {
        f"{r.household.address}#{r.number}"
        for r in Resident.objects.filter(household__grid__code="M1-G1").select_related("household")
    }
    assert sorted(listed(html)) == sorted(everyone - set(taken))
    assert len(listed(html)) == len(set(listed(html)))
    assert "main-nav" not in html
    assert print_css(html, "console/grid-print.css").count("@media print") == 1
    # By building, for the teams that walk them: C1's two buildings and C2's one.
    assert len(re.findall(r"<section data-group=", html)) == 3


def test_a_district_officer_sees_masked_phones_and_id_numbers(
    client: Client, round_d1: Round, district_officer: User
) -> None:
    someone = resident_at("C1/1/1/102#1")
    html = page(as_user(client, district_officer), f"/testing/{round_d1.pk}/grids/{grid('M1-G1').pk}/")
    assert "C1/1/1/102#1" in listed(html)
    assert someone.phone not in html
    assert someone.id_number not in html
    assert mask_phone(someone.phone) in html
    assert mask_id_number(someone.id_number) in html
    printed = page(client, f"/testing/{round_d1.pk}/grids/{grid('M1-G1').pk}/print/")
    assert someone.phone not in printed and mask_phone(someone.phone) in printed
    # Their district's grids only.
    coverage = page(client, f"/testing/{round_d1.pk}/coverage/")
    assert 'data-grid="M1-G1"' in coverage and 'data-grid="M2-G1"' in coverage
    page(client, f"/testing/{round_d1.pk}/grids/{grid('M3-G1').pk}/", status=404)


def test_samplers_labs_and_residents_cannot_see_the_pages(
    client: Client, round_d1: Round, make_user: Callable[..., User], household: Any
) -> None:
    urls = [
        "/testing/",
        f"/testing/{round_d1.pk}/",
        f"/testing/{round_d1.pk}/coverage/",
        f"/testing/{round_d1.pk}/grids/{grid('M1-G1').pk}/",
        f"/testing/{round_d1.pk}/grids/{grid('M1-G1').pk}/print/",
        f"/testing/{round_d1.pk}/recalls/",
        f"/testing/{round_d1.pk}/exceptions/",
    ]
    for user in (make_user("sampler"), make_user("lab"), make_user("resident", household=household)):
        as_user(client, user)
        for url in urls:
            page(client, url, status=403)
        assert ">Testing</a>" not in page(client, "/bulletin/")
        client.logout()


# --- recalls ------------------------------------------------------------------------------


def test_recalls_appear_after_a_positive_pool_the_longest_waiting_first(
    client: Client,
    round_d1: Round,
    sampler: Actor,
    lab: Actor,
    community_worker: User,
    district_officer: User,
    later: Callable[[datetime], None],
) -> None:
    first, second = household_of("C1/1/1/101"), household_of("C1/1/1/102")
    sample(round_d1, sampler, "T1", *first)
    sample(round_d1, sampler, "T2", *second)
    sample(round_d1, sampler, "T3", *household_of("C1/1/2/101"))
    result(lab, "T3", "negative", NOW + HOUR)
    result(lab, "T2", "positive", NOW + 5 * HOUR)
    result(lab, "T1", "invalid", NOW + 2 * HOUR)
    later(NOW + 8 * HOUR)

    html = page(as_user(client, community_worker), f"/testing/{round_d1.pk}/recalls/")
    assert re.findall(r'data-recall="([^"]+)"', html) == first + second
    assert 'data-hours="6.0"' in html and 'data-hours="3.0"' in html
    assert resident_at(first[0]).name in html  # a community worker works with names
    assert Case.objects.count() == 0  # a positive pool recalls; only a single tube opens a case

    client.logout()
    officer = page(as_user(client, district_officer), f"/testing/{round_d1.pk}/recalls/")
    assert re.findall(r'data-recall="([^"]+)"', officer) == first + second
    name = resident_at(first[0]).name
    assert name not in officer and mask_name(name) in officer

    # A retest clears a recall: it leaves the list.
    services.scan_record(
        round_id=round_d1.pk,
        resident_id=resident_at(first[0]).pk,
        tube_barcode="S1",
        scanned_at=NOW + 8 * HOUR,
        retest=True,
        actor=sampler,
        now=NOW + 8 * HOUR,
    )
    assert "sampled, awaiting the result" in page(client, f"/testing/{round_d1.pk}/recalls/")
    result(lab, "S1", "negative", NOW + 9 * HOUR)
    after = page(client, f"/testing/{round_d1.pk}/recalls/")
    assert re.findall(r'data-recall="([^"]+)"', after) == first[1:] + second


# --- the command centre -------------------------------------------------------------------


def test_the_command_centre_follows_a_rounds_progress(
    client: Client,
    round_d1: Round,
    city: Places,
    sampler: Actor,
    lab: Actor,
    command_centre: User,
    later: Callable[[datetime], None],
) -> None:
    Lab.objects.create(code="L1", name="Lab one", capacity_per_hour=2)
    Lab.objects.create(code="L2", name="Lab two", capacity_per_hour=1000)
    Site.objects.create(
        code="S-C1", name="C1 gate", grid=grid("M1-G1"), district_id=city["D1"].pk, capacity_per_hour=2
    )
    sample(round_d1, sampler, "T1", *household_of("C1/1/1/101"), site="S-C1")
    sample(round_d1, sampler, "T2", *household_of("C1/1/1/102"))
    sample(round_d1, sampler, "T3", "C1/1/2/101#1")
    with pytest.raises(Conflict):  # a duplicate scan: refused and listed
        sample(round_d1, sampler, "T3", "C1/1/1/101#1")
    result(lab, "T1", "negative", NOW + 10 * HOUR, lab_code="L1")
    result(lab, "T2", "positive", NOW + 30 * HOUR, lab_code="L1")
    services.tube_receive(barcode="T3", lab_code="L1", received_at=NOW + 2 * HOUR, actor=lab, now=NOW)
    later(NOW + 30 * HOUR)

    response = as_user(client, command_centre).get(f"/testing/{round_d1.pk}/")
    assert response.status_code == 200
    assert response["Refresh"] == "30"
    html = response.content.decode()
    assert figure(html, "expected") == 100
    assert figure(html, "sampled") == 7
    assert figure(html, "unsampled") == 93
    assert figure(html, "tubes") == 3
    assert figure(html, "tubes_resulted") == 2
    assert figure(html, "tubes_pending") == 1
    assert figure(html, "positive_tubes") == 1
    assert figure(html, "recalls_open") == 3
    assert figure(html, "issues") == 1
    assert 'data-hours="p50">10.0 h<' in html
    assert 'data-hours="p95" class="error">30.0 h<' in html  # over the 24 h pooled target
    assert 'data-hours="max">30.0 h<' in html
    assert figure(html, "late_pooled") == 1
    assert figure(html, "overdue_pooled") == 1  # T3, waiting 30 h
    lab_row = html.split('data-lab="L1"', 1)[1].split("</tr>", 1)[0]
    assert 'data-figure="backlog">1<' in lab_row
    assert 'data-lab="L2"' not in html
    assert 'data-site="S-C1"' in html  # 3 scans in an hour at a site of 2 an hour
    assert "2022-09-01 09:00" in html.split('data-site="S-C1"', 1)[1]  # the hour, city time

    issues = page(client, f"/testing/{round_d1.pk}/exceptions/")
    assert 'data-issue="duplicate_scan"' in issues
    assert "duplicate scan" in issues


def test_a_rounds_exceptions_page_masks_id_numbers_under_any_column(
    client: Client, round_d1: Round, command_centre: User
) -> None:
    # A scan file's resident column holding an ID number instead of an id, as samplers send.
    RoundIssue.objects.create(
        round=round_d1,
        kind="unknown_resident",
        detail={"resident_id": "110101199003078888", "tube": "T9", "reason": "unknown_resident"},
        source="scans day1.csv:7",
        at=NOW,
    )
    html = page(as_user(client, command_centre), f"/testing/{round_d1.pk}/exceptions/")
    assert "1101************88" in html
    assert "110101199003078888" not in html


def test_the_coverage_page_does_not_grow_queries_with_grids(
    client: Client,
    city: Places,
    sampler: Actor,
    command_centre: User,
    django_assert_max_num_queries: Any,
) -> None:
    one_grid = open_round("R-D2", districts=[city["D2"].pk])
    whole_city = open_round("R-CITY")
    sample(one_grid, sampler, "A1", "C4/1/1/101#1")
    sample(whole_city, sampler, "B1", "C1/1/1/101#1", "C3/1/1/101#1", "C4/1/1/101#1")
    as_user(client, command_centre)
    with CaptureQueriesContext(connection) as small:
        assert page(client, f"/testing/{one_grid.pk}/coverage/").count("data-grid=") == 1
    with django_assert_max_num_queries(len(small.captured_queries)):
        html = page(client, f"/testing/{whole_city.pk}/coverage/")
    assert html.count("data-grid=") == 3
    # Lowest coverage first.
    assert re.findall(r'data-grid="([^"]+)"', html) == ["M1-G1", "M2-G1", "M3-G1"]


# --- rounds -------------------------------------------------------------------------------


def test_a_district_officer_opens_a_round_of_their_own_district(
    client: Client, city: Places, district_officer: User
) -> None:
    as_user(client, district_officer)
    form = page(client, "/testing/")
    assert 'data-pooling="low"' in form and "20:1" in form
    assert 'data-pooling="high"' in form and "single tube" in form
    assert f'value="{city["D2"].pk}"' not in form  # another district is not offered

    data = {"code": "R-1", "starts_at": "2022-09-01T09:00", "deadline": "2022-09-01T08:00"}
    response = client.post("/testing/", {**data, "districts": [str(city["D1"].pk)]})
    assert response.status_code == 422
    assert "The deadline must come after the start." in response.content.decode()
    response = client.post(
        "/testing/", {**data, "deadline": "2022-09-02T09:00", "districts": [str(city["D2"].pk)]}
    )
    assert response.status_code == 422
    assert "Open rounds of your own district only." in response.content.decode()
    assert 'value="R-1"' in response.content.decode()  # the form keeps what was typed
    assert not Round.objects.exists()

    response = client.post(
        "/testing/", {**data, "deadline": "2022-09-02T09:00", "districts": [str(city["D1"].pk)]}, follow=True
    )
    opened = Round.objects.get(code="R-1")
    assert opened.starts_at == NOW  # 09:00 in the city
    assert response.redirect_chain[-1][0] == f"/testing/{opened.pk}/coverage/"
    assert "Round R-1 is open." in response.content.decode()
    assert 'data-round="R-1"' in page(client, "/testing/")


def test_the_command_centre_opens_the_screening_round_of_a_zone(
    client: Client, command_centre: User, city: Places
) -> None:
    flows.case_reported(resident_id=resident_at("C1/2/1/301#1").pk, kind="confirmed", actor=SYSTEM, now=NOW)
    zone = Zone.objects.get(address="C1/2/1")
    as_user(client, command_centre)
    assert f'<option value="{zone.pk}">' in page(client, "/testing/")
    data = {"code": "Z-1", "starts_at": "2022-09-01T10:00", "deadline": "2022-09-01T16:00"}
    both = client.post("/testing/", {**data, "zone": str(zone.pk), "districts": [str(city["D1"].pk)]})
    assert both.status_code == 422
    response = client.post("/testing/", {**data, "zone": str(zone.pk)}, follow=True)
    opened = Round.objects.get(code="Z-1")
    assert opened.zone == zone
    assert response.redirect_chain[-1][0] == f"/testing/{opened.pk}/"
    html = response.content.decode()
    assert figure(html, "expected") == 18  # unit 1 of building 2: six flats of three
    assert Scan.objects.count() == 0


def test_the_command_centre_closes_a_round_with_a_reason_before_its_deadline(
    client: Client, round_d1: Round, command_centre: User, later: Callable[[datetime], None]
) -> None:
    later(NOW + 8 * HOUR)
    as_user(client, command_centre)
    html = page(client, f"/testing/{round_d1.pk}/")
    assert 'data-testid="close-round"' in html and 'data-testid="closed"' not in html
    response = client.post(f"/testing/{round_d1.pk}/close/", {"reason": "  "}, follow=True)
    assert "Closing a round before its deadline needs a reason." in response.content.decode()
    round_d1.refresh_from_db()
    assert round_d1.closed_at is None

    response = client.post(f"/testing/{round_d1.pk}/close/", {"reason": "全员采样完成"}, follow=True)
    html = response.content.decode()
    assert "Round R-D1 is closed." in html
    assert 'data-testid="closed"' in html and "closed at 2022-09-01 17:00" in html
    assert 'data-testid="close-round"' not in html
    round_d1.refresh_from_db()
    assert round_d1.closed_at == NOW + 8 * HOUR
    assert client.get(f"/testing/{round_d1.pk}/close/").status_code == 405
