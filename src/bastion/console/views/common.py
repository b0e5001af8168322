"""What the console's pages share: the day asked for in a link, and a refused form's messages
for a page that answers by a redirect."""

from __future__ import annotations

from datetime import date

from django import forms
from django.contrib import messages
from django.http import HttpRequest
from django.utils.translation import gettext as _

from bastion.console.forms import flash_errors
from bastion.core import clock


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


def whole_number(text: str) -> int | None:
    """A whole number typed in ASCII digits, else None ("²" is a digit to Python, not to int)."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() else None


def show_errors(request: HttpRequest, form: forms.Form) -> None:
    """A refused form's messages, shown on the page the action redirects to."""
    for text in flash_errors(form):
        messages.error(request, text)
