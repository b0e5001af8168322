"""The loops an appeal closes elsewhere (flows.py): a medical emergency that names its patient
is a 120 call at once; a code appeal shows the district's officer every rule that holds for the
resident."""

from __future__ import annotations

from typing import Any

import pytest

from bastion import flows
from bastion.appeals import selectors
from bastion.care.models import Trip
from bastion.city.models import Resident
from bastion.core.errors import NotFound
from bastion.core.scopes import SYSTEM, Actor
from tests.appeals.conftest import FREE, LOCKED, household
from tests.conftest import NOW


def _member(address: str, number: int = 1) -> Resident:
    return Resident.objects.get(household__address=address, number=number)


def test_a_medical_emergency_through_the_hotline_sends_the_ambulance_at_once(
    locked: None, hotline: Actor
) -> None:
    patient = _member(LOCKED)
    raised = flows.appeal_raised(
        household_id=household(LOCKED).pk,
        resident_id=patient.pk,
        category="medical",
        urgency="emergency",
        text="老人胸闷",
        actor=hotline,
        now=NOW,
    )
    assert raised.trip is not None
    trip = Trip.objects.get(pk=raised.trip.pk)
    assert (trip.resident_id, trip.emergency, trip.at, trip.reason) == (patient.pk, True, NOW, "老人胸闷")
    # The ticket stays with its owner, who replies once the patient is taken.
    assert raised.appeal.state == "dispatched"


def test_no_trip_without_a_named_patient_or_for_a_lesser_need(city: dict[str, Any], hotline: Actor) -> None:
    flows.appeal_raised(
        household_id=household(FREE).pk, category="medical", urgency="emergency", actor=hotline, now=NOW
    )
    flows.appeal_raised(
        household_id=household(FREE).pk,
        resident_id=_member(FREE).pk,
        category="medical",
        urgency="urgent",
        actor=hotline,
        now=NOW,
    )
    assert not Trip.objects.exists()


def test_a_resident_of_another_household_is_refused(city: dict[str, Any], hotline: Actor) -> None:
    with pytest.raises(NotFound) as refused:
        flows.appeal_raised(
            household_id=household(FREE).pk,
            resident_id=_member(LOCKED).pk,
            category="medical",
            urgency="emergency",
            actor=hotline,
            now=NOW,
        )
    assert refused.value.code == "unknown_resident"
    assert not Trip.objects.exists()


def test_a_code_appeal_shows_the_officer_why_the_code_is_what_it_is(
    locked: None, officer: Actor, hotline: Actor
) -> None:
    case = _member("C1/2/1/301")
    raised = flows.appeal_raised(
        household_id=case.household_id,
        resident_id=case.pk,
        category="code",
        urgency="urgent",
        actor=SYSTEM,
        now=NOW,
    )
    assert raised.appeal.owner.kind == "district"
    reasons = selectors.appeal_get(actor=officer, appeal_id=raised.appeal.pk).code_reasons
    assert reasons and reasons[0].startswith("red: ")
    # The hotline may not see codes: it reads the ticket without them.
    assert selectors.appeal_get(actor=hotline, appeal_id=raised.appeal.pk).code_reasons == []
