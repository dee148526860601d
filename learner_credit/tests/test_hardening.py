"""The edges found under an adversarial run, kept fixed: each defect class with its example."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from conftest import requires_postgres
from customers.models import EnterpriseCustomerUser
from learner_credit.tests.api_helpers import assert_error, customer_admin_client, superuser_client
from policies.services import redeem, save_policy
from subsidies.models import Transaction, TransactionState
from testing.factories import LearnerFactory, make_scenario

pytestmark = pytest.mark.django_db


def test_a_patch_cannot_rewrite_which_learner_a_link_is():
    s = make_scenario()
    other = LearnerFactory(customer=s.customer)
    client = customer_admin_client(s.customer)
    url = f"/api/v1/customers/{s.customer.uuid}/learners/{s.learner.lms_user_id}/"

    response = client.patch(url, {"lms_user_id": other.lms_user_id, "first_name": "Mallory"}, format="json")

    assert_error(response, 400, None, "lms_user_id")
    other.refresh_from_db()
    s.learner.refresh_from_db()
    assert other.first_name != "Mallory" and s.learner.first_name != "Mallory"
    same = client.patch(url, {"lms_user_id": s.learner.lms_user_id, "first_name": "Ada"}, format="json")
    assert same.status_code == 200 and EnterpriseCustomerUser.objects.get(pk=s.learner.pk).first_name == "Ada"


def test_a_nul_in_a_path_segment_is_a_400_not_a_database_error():
    response = superuser_client().get("/api/v1/course-runs/%00/")
    assert_error(response, 400, "invalid_input")
    assert "NUL" in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        '{"lms_user_id": 1, "content_key": "k", "metadata": {"note": "\\ud800"}}',
        '{"lms_user_id": 1, "content_key": "\\ud800"}',
        '{"lms_user_id": 1, "content_key": "k", "metadata": ' + "[" * 100_000 + "]" * 100_000 + "}",
    ],
    ids=["surrogate-in-metadata", "surrogate-in-key", "nested-100000"],
)
def test_unstorable_json_is_a_400_that_does_not_echo_it(body):
    s = make_scenario()
    response = superuser_client().post(
        f"/api/v1/policy-redemption/{s.policy.uuid}/redeem/", data=body, content_type="application/json"
    )
    payload = assert_error(response, 400, "malformed_request")
    assert "\\ud800" not in json.dumps(payload)
    assert not Transaction.objects.filter(lms_user_id__isnull=False).exists()


def test_metadata_is_bounded_and_a_huge_one_charges_nothing():
    s = make_scenario()
    body = {"lms_user_id": s.learner.lms_user_id, "content_key": s.run.key, "metadata": {"blob": "x" * 1_500_000}}

    response = superuser_client().post(f"/api/v1/policy-redemption/{s.policy.uuid}/redeem/", body, format="json")

    assert_error(response, 400, None, "metadata")
    assert not Transaction.objects.filter(lms_user_id__isnull=False).exists()


def test_repeated_failures_of_one_redemption_stop_at_the_bound(settings):
    settings.MAX_FAILED_REDEMPTIONS_PER_DAY = 3
    s = make_scenario()
    from fulfillment.models import Enrollment

    Enrollment.objects.create(lms_user_id=s.learner.lms_user_id, course_run=s.run)  # enrolled outside the service
    client = superuser_client()
    url = f"/api/v1/policy-redemption/{s.policy.uuid}/redeem/"
    body = {"lms_user_id": s.learner.lms_user_id, "content_key": s.run.key}

    statuses = [client.post(url, body, format="json").status_code for _ in range(5)]

    assert statuses == [422, 422, 422, 429, 429]
    assert Transaction.objects.filter(state=TransactionState.FAILED).count() == 3
    last = client.post(url, body, format="json").json()
    assert last["reason"] == "too_many_failed_redemptions" and "enrollment_error" in last["detail"]


def test_a_spend_limit_cannot_go_below_what_the_policy_spent():
    s = make_scenario(price_cents=10_000, spend_limit_cents=50_000)
    redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key)
    s.policy.spend_limit_cents = 5_000

    with pytest.raises(Exception) as refused:
        save_policy(s.policy)

    assert "spend_limit_cents" in refused.value.field_errors
    assert "10000 cents" in refused.value.field_errors["spend_limit_cents"][0]


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_database_outage_answers_503_with_retry_after(client, admin_user):
    api = superuser_client()
    client.force_login(admin_user)
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = "1"  # nothing listens there: every connection attempt fails
    try:
        response = api.get("/api/v1/customers/")
        page = client.get("/admin/customers/enterprisecustomer/")
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port

    assert response.status_code == 503 and response["Retry-After"]
    assert response.json()["reason"] == "database_unavailable"
    assert page.status_code == 503 and page["Retry-After"]
