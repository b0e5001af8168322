"""Coverage of a round per grid (应检尽检): residents from the registry's grid figures, sampled and
resulted from the tubes, whichever way the scans arrived."""

from __future__ import annotations

import io
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from bastion.city.models import Grid, GridFigures, Resident
from bastion.city.selectors import actor_for
from bastion.core.scopes import SYSTEM
from bastion.testing import ingest, selectors, services
from bastion.testing.models import Scan, Tube
from tests.conftest import NOW

TEN = {"ratio": 10, "per_household": False}


@pytest.fixture
def city_round(city: dict[str, Any]) -> Any:
    return services.round_open(
        code="R1",
        starts_at=NOW,
        deadline=NOW + timedelta(hours=24),
        pooling={"high": TEN, "medium": TEN, "low": TEN},
        actor=SYSTEM,
        now=NOW,
    )


def two_grids() -> tuple[list[Resident], list[Resident]]:
    """Residents of the two most populous grids, in id order."""
    counts = Counter(Resident.objects.values_list("household__grid", flat=True))
    grids = [g for g, _n in counts.most_common(2)]
    by_grid = [list(Resident.objects.filter(household__grid=g).order_by("id")) for g in grids]
    return by_grid[0], by_grid[1]


def expected(round_: Any) -> dict[int, tuple[int, int, int]]:
    """Per grid, counted person by person: (residents, sampled, resulted)."""
    residents = Counter(Resident.objects.values_list("household__grid", flat=True))
    sampled: Counter[int] = Counter()
    resulted: Counter[int] = Counter()
    for scan in Scan.objects.filter(round=round_, retest=False).select_related("tube"):
        grid = Resident.objects.get(pk=scan.resident_id).household.grid_id
        sampled[grid] += 1
        resulted[grid] += scan.tube.result != ""
    return {grid: (n, sampled[grid], resulted[grid]) for grid, n in residents.items()}


def shown(round_: Any, actor: Any = SYSTEM) -> dict[int, tuple[int, int, int]]:
    return {
        row.id: (row.residents, row.sampled, row.resulted)
        for row in selectors.coverage(actor=actor, round_=round_, by="grid")
    }


def test_grid_figures_count_every_resident_of_every_grid(city: dict[str, Any]) -> None:
    figures = dict(GridFigures.objects.values_list("grid_id", "residents"))
    counted = Counter(Resident.objects.values_list("household__grid", flat=True))
    assert figures == {g: counted.get(g, 0) for g in Grid.objects.values_list("pk", flat=True)}
    assert sum(figures.values()) == Resident.objects.count()


def test_a_tube_shared_by_two_grids_counts_each_person_in_their_own_grid(city_round: Any) -> None:
    first, second = two_grids()
    scans = [(p, "T-A") for p in first[:4]] + [(p, "T-MIX") for p in first[4:6] + second[:3]]
    for i, (person, barcode) in enumerate(scans):
        services.scan_record(
            round_id=city_round.pk,
            resident_id=person.pk,
            tube_barcode=barcode,
            scanned_at=NOW + timedelta(minutes=i),
            actor=SYSTEM,
            now=NOW,
        )
    tubes = {t.barcode: t for t in Tube.objects.all()}
    assert tubes["T-A"].grid_id == first[0].household.grid_id
    assert tubes["T-MIX"].grid_id is None and tubes["T-MIX"].members == 5
    services.tube_result(
        barcode="T-MIX", result="negative", resulted_at=NOW + timedelta(hours=5), actor=SYSTEM, now=NOW
    )
    got = shown(city_round)
    assert got == expected(city_round)
    assert got[first[0].household.grid_id][1:] == (6, 2)
    assert got[second[0].household.grid_id][1:] == (3, 3)
    progress = selectors.round_progress(city_round)
    assert progress.sampled == 9
    assert progress.unsampled == Resident.objects.count() - 9


@pytest.mark.parametrize("snapshot", [False, True], ids=["per-chunk", "snapshot"])
def test_a_file_split_across_chunks_gives_the_same_coverage_as_person_by_person(
    city_round: Any, snapshot: bool
) -> None:
    first, second = two_grids()
    people = first + second
    lines = ["resident,tube,scanned_at"]
    for i, person in enumerate(people):
        tube = "T-MIX" if i in (2, len(first) + 1) else f"T{i // 5:03d}"
        lines.append(f"{person.pk},{tube},2022-09-01T09:{i % 60:02d}:00")
    data = ("\n".join(lines) + "\n").encode()
    report = ingest.scans_load(
        file=io.BytesIO(data),
        filename="scans.csv",
        round_code="R1",
        chunk_bytes=64,  # a few lines a chunk: tubes are split across chunks
        snapshot=snapshot,
        actor=SYSTEM,
        now=NOW,
    )
    assert report.taken == len(people) and report.chunks > 5
    assert Tube.objects.get(barcode="T-MIX").grid_id is None
    single = Tube.objects.get(barcode="T000")
    assert single.grid_id == first[0].household.grid_id and single.members == 4
    services.tube_result(
        barcode="T000", result="negative", resulted_at=NOW + timedelta(hours=5), actor=SYSTEM, now=NOW
    )
    assert shown(city_round) == expected(city_round)


def test_a_community_worker_sees_the_grids_of_their_community_only(city_round: Any, make_user: Any) -> None:
    first, _second = two_grids()
    community = first[0].household.community
    worker = actor_for(make_user("community_worker", community=community))
    got = shown(city_round, worker)
    mine = set(Grid.objects.filter(community=community).values_list("pk", flat=True))
    assert set(got) == mine
    assert all(sampled == 0 for _n, sampled, _r in got.values())
