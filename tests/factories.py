"""Small factories: a test builds only the places and people it needs, not a whole city.

Each level of the registry carries copies of its parents (a household knows its building,
compound, grid, community and district); the factories fill the copies from the parent, so
`ResidentFactory()` alone makes one district, one community, one grid, one compound, one
building, one unit, one household and one resident, all consistent.

    household = HouseholdFactory(unit__building__compound__code="C9", room="301")
    ResidentFactory.create_batch(3, household=household)
    user = StaffUserFactory(role="community_worker", community=household.community)

Default codes start with F (FD1, FM1, FC1) so that they never meet the `city` fixture's D1, M1,
C1; a place passed by code (`code="M1"`) is fetched if it exists.

Staff accounts are made through `account_grant`, the service the console uses, so a test's
persona has exactly the role, scope and permissions a real one would (the roles' groups are
kept by `roles_sync` after every migrate and flush).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import factory
from django.contrib.auth.models import User
from factory.django import DjangoModelFactory

from bastion.city import rules, services
from bastion.city.models import (
    Building,
    Community,
    Compound,
    District,
    Grid,
    Household,
    Resident,
    Subdistrict,
    Unit,
)
from bastion.core.scopes import SYSTEM

PASSWORD = "correct-horse-battery"


class DistrictFactory(DjangoModelFactory[District]):
    class Meta:
        model = District
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"FD{n + 1}")
    name = factory.LazyAttribute(lambda o: f"{o.code} 区")


class SubdistrictFactory(DjangoModelFactory[Subdistrict]):
    class Meta:
        model = Subdistrict
        django_get_or_create = ("code",)

    district = factory.SubFactory(DistrictFactory)
    code = factory.LazyAttribute(lambda o: f"{o.district.code}-S1")
    name = factory.LazyAttribute(lambda o: f"{o.code} 街道")


class CommunityFactory(DjangoModelFactory[Community]):
    class Meta:
        model = Community
        django_get_or_create = ("code",)

    district = factory.SubFactory(DistrictFactory)
    subdistrict = factory.SubFactory(SubdistrictFactory, district=factory.SelfAttribute("..district"))
    code = factory.Sequence(lambda n: f"FM{n + 1}")
    name = factory.LazyAttribute(lambda o: f"{o.code} 社区")


class GridFactory(DjangoModelFactory[Grid]):
    class Meta:
        model = Grid
        django_get_or_create = ("code",)

    community = factory.SubFactory(CommunityFactory)
    district = factory.SelfAttribute("community.district")
    code = factory.LazyAttribute(lambda o: f"{o.community.code}-G1")
    name = factory.LazyAttribute(lambda o: f"{o.code} 网格")


class CompoundFactory(DjangoModelFactory[Compound]):
    class Meta:
        model = Compound
        django_get_or_create = ("code",)

    grid = factory.SubFactory(GridFactory)
    community = factory.SelfAttribute("grid.community")
    district = factory.SelfAttribute("grid.district")
    code = factory.Sequence(lambda n: f"FC{n + 1}")
    name = factory.LazyAttribute(lambda o: f"{o.code} 小区")


class BuildingFactory(DjangoModelFactory[Building]):
    class Meta:
        model = Building
        django_get_or_create = ("compound", "number")

    compound = factory.SubFactory(CompoundFactory)
    community = factory.SelfAttribute("compound.community")
    district = factory.SelfAttribute("compound.district")
    number = 1
    floors = 6


class UnitFactory(DjangoModelFactory[Unit]):
    class Meta:
        model = Unit
        django_get_or_create = ("building", "number")

    building = factory.SubFactory(BuildingFactory)
    compound = factory.SelfAttribute("building.compound")
    community = factory.SelfAttribute("building.community")
    district = factory.SelfAttribute("building.district")
    number = 1


class HouseholdFactory(DjangoModelFactory[Household]):
    """A household at "compound/building/unit/room", as the generator writes addresses."""

    class Meta:
        model = Household

    unit = factory.SubFactory(UnitFactory)
    building = factory.SelfAttribute("unit.building")
    compound = factory.SelfAttribute("unit.compound")
    grid = factory.SelfAttribute("unit.compound.grid")
    community = factory.SelfAttribute("unit.community")
    district = factory.SelfAttribute("unit.district")
    room = factory.Sequence(lambda n: f"{1 + n // 2}{1 + n % 2:02d}")
    floor = factory.LazyAttribute(lambda o: int(o.room[:-2]))
    address = factory.LazyAttribute(
        lambda o: rules.household_address(o.compound.code, o.building.number, o.unit.number, o.room)
    )


def _id_number(n: int, born: date, sex: str) -> str:
    """A valid 18-digit resident ID number (region 510104, Chengdu): birth date, a sequence
    whose last digit is odd for men, and the ISO 7064 check digit."""
    sequence = (2 * n + (1 if sex == "M" else 0)) % 1000
    first17 = f"510104{born:%Y%m%d}{sequence:03d}"
    return first17 + rules.id_check_digit(first17)


class ResidentFactory(DjangoModelFactory[Resident]):
    class Meta:
        model = Resident

    household = factory.SubFactory(HouseholdFactory)
    community = factory.SelfAttribute("household.community")
    district = factory.SelfAttribute("household.district")
    number = factory.LazyAttribute(lambda o: o.household.residents.count() + 1)
    name = factory.Sequence(lambda n: f"居民{n + 1}")
    sex = factory.Iterator(["F", "M"])
    birth_date = date(1980, 5, 17)
    id_number = factory.LazyAttributeSequence(lambda o, n: _id_number(n, o.birth_date, o.sex))
    phone = factory.Sequence(lambda n: f"139{n:08d}")


class StaffUserFactory(factory.Factory[User]):
    """A console user with a role and its scope's place, through `account_grant`:
    StaffUserFactory(role="district_officer", district=d1)."""

    class Meta:
        model = User

    username = factory.LazyAttributeSequence(lambda o, n: f"{o.role}-{n + 1}")
    password = PASSWORD
    role = "command_centre"
    scope = None
    district = None
    community = None
    household = None

    @classmethod
    def _create(cls, model_class: type[User], **kwargs: Any) -> User:
        from tests.conftest import NOW as now

        return services.account_grant(**kwargs, actor=SYSTEM, now=now).user


def supply_catalogue(actor: Any, *, rice_limit: int | None = None) -> None:
    """SUP1 with a 10 kg vegetable package (50 CNY, the policy's standard package) and 5 kg of
    rice (30 CNY), as the commerce bureau keeps them."""
    from bastion.supply import services as supply
    from tests.conftest import NOW

    supply.supplier_register(
        code="SUP1",
        name="蔬菜保供公司",
        contact_name="李经理",
        contact_phone="13800000001",
        actor=actor,
        now=NOW,
    )
    supply.item_add(
        code="vegetable-10kg",
        name="蔬菜包 10 kg",
        category="vegetables",
        supplier_code="SUP1",
        price="50",
        package=True,
        contents="白菜、土豆、萝卜、洋葱",
        declared_weight_kg="10",
        actor=actor,
        now=NOW,
    )
    supply.item_add(
        code="rice-5kg",
        name="大米 5 kg",
        category="grain_oil",
        supplier_code="SUP1",
        price="30",
        limit_per_household=rice_limit,
        actor=actor,
        now=NOW,
    )
