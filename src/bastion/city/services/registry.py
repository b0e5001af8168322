"""Writes to the registry. Each is atomic and audited; bulk loads live in `bulk.py`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from bastion.city import bulk
from bastion.city import sql as city_sql
from bastion.city.models import (
    RESIDENT_FLAGS,
    Account,
    Community,
    CommunityFigures,
    District,
    GridFigures,
    Household,
    Resident,
)
from bastion.city.selectors import RESIDENT_PATHS, elderly_cutoff, infant_cutoff
from bastion.core import audit, clock
from bastion.core.errors import Conflict, InvalidInput
from bastion.core.roles import DEFAULT_SCOPE, ROLE_PERMISSIONS, SCOPE_ORDER, Role, ScopeLevel
from bastion.core.scopes import Actor, get_scoped

FLAG_FIELDS = RESIDENT_FLAGS


def roles_sync(*, using: str = "default") -> None:
    """Create one Django group per role holding that role's default permissions.

    Idempotent; adds missing defaults and never removes what an administrator granted.
    """
    with transaction.atomic(using=using):
        for role in Role:
            group, _created = Group.objects.using(using).get_or_create(name=role.value)
            perms = Permission.objects.using(using).filter(
                content_type__app_label="core", codename__in=ROLE_PERMISSIONS.get(role.value, [])
            )
            group.permissions.add(*perms)


def account_grant(
    *,
    username: str,
    password: str,
    role: str,
    scope: str | None = None,
    district: District | None = None,
    community: Community | None = None,
    household: Household | None = None,
    actor: Actor,
    now: datetime,
) -> Account:
    """Create a console user with a role and a scope no wider than the role's."""
    if role not in Role.values:
        raise InvalidInput(_("Unknown role %(role)s.") % {"role": role}, code="unknown_role")
    scope = scope or DEFAULT_SCOPE[role]
    if scope not in ScopeLevel.values:
        raise InvalidInput(_("Unknown scope %(scope)s.") % {"scope": scope}, code="unknown_scope")
    if SCOPE_ORDER.index(ScopeLevel(scope)) < SCOPE_ORDER.index(ScopeLevel(DEFAULT_SCOPE[role])):
        raise InvalidInput(
            _("A %(role)s cannot have a scope that wide.") % {"role": Role(role).label}, code="scope_too_wide"
        )
    User = get_user_model()
    taken = Conflict(_("The user name %(name)s is taken.") % {"name": username}, code="username_taken")
    with transaction.atomic():
        if User.objects.filter(username=username).exists():
            raise taken
        try:
            # Two officers creating the same user at once: the unique index decides.
            with transaction.atomic():
                user = User.objects.create_user(username=username, password=password)
        except IntegrityError:
            raise taken from None
        group, _created = Group.objects.get_or_create(name=role)
        user.groups.add(group)
        account = Account(
            user=user, role=role, scope=scope, district=district, community=community, household=household
        )
        try:
            account.full_clean(exclude=["user"])
        except ValidationError as exc:
            raise InvalidInput(" ".join(exc.messages), code="invalid_account") from None
        account.save()
        audit.record(
            action="city.account.granted",
            obj=account,
            after={
                "username": username,
                "role": role,
                "scope": scope,
                "district": district.code if district else None,
                "community": community.code if community else None,
                "household": household.address if household else None,
            },
            actor=actor,
            now=now,
        )
    return account


def resident_set_flags(
    *, resident_id: int, flags: dict[str, Any], reason: str, actor: Actor, now: datetime
) -> Resident:
    """Change a resident's vulnerable flags within the actor's scope, audited with the reason.

    Locks the resident; recounts their community's figures in the same transaction.
    """
    actor.require("change_resident_flags")
    unknown = set(flags) - set(FLAG_FIELDS)
    if unknown:
        raise InvalidInput(
            _("Unknown flags: %(flags)s.") % {"flags": ", ".join(sorted(unknown))}, code="unknown_flag"
        )
    for name, value in flags.items():
        if name != "chronic_treatment" and not isinstance(value, bool):
            raise InvalidInput(_("%(flag)s must be true or false.") % {"flag": name}, code="not_a_boolean")
    reason = reason.strip()
    if not reason:
        raise InvalidInput(_("Say why the flags change."), code="reason_required")
    with transaction.atomic():
        locked = get_scoped(Resident.objects.select_for_update(), actor, RESIDENT_PATHS, pk=resident_id)
        before = {name: getattr(locked, name) for name in flags}
        for name, value in flags.items():
            setattr(locked, name, value)
        try:
            locked.full_clean(exclude=["household", "community", "district"], validate_unique=False)
        except ValidationError as exc:
            raise InvalidInput(" ".join(exc.messages), code="invalid_flags") from None
        locked.save(update_fields=list(flags))
        audit.record(
            action="city.resident.flags_changed",
            obj=locked,
            before=before,
            after=dict(flags),
            reason=reason,
            district_id=locked.district_id,
            actor=actor,
            now=now,
        )
        figures_refresh(today=clock.local_date(now), community_ids=[locked.community_id])
    return locked


