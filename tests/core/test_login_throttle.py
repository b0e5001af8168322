"""No guessing at passwords: after too many wrong ones in a row an account is locked for a while,
even to the right password, on the console's login and the admin's alike (django-axes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

PASSWORD = "correct-horse-battery"  # make_user's


@pytest.fixture
def officer(make_user: Callable[..., User], settings: Any) -> User:
    settings.AXES_FAILURE_LIMIT = 5
    from bastion.city import services

    services.roles_sync()
    return make_user("command_centre")


def _login(client: Client, url: str, username: str, password: str) -> Any:
    return client.post(url, {"username": username, "password": password, "next": "/"})


@pytest.mark.django_db
def test_the_right_password_after_too_many_wrong_ones_is_refused_in_the_users_language(officer: User) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    for _ in range(4):
        assert _login(client, "/login/", officer.username, "guess").status_code == 200  # the form again
    assert _login(client, "/login/", officer.username, "guess").status_code == 429  # the fifth locks
    locked = _login(client, "/login/", officer.username, PASSWORD)
    assert locked.status_code == 429
    assert "该账号密码错误次数过多，已暂时锁定" in locked.content.decode()
    assert client.get("/").status_code == 302  # still not logged in: sent to the login page


@pytest.mark.django_db
def test_a_right_password_before_the_limit_logs_in_and_starts_the_count_again(officer: User) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    for _ in range(4):
        _login(client, "/login/", officer.username, "guess")
    assert _login(client, "/login/", officer.username, PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        _login(client, "/login/", officer.username, "guess")
    assert _login(client, "/login/", officer.username, PASSWORD).status_code == 302


@pytest.mark.django_db
def test_the_admin_login_is_locked_the_same_way(officer: User) -> None:
    officer.is_staff = officer.is_superuser = True
    officer.save(update_fields=["is_staff", "is_superuser"])
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    for _ in range(5):
        _login(client, "/admin/login/", officer.username, "guess")
    locked = _login(client, "/admin/login/", officer.username, PASSWORD)
    assert locked.status_code == 429
    assert "Too many wrong passwords for this account" in locked.content.decode()
    # Another account is not locked by this one's failures.
    assert _login(Client(), "/login/", "someone-else", "guess").status_code == 200
