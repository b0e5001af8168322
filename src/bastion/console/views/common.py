"""What the console's pages share: reading a day, a date field and a whole number as typed."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.http import HttpRequest
from django.utils.translation import gettext as _

from bastion.core import clock
from bastion.core.errors import InvalidInput


def day_asked(request: HttpRequest, name: str = "day") -> date:
    """The day asked for in the query string, else today (with a message if it was not a day)."""
    text = request.GET.get(name, "").strip()
    if not text:
        return clock.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        messages.error(request, _("%(text)s is not a day like 2022-09-01.") % {"text": text})
        return clock.today()


def date_field(value: str, label: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(_("%(field)s is not a day like 2022-09-01.") % {"field": label}) from None


def whole_number(text: str) -> int | None:
    """A whole number typed in ASCII digits, else None ("²" is a digit to Python, not to int)."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() else None
