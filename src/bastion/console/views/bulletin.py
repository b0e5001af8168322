"""Console pages of the daily bulletin: on screen and on paper. Any account may read them."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from bastion.bulletin.selectors import bulletin as bulletin_of
from bastion.console.context import actor_of
from bastion.console.views.common import day_asked
from bastion.core import clock


@login_required
def bulletin(request: HttpRequest) -> HttpResponse:
    actor_of(request)  # published figures: any account may read them
    day = day_asked(request)
    return render(
        request, "console/bulletin/bulletin.html", {"bulletin": bulletin_of(day=day), "today": clock.today()}
    )


@login_required
def bulletin_print(request: HttpRequest) -> HttpResponse:
    actor_of(request)
    day = day_asked(request)
    return render(request, "console/bulletin/print.html", {"bulletin": bulletin_of(day=day)})
