from collections.abc import Callable

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from bastion.api.root import api
from bastion.testing import api as testing_api


def _ninja_view(route: str) -> Callable[[HttpRequest], HttpResponse]:
    """The Ninja endpoint at `route` under /api/v1/, for a view that answers some of its requests
    itself and passes the rest on."""
    for pattern in api.urls[0]:
        callback = getattr(pattern, "callback", None)
        if str(getattr(pattern, "pattern", "")) == route and callback is not None:
            return callback
    raise LookupError(route)


handler404 = "bastion.api.root.page_not_found"
handler500 = "bastion.api.root.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    # Devices' scans first: the busiest endpoint, answered without Ninja (testing.api.device_scans).
    path("api/v1/testing/scans", testing_api.device_scans(_ninja_view("testing/scans"))),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("bastion.console.urls")),
]
