"""A missing permission gets a page in the admin's style that names it; reading is enough to check."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from forced_redemptions.tests.helpers import check_url, form_data, spend_policy
from learner_credit.tests.api_helpers import make_user

pytestmark = pytest.mark.django_db

ADD = "/admin/forced_redemptions/forcedpolicyredemption/add/"


@pytest.fixture
def reader(db):
    user = make_user("reader", perms=("forced_redemptions.view_forcedpolicyredemption",), is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_subsidyaccesspolicy"))
    browser = Client()
    browser.force_login(user)
    return browser


def test_adding_without_the_force_permission_names_it_on_an_admin_page(demo, reader):
    response = reader.get(ADD)

    assert response.status_code == 403
    page = response.content.decode()
    assert (
        "Permission needed" in page and "forced_redemptions.force_redeem" in page and "Can force a redemption" in page
    )
    assert 'id="site-name"' in page  # the admin's header: its own style, not a bare "403 Forbidden"
    assert "Forced redemption operators" in page


def test_a_reader_may_check_redeemability_which_writes_nothing(demo, reader):
    response = reader.post(check_url(), form_data(policy=spend_policy(), reason=""))

    assert response.status_code == 200 and "Redeemable" in response.content.decode()


def test_outside_the_admin_a_403_stays_django_s(client):
    from django.core.exceptions import PermissionDenied
    from django.test import RequestFactory

    from common.admin import permission_denied

    response = permission_denied(RequestFactory().get("/somewhere/"), PermissionDenied("x"))
    assert response.status_code == 403 and b"Permission needed" not in response.content
