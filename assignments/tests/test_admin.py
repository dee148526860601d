"""The assignments admin: configurations, and assignments with their timeline, read-only but for "Cancel"."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from assignments.models import AssignmentState, LearnerContentAssignment
from policies.models import SubsidyAccessPolicy
from policies.services import allocate, redeem
from testing.admin_checks import assert_constant_queries
from testing.factories import CatalogFactory, CourseRunFactory, LearnerFactory, make_policy

CONFIGURATIONS = reverse("admin:assignments_assignmentconfiguration_changelist")
ASSIGNMENTS = reverse("admin:assignments_learnercontentassignment_changelist")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def allocated(demo):
    """Learners 1001 and 1002 allocated the open run under the demo assigned policy; 1001 has redeemed it."""
    policy = SubsidyAccessPolicy.objects.get(pk=demo.ASSIGNED_POLICY_UUID)
    emails = ["learner1001@demo-university.example", "learner1002@demo-university.example"]
    allocate(policy=policy, learner_emails=emails, content_key=demo.OPEN_RUN, content_price_cents=5_000)
    redeem(policy=policy, lms_user_id=1001, content_key=demo.OPEN_RUN)
    return policy


def by_email(email_prefix: str) -> LearnerContentAssignment:
    return LearnerContentAssignment.objects.get(learner_email__startswith=email_prefix)


def test_assignment_list_filters_by_state_and_searches(admin_client, allocated):
    listing = admin_client.get(ASSIGNMENTS)
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 2

    accepted = admin_client.get(ASSIGNMENTS, {"state__exact": AssignmentState.ACCEPTED})
    assert [a.lms_user_id for a in accepted.context["cl"].result_list] == [1001]
    allocated_only = admin_client.get(ASSIGNMENTS, {"state__exact": AssignmentState.ALLOCATED})
    assert [a.learner_email for a in allocated_only.context["cl"].result_list] == [
        "learner1002@demo-university.example"
    ]
    assert admin_client.get(ASSIGNMENTS, {"q": "learner1002"}).context["cl"].result_count == 1
    assert admin_client.get(ASSIGNMENTS, {"q": "no-such-learner"}).context["cl"].result_count == 0


def test_assignment_page_shows_its_timeline_read_only(admin_client, allocated):
    redeemed = by_email("learner1001")
    page = admin_client.get(reverse("admin:assignments_learnercontentassignment_change", args=[redeemed.pk]))

    assert page.status_code == 200
    [inline] = page.context["inline_admin_formsets"]
    assert [form.original.action_type for form in inline] == ["allocated", "redeemed"]
    assert not inline.has_add_permission and not inline.has_delete_permission
    assert reverse("admin:subsidies_transaction_change", args=[redeemed.transaction_uuid]).encode() in page.content
    assert admin_client.get(reverse("admin:assignments_learnercontentassignment_add")).status_code == 403


def test_cancel_action_cancels_allocated_assignments_and_leaves_the_rest(admin_client, allocated):
    redeemed, waiting = by_email("learner1001"), by_email("learner1002")

    response = admin_client.post(
        ASSIGNMENTS, {"action": "cancel_allocated", "_selected_action": [str(redeemed.pk), str(waiting.pk)]}
    )

    assert response.status_code == 302
    redeemed.refresh_from_db()
    waiting.refresh_from_db()
    assert (redeemed.state, waiting.state) == (AssignmentState.ACCEPTED, AssignmentState.CANCELLED)
    assert waiting.actions.last().action_type == "cancelled"
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert "Cancelled 1 assignment(s)." in shown
    assert any("Left 1 assignment(s) alone" in m for m in shown)


def test_cancelling_needs_change_permission(client, staff_user, allocated):
    staff_user.user_permissions.add(Permission.objects.get(codename="view_learnercontentassignment"))
    client.force_login(staff_user)
    waiting = by_email("learner1002")

    client.post(ASSIGNMENTS, {"action": "cancel_allocated", "_selected_action": [str(waiting.pk)]})

    waiting.refresh_from_db()
    assert waiting.state == AssignmentState.ALLOCATED


def test_configuration_pages_link_policy_and_assignments(admin_client, allocated):
    listing = admin_client.get(CONFIGURATIONS)
    assert listing.status_code == 200
    [row] = [c for c in listing.context["cl"].result_list if c.pk == allocated.assignment_configuration_id]
    assert (row.assignments_total, row.allocated_total) == (2, 1)

    page = admin_client.get(
        reverse("admin:assignments_assignmentconfiguration_change", args=[allocated.assignment_configuration_id])
    )
    assert page.status_code == 200
    assert reverse("admin:policies_subsidyaccesspolicy_change", args=[allocated.pk]).encode() in page.content
    assert f"?assignment_configuration__uuid__exact={allocated.assignment_configuration_id}".encode() in page.content


def _assigned_policy_with_one_assignment():
    run = CourseRunFactory()
    learner = LearnerFactory()
    catalog = CatalogFactory(customer=learner.customer, runs=[run])
    policy = make_policy(policy_type="AssignedLearnerCreditAccessPolicy", customer=learner.customer, catalog=catalog)
    allocate(policy=policy, learner_emails=[learner.email], content_key=run.key, content_price_cents=1_000)


@pytest.mark.parametrize("url", [ASSIGNMENTS, CONFIGURATIONS])
def test_assignment_lists_cost_the_same_queries_for_1_or_20_rows(admin_client, db, url):
    _assigned_policy_with_one_assignment()

    def grow():
        for _ in range(19):
            _assigned_policy_with_one_assignment()

    assert_constant_queries(admin_client, url, grow, rows=20)
