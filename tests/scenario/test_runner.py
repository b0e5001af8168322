from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bastion.scenario import runner
from bastion.scenario.spec import ScenarioError, load, parse

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
BASTION = Path(sys.executable).with_name("bastion")


def _parse(text: str) -> object:
    return parse(text, event_kinds=set(runner.EVENT_KINDS), observations=set(runner.OBSERVATIONS))


GOOD = """
name: tiny
protocol: v9
start: 2022-09-01
city:
  districts:
    - code: D1
      communities:
        - code: M1
          compounds:
            - {code: C1, buildings: 2, units: 1, floors: 2, per_floor: 2, household_size: 3}
observe: [registry]
days: 3
"""


@pytest.mark.django_db
def test_it_loads_the_city_and_prints_the_registry_each_day() -> None:
    scenario = _parse(GOOD)
    result = runner.run(scenario)  # type: ignore[arg-type]
    assert result["scenario"] == "tiny"
    assert [d["date"] for d in result["days"]] == ["2022-09-01", "2022-09-02", "2022-09-03"]
    registry = result["days"][0]["registry"]
    assert registry["households"] == 8
    assert registry["residents"] == 24
    assert registry["buildings"] == 2
    assert registry["compounds"] == 1


@pytest.mark.django_db
def test_the_shipped_registry_scenario_counts_the_courtyard() -> None:
    scenario = load(
        SCENARIOS / "registry-one-compound.yaml",
        event_kinds=set(runner.EVENT_KINDS),
        observations=set(runner.OBSERVATIONS),
    )
    day0 = runner.run(scenario)["days"][0]["registry"]
    assert day0["households"] == 4 * 2 * 6 * 2 + 10
    assert day0["residents"] == 96 * 3 + 10 * 2


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        (GOOD.replace("days: 3", "days: 3\nevents:\n  - {day: 0, flood: {x: 1}}"), "events[0].flood", 15),
        (GOOD.replace("observe: [registry]", "observe: [weather]"), "observe.weather", 12),
        (GOOD.replace("protocol: v9", "protocol: v10"), "protocol", 3),
        (GOOD.replace("days: 3", "days: 3\nweather: sunny"), "weather", 14),
        (GOOD.replace("start: 2022-09-01", "start: first of september"), "start", 4),
        (GOOD.replace("days: 3", "days: 0"), "days", 13),
        (GOOD.replace("days: 3", "days: 3\nevents:\n  - {day: 5, positive: {}}"), "events[0].day", 15),
    ],
)
def test_a_bad_file_is_refused_naming_the_key_and_line(text: str, key: str, line: int) -> None:
    with pytest.raises(ScenarioError) as caught:
        _parse(text)
    assert caught.value.key == key
    assert caught.value.line == line


def test_broken_yaml_is_refused_with_its_line() -> None:
    with pytest.raises(ScenarioError) as caught:
        _parse("name: x\nprotocol: [v9\n")
    assert caught.value.key == "yaml"
    assert caught.value.line == 3  # where the unclosed list meets the end of the file


