"""Each household's profile (what makes it vulnerable) follows the registry: built with the city,
changed with a resident's flags and with an import, and read against today's cut-offs."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from bastion.city import services
from bastion.city.models import Household, HouseholdProfile, Resident
from bastion.city.selectors import elderly_cutoff, household_is_vulnerable, infant_cutoff
from bastion.core.scopes import SYSTEM
from tests.conftest import NOW, TODAY


def _expected(household: Household, today: date) -> bool:
    """The definition, from the residents themselves."""
    return any(
        r.living_alone
        or r.disabled
        or r.pregnant
        or r.chronic_treatment != ""
        or r.birth_date <= elderly_cutoff(today)
        or r.birth_date > infant_cutoff(today)
        for r in household.residents.all()
    )


def test_every_household_of_a_new_city_has_a_profile_that_says_who_is_vulnerable(
    city: dict[str, Any],
) -> None:
    households = list(Household.objects.prefetch_related("residents"))
    assert HouseholdProfile.objects.count() == len(households) == 38  # the city's 38 households
    flags = [household_is_vulnerable(household_id=h.pk, today=TODAY) for h in households]
    assert flags == [_expected(h, TODAY) for h in households]
    assert any(flags) and not all(flags)


def test_a_resident_marked_disabled_makes_the_household_vulnerable_at_once(city: dict[str, Any]) -> None:
    household = next(
        h for h in Household.objects.prefetch_related("residents").order_by("pk") if not _expected(h, TODAY)
    )
    assert not household_is_vulnerable(household_id=household.pk, today=TODAY)
    services.resident_set_flags(
        resident_id=household.residents.first().pk,  # type: ignore[union-attr]
        flags={"disabled": True},
        reason="残疾人登记",
        actor=SYSTEM,
        now=NOW,
    )
    assert household_is_vulnerable(household_id=household.pk, today=TODAY)


def test_a_household_becomes_vulnerable_the_day_its_eldest_turns_elderly(city: dict[str, Any]) -> None:
    """The profile keeps birth dates, not ages: nothing needs refreshing for a birthday."""
    household = next(
        h for h in Household.objects.prefetch_related("residents").order_by("pk") if not _expected(h, TODAY)
    )
    eldest = min(household.residents.all(), key=lambda r: r.birth_date)
    birthday = TODAY + timedelta(days=10)
    born = elderly_cutoff(birthday)
    Resident.objects.filter(pk=eldest.pk).update(birth_date=born)
    services.figures_refresh(today=TODAY, community_ids=[household.community_id])
    assert not household_is_vulnerable(household_id=household.pk, today=birthday - timedelta(days=1))
    assert household_is_vulnerable(household_id=household.pk, today=birthday)


def test_the_daily_recount_of_ages_keeps_the_profiles(city: dict[str, Any]) -> None:
    before = sorted(HouseholdProfile.objects.values_list("household_id", "flagged", "eldest_born"))
    services.figures_refresh(today=TODAY + timedelta(days=1), profiles_too=False)
    assert sorted(HouseholdProfile.objects.values_list("household_id", "flagged", "eldest_born")) == before
