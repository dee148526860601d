"""The "Forced redemption operators" group (a migration makes it) holds exactly what the staff tool needs."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from demo import data as demo_data
from learner_credit.tests.api_helpers import client_for

pytestmark = pytest.mark.django_db

GROUP = "Forced redemption operators"


@pytest.fixture
def operator(db):
    user = get_user_model().objects.create_user("support-op", "op@example.com", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name=GROUP))
    return user


def test_the_group_holds_the_tools_permissions_and_no_more():
    perms = {f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get(name=GROUP).permissions.all()}
    assert {"forced_redemptions.force_redeem", "forced_redemptions.add_forcedpolicyredemption"} <= perms
    assert {"policies.view_subsidyaccesspolicy", "policies.check_redeemability", "subsidies.view_transaction"} <= perms
    assert not {p for p in perms if p.split(".")[1].startswith(("delete_", "add_")) and "forced" not in p}
    assert "subsidies.add_transaction" not in perms and "forced_redemptions.delete_forcedpolicyredemption" not in perms


def test_a_member_forces_and_reverses_through_the_api(demo, operator):
    api = client_for(operator)
    body = {
        "subsidy_access_policy": str(demo_data.SPEND_POLICY_UUID),
        "lms_user_id": 1003,
        "course_run_key": demo_data.CLOSED_RUN,
        "reason": "Ticket 501: missed the deadline",
    }
    created = api.post("/api/v1/forced-redemptions/", body, format="json")
    assert created.status_code == 201 and created.json()["state"] == "redeemed", created.content
    reversed_ = api.post(f"/api/v1/forced-redemptions/{created.json()['uuid']}/reverse/", {"reason": "wrong run"})
    assert reversed_.status_code == 200 and reversed_.json()["state"] == "reversed"


def test_a_member_uses_the_admin_pages_and_the_policy_lookup(demo, operator):
    browser = Client()
    browser.force_login(operator)
    base = "/admin/forced_redemptions/forcedpolicyredemption/"

    assert browser.get(base).status_code == 200
    assert browser.get(f"{base}add/").status_code == 200
    lookup = browser.get(
        "/admin/autocomplete/",
        {
            "app_label": "forced_redemptions",
            "model_name": "forcedpolicyredemption",
            "field_name": "subsidy_access_policy",
        },
    )
    assert lookup.status_code == 200 and lookup.json()["results"]
    assert browser.get(f"/admin/subsidies/subsidy/{demo_data.SUBSIDY_UUID}/change/").status_code == 200  # to read
    assert browser.post(f"/admin/subsidies/subsidy/{demo_data.SUBSIDY_UUID}/change/", {}).status_code == 403
