import os
import subprocess
import sys
from pathlib import Path

import pytest

from bastion.core.env import ConfigError, env_bool, env_timezone, parse_database_url


def test_it_parses_a_relative_sqlite_url_under_the_base_dir(tmp_path: Path) -> None:
    db = parse_database_url("sqlite:///var/x.db", base_dir=tmp_path)
    assert db.vendor == "sqlite"
    assert db.config["NAME"] == str(tmp_path / "var" / "x.db")
    assert "journal_mode=WAL" in db.config["OPTIONS"]["init_command"]  # type: ignore[index]


def test_it_parses_a_postgres_url(tmp_path: Path) -> None:
    db = parse_database_url("postgres://u:p%40ss@db.example:6543/city?sslmode=require", base_dir=tmp_path)
    assert db.config["NAME"] == "city"
    assert db.config["PASSWORD"] == "p@ss"
    assert db.config["PORT"] == "6543"
    assert db.config["OPTIONS"] == {"sslmode": "require"}


@pytest.mark.parametrize("url", ["mysql://x/y", "postgres://host", "sqlite://", "postgres://h:port/x"])
def test_it_fails_loudly_on_a_bad_database_url(url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        parse_database_url(url, base_dir=tmp_path)


def test_it_refuses_a_boolean_it_cannot_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ConfigError, match="DEBUG"):
        env_bool("DEBUG", False)


def test_it_refuses_an_unknown_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASTION_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ConfigError, match="BASTION_TIMEZONE"):
        env_timezone("BASTION_TIMEZONE", "Asia/Shanghai")


def _bastion(*args: str) -> subprocess.CompletedProcess[str]:
    """The console script as an operator runs it, with no configuration in the environment."""
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "BASTION_DEV", "DATABASE_URL")}
    script = Path(sys.executable).with_name("bastion")
    return subprocess.run([str(script), *args], env=clean, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("args", [(), ("--help",), ("help", "city"), ("city", "--help")])
def test_the_command_lines_help_needs_no_configuration(args: tuple[str, ...]) -> None:
    done = _bastion(*args)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "city" in done.stdout or "usage: bastion city" in done.stdout


def test_a_command_without_its_configuration_says_what_is_missing_in_one_line() -> None:
    done = _bastion("worker", "--once")
    assert done.returncode == 2
    assert done.stderr == "bastion: SECRET_KEY must be set (README.md, Configuration)\n"
