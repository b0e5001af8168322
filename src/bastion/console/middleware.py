from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from bastion.core.errors import DomainError
from bastion.core.files import UploadTooLarge

# Room in a request for the form's other fields and the multipart boundaries around the file.
UPLOAD_SLACK = 64 * 1024


class DomainErrorMiddleware:
    """Turns a DomainError raised by a page into its status and a message in the user's language."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if request.path.startswith("/api/") or not isinstance(exception, DomainError):
            return None
        return render(request, "console/error.html", {"error": exception}, status=exception.status)


class UploadLimitMiddleware:
    """Refuses an upload larger than `settings.UPLOAD_MAX_BYTES` by its Content-Length, before a
    byte of its body is read (413, in the user's language; the API's error shape under /api/).
    Each bulk reader checks the file's own size again (`core.files.checked_upload`)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.content_type == "multipart/form-data" and _length(request) > (
            settings.UPLOAD_MAX_BYTES + UPLOAD_SLACK
        ):
            error = UploadTooLarge(limit=settings.UPLOAD_MAX_BYTES)
            if request.path.startswith("/api/"):
                return JsonResponse(
                    error.as_dict(), status=error.status, json_dumps_params={"ensure_ascii": False}
                )
            return render(request, "console/error.html", {"error": error}, status=error.status)
        return self.get_response(request)


def _length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0
