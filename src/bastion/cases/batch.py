"""A batch file of cases (layout: docs/CASES_FORMAT.md): read it and check it whole.

Nothing here writes. `read_batch` parses every row and checks it against the registry and
the cases already open; a file with a single problem is refused (`CaseBatchRejected`, 422)
listing every bad cell by row and column, in the language of the request. The rows of a
clean file are reported in one transaction by `flows.cases_reported_batch`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bastion.cases.models import Case, CaseKind, FoundBy
from bastion.city import registry_io
from bastion.city import rules as city_rules
from bastion.city.models import Resident
from bastion.city.registry_io import RegistryFileRejected
from bastion.city.selectors import RESIDENT_PATHS, place_by_address
from bastion.core import clock, inputs
from bastion.core.errors import DomainError, InvalidInput, NotFound
from bastion.core.files import FileRejected, Problem
from bastion.core.scopes import Actor, scoped

COLUMNS: tuple[str, ...] = (
    "id_number",
    "address",
    "kind",
    "found_by",
    "onset_on",
    "reported_at",
    "frequent",
    "stayed",
)
REQUIRED: tuple[str, ...] = ("kind", "found_by")
# One transaction reports the whole file: a day's cases of a district, not a city's history.
MAX_ROWS = 5000
PLACE_SEPARATOR = ";"
# The words a Chinese spreadsheet may carry instead of the codes.
KIND_WORDS = {
    "confirmed": CaseKind.CONFIRMED,
    "确诊": CaseKind.CONFIRMED,
    "确诊病例": CaseKind.CONFIRMED,
    "asymptomatic": CaseKind.ASYMPTOMATIC,
    "无症状": CaseKind.ASYMPTOMATIC,
    "无症状感染者": CaseKind.ASYMPTOMATIC,
}


class CaseBatchRejected(FileRejected):
    code = "case_batch_rejected"
    columns = COLUMNS
    summary = gettext_lazy("The file was rejected with %(count)d problems; no case was reported.")


@dataclass(frozen=True)
class CaseBatchRow:
    """One checked row: the resident it names and what `flows.case_reported` needs."""

    line: int
    resident_id: int
    kind: str
    found_by: str
    onset_on: date | None
    reported_at: datetime | None
    frequent: list[str] = field(default_factory=list)
    stayed: list[str] = field(default_factory=list)


def read_batch(
    data: IO[bytes] | bytes, *, filename: str, encoding: str = "utf-8", actor: Actor, now: datetime
) -> list[CaseBatchRow]:
    """Parse and check a case batch file; raise `CaseBatchRejected` listing every problem.

    Checks: the columns; every cell (kind, found by, dates not in the future, addresses);
    each row names one resident within the actor's scope, who is not yet a case and appears
    on no other row; every place exists. A CSV file is read strictly in `encoding`, row by
    row, and no further than `MAX_ROWS`. Reads only.
    """
    actor.require("manage_cases")
    try:
        cells = registry_io.read_cells(data, filename=filename, encoding=encoding)
        header = next(cells, None)
        if header is None:
            raise CaseBatchRejected([Problem(0, "", "no_rows", _("The file holds no cases."))])
        positions = _header(header)
        raw_rows: list[tuple[int, list[Any]]] = []
        for line, raw in enumerate(cells, start=2):
            if _blank(raw):
                continue
            if len(raw_rows) == MAX_ROWS:
                message = _("A batch holds at most %(max)d cases; split the file.") % {"max": MAX_ROWS}
                raise CaseBatchRejected([Problem(0, "", "too_many_rows", message)])
            raw_rows.append((line, raw))
    except RegistryFileRejected as exc:  # not CSV or XLSX, not in its encoding, not readable
        raise CaseBatchRejected(exc.problems) from None
    if not raw_rows:
        raise CaseBatchRejected([Problem(0, "", "no_rows", _("The file holds no cases."))])
    checker = _Checker(actor=actor, now=now)
    parsed = [checker.row(line, _cells(raw, positions)) for line, raw in raw_rows]
    checker.residents_found(parsed)
    if checker.problems:
        raise CaseBatchRejected(checker.problems)
    return [row.checked() for row in parsed]


def resident_at(*, actor: Actor, address: str) -> int:
    """The id of the resident at `C1/2/1/301#1`, within the actor's scope.

    A resident outside the scope is unknown, exactly like one who does not exist (404).
    """
    try:
        parsed = city_rules.parse_address(address)
    except ValueError:
        parsed = None
    if parsed is None or parsed.number is None or parsed.room is None:
        raise InvalidInput(
            _("%(address)s is not a resident's address like C1/2/1/301#1.") % {"address": address},
            code="bad_resident_address",
        )
    found = (
        scoped(Resident.objects.all(), actor, RESIDENT_PATHS)
        .filter(household__address=parsed.household, number=parsed.number)
        .values_list("pk", flat=True)
        .first()
    )
    if found is None:
        raise NotFound(_("There is no resident %(address)s.") % {"address": address}, code="unknown_resident")
    return found


# -- reading cells -------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _blank(raw: Sequence[Any]) -> bool:
    return all(_text(v) == "" for v in raw)


def _cells(raw: Sequence[Any], positions: dict[str, int]) -> dict[str, Any]:
    return {name: raw[index] if index < len(raw) else None for name, index in positions.items()}


def _header(header: Sequence[Any]) -> dict[str, int]:
    names = [_text(cell).lower() for cell in header]
    while names and not names[-1]:
        names.pop()  # spreadsheets often carry empty trailing columns
    problems: list[Problem] = []
    positions: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in positions:
            problems.append(
                Problem(
                    1, name, "duplicate_column", _("The column %(column)s appears twice.") % {"column": name}
                )
            )
        elif name not in COLUMNS:
            problems.append(
                Problem(
                    1,
                    name,
                    "unknown_column",
                    _("The column %(column)s is not part of the case batch format.")
                    % {"column": name or "?"},
                )
            )
        else:
            positions[name] = index
    for name in REQUIRED:
        if name not in positions:
            problems.append(
                Problem(1, name, "missing_column", _("The column %(column)s is missing.") % {"column": name})
            )
    if "id_number" not in positions and "address" not in positions:
        problems.append(
            Problem(
                1,
                "id_number",
                "missing_column",
                _("The file needs a column id_number or a column address to name the residents."),
            )
        )
    if problems:
        raise CaseBatchRejected(problems)
    return positions


@dataclass
class _Parsed:
    line: int
    column: str = ""  # the column that named the resident
    key: str = ""  # the ID number or the resident's address
    resident_id: int | None = None
    kind: str = ""
    found_by: str = ""
    onset_on: date | None = None
    reported_at: datetime | None = None
    frequent: list[str] = field(default_factory=list)
    stayed: list[str] = field(default_factory=list)

    def checked(self) -> CaseBatchRow:
        assert self.resident_id is not None  # noqa: S101 - a row without problems names a resident
        return CaseBatchRow(
            line=self.line,
            resident_id=self.resident_id,
            kind=self.kind,
            found_by=self.found_by,
            onset_on=self.onset_on,
            reported_at=self.reported_at,
            frequent=self.frequent,
            stayed=self.stayed,
        )


class _Checker:
    """Collects the problems of every row; each place is looked up once for the file."""

    def __init__(self, *, actor: Actor, now: datetime) -> None:
        self.actor = actor
        self.now = now
        self.today = clock.local_date(now)
        self.problems: list[Problem] = []
        self._places: dict[str, DomainError | None] = {}

    def bad(self, line: int, column: str, code: str, message: str) -> None:
        self.problems.append(Problem(line, column, code, message))

    def row(self, line: int, cells: dict[str, Any]) -> _Parsed:
        row = _Parsed(line=line)
        id_number = _text(cells.get("id_number")).upper()
        address = _text(cells.get("address"))
        if id_number and address:
            self.bad(
                line,
                "address",
                "two_residents",
                _("Name the resident by id_number or by address, not both."),
            )
        elif id_number:
            row.column, row.key = "id_number", id_number
        elif address:
            row.column, row.key = "address", address
        else:
            self.bad(
                line,
                "id_number" if "id_number" in cells else "address",
                "required",
                _("Name the resident by id_number or by address."),
            )
        row.kind = self._kind(line, cells.get("kind"))
        row.found_by = self._found_by(line, cells.get("found_by"))
        row.onset_on = self._onset(line, cells.get("onset_on"))
        row.reported_at = self._reported_at(line, cells.get("reported_at"))
        row.frequent = self._addresses(line, "frequent", cells.get("frequent"))
        row.stayed = self._addresses(line, "stayed", cells.get("stayed"))
        return row

    def _kind(self, line: int, value: Any) -> str:
        text = _text(value)
        kind = KIND_WORDS.get(text.lower())
        if kind is None:
            self.bad(
                line,
                "kind",
                "bad_case_kind" if text else "required",
                _("A case is confirmed or asymptomatic."),
            )
            return ""
        return str(kind)

    def _found_by(self, line: int, value: Any) -> str:
        text = _text(value).lower()
        if text not in FoundBy.values:
            self.bad(
                line,
                "found_by",
                "bad_found_by" if text else "required",
                _("Found by must be one of: %(values)s.") % {"values": ", ".join(FoundBy.values)},
            )
            return ""
        return text

    def _onset(self, line: int, value: Any) -> date | None:
        if isinstance(value, datetime):
            value = value.date()
        if isinstance(value, date):
            day: date = value
        else:
            text = _text(value)
            if not text:
                return None
            try:
                day = date.fromisoformat(text)
            except ValueError:
                self.bad(line, "onset_on", "bad_date", _("Write the day as YYYY-MM-DD."))
                return None
        if day > self.today:
            self.bad(line, "onset_on", "onset_in_future", _("The onset cannot be in the future."))
            return None
        if not inputs.day_in_window(day):
            self.bad(line, "onset_on", "out_of_window", inputs.outside_window())
            return None
        return day

    def _reported_at(self, line: int, value: Any) -> datetime | None:
        if isinstance(value, datetime):
            at: datetime = value
        else:
            text = _text(value)
            if not text:
                return None
            try:
                at = datetime.fromisoformat(text)
            except ValueError:
                self.bad(
                    line,
                    "reported_at",
                    "bad_datetime",
                    _("Write the time of the report as YYYY-MM-DDTHH:MM, in the city's time."),
                )
                return None
        # The day as written, before any arithmetic (year 1 east of UTC overflows).
        if not inputs.day_in_window(at.date()):
            self.bad(line, "reported_at", "out_of_window", inputs.outside_window())
            return None
        at = inputs.city_moment(at)  # a spreadsheet's times are the city's
        if at > self.now:
            self.bad(line, "reported_at", "case_in_future", _("A case cannot be reported in the future."))
            return None
        return at

    def _addresses(self, line: int, column: str, value: Any) -> list[str]:
        addresses = [part.strip() for part in _text(value).split(PLACE_SEPARATOR) if part.strip()]
        for address in addresses:
            if address not in self._places:
                try:
                    place_by_address(address)
                    self._places[address] = None
                except DomainError as exc:  # bad_address, unknown_place
                    self._places[address] = exc
            error = self._places[address]
            if error is not None:
                self.bad(line, column, error.code, str(error.message))
        return addresses

    def residents_found(self, rows: Sequence[_Parsed]) -> None:
        """Find every row's resident in a few queries; flag the unknown, the repeated and those
        already a case."""
        by_id_number = self._ids_by_id_number([r.key for r in rows if r.column == "id_number"])
        by_address = self._ids_by_address([r.key for r in rows if r.column == "address"])
        for row in rows:
            if row.column == "id_number":
                row.resident_id = by_id_number.get(row.key)
                if row.resident_id is None:
                    self.bad(
                        row.line,
                        "id_number",
                        "unknown_resident",
                        _("No resident of your area has this ID number."),
                    )
            elif row.column == "address":
                found = by_address.get(row.key)
                if isinstance(found, Problem):
                    self.problems.append(Problem(row.line, found.column, found.code, found.message))
                else:
                    row.resident_id = found
        first_line: dict[int, int] = {}
        for row in rows:
            if row.resident_id is None:
                continue
            if row.resident_id in first_line:
                self.bad(
                    row.line,
                    row.column,
                    "duplicate_resident",
                    _("This resident is already on row %(row)d.") % {"row": first_line[row.resident_id]},
                )
            else:
                first_line[row.resident_id] = row.line
        cases = set(
            Case.objects.filter(resident_id__in=list(first_line)).values_list("resident_id", flat=True)
        )
        for row in rows:
            if row.resident_id in cases:
                self.bad(row.line, row.column, "already_a_case", _("This resident is already a case."))

    def _ids_by_id_number(self, keys: list[str]) -> dict[str, int]:
        residents = scoped(Resident.objects.all(), self.actor, RESIDENT_PATHS)
        found: dict[str, int] = {}
        for chunk in _chunks(sorted(set(keys))):
            found.update(residents.filter(id_number__in=chunk).values_list("id_number", "pk"))
        return found

    def _ids_by_address(self, keys: list[str]) -> dict[str, int | Problem]:
        """Each address's resident id, or the problem to report (with row 0, set by the caller)."""
        out: dict[str, int | Problem] = {}
        wanted: dict[tuple[str, int], list[str]] = {}
        for key in set(keys):
            try:
                parsed = city_rules.parse_address(key)
            except ValueError:
                parsed = None
            if parsed is None or parsed.number is None or parsed.room is None:
                out[key] = Problem(
                    0,
                    "address",
                    "bad_resident_address",
                    _("%(address)s is not a resident's address like C1/2/1/301#1.") % {"address": key},
                )
                continue
            wanted.setdefault((parsed.household, parsed.number), []).append(key)
        residents = scoped(Resident.objects.all(), self.actor, RESIDENT_PATHS)
        households = sorted({household for household, _number in wanted})
        for chunk in _chunks(households):
            for pk, household, number in residents.filter(household__address__in=chunk).values_list(
                "pk", "household__address", "number"
            ):
                for key in wanted.get((household, number), []):
                    out[key] = pk
        for keys_of_resident in wanted.values():
            for key in keys_of_resident:
                out.setdefault(
                    key,
                    Problem(
                        0,
                        "address",
                        "unknown_resident",
                        _("There is no resident %(address)s in your area.") % {"address": key},
                    ),
                )
        return out


def _chunks(items: Sequence[str], size: int = 2000) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
