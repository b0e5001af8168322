"""What the transfer tests share: people by address, made of the age and needs a test asks
for, and a city's places and vehicles."""

from __future__ import annotations

from datetime import date, datetime

from bastion import flows
from bastion.cases.models import Case
from bastion.city.models import Resident
from bastion.core.scopes import SYSTEM
from bastion.transfer import services
from bastion.transfer.models import Facility, Transfer, TransferVehicle
from tests.conftest import NOW, TODAY


def resident(address: str, *, age: int | None = 40, **flags: object) -> Resident:
    """The resident at `address`, made `age` years old (and with `flags`) for the test."""
    household, number = address.split("#")
    person = Resident.objects.get(household__address=household, number=int(number))
    changes: dict[str, object] = {"disabled": False, "pregnant": False, "chronic_treatment": "", **flags}
    if age is not None:
        changes["birth_date"] = date(TODAY.year - age, 1, 1)
    Resident.objects.filter(pk=person.pk).update(**changes)
    person.refresh_from_db()
    return person


def report(address: str, *, kind: str = "confirmed", now: datetime = NOW, **person: object) -> Case:
    """A positive reported through the flow (which requests the transfer); `person`: the age and
    needs the resident is given first (`resident`)."""
    age = person.pop("age", 40)
    who = resident(address, age=age, **person)  # type: ignore[arg-type]
    return flows.case_reported(resident_id=who.pk, kind=kind, actor=SYSTEM, now=now).case


def facility(code: str, kind: str, now: datetime = NOW, **beds: int) -> Facility:
    return services.facility_create(code=code, kind=kind, beds=beds, actor=SYSTEM, now=now)


def ambulance(code: str, trip_hours: float = 2, now: datetime = NOW) -> TransferVehicle:
    return services.vehicle_create(code=code, kind="ambulance", trip_hours=trip_hours, actor=SYSTEM, now=now)


def bus(code: str, seats: int = 30, trip_hours: float = 3, now: datetime = NOW) -> TransferVehicle:
    return services.vehicle_create(
        code=code, kind="bus", seats=seats, trip_hours=trip_hours, actor=SYSTEM, now=now
    )


def transfer_of(address: str) -> Transfer:
    household, number = address.split("#")
    return (
        Transfer.objects.filter(resident__household__address=household, resident__number=int(number))
        .select_related("facility", "pool", "vehicle")
        .latest("id")
    )
