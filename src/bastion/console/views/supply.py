"""The commerce bureau's supply page: days of supply, stock, prices reported (with a form to
report one) and the flags raised on suppliers.

Thin: read through the selectors, write through one service, render.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from bastion.console.context import actor_of
from bastion.console.forms import PriceForm
from bastion.console.views.common import asked
from bastion.core import clock
from bastion.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from bastion.core.roles import ScopeLevel
from bastion.supply import selectors as supply
from bastion.supply import services as supply_services
from bastion.supply.models import Category

FIXABLE = (InvalidInput, Conflict, NotFound)

# --- the commerce bureau's supply page ---------------------------------------------------------


@login_required
def supply_page(request: HttpRequest) -> HttpResponse:
    """Days of supply per category (city and districts), stock per warehouse, the latest price
    reports with a form to report one, and the flags raised on suppliers."""
    actor = actor_of(request)
    actor.require("view_supply")
    if actor.level not in (ScopeLevel.CITY, ScopeLevel.DISTRICT):
        raise Forbidden()  # communities follow their deliveries on the dispatch board
    form = PriceForm()
    status = 200
    if request.method == "POST":
        actor.require("report_prices")
        form = PriceForm(request.POST)
        if not form.is_valid():
            status = 422
        else:
            try:
                _report, flag = supply_services.price_report(
                    item_code=form.cleaned_data["item"],
                    outlet=form.cleaned_data["outlet"],
                    sale_price=form.cleaned_data["sale_price"],
                    purchase_price=form.cleaned_data["purchase_price"],
                    actor=actor,
                    now=clock.now(),
                )
            except FIXABLE as exc:
                messages.error(request, str(exc.message))
                status = exc.status
            else:
                if flag is not None:
                    messages.warning(request, _("The price breaks the rule: the supplier is flagged."))
                else:
                    messages.success(request, _("Price recorded."))
                return redirect("console:supply")
    district_id = asked(request)["district"]
    context = {
        "days": supply.days_of_supply(actor=actor, district_id=district_id),
        "alerts": supply.alerts(actor=actor),
        "stock": list(supply.stock_list(actor=actor)[:500]),
        "prices": list(supply.prices(actor=actor)[:100]),
        "flags": list(supply.flags(actor=actor)[:200]),
        "catalogue": list(supply.catalogue()),
        "categories": Category,
        "form": form,
        "reports": actor.has("report_prices"),
    }
    return render(request, "console/supply/supply.html", context, status=status)
