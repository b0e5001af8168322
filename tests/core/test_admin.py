"""The Django admin: master data edits are audited, accounts are revoked (not granted) there."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from bastion.city.models import Account
from bastion.core.models import AuditEntry
from tests.factories import CommunityFactory, CompoundFactory, ResidentFactory


@pytest.fixture
def admin_client(client: Client, db: None) -> Client:
    client.force_login(User.objects.create_superuser("root", password="x-very-long-password-1"))
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def test_an_admin_edit_is_audited_with_before_and_after(admin_client: Client) -> None:
    compound = CompoundFactory(code="C1", name="C1")
    url = f"/admin/city/compound/{compound.pk}/change/"
    form = admin_client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data.update(shared_facilities="on", name="锦华苑")
    data = {k: ("" if v is None else v) for k, v in data.items() if v is not False}
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content[:500]
    entry = AuditEntry.objects.get(action="admin.compound.changed")
    assert entry.before == {"name": "C1", "shared_facilities": False}
    assert entry.after == {"name": "锦华苑", "shared_facilities": True}
    assert entry.actor_label == "admin:root"


@pytest.mark.parametrize("name", ["锦华\x00苑", "锦华\u202e苑", "锦\x1b华苑"])
def test_an_admin_edit_with_control_characters_is_refused_and_nothing_changes(
    admin_client: Client, name: str
) -> None:
    compound = CompoundFactory(code="C1", name="C1")
    url = f"/admin/city/compound/{compound.pk}/change/"
    form = admin_client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data.update(name=name)
    data = {k: ("" if v is None else v) for k, v in data.items() if v is not False}
    response = admin_client.post(url, data)
    assert response.status_code == 200
    [said] = response.context["adminform"].form.errors["name"]  # Django's own words for a NUL
    assert said in ("The text holds control characters.", "Null characters are not allowed.")
    compound.refresh_from_db()
    assert compound.name == "C1"
    assert not AuditEntry.objects.filter(action="admin.compound.changed").exists()


def test_a_compound_cannot_be_moved_to_another_grid_in_the_admin(admin_client: Client) -> None:
    compound = CompoundFactory()
    form = admin_client.get(f"/admin/city/compound/{compound.pk}/change/").context["adminform"].form
    assert "grid" not in form.fields
    assert admin_client.get("/admin/city/compound/add/").status_code == 403


def test_revoking_accounts_in_bulk_is_audited(admin_client: Client, make_user: Callable[..., User]) -> None:
    community = CommunityFactory()
    one = make_user("community_worker", community=community)
    two = make_user("district_officer", district=community.district)
    ids = list(Account.objects.filter(user__in=[one, two]).values_list("pk", flat=True))
    response = admin_client.post(
        "/admin/city/account/",
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    )
    assert response.status_code == 302
    assert not Account.objects.filter(pk__in=ids).exists()
    assert AuditEntry.objects.filter(action="admin.account.deleted").count() == 2
    assert admin_client.get("/admin/city/account/add/").status_code == 403


def test_a_role_cannot_be_given_a_scope_wider_than_its_own(make_user: Callable[..., User]) -> None:
    from bastion.core.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        make_user("resident", scope="city")
    assert caught.value.code == "scope_too_wide"
    assert not User.objects.filter(username__startswith="resident").exists()


def test_permissions_follow_the_groups_an_administrator_edits(
    client: Client, make_user: Callable[..., User]
) -> None:
    from django.contrib.auth.models import Group, Permission

    first = ResidentFactory()
    worker = make_user("community_worker", community=first.community)
    client.force_login(worker)
    url = f"/api/v1/city/residents/{first.pk}"
    assert client.get(url).json()["id_number"] == first.id_number
    Group.objects.get(name="community_worker").permissions.remove(
        Permission.objects.get(codename="view_personal_data")
    )
    assert client.get(url).json()["id_number"] == first.id_number[:4] + "*" * 12 + first.id_number[-2:]
