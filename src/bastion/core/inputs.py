"""What the edge accepts: the one definition of an id, a count, a page, a day, a moment and a
piece of text, used by every API schema and query (as pydantic annotated types) and by the
console's forms (through the same checks), so that nothing out of range or unprintable reaches
a service or the database.

- Numbers fit their columns: an id is 1 to 2^63-1 (a 64-bit key), a count or an offset 0 to
  2^31-1 (a 32-bit column; an offset plus a page stays in range). A larger one overflowed the
  driver: a server error, not a refusal.
- Days and moments lie in a window around today by the platform's clock (`clock.today()`):
  from `YEARS_BACK` years before to `YEARS_AHEAD` years after. A moment without a time zone is
  the city's (`clock.city_zone()`), everywhere.
- Text holds no control characters (C0, C1, DEL), no lone surrogates, no line or paragraph
  separators and no bidirectional overrides (which make a listed code read as another); a text
  of several lines keeps its tabs and line breaks.

A refusal is a 422 in the API's one error shape, its message in the user's language.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from django.utils.translation import gettext as _
from pydantic import AfterValidator, BaseModel, Field
from pydantic_core import PydanticCustomError

from bastion.core import clock

MAX_INTEGER = 2**63 - 1  # a signed 64-bit integer: the widest column of both databases (ids)
MAX_COUNT = 2**31 - 1  # a signed 32-bit integer: a count's column, and far past any page's offset
YEARS_BACK = 5
YEARS_AHEAD = 1

_BIDI = "\u202a-\u202e\u2066-\u2069"
_SEPARATORS = "\u2028\u2029"
_SURROGATES = "\ud800-\udfff"
_CONTROLS = f"\x00-\x1f\x7f-\x9f{_SEPARATORS}{_BIDI}"
# One line: no control character at all. Several lines: tab, line feed and carriage return kept.
CONTROL_IN_LINE = re.compile(f"[{_CONTROLS}{_SURROGATES}]")
CONTROL_IN_TEXT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_SURROGATES}{_SEPARATORS}{_BIDI}]")
# The same refusal for one line, as a pattern for polars (Rust's regex) over bulk files' columns:
# text decoded from a file is valid Unicode, so there is no lone surrogate to look for.
CONTROL_IN_LINE_PATTERN = f"[{_CONTROLS}]"


def has_control(text: str, *, multiline: bool = False) -> bool:
    return (CONTROL_IN_TEXT if multiline else CONTROL_IN_LINE).search(text) is not None


def day_window() -> tuple[date, date]:
    """The first and last day an input may name, by the platform's clock."""
    today = clock.today()
    return _years_from(today, -YEARS_BACK), _years_from(today, YEARS_AHEAD)


def _years_from(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def day_in_window(day: date) -> bool:
    first, last = day_window()
    return first <= day <= last


def city_moment(value: datetime) -> datetime:
    """A moment as the services take it: one without a time zone is the city's."""
    return value if value.tzinfo is not None else value.replace(tzinfo=clock.city_zone())


# --- the pydantic side: refusals the API handler turns into its 422 ----------------------------


def _printable_line(value: str) -> str:
    if has_control(value):
        raise PydanticCustomError("control_characters", _("The text holds control characters."))
    return value


def _printable_text(value: str) -> str:
    if has_control(value, multiline=True):
        raise PydanticCustomError("control_characters", _("The text holds control characters."))
    return value


def outside_window() -> str:
    """What is said of a day outside the window, in the user's language."""
    first, last = day_window()
    return _("The day must lie between %(first)s and %(last)s.") % {
        "first": first.isoformat(),
        "last": last.isoformat(),
    }


def _window_refusal() -> PydanticCustomError:
    return PydanticCustomError("out_of_window", outside_window())


def _day(value: date) -> date:
    if not day_in_window(value):
        raise _window_refusal()
    return value


def _moment(value: datetime) -> datetime:
    # The day is read as written, before any arithmetic: year 1 in a zone east of UTC is not a
    # moment Python can convert (the overflow was a server error).
    if not day_in_window(value.date()):
        raise _window_refusal()
    return city_moment(value)


Id = Annotated[int, Field(ge=1, le=MAX_INTEGER)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Offset = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Day = Annotated[date, AfterValidator(_day)]
Moment = Annotated[datetime, AfterValidator(_moment)]
# One line of text (codes, names, reasons, notes); `Text` keeps tabs and line breaks. A length
# is the field's own: `code: Line = Field(max_length=40)`.
Line = Annotated[str, AfterValidator(_printable_line)]
Text = Annotated[str, AfterValidator(_printable_text)]


# --- what a refusal says -------------------------------------------------------------------------


def explain(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's errors as the API's `details`: where, what kind, and a message in the user's
    language (pydantic's own are English)."""
    details = []
    for error in errors:
        kind = error.get("type", "")
        context = error.get("ctx") or {}
        details.append(
            {
                "type": kind,
                "loc": list(error.get("loc", ())),
                "msg": _message(kind, context, error.get("msg", "")),
            }
        )
    return details


def _message(kind: str, context: dict[str, Any], original: str) -> str:
    if kind in ("control_characters", "out_of_window"):
        return original  # ours, said in the user's language already
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return _("The number is out of range.")
    if kind == "string_too_long":
        return _("The text is too long: at most %(limit)s characters.") % {
            "limit": context.get("max_length", "")
        }
    if kind == "missing":
        return _("This value is required.")
    if kind.startswith(("int_", "float_", "decimal_")):
        return _("This is not a number.")
    if kind.startswith("date"):
        return _("This is not a day like 2022-09-01.")
    if kind.startswith("datetime") or kind.startswith("timezone"):
        return _("This is not a time like 2022-09-01T08:00.")
    return _("This value is not valid.")


class InputProblemOut(BaseModel):
    """One item of an invalid request's `details` (as `explain` writes it), for an operation
    whose 422 the document describes."""

    type: str
    loc: list[str | int]
    msg: str
