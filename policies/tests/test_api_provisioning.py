"""Policies CRUD (`/api/v1/subsidy-access-policies/`, soft delete) and allocation through HTTP."""

from __future__ import annotations

import pytest

from assignments.models import LearnerContentAssignment
from learner_credit.tests.api_helpers import (
    assert_error,
    customer_admin_client,
    learner_client,
    staff_client,
    superuser_client,
)
from policies.models import PolicyType, SubsidyAccessPolicy
from testing.factories import CatalogFactory, CustomerFactory, GroupFactory, make_scenario, make_subsidy

pytestmark = pytest.mark.django_db

POLICIES = "/api/v1/subsidy-access-policies/"


def _policy_body(customer, catalog, subsidy, **fields) -> dict:
    return {
        "policy_type": PolicyType.PER_LEARNER_ENROLLMENT,
        "enterprise_customer_uuid": str(customer.uuid),
        "display_name": "Enrollment cap",
        "catalog_uuid": str(catalog.uuid),
        "subsidy_uuid": str(subsidy.uuid),
        "spend_limit_cents": 50_000,
        "per_learner_enrollment_limit": 2,
        **fields,
    }


def test_staff_create_read_update_and_soft_delete_a_policy():
    customer = CustomerFactory()
    catalog, subsidy = CatalogFactory(customer=customer), make_subsidy(customer=customer)
    group = GroupFactory(customer=customer)
    api = staff_client(
        "policies.add_subsidyaccesspolicy",
        "policies.view_subsidyaccesspolicy",
        "policies.change_subsidyaccesspolicy",
        "policies.delete_subsidyaccesspolicy",
    )

    created = api.post(POLICIES, _policy_body(customer, catalog, subsidy, group_uuids=[str(group.uuid)]))
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["priority"], body["group_uuids"], body["access_method"]) == (1, [str(group.uuid)], "direct")
    url = f"{POLICIES}{body['uuid']}/"

    replaced = api.put(url, _policy_body(customer, catalog, subsidy, display_name="Replaced", spend_limit_cents=None))
    assert replaced.status_code == 200, replaced.content
    assert (replaced.json()["display_name"], replaced.json()["spend_limit_cents"]) == ("Replaced", None)
    assert api.get(url).json()["group_uuids"] == [str(group.uuid)]  # PUT without groups keeps them
    changed = api.patch(url, {"display_name": "Renamed", "group_uuids": []})
    assert changed.status_code == 200, changed.content
    assert (changed.json()["display_name"], changed.json()["group_uuids"]) == ("Renamed", [])
    assert api.get(POLICIES, {"enterprise_customer_uuid": str(customer.uuid)}).json()["count"] == 1

    assert api.delete(url).status_code == 204
    assert SubsidyAccessPolicy.all_objects.get(pk=body["uuid"]).is_deleted
    assert_error(api.get(url), 404, "policy_not_found")
    assert api.get(POLICIES).json()["count"] == 0


def test_an_assigned_policy_gets_its_assignment_configuration():
    customer = CustomerFactory()
    body = _policy_body(
        customer,
        CatalogFactory(customer=customer),
        make_subsidy(customer=customer),
        policy_type=PolicyType.ASSIGNED,
        access_method="assigned",
        per_learner_enrollment_limit=None,
    )
    created = superuser_client().post(POLICIES, body).json()
    assert created["assignment_configuration_uuid"] and created["priority"] == 0


def test_policy_rule_violations_are_400s_named_with_this_apis_field_names():
    customer, other = CustomerFactory(), CustomerFactory()
    subsidy = make_subsidy(customer=customer, deposit_cents=10_000)
    body = _policy_body(customer, CatalogFactory(customer=other), subsidy, spend_limit_cents=20_000)
    errors = assert_error(
        superuser_client().post(POLICIES, body), 400, "invalid_policy", "catalog_uuid", "spend_limit_cents"
    )["field_errors"]
    assert "deposits" in errors["spend_limit_cents"][0]
    assert "another customer" in errors["catalog_uuid"][0]
    assert not SubsidyAccessPolicy.all_objects.exists()


