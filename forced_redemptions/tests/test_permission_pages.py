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


def test_the_list_shows_state_first_and_filters_and_finds_by_error_and_ticket(demo, admin_client):
    from forced_redemptions.tests.helpers import UNKNOWN_RUN, changelist_url, force

    ok = force(reason="Ticket SUP-4711: missed the deadline")
    bad = force(lms_user_id=1003, run_key=UNKNOWN_RUN, reason="Ticket SUP-4712: wrong run")

    listing = admin_client.get(changelist_url())
    columns = [c for c in listing.context["cl"].list_display if c != "action_checkbox"]
    assert columns[:2] == ["state_label", "uuid"] and "error_reason" in columns
    by_error = admin_client.get(changelist_url(), {"error_reason": "content_not_found"})
    assert [r.pk for r in by_error.context["cl"].result_list] == [bad.pk]
    by_ticket = admin_client.get(changelist_url(), {"q": "SUP-4711"})
    assert [r.pk for r in by_ticket.context["cl"].result_list] == [ok.pk]
