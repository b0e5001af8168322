"""Who may call each endpoint, and whether it is bound to the caller's scope: one line per API
operation (as the OpenAPI document names it) and per console page (as the URL configuration
names it). `tests/test_authorization.py` asks every endpoint as every role, an administrator
and an anonymous visitor, about an object of the caller's own scope and one of another, and
holds the answers to these lines; an endpoint without a line fails there.

Reading a line: `may(CC, DO, scoped=True)` — the command centre and district officers are let
through (2xx, 3xx, or a refusal of the input itself: 400, 409, 422); every other role is refused
(403); an object outside the caller's scope does not exist for them (404); an anonymous visitor
is asked to log in (401 from the API, a redirect to the login page from the console); an
administrator without a role in the city is refused like a role without the power.
`quirks` records, with the reason, where today's answer departs from that pattern.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bastion.core.roles import Role


class Outcome(StrEnum):
    ALLOWED = "allowed"  # 2xx, 3xx, or the input refused (400, 409, 422): the power was granted
    FORBIDDEN = "403"
    NOT_FOUND = "404"
    LOGIN = "login"  # 401 from the API; a redirect to the (console's or admin's) login page
    NOT_ALLOWED = "405"  # the method is not one the page takes
    TOLD = "told"  # a console page went back with the refusal said on it (nothing done)
    ERROR = "500"


# The askers besides the roles.
ADMIN = "admin"  # a Django superuser with no role in the city (the admin site's keeper)
ANONYMOUS = "anonymous"

CC = Role.COMMAND_CENTRE
DO = Role.DISTRICT_OFFICER
CW = Role.COMMUNITY_WORKER
VO = Role.VOLUNTEER
LAB = Role.LAB
SAM = Role.SAMPLER
TD = Role.TRANSFER_DISPATCH
CS = Role.COMMERCE_SUPPLY
MR = Role.MARKET_REGULATOR
RES = Role.RESIDENT
CHK = Role.CODE_CHECKER
HO = Role.HOTLINE_OPERATOR
EVERY_ROLE = tuple(Role)
STAFF = (CC, DO, CW, VO, LAB, SAM, TD, CS, MR, CHK, HO)  # every role but residents

OWN = "own"
OTHER = "other"


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]
    scoped: bool = False  # the request names an object: outside the caller's scope it is not found
    away: Outcome = Outcome.NOT_FOUND  # what a request about an object outside the scope gets
    refused: Outcome = Outcome.FORBIDDEN  # what a role without the power gets
    admin: Outcome = Outcome.FORBIDDEN
    anonymous: Outcome = Outcome.LOGIN
    # (asker, OWN or OTHER) -> the answer today, where it departs from the pattern above.
    quirks: dict[tuple[str, str], Outcome] = field(default_factory=dict)

    def expected(self, asker: str, where: str, in_scope: bool) -> Outcome:
        if (asker, where) in self.quirks:
            return self.quirks[asker, where]
        if asker == ANONYMOUS:
            return self.anonymous
        if asker == ADMIN:
            return self.admin
        if asker not in self.roles:
            return self.refused
        if self.scoped and not in_scope:
            return self.away
        return Outcome.ALLOWED


def may(*roles: str, scoped: bool = False, **more: object) -> Rule:
    return Rule(roles=frozenset(roles), scoped=scoped, **more)  # type: ignore[arg-type]


def anyone(**more: object) -> Rule:
    """Open to every visitor, logged in or not."""
    return Rule(
        roles=frozenset(EVERY_ROLE),
        admin=Outcome.ALLOWED,
        anonymous=Outcome.ALLOWED,
        **more,  # type: ignore[arg-type]
    )


def nobody() -> Rule:
    """Answers not found to everyone."""
    return Rule(
        roles=frozenset(), refused=Outcome.NOT_FOUND, admin=Outcome.NOT_FOUND, anonymous=Outcome.NOT_FOUND
    )


def admin_site(**more: object) -> Rule:
    """The admin site: its superusers only; everyone else is sent to its login page."""
    return Rule(
        roles=frozenset(),
        refused=Outcome.LOGIN,
        admin=Outcome.ALLOWED,
        **more,  # type: ignore[arg-type]
    )


def both(asker: str, outcome: Outcome) -> dict[tuple[str, str], Outcome]:
    return {(asker, OWN): outcome, (asker, OTHER): outcome}


# A volunteer's scope is their own tasks: no zone lies in it.
NO_ZONE_FOR_VOLUNTEERS = {(VO, OWN): Outcome.NOT_FOUND}
REGISTRY_READERS = (CC, DO, CW, RES)
CASE_READERS = (CC, DO, CW, TD)  # TD: to move them; the registry it reads is the people to move
SUPPLY_READERS = (CC, DO, CW, CS, MR)
TESTING_FOLLOWERS = (CC, DO, CW)
OFFICERS = (CC, DO)  # manage cases, zones and testing within their scope
TRIP_FOLLOWERS = (CC, DO, CW, TD)  # trips to treatment (names and needs masked but for CW, TD)
TRANSFER_KEEPERS = (CC, DO, TD)  # keep facilities and vehicles, assign and move people
APPEAL_READERS = (CC, DO, CW, TD, CS, MR, RES, HO)
APPEAL_RAISERS = (CW, RES, HO)  # for a household of their scope (residents: their own)
# The city-wide desks (commerce, market regulation, transfer) see the tickets they own: the
# community's ticket asked about is not theirs to read.
NOT_A_DESKS_TICKET = {
    **both(TD, Outcome.NOT_FOUND),
    **both(CS, Outcome.NOT_FOUND),
    **both(MR, Outcome.NOT_FOUND),
}
# The ticket asked about is the community's: its worker acts on it; another office's staff are
# told it is not theirs (403), a district officer of another district does not see it (404).
APPEAL_OWNERS_ONLY = {(DO, OTHER): Outcome.NOT_FOUND}
# A resident's scope is their household: the places above it (their building, community,
# district) are not theirs to list, so they read as not found.
REGISTRY_PLACE = may(*REGISTRY_READERS, scoped=True, quirks={(RES, OWN): Outcome.NOT_FOUND})
# A community worker's dispatch board is always their own: the community asked for is not read.
OWN_BOARD = {(CW, OTHER): Outcome.ALLOWED}
# A resident's own orders; community workers and volunteers may order but have no household.
MY_ORDERS = may(RES, quirks={(CW, OWN): Outcome.NOT_FOUND, (VO, OWN): Outcome.NOT_FOUND})
# Proxy orders: community staff and volunteers, for a household of their community. The page
# says a refusal on the board it returns to (a household not of the community, a resident's
# own order); a district officer's pick of another district's community is not found first.
PROXY_ORDER = may(
    CW, VO, scoped=True, away=Outcome.TOLD, quirks={**both(RES, Outcome.TOLD), (DO, OTHER): Outcome.NOT_FOUND}
)
# A round's exceptions (with ID numbers) are the command centre's; other followers: not found.
ROUND_EXCEPTIONS = may(CC, quirks={**both(DO, Outcome.NOT_FOUND), **both(CW, Outcome.NOT_FOUND)})
# Logging out sends everyone back to the login page.
LOGOUT = Rule(roles=frozenset(), refused=Outcome.LOGIN, admin=Outcome.LOGIN, anonymous=Outcome.LOGIN)
# A community worker naming a resident and a case outside their scope: not found, before the
# power is asked for.
CONTACT_ADD = may(*OFFICERS, scoped=True, quirks={(CW, OTHER): Outcome.NOT_FOUND})

API: dict[str, Rule] = {
    # city: the registry
    "GET /api/v1/city/figures": may(CC, DO, CW, CS, MR),
    "GET /api/v1/city/districts": may(*REGISTRY_READERS),  # a resident's list is empty
    "GET /api/v1/city/districts/{district_id}/communities": REGISTRY_PLACE,
    "GET /api/v1/city/communities/{community_id}/compounds": REGISTRY_PLACE,
    "GET /api/v1/city/compounds/{compound_id}/buildings": REGISTRY_PLACE,
    "GET /api/v1/city/buildings/{building_id}/households": REGISTRY_PLACE,
    "GET /api/v1/city/households/{household_id}/residents": may(*REGISTRY_READERS, scoped=True),
    "GET /api/v1/city/residents/{resident_id}": may(*REGISTRY_READERS, scoped=True),
    "PATCH /api/v1/city/residents/{resident_id}/flags": may(CW, scoped=True),
    "POST /api/v1/city/registry/import": may(CC),
    "GET /api/v1/city/registry/export": may(CC, DO, CW),
    # cases
    "GET /api/v1/cases/protocol": may(*EVERY_ROLE, admin=Outcome.ALLOWED),  # the rules in force
    "POST /api/v1/cases/protocol": may(CC),
    "GET /api/v1/cases/": may(*CASE_READERS),
    "POST /api/v1/cases/": may(*OFFICERS, scoped=True),
    "POST /api/v1/cases/contacts": may(*OFFICERS, scoped=True),
    "POST /api/v1/cases/batch": may(*OFFICERS),
    "GET /api/v1/cases/{case_id}": may(*CASE_READERS, scoped=True),
    "GET /api/v1/cases/{case_id}/places": may(*CASE_READERS, scoped=True),
    "GET /api/v1/cases/{case_id}/chain": may(*CASE_READERS, scoped=True),
    "GET /api/v1/cases/{case_id}/contacts": may(*CASE_READERS, scoped=True),
    "POST /api/v1/cases/{case_id}/convert": may(*OFFICERS, scoped=True),
    "POST /api/v1/cases/{case_id}/discharge": may(*OFFICERS, scoped=True),
    # zones: every role sees the zones within its scope
    # health codes: a resident's code and why (their own household's for a resident); officers
    # correct within their scope; venues check a token, which names no place: not scoped
    "GET /api/v1/codes/check/{token}": may(CHK),
    "GET /api/v1/codes/counts": may(CC, DO, CW, RES),
    "GET /api/v1/codes/residents/{resident_id}": may(CC, DO, CW, RES, scoped=True),
    "GET /api/v1/codes/residents/{resident_id}/rules": may(CC, DO, CW, RES, scoped=True),
    "POST /api/v1/codes/residents/{resident_id}/correct": may(CC, DO, scoped=True),
    "GET /api/v1/zones/": may(*EVERY_ROLE),
    "GET /api/v1/zones/service-mode/{household_id}": may(*REGISTRY_READERS, scoped=True),
    "GET /api/v1/zones/{zone_id}": may(*EVERY_ROLE, scoped=True, quirks=NO_ZONE_FOR_VOLUNTEERS),
    "POST /api/v1/zones/{zone_id}/confirm": may(*OFFICERS, scoped=True),
    "POST /api/v1/zones/{zone_id}/reject": may(*OFFICERS, scoped=True),
    "POST /api/v1/zones/{zone_id}/lift": may(*OFFICERS, scoped=True),
    "POST /api/v1/zones/{zone_id}/adjust": may(*OFFICERS, scoped=True),
    "POST /api/v1/zones/{zone_id}/screenings": may(*OFFICERS, scoped=True),
    # the bulletin: public figures of the day, to every account (and the admin's)
    "GET /api/v1/bulletin/": may(*EVERY_ROLE, admin=Outcome.ALLOWED),
    # testing. Rounds are city business: any follower reads any round; coverage and recalls
    # are narrowed to the caller's scope, progress is the round's whole figures.
    "GET /api/v1/testing/rounds": may(*TESTING_FOLLOWERS),
    "POST /api/v1/testing/rounds": may(*OFFICERS, scoped=True),  # scoped: the zone it screens
    "POST /api/v1/testing/rounds/{code}/close": may(*OFFICERS, scoped=True),
    "GET /api/v1/testing/rounds/{code}/progress": may(*TESTING_FOLLOWERS),
    "GET /api/v1/testing/rounds/{code}/coverage": may(*TESTING_FOLLOWERS),
    "GET /api/v1/testing/rounds/{code}/recalls": may(*TESTING_FOLLOWERS),
    "GET /api/v1/testing/rounds/{code}/issues": may(CC),
    "GET /api/v1/testing/issues/unattached": may(CC),
    "POST /api/v1/testing/scans": may(SAM, scoped=True),  # city-wide: any resident
    "POST /api/v1/testing/tubes/{barcode}/receipt": may(LAB, scoped=True),
    "POST /api/v1/testing/tubes/{barcode}/result": may(LAB, scoped=True),
    # delivery
    "POST /api/v1/delivery/orders": may(CW, VO, RES, scoped=True),
    "POST /api/v1/delivery/dispatch": may(CC, DO, CW),
    "PUT /api/v1/delivery/zones/{zone_id}/cycle": may(*OFFICERS, scoped=True),
    "DELETE /api/v1/delivery/zones/{zone_id}/cycle": may(*OFFICERS, scoped=True),
    "GET /api/v1/delivery/tasks/open": may(VO),
    "GET /api/v1/delivery/tasks/mine": may(VO),
    "POST /api/v1/delivery/tasks/{task_id}/claim": may(VO, scoped=True),
    "POST /api/v1/delivery/orders/{order_id}/deliver": may(VO, scoped=True),
    "POST /api/v1/delivery/orders/{order_id}/fail": may(VO, scoped=True),
    "POST /api/v1/delivery/checkins": may(VO, scoped=True),
    "GET /api/v1/delivery/coverage": may(*SUPPLY_READERS),
    # the households not reached, with their needs: community staff, not the figure roles
    "GET /api/v1/delivery/coverage/{community_id}/not-reached": may(CC, DO, CW, scoped=True),
    # supply
    "GET /api/v1/supply/days": may(*SUPPLY_READERS),
    "POST /api/v1/supply/stock": may(CS),
    "POST /api/v1/supply/prices": may(CS, MR),
    "GET /api/v1/supply/flags": may(*SUPPLY_READERS),
    # care: standing medical needs are kept by community workers (health data: nobody else
    # reads them, core/masking.py MEDICAL); trips are followed by those who follow the city
    # and dispatched by transfer dispatch; an emergency call by community workers and the 120
    # centre (transfer dispatch), for anyone in their scope.
    "GET /api/v1/care/needs": may(CW),
    "POST /api/v1/care/needs": may(CW, scoped=True),
    "GET /api/v1/care/needs/{need_id}": may(CW, scoped=True),
    "PUT /api/v1/care/needs/{need_id}": may(CW, scoped=True),
    "POST /api/v1/care/needs/{need_id}/end": may(CW, scoped=True),
    "GET /api/v1/care/trips": may(*TRIP_FOLLOWERS),
    "POST /api/v1/care/trips/plan": may(CW, TD),
    "POST /api/v1/care/trips/yellow-code": may(CW, TD, scoped=True),
    "POST /api/v1/care/emergency": may(CW, TD, scoped=True),
    "GET /api/v1/care/trips/{trip_id}": may(*TRIP_FOLLOWERS, scoped=True),
    "POST /api/v1/care/trips/{trip_id}/dispatch": may(TD, scoped=True),
    "POST /api/v1/care/trips/{trip_id}/move": may(TD, scoped=True),
    "POST /api/v1/care/trips/{trip_id}/cancel": may(CW, TD, scoped=True),
    # appeals: raised by residents (their household), the hotline and community workers; read
    # within scope; acted on by the office that owns the ticket (here the community's).
    "GET /api/v1/appeals/": may(*APPEAL_READERS),
    "POST /api/v1/appeals/": may(*APPEAL_RAISERS, scoped=True),
    "GET /api/v1/appeals/board": may(CC, DO, CW, TD, CS, MR),
    "GET /api/v1/appeals/{appeal_id}": may(*APPEAL_READERS, scoped=True, quirks=NOT_A_DESKS_TICKET),
    "POST /api/v1/appeals/{appeal_id}/sign": may(CW, scoped=True, quirks=APPEAL_OWNERS_ONLY),
    "POST /api/v1/appeals/{appeal_id}/reply": may(CW, scoped=True, quirks=APPEAL_OWNERS_ONLY),
    "POST /api/v1/appeals/{appeal_id}/hand-back": may(CW, CC, scoped=True, quirks=APPEAL_OWNERS_ONLY),
    "POST /api/v1/appeals/{appeal_id}/rate": may(*APPEAL_RAISERS, scoped=True),
    # transfer: the queue and the places are read by those who follow cases (transfer dispatch
    # sees the people it moves in full, a community worker its community's people); beds and
    # vehicles are kept, and people moved, by dispatch and the officers; discharges are officers'
    "GET /api/v1/transfer/facilities": may(*CASE_READERS),
    "POST /api/v1/transfer/facilities": may(*TRANSFER_KEEPERS),
    "GET /api/v1/transfer/facilities/{facility_id}": may(*CASE_READERS),
    "GET /api/v1/transfer/vehicles": may(*CASE_READERS),
    "POST /api/v1/transfer/vehicles": may(*TRANSFER_KEEPERS),
    "GET /api/v1/transfer/queue": may(*CASE_READERS),
    "GET /api/v1/transfer/people/{resident_id}": may(*CASE_READERS, scoped=True),
    # a resident's own household's transfers (as on their my-zone page); others have none
    "GET /api/v1/transfer/mine": may(RES, refused=Outcome.NOT_FOUND),
    "POST /api/v1/transfer/assign": may(CC, TD),  # the city's dispatch: every district at once
    "POST /api/v1/transfer/groups": may(*TRANSFER_KEEPERS, scoped=True),
    "POST /api/v1/transfer/{transfer_id}/move": may(*TRANSFER_KEEPERS, scoped=True),
    "POST /api/v1/transfer/people/{resident_id}/severity": may(*TRANSFER_KEEPERS, scoped=True),
    "POST /api/v1/transfer/{transfer_id}/discharge-tests": may(*TRANSFER_KEEPERS, scoped=True),
    "POST /api/v1/transfer/discharges": may(*OFFICERS, scoped=True),
}

CONSOLE: dict[str, Rule] = {
    "GET /login/": anyone(),
    "POST /login/": anyone(),
    "POST /logout/": LOGOUT,
    "GET /i18n/setlang/": anyone(),
    "POST /i18n/setlang/": anyone(),
    "GET /api/v1/openapi.json": anyone(),
    "GET /api/v1/docs": anyone(),
    "GET /api/v1/": nobody(),
    "GET /": may(*EVERY_ROLE),  # each role's home (community and household: their own page)
    # registry
    "GET /registry/": may(*REGISTRY_READERS),
    "GET /registry/districts/{district_id}/": REGISTRY_PLACE,
    "GET /registry/communities/{community_id}/": REGISTRY_PLACE,
    "GET /registry/compounds/{compound_id}/": REGISTRY_PLACE,
    "GET /registry/buildings/{building_id}/": REGISTRY_PLACE,
    "GET /registry/households/{household_id}/": may(*REGISTRY_READERS, scoped=True),
    "POST /registry/residents/{resident_id}/flags/": may(CW, scoped=True),
    # zones (a resident has their own page, my-zone; the lists and the map are staff's)
    "GET /zones/": may(*STAFF, quirks=both(RES, Outcome.NOT_FOUND)),
    "GET /zones/map/": may(CC, DO, CW, refused=Outcome.NOT_FOUND),
    "GET /zones/{zone_id}/": may(*EVERY_ROLE, scoped=True, quirks=NO_ZONE_FOR_VOLUNTEERS),
    "POST /zones/{zone_id}/confirm/": may(*OFFICERS, scoped=True),
    "POST /zones/{zone_id}/reject/": may(*OFFICERS, scoped=True),
    "POST /zones/{zone_id}/lift/": may(*OFFICERS, scoped=True),
    "POST /zones/{zone_id}/adjust/": may(*OFFICERS, scoped=True),
    "POST /zones/{zone_id}/screening/": may(*OFFICERS, scoped=True),
    # outside the scope: "There is no such zone." said on the page, as for a zone that is not
    "POST /zones/{zone_id}/cycle/": may(*OFFICERS, scoped=True, away=Outcome.TOLD),
    "GET /me/": may(RES, refused=Outcome.NOT_FOUND),  # others have no household
    "POST /me/appeals/": may(RES, refused=Outcome.NOT_FOUND),
    "POST /me/appeals/{appeal_id}/rate/": may(RES, refused=Outcome.NOT_FOUND),
    "GET /my-zone/": may(RES, refused=Outcome.NOT_FOUND),  # others have no household
    "GET /my-code/": may(RES, refused=Outcome.NOT_FOUND),  # others have no household
    # health codes: a resident's code page within scope; officers correct; venues check
    "GET /codes/check/": may(CHK),
    "GET /codes/residents/{resident_id}/": may(CC, DO, CW, RES, scoped=True),
    "POST /codes/residents/{resident_id}/correct/": may(CC, DO, scoped=True),
    "GET /bulletin/": may(*EVERY_ROLE),
    "GET /bulletin/print/": may(*EVERY_ROLE),
    # cases
    "GET /cases/": may(*CASE_READERS),
    "GET /cases/new/": may(*OFFICERS),
    "POST /cases/new/": may(*OFFICERS),
    "GET /cases/batch/": may(*OFFICERS),
    "POST /cases/batch/": may(*OFFICERS),
    "GET /protocol/": may(*EVERY_ROLE),
    "POST /protocol/": may(CC),
    "GET /cases/{case_id}/": may(*CASE_READERS, scoped=True),
    "POST /cases/{case_id}/convert/": may(*OFFICERS, scoped=True),
    "POST /cases/{case_id}/discharge/": may(*OFFICERS, scoped=True),
    "POST /cases/{case_id}/contacts/": CONTACT_ADD,
    # testing
    "GET /testing/": may(*TESTING_FOLLOWERS),
    "POST /testing/": may(*OFFICERS),
    "GET /testing/{round_id}/": may(*TESTING_FOLLOWERS),
    "POST /testing/{round_id}/close/": may(*OFFICERS, scoped=True),
    "GET /testing/{round_id}/exceptions/": ROUND_EXCEPTIONS,
    "GET /testing/{round_id}/coverage/": may(*TESTING_FOLLOWERS),
    "GET /testing/{round_id}/grids/{grid_id}/": may(*TESTING_FOLLOWERS, scoped=True),
    "GET /testing/{round_id}/grids/{grid_id}/print/": may(*TESTING_FOLLOWERS, scoped=True),
    "GET /testing/{round_id}/recalls/": may(*TESTING_FOLLOWERS),
    # delivery: the volunteer's phone says a refusal on its task list (nothing done)
    "GET /tasks/": may(VO),
    "POST /tasks/{task_id}/claim/": may(VO, scoped=True, away=Outcome.TOLD),
    "POST /orders/{order_id}/deliver/": may(VO, scoped=True, away=Outcome.TOLD),
    "POST /orders/{order_id}/fail/": may(VO, scoped=True, away=Outcome.TOLD),
    "GET /my-orders/": MY_ORDERS,
    "POST /my-orders/": MY_ORDERS,
    # the dispatch board of a community (a city or district officer picks it)
    "GET /deliveries/": may(CC, DO, CW, scoped=True, quirks=OWN_BOARD),
    "POST /deliveries/": may(CC, DO, CW, scoped=True, quirks=OWN_BOARD),
    "GET /deliveries/print/": may(CC, DO, CW, scoped=True, quirks=OWN_BOARD),
    "GET /deliveries/export.csv": may(CC, DO, CW, scoped=True, quirks=OWN_BOARD),
    "POST /deliveries/orders/": PROXY_ORDER,
    # supply
    "GET /supply/": may(CC, DO, CS, MR),  # communities follow deliveries on the dispatch board
    # medical care: the community worker's page of standing needs and its forms; the day's trips
    # for those who follow them; an emergency call by community workers and transfer dispatch
    "GET /care/": may(CW),
    "POST /care/needs/": may(CW),
    "POST /care/needs/{need_id}/end/": may(CW, scoped=True),
    "POST /care/emergency/": may(CW, TD),
    "GET /care/trips/": may(*TRIP_FOLLOWERS),
    "POST /supply/": may(CS, MR),
    # transfer: the dispatcher board is dispatch's and the officers'; a community worker follows
    # the people of their community waiting (officers: everyone within their scope)
    "GET /transfer/": may(*TRANSFER_KEEPERS),
    "POST /transfer/assign/": may(CC, TD),
    "POST /transfer/{transfer_id}/move/": may(*TRANSFER_KEEPERS, scoped=True),
    "GET /transfer/facilities/{facility_id}/": may(*CASE_READERS),
    "GET /transfer/waiting/": may(*CASE_READERS),
}

# The admin site's index and each model's list.
ADMIN_SITE = admin_site()
