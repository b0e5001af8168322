"""The HTTP API under /api/v1/: one NinjaAPI, one error handler, one router per context."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError
from ninja.security import django_auth

from bastion.bulletin.api import router as bulletin_router
from bastion.cases import api as cases_api
from bastion.city.api import router as city_router
from bastion.core.errors import DomainError
from bastion.delivery.api import router as delivery_router
from bastion.supply.api import router as supply_router
from bastion.testing.api import router as testing_router
from bastion.zones.api import router as zones_router

api = NinjaAPI(
    title="Bastion API",
    version="1",
    description="Run a city through an epidemic lockdown. Every answer is limited to the caller's scope.",
    auth=django_auth,
    urls_namespace="api",
)


@api.exception_handler(DomainError)
def domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return api.create_response(request, exc.as_dict(), status=exc.status)


@api.exception_handler(AuthenticationError)
def not_logged_in(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    from django.utils.translation import gettext as _

    return api.create_response(
        request, {"code": "not_authenticated", "message": _("Log in first.")}, status=401
    )


@api.exception_handler(ValidationError)
def invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    from django.utils.translation import gettext as _

    return api.create_response(
        request,
        {"code": "invalid_input", "message": _("The input is not valid."), "details": exc.errors},
        status=422,
    )


api.add_router("/city/", city_router)
api.add_router("/cases/", cases_api.router)
api.add_router("/zones/", zones_router)
api.add_router("/bulletin/", bulletin_router)
api.add_router("/testing/", testing_router)
api.add_router("/delivery/", delivery_router)
api.add_router("/supply/", supply_router)
