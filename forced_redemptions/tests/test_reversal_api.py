"""Reversals and the forced-redemption API, end to end over HTTP: a reversal made through the ledger API frees
the learner, run and policy for a new forced redemption; a reversed record is not redeemed again."""

from __future__ import annotations

import pytest

from demo import data as demo_data
from forced_redemptions.tests.helpers import REASON, footprint
from learner_credit.tests.api_helpers import assert_error, superuser_client

pytestmark = pytest.mark.django_db

FORCED = "/api/v1/forced-redemptions/"
BODY = {
    "subsidy_access_policy": str(demo_data.SPEND_POLICY_UUID),
    "lms_user_id": 1002,
    "course_run_key": demo_data.CLOSED_RUN,
    "reason": REASON,
}


def _ledger_reverse_url(transaction_uuid) -> str:
    return f"/api/v2/subsidies/{demo_data.SUBSIDY_UUID}/admin/transactions/{transaction_uuid}/reverse/"


def test_a_reversal_through_the_ledger_api_lets_the_same_be_forced_again(demo):
    api = superuser_client()
    first = api.post(FORCED, BODY).json()
    assert_error(api.post(FORCED, BODY), 409, "duplicate_forced_redemption")

    refunded = api.post(_ledger_reverse_url(first["transaction_uuid"]), {"reason": "Refunded via the ledger"})
    second = api.post(FORCED, BODY)

    assert refunded.status_code == 200, refunded.content
    assert second.status_code == 201 and second.json()["state"] == "redeemed", second.content
    assert second.json()["transaction_uuid"] != first["transaction_uuid"]
    old = api.get(f"{FORCED}{first['uuid']}/").json()
    assert old["state"] == "reversed" and old["reversed_at"]
    assert old["attempts"][-1]["outcome"] == "reversed" and old["attempts"][-1]["reason_code"] == "reversed_in_ledger"
    assert (footprint().live_transactions, footprint().active_enrollments) == (2, 1)


def test_redeeming_a_reversed_record_charges_nothing_and_says_it_was_reversed(demo):
    api = superuser_client()
    record = api.post(FORCED, BODY).json()
    api.post(f"{FORCED}{record['uuid']}/reverse/", {"reason": "Ticket 44"})
    before = footprint()

    again = api.post(f"{FORCED}{record['uuid']}/redeem/")

    assert again.status_code == 200 and again.json()["state"] == "reversed"
    attempt = again.json()["last_attempt"]
    assert (attempt["outcome"], attempt["reason_code"], attempt["charged_cents"]) == (
        "already_redeemed",
        "forced_redemption_reversed",
        0,
    )
    assert footprint() == before
    checked = api.post(f"{FORCED}{record['uuid']}/check/").json()
    assert (checked["can_redeem"], checked["reason"]) == (False, "forced_redemption_reversed")
