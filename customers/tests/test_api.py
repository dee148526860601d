"""Customers, learner links and groups through HTTP: staff provisioning, customer admins, and refusals."""

from __future__ import annotations

import pytest

from customers.models import EnterpriseCustomer, EnterpriseCustomerUser
from learner_credit.tests.api_helpers import (
    assert_error,
    customer_admin_client,
    learner_client,
    staff_client,
    superuser_client,
)
from testing.factories import CatalogFactory, CustomerFactory, GroupFactory, LearnerFactory, make_policy

pytestmark = pytest.mark.django_db


# --- customers -----------------------------------------------------------------------------------------------


def test_staff_with_the_permission_creates_reads_changes_and_deletes_a_customer():
    api = staff_client(
        "customers.add_enterprisecustomer",
        "customers.view_enterprisecustomer",
        "customers.change_enterprisecustomer",
        "customers.delete_enterprisecustomer",
    )
    created = api.post("/api/v1/customers/", {"name": "Acme", "slug": "acme", "contact_email": "ops@acme.example"})
    assert created.status_code == 201, created.content
    url = f"/api/v1/customers/{created.json()['uuid']}/"

    assert api.get("/api/v1/customers/").json()["results"][0]["slug"] == "acme"
    assert api.patch(url, {"data_sharing_consent_required": True}).json()["data_sharing_consent_required"] is True
    assert api.put(url, {"name": "Acme Corp", "slug": "acme"}).json()["name"] == "Acme Corp"
    assert api.delete(url).status_code == 204
    assert not EnterpriseCustomer.objects.exists()


def test_bad_customer_input_is_a_400_naming_each_field():
    api = superuser_client()
    CustomerFactory(slug="taken")
    body = assert_error(
        api.post("/api/v1/customers/", {"name": "", "slug": "taken", "contact_email": "nope", "colour": "red"}),
        400,
        "invalid_input",
        "colour",
    )
    assert body["field_errors"] == {"colour": ["Unknown field."]}  # unknown fields are refused before the rest
    body = assert_error(
        api.post("/api/v1/customers/", {"name": "", "slug": "taken", "contact_email": "nope"}),
        400,
        "invalid_input",
        "name",
        "slug",
        "contact_email",
    )


def test_malformed_json_and_wrong_types_are_400s():
    api = superuser_client()
    assert_error(api.post("/api/v1/customers/", "{not json", content_type="application/json"), 400, "malformed_request")
    assert_error(api.post("/api/v1/customers/", ["a", "list"]), 400, "invalid_input", "non_field_errors")
    assert_error(api.post("/api/v1/customers/", {"name": 12, "slug": {"x": 1}}), 400, "invalid_input", "slug")


def test_a_customer_others_refer_to_cannot_be_deleted_409():
    customer = CatalogFactory().customer
    body = assert_error(superuser_client().delete(f"/api/v1/customers/{customer.uuid}/"), 409, "conflict")
    assert "catalogs" in body["detail"]
    assert EnterpriseCustomer.objects.filter(pk=customer.pk).exists()


def test_unknown_or_malformed_customer_ids_are_json_404s():
    api = superuser_client()
    assert_error(api.get("/api/v1/customers/00000000-0000-4000-8000-000000000000/"), 404, "not_found")
    response = api.get("/api/v1/customers/not-a-uuid/")
    assert_error(response, 404, "not_found")
    assert response["Content-Type"] == "application/json"


def test_a_customer_admin_reads_only_its_own_customer_and_changes_nothing():
    mine, other = CustomerFactory(), CustomerFactory()
    admin = customer_admin_client(mine)

    assert [c["uuid"] for c in admin.get("/api/v1/customers/").json()["results"]] == [str(mine.uuid)]
    assert admin.get(f"/api/v1/customers/{mine.uuid}/").status_code == 200
    assert_error(admin.get(f"/api/v1/customers/{other.uuid}/"), 403, "permission_denied")
    assert_error(admin.patch(f"/api/v1/customers/{mine.uuid}/", {"name": "Mine"}), 403, "permission_denied")


def test_a_learner_sees_no_customers():
    CustomerFactory()
    assert learner_client(1).get("/api/v1/customers/").json()["results"] == []


# --- learner links ---------------------------------------------------------------------------------------------


