"""The busiest device endpoints answered in front of Django's middleware and URL resolution.

A venue's scanner checks health codes by the thousand a second, each check one lookup by primary
key. Through Django's full stack (eleven middleware, the URL resolver, the request signals and
their receivers) a check cost 0.7 ms of Python on this machine, four times the check itself, and
two cores then serve fewer checks than the city needs (docs/BENCHMARKS.md). `HotPaths` wraps the
WSGI application (`bastion.wsgi`) and answers a request itself only when it is a device's
(`Authorization: Bearer …`), of a registered method and path prefix, to an allowed host, and
needs no redirect to https; everything else — a console session, a cookie, another path — goes
to Django untouched, before anything of it is read.

What the full stack would have given such a request, it still gets:
- the request's language (`Accept-Language`) active for the handler, so that errors read in it,
  and `Content-Language` and `Vary: Accept-Language` on the answer;
- an unexpected error logged by `django.request` with its traceback and answered by the
  URLconf's handler500, as Django's handler does (`response_for_exception`);
- the security headers of the response middleware (`SecurityMiddleware`, `X-Frame-Options`,
  the Content-Security-Policy of `CONTENT_SECURITY_POLICY`, built once per process: it has no
  nonce for a JSON answer); tests/core/test_hotpath.py pins them against the full stack's;
- stale or broken database connections closed first, as Django's `request_started` does
  (`close_old_connections`).
A handler returns the answer, or None to hand the request to Django after all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIRequest
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils import translation
from django.utils.cache import patch_vary_headers

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# (the request, the rest of the path after the route's prefix) -> the answer, or None.
Handler = Callable[[HttpRequest, str], HttpResponse | None]


@dataclass(frozen=True)
class Route:
    method: str
    prefix: str  # "/api/v1/codes/check/": what follows it is the handler's, up to the end
    handler: Handler


def _no_view(request: HttpRequest) -> HttpResponse:  # the middleware below only post-process
    raise AssertionError("never called")


class HotPaths:
    """`app` with the devices' requests of `routes` answered in front of it."""

    def __init__(self, app: WSGIApp, routes: list[Route]) -> None:
        self.app = app
        self.routes = routes
        self._security = SecurityMiddleware(_no_view)
        self._frames = XFrameOptionsMiddleware(_no_view)
        self._csp: list[tuple[str, str]] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        route = self._route(environ)
        if route is None:
            return self.app(environ, start_response)
        request = WSGIRequest(environ)
        if not self._servable(request):
            return self.app(environ, start_response)
        # What Django's request_started does for the connections (its other receiver empties the
        # debug log of queries, which DEBUG bounds anyway); after the answer there is nothing to
        # close that the next request's call would not.
        close_old_connections()
        with translation.override(translation.get_language_from_request(request)):
            try:
                response = route.handler(request, request.path_info[len(route.prefix) :])
            except Exception as exc:  # what Django's handler does with any error
                # Logged by django.request with its traceback, got_request_exception sent, and
                # answered by the URLconf's handler500 (the API's error shape), as Django would.
                response = response_for_exception(request, exc)
            if response is None:
                return self.app(environ, start_response)
            response.headers.setdefault("Content-Language", translation.get_language())
            patch_vary_headers(response, ("Accept-Language",))
        self._secure(request, response)
        start_response(f"{response.status_code} {response.reason_phrase}", list(response.items()))
        return [response.content]

    def _route(self, environ: dict[str, Any]) -> Route | None:
        if environ.get("HTTP_AUTHORIZATION", "")[:7].lower() != "bearer ":
            return None
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "")
        for route in self.routes:
            if (
                method == route.method
                and path.startswith(route.prefix)
                and "/" not in path[len(route.prefix) :]
            ):
                return route
        return None

    @staticmethod
    def _servable(request: HttpRequest) -> bool:
        """What Django's stack would refuse or redirect is left to it: a host not allowed, plain
        http when https is required."""
        try:
            request.get_host()
        except DisallowedHost:
            return False
        return request.is_secure() or not settings.SECURE_SSL_REDIRECT

    def _secure(self, request: HttpRequest, response: HttpResponse) -> None:
        self._security.process_response(request, response)
        self._frames.process_response(request, response)
        if self._csp is None:
            sample = CSPMiddleware(_no_view).process_response(request, HttpResponse())
            self._csp = [
                (name, value) for name, value in sample.items() if "content-security" in name.lower()
            ]
        for name, value in self._csp:
            response.headers.setdefault(name, value)
