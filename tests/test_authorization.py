"""Who may call what, and where: every API operation and console page, asked by every role (and
by an administrator and an anonymous visitor), about an object in the asker's scope ("own") and
one outside it ("other"), against the expectations declared in `tests/authorization.py`.

The endpoints are read from the URL configuration and the OpenAPI document, so an endpoint
added without a line in that table fails `test_every_endpoint_has_a_declared_expectation`
the day it is added.

A refused write must leave no trace: no audit entry and no row added or removed in any table.
Each request runs in a savepoint rolled back after it, so that an allowed write (a zone
confirmed, a task claimed) does not change what the next asker sees.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.contrib import messages
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from bastion import flows
from bastion.api.root import api
from bastion.appeals import services as appeals
from bastion.care import services as care
from bastion.care.models import MedicalNeed, Trip
from bastion.city.models import Household
from bastion.city.selectors import actor_for
from bastion.codes.tokens import token_for
from bastion.core.models import AuditEntry
from bastion.core.roles import DEFAULT_SCOPE, Role, ScopeLevel
from bastion.core.scopes import SYSTEM
from bastion.delivery import services as delivery
from bastion.delivery.models import DeliveryTask, Order
from bastion.testing import services as testing
from bastion.testing.models import Lab, Round, Tube
from bastion.transfer import services as transfer
from bastion.transfer.models import Transfer
from tests.authorization import ADMIN, ADMIN_SITE, ANONYMOUS, API, CONSOLE, OTHER, OWN, Outcome, Rule
from tests.conftest import NOW, TODAY
from tests.factories import PASSWORD, StaffUserFactory, supply_catalogue

# --- the endpoints, as the URL configuration and the OpenAPI document say ----------------------

WRITES = {"POST", "PUT", "PATCH", "DELETE"}


@functools.cache
def openapi() -> dict[str, Any]:
    """The published OpenAPI document (built once: it takes most of a second)."""
    return api.get_openapi_schema()


def api_operations() -> list[str]:
    """'METHOD /api/v1/path/{param}' for every operation of the OpenAPI document."""
    document = openapi()
    return sorted(
        f"{method.upper()} {path}" for path, operations in document["paths"].items() for method in operations
    )


def _routes(resolver: URLResolver, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(route, name) of every pattern under `resolver`."""
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.name or ""


def url_routes() -> list[str]:
    """Every route of the URL configuration, nested ones included, as Django writes them."""
    return sorted({route for route, _name in _routes(get_resolver())})


def route_of(path: str) -> str:
    """A route or an OpenAPI path, written one way: /api/v1/cases/{case_id}."""
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path.lstrip("/"))


def console_routes() -> list[str]:
    """The routes outside the API's operations and the admin site (both covered otherwise)."""
    operations = {key.split(" ", 1)[1] for key in api_operations()}
    return [
        route_of(route)
        for route in url_routes()
        if not route.startswith("admin/") and route_of(route) not in operations
    ]


def admin_routes() -> list[str]:
    """The admin site's index and each model's list."""
    return sorted(
        route_of(route)
        for route, name in _routes(get_resolver())
        if route.startswith("admin/") and (name == "index" or name.endswith("_changelist"))
    )


# --- the askers and the objects they ask about ------------------------------------------------

ASKERS = [*Role.values, ADMIN, ANONYMOUS]
# Where objects are made: the askers' home, another community of the same district, and the
# other district.
HOME, NEIGHBOUR, AWAY = "M1", "M2", "M3"
ANCHOR = {HOME: "C1/2/1/301", NEIGHBOUR: "C3/", AWAY: "C4/"}  # a household of each place


def away_from_home(asker: str) -> str:
    """The nearest place outside an asker's scope: another community of the same district for
    those bound to a community, their tasks or a household; the other district otherwise (for
    the city-wide roles, "other" is still within their scope)."""
    if asker in (Role.COMMUNITY_WORKER, Role.VOLUNTEER, Role.RESIDENT):
        return NEIGHBOUR
    return AWAY


