"""Home health monitoring after a discharge has one figure, the discharge rule of the case's
protocol (transfer/policy.toml): the transfer's last day of monitoring and the health code's
yellow follow it together, and change together when it changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from bastion import flows
from bastion.cases.models import Case
from bastion.cases.services import protocol_adopt
from bastion.codes import policy as codes_policy
from bastion.codes.models import HealthCode
from bastion.core.scopes import SYSTEM
from bastion.transfer import policy as transfer_policy
from bastion.transfer.models import Transfer
from bastion.zones.models import Zone
from tests.codes.test_codes import resident
from tests.conftest import NOW, TODAY

CASE = "C1/2/1/301#1"


def code() -> tuple[str, str]:
    row = HealthCode.objects.filter(pk=resident(CASE).pk).values_list("colour", "rule").first()
    return row or ("green", "")


def discharged_case() -> Transfer:
    """A case reported and discharged home today (its zone lifted by an officer: the case's own
    colour is left to speak)."""
    flows.case_reported(resident_id=resident(CASE).pk, kind="confirmed", actor=SYSTEM, now=NOW)
    for zone in Zone.objects.all():
        flows.zone_lifted(zone_id=zone.pk, reason="核查", override=True, actor=SYSTEM, now=NOW)
    case = Case.objects.get(resident=resident(CASE))
    flows.case_discharged(case_id=case.pk, override_reason="recovered", actor=SYSTEM, now=NOW)
    return Transfer.objects.get(resident=resident(CASE))


def on_day(days: int) -> tuple[str, str]:
    """The code after the codes' quarter-hourly look at time-limited facts, `days` after."""
    flows.codes_timed(NOW + timedelta(days=days))
    return code()


def test_under_v9_the_code_is_yellow_for_the_transfers_days_of_home_monitoring(city: dict[str, Any]) -> None:
    ride = discharged_case()
    assert ride.home_monitoring_until == TODAY + timedelta(days=7)
    assert code() == ("yellow", "home_monitoring")
    assert on_day(7) == ("yellow", "home_monitoring")
    assert on_day(8) == ("green", "")


def test_under_dec2022_a_discharged_case_is_green_at_once_with_no_home_monitoring(
    city: dict[str, Any],
) -> None:
    protocol_adopt(protocol="dec2022", since=TODAY, reason="10 measures", actor=SYSTEM, now=NOW)
    ride = discharged_case()
    assert ride.home_monitoring_until is None
    assert code() == ("green", "")


def test_changing_the_protocols_figure_changes_the_transfer_and_the_code_together(
    city: dict[str, Any],
) -> None:
    rules = transfer_policy.policy().discharge
    three = {**rules, "v9": replace(rules["v9"], home_monitoring_days=3)}
    with transfer_policy.changed(discharge=three):
        ride = discharged_case()
        assert ride.home_monitoring_until == TODAY + timedelta(days=3)
        assert on_day(3) == ("yellow", "home_monitoring")
        assert on_day(4) == ("green", "")


def test_the_codes_rules_may_not_keep_a_figure_of_their_own() -> None:
    with pytest.raises(codes_policy.RulesFileError, match="home_monitoring_days"):
        codes_policy.parse(
            'version = "x"\n[windows]\ndischarge_monitoring_days = 7\n'
            '[[rule]]\nid = "case"\nfact = "case"\ncolour = "red"\n'
            'words."zh-hans" = "红"\nwords.en = "red"\n'
        )
