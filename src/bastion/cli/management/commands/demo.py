"""bastion demo — a demo city on the embedded database, the console and the worker in one process."""

from __future__ import annotations

import argparse
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from bastion import flows
from bastion.cases.models import Case
from bastion.city import services
from bastion.city.load import registry_is_empty
from bastion.city.models import Account, Community, Compound, District, Grid, Household, Resident
from bastion.core import clock, worker
from bastion.core.roles import Role
from bastion.core.scopes import SYSTEM
from bastion.delivery.models import Vehicle
from bastion.supply import services as supply
from bastion.supply.models import Supplier, Warehouse
from bastion.supply.policy import policy
from bastion.testing.models import Lab, Site

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
        if not Case.objects.exists():
            self._outbreak()
        self._testing_places()
        self._supplies()
        self.stdout.write(self.style.SUCCESS(f"\nDemo logins (password for all: {DEMO_PASSWORD})"))
        for username, role, where in logins:
            self.stdout.write(f"  {username:<22} {role:<20} {where}")
        if options["no_serve"]:
            return
        worker.start_in_thread(timers=flows.TIMERS, interval=30.0)
        self.stdout.write(
            self.style.SUCCESS(
                f"\nConsole: http://{options['addr']}/   API docs: http://{options['addr']}/api/v1/docs\n"
            )
        )
        call_command("runserver", options["addr"], use_reloader=False, use_threading=True)

    def _testing_places(self) -> None:
        """A laboratory, and a sampling site for every grid of the first community."""
        Lab.objects.get_or_create(
            code="LAB-1", defaults={"name": "Demo laboratory", "capacity_per_hour": 4000}
        )
        community = Community.objects.order_by("code").first()
        if community is None:
            return
        for grid in Grid.objects.filter(community=community).order_by("code"):
            Site.objects.get_or_create(
                code=f"SITE-{grid.code}",
                defaults={
                    "name": f"{grid.name} sampling point",
                    "grid": grid,
                    "district_id": grid.district_id,
                },
            )

    def _supplies(self) -> None:
        """A supplier and its catalogue (the policy's 10 kg vegetable package among them), a
        warehouse and a sorting centre with stock and a van in every district; the worker then
        makes the locked households' standard packages and their buildings' tasks."""
        if Supplier.objects.exists():
            return
        now = clock.now()
        supply.supplier_register(
            code="SUP-1",
            name="Demo supply company",
            contact_name="Li Ming",
            contact_phone="13800000000",
            actor=SYSTEM,
            now=now,
        )
        catalogue = [
            (policy().standard_item, "Vegetable package 10 kg", "vegetables", "50", True, "10", None),
            ("rice-5kg", "Rice 5 kg", "grain_oil", "32", False, None, 2),
            ("eggs-30", "Eggs, 30", "eggs", "28", False, None, 2),
            ("milk-1l", "Milk 1 l", "milk", "12", False, None, 6),
            ("antipyretic", "Fever medicine", "medicine", "18", False, None, 1),
        ]
        for code, name, category, price, package, weight, limit in catalogue:
            supply.item_add(
                code=code,
                name=name,
                category=category,
                supplier_code="SUP-1",
                price=price,
                package=package,
                declared_weight_kg=weight,
                limit_per_household=limit,
                actor=SYSTEM,
                now=now,
            )
        for district in District.objects.order_by("code"):
            for kind, code in (("warehouse", f"W-{district.code}"), ("sorting", f"S-{district.code}")):
                Warehouse.objects.create(
                    code=code, name=f"{district.name} {kind}", kind=kind, district=district
                )
            for category, kg in (
                ("vegetables", 60_000),
                ("grain_oil", 90_000),
                ("eggs", 6_000),
                ("milk", 20_000),
            ):
                supply.stock_move(
                    warehouse_code=f"W-{district.code}",
                    category=category,
                    kg=kg,
                    reason="demo stock",
                    actor=SYSTEM,
                    now=now,
                )
            Vehicle.objects.create(
                plate=f"DEMO-{district.code}",
                base=Warehouse.objects.get(code=f"S-{district.code}"),
                capacity_kg=2000,
            )

    def _outbreak(self) -> None:
        """A few cases so that the zones, the bulletin and the resident's page have something to
        show: one in the demo resident's unit, one who stayed in another compound (a medium zone
        under v9), one in the second district, and a close contact."""
        resident_household = (
            Account.objects.filter(user__username="demo-resident")
            .values_list("household_id", flat=True)
            .first()
        )
        home = Household.objects.filter(pk=resident_household).first() if resident_household else None
        if home is None:
            return
        neighbour = (
            Resident.objects.filter(household__unit_id=home.unit_id).exclude(household_id=home.pk).first()
            or Resident.objects.filter(household_id=home.pk).order_by("-number").first()
        )
        elsewhere = (
            Compound.objects.filter(community_id=home.community_id).exclude(pk=home.compound_id).first()
        )
        other_district = Resident.objects.exclude(district_id=home.district_id).order_by("id").first()
        now = clock.now()
        reports = []
        if neighbour is not None:
            stayed = (
                [elsewhere.code + "/1"] if elsewhere and elsewhere.buildings.filter(number=1).exists() else []
            )
            reports.append((neighbour, "confirmed", stayed))
        if other_district is not None:
            reports.append((other_district, "asymptomatic", []))
        first = None
        for person, kind, stayed in reports:
            reported = flows.case_reported(
                resident_id=person.pk, kind=kind, found_by="screening", stayed=stayed, actor=SYSTEM, now=now
            )
            first = first or reported.case
        contact = Resident.objects.filter(community_id=home.community_id).exclude(case__isnull=False).last()
        if first is not None and contact is not None:
            flows.contact_added(
                resident_id=contact.pk,
                kind="close",
                last_exposure_on=clock.local_date(now),
                case_id=first.pk,
                actor=SYSTEM,
                now=now,
            )
        self.stdout.write(f"reported {len(reports)} demo cases; their zones are in force")

    def _accounts(self) -> list[tuple[str, str, str]]:
        district = District.objects.order_by("code").first()
        other = District.objects.order_by("code").exclude(code=district.code if district else "").first()
        community = Community.objects.filter(district=district).order_by("code").first()
        household = Household.objects.filter(community=community).order_by("id").first()
        plan: list[tuple[str, str, dict[str, Any]]] = [
            ("demo-command", Role.COMMAND_CENTRE, {}),
            ("demo-district", Role.DISTRICT_OFFICER, {"district": district}),
            ("demo-community", Role.COMMUNITY_WORKER, {"community": community}),
            ("demo-volunteer", Role.VOLUNTEER, {"community": community}),
            ("demo-lab", Role.LAB, {}),
            ("demo-sampler", Role.SAMPLER, {}),
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
