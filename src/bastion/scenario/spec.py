"""Reading a scenario file (SCENARIOS.md): YAML in, a checked `Scenario` out.

Every error names the line and the key, so that an officer can fix the file without help.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

PROTOCOLS = ("v9", "nov2022", "dec2022")
TOP_KEYS = {"name", "protocol", "timezone", "start", "city", "events", "observe", "days", "seed", "watch"}


class ScenarioError(ValueError):
    def __init__(self, key: str, message: str, line: int | None = None) -> None:
        where = f"line {line}: " if line else ""
        super().__init__(f"{where}{key}: {message}")
        self.key = key
        self.line = line
        self.message = message


class Mapping(dict[str, Any]):
    """A YAML mapping that remembers the line of each key."""

    lines: dict[str, int]
    line: int


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Mapping:
    loader.flatten_mapping(node)
    result = Mapping()
    result.lines = {}
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        if key in result:
            raise ScenarioError(key, "appears twice", key_node.start_mark.line + 1)
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = key_node.start_mark.line + 1
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def line_of(mapping: Any, key: str) -> int | None:
    if isinstance(mapping, Mapping):
        return mapping.lines.get(key, mapping.line)
    return None


@dataclass(frozen=True)
class Event:
    day: int
    at: time
    kind: str
    body: dict[str, Any]
    line: int | None
    index: int


@dataclass(frozen=True)
class Scenario:
    name: str
    protocol: str
    timezone: str
    start: date
    city: dict[str, Any]
    city_file: Path | None
    events: list[Event]
    observe: list[str]
    days: int
    seed: int
    source: Path | None = None
    # Residents whose own state some observations print (`transfer`, `codes`), by address.
    watch: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def load(path: Path, *, event_kinds: set[str], observations: set[str]) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError("file", f"cannot be read ({exc})") from None
    return parse(text, source=path, event_kinds=event_kinds, observations=observations)


def parse(
    text: str, *, source: Path | None = None, event_kinds: set[str], observations: set[str]
) -> Scenario:
    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ScenarioError("yaml", str(exc.problem or exc), line) from None
    except ScenarioError:
        raise
    if not isinstance(doc, dict):
        raise ScenarioError("file", "must be a mapping of name, protocol, start, city, events, observe, days")
    for key in doc:
        if key not in TOP_KEYS:
            raise ScenarioError(key, "is not a key of a scenario file", line_of(doc, key))

    def need(key: str) -> Any:
        if key not in doc:
            raise ScenarioError(key, "is required", getattr(doc, "line", None))
        return doc[key]

    name = str(doc.get("name", source.stem if source else "scenario"))
    protocol = need("protocol")
    if protocol not in PROTOCOLS:
        raise ScenarioError("protocol", f"must be one of {', '.join(PROTOCOLS)}", line_of(doc, "protocol"))
    tz = doc.get("timezone", "Asia/Shanghai")
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise ScenarioError(
            "timezone", f"{tz!r} is not a known time zone", line_of(doc, "timezone")
        ) from None
    start = need("start")
    if isinstance(start, str):
        try:
            start = date.fromisoformat(start)
        except ValueError:
            start = None
    if not isinstance(start, date):
        raise ScenarioError("start", "must be a date like 2022-09-01", line_of(doc, "start"))
    days = need("days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 366:
        raise ScenarioError("days", "must be a whole number of days from 1 to 366", line_of(doc, "days"))
    seed = doc.get("seed", 1)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ScenarioError("seed", "must be a whole number", line_of(doc, "seed"))

    city = need("city")
    city_file = None
    if not isinstance(city, dict):
        raise ScenarioError(
            "city", "must be a mapping: inline districts, or file: city.csv", line_of(doc, "city")
        )
    if "file" in city:
        if set(city) != {"file"}:
            raise ScenarioError("city", "is either file: … or an inline city, not both", line_of(doc, "city"))
        city_file = Path(str(city["file"]))
        if source is not None and not city_file.is_absolute():
            city_file = source.parent / city_file
        if not city_file.exists():
            raise ScenarioError("city.file", f"{city_file} does not exist", line_of(city, "file"))

    observe = doc.get("observe", [])
    if not isinstance(observe, list) or not all(isinstance(o, str) for o in observe):
        raise ScenarioError("observe", "must be a list of observation names", line_of(doc, "observe"))
    for item in observe:
        if item not in observations:
            raise ScenarioError(
                f"observe.{item}",
                f"is not an observation this version supports (supported: {', '.join(sorted(observations))})",
                line_of(doc, "observe"),
            )

    watch = doc.get("watch", []) or []
    if not isinstance(watch, list) or not all(isinstance(a, str) and "#" in a for a in watch):
        raise ScenarioError(
            "watch", 'must be a list of resident addresses like "C1/2/1/301#1"', line_of(doc, "watch")
        )
    if len(set(watch)) != len(watch):
        raise ScenarioError("watch", "names a resident twice", line_of(doc, "watch"))

    raw_events = doc.get("events", []) or []
    if not isinstance(raw_events, list):
        raise ScenarioError("events", "must be a list", line_of(doc, "events"))
    events = [_event(raw, i, days, event_kinds, line_of(doc, "events")) for i, raw in enumerate(raw_events)]
    events.sort(key=lambda e: (e.day, e.at, e.index))
    return Scenario(
        name=name,
        protocol=protocol,
        timezone=str(tz),
        start=start,
        city=dict(city) if city_file is None else {},
        city_file=city_file,
        events=events,
        observe=list(observe),
        days=days,
        seed=seed,
        source=source,
        watch=tuple(watch),
    )


def _event(raw: Any, index: int, days: int, kinds: set[str], fallback_line: int | None) -> Event:
    key = f"events[{index}]"
    if not isinstance(raw, dict):
        raise ScenarioError(key, "must be a mapping like {day: 0, positive: {...}}", fallback_line)
    line = getattr(raw, "line", fallback_line)
    day = raw.get("day")
    if isinstance(day, bool) or not isinstance(day, int) or day < 0:
        raise ScenarioError(f"{key}.day", "must be a day offset of 0 or more", line_of(raw, "day"))
    if day >= days:
        raise ScenarioError(
            f"{key}.day", f"is after the last day of the scenario (days: {days})", line_of(raw, "day")
        )
    at = time(9, 0)
    if "time" in raw:
        try:
            at = time.fromisoformat(str(raw["time"]))
        except ValueError:
            raise ScenarioError(f"{key}.time", 'must be a time like "09:00"', line_of(raw, "time")) from None
    rest = [k for k in raw if k not in ("day", "time")]
    if len(rest) != 1:
        raise ScenarioError(key, "must name exactly one event kind besides day and time", line)
    kind = rest[0]
    if kind not in kinds:
        supported = ", ".join(sorted(kinds)) or "none yet"
        raise ScenarioError(
            f"{key}.{kind}",
            f"is not an event kind this version supports (supported: {supported})",
            line_of(raw, kind),
        )
    body = raw[kind]
    if not isinstance(body, dict):
        raise ScenarioError(f"{key}.{kind}", "must be a mapping", line_of(raw, kind))
    return Event(day=day, at=at, kind=kind, body=dict(body), line=line_of(raw, kind), index=index)
