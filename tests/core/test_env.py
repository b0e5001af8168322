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
