from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.db import transaction

from bastion.city import generate, rules, services
from bastion.city.calibration import Calibration
from bastion.city.models import Community, CommunityFigures, Household, Resident, Staff, StaffRole
from bastion.core.errors import Conflict
from bastion.core.models import AuditEntry
from bastion.core.scopes import SYSTEM
from tests.conftest import NOW, TODAY, TWO_DISTRICTS

AS_OF = date(2022, 9, 1)
BASTION = Path(sys.executable).with_name("bastion")


def _plan(residents: int, seed: int) -> tuple[generate.Places, object]:
    cal = Calibration()
    streams = generate.Streams(seed)
    sizes = generate.household_sizes(residents, cal, streams("household-sizes"))
    places = generate.plan_places(sizes, cal, streams)
    people = generate.synthesize_residents(
        sizes=sizes,
        household_district=places.households["district"].to_numpy(),
        household_community=places.households["community"].to_numpy(),
        as_of=AS_OF,
        cal=cal,
        streams=streams,
    )
    return places, people


def test_the_same_seed_gives_the_same_city_and_another_seed_another() -> None:
    a_places, a_people = _plan(20_000, seed=5)
    b_places, b_people = _plan(20_000, seed=5)
    _, c_people = _plan(20_000, seed=6)
    assert a_people.equals(b_people)  # type: ignore[attr-defined]
    assert a_places.households.equals(b_places.households)
    assert not a_people["id_number"].equals(c_people["id_number"])  # type: ignore[index]


def test_the_city_is_calibrated_on_the_census() -> None:
    places, people = _plan(200_000, seed=1)
    assert people.height == 200_000  # type: ignore[attr-defined]
    mean_household = people.height / places.households.height  # type: ignore[attr-defined]
    assert 2.5 <= mean_household <= 2.75  # census 2020: 2.62
    age = (np.datetime64(AS_OF) - people["birth_date"].to_numpy()).astype(int) / 365.2425  # type: ignore[index]
    elderly = age >= 60
    assert 0.16 <= elderly.mean() <= 0.22  # census 2020: 18.7 % aged 60+
    alone = people["living_alone"].to_numpy()  # type: ignore[index]
    assert 0.08 <= (elderly & alone).sum() / elderly.sum() <= 0.2
    assert places.compounds["shared_facilities"].any()  # some courtyards


def test_the_flags_agree_with_the_age_the_registry_shows() -> None:
    _, people = _plan(50_000, seed=8)
    for row in people.iter_rows(named=True):  # type: ignore[attr-defined]
        age = rules.age_on(row["birth_date"], AS_OF)
        if row["pregnant"]:
            assert 20 <= age <= 40 and row["sex"] == "F"
        if row["chronic_treatment"] == "other":
            assert age >= 60  # other regular treatment is drawn for the elderly only
        if not row["phone"]:
            assert age < 12


def test_every_generated_id_number_is_valid_unique_and_matches_birth_and_sex() -> None:
    _, people = _plan(30_000, seed=3)
    assert people["id_number"].n_unique() == people.height  # type: ignore[index,attr-defined]
    for row in people.head(2_000).iter_rows(named=True):  # type: ignore[attr-defined]
        born = rules.parse_id_number(row["id_number"])
        assert born == row["birth_date"]
        assert (int(row["id_number"][16]) % 2 == 1) == (row["sex"] == "M")


@pytest.mark.django_db
def test_generation_loads_the_registry_and_its_figures() -> None:
    result = services.city_generate(residents=5_000, seed=2, as_of=AS_OF, actor=SYSTEM, now=NOW)
    assert Resident.objects.count() == 5_000 == result.residents
    assert Household.objects.count() == result.households
    assert CommunityFigures.objects.count() == Community.objects.count() == result.communities
    assert sum(f.residents for f in CommunityFigures.objects.all()) == 5_000
    first = Resident.objects.order_by("id").first()
    assert first is not None and first.household.address.startswith("C000001/1/1/")
    assert first.district_id == first.household.district_id
    assert AuditEntry.objects.filter(action="city.registry.generated").count() == 1


@pytest.mark.django_db
def test_generation_staffs_every_grid_and_building_from_the_people_living_there() -> None:
    result = services.city_generate(residents=20_000, seed=4, as_of=AS_OF, actor=SYSTEM, now=NOW)
    grid_workers = Staff.objects.filter(role=StaffRole.GRID_WORKER)
    assert grid_workers.count() == result.grids
    assert grid_workers.values("grid").distinct().count() == result.grids
    heads = Staff.objects.filter(role=StaffRole.BUILDING_HEAD).select_related("resident__household")
    assert heads.count() == result.buildings
    for head in heads[:50]:
        assert head.resident is not None
        assert head.resident.household.building_id == head.building_id
        assert head.name == head.resident.name
    volunteers = Staff.objects.filter(role=StaffRole.VOLUNTEER)
    assert 100 <= volunteers.count() <= 160  # Chengdu: 139,300 for 21 M
    assert all(v.skills for v in volunteers[:20])
    assert Staff.objects.filter(role=StaffRole.COMMUNITY_WORKER).count() == 5 * result.communities