def test_linking_a_learner_is_an_upsert_by_lms_user_id():
    customer = CustomerFactory()
    group = GroupFactory(customer=customer)
    api = superuser_client()
    url = f"/api/v1/customers/{customer.uuid}/learners/"

    first = api.post(url, {"lms_user_id": 501, "email": "a@example.com", "group_uuids": [str(group.uuid)]})
    again = api.post(url, {"lms_user_id": 501, "email": "b@example.com"})

    assert (first.status_code, again.status_code) == (201, 200)
    link = EnterpriseCustomerUser.objects.get(customer=customer, lms_user_id=501)
    assert link.email == "b@example.com"
    assert list(link.groups.all()) == [group]  # groups left alone when not sent
    assert api.get(url, {"email": "B@example.com"}).json()["results"][0]["lms_user_id"] == 501


def test_unlinking_and_regrouping_a_learner():
    customer = CustomerFactory()
    group = GroupFactory(customer=customer)
    link = LearnerFactory(customer=customer)
    api = superuser_client()
    url = f"/api/v1/customers/{customer.uuid}/learners/{link.lms_user_id}/"

    assert api.get(url).json()["email"] == link.email
    body = api.patch(url, {"active": False, "group_uuids": [str(group.uuid)]}).json()

    assert body["active"] is False and body["group_uuids"] == [str(group.uuid)]
    assert body["email"] == link.email  # untouched fields kept
    assert api.get(f"/api/v1/customers/{customer.uuid}/learners/", {"active": "false"}).json()["count"] == 1
    assert api.get(f"/api/v1/customers/{customer.uuid}/learners/", {"active": "true"}).json()["count"] == 0


def test_a_learner_cannot_join_another_customers_group():
    customer = CustomerFactory()
    foreign = GroupFactory()
    body = assert_error(
        superuser_client().post(
            f"/api/v1/customers/{customer.uuid}/learners/",
            {"lms_user_id": 5, "email": "x@example.com", "group_uuids": [str(foreign.uuid)]},
        ),
        400,
        "invalid_input",
        "group_uuids",
    )
    assert "does not exist" in body["field_errors"]["group_uuids"][0]


def test_learner_link_input_errors_name_each_field():
    customer = CustomerFactory()
    url = f"/api/v1/customers/{customer.uuid}/learners/"
    assert_error(
        superuser_client().post(url, {"lms_user_id": 10**20, "email": "not-an-email", "active": "maybe"}),
        400,
        "invalid_input",
        "lms_user_id",
        "email",
        "active",
    )


def test_an_unknown_or_huge_learner_id_is_a_404():
    customer = CustomerFactory()
    api = superuser_client()
    assert_error(api.get(f"/api/v1/customers/{customer.uuid}/learners/42/"), 404)
    assert_error(api.get(f"/api/v1/customers/{customer.uuid}/learners/{10**30}/"), 404)


def test_a_customer_admin_manages_its_learners_but_not_another_customers():
    mine, other = CustomerFactory(), CustomerFactory()
    admin = customer_admin_client(mine)
    created = admin.post(f"/api/v1/customers/{mine.uuid}/learners/", {"lms_user_id": 8, "email": "e@x.com"})
    assert created.status_code == 201, created.content
    assert_error(
        admin.post(f"/api/v1/customers/{other.uuid}/learners/", {"lms_user_id": 8, "email": "e@x.com"}),
        403,
        "permission_denied",
    )
    assert_error(learner_client(8).get(f"/api/v1/customers/{mine.uuid}/learners/"), 403, "permission_denied")


# --- groups --------------------------------------------------------------------------------------------------


def test_groups_are_created_renamed_listed_with_members_and_deleted():
    customer = CustomerFactory()
    api = superuser_client()
    created = api.post(f"/api/v1/customers/{customer.uuid}/groups/", {"name": "Engineering"})
    assert created.status_code == 201, created.content
    url = f"/api/v1/customers/{customer.uuid}/groups/{created.json()['uuid']}/"
    link = LearnerFactory(customer=customer)
    link.groups.add(created.json()["uuid"])

    assert api.patch(url, {"name": "Eng"}).json()["name"] == "Eng"
    assert api.get(url).json()["member_lms_user_ids"] == [link.lms_user_id]
    assert api.get(f"/api/v1/customers/{customer.uuid}/groups/").json()["results"][0]["member_lms_user_ids"] == [
        link.lms_user_id
    ]
    assert api.delete(url).status_code == 204


def test_group_names_are_unique_per_customer():
    group = GroupFactory(name="Sales")
    assert_error(
        superuser_client().post(f"/api/v1/customers/{group.customer.uuid}/groups/", {"name": "Sales"}),
        400,
        "invalid_input",
        "name",
    )


def test_a_group_a_policy_relies_on_cannot_be_deleted():
    group = GroupFactory()
    make_policy(customer=group.customer, groups=[group])
    assert_error(
        superuser_client().delete(f"/api/v1/customers/{group.customer.uuid}/groups/{group.uuid}/"),
        409,
        "group_in_use",
    )
