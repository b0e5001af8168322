"""bastion city generate|import|export."""

from __future__ import annotations

import argparse
import time
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bastion.city import services
from bastion.core import clock
from bastion.core.errors import DomainError
from bastion.core.scopes import SYSTEM


class Command(BaseCommand):
    help = "The city registry: generate a synthetic city, import or export the registry."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        gen = sub.add_parser("generate", help="generate a synthetic city")
        gen.add_argument("--residents", type=int, required=True)
        gen.add_argument("--seed", type=int, default=1)
        gen.add_argument("--as-of", type=date.fromisoformat, default=None, help="the day ages are counted on")
        gen.add_argument("--replace", action="store_true", help="remove the city already loaded first")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "generate":
                self._generate(options)
        except DomainError as exc:
            raise CommandError(str(exc.message)) from None

    def _generate(self, options: dict[str, Any]) -> None:
        residents = options["residents"]
        as_of = options["as_of"] or clock.today()
        started = time.perf_counter()
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=None,
            transient=False,
        ) as bar:
            task = bar.add_task("planning", total=residents)

            def report(stage: str, done: int, total: int) -> None:
                bar.update(task, description=stage, completed=done)

            result = services.city_generate(
                residents=residents,
                seed=options["seed"],
                as_of=as_of,
                replace=options["replace"],
                progress=report,
                actor=SYSTEM,
                now=clock.now(),
            )
        elapsed = time.perf_counter() - started
        self.stderr.write(
            f"generated {result.residents:,} residents in {result.households:,} households, "
            f"{result.buildings:,} buildings, {result.compounds:,} compounds, {result.grids:,} grids, "
            f"{result.communities:,} communities, {result.districts} districts in {elapsed:.1f} s"
        )
