"""The policy admin: saves through save_policy, deletes softly, and checks redeemability read-only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assignments.models import AssignmentConfiguration, LearnerContentAssignment
from conftest import requires_postgres
from customers.models import EnterpriseGroup
from policies import reasons
from policies.admin import SubsidyAccessPolicyAdmin
from policies.models import PolicyType, SubsidyAccessPolicy
from policies.services import redeem
from subsidies.models import Transaction
from testing.admin_checks import RedemptionWorld, assert_constant_queries, write_statements
from testing.factories import make_policy
from testing.locks import subsidy_row_locked

CHANGELIST = reverse("admin:policies_subsidyaccesspolicy_changelist")
ADD = reverse("admin:policies_subsidyaccesspolicy_add")
CHECK = reverse("admin:policies_subsidyaccesspolicy_check_redeemability")


def change_url(policy_pk) -> str:
    return reverse("admin:policies_subsidyaccesspolicy_change", args=[policy_pk])


def policy_form_data(demo, **overrides) -> dict:
    data = {
        "display_name": "Admin-made budget",
        "description": "",
        "policy_type": PolicyType.PER_LEARNER_ENROLLMENT,
        "customer": str(demo.CUSTOMER_UUID),
        "subsidy": str(demo.SUBSIDY_UUID),
        "catalog": str(demo.CATALOG_UUID),
        "access_method": "direct",
        "spend_limit_cents": "",
        "per_learner_enrollment_limit": "2",
        "per_learner_spend_limit_cents": "",
        "active": "on",
        "late_redemption_allowed_until_0": "",
        "late_redemption_allowed_until_1": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


# The list and the page


def test_policy_list_shows_the_three_demo_policies_with_their_spend(admin_client, demo):
    redeem(
        policy=SubsidyAccessPolicy.objects.get(pk=demo.SPEND_POLICY_UUID), lms_user_id=1001, content_key=demo.OPEN_RUN
    )

    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    rows = {p.display_name: p for p in response.context["cl"].result_list}
    assert set(rows) == {demo.SPEND_POLICY_NAME, demo.ENROLLMENT_POLICY_NAME, demo.ASSIGNED_POLICY_NAME}
    assert rows[demo.SPEND_POLICY_NAME].spent_total == 5_000
    assert rows[demo.ENROLLMENT_POLICY_NAME].spent_total == 0
    assert b"$50.00" in response.content
    assert b"Check redeemability" in response.content


def test_policy_list_filters_and_searches(admin_client, demo):
    assigned = admin_client.get(CHANGELIST, {"policy_type__exact": PolicyType.ASSIGNED})
    assert [p.display_name for p in assigned.context["cl"].result_list] == [demo.ASSIGNED_POLICY_NAME]

    found = admin_client.get(CHANGELIST, {"q": "enrollment-capped"})
    assert [p.display_name for p in found.context["cl"].result_list] == [demo.ENROLLMENT_POLICY_NAME]


def test_policy_list_queries_do_not_grow_with_rows(admin_client, db):
    world = RedemptionWorld()
    world.redeem(1)

    def grow():
        for _ in range(19):
            RedemptionWorld().redeem(1)

    assert_constant_queries(admin_client, CHANGELIST, grow, rows=20)


def test_policy_change_and_add_pages_render(admin_client, demo):
    page = admin_client.get(change_url(demo.ASSIGNED_POLICY_UUID))
    assert page.status_code == 200
    assert b"Allocate content" in page.content
    assert f"{CHECK}?policy={demo.ASSIGNED_POLICY_UUID}".encode() in page.content
    assert admin_client.get(ADD).status_code == 200
    assert (
        admin_client.get(
            reverse("admin:policies_subsidyaccesspolicy_history", args=[demo.SPEND_POLICY_UUID])
        ).status_code
        == 200
    )


# Saving through save_policy


def test_adding_a_policy_with_a_spend_limit_above_deposits_shows_the_field_error_and_writes_nothing(admin_client, demo):
    before = SubsidyAccessPolicy.all_objects.count()

    response = admin_client.post(ADD, policy_form_data(demo, spend_limit_cents=str(demo.DEPOSIT_CENTS)))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "spend_limit_cents" in errors
    assert "more than its deposits" in errors["spend_limit_cents"][0]
    assert SubsidyAccessPolicy.all_objects.count() == before


def test_adding_an_assigned_policy_goes_through_save_policy(admin_client, demo):
    configurations = AssignmentConfiguration.objects.count()
    data = policy_form_data(
        demo,
        policy_type=PolicyType.ASSIGNED,
        access_method="assigned",
        spend_limit_cents="0",
        per_learner_enrollment_limit="",
        display_name="Assigned via admin",
    )

    response = admin_client.post(ADD, data)

    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    policy = SubsidyAccessPolicy.objects.get(display_name="Assigned via admin")
    # save_policy gives an assigned policy its assignment configuration; a bare model save would not.
    assert policy.assignment_configuration is not None
    assert AssignmentConfiguration.objects.count() == configurations + 1
    assert policy.history.first().history_user.username == "root"


def test_a_policy_with_spend_cannot_be_deactivated(admin_client, demo):
    redeem(
        policy=SubsidyAccessPolicy.objects.get(pk=demo.SPEND_POLICY_UUID), lms_user_id=1001, content_key=demo.OPEN_RUN
    )
    page = admin_client.get(change_url(demo.SPEND_POLICY_UUID))
    data = {
        **page.context["adminform"].form.initial,
        "description": "",
        "late_redemption_allowed_until_0": "",
        "late_redemption_allowed_until_1": "",
        "catalog": str(demo.CATALOG_UUID),
    }
    data = {k: v for k, v in data.items() if v is not None and k not in ("active", "retired", "groups")}

    response = admin_client.post(change_url(demo.SPEND_POLICY_UUID), data)

    assert response.status_code == 200
    assert "active" in response.context["adminform"].form.errors
    assert SubsidyAccessPolicy.objects.get(pk=demo.SPEND_POLICY_UUID).active


def test_groups_are_saved_with_the_policy(admin_client, demo):
    group = EnterpriseGroup.objects.create(customer_id=demo.CUSTOMER_UUID, name="Engineering")
    other_customer_group = EnterpriseGroup.objects.create(customer=make_policy().customer, name="Someone else's group")
    page = admin_client.get(change_url(demo.ENROLLMENT_POLICY_UUID))
    choices = list(page.context["adminform"].form.fields["groups"].queryset)
    assert group in choices and other_customer_group not in choices

    data = {
        "display_name": demo.ENROLLMENT_POLICY_NAME,
        "description": "",
        "catalog": str(demo.CATALOG_UUID),
        "access_method": "direct",
        "spend_limit_cents": "300000",
        "per_learner_enrollment_limit": "3",
        "active": "on",
        "groups": [str(group.pk)],
    }
    response = admin_client.post(change_url(demo.ENROLLMENT_POLICY_UUID), data)

    assert response.status_code == 302
    assert list(SubsidyAccessPolicy.objects.get(pk=demo.ENROLLMENT_POLICY_UUID).groups.all()) == [group]


def test_reverting_a_policy_from_its_history_is_refused(admin_client, demo):
    policy = SubsidyAccessPolicy.objects.get(pk=demo.SPEND_POLICY_UUID)
    version = policy.history.first()
    url = reverse("admin:policies_subsidyaccesspolicy_simple_history", args=[policy.pk, version.history_id])

    assert admin_client.get(url).status_code == 200
    assert admin_client.post(url, {"display_name": "Reverted"}).status_code == 403


# Soft delete


def test_deleting_a_policy_is_soft(admin_client, demo):
    url = reverse("admin:policies_subsidyaccesspolicy_delete", args=[demo.ENROLLMENT_POLICY_UUID])
    confirm = admin_client.get(url)
    assert confirm.status_code == 200
    assert not confirm.context["protected"]

    response = admin_client.post(url, {"post": "yes"})

    assert response.status_code == 302
    policy = SubsidyAccessPolicy.all_objects.get(pk=demo.ENROLLMENT_POLICY_UUID)
    assert policy.is_deleted and policy.deleted_at is not None
    assert not SubsidyAccessPolicy.objects.filter(pk=policy.pk).exists()

    live = admin_client.get(CHANGELIST)
    assert policy not in live.context["cl"].result_list
    deleted = admin_client.get(CHANGELIST, {"deleted": "yes"})
    assert list(deleted.context["cl"].result_list) == [policy]
    assert admin_client.get(CHANGELIST, {"deleted": "all"}).context["cl"].result_count == 3

    page = admin_client.get(change_url(policy.pk))
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False  # a deleted policy is shown read-only


def test_bulk_delete_action_is_soft_too(admin_client, demo):
    pks = [str(demo.SPEND_POLICY_UUID), str(demo.ENROLLMENT_POLICY_UUID)]

    response = admin_client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": pks, "post": "yes"})

    assert response.status_code == 302
    assert SubsidyAccessPolicy.all_objects.filter(pk__in=pks, is_deleted=True).count() == 2


def test_autocomplete_offers_live_policies_only(demo):
    SubsidyAccessPolicy.objects.get(pk=demo.ENROLLMENT_POLICY_UUID)
    from policies.services import soft_delete_policy

    soft_delete_policy(SubsidyAccessPolicy.objects.get(pk=demo.ENROLLMENT_POLICY_UUID))
    from django.contrib import admin

    model_admin: SubsidyAccessPolicyAdmin = admin.site._registry[SubsidyAccessPolicy]
    request = RequestFactory().get(reverse("admin:autocomplete"))
    found, _ = model_admin.get_search_results(request, model_admin.get_queryset(request), "Demo")
    assert demo.ENROLLMENT_POLICY_NAME not in {p.display_name for p in found}
    assert demo.SPEND_POLICY_NAME in {p.display_name for p in found}


# Check redeemability


def verdicts(response) -> dict[str, object]:
    return {row.policy.display_name: row.verdict for row in response.context["rows"]}


def test_check_redeemability_explains_a_closed_run(admin_client, demo):
    response = admin_client.get(
        CHECK, {"customer": str(demo.CUSTOMER_UUID), "lms_user_id": "1002", "content_key": demo.CLOSED_RUN}
    )

    assert response.status_code == 200
    verdict = verdicts(response)[demo.SPEND_POLICY_NAME]
    assert not verdict.can_redeem
    assert verdict.reason == reasons.BEYOND_ENROLLMENT_DEADLINE
    assert b"beyond_enrollment_deadline" in response.content
    assert b"the enrollment deadline for this course has passed" in response.content
    assert b"$100.00" in response.content  # the run's price
    assert b"$10,000.00" in response.content  # the subsidy balance


def test_check_redeemability_explains_an_unlinked_learner(admin_client, demo):
    response = admin_client.get(
        CHECK,
        {"customer": str(demo.CUSTOMER_UUID), "lms_user_id": str(demo.UNLINKED_LEARNER), "content_key": demo.OPEN_RUN},
    )

    assert {v.reason for v in verdicts(response).values()} == {reasons.LEARNER_NOT_IN_ENTERPRISE}
    assert len(response.context["rows"]) == 3


def test_check_redeemability_of_one_policy_says_yes_with_the_numbers(admin_client, demo):
    response = admin_client.get(
        CHECK, {"policy": str(demo.SPEND_POLICY_UUID), "lms_user_id": "1002", "content_key": demo.OPEN_RUN}
    )

    [row] = response.context["rows"]
    assert row.verdict.can_redeem and row.verdict.reason is None
    assert (row.price, row.balance, row.spent, row.spend_available) == ("$50.00", "$10,000.00", "$0.00", "$5,000.00")


def test_check_redeemability_writes_nothing(admin_client, demo):
    admin_client.get(CHECK)  # warm up
    counts = (Transaction.objects.count(), LearnerContentAssignment.objects.count())
    with CaptureQueriesContext(connection) as queries:
        for learner, key in ((1002, demo.CLOSED_RUN), (1002, demo.OPEN_RUN), (2001, demo.OPEN_RUN), (1003, "nope")):
            response = admin_client.get(
                CHECK, {"customer": str(demo.CUSTOMER_UUID), "lms_user_id": str(learner), "content_key": key}
            )
            assert response.status_code == 200
        admin_client.get(
            CHECK, {"policy": str(demo.ASSIGNED_POLICY_UUID), "lms_user_id": "1001", "content_key": demo.OPEN_RUN}
        )

    assert write_statements(queries) == []
    assert (Transaction.objects.count(), LearnerContentAssignment.objects.count()) == counts


def test_check_redeemability_form_errors_are_shown_not_raised(admin_client, demo):
    response = admin_client.get(CHECK, {"lms_user_id": "abc", "content_key": demo.OPEN_RUN})

    assert response.status_code == 200
    form = response.context["form"]
    assert "lms_user_id" in form.errors
    assert "Choose a customer or a policy." in form.non_field_errors()
    assert response.context["rows"] is None


def test_check_redeemability_needs_its_permission(client, staff_user, demo):
    client.force_login(staff_user)
    query = {"customer": str(demo.CUSTOMER_UUID), "lms_user_id": "1002", "content_key": demo.CLOSED_RUN}

    assert client.get(CHECK, query).status_code == 403

    staff_user.user_permissions.add(Permission.objects.get(codename="check_redeemability"))
    client.force_login(staff_user)
    assert client.get(CHECK, query).status_code == 200


# Allocate content (assigned policies)


def allocate_url(policy_pk) -> str:
    return reverse("admin:policies_subsidyaccesspolicy_allocate", args=[policy_pk])


def test_allocate_creates_assignments_through_the_service(admin_client, demo):
    data = {
        "learner_emails": "learner1001@demo-university.example, learner1002@demo-university.example",
        "content_key": demo.OPEN_RUN,
        "content_price_cents": "5000",
    }

    response = admin_client.post(allocate_url(demo.ASSIGNED_POLICY_UUID), data)

    assert response.status_code == 302
    policy = SubsidyAccessPolicy.objects.get(pk=demo.ASSIGNED_POLICY_UUID)
    assert policy.assignment_configuration.assignments.filter(state="allocated").count() == 2


def test_allocate_beyond_the_spend_limit_is_refused_with_the_reason(admin_client, demo):
    data = {"learner_emails": "learner1001@demo-university.example", "content_key": demo.OPEN_RUN}

    response = admin_client.post(allocate_url(demo.ASSIGNED_POLICY_UUID), {**data, "content_price_cents": "300000"})

    assert response.status_code == 200
    assert reasons.POLICY_SPEND_LIMIT_REACHED in str(response.context["form"].non_field_errors())
    assert not LearnerContentAssignment.objects.exists()

    bad = admin_client.post(
        allocate_url(demo.ASSIGNED_POLICY_UUID),
        {"learner_emails": "not-an-email", "content_key": demo.OUTSIDE_RUN, "content_price_cents": "x"},
    )
    assert set(bad.context["form"].errors) == {"learner_emails", "content_price_cents"}


def test_allocate_is_only_for_assigned_policies(admin_client, demo):
    assert admin_client.get(allocate_url(demo.SPEND_POLICY_UUID)).status_code == 404


@requires_postgres
def test_a_save_refused_under_the_lock_becomes_a_message_not_a_500(transactional_db, client, superuser, demo, settings):
    """save_policy re-validates under the subsidy lock; a lock it cannot get in time is a message, no write."""
    settings.LOCK_WAIT_TIMEOUT_SECONDS = 0.2
    client.force_login(superuser)
    with subsidy_row_locked(demo.SUBSIDY_UUID):
        response = client.post(ADD, policy_form_data(demo))

    assert response.status_code == 302
    assert response.url == ADD
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("Nothing was saved" in m and "lock_wait_timeout" in m for m in shown), shown
    assert not SubsidyAccessPolicy.all_objects.filter(display_name="Admin-made budget").exists()
