"""A synthetic city at any scale, calibrated on the 2020 census and the seed cities.

Everything is columnar: numpy draws the structure and the people, polars formats the
strings, `bulk` streams the rows. Each decision has its own named random stream, so that
changing how (say) phones are drawn does not move anybody's birth date. The same seed gives
the same city, row for row, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from bastion.city.calibration import (
    COMPOUND_SUFFIXES,
    GIVEN,
    PLACE_SYLLABLES,
    SURNAMES,
    VOLUNTEER_SKILLS,
    Calibration,
)
from bastion.city.rules import ID_CHECK, ID_WEIGHTS

Progress = Callable[[str, int], None]


def _no_progress(stage: str, done: int) -> None:
    return None


class Streams:
    """One independent generator per named decision."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __call__(self, name: str) -> np.random.Generator:
        digest = hashlib.sha256(f"{self.seed}:{name}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))


@dataclass
class Places:
    """The structure of a city as columns, each level indexed 0..n-1 (ids assigned on load)."""

    districts: pl.DataFrame  # code, name, lat, lon
    subdistricts: pl.DataFrame  # code, name, district
    communities: pl.DataFrame  # code, name, subdistrict, district
    grids: pl.DataFrame  # code, name, community, district
    compounds: pl.DataFrame  # code, name, grid, community, district, latitude, longitude, shared_facilities
    buildings: pl.DataFrame  # compound, number, floors, latitude, longitude, community, district
    units: pl.DataFrame  # building, number, compound, community, district
    households: pl.DataFrame  # unit, building, compound, grid, community, district, room, floor, address
    sizes: np.ndarray  # residents per household


def household_sizes(residents: int, cal: Calibration, rng: np.random.Generator) -> np.ndarray:
    shares = np.asarray(cal.household_size_shares, dtype=float)
    shares = shares / shares.sum()
    mean = float((np.arange(1, len(shares) + 1) * shares).sum())
    draws = rng.choice(np.arange(1, len(shares) + 1), size=int(residents / mean * 1.05) + 16, p=shares)
    total = np.cumsum(draws)
    while total[-1] < residents:  # pragma: no cover - the 5 % margin covers any realistic draw
        more = rng.choice(np.arange(1, len(shares) + 1), size=len(draws), p=shares)
        draws = np.concatenate([draws, more])
        total = np.cumsum(draws)
    count = int(np.searchsorted(total, residents)) + 1
    sizes = draws[:count].astype(np.int16)
    sizes[-1] -= int(total[count - 1] - residents)
    return sizes


def _place_names(rng: np.random.Generator, count: int, suffix: str | tuple[str, ...]) -> pl.Series:
    syllables = np.array(list(PLACE_SYLLABLES))
    first = syllables[rng.integers(0, len(syllables), count)]
    second = syllables[rng.integers(0, len(syllables), count)]
    if isinstance(suffix, tuple):
        ends = np.array(suffix)[rng.integers(0, len(suffix), count)]
    else:
        ends = np.full(count, suffix)
    return pl.Series(np.char.add(np.char.add(first, second), ends).astype(str))


def _codes(prefix: str, count: int, width: int) -> pl.Series:
    return pl.Series([f"{prefix}{i:0{width}d}" for i in range(1, count + 1)], dtype=pl.Utf8)


def _dense(keys: np.ndarray) -> np.ndarray:
    """Renumber sorted group keys 0..k-1."""
    return np.unique(keys, return_inverse=True)[1].astype(np.int64)


def plan_places(sizes: np.ndarray, cal: Calibration, streams: Streams) -> Places:
    households = len(sizes)
    types = cal.building_types
    rng = streams("compounds")
    weights = np.array([t.share / (sum(t.buildings_per_compound) / 2) for t in types])
    weights = weights / weights.sum()
    mean_capacity = sum(
        w * t.households * sum(t.buildings_per_compound) / 2 for w, t in zip(weights, types, strict=True)
    )
    guess = int(households / mean_capacity * 1.3) + 4
    kind = rng.choice(len(types), size=guess, p=weights)
    low = np.array([t.buildings_per_compound[0] for t in types])[kind]
    high = np.array([t.buildings_per_compound[1] for t in types])[kind]
    per_compound = rng.integers(low, high + 1)
    capacity = per_compound * np.array([t.households for t in types])[kind]
    reach = np.cumsum(capacity)
    while reach[-1] < households:  # pragma: no cover - the 30 % margin covers any realistic draw
        kind = np.concatenate([kind, kind])
        per_compound = np.concatenate([per_compound, per_compound])
        capacity = np.concatenate([capacity, capacity])
        reach = np.cumsum(capacity)
    compounds = int(np.searchsorted(reach, households)) + 1
    kind, per_compound = kind[:compounds], per_compound[:compounds]

    # Buildings, in compound order.
    b_compound = np.repeat(np.arange(compounds), per_compound)
    b_kind = kind[b_compound]
    b_number = (
        np.arange(len(b_compound)) - np.repeat(np.cumsum(per_compound) - per_compound, per_compound) + 1
    )
    b_capacity = np.array([t.households for t in types])[b_kind]
    b_reach = np.cumsum(b_capacity)
    n_buildings = int(np.searchsorted(b_reach, households)) + 1
    b_compound, b_kind, b_number, b_capacity = (
        b_compound[:n_buildings],
        b_kind[:n_buildings],
        b_number[:n_buildings],
        b_capacity[:n_buildings],
    )
    compounds = int(b_compound[-1]) + 1
    kind = kind[:compounds]

    # Households fill their buildings unit by unit, floor by floor.
    h_building = np.repeat(np.arange(n_buildings), b_capacity)[:households]
    offset = np.arange(households) - (np.cumsum(b_capacity) - b_capacity)[h_building]
    floors = np.array([t.floors for t in types])[b_kind]
    per_floor = np.array([t.per_floor for t in types])[b_kind]
    per_unit = floors * per_floor
    h_unit_number = offset // per_unit[h_building] + 1
    rest = offset % per_unit[h_building]
    h_floor = rest // per_floor[h_building] + 1
    h_room = h_floor * 100 + rest % per_floor[h_building] + 1
    unit_key = h_building.astype(np.int64) * 64 + h_unit_number
    h_unit = _dense(unit_key)
    u_first = np.unique(h_unit, return_index=True)[1]
    u_building = h_building[u_first]
    u_number = h_unit_number[u_first]

    # Communities by household count, grids within them, subdistricts and districts above.
    mean_size = float(sizes.mean()) if households else 2.6
    per_community = max(1.0, cal.residents_per_community / mean_size)
    c_households = np.bincount(
        b_compound, weights=np.bincount(h_building, minlength=n_buildings), minlength=compounds
    )
    c_start = np.cumsum(c_households) - c_households
    c_community = _dense(np.floor(c_start / per_community).astype(np.int64))
    communities = int(c_community.max()) + 1
    start_in_community = (
        c_start
        - np.minimum.reduceat(c_start, np.r_[0, np.flatnonzero(np.diff(c_community)) + 1])[c_community]
    )
    per_grid = per_community / cal.grids_per_community
    c_grid = _dense(c_community * 1024 + np.floor(start_in_community / per_grid).astype(np.int64))
    grids = int(c_grid.max()) + 1
    g_first = np.unique(c_grid, return_index=True)[1]
    g_community = c_community[g_first]

    districts = int(
        np.clip(round(communities / cal.communities_per_district), min(2, communities), cal.max_districts)
    )
    m_district = np.arange(communities) * districts // communities
    subdistricts = max(districts, round(communities / cal.communities_per_subdistrict))
    m_subdistrict = np.arange(communities) * subdistricts // communities
    # A subdistrict lies in one district: take the district of its first community.
    s_first = np.unique(m_subdistrict, return_index=True)[1]
    s_district = m_district[s_first]
    m_district = s_district[m_subdistrict]
    subdistricts = len(s_first)

    geo = streams("coordinates")
    centre_lat, centre_lon = cal.centre
    angle = np.arange(districts) / max(districts, 1) * 2 * np.pi
    d_lat = centre_lat + 0.12 * np.sin(angle) * (districts > 1)
    d_lon = centre_lon + 0.15 * np.cos(angle) * (districts > 1)
    c_district = m_district[c_community]
    c_lat = d_lat[c_district] + geo.normal(0, 0.03, compounds)
    c_lon = d_lon[c_district] + geo.normal(0, 0.035, compounds)
    b_lat = c_lat[b_compound] + geo.normal(0, 0.0006, n_buildings)
    b_lon = c_lon[b_compound] + geo.normal(0, 0.0007, n_buildings)

    names = streams("place-names")
    compound_codes = _codes("C", compounds, 6)
    h_compound = b_compound[h_building]
    address = (
        pl.DataFrame(
            {
                "c": compound_codes.gather(h_compound),
                "b": b_number[h_building],
                "u": h_unit_number,
                "r": h_room,
            }
        )
        .select(pl.format("{}/{}/{}/{}", "c", "b", "u", "r").alias("address"))
        .to_series()
    )
    b_district = c_district[b_compound]
    b_community = c_community[b_compound]
    return Places(
        districts=pl.DataFrame(
            {"code": _codes("D", districts, 2), "name": _place_names(names, districts, "区")}
        ),
        subdistricts=pl.DataFrame(
            {
                "code": _codes("S", subdistricts, 3),
                "name": _place_names(names, subdistricts, "街道"),
                "district": s_district,
            }
        ),
        communities=pl.DataFrame(
            {
                "code": _codes("M", communities, 4),
                "name": _place_names(names, communities, "社区"),
                "subdistrict": _dense(m_subdistrict),
                "district": m_district,
            }
        ),
        grids=pl.DataFrame(
            {
                "code": _codes("G", grids, 5),
                "name": pl.Series([f"网格{i + 1}" for i in range(grids)]),
                "community": g_community,
                "district": m_district[g_community],
            }
        ),
        compounds=pl.DataFrame(
            {
                "code": compound_codes,
                "name": _place_names(names, compounds, COMPOUND_SUFFIXES),
                "grid": c_grid,
                "community": c_community,
                "district": c_district,
                "latitude": np.round(c_lat, 6),
                "longitude": np.round(c_lon, 6),
                "shared_facilities": np.array([t.shared_facilities for t in types])[kind],
            }
        ),
        buildings=pl.DataFrame(
            {
                "compound": b_compound,
                "number": b_number,
                "floors": floors,
                "latitude": np.round(b_lat, 6),
                "longitude": np.round(b_lon, 6),
                "community": b_community,
                "district": b_district,
            }
        ),
        units=pl.DataFrame(
            {
                "building": u_building,
                "number": u_number,
                "compound": b_compound[u_building],
                "community": b_community[u_building],
                "district": b_district[u_building],
            }
        ),
        households=pl.DataFrame(
            {
                "unit": h_unit,
                "building": h_building,
                "compound": h_compound,
                "grid": c_grid[h_compound],
                "community": b_community[h_building],
                "district": b_district[h_building],
                "room": pl.Series(h_room).cast(pl.Utf8),
                "floor": h_floor,
                "address": address,
            }
        ),
        sizes=sizes,
    )


def synthesize_residents(
    *,
    sizes: np.ndarray,
    household_district: np.ndarray,
    household_community: np.ndarray,
    as_of: date,
    cal: Calibration,
    streams: Streams,
) -> pl.DataFrame:
    """The people of the given households: columns ready for `city_resident` (ids excluded).

    Columns: household (index), community, district, number, name, id_number, sex,
    birth_date, phone, living_alone, disabled, pregnant, chronic_treatment, cannot_order_online.
    """
    sizes = sizes.astype(np.int64)
    n = int(sizes.sum())
    household = np.repeat(np.arange(len(sizes)), sizes)
    number = np.arange(n) - np.repeat(np.cumsum(sizes) - sizes, sizes) + 1
    size = sizes[household]

    ages_rng = streams("ages")
    head_elderly = ages_rng.random(len(sizes)) < cal.elderly_share_of_heads
    head_age = np.where(
        head_elderly, 60 + ages_rng.integers(0, 26, len(sizes)), ages_rng.integers(26, 60, len(sizes))
    )
    single = sizes == 1
    single_elderly = ages_rng.random(len(sizes)) < cal.elderly_share_of_singles
    single_age = np.where(
        single_elderly,
        60 + np.minimum(ages_rng.exponential(10, len(sizes)).astype(np.int64), 38),
        ages_rng.integers(18, 60, len(sizes)),
    )
    head_age = np.where(single, single_age, head_age)
    h_age = head_age[household]
    age = h_age.copy()
    spouse = number == 2
    age[spouse] = np.clip(
        h_age[spouse] + ages_rng.normal(0, 3, int(spouse.sum())).round().astype(np.int64), 18, 100
    )
    child = (number >= 3) & (number <= 4)
    age[child] = h_age[child] - ages_rng.integers(24, 35, int(child.sum()))
    third = number == 3
    two_generations = third & (size == 3) & (h_age >= 50)
    age[two_generations] = h_age[two_generations] - ages_rng.integers(24, 32, int(two_generations.sum()))
    extended = number >= 5
    young_head = extended & (h_age < 50)
    age[young_head] = h_age[young_head] + ages_rng.integers(24, 33, int(young_head.sum()))
    old_head = extended & (h_age >= 50)
    age[old_head] = h_age[old_head] - ages_rng.integers(48, 62, int(old_head.sum()))
    # A child that would be "born in the future" is a baby of the youngest generation.
    unborn = age < 0
    age[unborn] = ages_rng.integers(0, 6, int(unborn.sum()))
    age = np.clip(age, 0, 104)

    days_rng = streams("birthdays")
    as_of_ordinal = as_of.toordinal()
    born_ordinal = as_of_ordinal - (age * 365.2425).astype(np.int64) - days_rng.integers(0, 365, n)
    birth = np.array(born_ordinal - date(1970, 1, 1).toordinal(), dtype="datetime64[D]")
    # Whole years on the day, as the registry counts them: what the flags below must agree with
    # (a drawn age of 60 can land on a birthday not yet reached).
    age = age_on(birth, as_of)

    sex_rng = streams("sex")
    sex_male = sex_rng.random(n) < 0.5
    sex_male[number == 2] = ~sex_male[np.maximum(np.flatnonzero(number == 2) - 1, 0)]

    flags = streams("flags")
    elderly = age >= 60
    female = ~sex_male
    pregnant = female & (age >= 20) & (age <= 40) & (flags.random(n) < cal.pregnant_share_of_women_20_40)
    disabled = flags.random(n) < np.where(elderly, cal.disabled_share_elderly, cal.disabled_share_young)
    treatment_draw = flags.random(n)
    # 0 none, 1 dialysis, 2 chemotherapy, 3 other regular treatment
    chronic = np.zeros(n, dtype=np.int64)
    chronic[treatment_draw < cal.dialysis_share] = 1
    chemo = (treatment_draw >= cal.dialysis_share) & (
        treatment_draw < cal.dialysis_share + cal.chemotherapy_share
    )
    chronic[chemo] = 2
    other = elderly & (chronic == 0) & (flags.random(n) < cal.other_treatment_share_elderly)
    chronic[other] = 3
    living_alone = size == 1
    offline_share = np.where(
        elderly & living_alone,
        cal.cannot_order_online_elderly_alone,
        np.where(elderly, cal.cannot_order_online_elderly, cal.cannot_order_online_other),
    )
    cannot_order_online = flags.random(n) < offline_share

    name_rng = streams("names")
    surnames = pl.Series(list(SURNAMES), dtype=pl.Utf8)
    given = pl.Series([*GIVEN, ""], dtype=pl.Utf8)  # the last entry: no second character
    # Zipf-like surname frequencies: 王 and 李 far ahead of the long tail.
    weights = 1.0 / np.arange(1, len(surnames) + 1) ** 0.9
    family = name_rng.choice(len(surnames), size=len(sizes), p=weights / weights.sum())
    surname_index = family[household]
    # Spouses keep their own surname.
    spouse_surname = name_rng.choice(len(surnames), size=n, p=weights / weights.sum())
    surname_index = np.where(spouse, spouse_surname, surname_index)
    two_chars = name_rng.random(n) < 0.7
    first_index = name_rng.integers(0, len(GIVEN), n)
    second_index = np.where(two_chars, name_rng.integers(0, len(GIVEN), n), len(GIVEN))

    district = household_district[household].astype(np.int64)
    region = 510104 + district  # Chengdu's district codes start at 510104
    id_number = _id_numbers(region=region, birth=birth, male=sex_male)

    phone_rng = streams("phones")
    prefixes = np.array(
        [130, 131, 132, 135, 136, 137, 138, 139, 150, 151, 152, 157, 158, 159, 177, 180, 186, 187, 189, 199]
    )
    prefix = prefixes[phone_rng.integers(0, len(prefixes), n)]
    # A bijection of the person's index onto 8 digits keeps phones unique within a prefix.
    tail = (np.arange(n, dtype=np.int64) * 48_271 + int(phone_rng.integers(0, 10**8))) % 10**8
    # Strings are built by polars from small dictionaries and index columns: numpy's string
    # arrays are several times slower at this size.
    treatments = pl.Series(["", "dialysis", "chemotherapy", "other"], dtype=pl.Utf8)
    phone = pl.Series(prefix * 10**8 + tail).cast(pl.Utf8)
    return pl.DataFrame(
        {
            "household": household,
            "community": household_community[household].astype(np.int64),
            "district": district,
            "number": number,
            "name": _concat(
                surnames.gather(surname_index), given.gather(first_index), given.gather(second_index)
            ),
            "id_number": id_number,
            "sex": pl.Series(sex_male).replace_strict({True: "M", False: "F"}, return_dtype=pl.Utf8),
            "birth_date": birth,
            "living_alone": living_alone,
            "disabled": disabled,
            "pregnant": pregnant,
            "chronic_treatment": treatments.gather(chronic),
            "cannot_order_online": cannot_order_online,
            "phone": pl.select(
                pl.when(pl.lit(pl.Series(age >= 12))).then(pl.lit(phone)).otherwise(pl.lit(""))
            ).to_series(),
        }
    )


def _concat(*parts: pl.Series) -> pl.Series:
    return pl.select(pl.concat_str([pl.lit(p) for p in parts])).to_series()


def age_on(birth: np.ndarray, day: date) -> np.ndarray:
    """Vectorised `rules.age_on`: completed years on `day` for datetime64[D] birth dates."""
    year = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    month = birth.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dom = (birth - birth.astype("datetime64[M]")).astype(np.int64) + 1
    before_birthday = (month > day.month) | ((month == day.month) & (dom > day.day))
    return day.year - year - before_birthday.astype(np.int64)


def _id_numbers(*, region: np.ndarray, birth: np.ndarray, male: np.ndarray) -> pl.Series:
    """Valid 18-character ID numbers, unique: sequence numbers ranked within (region, birthday, sex)."""
    n = len(region)
    day = birth.astype(np.int64)
    order = np.lexsort((male, day, region))
    key_region, key_day, key_male = region[order], day[order], male[order]
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = (
        (key_region[1:] != key_region[:-1]) | (key_day[1:] != key_day[:-1]) | (key_male[1:] != key_male[:-1])
    )
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - group_start
    if n and rank.max() >= 499:
        raise ValueError("too many people share a region, birthday and sex for unique ID numbers")
    # Odd sequence numbers for men, even for women (GB 11643); 000 is never issued.
    sequence = rank * 2 + np.where(male, 1, 2)
    year = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    month = birth.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dom = (birth - birth.astype("datetime64[M]")).astype(np.int64) + 1
    first17 = region.astype(np.int64) * 10**11 + year * 10**7 + month * 10**5 + dom * 10**3 + sequence
    total = np.zeros(n, dtype=np.int64)
    rest = first17.copy()
    for weight in reversed(ID_WEIGHTS):  # the last digit carries the last weight
        total += (rest % 10) * weight
        rest //= 10
    check = pl.Series(list(ID_CHECK), dtype=pl.Utf8).gather(total % 11)
    # Region codes start with a non-zero digit, so the 17 digits need no padding.
    return _concat(pl.Series(first17).cast(pl.Utf8), check)


def plan_staff(
    *, places: Places, people: pl.DataFrame, as_of: date, cal: Calibration, streams: Streams
) -> pl.DataFrame:
    """Grid workers (one per grid), building heads (one per building), community workers and
    volunteers, each drawn from the adults living there. Columns ready for `city_staff` with
    `resident` as a row index of `people`."""
    rng = streams("staff")
    n = people.height
    if n == 0:
        return pl.DataFrame()
    household = people["household"].to_numpy()
    grid = places.households["grid"].to_numpy()[household]
    building = places.households["building"].to_numpy()[household]
    community = people["community"].to_numpy()
    age = (np.datetime64(as_of) - people["birth_date"].to_numpy()).astype(np.int64) // 365
    adults = np.flatnonzero((age >= 18) & (age < 65))
    adults = adults[rng.permutation(len(adults))]
    taken = np.zeros(n, dtype=bool)

    def first_per(groups: np.ndarray) -> np.ndarray:
        pool = adults[~taken[adults]]
        _, first = np.unique(groups[pool], return_index=True)
        return pool[np.sort(first)]

    grid_workers = first_per(grid)
    taken[grid_workers] = True
    heads = first_per(building)
    taken[heads] = True
    pool = adults[~taken[adults]]
    order = np.argsort(community[pool], kind="stable")
    ranked = pool[order]
    starts = np.r_[0, np.flatnonzero(np.diff(community[ranked])) + 1]
    position = np.arange(len(ranked)) - np.repeat(starts, np.diff(np.r_[starts, len(ranked)]))
    workers = ranked[position < cal.community_workers_per_community]
    taken[workers] = True
    pool = adults[~taken[adults]]
    volunteers = pool[: min(len(pool), round(n * cal.volunteers_per_resident))]

    skills = np.array(VOLUNTEER_SKILLS)
    first_skill = skills[rng.integers(0, len(skills), len(volunteers))]
    second_skill = skills[rng.integers(0, len(skills), len(volunteers))]
    volunteer_skills = [
        f'["{a}"]' if a == b else f'["{a}", "{b}"]' for a, b in zip(first_skill, second_skill, strict=True)
    ]

    def frame(
        rows: np.ndarray, role: str, *, with_grid: bool, with_building: bool, skills: list[str]
    ) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "resident": rows,
                "role": np.full(len(rows), role),
                "community": community[rows],
                "district": people["district"].to_numpy()[rows],
                "grid": pl.Series(grid[rows] if with_grid else np.full(len(rows), None), dtype=pl.Int64),
                "building": pl.Series(
                    building[rows] if with_building else np.full(len(rows), None), dtype=pl.Int64
                ),
                "skills": pl.Series(skills, dtype=pl.Utf8),
            }
        )

    staff = pl.concat(
        [
            frame(
                grid_workers,
                "grid_worker",
                with_grid=True,
                with_building=False,
                skills=["[]"] * len(grid_workers),
            ),
            frame(heads, "building_head", with_grid=True, with_building=True, skills=["[]"] * len(heads)),
            frame(
                workers,
                "community_worker",
                with_grid=False,
                with_building=False,
                skills=["[]"] * len(workers),
            ),
            frame(volunteers, "volunteer", with_grid=False, with_building=False, skills=volunteer_skills),
        ]
    )
    return staff.with_columns(
        pl.Series("name", people["name"].to_numpy()[staff["resident"].to_numpy()]),
        pl.Series("phone", people["phone"].to_numpy()[staff["resident"].to_numpy()]),
        pl.lit(True).alias("active"),
    )
