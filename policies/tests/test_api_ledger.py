"""Ledger writes through HTTP (enterprise-subsidy v2): a transaction is a redemption; a reversal refunds it."""

from __future__ import annotations

import pytest

from fulfillment.models import Enrollment
from learner_credit.tests.api_helpers import assert_error, customer_admin_client, staff_client, superuser_client
from policies import reasons
from subsidies.models import Transaction
from subsidies.selectors import balance_cents
from testing.factories import make_scenario

pytestmark = pytest.mark.django_db


def _transactions_url(subsidy) -> str:
    return f"/api/v2/subsidies/{subsidy.uuid}/admin/transactions/"


def _body(s, **fields) -> dict:
    return {
        "lms_user_id": s.learner.lms_user_id,
        "content_key": s.run.key,
        "subsidy_access_policy_uuid": str(s.policy.uuid),
        **fields,
    }


def test_creating_a_transaction_redeems_201_then_200_for_the_same_request():
    s = make_scenario()
    api = staff_client("subsidies.add_transaction")

    first = api.post(_transactions_url(s.subsidy), _body(s, metadata={"order": "A-1"}))
    repeat = api.post(_transactions_url(s.subsidy), _body(s))

    assert (first.status_code, repeat.status_code) == (201, 200), first.content
    assert first.json()["uuid"] == repeat.json()["uuid"]
    assert first.json()["state"] == "committed" and first.json()["fulfillment_identifier"]
    assert Enrollment.objects.filter(transaction_uuid=first.json()["uuid"]).exists()


def test_a_known_idempotency_key_returns_that_transaction():
    s = make_scenario()
    api = superuser_client()
    first = api.post(_transactions_url(s.subsidy), _body(s)).json()
    again = api.post(_transactions_url(s.subsidy), _body(s, idempotency_key=first["idempotency_key"]))
    assert again.status_code == 200 and again.json()["uuid"] == first["uuid"]


def test_a_requested_price_may_discount_but_not_exceed_the_list_price():
    s = make_scenario(price_cents=10_000)
    api = superuser_client()
    too_high = api.post(_transactions_url(s.subsidy), _body(s, requested_price_cents=10_001))
    assert_error(too_high, 422, "invalid_requested_price")
    discounted = api.post(_transactions_url(s.subsidy), _body(s, requested_price_cents=8_000))
    assert discounted.status_code == 201 and discounted.json()["quantity"] == -8_000


def test_ledger_refusals_carry_the_reason_code():
    s = make_scenario(deposit_cents=5_000, spend_limit_cents=None)
    body = assert_error(
        superuser_client().post(_transactions_url(s.subsidy), _body(s)), 422, reasons.NOT_ENOUGH_VALUE_IN_SUBSIDY
    )
    assert body["metadata"]["balance_cents"] == 5_000


def test_ledger_input_errors_name_each_field():
    s, other = make_scenario(), make_scenario()
    api = superuser_client()
    assert_error(
        api.post(
            _transactions_url(s.subsidy),
            {"lms_user_id": 0, "content_key": "", "subsidy_access_policy_uuid": "nope", "metadata": "x"},
        ),
        400,
        "invalid_input",
        "lms_user_id",
        "content_key",
        "subsidy_access_policy_uuid",
        "metadata",
    )
    assert_error(
        api.post(_transactions_url(s.subsidy), _body(s, subsidy_access_policy_uuid=str(other.policy.uuid))),
        400,
        "invalid_input",
        "subsidy_access_policy_uuid",
    )


def test_only_staff_with_the_permission_create_transactions():
    s = make_scenario()
    assert_error(customer_admin_client(s.customer).post(_transactions_url(s.subsidy), _body(s)), 403)
    assert_error(staff_client("subsidies.view_transaction").post(_transactions_url(s.subsidy), _body(s)), 403)


def test_reversing_refunds_and_unenrolls_once_then_409():
    s = make_scenario()
    api = superuser_client()
    entry = api.post(_transactions_url(s.subsidy), _body(s)).json()
    url = f"{_transactions_url(s.subsidy)}{entry['uuid']}/reverse/"

    reversed_ = api.post(url, {"reason": "Ticket 7: wrong course"})

    assert reversed_.status_code == 200, reversed_.content
    assert reversed_.json()["reversal"]["quantity"] == s.run.price_cents
    assert reversed_.json()["reversal"]["reason"] == "Ticket 7: wrong course"
    assert balance_cents(s.subsidy) == 1_000_000
    assert not Enrollment.objects.filter(transaction_uuid=entry["uuid"], active=True).exists()
    assert_error(api.post(url, {}), 409, "already_reversed")


def test_only_a_committed_spend_can_be_reversed():
    s = make_scenario()
    deposit = Transaction.objects.get(subsidy=s.subsidy, quantity__gt=0)
    url = f"{_transactions_url(s.subsidy)}{deposit.uuid}/reverse/"
    assert_error(superuser_client().post(url, {}), 422, "not_reversible")
    assert_error(staff_client().post(url, {}), 403, "permission_denied")
