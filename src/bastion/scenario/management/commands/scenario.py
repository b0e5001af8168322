"""bastion scenario run FILE.yaml — replay a scenario and print what the platform shows, as JSON."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from bastion.scenario import runner
from bastion.scenario.spec import ScenarioError, load


class Command(BaseCommand):
    help = "Replay scenario files (tabletop exercises) on a simulated clock."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        run = sub.add_parser("run", help="replay FILE and print the days as JSON on stdout")
        run.add_argument("file", type=Path)
        run.add_argument(
            "--here", action="store_true", help="use the configured database instead of a fresh one"
        )
        run.add_argument("--indent", type=int, default=1)

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            scenario = load(path, event_kinds=set(runner.EVENT_KINDS), observations=set(runner.OBSERVATIONS))
            if os.environ.get("BASTION_SCENARIO_FRESH_DB") == "1":
                self.stderr.write("preparing a fresh embedded database…")
                call_command("migrate", verbosity=0, interactive=False)
            self.stderr.write(f"replaying {scenario.name} ({scenario.days} days)…")
            result = runner.run(scenario)
        except ScenarioError as exc:
            raise CommandError(f"{path}: {exc}") from None
        json.dump(result, sys.stdout, ensure_ascii=False, indent=options["indent"] or None)
        sys.stdout.write("\n")