@pytest.mark.django_db
def test_a_bad_city_block_names_the_key() -> None:
    text = GOOD.replace("buildings: 2,", "buildings: -2,")
    with pytest.raises(ScenarioError) as caught:
        runner.run(_parse(text))  # type: ignore[arg-type]
    assert caught.value.key == "city.districts[0].communities[0].compounds[0].buildings"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    return subprocess.run(
        [str(BASTION), "scenario", "run", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_the_command_prints_json_on_a_fresh_database() -> None:
    done = _cli(str(SCENARIOS / "registry-one-compound.yaml"))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["days"][1]["registry"]["households"] == 106


def test_the_command_exits_non_zero_on_an_unsupported_event(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("days: 3", "days: 3\nevents:\n  - {day: 0, flood: {level: 3}}"))
    done = _cli(str(bad))
    assert done.returncode != 0
    assert "events[0].flood" in done.stderr
    assert "line 15" in done.stderr
    assert done.stdout == ""


def test_the_command_names_the_event_of_an_unknown_resident(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        GOOD.replace("days: 3", "days: 3\nevents:\n  - {day: 0, positive: {resident: 'C1/1/1/909#1'}}")
    )
    done = _cli(str(bad))
    assert done.returncode != 0
    assert "line 15: events[0].positive: there is no resident C1/1/1/909#1" in done.stderr
    assert done.stdout == ""


@pytest.mark.django_db
def test_a_city_can_come_from_a_registry_file() -> None:
    scenario = load(
        SCENARIOS / "registry-from-file.yaml",
        event_kinds=set(runner.EVENT_KINDS),
        observations=set(runner.OBSERVATIONS),
    )
    day0 = runner.run(scenario)["days"][0]["registry"]
    assert (day0["compounds"], day0["buildings"], day0["households"], day0["residents"]) == (2, 3, 30, 84)


@pytest.mark.django_db
def test_a_rejected_city_file_names_the_row_and_column(tmp_path: Path) -> None:
    rows = (SCENARIOS / "lhasa-courtyard-city.csv").read_text(encoding="utf-8-sig").splitlines()
    rows[2] = rows[2].replace(",M,", ",X,", 1)
    (tmp_path / "city.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "s.yaml").write_text(
        "protocol: v9\nstart: 2022-08-10\ncity: {file: city.csv}\nobserve: [registry]\ndays: 1\n"
    )
    scenario = load(
        tmp_path / "s.yaml", event_kinds=set(runner.EVENT_KINDS), observations=set(runner.OBSERVATIONS)
    )
    with pytest.raises(ScenarioError) as caught:
        runner.run(scenario)
    assert caught.value.key == "city.file"
    assert "row 3" in str(caught.value) and "sex" in str(caught.value)


@pytest.mark.parametrize(
    "compounds",
    [
        # one grid named in two communities
        ("{code: C1, buildings: 1, grid: G1}", "{code: C2, buildings: 1, grid: G1}"),
        # a grid named like another community's default grid
        ("{code: C1, buildings: 1}", "{code: C2, buildings: 1, grid: M1-G1}"),
    ],
)
@pytest.mark.django_db
def test_a_grid_in_two_communities_is_refused_naming_the_key(compounds: tuple[str, str]) -> None:
    text = f"""
protocol: v9
start: 2022-09-01
city:
  districts:
    - code: D1
      communities:
        - {{code: M1, compounds: [{compounds[0]}]}}
        - {{code: M2, compounds: [{compounds[1]}]}}
observe: [registry]
days: 1
"""
    with pytest.raises(ScenarioError) as caught:
        runner.run(_parse(text))  # type: ignore[arg-type]
    assert caught.value.key == "city.districts[0].communities[1].compounds[0].grid"


@pytest.mark.django_db
def test_the_figures_are_recounted_every_day_in_the_scenarios_time_zone() -> None:
    # 23:59 in Los Angeles is already the next day in Shanghai: days must be the file's own.
    text = GOOD.replace("protocol: v9", "protocol: v9\ntimezone: America/Los_Angeles")
    days = runner.run(_parse(text))["days"]  # type: ignore[arg-type]
    assert [d["registry"]["as_of"] for d in days] == [d["date"] for d in days]


SAME_DAY = """
name: the worker ticks every hour
protocol: v9
start: 2022-09-01
city:
  districts:
    - code: D1
      communities:
        - code: M1
          compounds:
            - {code: C1, buildings: 1, units: 1, floors: 2, per_floor: 2, household_size: 2}
watch: ["C1/1/1/101#1"]
events:
  - {day: 0, stock: {category: vegetables, kg: 300, district: D1}}
  - {day: 0, time: "09:00", positive: {resident: "C1/1/1/101#1", kind: confirmed}}
  - {day: 0, time: "__AT__", deliver: {household: "C1/1/1/102", weight_kg: 10.0}}
observe: [supply]
days: 1
"""


@pytest.mark.django_db
def test_the_worker_ticks_every_simulated_hour_not_only_at_the_days_end() -> None:
    # The zone drawn at 09:00 is served at home from the worker's 10:00 tick: the household's
    # standard package can be handed over at 10:30 the same day.
    day = runner.run(_parse(SAME_DAY.replace("__AT__", "10:30")))["days"][0]  # type: ignore[arg-type]
    assert day["supply"]["reached_today"] == 1


@pytest.mark.django_db
def test_before_the_workers_next_tick_there_is_nothing_to_hand_over() -> None:
    with pytest.raises(ScenarioError) as caught:
        runner.run(_parse(SAME_DAY.replace("__AT__", "09:30")))  # type: ignore[arg-type]
    assert caught.value.key == "events[2].deliver"


@pytest.mark.django_db
def test_a_watched_address_that_names_nobody_is_refused() -> None:
    text = SAME_DAY.replace("__AT__", "10:30").replace('watch: ["C1/1/1/101#1"]', 'watch: ["C1/1/1/101#9"]')
    with pytest.raises(ScenarioError) as caught:
        runner.run(_parse(text))  # type: ignore[arg-type]
    assert caught.value.key == "watch[0]"


@pytest.mark.parametrize("watch", ['"C1/1/1/101"', "[1, 2]", '["C1/1/1/101#1", "C1/1/1/101#1"]'])
def test_a_watch_list_that_is_not_residents_is_refused(watch: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        _parse(SAME_DAY.replace('["C1/1/1/101#1"]', watch))
    assert caught.value.key == "watch"
