"""Every console form as its user meets it: what is typed right is done; what is typed wrong is
refused with a message on the page, in English and in Chinese, and nothing changes."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from bastion import flows
from bastion.cases.models import Case, Contact, ProtocolInForce
from bastion.city.models import Household, Resident
from bastion.core.scopes import SYSTEM
from bastion.delivery import services as delivery
from bastion.delivery.models import DeliveryTask, Order, PackageCycle
from bastion.supply.models import PriceReport
from bastion.testing.models import Round
from bastion.zones.models import Zone, ZoneScreening, ZoneState
from tests.conftest import NOW, TODAY

Places = dict[str, Any]
LANGUAGES = ["en", "zh-hans"]


def resident_at(address: str) -> Resident:
    household, number = address.split("#")
    return Resident.objects.get(household__address=household, number=int(number))


def report(address: str) -> Case:
    return flows.case_reported(
        resident_id=resident_at(address).pk, kind="confirmed", actor=SYSTEM, now=NOW
    ).case


def as_user(client: Client, user: User, language: str = "en") -> Client:
    client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    return client


def shown(client: Client, url: str, data: dict[str, Any], status: int = 200) -> str:
    """The page the user sees after sending the form: the form again (422), or where the
    action redirects (followed)."""
    response = client.post(url, data, follow=status == 200)
    assert response.status_code == status, (url, data, response.status_code)
    return response.content.decode()


def refusals(
    client: Client,
    url: str,
    base: dict[str, Any],
    cases: list[tuple[dict[str, Any], str]],
    *,
    language: str,
    status: int = 200,
) -> None:
    for change, message in cases:
        html = shown(client, url, {**base, **change}, status)
        assert message in html, (language, change, message)


def pick(language: str, en: str, zh: str) -> str:
    return en if language == "en" else zh


# --- registry -----------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_needs_form_refuses_what_is_not_a_need(
    client: Client, household: Household, make_user: Callable[..., User], language: str
) -> None:
    worker = make_user("community_worker", community=household.community)
    first = household.residents.order_by("number").first()
    assert first is not None and not first.pregnant
    as_user(client, worker, language)
    url = f"/registry/residents/{first.pk}/flags/"
    refusals(
        client,
        url,
        {"pregnant": "on", "reason": "登记"},
        [
            (
                {"chronic_treatment": "magic"},
                pick(language, "Choose the treatment from the list.", "请从列表中选择治疗类型。"),
            ),
            ({"reason": "a\x07b"}, pick(language, "Reason holds control characters", "原因 含有控制字符")),
            (
                {"reason": "x" * 501},
                pick(language, "Reason is too long: at most 500 characters.", "原因 过长：最多 500 个字符。"),
            ),
        ],
        language=language,
    )
    first.refresh_from_db()
    assert not first.pregnant
    html = shown(client, url, {"pregnant": "on", "chronic_treatment": "dialysis", "reason": "登记"})
    first.refresh_from_db()
    assert first.pregnant and first.chronic_treatment == "dialysis"
    assert pick(language, "were saved", "已保存") in html


# --- zones --------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_zone_forms_refuse_odd_levels_days_and_numbers(
    client: Client, city: Places, make_user: Callable[..., User], language: str
) -> None:
    report("C1/2/1/301#1")
    zone = Zone.objects.get(address="C1/2/1")
    as_user(client, make_user("district_officer", district=city["D1"]), language)
    refusals(
        client,
        f"/zones/{zone.pk}/adjust/",
        {"reason": "no spread"},
        [
            (
                {"level": "extreme"},
                pick(language, "Choose the level from the list.", "请从列表中选择风险等级。"),
            )
        ],
        language=language,
    )
    refusals(
        client,
        f"/zones/{zone.pk}/lift/",
        {"override": "on"},
        [({"reason": "wrong\x00ly"}, pick(language, "Reason holds control characters", "原因 含有控制字符"))],
        language=language,
    )
    refusals(
        client,
        f"/zones/{zone.pk}/screening/",
        {"on": "2022-09-01", "result": "negative", "sampled": "18"},
        [
            (
                {"on": "1 Sept"},
                pick(language, "Day is not a day like 2022-09-01.", "日期格式有误，日期格式如 2022-09-01。"),
            ),
            ({"sampled": "-3"}, pick(language, "Sampled is a number of people.", "采样人数须为整数。")),
            (
                {"result": ""},
                pick(
                    language,
                    "Say whether the screening was all negative or found positives.",
                    "请选择筛查结果",
                ),
            ),
        ],
        language=language,
    )
    zone.refresh_from_db()
    assert (zone.state, zone.level) == (ZoneState.IN_FORCE, "high")
    assert not ZoneScreening.objects.exists()
    shown(client, f"/zones/{zone.pk}/screening/", {"on": "2022-09-01", "result": "negative", "sampled": "18"})
    assert ZoneScreening.objects.get().sampled == 18


# --- cases --------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_case_form_refuses_what_it_cannot_read_and_keeps_what_was_typed(
    client: Client, city: Places, make_user: Callable[..., User], language: str
) -> None:
    as_user(client, make_user("district_officer", district=city["D1"]), language)
    base = {"resident": "C1/2/1/301#1", "kind": "confirmed", "found_by": "community", "stayed": "C3/1"}
    refusals(
        client,
        "/cases/new/",
        base,
        [
            (
                {"resident": ""},
                pick(
                    language,
                    "Give the resident&#x27;s address, like C1/2/1/301#1.",
                    "请填写居民地址，如 C1/2/1/301#1。",
                ),
            ),
            (
                {"resident": "nonsense"},
                pick(
                    language,
                    "There is no resident nonsense (an address like C1/2/1/301#1).",
                    "没有居民 nonsense（地址形如 C1/2/1/301#1）。",
                ),
            ),
            (
                {"kind": "flu"},
                pick(language, "Choose the classification from the list.", "请从列表中选择病例分类。"),
            ),
            (
                {"found_by": ""},
                pick(language, "Choose how the case was found from the list.", "请从列表中选择发现途径。"),
            ),
            (
                {"onset_on": "30/08"},
                pick(language, "Onset is not a day like 2022-09-01.", "发病日期格式有误"),
            ),
            (
                {"stayed": "C3/1, bar"},
                pick(
                    language,
                    "C3/1, bar: the kind of place is workplace, shop or other.",
                    "C3/1, bar：场所类型应为",
                ),
            ),
            ({"frequent": "C3/1\x1b"}, pick(language, "holds control characters", "含有控制字符")),
        ],
        language=language,
        status=422,
    )
    assert Case.objects.count() == 0
    html = shown(client, "/cases/new/", {**base, "found_by": "screening", "kind": "flu"}, 422)
    assert 'value="C1/2/1/301#1"' in html and "C3/1</textarea>" in html
    assert '<option value="screening" selected>' in html
    shown(client, "/cases/new/", base)
    assert Case.objects.get().resident == resident_at("C1/2/1/301#1")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_batch_form_asks_for_a_file(
    client: Client, city: Places, make_user: Callable[..., User], language: str
) -> None:
    as_user(client, make_user("district_officer", district=city["D1"]), language)
    html = shown(client, "/cases/batch/", {}, 422)
    assert pick(language, "Choose a CSV or XLSX file first.", "请先选择 CSV 或 XLSX 文件。") in html


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_contact_form_refuses_odd_kinds_and_days(
    client: Client, city: Places, make_user: Callable[..., User], language: str
) -> None:
    case = report("C1/2/1/301#1")
    as_user(client, make_user("district_officer", district=city["D1"]), language)
    url = f"/cases/{case.pk}/contacts/"
    base = {"resident": "C1/1/1/101#1", "kind": "close", "last_exposure_on": "2022-08-31"}
    refusals(
        client,
        url,
        base,
        [
            (
                {"kind": "cousin"},
                pick(language, "Choose the kind of contact from the list.", "请从列表中选择接触者类别。"),
            ),
            (
                {"last_exposure_on": ""},
                pick(language, "Give the day of the last exposure.", "请填写末次接触日期。"),
            ),
            (
                {"last_exposure_on": "31 Aug"},
                pick(language, "Last exposure is not a day like 2022-09-01.", "末次接触日期格式有误"),
            ),
            (
                {"resident": "C1/1/1/101"},
                pick(language, "There is no resident C1/1/1/101", "没有居民 C1/1/1/101"),
            ),
            (
                {"kind": "secondary", "via": "²"},
                pick(
                    language,
                    "Choose the close contact the secondary contact met.",
                    "请选择该次密切接触者接触过的密切接触者。",
                ),
            ),
        ],
        language=language,
    )
    assert not Contact.objects.exists()
    shown(client, url, base)
    assert Contact.objects.get().resident == resident_at("C1/1/1/101#1")
    # A reason for the audit log is at most 500 characters.
    html = shown(client, f"/cases/{case.pk}/discharge/", {"reason": "x" * 501})
    assert pick(language, "Reason is too long", "原因 过长") in html
    case.refresh_from_db()
    assert case.status == "active"


def test_a_contact_form_for_a_case_out_of_scope_is_not_found_whatever_was_typed(
    client: Client, city: Places, make_user: Callable[..., User]
) -> None:
    case = report("C4/1/1/101#1")  # in D2
    as_user(client, make_user("district_officer", district=city["D1"]))
    assert client.post(f"/cases/{case.pk}/contacts/", {"kind": "cousin"}).status_code == 404


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_protocol_form_refuses_a_day_it_cannot_read(
    client: Client, city: Places, make_user: Callable[..., User], language: str
) -> None:
    as_user(client, make_user("command_centre"), language)
    base = {"protocol": "nov2022", "since": "2022-09-01", "reason": "20 measures"}
    refusals(
        client,
        "/protocol/",
        base,
        [
            ({"since": "tomorrow"}, pick(language, "From is not a day like 2022-09-01.", "起始日期格式有误")),
            (
                {"reason": "20\x0bmeasures"},
                pick(language, "Reason holds control characters", "原因 含有控制字符"),
            ),
        ],
        language=language,
        status=422,
    )
    assert not ProtocolInForce.objects.filter(protocol="nov2022").exists()
    shown(client, "/protocol/", base)
    assert ProtocolInForce.objects.filter(protocol="nov2022").exists()


# --- testing ------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_round_form_refuses_odd_times_districts_and_zones(
    client: Client, city: Places, make_user: Callable[..., User], language: str
) -> None:
    as_user(client, make_user("command_centre"), language)
    base = {"code": "R-1", "starts_at": "2022-09-01T09:00", "deadline": "2022-09-02T09:00"}
    refusals(
        client,
        "/testing/",
        base,
        [
            (
                {"starts_at": "9am"},
                pick(language, "Start is not a time like 2022-09-01 08:00.", "开始时间格式有误"),
            ),
            (
                {"deadline": ""},
                pick(language, "Deadline is not a time like 2022-09-01 08:00.", "截止时间格式有误"),
            ),
            (
                {"districts": ["D1"]},
                pick(language, "Choose the districts from the list.", "请从列表中选择区县。"),
            ),
            ({"zone": "x"}, pick(language, "Choose the zone from the list.", "请从列表中选择风险区。")),
            (
                {"zone": "1", "districts": [str(city["D1"].pk)]},
                pick(language, "A round covers some districts or one zone, not both.", "二者只能选其一"),
            ),
            (
                {"name": "x" * 101},
                pick(language, "Name is too long: at most 100 characters.", "姓名 过长：最多 100 个字符。"),
            ),
        ],
        language=language,
        status=422,
    )
    assert not Round.objects.exists()
    html = shown(client, "/testing/", {**base, "starts_at": "9am", "districts": [str(city["D1"].pk)]}, 422)
    assert f'value="{city["D1"].pk}" checked' in html and 'value="R-1"' in html
    shown(client, "/testing/", base)
    opened = Round.objects.get()
    assert opened.code == "R-1"
    html = shown(client, f"/testing/{opened.pk}/close/", {"reason": "x" * 501})
    assert pick(language, "Reason is too long", "原因 过长") in html
    opened.refresh_from_db()
    assert opened.closed_at is None


# --- supply -------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_price_form_refuses_what_is_not_a_price(
    client: Client, catalogue: None, make_user: Callable[..., User], language: str
) -> None:
    as_user(client, make_user("market_regulator"), language)
    base = {"item": "rice-5kg", "outlet": "城东菜场", "sale_price": "45", "purchase_price": "30"}
    refusals(
        client,
        "/supply/",
        base,
        [
            ({"sale_price": "abc"}, pick(language, "Sale price is not a number.", "销售价 不是数字。")),
            ({"sale_price": ""}, pick(language, "Sale price is not a number.", "销售价 不是数字。")),
            ({"sale_price": "-3"}, pick(language, "Sale price must be more than 0.", "销售价 须大于 0。")),
            (
                {"purchase_price": "NaN"},
                pick(language, "Purchase price is not a number.", "进货价 不是数字。"),
            ),
            (
                {"outlet": "x" * 101},
                pick(language, "Outlet is too long: at most 100 characters.", "销售网点 过长"),
            ),
        ],
        language=language,
        status=422,
    )
    assert not PriceReport.objects.exists()
    shown(client, "/supply/", base)
    assert PriceReport.objects.get().sale_price == 45


# --- delivery -----------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_volunteers_forms_refuse_odd_weights_and_long_reasons(
    client: Client, locked: list[Household], city: Places, make_user: Callable[..., User], language: str
) -> None:
    delivery.standard_orders_create(day=TODAY, actor=SYSTEM, now=NOW)
    delivery.tasks_build(day=TODAY, actor=SYSTEM, now=NOW)
    task = DeliveryTask.objects.get()
    as_user(client, make_user("volunteer", community=city["M1"]), language)
    shown(client, f"/tasks/{task.pk}/claim/", {})
    order = task.orders.order_by("pk").first()
    assert order is not None
    refusals(
        client,
        f"/orders/{order.pk}/deliver/",
        {"recipient_code": order.recipient_code},
        [
            ({"weight_kg": "heavy"}, pick(language, "The weight is not a number of kg.", "重量须为千克数。")),
            ({"weight_kg": "2000"}, pick(language, "The weight is not a number of kg.", "重量须为千克数。")),
        ],
        language=language,
    )
    html = shown(client, f"/orders/{order.pk}/fail/", {"reason": "无" * 301})
    assert pick(language, "Why is too long: at most 300 characters.", "原因 过长：最多 300 个字符。") in html
    order.refresh_from_db()
    assert order.state == "assigned"
    shown(client, f"/orders/{order.pk}/deliver/", {"recipient_code": order.recipient_code, "weight_kg": "10"})
    order.refresh_from_db()
    assert order.measured_weight_kg == 10


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_proxy_order_form_refuses_odd_quantities_kinds_and_households(
    client: Client, locked: list[Household], city: Places, make_user: Callable[..., User], language: str
) -> None:
    as_user(client, make_user("community_worker", community=city["M1"]), language)
    base = {"household": "C1/1/1/101", "item": "rice-5kg", "quantity": "1", "kind": "proxy"}
    quantity = pick(language, "A quantity is a whole number from 1 to 99.", "数量须为 1 到 99 的整数。")
    refusals(
        client,
        "/deliveries/orders/",
        base,
        [
            ({"quantity": "0"}, quantity),
            ({"quantity": "100"}, quantity),
            ({"quantity": "two"}, quantity),
            (
                {"kind": "gift"},
                pick(language, "Choose the kind of order from the list.", "请从列表中选择订单类型。"),
            ),
            (
                {"household": "C4/1/1/101"},
                pick(
                    language,
                    "There is no household C4/1/1/101 in this community.",
                    "本社区没有 C4/1/1/101 这户。",
                ),
            ),
            ({"note": "x" * 301}, pick(language, "Note is too long: at most 300 characters.", "备注 过长")),
        ],
        language=language,
    )
    assert not Order.objects.filter(kind="proxy").exists()
    shown(client, "/deliveries/orders/", {k: v for k, v in base.items() if k != "quantity"})
    assert [line.quantity for line in Order.objects.get(kind="proxy").lines.all()] == [1]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_zone_package_form_refuses_a_cycle_out_of_range(
    client: Client, locked: list[Household], make_user: Callable[..., User], language: str
) -> None:
    zone = Zone.objects.get()
    as_user(client, make_user("command_centre"), language)
    cycle = pick(language, "A cycle is a whole number of days from 1 to 30.", "周期须为 1 到 30 的整数天。")
    refusals(
        client,
        f"/zones/{zone.pk}/cycle/",
        {"item": "vegetable-10kg"},
        [({"every_days": "0"}, cycle), ({"every_days": "31"}, cycle), ({"every_days": ""}, cycle)],
        language=language,
    )
    assert not PackageCycle.objects.exists()
    shown(client, f"/zones/{zone.pk}/cycle/", {"item": "vegetable-10kg", "every_days": "30"})
    assert PackageCycle.objects.get().every_days == 30
    # Back to the policy's package: no cycle to give.
    shown(client, f"/zones/{zone.pk}/cycle/", {"clear": "1"})
    assert not PackageCycle.objects.exists()


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_residents_order_form_refuses_odd_quantities_and_notes(
    client: Client, locked: list[Household], make_user: Callable[..., User], language: str
) -> None:
    as_user(client, make_user("resident", household=locked[0]), language)
    quantity = pick(language, "A quantity is a whole number from 1 to 99.", "数量须为 1 到 99 的整数。")
    refusals(
        client,
        "/my-orders/",
        {"form_key": "k1", "qty-rice-5kg": "1"},
        [
            ({"qty-rice-5kg": "100"}, quantity),
            ({"qty-rice-5kg": "-1"}, quantity),
            ({"note": "请放\x00门口"}, pick(language, "Note holds control characters", "备注 含有控制字符")),
        ],
        language=language,
    )
    assert not Order.objects.filter(kind="resident").exists()
    shown(client, "/my-orders/", {"form_key": "k1", "qty-rice-5kg": "1", "qty-vegetable-10kg": "0"})
    assert [(line.item.code, line.quantity) for line in Order.objects.get(kind="resident").lines.all()] == [
        ("rice-5kg", 1)
    ]


# --- what a page's link asks for ----------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_link_asking_for_what_is_not_there_says_so_and_shows_the_default(
    client: Client, city: Places, make_user: Callable[..., User], language: str
) -> None:
    officer = as_user(client, make_user("command_centre"), language)
    supply = officer.get("/supply/?district=D1").content.decode()
    assert pick(language, "Choose a district from the list.", "请从列表中选择区县。") in supply
    board = officer.get("/deliveries/?community=%C2%B2")  # "²": a digit to Python, not to a form
    assert board.status_code == 200
    assert (
        pick(language, "Choose a community from the list.", "请从列表中选择社区。") in board.content.decode()
    )
    zones = officer.get("/zones/?state=everything").content.decode()
    assert pick(language, "Choose zones in force or lifted.", "请选择生效中或已解封的风险区。") in zones
    bulletin = officer.get("/bulletin/?day=2022-13-01").content.decode()
    assert (
        pick(language, "Day is not a day like 2022-09-01.", "日期格式有误，日期格式如 2022-09-01。")
        in bulletin
    )
    # What is right is taken: the community's own board.
    community = city["M1"]
    own = officer.get(f"/deliveries/?community={community.pk}").content.decode()
    assert community.name in own and "Choose a community" not in own


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_page_asked_for_without_a_query_shows_no_error(
    client: Client, city: Places, make_user: Callable[..., User], language: str
) -> None:
    officer = as_user(client, make_user("command_centre"), language)
    for url in (
        "/bulletin/",
        "/bulletin/print/",
        "/cases/",
        "/zones/",
        "/zones/map/",
        "/supply/",
        "/deliveries/",
    ):
        response = officer.get(url)
        assert response.status_code == 200, url
        # No message at the head of the page (the page's messages are its only role="status").
        assert 'role="status"' not in response.content.decode(), url


def test_an_empty_day_on_a_screening_or_a_protocol_is_today(
    client: Client, city: Places, make_user: Callable[..., User]
) -> None:
    officer = as_user(client, make_user("command_centre"))
    html = shown(
        officer, "/protocol/", {"protocol": "nov2022", "since": "", "reason": "State Council notice"}
    )
    assert "Fill in" not in html
    adopted = ProtocolInForce.objects.order_by("-pk").first()
    assert adopted is not None and adopted.protocol == "nov2022" and adopted.since == TODAY


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_resident_outside_the_officers_district_reads_as_nobody_there(
    client: Client, city: Places, make_user: Callable[..., User], language: str
) -> None:
    """The new-case form tells nobody who lives outside their area: an address in another
    district gets the very words of an address with nobody at it."""
    officer = as_user(client, make_user("district_officer", district=city["D1"]), language)
    elsewhere = Resident.objects.filter(district=city["D2"]).order_by("pk").first()
    assert elsewhere is not None
    outside = f"{elsewhere.household.address}#{elsewhere.number}"
    nobody = "C1/2/1/301#9"
    assert not Resident.objects.filter(household__address="C1/2/1/301", number=9).exists()
    said = {}
    for address in (outside, nobody):
        html = shown(
            officer, "/cases/new/", {"resident": address, "kind": "confirmed", "found_by": "community"}, 422
        )
        said[address] = [m.replace(address, "ADDRESS") for m in re.findall(r'role="alert">([^<]*)<', html)]
    assert said[outside] == said[nobody] != []
    assert pick(language, "There is no resident ADDRESS", "ADDRESS") in said[nobody][0]
    assert Case.objects.count() == 0


def test_a_boards_link_is_read_once_so_its_refusal_is_said_once(
    client: Client, city: Places, make_user: Callable[..., User]
) -> None:
    officer = as_user(client, make_user("command_centre"))
    html = officer.get(f"/deliveries/?community={city['M1'].pk}&district=D1").content.decode()
    assert city["M1"].name in html
    assert html.count("Choose a district from the list.") == 1
