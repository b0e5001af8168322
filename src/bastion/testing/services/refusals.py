"""Refusals of mass testing: what a device or a file sent that a round could not take.

A scan or a result that cannot be taken is refused with a clear error and listed in the round's
exceptions (`RoundIssue`), written in a transaction of its own so that the refusal of the
record never loses the record of the refusal.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.db import transaction

from bastion.core.errors import DomainError
from bastion.testing.models import RoundIssue


@dataclass(frozen=True)
class Issue:
    round_id: int | None
    kind: str
    detail: dict[str, Any]
    source: str
    at: datetime


def issue_record(issue: Issue) -> None:
    """List something a device or file sent that the round could not take. A device retrying a
    refused record with the same client key is listed once."""
    with transaction.atomic():
        if issue.detail.get("client_key"):
            listed = RoundIssue.objects.filter(kind=issue.kind, source=issue.source[:200])
            listed = (
                listed.filter(round_id=issue.round_id)
                if issue.round_id is not None
                else listed.filter(round_id__isnull=True)
            )
            if listed.exists():
                return
        RoundIssue.objects.create(
            round_id=issue.round_id,
            kind=issue.kind,
            detail=issue.detail,
            source=issue.source[:200],
            at=issue.at,
        )


def issue_of(error: BaseException) -> Issue | None:
    """The round exception a refusal carries, for a caller that rolled its transaction back."""
    return getattr(error, "issue", None)


def refusal(
    error: type[DomainError],
    *,
    round_id: int | None,
    kind: str,
    message: str,
    detail: dict[str, Any],
    source: str,
    now: datetime,
) -> DomainError:
    """The domain error refusing a record, carrying the round exception to list for it."""
    refused = error(message, code=kind)
    refused.issue = Issue(round_id, kind, detail, source, now)  # type: ignore[attr-defined]
    return refused


# A service function that `lists_refusals` wraps, its signature kept for the type checker.
Service = TypeVar("Service", bound=Callable[..., Any])


def lists_refusals(func: Service) -> Service:
    """Write the round exception of a refusal once the refused change has rolled back. A caller
    that wraps the call in a transaction of its own loses that row when the refusal crosses its
    transaction, and writes it again after its rollback (flows.tube_resulted does)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DomainError as exc:
            issue = issue_of(exc)
            if issue is not None:
                issue_record(issue)
            raise

    return wrapper  # type: ignore[return-value]
