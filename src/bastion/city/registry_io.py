"""The registry file: one row per resident with its whole address chain, as CSV or XLSX.

This module reads and checks a file without touching the database, and writes rows that
the export has already fetched. The layout is documented in docs/REGISTRY_FORMAT.md; the
database-side checks and the writes are in `services.imports`.

A file is judged whole: every bad cell of every row is reported, and a file with any
problem is refused. Messages are rendered in the active language when the problem is found.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bastion.city import rules
from bastion.city.models import ChronicTreatment
from bastion.core import inputs, textfile
from bastion.core.errors import InvalidInput
from bastion.core.files import FileRejected, Problem

COLUMNS: tuple[str, ...] = (
    "district_code",
    "district_name",
    "subdistrict_code",
    "subdistrict_name",
    "community_code",
    "community_name",
    "grid_code",
    "compound_code",
    "compound_name",
    "compound_latitude",
    "compound_longitude",
    "compound_shared_facilities",
    "building_number",
    "building_latitude",
    "building_longitude",
    "building_floors",
    "unit_number",
    "room",
    "floor",
    "resident_number",
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

FORMATS = ("csv", "xlsx")
# WGS-84 decimal degrees are kept to 7 places (about 1 cm): spreadsheets keep 15 significant
# digits, and a coordinate's last bits must not make an unchanged place look changed.
COORDINATE_DECIMALS = 7
MAX_RESIDENT_NUMBER = 9999  # services.imports moves residents through number + 10000
MAX_PLACE_NUMBER = 32767
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "是", "√"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "否", ""})
SEX_WORDS = {"M": "M", "F": "F", "男": "M", "女": "F"}
TREATMENTS = frozenset(ChronicTreatment.values)
# A spreadsheet reads a cell starting with one of these as a formula (=HYPERLINK(…), +cmd|…).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# The rows of one XLSX sheet, less the header.
XLSX_MAX_ROWS = 1_048_575


class RegistryFileRejected(FileRejected):
    code = "registry_rejected"
    columns = tuple(COLUMNS)
    summary = gettext_lazy("The file was rejected with %(count)d problems; nothing was imported.")


@dataclass(slots=True)
class Row:
    """A resident row after parsing: typed values, normalised (ID numbers upper-case)."""

    line: int
    district_code: str
    district_name: str
    subdistrict_code: str
    subdistrict_name: str
    community_code: str
    community_name: str
    grid_code: str
    compound_code: str
    compound_name: str
    compound_latitude: float | None
    compound_longitude: float | None
    compound_shared_facilities: bool
    building_number: int
    building_latitude: float | None
    building_longitude: float | None
    building_floors: int
    unit_number: int
    room: str
    floor: int
    resident_number: int
    name: str
    id_number: str
    sex: str
    birth_date: date
    phone: str
    living_alone: bool
    disabled: bool
    pregnant: bool
    chronic_treatment: str
    cannot_order_online: bool

    @property
    def household_address(self) -> str:
        return rules.household_address(self.compound_code, self.building_number, self.unit_number, self.room)

    @property
    def resident_address(self) -> str:
        return f"{self.household_address}#{self.resident_number}"


class _Bad(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- reading cells -------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A cell as text: spreadsheets hand us numbers, dates and booleans as well as strings."""
    if type(value) is str:  # the common case first: every CSV cell
        text = value.strip()
        if text[:1] == "'" and text[1:2] in FORMULA_START:
            text = text[1:].strip()  # the quote our CSV export puts before such a cell
        return text
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _required(value: Any) -> str:
    text = _text(value)
    if not text:
        raise _Bad("required", _("A value is required."))
    return text


def _limited(text: str, max_length: int) -> str:
    if len(text) > max_length:
        raise _Bad("too_long", _("At most %(max)d characters.") % {"max": max_length})
    return text


def _not_formula(text: str) -> str:
    if text.startswith(FORMULA_START):
        raise _Bad(
            "formula_like",
            _("A code or name cannot start with '=', '+', '-' or '@': spreadsheets run it as a formula."),
        )
    return text


def _printable(text: str) -> str:
    if inputs.has_control(text):
        raise _Bad("control_characters", _("A code or name cannot hold control characters."))
    return text


def _code(max_length: int) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = _not_formula(_printable(_limited(_required(value), max_length)))
        if "/" in text or "#" in text or any(c.isspace() for c in text):
            raise _Bad("bad_code", _("A code cannot contain '/', '#' or spaces."))
        return text

    return parse


