"""The domain error hierarchy. Every refusal a user can meet is one of these.

Each error carries a stable machine `code` and a human message that is translated
into the language of the request when rendered.
"""

from __future__ import annotations

from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    status = 400
    code = "invalid"
    default_message: str | Promise = _("The request could not be carried out.")

    def __init__(
        self,
        message: str | Promise | None = None,
        *,
        code: str | None = None,
        details: Any = None,
    ) -> None:
        self.message = message if message is not None else self.default_message
        if code is not None:
            self.code = code
        self.details = details
        super().__init__(str(self.message))

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": str(self.message)}
        if self.details is not None:
            body["details"] = self.details
        return body


class InvalidInput(DomainError):
    status = 422
    code = "invalid_input"
    default_message = _("The input is not valid.")


class NotFound(DomainError):
    """Also what an actor gets for an object outside their scope: it does not exist for them."""

    status = 404
    code = "not_found"
    default_message = _("Not found.")


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    default_message = _("Your role does not allow this.")


class Conflict(DomainError):
    status = 409
    code = "conflict"
    default_message = _("The object changed meanwhile; reload and try again.")


class InvalidTransition(Conflict):
    code = "invalid_transition"
    default_message = _("This change is not allowed from the current state.")


class UnparseableBody(DomainError):
    """A request body that is not JSON (or not UTF-8): said the same by every endpoint."""

    status = 400
    code = "unparseable_body"
    default_message = _("The request body could not be read as JSON.")


class CsrfFailed(Forbidden):
    """A session's write without its CSRF token (a forged form, or a page left open too long)."""

    code = "csrf_failed"
    default_message = _("The page's security token is missing or expired: reload the page and try again.")


class Throttled(DomainError):
    status = 429
    code = "throttled"
    default_message = _("Too many requests: wait a moment and try again.")
