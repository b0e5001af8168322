"""A large registry file through the command line: time, peak memory and the size of the report.

    .venv/bin/python bench/registry_file.py --residents 250000

Issue 13 measured a 50 MB file taking 806 MB of memory, and a 50 MB file of bad rows giving a
50 MB answer. This builds a synthetic city of `--residents` in SQLite (untimed), exports it
(about 55 MB at 250,000 residents) and writes a copy with one bad cell on every row, then times
in fresh processes, each on a fresh or the same SQLite database under bench/out/:

- a fresh import of the file into an empty registry;
- the same file imported again (every row compared with the registry, nothing changed);
- the file of bad rows (refused: the report's size in bytes and its exit code).

Peak memory is each process's maximum resident set size (`wait4`), which includes Python and
Django (about 60 MB for `bastion --help`). `--source DIR` runs another checkout's code (its
`src/` put first on the path) with this virtualenv, to compare before and after a change.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
BASTION = ROOT / ".venv" / "bin" / "bastion"


def _run(
    args: list[str], *, database: Path, source: Path | None, output: Path | None = None
) -> dict[str, object]:
    env = {
        **os.environ,
        "BASTION_DEV": "1",
        "DATABASE_URL": f"sqlite:///{database}",
        "LOG_LEVEL": "WARNING",
    }
    if source is not None:
        env["PYTHONPATH"] = str(source / "src")
    sink = output.open("wb") if output is not None else subprocess.DEVNULL
    try:
        started = time.perf_counter()
        process = subprocess.Popen([str(BASTION), *args], env=env, stdout=sink, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    finally:
        if output is not None:
            sink.close()  # type: ignore[union-attr]
    return {
        "exit": os.waitstatus_to_exitcode(status),
        "seconds": round(seconds, 1),
        "peak_mb": round(usage.ru_maxrss / 1024),  # kilobytes on Linux
    }


def _bad_copy(good: Path, bad: Path) -> int:
    """The same file with an impossible sex on every row: one problem per row."""
    rows = 0
    with (
        good.open(newline="", encoding="utf-8-sig") as src,
        bad.open("w", newline="", encoding="utf-8") as dst,
    ):
        reader = csv.reader(src)
        writer = csv.writer(dst, lineterminator="\r\n")
        header = next(reader)
        column = header.index("sex")
        writer.writerow(header)
        for row in reader:
            row[column] = "?"
            writer.writerow(row)
            rows += 1
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--residents", type=int, default=250_000)
    parser.add_argument("--source", type=Path, help="another checkout whose code to run")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    source = args.source.resolve() if args.source else None

    city = OUT / f"registry_city_{args.residents}.db"
    good = OUT / f"registry_{args.residents}.csv"
    bad = OUT / f"registry_{args.residents}_bad.csv"
    if not good.exists():
        city.unlink(missing_ok=True)
        for step in (
            ["migrate", "-v", "0"],
            ["city", "generate", "--residents", str(args.residents), "--seed", "1"],
        ):
            made = _run(step, database=city, source=None)
            if made["exit"] != 0:
                sys.exit(f"setting up failed at {step}: {made}")
        _run(["city", "export", str(good)], database=city, source=None)
    rows = _bad_copy(good, bad)

    target = OUT / "registry_import.db"
    target.unlink(missing_ok=True)
    _run(["migrate", "-v", "0"], database=target, source=source)
    report = OUT / "registry_bad_report.txt"
    results = {
        "fresh import": _run(["city", "import", str(good)], database=target, source=source),
        "import again": _run(["city", "import", str(good)], database=target, source=source),
        "bad rows": _run(["city", "import", str(bad)], database=target, source=source, output=report),
    }
    results["bad rows"]["report_bytes"] = report.stat().st_size
    print(
        json.dumps(
            {
                "residents": args.residents,
                "rows": rows,
                "file_mb": round(good.stat().st_size / 1e6, 1),
                "code": str(source or ROOT),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "python": platform.python_version(),
                "results": results,
            },
            indent=2,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
