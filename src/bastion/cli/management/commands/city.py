"""bastion city generate|import|export."""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bastion.city import services
from bastion.city.registry_io import RegistryFileRejected
from bastion.core import clock, textfile
from bastion.core.errors import DomainError
from bastion.core.files import report_lines
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
        imp = sub.add_parser("import", help="import a registry file (CSV or XLSX), all or nothing")
        imp.add_argument("file", help="the file; layout in docs/REGISTRY_FORMAT.md")
        imp.add_argument(
            "--encoding",
            default=None,
            help=f"what a CSV file is encoded in: {', '.join(textfile.ENCODINGS)} (default: utf-8)",
        )
        exp = sub.add_parser("export", help="export the registry to a file")
        exp.add_argument("file")
        exp.add_argument(
            "--format", choices=["csv", "xlsx"], default=None, help="default: from the file name, else csv"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "generate":
                self._generate(options)
            elif options["action"] == "import":
                self._import(options)
            elif options["action"] == "export":
                self._export(options)
        except RegistryFileRejected as exc:
            for line in report_lines(exc, where="row"):
                self.stderr.write(line)
            raise CommandError(str(exc.message)) from None
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
            f"{result.communities:,} communities, {result.districts} districts, "
            f"{result.staff:,} staff and volunteers in {elapsed:.1f} s"
        )

    def _import(self, options: dict[str, Any]) -> None:
        path = options["file"]
        encoding = textfile.encoding_named(options["encoding"])
        try:
            with open(path, "rb") as file:
                result = services.registry_import(
                    file=file,
                    filename=os.path.basename(path),
                    encoding=encoding,
                    actor=SYSTEM,
                    now=clock.now(),
                )
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror}") from None
        self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False))

    def _export(self, options: dict[str, Any]) -> None:
        path = options["file"]
        fmt = options["format"] or ("xlsx" if path.lower().endswith(".xlsx") else "csv")
        try:
            with open(path, "wb") as out:
                rows = services.registry_export(fmt=fmt, out=out, actor=SYSTEM, now=clock.now())
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror}") from None
        except DomainError:
            os.remove(path)  # no half-written file left behind to be mistaken for an export
            raise
        self.stderr.write(f"exported {rows:,} residents to {path} ({fmt})")