def city_wide(asker: str) -> bool:
    return asker in Role.values and DEFAULT_SCOPE[asker] == ScopeLevel.CITY


# Path parameter -> the kind of object it names.
KINDS = {
    "district_id": "district",
    "community_id": "community",
    "compound_id": "compound",
    "building_id": "building",
    "household_id": "household",
    "resident_id": "resident",
    "case_id": "case",
    "zone_id": "zone",
    "round_id": "round",
    "code": "round_code",
    "grid_id": "grid",
    "task_id": "task",
    "order_id": "order",
    "transfer_id": "transfer",
    "facility_id": "facility",
    "barcode": "tube",
    "token": "code_token",
    "need_id": "need",
    "trip_id": "trip",
    "appeal_id": "appeal",
    # named by the bodies of requests and the fields of forms
    "household": "household",
    "address": "household_address",
    "community": "community",
}
# Fields of an API body that name an object: filled with the object of the place asked about.
BODY_FIELDS = {"resident_id": "resident", "household_id": "household", "case_id": "case", "zone_id": "zone"}
PARAMETER = re.compile(r"\{(\w+)\}")


@dataclass
class World:
    """The askers' accounts and, per kind of object, one object in each place (path values)."""

    users: dict[str, User | None]
    objects: dict[str, dict[str, str]]

    def value(self, kind: str, place: str) -> str:
        """The object of `kind` in `place`; where it is the same as home's (the district of a
        neighbouring community), the away place's."""
        by_place = self.objects[kind]
        chosen = by_place[place]
        return by_place[AWAY] if place != HOME and chosen == by_place[HOME] else chosen

    def fill(self, template: str, place: str) -> str:
        """`template` (a route, a form's value) with each {parameter} naming the object of `place`."""
        return PARAMETER.sub(lambda m: self.value(KINDS[m.group(1)], place), template)


def _anchor(place: str) -> Household:
    address = ANCHOR[place]
    if not address.endswith("/"):
        return Household.objects.get(address=address)
    return Household.objects.filter(address__startswith=address).order_by("address").first()  # type: ignore[return-value]


