"""bastion demo — a demo city on the embedded database, the console and the worker in one process."""

from __future__ import annotations

import argparse
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from bastion.city import services
from bastion.city.load import registry_is_empty
from bastion.city.models import Account, Community, District, Household
from bastion.core import clock, worker
from bastion.core.roles import Role
from bastion.core.scopes import SYSTEM

DEMO_PASSWORD = "bastion-demo-2022"  # noqa: S105 - printed for the demo accounts only


class Command(BaseCommand):
    help = "Build a demo city under ./var and serve the console with the worker on http://127.0.0.1:8000."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--residents", type=int, default=50_000)
        parser.add_argument("--seed", type=int, default=2022)
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument(
            "--no-serve", action="store_true", help="prepare the city and accounts, then exit"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)
        call_command("migrate", verbosity=0, interactive=False)
        services.roles_sync()
        if registry_is_empty():
            self.stdout.write(f"generating a demo city of {options['residents']:,} residents…")
            call_command("city", "generate", residents=options["residents"], seed=options["seed"])
        logins = self._accounts()
        self.stdout.write(self.style.SUCCESS(f"\nDemo logins (password for all: {DEMO_PASSWORD})"))
        for username, role, where in logins:
            self.stdout.write(f"  {username:<22} {role:<20} {where}")
        if options["no_serve"]:
            return
        worker.start_in_thread(interval=30.0)
        self.stdout.write(
            self.style.SUCCESS(
                f"\nConsole: http://{options['addr']}/   API docs: http://{options['addr']}/api/v1/docs\n"
            )
        )
        call_command("runserver", options["addr"], use_reloader=False, use_threading=True)

    def _accounts(self) -> list[tuple[str, str, str]]:
        district = District.objects.order_by("code").first()
        other = District.objects.order_by("code").exclude(code=district.code if district else "").first()
        community = Community.objects.filter(district=district).order_by("code").first()
        household = Household.objects.filter(community=community).order_by("id").first()
        plan: list[tuple[str, str, dict[str, Any]]] = [
            ("demo-command", Role.COMMAND_CENTRE, {}),
            ("demo-district", Role.DISTRICT_OFFICER, {"district": district}),
            ("demo-community", Role.COMMUNITY_WORKER, {"community": community}),
            ("demo-volunteer", Role.VOLUNTEER, {}),
            ("demo-lab", Role.LAB, {}),
            ("demo-transfer", Role.TRANSFER_DISPATCH, {}),
            ("demo-supply", Role.COMMERCE_SUPPLY, {}),
            ("demo-market", Role.MARKET_REGULATOR, {}),
            ("demo-resident", Role.RESIDENT, {"household": household}),
        ]
        if other is not None:
            plan.insert(2, ("demo-district-2", Role.DISTRICT_OFFICER, {"district": other}))
        out = []
        User = get_user_model()
        for username, role, places in plan:
            # A demo user whose account went away (a revoked account) is granted afresh.
            User.objects.filter(username=username, account__isnull=True).delete()
            if not User.objects.filter(username=username).exists():
                services.account_grant(
                    username=username,
                    password=DEMO_PASSWORD,
                    role=role,
                    actor=SYSTEM,
                    now=clock.now(),
                    **places,
                )
            account = Account.objects.select_related("district", "community", "household").get(
                user__username=username
            )
            where = account.district or account.community or account.household or account.get_scope_display()
            out.append((username, str(Role(role).label), str(where)))
        if not User.objects.filter(username="admin").exists():
            User.objects.create_superuser("admin", password=DEMO_PASSWORD)
        out.append(("admin", "Django admin", "/admin/"))
        return out
