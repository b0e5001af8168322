"""Writes to the registry. Each is atomic and audited; bulk loads live in `bulk.py`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from bastion.city import bulk
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
from bastion.core import audit, clock, sql
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
    old = elderly_cutoff(today)
    young = infant_cutoff(today)
    where = inner = ""
    params: list[Any] = []
    if community_ids is not None:
        if not community_ids:
            return 0
        marks = ", ".join(["%s"] * len(community_ids))
        where = f"WHERE c.id IN ({marks})"
        inner = f"WHERE community_id IN ({marks})"
        params = list(community_ids)
    sql = f"""
        INSERT INTO city_communityfigures (
            community_id, district_id, households, residents, elderly, elderly_alone, disabled,
            pregnant, infants, chronic_treatment, cannot_order_online, as_of)
        SELECT c.id, c.district_id,
               COALESCE(h.households, 0), COALESCE(r.residents, 0), COALESCE(r.elderly, 0),
               COALESCE(r.elderly_alone, 0), COALESCE(r.disabled, 0), COALESCE(r.pregnant, 0),
               COALESCE(r.infants, 0), COALESCE(r.chronic, 0), COALESCE(r.offline, 0), %s
        FROM city_community c
        LEFT JOIN (SELECT community_id, COUNT(*) AS households FROM city_household {inner}
                   GROUP BY community_id) h
               ON h.community_id = c.id
        LEFT JOIN (
            SELECT community_id,
                   COUNT(*) AS residents,
                   SUM(CASE WHEN birth_date <= %s THEN 1 ELSE 0 END) AS elderly,
                   SUM(CASE WHEN birth_date <= %s AND living_alone THEN 1 ELSE 0 END) AS elderly_alone,
                   SUM(CASE WHEN disabled THEN 1 ELSE 0 END) AS disabled,
                   SUM(CASE WHEN pregnant THEN 1 ELSE 0 END) AS pregnant,
                   SUM(CASE WHEN birth_date > %s THEN 1 ELSE 0 END) AS infants,
                   SUM(CASE WHEN chronic_treatment <> '' THEN 1 ELSE 0 END) AS chronic,
                   SUM(CASE WHEN cannot_order_online THEN 1 ELSE 0 END) AS offline
            FROM city_resident {inner} GROUP BY community_id) r
               ON r.community_id = c.id
        {where}
    """
    # Per grid: residents counted per household first, so that the join with households reads
    # 8 M grouped rows, not 21 M residents.
    grids = f"""
        INSERT INTO city_gridfigures (grid_id, community_id, district_id, households, residents)
        SELECT g.id, g.community_id, g.district_id, COUNT(h.id), COALESCE(SUM(r.n), 0)
        FROM city_grid g
        LEFT JOIN city_household h ON h.grid_id = g.id
        LEFT JOIN (SELECT household_id, COUNT(*) AS n FROM city_resident {inner} GROUP BY household_id) r
               ON r.household_id = h.id
        {where.replace("c.id", "g.community_id")}
        GROUP BY g.id, g.community_id, g.district_id
    """
    # Each household's profile: what makes it vulnerable, without today's cut-offs.
    profiles = f"""
        INSERT INTO city_householdprofile (household_id, community_id, flagged, eldest_born, youngest_born)
        SELECT household_id, MIN(community_id),
               MAX(CASE WHEN living_alone OR disabled OR pregnant OR chronic_treatment <> ''
                        THEN 1 ELSE 0 END) = 1,
               MIN(birth_date), MAX(birth_date)
        FROM city_resident {inner} GROUP BY household_id
    """
    with transaction.atomic():
        doomed = CommunityFigures.objects.all()
        doomed_grids = GridFigures.objects.all()
        if community_ids is not None:
            doomed = doomed.filter(community_id__in=community_ids)
            doomed_grids = doomed_grids.filter(community_id__in=community_ids)
        doomed.delete()
        doomed_grids.delete()
        with connection.cursor() as cursor:
            if profiles_too:
                cursor.execute(f"DELETE FROM city_householdprofile {inner}", params)
                cursor.execute(profiles, params)
            cursor.execute(grids, [*params, *params])
            cursor.execute(sql, [today, *params, old, old, young, *params, *params])
            return cursor.rowcount


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
    with transaction.atomic(), connection.cursor() as cursor:
        if sql.postgres():
            # TRUNCATE must take the accounts along (they reference places); the city-wide
            # ones, tied to no place, are put back in the same transaction.
            kept = list(Account.objects.filter(district=None, community=None, household=None).values())
            # Deferred foreign-key checks of earlier writes in this transaction must fire
            # before TRUNCATE, which refuses to run with trigger events pending.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("TRUNCATE " + ", ".join(tables) + " CASCADE")
            Account.objects.bulk_create(Account(**values) for values in kept)
        else:
            for table in tables:
                cursor.execute(f'DELETE FROM "{table}"')


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
