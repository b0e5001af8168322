"""Device tokens: API keys for sampling devices, tied to an account's user, instead of a session.

A device sends `Authorization: Bearer <secret>`. The secret is 32 random bytes; the database
keeps its SHA-256 digest only, so a leaked table names no usable token. Resolving a token is
cached per process for `CACHE_SECONDS` (a device posts hundreds of scans a minute and its
account rarely changes): a revoked token stops working at once in the process that revoked
it and within `CACHE_SECONDS` everywhere else; so does a change of the account's role.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from bastion.core import audit
from bastion.core.errors import DomainError, InvalidInput, NotFound
from bastion.core.models import DeviceToken
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor

CACHE_SECONDS = 5.0
CACHE_SIZE = 10_000
PREFIX = "bst_"


class BadDeviceToken(DomainError):
    """A device token that names no device, or a revoked one: the device must be enrolled again."""

    status = 401
    code = "bad_device_token"
    default_message = _("This device token is not valid or has been revoked.")


@dataclass(frozen=True)
class Issued:
    token: DeviceToken
    secret: str  # shown once; only its digest is stored


def digest_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _may_manage(actor: Actor) -> None:
    # Tokens act for any account's user: city-level testing managers (and the platform) only.
    actor.require("manage_testing")
    if actor.level != ScopeLevel.CITY:
        raise NotFound()


def device_token_issue(*, username: str, name: str, actor: Actor, now: datetime) -> Issued:
    """Issue a token for `username`'s device. The secret is returned once and never stored."""
    _may_manage(actor)
    name = name.strip()
    if not name:
        raise InvalidInput(_("Name the device."), code="device_name_required")
    user = get_user_model().objects.filter(username=username.strip()).first()
    if user is None:
        raise NotFound(_("There is no such user."), code="unknown_user")
    secret = PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = DeviceToken.objects.create(
            user=user, name=name[:100], prefix=secret[:12], digest=digest_of(secret), created_at=now
        )
        audit.record(
            action="core.device_token.issued",
            obj=token,
            after={"user": user.get_username(), "device": token.name, "prefix": token.prefix},
            actor=actor,
            now=now,
        )
    return Issued(token, secret)


def device_token_revoke(*, token_id: int, actor: Actor, now: datetime) -> DeviceToken:
    """Revoke a token; revoking it again changes nothing."""
    _may_manage(actor)
    with transaction.atomic():
        token = DeviceToken.objects.select_for_update().filter(pk=token_id).first()
        if token is None:
            raise NotFound(_("There is no such device token."), code="unknown_device_token")
        if token.revoked_at is None:
            token.revoked_at = now
            token.save(update_fields=["revoked_at"])
            audit.record(
                action="core.device_token.revoked",
                obj=token,
                before={"revoked_at": None},
                after={"revoked_at": now.isoformat()},
                actor=actor,
                now=now,
            )
        # This process forgets it at once, and again after the commit in case another thread
        # resolved it meanwhile; other processes within CACHE_SECONDS.
        forget_resolved()
        transaction.on_commit(forget_resolved)
    return token


def device_tokens(*, actor: Actor) -> list[DeviceToken]:
    """Every token, newest first, with its user (no secret: only digests are stored)."""
    _may_manage(actor)
    return list(DeviceToken.objects.select_related("user"))


# digest -> (expiry on the monotonic clock, what the token resolved to)
_resolved: dict[str, tuple[float, Actor]] = {}
_resolved_lock = threading.Lock()


def forget_resolved() -> None:
    """Drop this process's resolved tokens (after a revocation)."""
    with _resolved_lock:
        _resolved.clear()


def device_token_resolve(*, secret: str, resolve: Callable[[int], Actor]) -> Actor:
    """The actor an active token acts as: `resolve(user_id)` (the caller turns a user into an
    actor), naming the device (its name and prefix, for the audit log), cached per process for
    CACHE_SECONDS. Raises BadDeviceToken for an unknown or revoked token; an error of `resolve`
    (an account without powers) is raised, not cached."""
    digest = digest_of(secret)
    now = time.monotonic()
    hit = _resolved.get(digest)
    if hit is not None and hit[0] > now:
        return hit[1]
    found = (
        DeviceToken.objects.filter(digest=digest, revoked_at__isnull=True, user__is_active=True)
        .values_list("user_id", "name", "prefix")
        .first()
    )
    if found is None:
        raise BadDeviceToken()
    user_id, name, prefix = found
    value = dataclasses.replace(resolve(user_id), device=f"{name} {prefix}")
    with _resolved_lock:
        if len(_resolved) >= CACHE_SIZE:
            _resolved.clear()
        _resolved[digest] = (now + CACHE_SECONDS, value)
    return value
