"""Schemathesis over the whole published OpenAPI document, against a live server on loopback, as
the command centre and as a volunteer: whatever the document allows a client to send, the API
answers without a server error and in the shape the document promises.

Bounded so that it stays a unit test: a few derandomized examples per operation (the same ones
every run), no shrinking, no example database. The plain tests of each defect found this way
live beside the code they hold (tests/core/test_inputs.py and the contexts' test_api_input.py).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import requests
import schemathesis
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from bastion import flows
from bastion.city.models import Resident
from bastion.core.scopes import SYSTEM
from bastion.testing import services as testing
from bastion.zones.models import Zone
from tests.conftest import NOW

# Per operation and role: some 60 operations, two roles, about 500 requests. A deeper search,
# by hand: BASTION_API_EXAMPLES=200 pytest tests/core/test_api_properties.py
EXAMPLES = int(os.environ.get("BASTION_API_EXAMPLES", "4"))
PERSONAS: dict[str, dict[str, str]] = {"command_centre": {}, "volunteer": {"community": "M1"}}


def _login(user: User) -> tuple[dict[str, str], dict[str, str]]:
    """A browser's session for `user`: its cookies (the session, a CSRF token) and headers."""
    client = Client()
    client.force_login(user)
    token = secrets.token_hex(16)  # an unmasked CSRF secret, as the cookie holds it
    cookies = {"sessionid": client.cookies["sessionid"].value, "csrftoken": token}
    return cookies, {"X-CSRFToken": token, "Accept-Language": "zh-hans", "Connection": "close"}


def _real_ids(city: dict[str, Any]) -> dict[str, Any]:
    """Path parameters that name things that exist (a case, its zone, an open round, M1's
    places), so that generated bodies reach the services rather than stop at a 404."""
    resident = Resident.objects.get(household__address="C1/2/1/301", number=1)
    case = flows.case_reported(resident_id=resident.pk, kind="confirmed", actor=SYSTEM, now=NOW).case
    round_ = testing.round_open(
        code="R1", starts_at=NOW, deadline=NOW + timedelta(days=1), actor=SYSTEM, now=NOW
    )
    household = resident.household
    building = household.unit.building
    return {
        "district_id": city["D1"].pk,
        "community_id": city["M1"].pk,
        "compound_id": building.compound_id,
        "building_id": building.pk,
        "household_id": household.pk,
        "resident_id": resident.pk,
        "case_id": case.pk,
        "zone_id": Zone.objects.get(level="high").pk,
        "code": round_.code,
    }


@pytest.mark.parametrize("role", list(PERSONAS))
def test_every_operation_answers_generated_requests_without_a_server_error_or_a_broken_shape(
    transactional_db: None,
    live_server: Any,
    city: dict[str, Any],
    make_user: Callable[..., User],
    role: str,
) -> None:
    real = _real_ids(city)
    user = make_user(role, **{place: city[code] for place, code in PERSONAS[role].items()})
    # The document's security scheme is the session cookie: schemathesis would make one up for
    # every request, so the real one is given on each call.
    cookies, headers = _login(user)
    session = requests.Session()
    base = str(live_server.url)
    schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50

    for operation in operations:
        known = {p.name: real[p.name] for p in operation.path_parameters if p.name in real}
        # Requests the document allows, and requests it does not (wrong types, missing fields);
        # on things that exist, and on made-up ones.
        strategies = [operation.as_strategy(), operation.as_strategy(GenerationMode.NEGATIVE)]
        if known:
            strategies.append(operation.as_strategy(path_parameters=known))

        @given(case=st.one_of(strategies))
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def answers(case: Any) -> None:
            response = case.call(base_url=base, session=session, headers=headers, cookies=cookies)
            case.validate_response(
                response,
                checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
                headers=headers,
            )

        try:
            answers()
        except (Exception, BaseExceptionGroup) as exc:  # every operation's failure, not only the first
            failures.append(f"{operation.label}: {str(exc)[:1500]}")

    assert not failures, "\n\n".join(failures)