def _build(kinds: set[str]) -> dict[str, dict[str, str]]:
    """The objects of `kinds`, and only those, in each place."""
    homes = {place: _anchor(place) for place in (HOME, NEIGHBOUR, AWAY)}
    objects: dict[str, dict[str, str]] = {}
    _catalogue()
    Lab.objects.create(code="L1", name="检测机构")

    def each(kind: str, pick: Any) -> None:
        objects[kind] = {place: str(pick(place, household)) for place, household in homes.items()}

    each("district", lambda p, h: h.district_id)
    each("community", lambda p, h: h.community_id)
    each("compound", lambda p, h: h.compound_id)
    each("building", lambda p, h: h.building_id)
    each("grid", lambda p, h: h.grid_id)
    each("household", lambda p, h: h.pk)
    each("household_address", lambda p, h: h.address)
    each("resident", lambda p, h: h.residents.order_by("number").first().pk)
    each("code_token", lambda p, h: token_for(h.residents.order_by("number").first().pk))
    # Each place's resident is a case (so that they are among the people to move, too).
    if kinds & {"resident", "case", "zone", "task", "order", "transfer"}:
        reported = {
            place: flows.case_reported(
                resident_id=int(objects["resident"][place]), kind="confirmed", actor=SYSTEM, now=NOW
            )
            for place in homes
        }
        each("case", lambda p, h: reported[p].case.pk)
        each("transfer", lambda p, h: Transfer.objects.get(resident_id=reported[p].case.resident_id).pk)
        each("zone", lambda p, h: reported[p].zone_changes[0].zone.pk)
        for zone_id in objects["zone"].values():  # a cycle of its own, for its clearing
            delivery.package_cycle_set(
                zone_id=int(zone_id), item_code="vegetable-10kg", every_days=3, actor=SYSTEM, now=NOW
            )
    if "facility" in kinds:
        facility = transfer.facility_create(
            code="F1", kind="shelter_hospital", beds={"ordinary": 5}, actor=SYSTEM, now=NOW
        )
        each("facility", lambda p, h: facility.pk)
    if kinds & {"round", "round_code", "tube"}:
        for district in {h.district_id for h in homes.values()}:
            testing.round_open(
                code=f"R{district}",
                starts_at=NOW - timedelta(hours=1),
                deadline=NOW + timedelta(days=1),
                district_ids=[district],
                actor=SYSTEM,
                now=NOW,
            )
        rounds = {p: Round.objects.get(code=f"R{h.district_id}") for p, h in homes.items()}
        each("round", lambda p, h: rounds[p].pk)
        each("round_code", lambda p, h: rounds[p].code)
        for place, round_ in rounds.items():
            testing.scan_record(
                round_id=round_.pk,
                resident_id=int(objects["resident"][place]),
                tube_barcode=f"T{place}",
                scanned_at=NOW,
                actor=SYSTEM,
                now=NOW,
            )
        each("tube", lambda p, h: Tube.objects.get(barcode=f"T{p}").barcode)
    if kinds & {"need", "trip"}:
        for place in homes:
            resident_id = int(objects["resident"][place])
            care.need_add(
                resident_id=resident_id,
                fields=care.NeedFields(kind="insulin", since=TODAY),
                actor=SYSTEM,
                now=NOW,
            )
            care.emergency_call(resident_id=resident_id, actor=SYSTEM, now=NOW)
        each("need", lambda p, h: MedicalNeed.objects.get(resident_id=objects["resident"][p]).pk)
        each("trip", lambda p, h: Trip.objects.get(resident_id=objects["resident"][p]).pk)
    if "appeal" in kinds:
        raised = {
            place: appeals.appeal_raise(
                household_id=h.pk, category="other", urgency="normal", actor=SYSTEM, now=NOW
            )
            for place, h in homes.items()
        }
        each("appeal", lambda p, h: raised[p].pk)
    if kinds & {"task", "order"}:
        delivery.standard_orders_create(day=TODAY, actor=SYSTEM, now=NOW)
        tasks = {p: DeliveryTask.objects.get(building_id=h.building_id) for p, h in homes.items()}
        each("task", lambda p, h: tasks[p].pk)
        each("order", lambda p, h: Order.objects.filter(task=tasks[p]).order_by("pk").first().pk)  # type: ignore[union-attr]
    return objects


def _catalogue() -> None:
    """A supplier, a standard vegetable package and rice, as the commerce bureau keeps them."""
    supply_catalogue(SYSTEM)


def _users(city: dict[str, Any]) -> dict[str, User | None]:
    home = _anchor(HOME)
    places = {
        Role.DISTRICT_OFFICER: {"district": city["D1"]},
        Role.COMMUNITY_WORKER: {"community": city["M1"]},
        Role.VOLUNTEER: {"community": city["M1"]},
        Role.RESIDENT: {"household": home},
    }
    users: dict[str, User | None] = {
        role: StaffUserFactory(role=role, **places.get(role, {})) for role in Role.values
    }
    users[ADMIN] = User.objects.create_superuser("keeper", "keeper@example.org", PASSWORD)
    users[ANONYMOUS] = None
    return users


# --- asking ----------------------------------------------------------------------------------

