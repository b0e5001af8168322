"""bastion worker — run the platform's timers until stopped."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand

from bastion import flows
from bastion.core import clock, worker


class Command(BaseCommand):
    help = "Run the playbook's timers (bastion.flows.TIMERS) in a loop."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--interval", type=float, default=30.0, help="seconds between ticks")
        parser.add_argument("--once", action="store_true", help="run one tick and exit")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            ran = worker.tick(timers=flows.TIMERS, now=clock.now())
            self.stdout.write(f"ran: {', '.join(ran) or 'nothing due'}")
            return
        self.stdout.write(
            f"worker running every {options['interval']:g} s; "
            f"timers, in order: {', '.join(timer.name for timer in flows.TIMERS)}"
        )
        try:
            worker.run_forever(timers=flows.TIMERS, interval=options["interval"])
        except KeyboardInterrupt:
            self.stdout.write("worker stopped")
