"""The HTTP API under /api/v1/: one NinjaAPI, one router per context, and one shape for every
error: `{"code": machine code, "message": in the request's language, "details": optional}`.

That shape holds for the domain's refusals, invalid input, a missing login, a failed CSRF check,
a body that is not JSON, an unknown path and a server error alike, so a client reads one thing.
"""

from __future__ import annotations

from typing import Any

from csp.decorators import csp_update
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import django_auth
from pydantic import BaseModel

from bastion.appeals.api import router as appeals_router
from bastion.bulletin.api import router as bulletin_router
from bastion.care.api import router as care_router
from bastion.cases import api as cases_api
from bastion.city.api import router as city_router
from bastion.codes.api import router as codes_router
from bastion.core.errors import CsrfFailed, DomainError, Throttled, UnparseableBody
from bastion.core.inputs import explain
from bastion.core.shedding import gate_of
from bastion.delivery.api import router as delivery_router
from bastion.supply.api import router as supply_router
from bastion.testing.api import router as testing_router
from bastion.transfer.api import router as transfer_router
from bastion.zones.api import router as zones_router


class ErrorOut(BaseModel):
    """Every refusal: a machine code, a message in the request's language, and for invalid input
    or a refused file the details (what was wrong, where)."""

    code: str
    message: str
    details: list[Any] | None = None


# The refusals any operation may answer, and those only a write (a body) may add. An operation
# that documents its own model for a status (a refused file's 422) keeps it.
_ANY_OPERATION = {
    401: "Not logged in.",
    403: "The role lacks the power, or a write's CSRF token is missing.",
    404: "Nothing of that name within the caller's scope (outside it reads the same).",
    422: "Invalid input, or a request the rules refuse; `details` says what was wrong.",
}
_WRITES = {
    400: "The body is not JSON (or not UTF-8).",
    409: "The state of things refuses the change (already done, taken by someone else, closed).",
}
# And those an operation opted into load shedding adds (core/shedding.py).
_SHED = {
    503: "Busy: a burst beyond what the platform serves; nothing was read or recorded. "
    "Try again after `Retry-After` seconds.",
}
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}
}


class BastionAPI(NinjaAPI):
    """The API whose published document names, for every operation, the refusals it may answer
    in the one error shape, beside the answers it gives."""

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: Any = None) -> Any:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["ErrorOut"] = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
        shedding = self._shedding_operations()
        for operations in schema["paths"].values():
            for method, operation in operations.items():
                refusals = {
                    **_ANY_OPERATION,
                    **(_WRITES if method in ("post", "put", "patch", "delete") else {}),
                    **(_SHED if operation.get("operationId") in shedding else {}),
                }
                responses = operation["responses"]  # keyed by number, as Ninja writes them
                for status, description in refusals.items():
                    if status not in responses and str(status) not in responses:
                        responses[status] = {"description": description, **error}
                if 503 in responses and operation.get("operationId") in shedding:
                    responses[503]["headers"] = _RETRY_AFTER
        return schema

    def _shedding_operations(self) -> set[str]:
        """The operation ids of the views opted into load shedding (`core.shedding.shed`)."""
        return {
            operation.operation_id or self.get_openapi_operation_id(operation)
            for _prefix, router in self._routers
            for view in router.path_operations.values()
            for operation in view.operations
            if gate_of(operation.view_func) is not None
        }


api = BastionAPI(
    title="Bastion API",
    version="1",
    description="Run a city through an epidemic lockdown. Every answer is limited to the caller's scope.",
    auth=django_auth,
    urls_namespace="api",
    # The docs page (Swagger UI, from Ninja's own static files) draws its arrows and checkboxes
    # as data: images in its CSS; the policy allows them on that page alone.
    docs_decorator=csp_update({"img-src": ["data:"]}),
)


@api.exception_handler(DomainError)
def domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return api.create_response(request, exc.as_dict(), status=exc.status)


@api.exception_handler(AuthenticationError)
def not_logged_in(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(
        request, {"code": "not_authenticated", "message": _("Log in first.")}, status=401
    )


def _http_error_body(exc: HttpError) -> dict[str, Any]:
    """Django Ninja's own refusals, said as the domain says them."""
    if exc.status_code == 403:
        # The only 403 Ninja raises itself: django_auth's CSRF check of a session's write.
        return CsrfFailed().as_dict()
    if exc.status_code == 400:
        # The only 400 Ninja raises itself: a body that is not JSON (or not UTF-8).
        return UnparseableBody().as_dict()
    if exc.status_code == 429:
        return Throttled().as_dict()
    return DomainError(code="http_error").as_dict()


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return api.create_response(request, _http_error_body(exc), status=exc.status_code)


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return api.create_response(request, {"code": "not_found", "message": _("Not found.")}, status=404)


@api.exception_handler(ValidationError)
def invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return api.create_response(
        request,
        {"code": "invalid_input", "message": _("The input is not valid."), "details": explain(exc.errors)},
        status=422,
    )


api.add_router("/city/", city_router)
api.add_router("/cases/", cases_api.router)
api.add_router("/zones/", zones_router)
api.add_router("/bulletin/", bulletin_router)
api.add_router("/testing/", testing_router)
api.add_router("/delivery/", delivery_router)
api.add_router("/supply/", supply_router)
api.add_router("/transfer/", transfer_router)
api.add_router("/codes/", codes_router)
api.add_router("/care/", care_router)
api.add_router("/appeals/", appeals_router)


# Requests that never reach a Ninja operation (an unknown path under /api/, a server error)
# get the same shape from Django's error handlers (urls.handler404 and handler500).


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        body = {"code": "not_found", "message": _("Not found.")}
        return JsonResponse(body, status=404, json_dumps_params={"ensure_ascii": False})
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {"code": "server_error", "message": _("Something went wrong on our side; the team is told.")},
            status=500,
            json_dumps_params={"ensure_ascii": False},
        )
    return defaults.server_error(request)