def test_policy_input_errors_name_each_field():
    body = {"policy_type": "Generous", "spend_limit_cents": -1, "per_learner_enrollment_limit": 10**12}
    assert_error(
        superuser_client().post(POLICIES, body),
        400,
        "invalid_input",
        "policy_type",
        "spend_limit_cents",
        "per_learner_enrollment_limit",
        "enterprise_customer_uuid",
        "catalog_uuid",
        "subsidy_uuid",
    )


def test_a_policy_type_and_customer_cannot_change():
    s = make_scenario()
    url = f"{POLICIES}{s.policy.uuid}/"
    api = superuser_client()
    changed_type = {"policy_type": PolicyType.PER_LEARNER_ENROLLMENT}
    assert_error(api.patch(url, changed_type), 400, "invalid_input", "policy_type")
    other = CustomerFactory()
    assert_error(
        api.patch(url, {"enterprise_customer_uuid": str(other.uuid)}), 400, "invalid_input", "enterprise_customer_uuid"
    )
    assert_error(api.patch(url, {"group_uuids": [str(GroupFactory().uuid)]}), 400, "invalid_input", "group_uuids")


def test_a_policy_with_spend_cannot_be_deactivated():
    from policies.services import redeem

    s = make_scenario()
    redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key)
    assert_error(
        superuser_client().patch(f"{POLICIES}{s.policy.uuid}/", {"active": False}), 400, "invalid_policy", "active"
    )


def test_customer_admins_read_their_policies_and_learners_none():
    mine, theirs = make_scenario(), make_scenario()
    admin = customer_admin_client(mine.customer)
    assert [p["uuid"] for p in admin.get(POLICIES).json()["results"]] == [str(mine.policy.uuid)]
    assert_error(admin.get(f"{POLICIES}{theirs.policy.uuid}/"), 403, "permission_denied")
    assert_error(admin.delete(f"{POLICIES}{mine.policy.uuid}/"), 403, "permission_denied")
    assert learner_client(mine.learner.lms_user_id).get(POLICIES).json()["results"] == []


# --- allocation --------------------------------------------------------------------------------------------


def _allocate(api, policy, **body):
    return api.post(f"/api/v1/policy-allocation/{policy.uuid}/allocate/", body)


def test_allocation_creates_then_reports_no_change_202():
    s = make_scenario(policy_type=PolicyType.ASSIGNED)
    api = customer_admin_client(s.customer)
    body = {"learner_emails": [s.learner.email, "new@example.com"], "content_key": s.run.key, "content_price_cents": 5}

    first, again = _allocate(api, s.policy, **body), _allocate(api, s.policy, **body)

    assert (first.status_code, again.status_code) == (202, 202), first.content
    assert len(first.json()["created"]) == 2 and first.json()["no_change"] == []
    assert len(again.json()["no_change"]) == 2
    assert first.json()["created"][0]["state"] == "allocated"
    assert LearnerContentAssignment.objects.count() == 2


def test_allocation_errors_400_422_403():
    s = make_scenario(policy_type=PolicyType.ASSIGNED, spend_limit_cents=10_000)
    api = superuser_client()
    assert_error(
        _allocate(api, s.policy, learner_emails=["not-an-email"], content_key=s.run.key, content_price_cents=-1),
        400,
        "invalid_input",
        "learner_emails[0]",
        "content_price_cents",
    )
    assert_error(
        _allocate(api, s.policy, learner_emails=["a@x.com"], content_key="course-v1:No+Such", content_price_cents=1),
        400,
        "invalid_policy",
        "content_key",
    )
    body = {"learner_emails": ["a@x.com", "b@x.com"], "content_key": s.run.key, "content_price_cents": 6_000}
    refused = _allocate(api, s.policy, **body)
    assert refused.status_code == 422 and refused.json()["reason"] == "policy_spend_limit_reached"
    direct = make_scenario()
    assert_error(
        _allocate(api, direct.policy, learner_emails=["a@x.com"], content_key=direct.run.key, content_price_cents=1),
        400,
        "invalid_policy",
        "policy_uuid",
    )
    assert_error(_allocate(learner_client(1), s.policy, **body), 403, "permission_denied")
