"""bastion devices issue|revoke|list: device tokens for sampling devices (acting as the platform)."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from bastion.core import clock, devices
from bastion.core.errors import DomainError
from bastion.core.scopes import SYSTEM


class Command(BaseCommand):
    help = "Device tokens: API keys that let a sampling device post scans as its account."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        issue = sub.add_parser("issue", help="issue a token for a user's device; the secret is shown once")
        issue.add_argument("--user", required=True, help="the account's user name (a sampler)")
        issue.add_argument("--name", required=True, help="the device, e.g. its label or serial number")
        revoke = sub.add_parser("revoke", help="revoke a token by its number (see list)")
        revoke.add_argument("token_id", type=int)
        sub.add_parser("list", help="every token: number, user, device, prefix, issued, revoked")

    def handle(self, *args: Any, **options: Any) -> None:
        now = clock.now()
        try:
            if options["action"] == "issue":
                issued = devices.device_token_issue(
                    username=options["user"], name=options["name"], actor=SYSTEM, now=now
                )
                self.stderr.write(f"token {issued.token.pk} for {options['user']}: keep it, it is shown once")
                self.stdout.write(issued.secret)
            elif options["action"] == "revoke":
                token = devices.device_token_revoke(token_id=options["token_id"], actor=SYSTEM, now=now)
                self.stdout.write(f"token {token.pk} revoked at {token.revoked_at:%Y-%m-%d %H:%M:%S}")
            else:
                for token in devices.device_tokens(actor=SYSTEM):
                    revoked = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "active"
                    self.stdout.write(
                        f"{token.pk}\t{token.user.get_username()}\t{token.name}\t{token.prefix}…"
                        f"\t{token.created_at:%Y-%m-%d %H:%M}\t{revoked}"
                    )
        except DomainError as exc:
            raise CommandError(str(exc.message)) from None
