"""Subsidies, deposits and the ledger's read side through HTTP (enterprise-subsidy v2 shapes)."""

from __future__ import annotations

import pytest

from learner_credit.tests.api_helpers import (
    assert_error,
    customer_admin_client,
    learner_client,
    staff_client,
    superuser_client,
)
from policies.services import redeem, reverse_redemption
from subsidies.models import Deposit
from testing.factories import CustomerFactory, make_scenario, make_subsidy

pytestmark = pytest.mark.django_db

WINDOW = {"active_datetime": "2020-01-01T00:00:00Z", "expiration_datetime": "2099-01-01T00:00:00Z"}


def test_staff_creates_a_subsidy_with_a_starting_balance():
    customer = CustomerFactory()
    api = staff_client("subsidies.add_subsidy", "subsidies.view_subsidy")
    response = api.post(
        "/api/v2/subsidies/",
        {"enterprise_customer_uuid": str(customer.uuid), "title": "FY26", "starting_balance_cents": 250_000, **WINDOW},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["current_balance"], body["total_deposits"], body["unit"], body["is_active"]) == (
        250_000,
        250_000,
        "usd_cents",
        True,
    )
    assert api.get(f"/api/v2/subsidies/{body['uuid']}/").json()["title"] == "FY26"


def test_subsidy_dates_and_amounts_are_validated_field_by_field():
    customer = CustomerFactory()
    api = superuser_client()
    assert_error(
        api.post(
            "/api/v2/subsidies/",
            {
                "enterprise_customer_uuid": str(customer.uuid),
                "title": "Backwards",
                "active_datetime": "2030-01-01T00:00:00Z",
                "expiration_datetime": "2020-01-01T00:00:00Z",
            },
        ),
        400,
        "invalid_input",
        "expiration_datetime",
    )
    assert_error(
        api.post(
            "/api/v2/subsidies/",
            {"enterprise_customer_uuid": "nope", "title": "x", "starting_balance_cents": -1, **WINDOW},
        ),
        400,
        "invalid_input",
        "enterprise_customer_uuid",
        "starting_balance_cents",
    )


def test_deposits_are_idempotent_by_key_and_move_the_balance_once():
    subsidy = make_subsidy(customer=CustomerFactory(), deposit_cents=0)
    api = staff_client("subsidies.add_deposit", "subsidies.view_deposit", "subsidies.view_subsidy")
    url = f"/api/v2/subsidies/{subsidy.uuid}/admin/deposits/"
    deposit = {
        "desired_deposit_quantity": 40_000,
        "sales_contract_reference_id": "SO-9",
        "sales_contract_reference_provider": "salesforce",
        "idempotency_key": "so-9-topup",
        "metadata": {"note": "top-up"},
    }

    first, repeat = api.post(url, deposit), api.post(url, deposit)

    assert (first.status_code, repeat.status_code) == (201, 200)
    assert first.json()["uuid"] == repeat.json()["uuid"]
    assert first.json()["metadata"] == {"note": "top-up"}
    assert Deposit.objects.count() == 1
    assert api.get(f"/api/v2/subsidies/{subsidy.uuid}/").json()["current_balance"] == 40_000
    assert [d["uuid"] for d in api.get(url).json()["results"]] == [first.json()["uuid"]]


def test_deposit_input_errors_name_each_field():
    subsidy = make_subsidy(customer=CustomerFactory())
    url = f"/api/v2/subsidies/{subsidy.uuid}/admin/deposits/"
    assert_error(
        superuser_client().post(
            url, {"desired_deposit_quantity": 0, "sales_contract_reference_id": "", "metadata": ["not", "an", "object"]}
        ),
        400,
        "invalid_input",
        "desired_deposit_quantity",
        "sales_contract_reference_id",
        "metadata",
    )
    assert_error(
        superuser_client("root2").post(
            url, {"desired_deposit_quantity": 10**30, "sales_contract_reference_id": "x", "metadata": {"a": "\x00"}}
        ),
        400,
        "invalid_input",
        "desired_deposit_quantity",
        "metadata",
    )


def test_only_staff_with_the_permission_deposit():
    subsidy = make_subsidy(customer=CustomerFactory())
    deposit = {"desired_deposit_quantity": 1, "sales_contract_reference_id": "x"}
    url = f"/api/v2/subsidies/{subsidy.uuid}/admin/deposits/"
    assert_error(staff_client("subsidies.view_deposit").post(url, deposit), 403, "permission_denied")
    assert_error(customer_admin_client(subsidy.customer).post(url, deposit), 403, "permission_denied")


def test_transactions_are_listed_with_reversal_and_filtered_with_repeatable_states():
    s = make_scenario()
    other = s.add_run()
    kept = redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key).transaction
    refunded = redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=other.key).transaction
    reverse_redemption(entry=refunded, reason="changed mind")
    api = superuser_client()
    url = f"/api/v2/subsidies/{s.subsidy.uuid}/admin/transactions/"

    spends = api.get(url, {"lms_user_id": s.learner.lms_user_id}).json()["results"]
    assert {t["uuid"] for t in spends} == {str(kept.uuid), str(refunded.uuid)}
    by_uuid = {t["uuid"]: t for t in spends}
    assert by_uuid[str(refunded.uuid)]["reversal"]["quantity"] == other.price_cents
    assert by_uuid[str(kept.uuid)]["reversal"] is None
    assert by_uuid[str(kept.uuid)]["content_title"] == s.run.course.title

    everything = api.get(url, {"state": ["committed", "failed"]}).json()["results"]
    assert len(everything) == 3  # the two spends and the deposit
    assert api.get(url, {"content_key": s.run.key}).json()["count"] == 1
    assert api.get(url, {"subsidy_access_policy_uuid": str(s.policy.uuid)}).json()["count"] == 2
    assert api.get(url, {"state": "pending"}).json()["count"] == 0
    assert_error(api.get(url, {"state": "lost"}), 400, "invalid_input", "state[0]")
    assert_error(api.get(url, {"lms_user_id": 10**40}), 400, "invalid_input", "lms_user_id")

    detail = api.get(f"{url}{kept.uuid}/").json()
    assert (detail["quantity"], detail["unit"], detail["state"]) == (-s.run.price_cents, "usd_cents", "committed")


def test_a_transaction_of_another_subsidy_is_a_404():
    s, other = make_scenario(), make_scenario()
    entry = redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key).transaction
    assert_error(
        superuser_client().get(f"/api/v2/subsidies/{other.subsidy.uuid}/admin/transactions/{entry.uuid}/"), 404
    )


def test_a_customer_admin_reads_its_own_ledger_only():
    mine, theirs = make_scenario(), make_scenario()
    admin = customer_admin_client(mine.customer)
    assert [s["uuid"] for s in admin.get("/api/v2/subsidies/").json()["results"]] == [str(mine.subsidy.uuid)]
    assert admin.get(f"/api/v2/subsidies/{mine.subsidy.uuid}/admin/transactions/").status_code == 200
    assert_error(admin.get(f"/api/v2/subsidies/{theirs.subsidy.uuid}/admin/transactions/"), 403, "permission_denied")
    assert_error(learner_client(mine.learner.lms_user_id).get(f"/api/v2/subsidies/{mine.subsidy.uuid}/"), 403)
