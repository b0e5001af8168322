"""Scans: a resident bound to a tube at a sampling site, by a device or an officer.

Devices retry: a scan carrying a client key that was already taken returns the first answer
and changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from bastion.city.models import Household, Resident
from bastion.city.selectors import RESIDENT_PATHS
from bastion.core import audit
from bastion.core.errors import Conflict, DomainError, InvalidInput, NotFound
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor, scoped
from bastion.testing import rules, selectors
from bastion.testing.models import IssueKind, Recall, RecallState, Result, Round, Scan, Site, Tube
from bastion.testing.services.refusals import lists_refusals, refusal
from bastion.testing.services.rounds import scan_time_problem
from bastion.testing.services.scans_fast import SCAN_RECORDED, ScanTaken, scan_audit, scan_fast
from bastion.testing.sql import bulk_loads_wait
from bastion.zones import selectors as zones


@lists_refusals
def scan_record(
    *,
    round_id: int | None = None,
    round_code: str | None = None,
    resident_id: int | None = None,
    id_number: str | None = None,
    tube_barcode: str,
    site_code: str | None = None,
    scanned_at: datetime,
    sampler: str = "",
    client_key: str | None = None,
    retest: bool = False,
    actor: Actor,
    now: datetime,
) -> ScanTaken:
    """Bind a resident to a tube at a site.

    The tube is created by its first scan with the ratio of where that person lives (the
    round's pooling per zone level; 1 for a retest) and refuses a member over its ratio, a
    person of another pooling, or, in a per-household area, another household. One pooled scan
    per person and round; a retest needs an open recall. Idempotent by `client_key`.

    The round is named by id, or by code as a device sends it (an unknown code is refused, not
    listed). A first pooled scan goes the fast way: one read (round, resident, household, zone
    level, area, site), then the tube and the scan written under the bulk loads' shared lock by
    one statement (PostgreSQL; two on SQLite). Whatever that way does not take (a retest, a
    per-household area, a repeat, any refusal) leaves nothing written and is judged again step
    by step by `_scan_record_checked`, which gives the answer and lists a refusal.
    """
    actor.require("record_samples")
    if (round_id is None) == (round_code is None):
        raise ValueError("name the round by id or by code")
    barcode = tube_barcode.strip()
    # The fast way reads the whole city's registry: a sampler kept to a district or a community
    # goes the checked way, where a resident outside their scope does not exist.
    whole_city = actor.level == ScopeLevel.CITY
    if whole_city and not retest and barcode and (resident_id is not None or (id_number or "").strip()):
        taken = scan_fast(
            round_id=round_id,
            round_code=round_code,
            resident_id=resident_id,
            id_number=id_number,
            barcode=barcode,
            site_code=site_code or None,
            scanned_at=scanned_at,
            sampler=sampler,
            client_key=client_key,
            actor=actor,
            now=now,
        )
        if taken is not None:
            return taken
    if round_id is None:
        round_id = Round.objects.filter(code=round_code).values_list("pk", flat=True).first()
        if round_id is None:
            raise InvalidInput(_("There is no round with this code."), code="unknown_round")
    return _scan_record_checked(
        round_id=round_id,
        resident_id=resident_id,
        id_number=id_number,
        tube_barcode=tube_barcode,
        site_code=site_code,
        scanned_at=scanned_at,
        sampler=sampler,
        client_key=client_key,
        retest=retest,
        actor=actor,
        now=now,
    )


def _scan_record_checked(
    *,
    round_id: int,
    resident_id: int | None = None,
    id_number: str | None = None,
    tube_barcode: str,
    site_code: str | None = None,
    scanned_at: datetime,
    sampler: str = "",
    client_key: str | None = None,
    retest: bool = False,
    actor: Actor,
    now: datetime,
) -> ScanTaken:
    """`scan_record` step by step: every check in turn, each refusal with its reason; the path
    of retests, repeats and refusals, and the judge of whatever the fast path did not take."""
    source = f"scan {client_key or ''}".strip()
    if client_key:
        earlier = Scan.objects.filter(client_key=client_key).select_related("tube", "resident").first()
        if earlier is not None:
            _require_same_scan(earlier, round_id, resident_id, id_number, tube_barcode)
            return ScanTaken(earlier, earlier.tube, repeated=True)
    round_ = Round.objects.filter(pk=round_id).first()
    if round_ is None:
        raise NotFound(_("There is no such round."), code="unknown_round")
    barcode = tube_barcode.strip()
    detail = {"resident_id": resident_id, "id_number": id_number, "tube": barcode, "client_key": client_key}

    def refuse(error: type[DomainError], kind: str, message: str) -> DomainError:
        return refusal(
            error, round_id=round_.pk, kind=kind, message=message, detail=detail, source=source, now=now
        )

    if not barcode:
        raise refuse(InvalidInput, IssueKind.BAD_RECORD, _("A scan needs a tube barcode."))
    outside = scan_time_problem(round_, scanned_at)
    if outside is not None:
        raise refuse(
            Conflict if outside[0] == "after_close" else InvalidInput, IssueKind.OUTSIDE_TIME, outside[1]
        )
    residents = scoped(Resident.objects.select_related("household"), actor, RESIDENT_PATHS)
    resident = (
        residents.filter(pk=resident_id).first()
        if resident_id is not None
        else residents.filter(id_number=(id_number or "").strip().upper()).first()
    )
    if resident is None:
        raise refuse(NotFound, IssueKind.UNKNOWN_RESIDENT, _("There is no such resident."))
    household = resident.household
    if not selectors.household_in_round(round_, household.pk):
        raise refuse(
            InvalidInput, IssueKind.OUTSIDE_ROUND, _("This resident lives outside the round's area.")
        )
    site = Site.objects.filter(code=site_code).first() if site_code else None
    if site_code and site is None:
        raise refuse(NotFound, IssueKind.BAD_RECORD, _("There is no such sampling site."))
    recall = None
    if retest:
        ratio, per_household = 1, True
        recall = Recall.objects.filter(round=round_, resident=resident, state=RecallState.OPEN).first()
        if recall is None:
            raise refuse(Conflict, IssueKind.NO_RECALL, _("This resident has no recall awaiting a retest."))
    else:
        ratio, per_household = rules.pooling_for(
            round_.pooling, zones.level_of_household(household_id=household.pk)
        )
    try:
        with transaction.atomic():
            bulk_loads_wait()
            if recall is not None:
                recall = Recall.objects.select_for_update().get(pk=recall.pk)
                if (
                    recall.retest_tube_id is not None
                    and not Tube.objects.filter(pk=recall.retest_tube_id, barcode=barcode).exists()
                ):
                    raise _TubeRefused(
                        IssueKind.DUPLICATE_SCAN, _("This resident's retest is already at the lab.")
                    )
            tube, _created = Tube.objects.select_for_update().get_or_create(
                barcode=barcode,
                defaults={
                    "round_id": round_.pk,
                    "ratio": ratio,
                    "retest": retest,
                    "site": site,
                    "district_id": household.district_id,
                    "grid_id": household.grid_id,
                    "first_scan_at": scanned_at,
                },
            )
            problem = _tube_problem(tube, round_, ratio, per_household, retest, household)
            if problem is not None:
                raise _TubeRefused(*problem)
            try:
                with transaction.atomic():
                    scan = Scan.objects.create(
                        round_id=round_.pk,
                        tube_id=tube.pk,
                        resident_id=resident.pk,
                        household_id=household.pk,
                        grid_id=household.grid_id,
                        district_id=household.district_id,
                        site=site,
                        retest=retest,
                        scanned_at=scanned_at,
                        sampler=sampler[:50],
                        client_key=client_key,
                    )
            except IntegrityError:
                repeat = (
                    Scan.objects.filter(client_key=client_key).select_related("tube", "resident").first()
                    if client_key
                    else None
                )
                if repeat is not None:  # the same device's retry won the race
                    _require_same_scan(repeat, round_.pk, resident_id, id_number, tube_barcode)
                    raise _Repeat(repeat) from None
                raise _TubeRefused(
                    IssueKind.DUPLICATE_SCAN, _("This resident was already sampled in this round.")
                ) from None
            if tube.members == 0:
                tube.grid_id = household.grid_id
            elif tube.grid_id != household.grid_id:
                tube.grid_id = None  # members of several grids: coverage counts their scans
            tube.members += 1
            tube.first_scan_at = min(tube.first_scan_at or scanned_at, scanned_at)
            tube.save(update_fields=["members", "first_scan_at", "grid"])
            if recall is not None:
                Recall.objects.filter(pk=recall.pk).update(retest_tube_id=tube.pk)
            audit.record(
                action=SCAN_RECORDED,
                obj=scan,
                after=scan_audit(
                    round_id=round_.pk,
                    barcode=barcode,
                    resident_id=resident.pk,
                    retest=retest,
                    sampler=sampler[:50],
                ),
                district_id=household.district_id,
                actor=actor,
                now=now,
            )
    except _Repeat as repeat:
        return ScanTaken(repeat.scan, repeat.scan.tube, repeated=True)
    except _TubeRefused as refused:
        error: type[DomainError] = InvalidInput if refused.kind == IssueKind.WRONG_POOL else Conflict
        raise refuse(error, refused.kind, refused.message) from None
    return ScanTaken(scan, tube, repeated=False)


def _require_same_scan(
    earlier: Scan, round_id: int, resident_id: int | None, id_number: str | None, barcode: str
) -> None:
    """A retry names the same round, person and tube as the scan its key took; any other scan
    under that key is refused, so that a key never answers someone else's tube."""
    same_person = (
        earlier.resident_id == resident_id
        if resident_id is not None
        else earlier.resident.id_number == (id_number or "").strip().upper()
    )
    if earlier.round_id != round_id or not same_person or earlier.tube.barcode != barcode.strip():
        raise Conflict(_("This client key was used for another scan."), code="client_key_taken")


class _TubeRefused(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class _Repeat(Exception):
    def __init__(self, scan: Scan) -> None:
        super().__init__("repeat")
        self.scan = scan


def _tube_problem(
    tube: Tube, round_: Round, ratio: int, per_household: bool, retest: bool, household: Household
) -> tuple[str, str] | None:
    """The round exception and message of `rules.tube_refusal` for this tube and person."""
    households: frozenset[int] = frozenset()
    if per_household and tube.members:  # the only case the rule reads them
        households = frozenset(Scan.objects.filter(tube_id=tube.pk).values_list("household_id", flat=True))
    why = rules.tube_refusal(
        rules.TubeFacts(
            round_id=tube.round_id,
            ratio=tube.ratio,
            retest=tube.retest,
            members=tube.members,
            sealed=tube.result != Result.PENDING or tube.sealed_at is not None,
            households=households,
        ),
        rules.ScanFacts(
            round_id=round_.pk,
            ratio=ratio,
            per_household=per_household,
            retest=retest,
            household_id=household.pk,
        ),
    )
    if why is None:
        return None
    messages = {
        rules.OTHER_ROUND: _("This tube belongs to another round."),
        rules.SEALED: _("This tube is sealed."),
        rules.OTHER_RATIO: _("This person is sampled %(ratio)s:1; the tube is %(tube)s:1.")
        % {"ratio": ratio, "tube": tube.ratio},
        rules.OVER_RATIO: _("This tube already holds %(n)s people, its ratio.") % {"n": tube.members},
        rules.OTHER_HOUSEHOLD: _("In a high-risk area a tube holds one household only."),
    }
    return IssueKind(rules.ADMISSION_KIND[why]), messages[why]
