"""Learner redemption through HTTP, in the reference system's v1 shapes: can-redeem, redeem, credits_available.

A learner token acts only for itself; staff with the permission act for anyone.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from django.utils import timezone

from conftest import requires_postgres
from fulfillment.models import Enrollment
from learner_credit.tests.api_helpers import (
    assert_error,
    client_for,
    customer_admin_client,
    learner_client,
    make_user,
    staff_client,
    superuser_client,
)
from policies import reasons
from policies.models import PolicyType
from policies.services import redeem, soft_delete_policy
from subsidies.models import Subsidy, Transaction
from testing.factories import GroupFactory, make_policy, make_scenario
from testing.locks import subsidy_row_locked

pytestmark = pytest.mark.django_db


def _can_redeem_url(customer) -> str:
    return f"/api/v1/policy-redemption/enterprise-customer/{customer.uuid}/can-redeem/"


def _redeem_url(policy) -> str:
    return f"/api/v1/policy-redemption/{policy.uuid}/redeem/"


# --- can-redeem ----------------------------------------------------------------------------------------------


def test_can_redeem_answers_each_content_key_with_the_winning_policy_or_grouped_reasons():
    s = make_scenario(price_cents=14_900)
    outside = s.add_run()
    s.catalog.courses.remove(outside.course)
    learner = learner_client(s.learner.lms_user_id)

    answers = learner.get(
        _can_redeem_url(s.customer), {"content_key": [s.run.key, outside.key, "course-v1:No+Such+Run"]}
    )

    assert answers.status_code == 200, answers.content
    good, not_in_catalog, unknown = answers.json()
    assert good["can_redeem"] is True
    assert good["list_price"] == {"usd": 149.0, "usd_cents": 14_900}
    assert good["redeemable_subsidy_access_policy"]["uuid"] == str(s.policy.uuid)
    assert (good["reasons"], good["display_reason"], good["redemptions"]) == ([], None, [])
    assert not_in_catalog["can_redeem"] is False and not_in_catalog["redeemable_subsidy_access_policy"] is None
    assert not_in_catalog["reasons"] == [
        {
            "reason": reasons.CONTENT_NOT_IN_CATALOG,
            "user_message": reasons.user_message(reasons.CONTENT_NOT_IN_CATALOG),
            "metadata": {"enterprise_administrators": [{"email": s.customer.contact_email, "lms_user_id": None}]}
            if s.customer.contact_email
            else {"enterprise_administrators": []},
            "policy_uuids": [str(s.policy.uuid)],
        }
    ]
    assert not_in_catalog["display_reason"]["reason"] == reasons.CONTENT_NOT_IN_CATALOG
    assert unknown["list_price"] is None and unknown["reasons"][0]["reason"] == reasons.CONTENT_NOT_IN_CATALOG


def test_can_redeem_groups_policies_by_reason_and_shows_the_informative_one():
    s = make_scenario()
    retired = make_policy(customer=s.customer, catalog=s.catalog, subsidy=s.subsidy, retired=True)
    group = GroupFactory(customer=s.customer)
    grouped = make_policy(customer=s.customer, catalog=s.catalog, subsidy=s.subsidy, groups=[group])
    s.policy.per_learner_spend_limit_cents = 0
    s.policy.save()

    [answer] = (
        superuser_client()
        .get(_can_redeem_url(s.customer), {"content_key": s.run.key, "lms_user_id": s.learner.lms_user_id})
        .json()
    )

    by_reason = {r["reason"]: set(r["policy_uuids"]) for r in answer["reasons"]}
    assert by_reason == {
        reasons.POLICY_EXPIRED: {str(retired.uuid)},
        reasons.LEARNER_NOT_IN_ENTERPRISE_GROUP: {str(grouped.uuid)},
        reasons.LEARNER_MAX_SPEND_REACHED: {str(s.policy.uuid)},
    }
    assert answer["display_reason"]["reason"] != reasons.POLICY_EXPIRED


def test_after_a_redemption_can_redeem_shows_it_and_says_no_more():
    s = make_scenario()
    entry = redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key).transaction
    [answer] = learner_client(s.learner.lms_user_id).get(_can_redeem_url(s.customer), {"content_key": s.run.key}).json()
    assert answer["has_successful_redemption"] is True and answer["can_redeem"] is False
    assert [r["uuid"] for r in answer["redemptions"]] == [str(entry.uuid)]
    assert answer["display_reason"] is None


def test_a_learner_may_not_check_for_another_learner_but_staff_and_customer_admins_may():
    s = make_scenario()
    other = s.add_learner()
    query = {"content_key": s.run.key, "lms_user_id": other.lms_user_id}

    body = assert_error(learner_client(s.learner.lms_user_id).get(_can_redeem_url(s.customer), query), 403)
    assert f"learner {s.learner.lms_user_id} only" in body["detail"]
    assert staff_client("policies.check_redeemability").get(_can_redeem_url(s.customer), query).status_code == 200
    assert customer_admin_client(s.customer).get(_can_redeem_url(s.customer), query).status_code == 200
    assert_error(staff_client(username="no-perm").get(_can_redeem_url(s.customer), query), 403, "permission_denied")


def test_a_learner_of_another_customer_may_not_ask_about_this_ones_credit():
    s = make_scenario()
    elsewhere = make_scenario()  # another customer, whose learner this is
    outsider = learner_client(elsewhere.learner.lms_user_id)
    credits = f"/api/v1/policy-redemption/credits_available/?enterprise_customer_uuid={s.customer.uuid}"

    body = assert_error(outsider.get(_can_redeem_url(s.customer), {"content_key": s.run.key}), 403)
    assert f"Learner {elsewhere.learner.lms_user_id} is not a learner of this customer" in body["detail"]
    assert str(s.policy.pk) not in str(body)
    assert_error(outsider.get(credits), 403)
    # Its own customer still answers, and a learner whose link was deactivated is still this customer's.
    assert outsider.get(_can_redeem_url(elsewhere.customer), {"content_key": s.run.key}).status_code == 200
    s.learner.active = False
    s.learner.save()
    [answer] = learner_client(s.learner.lms_user_id).get(_can_redeem_url(s.customer), {"content_key": s.run.key}).json()
    assert answer["reasons"][0]["reason"] == reasons.LEARNER_NOT_IN_ENTERPRISE


def test_an_account_that_is_not_a_learner_must_name_one():
    s = make_scenario()
    assert_error(
        superuser_client().get(_can_redeem_url(s.customer), {"content_key": s.run.key}),
        400,
        "invalid_input",
        "lms_user_id",
    )


def test_can_redeem_input_errors():
    s = make_scenario()
    learner = learner_client(s.learner.lms_user_id)
    assert_error(learner.get(_can_redeem_url(s.customer)), 400, "invalid_input", "content_key")
    assert_error(
        learner.get(_can_redeem_url(s.customer), {"content_key": s.run.key, "lms_user_id": "abc"}),
        400,
        "invalid_input",
        "lms_user_id",
    )
    missing = "/api/v1/policy-redemption/enterprise-customer/00000000-0000-4000-8000-000000000000/can-redeem/"
    assert_error(learner.get(missing, {"content_key": s.run.key}), 404, "not_found")
    # A content key that is no course run key is a 400 naming it, as enterprise-access answers.
    body = assert_error(
        learner.get(_can_redeem_url(s.customer), {"content_key": [s.run.key, "edX+DemoX"]}),
        400,
        "invalid_input",
        "content_key[1]",
    )
    assert "Invalid content_key: edX+DemoX" in body["field_errors"]["content_key[1]"][0]


# --- redeem --------------------------------------------------------------------------------------------------


def test_a_learner_redeems_for_itself_and_a_repeat_returns_the_same_transaction():
    s = make_scenario()
    learner = learner_client(s.learner.lms_user_id)

    first = learner.post(_redeem_url(s.policy), {"content_key": s.run.key, "metadata": {"source": "mobile"}})
    repeat = learner.post(_redeem_url(s.policy), {"lms_user_id": s.learner.lms_user_id, "content_key": s.run.key})

    assert (first.status_code, repeat.status_code) == (200, 200), first.content
    body = first.json()
    assert body["uuid"] == repeat.json()["uuid"]
    assert (body["state"], body["quantity"], body["lms_user_id"]) == ("committed", -10_000, s.learner.lms_user_id)
    assert body["subsidy_access_policy_uuid"] == str(s.policy.uuid)
    assert body["metadata"] == {"source": "mobile"}
    assert Transaction.objects.filter(quantity__lt=0).count() == 1
    assert Enrollment.objects.filter(lms_user_id=s.learner.lms_user_id, course_run=s.run).count() == 1


def test_a_refused_redemption_is_a_422_in_the_reference_shape():
    s = make_scenario(per_learner_spend_limit_cents=15_000)
    second = s.add_run()
    learner = learner_client(s.learner.lms_user_id)
    learner.post(_redeem_url(s.policy), {"content_key": s.run.key})

    response = learner.post(_redeem_url(s.policy), {"content_key": second.key})

    assert response.status_code == 422
    [refusal] = response.json()
    assert refusal["reason"] == reasons.LEARNER_MAX_SPEND_REACHED
    assert refusal["user_message"] == reasons.user_message(reasons.LEARNER_MAX_SPEND_REACHED)
    assert refusal["policy_uuids"] == [str(s.policy.uuid)]
    assert refusal["metadata"]["price_cents"] == second.price_cents


@pytest.mark.parametrize(
    ("scenario", "reason"),
    [
        ({"active": False}, reasons.POLICY_EXPIRED),
        ({"run_fields": {"enroll_by": timezone.now() - dt.timedelta(days=1)}}, reasons.BEYOND_ENROLLMENT_DEADLINE),
        ({"deposit_cents": 5_000, "spend_limit_cents": None}, reasons.NOT_ENOUGH_VALUE_IN_SUBSIDY),
        ({"run_fields": {"course__product_source": "exec-ed"}}, "missing_exec_ed_data"),
    ],
)
def test_refusal_reason_codes_reach_the_learner(scenario, reason):
    s = make_scenario(**scenario)
    response = learner_client(s.learner.lms_user_id).post(_redeem_url(s.policy), {"content_key": s.run.key})
    assert response.status_code == 422, response.content
    assert response.json()[0]["reason"] == reason
    assert not Transaction.objects.filter(quantity__lt=0).exclude(state="failed").exists()


def test_an_unlinked_learner_is_refused_with_learner_not_in_enterprise():
    s = make_scenario()
    response = learner_client(999_999).post(_redeem_url(s.policy), {"content_key": s.run.key})
    assert response.status_code == 422
    assert response.json()[0]["reason"] == reasons.LEARNER_NOT_IN_ENTERPRISE


def test_a_learner_may_not_redeem_for_another_learner():
    s = make_scenario()
    other = s.add_learner()
    body = assert_error(
        learner_client(s.learner.lms_user_id).post(
            _redeem_url(s.policy), {"lms_user_id": other.lms_user_id, "content_key": s.run.key}
        ),
        403,
        "permission_denied",
    )
    assert str(other.lms_user_id) in body["detail"]
    assert not Transaction.objects.filter(quantity__lt=0).exists()


def test_staff_with_the_permission_redeem_for_a_learner():
    s = make_scenario()
    api = staff_client("subsidies.add_transaction")
    response = api.post(_redeem_url(s.policy), {"lms_user_id": s.learner.lms_user_id, "content_key": s.run.key})
    assert response.status_code == 200, response.content


def test_redeem_input_errors_unknown_and_deleted_policies():
    s = make_scenario()
    learner = learner_client(s.learner.lms_user_id)
    assert_error(learner.post(_redeem_url(s.policy), {}), 400, "invalid_input", "content_key")
    body = assert_error(
        learner.post(_redeem_url(s.policy), {"content_key": s.run.key, "metadata": {"allow_late_enrollment": True}}),
        400,
        "invalid_input",
        "metadata",
    )
    assert "allow_late_enrollment" in body["field_errors"]["metadata"][0]
    assert_error(
        learner.post(_redeem_url(s.policy), {"content_key": s.run.key, "bonus": 1}), 400, "invalid_input", "bonus"
    )
    missing = "/api/v1/policy-redemption/00000000-0000-4000-8000-000000000000/redeem/"
    assert_error(learner.post(missing, {"content_key": s.run.key}), 404, "policy_not_found")
    soft_delete_policy(s.policy)
    assert_error(learner.post(_redeem_url(s.policy), {"content_key": s.run.key}), 404, "policy_not_found")


@requires_postgres
@pytest.mark.django_db(transaction=True)
@override_settings(LOCK_WAIT_TIMEOUT_SECONDS=0.2)
def test_a_redemption_that_cannot_get_its_lock_in_time_is_a_429_with_retry_after():
    s = make_scenario()
    learner = learner_client(s.learner.lms_user_id)
    with subsidy_row_locked(s.subsidy.pk):
        response = learner.post(_redeem_url(s.policy), {"content_key": s.run.key})

    assert response.status_code == 429, response.content
    assert response["Retry-After"] == "1"
    assert response.json()["reason"] == "lock_wait_timeout"
    assert not Transaction.objects.filter(quantity__lt=0).exists()
    assert learner.post(_redeem_url(s.policy), {"content_key": s.run.key}).status_code == 200  # a retry succeeds


# --- credits_available ---------------------------------------------------------------------------------------


def test_credits_available_lists_what_the_learner_can_still_spend():
    s = make_scenario(per_learner_spend_limit_cents=25_000, spend_limit_cents=100_000)
    expired = make_scenario()
    expired_policy = make_policy(
        customer=s.customer,
        catalog=s.catalog,
        subsidy=Subsidy.objects.create(
            customer=s.customer,
            title="Old",
            active_datetime=timezone.now() - dt.timedelta(days=30),
            expiration_datetime=timezone.now() - dt.timedelta(days=1),
        ),
    )
    redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key)
    url = f"/api/v1/policy-redemption/credits_available/?enterprise_customer_uuid={s.customer.uuid}"

    credits = learner_client(s.learner.lms_user_id).get(url).json()

    assert [c["uuid"] for c in credits] == [str(s.policy.uuid)]
    assert str(expired_policy.uuid) not in {c["uuid"] for c in credits}
    [credit] = credits
    assert credit["remaining_balance_per_user"] == 15_000
    assert credit["remaining_balance"] == 90_000
    assert credit["subsidy_expiration_date"] == s.subsidy.expiration_datetime.isoformat().replace("+00:00", "Z")
    assert_error(learner_client(expired.learner.lms_user_id).get(url), 403)  # not a learner of this customer


def test_credits_available_refuses_another_learner_and_bad_input():
    s = make_scenario()
    other = s.add_learner()
    url = "/api/v1/policy-redemption/credits_available/"
    learner = learner_client(s.learner.lms_user_id)
    assert_error(
        learner.get(url, {"enterprise_customer_uuid": str(s.customer.uuid), "lms_user_id": other.lms_user_id}), 403
    )
    assert_error(learner.get(url, {"enterprise_customer_uuid": "x"}), 400, "invalid_input", "enterprise_customer_uuid")
    assert_error(learner.get(url, {"enterprise_customer_uuid": "00000000-0000-4000-8000-000000000000"}), 404)


def test_assigned_credit_shows_only_with_an_allocation():
    s = make_scenario(policy_type=PolicyType.ASSIGNED)
    url = f"/api/v1/policy-redemption/credits_available/?enterprise_customer_uuid={s.customer.uuid}"
    learner = learner_client(s.learner.lms_user_id)
    assert learner.get(url).json() == []
    api = client_for(make_user("allocator", is_staff=True, is_superuser=True))
    allocation = {"learner_emails": [s.learner.email], "content_key": s.run.key, "content_price_cents": 10_000}
    assert api.post(f"/api/v1/policy-allocation/{s.policy.uuid}/allocate/", allocation).status_code == 202
    assert [c["uuid"] for c in learner.get(url).json()] == [str(s.policy.uuid)]
