"""The house's rules that import-linter cannot see: where SQL may name a table, and where the
code may ask which database it runs on (docs/ARCHITECTURE.md, "SQL")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.apps import apps

SRC = Path(__file__).resolve().parents[1] / "src" / "bastion"
CONTEXTS = ("city", "cases", "zones", "testing", "supply", "delivery", "bulletin", "lockdown")


def _sources(package: str) -> list[Path]:
    return [p for p in (SRC / package).rglob("*.py") if "migrations" not in p.parts]


def _tables_of(label: str) -> set[str]:
    return {model._meta.db_table for model in apps.get_app_config(label).get_models()}


@pytest.mark.parametrize("context", CONTEXTS)
def test_a_context_names_no_other_contexts_table_in_its_sql(context: str) -> None:
    """A statement joins another context's table through that context's `sql.py` (its named
    tables and fragments) or reads it through its selectors, never by writing the name."""
    others = {
        table
        for label in ("city", "cases", "zones", "testing", "supply", "delivery", "core")
        if label != context
        for table in _tables_of(label)
    }
    pattern = re.compile(r"\b(" + "|".join(sorted(others, key=len, reverse=True)) + r")\b")
    found = [
        f"{path.relative_to(SRC)}:{number}: {match.group(1)}"
        for path in _sources(context)
        for number, line in enumerate(path.read_text().splitlines(), 1)
        for match in pattern.finditer(line)
    ]
    assert found == []


def test_only_core_sql_asks_which_database_it_runs_on() -> None:
    asking = re.compile(r"\.vendor\b|\[.ENGINE.\]|\bconnections\[")
    found = [
        f"{path.relative_to(SRC)}:{number}"
        for path in SRC.rglob("*.py")
        if "migrations" not in path.parts and path not in (SRC / "core" / "sql.py", SRC / "settings.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if asking.search(line)
    ]
    assert found == []


def test_no_statement_is_assembled_by_string_replacement() -> None:
    """No `str.format` anywhere (polars' `pl.format` builds a column, not a statement), and no
    `.replace(` on a line that holds SQL."""
    sql_words = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|JOIN|WHERE)\b")
    assembling = [
        f"{path.relative_to(SRC)}:{number}"
        for path in SRC.rglob("*.py")
        if "migrations" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"(?<!pl)\.format\(", line) or (".replace(" in line and sql_words.search(line))
    ]
    assert assembling == []
