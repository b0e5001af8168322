"""The resident's own page (issue 15 §2): one page for the household — codes and why with the
QR code to show, the zone and its clock, recent tests and a recall, quarantine, transfer,
orders — and nothing of anyone else's household."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from bastion import flows
from bastion.city.models import Household, Resident
from bastion.city.selectors import actor_for, place_by_address
from bastion.codes import tokens
from bastion.console.qr import qr_svg
from bastion.core.scopes import SYSTEM
from bastion.testing import services as testing
from bastion.testing.models import Lab, Site
from tests.conftest import NOW, TODAY

Places = dict[str, Any]


def resident(address: str) -> Resident:
    household, number = address.split("#")
    return Resident.objects.get(household__address=household, number=int(number))


def my_page(client: Client, user: User) -> str:
    client.force_login(user)
    answer = client.get("/me/", HTTP_ACCEPT_LANGUAGE="en")
    assert answer.status_code == 200
    return answer.content.decode()


def section(html: str, testid: str, member: int) -> str:
    """The element marked `testid` for household member `member`, to its closing tag."""
    pattern = rf'<(section|p|tr) [^>]*data-testid="{testid}" data-member="{member}"[^>]*>.*?</\1>'
    match = re.search(pattern, html, re.S)
    assert match, (testid, member)
    return match.group(0)


@pytest.fixture
def home(city: Places) -> Household:
    return Household.objects.get(address="C1/1/1/101")


@pytest.fixture
def me(home: Household, make_user: Callable[..., User]) -> User:
    return make_user("resident", household=home)


def test_a_resident_lands_on_their_page_and_sees_each_members_code_why_and_the_qr_to_show(
    client: Client, me: User, home: Household
) -> None:
    flows.case_reported(resident_id=resident("C1/1/1/101#1").pk, kind="confirmed", actor=SYSTEM, now=NOW)
    client.force_login(me)
    assert client.get("/", HTTP_ACCEPT_LANGUAGE="en")["Location"] == "/me/"
    html = my_page(client, me)
    first = section(html, "member-code", 1)
    assert 'data-colour="red"' in first
    assert "You are a confirmed case or an asymptomatic infection" in first
    # Each member's QR code is their own token's, not another member's.
    for member in Resident.objects.filter(household=home):
        card = section(html, "member-code", member.number)
        token = tokens.token_for(member.pk)
        assert f'data-token="{token}"' in card
        assert str(qr_svg(token)) in card
    # The zone over the household, with its reason and clock; served at the door.
    assert 'data-testid="my-zone"' in html and 'data-mode="door_to_door"' in html
    # The case's transfer is requested: the resident sees it on the same page.
    assert 'data-testid="my-transfer" data-member="1"' in html
    assert 'data-testid="quarantine" data-member="1" data-what="case"' in html


def test_a_positive_pool_shows_as_a_recall_and_the_results_as_they_come(
    client: Client, me: User, city: Places, make_user: Callable[..., User]
) -> None:
    home = resident("C1/1/1/101#1").household
    Site.objects.create(code="S1", name="核酸点", grid_id=home.grid_id, district_id=home.district_id)
    Lab.objects.create(code="L1", name="金域检测", capacity_per_hour=2000)
    sampler, lab = actor_for(make_user("sampler")), actor_for(make_user("lab"))
    ten = {"ratio": 10, "per_household": False}
    round_ = testing.round_open(
        code="R7",
        starts_at=NOW,
        deadline=NOW + timedelta(hours=24),
        places=[place_by_address("C1")],
        pooling={"high": ten, "medium": ten, "low": ten},
        actor=SYSTEM,
        now=NOW,
    )
    for address, tube in (("C1/1/1/101#1", "T1"), ("C1/1/1/101#2", "T1"), ("C1/1/1/102#1", "T2")):
        testing.scan_record(
            round_id=round_.pk,
            resident_id=resident(address).pk,
            tube_barcode=tube,
            site_code="S1",
            scanned_at=NOW + timedelta(hours=1),
            client_key=None,
            actor=sampler,
            now=NOW + timedelta(hours=1),
        )
    html = my_page(client, me)
    assert 'data-member="1" data-result="pending"' in html and "awaiting the lab" in html
    assert 'data-testid="recall"' not in html
    later = NOW + timedelta(hours=8)
    flows.tube_resulted(
        barcode="T1", result="positive", resulted_at=later, lab_code="L1", actor=lab, now=later
    )
    html = my_page(client, me)
    assert 'data-member="1" data-result="positive"' in html
    assert "single-tube retest" in section(html, "recall", 1) and "R7" in section(html, "recall", 2)
    # The neighbour's sample (household 102, tube T2) is not on this page: two rows, ours.
    assert html.count("data-result=") == 2


def test_a_contact_sees_their_quarantine_and_its_end(client: Client, me: User) -> None:
    case = flows.case_reported(
        resident_id=resident("C3/1/1/101#1").pk, kind="confirmed", actor=SYSTEM, now=NOW
    ).case
    contact = flows.contact_added(
        resident_id=resident("C1/1/1/101#2").pk,
        kind="close",
        last_exposure_on=TODAY,
        case_id=case.pk,
        actor=SYSTEM,
        now=NOW,
    )
    card = section(my_page(client, me), "quarantine", 2)
    assert contact.quarantine_until.isoformat() in card
    assert ("Centralised quarantine" in card) is (contact.place == "centralised")


def test_only_a_resident_has_a_page_and_it_shows_their_own_household_only(
    client: Client, me: User, city: Places, make_user: Callable[..., User]
) -> None:
    flows.case_reported(resident_id=resident("C1/1/1/102#1").pk, kind="confirmed", actor=SYSTEM, now=NOW)
    html = my_page(client, me)
    for other in Resident.objects.filter(household__address="C1/1/1/102"):
        assert tokens.token_for(other.pk) not in html
        assert other.name not in html
    worker = Client()
    worker.force_login(make_user("community_worker", community=city["M1"]))
    assert worker.get("/me/").status_code == 404


# --- appeals on the resident's page ------------------------------------------------------------


def test_a_resident_raises_an_appeal_from_their_page_sees_who_answers_and_rates_the_reply(
    client: Client, me: User, city: Places, make_user: Callable[..., User]
) -> None:
    from bastion.appeals import services as appeals
    from bastion.appeals.models import Appeal

    client.force_login(me)
    sent = client.post(
        "/me/appeals/",
        {"category": "supplies", "urgency": "urgent", "member": "2", "text": "菜包少了两斤"},
        HTTP_ACCEPT_LANGUAGE="en",
        follow=True,
    )
    appeal = Appeal.objects.get()
    assert (appeal.household.address, appeal.category, appeal.channel) == (
        "C1/1/1/101",
        "supplies",
        "resident",
    )
    assert appeal.resident == resident("C1/1/1/101#2")
    assert "Your appeal is with" in sent.content.decode()
    card = section_of(my_page(client, me), appeal.pk)
    assert 'data-state="accepted"' in card or 'data-state="dispatched"' in card
    assert "To be answered by" in card and "菜包少了两斤" in card
    worker = actor_for(make_user("community_worker", community=city["M1"]))
    appeals.appeal_sign(appeal_id=appeal.pk, actor=worker, now=NOW + timedelta(hours=1))
    appeals.appeal_reply(appeal_id=appeal.pk, text="今晚补送", actor=worker, now=NOW + timedelta(hours=2))
    card = section_of(my_page(client, me), appeal.pk)
    assert "今晚补送" in card and 'data-testid="rate-form"' in card
    # Not settled: it opens again; then settled: it closes.
    client.post(f"/me/appeals/{appeal.pk}/rate/", {"rating": "dissatisfied"})
    appeal.refresh_from_db()
    assert appeal.state != "closed" and appeal.reopened == 1
    appeals.appeal_reply(appeal_id=appeal.pk, text="已补送到门口", actor=worker, now=NOW + timedelta(hours=3))
    client.post(f"/me/appeals/{appeal.pk}/rate/", {"rating": "satisfied"})
    appeal.refresh_from_db()
    assert appeal.state == "closed"


def test_an_appeal_without_what_it_is_about_is_refused_in_chinese_and_nothing_is_raised(
    client: Client, me: User
) -> None:
    from bastion.appeals.models import Appeal

    client.force_login(me)
    answer = client.post(
        "/me/appeals/", {"urgency": "normal", "text": ""}, HTTP_ACCEPT_LANGUAGE="zh-hans", follow=True
    )
    html = answer.content.decode()
    assert not Appeal.objects.exists()
    assert "请选择" in html  # what the appeal is about
    # Another household's appeal cannot be rated from this page.
    from tests.appeals.conftest import raise_

    theirs = raise_("C1/1/1/102")
    client.post(f"/me/appeals/{theirs.pk}/rate/", {"rating": "satisfied"})
    theirs.refresh_from_db()
    assert theirs.state != "closed"


def section_of(html: str, appeal_id: int) -> str:
    match = re.search(rf'<section [^>]*data-appeal="{appeal_id}"[^>]*>.*?</section>', html, re.S)
    assert match, appeal_id
    return match.group(0)
