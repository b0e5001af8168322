"""Settings read from the environment, failing loudly on a bad value."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ConfigError(Exception):
    """A setting in the environment is missing or malformed."""


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        if default is None:
            raise ConfigError(f"{name} must be set")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true/false)")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None


def env_choice(name: str, default: str, choices: list[str]) -> str:
    value = env_str(name, default)
    if value not in choices:
        raise ConfigError(f"{name}={value!r} must be one of {', '.join(choices)}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_timezone(name: str, default: str) -> str:
    value = env_str(name, default)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name}={value!r} is not a known time zone (e.g. Asia/Shanghai)") from None
    return value


@dataclass(frozen=True)
class Database:
    vendor: str
    config: dict[str, object]


def parse_database_url(url: str, *, base_dir: Path) -> Database:
    """Turn DATABASE_URL into a Django DATABASES entry.

    sqlite:///relative/path.db, sqlite:////absolute/path.db, postgres://user@host:port/name.
    """
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        raw_path = unquote(parsed.path)
        if raw_path in ("", "/"):
            raise ConfigError(f"DATABASE_URL={url!r} names no SQLite file")
        name = raw_path[1:] if raw_path.startswith("/") else raw_path
        path = Path(name)
        if not path.is_absolute() and name != ":memory:":
            path = base_dir / path
        return Database(
            "sqlite",
            {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(path) if name != ":memory:" else ":memory:",
                "OPTIONS": {
                    # WAL lets readers go on while one writer writes; IMMEDIATE takes the
                    # write lock at BEGIN so two writers queue instead of deadlocking.
                    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                    "PRAGMA foreign_keys=ON; PRAGMA busy_timeout=30000;",
                    "transaction_mode": "IMMEDIATE",
                    "timeout": 30,
                },
                "TEST": {"NAME": str(path.with_name(path.stem + "-test.db"))} if name != ":memory:" else {},
            },
        )
    if parsed.scheme in {"postgres", "postgresql"}:
        if not parsed.path or parsed.path == "/":
            raise ConfigError(f"DATABASE_URL={url!r} names no database")
        options = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
        try:
            port = parsed.port
        except ValueError:
            raise ConfigError(f"DATABASE_URL={url!r} has a bad port") from None
        return Database(
            "postgresql",
            {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": unquote(parsed.path[1:]),
                "USER": unquote(parsed.username or ""),
                "PASSWORD": unquote(parsed.password or ""),
                "HOST": parsed.hostname or "",
                "PORT": str(port or ""),
                "CONN_MAX_AGE": 60,
                "OPTIONS": options,
            },
        )
    raise ConfigError(f"DATABASE_URL={url!r}: only sqlite:// and postgres:// are supported")