def figures_refresh(*, today: date, community_ids: list[int] | None = None, profiles_too: bool = True) -> int:
    """Recount the per-community figures in one set-based statement per table, and rebuild the
    households' profiles (`profiles_too`: whenever residents may have changed; the daily recount
    of ages leaves them, as they hold birth dates, not ages).

    Returns the number of communities refreshed. Runs in its own transaction so that
    readers never see a half-refreshed city.
    """
    if community_ids is not None and not community_ids:
        return 0
    with transaction.atomic():
        doomed = CommunityFigures.objects.all()
        doomed_grids = GridFigures.objects.all()
        if community_ids is not None:
            doomed = doomed.filter(community_id__in=community_ids)
            doomed_grids = doomed_grids.filter(community_id__in=community_ids)
        doomed.delete()
        doomed_grids.delete()
        return city_sql.figures_write(
            today=today,
            old=elderly_cutoff(today),
            young=infant_cutoff(today),
            community_ids=community_ids,
            profiles_too=profiles_too,
        )


def city_generate(
    *,
    residents: int,
    seed: int,
    as_of: date,
    replace: bool = False,
    progress: Any = None,
    actor: Actor,
    now: datetime,
) -> Any:
    """Generate a synthetic city of `residents` people into the registry, audited.

    Refuses a non-empty registry unless `replace`; all or nothing.
    """
    from bastion.city import generate, load
    from bastion.city.calibration import Calibration

    if residents < 1:
        raise InvalidInput(_("A city needs at least one resident."), code="too_few_residents")
    refusal = Conflict(
        _("The registry already holds a city; generate with --replace to start over."),
        code="registry_not_empty",
    )
    if not replace and not load.registry_is_empty():
        raise refusal  # early, before minutes of drawing; checked again under the lock
    cal = Calibration()
    streams = generate.Streams(seed)
    sizes = generate.household_sizes(residents, cal, streams("household-sizes"))
    places = generate.plan_places(sizes, cal, streams)

    def draw_people() -> tuple[Any, Any]:
        people = generate.synthesize_residents(
            sizes=sizes,
            household_district=places.households["district"].to_numpy(),
            household_community=places.households["community"].to_numpy(),
            as_of=as_of,
            cal=cal,
            streams=streams,
        )
        return people, generate.plan_staff(
            places=places, people=people, as_of=as_of, cal=cal, streams=streams
        )

    # The people are drawn in a second thread while the places are written: numpy, polars and
    # the database drivers release the GIL, so the two overlap on a 2-core machine.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="city-generate")
    pending = pool.submit(draw_people)
    try:
        with transaction.atomic():
            bulk.lock_registry()
            if not load.registry_is_empty():
                if not replace:
                    raise refusal
                _refuse_if_accounts_are_tied_to_places()
                registry_clear()
            result = load.load_city(places, pending.result, progress=progress or load._quiet)
            figures_refresh(today=as_of)
            audit.record(
                action="city.registry.generated",
                object_type="city.registry",
                object_id="city",
                after={"residents": residents, "seed": seed, "as_of": as_of.isoformat(), **result.__dict__},
                actor=actor,
                now=now,
            )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return result


def _refuse_if_accounts_are_tied_to_places() -> None:
    tied = Account.objects.filter(
        Q(district__isnull=False) | Q(community__isnull=False) | Q(household__isnull=False)
    ).count()
    if tied:
        raise Conflict(
            _(
                "%(count)d console accounts are tied to districts, communities or households of the "
                "current city; revoke them before replacing the city."
            )
            % {"count": tied},
            code="accounts_tied_to_places",
        )


def registry_clear() -> None:
    """Remove every place and person (generation with --replace, scenario set-up).

    City-wide accounts survive; callers make sure no account is tied to a place.
    """
    from bastion.city import load

    # Children before parents, so that SQLite's row-by-row DELETE meets no foreign key.
    tables = [
        "city_gridfigures",
        "city_communityfigures",
        "city_householdprofile",
        "city_staff",
        *reversed(load.TABLES),
    ]
    with transaction.atomic():
        # TRUNCATE (PostgreSQL) takes the accounts along, as they reference places: the
        # city-wide ones, tied to no place, are put back in the same transaction.
        kept = list(Account.objects.filter(district=None, community=None, household=None).values())
        if city_sql.tables_empty(tables):
            Account.objects.bulk_create(Account(**values) for values in kept)


def city_build(*, city: Any, seed: int = 1, as_of: date, actor: Actor, now: datetime) -> Any:
    """Load a city described inline (scenario files, tests) with synthetic people, audited."""
    from bastion.city import generate, load
    from bastion.city.calibration import Calibration
    from bastion.city.spec import SpecError, places_from_spec

    try:
        places = places_from_spec(city)
    except SpecError as exc:
        raise InvalidInput(exc.message, code="bad_city", details={"key": exc.key}) from None
    people = generate.synthesize_residents(
        sizes=places.sizes,
        household_district=places.households["district"].to_numpy(),
        household_community=places.households["community"].to_numpy(),
        as_of=as_of,
        cal=Calibration(),
        streams=generate.Streams(seed),
    )
    with transaction.atomic():
        bulk.lock_registry()
        result = load.load_city(places, (people, None))
        figures_refresh(today=as_of)
        audit.record(
            action="city.registry.built",
            object_type="city.registry",
            object_id="city",
            after=result.__dict__,
            actor=actor,
            now=now,
        )
    return result
