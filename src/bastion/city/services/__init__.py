"""Writes to the registry, by subject: places, people, accounts and figures (`registry`), the
registry file's import (`imports`) and export (`exports`). Each write is atomic and audited."""

from bastion.city.services.exports import registry_export
from bastion.city.services.imports import LEVELS, ImportResult, registry_import
from bastion.city.services.registry import (
    FLAG_FIELDS,
    account_grant,
    city_build,
    city_generate,
    figures_refresh,
    registry_clear,
    resident_set_flags,
    roles_sync,
)

__all__ = [
    "FLAG_FIELDS",
    "LEVELS",
    "ImportResult",
    "account_grant",
    "city_build",
    "city_generate",
    "figures_refresh",
    "registry_clear",
    "registry_export",
    "registry_import",
    "resident_set_flags",
    "roles_sync",
]