def _name(max_length: int) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        return _not_formula(_printable(_limited(_required(value), max_length)))

    return parse


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        text = _required(value)
        try:
            number = int(text)
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            raise _Bad(
                "bad_integer",
                _("A whole number from %(min)d to %(max)d is required.") % {"min": low, "max": high},
            )
        return number

    return parse


def _coordinate(limit: float) -> Callable[[Any], float | None]:
    def parse(value: Any) -> float | None:
        if isinstance(value, bool):
            number = math.nan
        elif isinstance(value, int | float):
            number = float(value)
        else:
            text = _text(value)
            if not text:
                return None
            try:
                number = float(text)
            except ValueError:
                number = math.nan
        if not (math.isfinite(number) and -limit <= number <= limit):
            if limit == 90:
                raise _Bad("bad_coordinate", _("A latitude is a number from -90 to 90."))
            raise _Bad("bad_coordinate", _("A longitude is a number from -180 to 180."))
        return coordinate(number)

    return parse


def coordinate(value: float | None) -> float | None:
    return None if value is None else round(value, COORDINATE_DECIMALS)


def parse_boolean(value: Any) -> bool:
    if value == "false" or value == "true":
        return value == "true"
    if isinstance(value, bool):
        return value
    text = _text(value).lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise _Bad("bad_boolean", _("Write true or false (or yes/no, 1/0, 是/否)."))


def parse_room(value: Any) -> str:
    text = _limited(_required(value), 12)
    if "/" in text or "#" in text or any(c.isspace() for c in text):
        raise _Bad("bad_code", _("A room cannot contain '/', '#' or spaces."))
    return text


def parse_sex(value: Any) -> str:
    text = _required(value).upper()
    if text not in SEX_WORDS:
        raise _Bad("bad_sex", _("Write M (male) or F (female)."))
    return SEX_WORDS[text]


def parse_birth_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _required(value).replace("/", "-")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _Bad("bad_date", _("Write the date as YYYY-MM-DD.")) from None


def parse_phone(value: Any) -> str:
    text = _limited(_text(value), 20)
    if text and not all(c.isdigit() or c in "+- " for c in text):
        raise _Bad("bad_phone", _("A phone number holds only digits, spaces, '+' and '-'."))
    return text


def parse_chronic_treatment(value: Any) -> str:
    text = _text(value).lower()
    if text == "none":
        text = ""
    if text not in TREATMENTS:
        choices = ", ".join(v for v in ChronicTreatment.values if v)
        raise _Bad(
            "unknown_chronic_treatment",
            _("Unknown treatment %(value)s; write one of %(choices)s, or leave it empty.")
            % {"value": text, "choices": choices},
        )
    return text


ID_MESSAGES: dict[str, Callable[[], str]] = {
    "id_length": lambda: _("An ID number has 18 characters."),
    "id_characters": lambda: _("An ID number is 17 digits followed by a digit or X."),
    "id_birth_date": lambda: _("The birth date inside the ID number is not a plausible date."),
    "id_check_digit": lambda: _("The check digit of the ID number is wrong."),
}


def _id_number(today: date) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = _required(value).upper()
        try:
            rules.parse_id_number(text, today=today)
        except rules.IdNumberError as exc:
            raise _Bad(exc.code, ID_MESSAGES[exc.code]()) from None
        return text

    return parse