# The forms a console write needs to get past its form to the power it asks for (the pages that
# check the power first need none). {parameter}: the object of the place asked about.
CONSOLE_FORMS: dict[str, dict[str, str]] = {
    "POST /zones/{zone_id}/reject/": {"reason": "核查"},
    "POST /codes/residents/{resident_id}/correct/": {"colour": "yellow", "reason": "核查"},
    "POST /zones/{zone_id}/lift/": {"reason": "核查"},
    "POST /zones/{zone_id}/adjust/": {"level": "medium", "reason": "核查"},
    "POST /zones/{zone_id}/screening/": {"on": "2022-09-01", "sampled": "10", "result": "negative"},
    "POST /zones/{zone_id}/cycle/": {"item": "vegetable-10kg", "every_days": "3"},
    "POST /cases/{case_id}/convert/": {"reason": "核查"},
    "POST /cases/{case_id}/discharge/": {"reason": "核查"},
    "POST /registry/residents/{resident_id}/flags/": {"reason": "核查", "disabled": "on"},
    "POST /testing/{round_id}/close/": {"reason": "核查"},
    "POST /care/needs/{need_id}/end/": {"reason": "转院"},
    "POST /orders/{order_id}/deliver/": {"recipient_code": "0000", "client_key": "k1"},
    "POST /orders/{order_id}/fail/": {"reason": "无人应答"},
    "POST /transfer/{transfer_id}/move/": {"to": "cancelled", "reason": "核查"},
    "POST /deliveries/orders/": {"community": "{community}", "household": "{address}", "item": "rice-5kg"},
    "POST /cases/{case_id}/contacts/": {
        "resident": "{address}#2",
        "kind": "close",
        "last_exposure_on": "2022-08-31",
    },
}

# The link's query, where a page reads what it is about from it (a city or district officer
# picks the community of the dispatch board).
CONSOLE_QUERIES: dict[str, str] = {
    "GET /deliveries/": "?community={community}",
    "POST /deliveries/": "?community={community}",
    "GET /deliveries/export.csv": "?community={community}",
    "GET /deliveries/print/": "?community={community}",
}

# Fields of an API body that must name something that exists to get past it (the catalogue's
# items and the laboratory are made for every test).
API_BODIES: dict[str, dict[str, Any]] = {
    "POST /api/v1/transfer/groups": {"address": "{address}#1"},
    "POST /api/v1/transfer/{transfer_id}/move": {"to": "picked_up"},
    "POST /api/v1/transfer/people/{resident_id}/severity": {"severity": "severe"},
    "POST /api/v1/transfer/{transfer_id}/discharge-tests": {"taken_at": "2022-09-01T08:00:00+08:00"},
    "POST /api/v1/cases/": {"kind": "asymptomatic"},
    "POST /api/v1/cases/contacts": {"kind": "close"},
    "POST /api/v1/codes/residents/{resident_id}/correct": {"colour": "yellow"},
    "POST /api/v1/delivery/orders": {"lines": [{"item": "rice-5kg", "quantity": 1}]},
    "POST /api/v1/supply/prices": {"item": "rice-5kg", "outlet": "锦华超市", "sale_price": "30"},
    "POST /api/v1/testing/tubes/{barcode}/receipt": {"lab": "L1"},
    "POST /api/v1/testing/tubes/{barcode}/result": {"result": "negative", "lab": "L1"},
    "POST /api/v1/care/needs": {"kind": "insulin"},
    "POST /api/v1/appeals/": {"category": "other"},
    "POST /api/v1/appeals/{appeal_id}/hand-back": {"to": "district", "reason": "x"},
    "POST /api/v1/appeals/{appeal_id}/rate": {"rating": "satisfied"},
}


