"""bastion testing load-scans|load-results: bulk files of a testing round (docs/TESTING_FORMAT.md)."""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from bastion import flows
from bastion.core import clock, textfile
from bastion.core.errors import DomainError
from bastion.core.files import FileRejected, report_lines
from bastion.core.scopes import SYSTEM
from bastion.testing import ingest


class Command(BaseCommand):
    help = "Mass testing: load files of scans or of results (CSV or NDJSON), streamed and resumable."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        scans = sub.add_parser("load-scans", help="load a file of scans into a round")
        scans.add_argument("file", help="the file; layout in docs/TESTING_FORMAT.md")
        scans.add_argument("--round", required=True, help="the round's code")
        scans.add_argument(
            "--snapshot",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="read the whole registry once instead of looking residents up per chunk"
            " (default: for files of 160 MB and more on PostgreSQL)",
        )
        results = sub.add_parser("load-results", help="load a lab's file of results")
        results.add_argument("file", help="the file; layout in docs/TESTING_FORMAT.md")
        for each in (scans, results):
            each.add_argument(
                "--source",
                default=None,
                help="the name exceptions are listed under (default: the file's name)",
            )
            each.add_argument(
                "--encoding",
                default=None,
                help=f"what the file is encoded in: {', '.join(textfile.ENCODINGS)} (default: utf-8)",
            )
            each.add_argument("--chunk-bytes", type=int, default=ingest.CHUNK_BYTES, help=argparse.SUPPRESS)

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        try:
            options["encoding"] = textfile.encoding_named(options["encoding"])
            size = os.path.getsize(path)
            with open(path, "rb") as file:
                report = self._load(options, file, size)
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror}") from None
        except FileRejected as exc:
            for line in report_lines(exc, where="line"):
                self.stderr.write(line)
            raise CommandError(str(exc.message)) from None
        except DomainError as exc:
            raise CommandError(str(exc.message)) from None
        self.stdout.write(json.dumps(report, ensure_ascii=False))

    def _load(self, options: dict[str, Any], file: Any, size: int) -> dict[str, Any]:
        name = os.path.basename(options["file"])
        started = time.perf_counter()
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[records]:,} records"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        ) as bar:
            task = bar.add_task(name, total=size, records=0)

            def report(read: int, records: int) -> None:
                bar.update(task, completed=read, records=records)

            if options["action"] == "load-scans":
                out = ingest.scans_load(
                    file=file,
                    filename=name,
                    round_code=options["round"],
                    source=options["source"],
                    chunk_bytes=options["chunk_bytes"],
                    encoding=options["encoding"],
                    progress=report,
                    snapshot=options["snapshot"],
                    actor=SYSTEM,
                    now=clock.now(),
                ).as_dict()
            else:
                loaded = flows.results_loaded(
                    file=file,
                    filename=name,
                    source=options["source"],
                    chunk_bytes=options["chunk_bytes"],
                    encoding=options["encoding"],
                    progress=report,
                    actor=SYSTEM,
                    now=clock.now(),
                )
                out = {
                    **loaded.report.as_dict(),
                    "cases": len(loaded.cases),
                    "zones_screened": loaded.zones_screened,
                }
        elapsed = time.perf_counter() - started
        self.stderr.write(f"{out['records']:,} records in {elapsed:.1f} s; {out['taken']:,} taken")
        return out
