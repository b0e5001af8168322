"""Roles and scope levels. A role is a Django group of the same name; a scope says where it applies."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    COMMAND_CENTRE = "command_centre", _("Command centre")
    DISTRICT_OFFICER = "district_officer", _("District officer")
    COMMUNITY_WORKER = "community_worker", _("Community worker")
    VOLUNTEER = "volunteer", _("Volunteer")
    LAB = "lab", _("Laboratory")
    SAMPLER = "sampler", _("Sampling team")
    TRANSFER_DISPATCH = "transfer_dispatch", _("Transfer dispatch")
    COMMERCE_SUPPLY = "commerce_supply", _("Commerce and supply")
    MARKET_REGULATOR = "market_regulator", _("Market regulator")
    RESIDENT = "resident", _("Resident")
    CODE_CHECKER = "code_checker", _("Venue or checkpoint (code checks)")
    HOTLINE_OPERATOR = "hotline_operator", _("12345 hotline operator")


class ScopeLevel(models.TextChoices):
    CITY = "city", _("Whole city")
    DISTRICT = "district", _("One district")
    COMMUNITY = "community", _("One community")
    OWN_TASKS = "own_tasks", _("Own tasks")
    OWN_HOUSEHOLD = "own_household", _("Own household")


# The scope each role normally has; an account may be given a narrower one, never a wider one.
DEFAULT_SCOPE: dict[str, str] = {
    Role.COMMAND_CENTRE: ScopeLevel.CITY,
    Role.DISTRICT_OFFICER: ScopeLevel.DISTRICT,
    Role.COMMUNITY_WORKER: ScopeLevel.COMMUNITY,
    Role.VOLUNTEER: ScopeLevel.OWN_TASKS,
    Role.LAB: ScopeLevel.CITY,
    Role.SAMPLER: ScopeLevel.CITY,
    Role.TRANSFER_DISPATCH: ScopeLevel.CITY,
    Role.COMMERCE_SUPPLY: ScopeLevel.CITY,
    Role.MARKET_REGULATOR: ScopeLevel.CITY,
    Role.RESIDENT: ScopeLevel.OWN_HOUSEHOLD,
    Role.CODE_CHECKER: ScopeLevel.CITY,
    Role.HOTLINE_OPERATOR: ScopeLevel.CITY,
}

SCOPE_ORDER = [
    ScopeLevel.CITY,
    ScopeLevel.DISTRICT,
    ScopeLevel.COMMUNITY,
    ScopeLevel.OWN_TASKS,
    ScopeLevel.OWN_HOUSEHOLD,
]

# Permissions (codename in app `core`) a role holds. Registry reading is by scope; these are
# the extra powers. How each personal field is shown follows from them (core/masking.py):
# `view_personal_data` unmasks names, ID and phone numbers and birth dates; `view_transfers`
# unmasks them for the people to move only (transfer dispatch holds no registry powers).
ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.COMMAND_CENTRE: [
        "view_registry",
        "view_city_figures",
        "import_registry",
        "export_registry",
        "view_cases",
        "manage_cases",
        "manage_zones",
        "manage_testing",
        "view_testing",
        "view_supply",
        "dispatch_deliveries",
        "manage_transfers",
        "view_codes",
        "correct_codes",
        "view_trips",
        "view_appeals",
        "handle_appeals",
    ],
    Role.DISTRICT_OFFICER: [
        "view_registry",
        "view_city_figures",
        "export_registry",
        "view_cases",
        "manage_cases",
        "manage_zones",
        "manage_testing",
        "view_testing",
        "view_supply",
        "dispatch_deliveries",
        "manage_transfers",
        "view_codes",
        "correct_codes",
        "view_trips",
        "view_appeals",
        "handle_appeals",
    ],
    Role.COMMUNITY_WORKER: [
        "view_registry",
        "view_personal_data",
        "export_registry",
        "change_resident_flags",
        "view_cases",
        "view_testing",
        "view_supply",
        "place_orders",
        "dispatch_deliveries",
        "view_codes",
        "keep_medical_needs",
        "view_trips",
        "call_emergency",
        "view_appeals",
        "raise_appeals",
        "handle_appeals",
    ],
    Role.VOLUNTEER: ["deliver", "place_orders"],
    Role.LAB: ["record_results"],
    Role.SAMPLER: ["record_samples"],
    Role.TRANSFER_DISPATCH: [
        "view_cases",
        "view_transfers",
        "manage_transfers",
        "view_trips",
        "dispatch_trips",
        "call_emergency",
        "view_appeals",
        "handle_appeals",
    ],
    Role.COMMERCE_SUPPLY: [
        "view_city_figures",
        "view_supply",
        "manage_supply",
        "report_prices",
        "view_appeals",
        "handle_appeals",
    ],
    Role.MARKET_REGULATOR: [
        "view_city_figures",
        "view_supply",
        "report_prices",
        "view_appeals",
        "handle_appeals",
    ],
    Role.RESIDENT: [
        "view_registry",
        "view_personal_data",
        "place_orders",
        "view_codes",
        "view_appeals",
        "raise_appeals",
    ],
    Role.CODE_CHECKER: ["check_codes"],
    Role.HOTLINE_OPERATOR: ["view_appeals", "raise_appeals"],
}

PERMISSIONS: list[tuple[str, str | Any]] = [
    ("view_registry", "Can browse the registry within scope"),
    ("view_personal_data", "Can see full names, ID and phone numbers and birth dates within scope"),
    ("view_city_figures", "Can see the city's figures"),
    ("import_registry", "Can import registry files"),
    ("export_registry", "Can export the registry within scope"),
    ("change_resident_flags", "Can change residents' vulnerable flags within scope"),
    ("view_cases", "Can see cases and contacts within scope"),
    ("manage_cases", "Can enter cases, conversions, discharges and contacts within scope"),
    ("manage_zones", "Can confirm, adjust and lift risk zones within scope"),
    ("manage_testing", "Can open testing rounds and manage sites and labs within scope"),
    ("view_testing", "Can follow testing rounds: coverage, recalls, turnaround"),
    ("record_samples", "Can record samples (scans of residents into tubes)"),
    ("record_results", "Can record tube receipts and results"),
    ("view_supply", "Can see stock, days of supply, prices, flags and delivery coverage within scope"),
    ("manage_supply", "Can keep suppliers, the catalogue, warehouses and stock"),
    ("report_prices", "Can report prices seen at outlets"),
    ("place_orders", "Can place orders for a household within scope (residents: their own)"),
    ("dispatch_deliveries", "Can build delivery tasks and follow deliveries within scope"),
    ("deliver", "Can claim delivery tasks and confirm deliveries"),
    ("view_codes", "Can see residents' health codes and why within scope (residents: their own)"),
    ("correct_codes", "Can correct a resident's health code with a written reason within scope"),
    ("check_codes", "Can check a health code by its token (colour and when it was set only)"),
    (
        "view_transfers",
        "Can see the people to move (those with an open transfer) in full",
    ),
    (
        "manage_transfers",
        "Can keep facilities and transfer vehicles, assign transfers and confirm their moves",
    ),
    (
        "keep_medical_needs",
        "Can keep residents' standing medical needs within scope and ask for trips to the "
        "yellow-code hospital",
    ),
    ("view_trips", "Can follow the trips to treatment within scope"),
    ("dispatch_trips", "Can dispatch vehicles to trips to treatment and move them along"),
    ("call_emergency", "Can open an emergency (120) trip for a resident within scope"),
    ("view_appeals", "Can see appeals within scope (residents: their household's; desks: their own)"),
    ("raise_appeals", "Can raise an appeal for a household within scope and rate its reply"),
    ("handle_appeals", "Can sign for, reply to and hand back the appeals one's office owns"),
]
