from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.utils import translation

from bastion.core import audit, clock, worker
from bastion.core.errors import InvalidInput, NotFound
from bastion.core.masking import id_number_for, mask_id_number, mask_phone, phone_for
from bastion.core.models import AuditEntry, WorkerHeartbeat
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import SYSTEM, Actor

AT = datetime(2022, 9, 1, 1, 0, tzinfo=UTC)


def test_a_simulated_clock_moves_only_forward() -> None:
    sim = clock.SimulatedClock(AT)
    with clock.use(sim):
        sim.advance(timedelta(hours=20))
        assert clock.now() == AT + timedelta(hours=20)
        # 21:00 UTC on 09-01 is already 09-02 in Chengdu: protocol days are local days.
        assert clock.today().isoformat() == "2022-09-02"
        with pytest.raises(ValueError):
            sim.advance_to(AT)


def test_a_clock_refuses_naive_times() -> None:
    with pytest.raises(ValueError):
        clock.FrozenClock(datetime(2022, 9, 1))  # noqa: DTZ001


@pytest.mark.django_db
def test_an_audit_row_lands_with_its_change_or_not_at_all() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.record(action="city.test.changed", object_type="x", object_id=1, actor=SYSTEM, now=AT)
        raise RuntimeError("the change failed")
    assert not AuditEntry.objects.exists()
    with transaction.atomic():
        audit.record(
            action="city.test.changed",
            object_type="x",
            object_id=1,
            before={"a": 1},
            after={"a": 2},
            reason="because",
            actor=SYSTEM,
            now=AT,
        )
    entry = audit.trail(object_type="x", object_id=1).get()
    assert (entry.before, entry.after, entry.reason, entry.actor_label) == (
        {"a": 1},
        {"a": 2},
        "because",
        "system",
    )


@pytest.mark.django_db(transaction=True)
def test_audit_refuses_to_write_outside_a_transaction() -> None:
    with pytest.raises(RuntimeError, match="atomic"):
        audit.record(action="x.y.z", object_type="x", object_id=1, actor=SYSTEM, now=AT)


def test_masking_hides_the_birth_date_and_the_middle_of_a_phone() -> None:
    assert mask_id_number("51010419800101001X") == "5101************1X"
    assert mask_phone("13812345678") == "138****5678"
    officer = Actor(user_id=1, role="district_officer", level=ScopeLevel.DISTRICT, district_id=1)
    worker_ = Actor(
        user_id=2,
        role="community_worker",
        level=ScopeLevel.COMMUNITY,
        permissions=frozenset({"view_personal_data"}),
    )
    assert id_number_for(officer, "51010419800101001X") == "5101************1X"
    assert id_number_for(worker_, "51010419800101001X") == "51010419800101001X"
    assert phone_for(officer, "") == ""


def test_domain_errors_speak_the_users_language() -> None:
    with translation.override("en"):
        assert NotFound().as_dict() == {"code": "not_found", "message": "Not found."}
    with translation.override("zh-hans"):
        assert NotFound().as_dict()["message"] != "Not found."
    error = InvalidInput(details={"key": "x"})
    assert error.status == 422 and error.as_dict()["details"] == {"key": "x"}


@pytest.mark.django_db
def test_the_worker_runs_due_timers_and_survives_a_failing_one() -> None:
    calls: list[str] = []

    def broken(now: datetime) -> None:
        raise ValueError("boom")

    timers = (
        worker.Timer("test-broken", timedelta(hours=1), broken),
        worker.Timer("test-ok", timedelta(hours=1), lambda now: calls.append("ok")),
    )
    worker.reset()
    assert worker.tick(timers=timers, now=AT) == ["test-ok"]
    assert worker.tick(timers=timers, now=AT + timedelta(minutes=10)) == []  # not due again yet
    assert worker.tick(timers=timers, now=AT + timedelta(hours=1)) == ["test-ok"]
    beat = WorkerHeartbeat.objects.get(name="worker")
    assert beat.ticks == 3
    assert "test-broken: boom" in beat.last_error
    assert calls == ["ok", "ok"]


def _settings_with(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "BASTION_DEV", "DEBUG")}
    clean.update(env)
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='bastion.settings'; django.setup();"
        "from django.conf import settings as s;"
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.ALLOWED_HOSTS)"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, check=False
    )


def test_production_settings_are_safe_by_default() -> None:
    done = _settings_with(SECRET_KEY="x" * 50)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False True True []"


def test_production_refuses_to_start_without_a_secret_key() -> None:
    done = _settings_with()
    assert done.returncode != 0
    assert "SECRET_KEY must be set" in done.stderr


def test_a_bad_setting_stops_the_start_naming_it() -> None:
    done = _settings_with(SECRET_KEY="x" * 50, BASTION_TIMEZONE="Nowhere/Else")
    assert done.returncode != 0
    assert "BASTION_TIMEZONE" in done.stderr


@pytest.mark.django_db
def test_a_daily_timer_runs_once_per_day_of_the_city() -> None:
    calls: list[datetime] = []
    timers = (worker.Timer("test-daily", None, calls.append),)
    worker.reset()
    morning = datetime(2022, 9, 1, 0, 30, tzinfo=UTC)  # 08:30 in Chengdu
    worker.tick(timers=timers, now=morning)
    worker.tick(timers=timers, now=morning + timedelta(hours=15))  # 23:30 the same day in Chengdu
    worker.tick(timers=timers, now=morning + timedelta(hours=16))  # 00:30 the next day
    assert calls == [morning, morning + timedelta(hours=16)]


def test_production_keeps_browsers_on_https_for_a_year() -> None:
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='bastion.settings'; django.setup();"
        "from django.conf import settings as s; print(s.SECURE_HSTS_SECONDS)"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "BASTION_DEV", "DEBUG")}
    shown = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "SECRET_KEY": "x" * 50},
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.stdout.strip() == str(365 * 24 * 3600)