@pytest.mark.django_db
def test_generation_refuses_a_registry_that_holds_a_city() -> None:
    services.city_generate(residents=500, seed=2, as_of=AS_OF, actor=SYSTEM, now=NOW)
    with pytest.raises(Conflict):
        services.city_generate(residents=500, seed=3, as_of=AS_OF, actor=SYSTEM, now=NOW)
    assert Resident.objects.count() == 500
    services.city_generate(residents=700, seed=3, as_of=AS_OF, replace=True, actor=SYSTEM, now=NOW)
    assert Resident.objects.count() == 700


def _counts(db: Path) -> tuple[int, int, int]:
    with sqlite3.connect(db) as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("city_district", "city_household", "city_resident")
        )


def _env(db: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DATABASE_URL=f"sqlite:///{db}", BASTION_DEV="1")
    return env


def test_a_generation_killed_half_way_leaves_nothing_and_a_rerun_matches_a_clean_run(tmp_path: Path) -> None:
    killed, clean = tmp_path / "killed.db", tmp_path / "clean.db"
    subprocess.run([str(BASTION), "migrate", "-v0"], env=_env(killed), check=True, timeout=120)
    # Both start from the same empty, migrated registry: one migrate, copied (a migrate is the
    # slowest step of this test on a busy disk).
    shutil.copyfile(killed, clean)
    # 100,000 people: a 20 MB registry, so the write-ahead log passes 4 MB early in the load.
    args = [str(BASTION), "city", "generate", "--residents", "100000", "--seed", "4", "--as-of", "2022-09-01"]
    proc = subprocess.Popen(args, env=_env(killed), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    # Kill it while it writes: once the database file has grown past its empty size.
    empty = killed.stat().st_size
    while time.monotonic() < deadline and proc.poll() is None:
        wal = killed.with_name(killed.name + "-wal")
        if wal.exists() and wal.stat().st_size > 4 * 1024 * 1024:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the load finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert killed.stat().st_size >= empty
    assert _counts(killed) == (0, 0, 0)
    subprocess.run(args, env=_env(killed), check=True, timeout=300, capture_output=True)
    subprocess.run(args, env=_env(clean), check=True, timeout=300, capture_output=True)
    assert _counts(killed) == _counts(clean)
    query = "SELECT id_number, household_id, name FROM city_resident ORDER BY id"
    with sqlite3.connect(killed) as a, sqlite3.connect(clean) as b:
        assert a.execute(query).fetchall() == b.execute(query).fetchall()


@pytest.mark.django_db
def test_replacing_a_city_is_refused_while_accounts_are_tied_to_its_places(
    make_user: Callable[..., User],
) -> None:
    services.city_generate(residents=500, seed=2, as_of=AS_OF, actor=SYSTEM, now=NOW)
    command = make_user("command_centre")
    worker = make_user("community_worker", community=Community.objects.first())
    with pytest.raises(Conflict) as caught:
        services.city_generate(residents=700, seed=3, as_of=AS_OF, replace=True, actor=SYSTEM, now=NOW)
    assert caught.value.code == "accounts_tied_to_places"
    assert Resident.objects.count() == 500
    worker.account.delete()
    services.city_generate(residents=700, seed=3, as_of=AS_OF, replace=True, actor=SYSTEM, now=NOW)
    assert Resident.objects.count() == 700
    command.refresh_from_db()
    assert command.account.role == "command_centre"  # city-wide accounts survive a new city


def test_the_tests_small_city_holds_exactly_the_rows_city_build_wrote(city: dict[str, Any]) -> None:
    # The `city` fixture replays one build's rows into each test: they must come back unchanged
    # (the same ids, dates, JSON and figures), or every test on it would test something else.
    from tests.conftest import _city_rows, _every_row

    now = _every_row()
    written = _city_rows()
    assert {model.__name__ for model, _rows in written} >= {"Household", "Resident", "CommunityFigures"}
    for model, rows in written:
        pk = model._meta.pk.attname  # type: ignore[union-attr]
        assert now[model] == {row[pk]: row for row in rows}, model.__name__
    assert Resident.objects.count() == 106 and Household.objects.count() == 38
    # And what was replayed is what a fresh build writes now (compared by natural keys, as a
    # fresh build takes other ids): the recording cannot hide a change of city_build.
    replayed = _city_by_natural_keys()
    with transaction.atomic():
        services.registry_clear()
        services.city_build(city=TWO_DISTRICTS, seed=7, as_of=TODAY, actor=SYSTEM, now=NOW)
        fresh = _city_by_natural_keys()
        transaction.set_rollback(True)
    assert replayed == fresh


def _city_by_natural_keys() -> dict[str, set[tuple[Any, ...]]]:
    return {
        "residents": set(
            Resident.objects.values_list(
                "household__address",
                "number",
                "name",
                "id_number",
                "sex",
                "birth_date",
                "phone",
                "living_alone",
                "disabled",
                "pregnant",
                "chronic_treatment",
                "cannot_order_online",
            )
        ),
        "households": set(Household.objects.values_list("address", "floor", "grid__code", "community__code")),
        "figures": set(
            CommunityFigures.objects.values_list(
                "community__code",
                "households",
                "residents",
                "elderly",
                "elderly_alone",
                "disabled",
                "pregnant",
                "infants",
                "chronic_treatment",
                "cannot_order_online",
                "as_of",
            )
        ),
    }
