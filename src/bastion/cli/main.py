"""The `bastion` console script: Django's management commands behind one entry point.

bastion demo                      build a demo city under ./var and serve the console
bastion worker                    run the timers
bastion city generate --residents N --seed S
bastion city import FILE / bastion city export FILE
bastion scenario run FILE.yaml    replay a scenario on a fresh embedded database
bastion testing load-scans FILE --round CODE / bastion testing load-results FILE
bastion devices issue|revoke|list sampling devices' tokens for the scan API
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

HELP = {"-h", "--help", "help", "--version"}


def asks_for_help(args: list[str]) -> bool:
    """`bastion`, `bastion --help`, `bastion help city`, `bastion city --help`: nothing runs."""
    return not args or bool(HELP & set(args))


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bastion.settings")
    if asks_for_help(args):
        # Help touches no data and no secret: it must work before anything is configured.
        os.environ.setdefault("BASTION_DEV", "1")
    if args[:2] == ["scenario", "run"] and "--here" not in args:
        # A scenario always starts from an empty embedded database of its own, so that a
        # rehearsal can never touch the city's real data.
        workdir = tempfile.mkdtemp(prefix="bastion-scenario-")
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{workdir}/scenario.db"
        os.environ.setdefault("BASTION_DEV", "1")
        os.environ["BASTION_SCENARIO_FRESH_DB"] = "1"
    if args[:1] == ["demo"]:
        os.environ.setdefault("BASTION_DEV", "1")
    from django.core.management import execute_from_command_line

    from bastion.core.env import ConfigError

    try:
        execute_from_command_line(["bastion", *args])
    except ConfigError as exc:
        # A missing or malformed setting is the operator's to fix: say which, not a traceback.
        sys.stderr.write(f"bastion: {exc} (README.md, Configuration)\n")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