def _schema(node: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = components[node["$ref"].rsplit("/", 1)[1]]
    return node


def _example(node: dict[str, Any], components: dict[str, Any]) -> Any:
    """A value of the schema's type: enough to pass the API's validation and reach the power
    the operation asks for (the service then refuses or takes it)."""
    node = _schema(node, components)
    options = [_schema(o, components) for o in node.get("anyOf", [])]
    kind = node.get("type") or next((o.get("type") for o in options if o.get("type") != "null"), "string")
    if kind == "string":
        return {"date": "2022-09-01", "date-time": "2022-09-01T10:00:00+08:00"}.get(
            node.get("format", ""), "x"
        )
    return {"integer": 1, "number": 1, "boolean": False, "array": [], "object": {}}.get(kind)


def api_body(key: str) -> tuple[dict[str, Any], bool]:
    """The operation's body with its required fields (and those naming an object, as
    "{kind}" to fill), and whether it is a file upload."""
    method, path = key.split(" ", 1)
    document = openapi()
    components = document["components"]["schemas"]
    request_body = document["paths"][path][method.lower()].get("requestBody")
    if request_body is None:
        return {}, False
    [(content_type, content)] = request_body["content"].items()
    schema = _schema(content["schema"], components)
    body = {}
    for name, node in schema.get("properties", {}).items():
        if name in BODY_FIELDS:
            body[name] = "{" + name + "}"
        elif name in schema.get("required", []):
            body[name] = _example(node, components)
    return {**body, **API_BODIES.get(key, {})}, content_type.startswith("multipart/")


def _filled(value: Any, world: World, place: str, api_call: bool) -> Any:
    if api_call and isinstance(value, str) and PARAMETER.fullmatch(value):
        return int(world.fill(value, place))
    return world.fill(value, place) if isinstance(value, str) else value


def outcome(response: HttpResponse) -> Outcome:
    status = response.status_code
    if status == 401 or (status == 302 and "/login/" in response["Location"]):
        return Outcome.LOGIN
    if status == 302 and any(m.level == messages.ERROR for m in _queued(response)):
        return Outcome.TOLD
    if status == 403:
        return Outcome.FORBIDDEN
    if status == 404:
        return Outcome.NOT_FOUND
    if status == 405:
        return Outcome.NOT_ALLOWED
    if status >= 500:
        return Outcome.ERROR
    return Outcome.ALLOWED


def _queued(response: HttpResponse) -> list[Any]:
    """The messages a console page queued for the page it redirects to."""
    storage = getattr(response.wsgi_request, "_messages", None)  # type: ignore[attr-defined]
    return list(getattr(storage, "_queued_messages", []))


@functools.cache
def _tables() -> tuple[str, ...]:
    """Every table of the platform (the sessions aside: logging in writes one)."""
    return tuple(
        sorted(
            model._meta.db_table
            for model in apps.get_models(include_auto_created=True)
            if model._meta.managed and not model._meta.proxy and model._meta.label != "sessions.Session"
        )
    )


def _counts() -> dict[str, int]:
    """Rows per table, in one statement (a write is asked about two dozen times per test)."""
    quote = connection.ops.quote_name
    counts = ", ".join(f"(SELECT COUNT(*) FROM {quote(table)})" for table in _tables())
    with connection.cursor() as cursor:
        # The table names come from the models, quoted.
        cursor.execute(f"SELECT {counts}")
        row = cursor.fetchone()
    return dict(zip(_tables(), row, strict=True))


@dataclass(frozen=True)
class Answer:
    asker: str
    where: str
    url: str
    got: Outcome
    status: int
    traces: str  # what a refused write left behind ("" for none)


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    json: dict[str, Any] | None = None  # an API body
    form: dict[str, Any] | None = None  # a console form, or an API upload


def ask(client: Client, request: Request) -> tuple[HttpResponse, str]:
    """One request in a savepoint rolled back after it; for a refused write, what it left."""
    write = request.method in WRITES
    with transaction.atomic():
        before = _counts() if write else {}
        audited = AuditEntry.objects.count()
        if request.method == "GET":
            response = client.get(request.url)
        elif request.json is not None:
            response = client.generic(
                request.method, request.url, json.dumps(request.json), content_type="application/json"
            )
        else:
            response = client.post(request.url, request.form or {})
        traces = ""
        if write and outcome(response) not in (Outcome.ALLOWED, Outcome.ERROR):
            after = _counts()
            changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
            if changed or AuditEntry.objects.count() != audited:
                traces = f"left rows {changed}, audit entries {audited} -> {AuditEntry.objects.count()}"
        transaction.set_rollback(True)
    return response, traces


def _kinds(*templates: str) -> set[str]:
    names = {name for template in templates for name in PARAMETER.findall(template)}
    unknown = sorted(names - set(KINDS))
    assert not unknown, f"say in KINDS which object {unknown} names"
    return {KINDS[name] for name in names}


def make_world(kinds: set[str], city: dict[str, Any]) -> World:
    world = World(users=_users(city), objects=_build(kinds))
    if kinds & {"task", "order"}:
        # The volunteer's own task is the one they claimed.
        volunteer = world.users[Role.VOLUNTEER]
        delivery.task_claim(task_id=int(world.value("task", HOME)), actor=actor_for(volunteer), now=NOW)
    return world


def run_matrix(key: str, *, api_call: bool, city: dict[str, Any], world: World | None = None) -> list[Answer]:
    """Ask `key` as every asker, about their own place's objects and, where the request names
    one, about another place's."""
    method, route = key.split(" ", 1)
    if api_call:
        body, upload = api_body(key)
        fields = {k: v for k, v in body.items() if isinstance(v, str)}
    else:
        body, upload = CONSOLE_FORMS.get(key, {}), False
        fields = {**body, "query": CONSOLE_QUERIES.get(key, "")}
    kinds = _kinds(route, *fields.values())
    if world is None:
        world = make_world(kinds, city)
    answers = []
    for asker in ASKERS:
        client = Client()
        user = world.users[asker]
        if user is not None:
            client.force_login(user)
        for where in (OWN, OTHER) if kinds else (OWN,):
            place = HOME if where == OWN else away_from_home(asker)
            filled = {name: _filled(value, world, place, api_call) for name, value in body.items()}
            if upload:
                filled = {name: SimpleUploadedFile("rows.csv", b"a,b\n1,2\n") for name in body}
            request = Request(
                method,
                world.fill(route + ("" if api_call else CONSOLE_QUERIES.get(key, "")), place),
                json=filled if api_call and not upload and method != "GET" else None,
                form=filled if upload or not api_call else None,
            )
            response, traces = ask(client, request)
            answers.append(Answer(asker, where, request.url, outcome(response), response.status_code, traces))
    return answers


def mismatches(answers: list[Answer], rule: Rule) -> list[str]:
    wrong = []
    for a in answers:
        want = rule.expected(a.asker, a.where, a.where == OWN or city_wide(a.asker))
        # A page that takes the power but refuses the input says so on the page it goes back to.
        same = a.got == want or (want == Outcome.ALLOWED and a.got == Outcome.TOLD)
        if not same or a.traces:
            wrong.append(
                f"{a.asker:>18} {a.where:<5} {a.url}: want {want}, got {a.status} ({a.got}) {a.traces}"
            )
    return wrong


def _report(key: str, wrong: list[str]) -> str:
    return f"{key}: {len(wrong)} answers differ from tests/authorization.py\n" + "\n".join(wrong)


# --- the tests -------------------------------------------------------------------------------


def test_every_endpoint_has_a_declared_expectation() -> None:
    """A new API operation or console page fails here until its line is written; a line whose
    endpoint is gone fails too, so that the table says what exists."""
    operations = set(api_operations())
    assert sorted(operations - set(API)) == [], "API operations without a line in tests/authorization.py"
    assert sorted(set(API) - operations) == [], "lines of API without an operation"
    routes = set(console_routes())
    declared = {key.split(" ", 1)[1] for key in CONSOLE}
    assert sorted(routes - declared) == [], "console pages without a line in tests/authorization.py"
    assert sorted(declared - routes) == [], "lines of CONSOLE without a page"


@pytest.mark.parametrize("key", api_operations())
def test_api_operation(key: str, city: dict[str, Any]) -> None:
    rule = API.get(key)
    assert rule is not None, f"{key} has no line in tests/authorization.py"
    wrong = mismatches(run_matrix(key, api_call=True, city=city), rule)
    assert not wrong, _report(key, wrong)


@pytest.mark.parametrize("key", sorted(CONSOLE))
def test_console_page(key: str, city: dict[str, Any]) -> None:
    rule = CONSOLE[key]
    wrong = mismatches(run_matrix(key, api_call=False, city=city), rule)
    assert not wrong, _report(key, wrong)


def test_admin_site(city: dict[str, Any]) -> None:
    """Every page of the admin site that takes no argument: its superusers only."""
    world = make_world(set(), city)
    wrong = [
        line
        for route in admin_routes()
        for line in mismatches(run_matrix(f"GET {route}", api_call=False, city=city, world=world), ADMIN_SITE)
    ]
    assert not wrong, _report("the admin site", wrong)