def _shared(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A parser that parses each distinct cell once and hands out one object for it: a
    district's name is on every row of its residents, and a city's file is held whole for the
    checks across rows. A refused cell is not remembered (it is refused again)."""
    seen: dict[Any, Any] = {}

    def shared(value: Any) -> Any:
        key = value if type(value) is str else (type(value), value)  # True == 1, yet not here
        try:
            return seen[key]
        except KeyError:
            parsed = seen[key] = parse(value)
            return parsed

    return shared


# The columns whose values repeat from row to row (places, dates): parsed through `_shared`.
SHARED = frozenset(
    name
    for name in COLUMNS
    if name.startswith(("district", "subdistrict", "community", "grid", "compound", "building"))
) | {"room", "birth_date"}


def _parsers(today: date) -> dict[str, Callable[[Any], Any]]:
    lat, lon = _coordinate(90), _coordinate(180)
    parsers: dict[str, Callable[[Any], Any]] = {
        "district_code": _code(20),
        "district_name": _name(100),
        "subdistrict_code": _code(20),
        "subdistrict_name": _name(100),
        "community_code": _code(20),
        "community_name": _name(100),
        "grid_code": _code(30),
        "compound_code": _code(30),
        "compound_name": _name(100),
        "compound_latitude": lat,
        "compound_longitude": lon,
        "compound_shared_facilities": parse_boolean,
        "building_number": _integer(1, MAX_PLACE_NUMBER),
        "building_latitude": lat,
        "building_longitude": lon,
        "building_floors": _integer(1, MAX_PLACE_NUMBER),
        "unit_number": _integer(1, MAX_PLACE_NUMBER),
        "room": parse_room,
        "floor": _integer(-99, 999),
        "resident_number": _integer(1, MAX_RESIDENT_NUMBER),
        "name": _name(50),
        "id_number": _id_number(today),
        "sex": parse_sex,
        "birth_date": parse_birth_date,
        "phone": parse_phone,
        "living_alone": parse_boolean,
        "disabled": parse_boolean,
        "pregnant": parse_boolean,
        "chronic_treatment": parse_chronic_treatment,
        "cannot_order_online": parse_boolean,
    }
    return {name: _shared(parse) if name in SHARED else parse for name, parse in parsers.items()}


# -- reading files -------------------------------------------------------------------------


def _opened(data: IO[bytes] | bytes) -> IO[bytes]:
    if isinstance(data, bytes):
        return io.BytesIO(data)
    if data.seekable():
        data.seek(0)
    return data


def detect_format(stream: IO[bytes], filename: str) -> str:
    name = filename.lower()
    head = stream.read(4)
    stream.seek(0)
    if name.endswith(".xlsx") or head == b"PK\x03\x04":
        return "xlsx"
    if name.endswith((".csv", ".txt")) or not name.rpartition(".")[1]:
        return "csv"
    raise RegistryFileRejected([Problem(0, "", "unknown_format", _("Upload a CSV or an XLSX file."))])


def _csv_rows(stream: IO[bytes], encoding: str) -> Iterator[list[Any]]:
    # Read from disk a block at a time, strictly in the encoding given (UTF-8 unless the user
    # says otherwise): a file that does not decode whole is refused at its first bad byte.
    try:
        yield from csv.reader(textfile.text_lines(stream, encoding=encoding))
    except textfile.BadText as exc:
        raise RegistryFileRejected([exc.problem()]) from None
    except csv.Error as exc:
        raise RegistryFileRejected(
            [Problem(0, "", "unreadable_file", _("The CSV file cannot be read: %(why)s.") % {"why": exc})]
        ) from None


def _xlsx_rows(stream: IO[bytes]) -> Iterator[list[Any]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(stream, read_only=True, data_only=True)
    except Exception:  # openpyxl raises zipfile, KeyError, XML errors… on a bad file
        raise RegistryFileRejected(
            [Problem(0, "", "unreadable_file", _("The XLSX file cannot be read."))]
        ) from None
    try:
        sheet = book.worksheets[0]
        for values in sheet.iter_rows(values_only=True):
            yield list(values)
    finally:
        book.close()


def read_cells(data: IO[bytes] | bytes, *, filename: str, encoding: str = "utf-8") -> Iterator[list[Any]]:
    """The raw rows of the file's first sheet, header included, read as they are needed.

    A CSV file is decoded strictly in `encoding` (one of `textfile.ENCODINGS`); an XLSX file
    says its own encoding.
    """
    stream = _opened(data)
    if detect_format(stream, filename) == "xlsx":
        return _xlsx_rows(stream)
    return _csv_rows(stream, encoding)


def read_registry(
    data: IO[bytes] | bytes, *, filename: str, today: date, encoding: str = "utf-8"
) -> list[Row]:
    """Parse and check a registry file; raise `RegistryFileRejected` listing every problem.

    Checks here need only the file: columns, every cell, ID numbers against the birth date
    and sex given, duplicates and a consistent hierarchy across rows. The file is read row by
    row; only the parsed rows are held, for the checks across rows.
    """
    cells = read_cells(data, filename=filename, encoding=encoding)
    header = next(cells, None)
    if header is None:
        raise RegistryFileRejected([Problem(0, "", "no_rows", _("The file holds no residents."))])
    positions = _header(header)
    rows, problems = _parse_rows(cells, positions, today)
    if not rows and not problems:
        problems.append(Problem(0, "", "no_rows", _("The file holds no residents.")))
    problems.extend(check_consistency(rows))
    if problems:
        raise RegistryFileRejected(problems)
    return rows


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
                    _("The column %(column)s is not part of the registry format.") % {"column": name or "?"},
                )
            )
        else:
            positions[name] = index
    for name in COLUMNS:
        if name not in positions:
            problems.append(
                Problem(1, name, "missing_column", _("The column %(column)s is missing.") % {"column": name})
            )
    if problems:
        raise RegistryFileRejected(problems)
    return positions


def _parse_rows(
    cells: Iterable[list[Any]], positions: dict[str, int], today: date
) -> tuple[list[Row], list[Problem]]:
    parsers = _parsers(today)
    plan = [(name, positions[name], parsers[name]) for name in COLUMNS]
    rows: list[Row] = []
    problems: list[Problem] = []
    for line, raw in enumerate(cells, start=2):
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in raw):
            continue
        values: dict[str, Any] = {}
        bad = False
        for name, index, parse in plan:
            try:
                values[name] = parse(raw[index] if index < len(raw) else None)
            except _Bad as exc:
                problems.append(Problem(line, name, exc.code, exc.message))
                bad = True
        if "id_number" in values:
            problems.extend(_match_id_number(line, values))
        if not bad:
            rows.append(Row(line=line, **values))
    return rows, problems


def _match_id_number(line: int, values: dict[str, Any]) -> list[Problem]:
    """The birth date and sex written must be those the ID number records."""
    problems = []
    id_number = values["id_number"]
    born = date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))  # checked already
    if "birth_date" in values and values["birth_date"] != born:
        problems.append(
            Problem(
                line,
                "birth_date",
                "birth_date_mismatch",
                _("The birth date %(given)s differs from the one in the ID number (%(expected)s).")
                % {"given": values["birth_date"].isoformat(), "expected": born.isoformat()},
            )
        )
    sex = rules.id_sex(id_number)
    if "sex" in values and values["sex"] != sex:
        problems.append(
            Problem(
                line,
                "sex",
                "sex_mismatch",
                _("The sex %(given)s does not match the ID number, whose 17th digit says %(expected)s.")
                % {"given": values["sex"], "expected": sex},
            )
        )
    return problems


# What each level of the hierarchy is keyed by in a file, who its parent is, and which of its
# attributes every row naming it must repeat identically.
@dataclass(frozen=True)
class Level:
    name: str
    key: Callable[[Row], Any]
    label: Callable[[Row], str]
    parent_column: str | None
    attributes: tuple[str, ...]


def _levels() -> list[Level]:
    return [
        Level("district", lambda r: r.district_code, lambda r: r.district_code, None, ("district_name",)),
        Level(
            "subdistrict",
            lambda r: r.subdistrict_code,
            lambda r: r.subdistrict_code,
            "district_code",
            ("subdistrict_name",),
        ),
        Level(
            "community",
            lambda r: r.community_code,
            lambda r: r.community_code,
            "subdistrict_code",
            ("community_name",),
        ),
        Level("grid", lambda r: r.grid_code, lambda r: r.grid_code, "community_code", ()),
        Level(
            "compound",
            lambda r: r.compound_code,
            lambda r: r.compound_code,
            "grid_code",
            ("compound_name", "compound_latitude", "compound_longitude", "compound_shared_facilities"),
        ),
        Level(
            "building",
            lambda r: (r.compound_code, r.building_number),
            lambda r: f"{r.compound_code}/{r.building_number}",
            None,
            ("building_latitude", "building_longitude", "building_floors"),
        ),
        Level("household", lambda r: r.household_address, lambda r: r.household_address, None, ("floor",)),
    ]


def level_label(level: str) -> str:
    return {
        "district": _("District"),
        "subdistrict": _("Subdistrict"),
        "community": _("Community"),
        "grid": _("Grid"),
        "compound": _("Compound"),
        "building": _("Building"),
        "unit": _("Unit"),
        "household": _("Household"),
    }[level]


def _shown(value: Any) -> str:
    return "—" if value is None or value == "" else _text(value)


def check_consistency(rows: Sequence[Row]) -> list[Problem]:
    """Across rows: one parent and one set of attributes per place, one row per resident."""
    problems: list[Problem] = []
    for level in _levels():
        first: dict[Any, Row] = {}
        for row in rows:
            seen = first.setdefault(level.key(row), row)
            if seen is row:
                continue
            if level.parent_column and getattr(seen, level.parent_column) != getattr(
                row, level.parent_column
            ):
                problems.append(
                    Problem(
                        row.line,
                        level.parent_column,
                        "inconsistent_hierarchy",
                        _("%(what)s %(code)s is under %(parent)s on row %(other)d but under %(here)s here.")
                        % {
                            "what": level_label(level.name),
                            "code": level.label(row),
                            "parent": getattr(seen, level.parent_column),
                            "other": seen.line,
                            "here": getattr(row, level.parent_column),
                        },
                    )
                )
            for column in level.attributes:
                if getattr(seen, column) != getattr(row, column):
                    problems.append(
                        Problem(
                            row.line,
                            column,
                            "inconsistent_value",
                            _("%(what)s %(code)s has %(value)s on row %(other)d but %(here)s here.")
                            % {
                                "what": level_label(level.name),
                                "code": level.label(row),
                                "value": _shown(getattr(seen, column)),
                                "other": seen.line,
                                "here": _shown(getattr(row, column)),
                            },
                        )
                    )
    by_id: dict[str, Row] = {}
    by_slot: dict[str, Row] = {}
    for row in rows:
        other = by_id.setdefault(row.id_number, row)
        if other is not row:
            problems.append(
                Problem(
                    row.line,
                    "id_number",
                    "duplicate_id_number",
                    _("The ID number is also on row %(other)d.") % {"other": other.line},
                )
            )
        other = by_slot.setdefault(row.resident_address, row)
        if other is not row:
            problems.append(
                Problem(
                    row.line,
                    "resident_number",
                    "duplicate_resident_number",
                    _("Resident %(address)s is also on row %(other)d.")
                    % {"address": row.resident_address, "other": other.line},
                )
            )
    return problems


# -- writing files -------------------------------------------------------------------------


def csv_cell(value: Any) -> str:
    if type(value) is str:
        # Quoted so that a spreadsheet shows the text instead of running it; the import
        # removes the quote again. Numbers (a negative floor or longitude) are never quoted.
        return "'" + value if value.startswith(FORMULA_START) else value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back to the same float
    return str(value)


def write_csv(rows: Iterable[Sequence[Any]], out: IO[bytes]) -> int:
    """Header and rows as UTF-8 CSV with a byte-order mark, so that Excel reads the Chinese."""
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    count = 0
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
        count += 1
    text.flush()
    text.detach()  # leave `out` open for the caller
    return count


class TooManyRowsForXlsx(InvalidInput):
    code = "too_many_rows_for_xlsx"

    def __init__(self) -> None:
        super().__init__(
            _("An XLSX sheet holds at most %(max)d residents; export this registry as CSV.")
            % {"max": XLSX_MAX_ROWS}
        )


def write_xlsx(rows: Iterable[Sequence[Any]], out: IO[bytes]) -> int:
    """Header and rows as one sheet. ID numbers, phones and rooms stay text, never numbers,
    and text is always a string cell, never a formula.

    Raises `TooManyRowsForXlsx` past the last row a sheet has; `out` is then to be thrown away.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ERROR_CODES

    book = Workbook(write_only=True)
    sheet = book.create_sheet("registry")
    sheet.append(list(COLUMNS))
    birth = COLUMNS.index("birth_date")

    def text(value: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"
        return cell

    count = 0
    for row in rows:
        if count == XLSX_MAX_ROWS:
            book.save(out)  # the only public way to let openpyxl remove its temporary files
            raise TooManyRowsForXlsx()
        count += 1
        # openpyxl turns a text starting with "=" into a formula and "#N/A" into an error;
        # every other text is a string cell already, and wrapping each one would be slow.
        values: list[Any] = [
            text(v) if type(v) is str and (v.startswith("=") or v in ERROR_CODES) else v for v in row
        ]
        cell = WriteOnlyCell(sheet, value=values[birth])
        cell.number_format = "yyyy-mm-dd"
        values[birth] = cell
        sheet.append(values)
    book.save(out)
    return count


def write_registry(rows: Iterable[Sequence[Any]], out: IO[bytes], *, fmt: str) -> int:
    if fmt == "xlsx":
        return write_xlsx(rows, out)
    return write_csv(rows, out)
