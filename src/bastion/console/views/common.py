"""What the console's pages share: what a page's link asks for (read by `forms.PageQuery`),
and a refused form's messages for a page that answers by a redirect."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, QueryDict

from bastion.console.forms import PageQuery, flash_errors
from bastion.core import clock


def asked(request: HttpRequest, source: QueryDict | None = None) -> dict[str, Any]:
    """What the page's link asks for (or `source`, a form that carries the same fields): each
    value checked by `PageQuery`; one that is not right is said once on the page and read as
    not given."""
    form = PageQuery(source if source is not None else request.GET)
    form.is_valid()
    for text in flash_errors(form):
        messages.error(request, text)
    return {name: form.cleaned_data.get(name) for name in form.fields}


def day_asked(request: HttpRequest) -> date:
    """The day asked for in the link, else today."""
    return asked(request)["day"] or clock.today()


def show_errors(request: HttpRequest, form: forms.Form) -> None:
    """A refused form's messages, shown on the page the action redirects to."""
    for text in flash_errors(form):
        messages.error(request, text)
