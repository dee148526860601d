"""Exec-ed runs with FULFILLMENT_BACKEND=lms: an order at GEAG, then an LMS enrollment, of one transaction."""

from __future__ import annotations

import datetime as dt

import pytest

from demo import data as demo_data
from forced_redemptions.models import ForcedState
from forced_redemptions.services import create_forced_redemption, reverse_forced_redemption
from fulfillment.models import Enrollment
from policies import settlement
from policies.models import SubsidyAccessPolicy
from subsidies.api import TransactionSerializer
from subsidies.models import Transaction, TransactionState
from subsidies.selectors import balance_cents

pytestmark = pytest.mark.django_db(transaction=True)

EXEC_ED_PRICE = 150_000
LEARNER = {
    "learner_first_name": "Ada",
    "learner_last_name": "Lovelace",
    "learner_date_of_birth": dt.date(1990, 12, 9),
    "learner_terms_accepted_at": dt.datetime(2026, 1, 31, 12, 0, tzinfo=dt.UTC),
    "learner_data_share_consent": True,
}


def _force_exec_ed(superuser, **fields):
    return create_forced_redemption(
        actor=superuser,
        subsidy_access_policy=SubsidyAccessPolicy.objects.get(pk=demo_data.SPEND_POLICY_UUID),
        lms_user_id=1004,
        course_run_key=demo_data.EXEC_ED_RUN,
        reason="ticket exec-ed",
        **(LEARNER | fields),
    )


def test_an_exec_ed_redemption_orders_at_geag_then_enrolls_in_the_lms(demo, superuser, lms_backend, fake_geag):
    record = _force_exec_ed(superuser)

    assert record.state == ForcedState.REDEEMED
    [order] = fake_geag.orders.values()
    assert order["paymentReference"] == str(record.transaction_uuid)
    assert order["enterpriseCustomerUuid"] == str(demo_data.CUSTOMER_UUID)
    assert order["orderItems"] == [
        {
            "productId": str(demo_data.EXEC_ED_VARIANT_UUID),
            "quantity": 1,
            "normalPrice": 1500.0,
            "discount": 0.0,
            "finalPrice": 1500.0,
        }
    ]
    assert (order["firstName"], order["dateOfBirth"], order["termsAcceptedAt"]) == (
        "Ada",
        "1990-12-09",
        "2026-01-31T12:00:00Z",
    )
    [enroll] = lms_backend.calls_to("enroll")
    assert enroll["body"]["enrollments_info"][0]["transaction_id"] == str(record.transaction_uuid)
    enrollment = Enrollment.objects.get(transaction_uuid=record.transaction_uuid)
    assert enrollment.external_order_reference == order["orderUuid"]
    # The ledger shows the order as the reference does: the transaction's external reference.
    entry = Transaction.objects.get(pk=record.transaction_uuid)
    assert TransactionSerializer(entry).data["external_reference"] == [order["orderUuid"]]
    assert TransactionSerializer([entry], many=True).data[0]["external_reference"] == [order["orderUuid"]]


def test_an_existing_order_is_not_placed_again(demo, superuser, lms_backend, fake_geag):
    record = _force_exec_ed(superuser, external_order_reference="order-made-by-hand")

    assert record.state == ForcedState.REDEEMED
    assert fake_geag.calls == [] and fake_geag.orders == {}
    assert Enrollment.objects.get().external_order_reference == "order-made-by-hand"


def test_a_lost_geag_answer_is_retried_with_the_same_payment_reference_and_orders_once(
    demo, superuser, lms_backend, fake_geag
):
    fake_geag.fail_next("reset_after")  # GEAG made the order; its answer was lost

    record = _force_exec_ed(superuser)
    assert record.state == ForcedState.PENDING
    assert settlement.reconcile(whenever=True)["committed"] == 1

    record.refresh_from_db()
    assert record.state == ForcedState.REDEEMED
    assert len(fake_geag.orders) == 1  # the retry got "duplicate order" (10174): the first one stands
    assert [c["body"]["paymentReference"] for c in fake_geag.calls_to("allocate")] == [str(record.transaction_uuid)] * 2
    assert len(lms_backend.enrollments_of(1004)) == 1
    assert balance_cents(demo_data.SUBSIDY_UUID) == demo_data.DEPOSIT_CENTS - EXEC_ED_PRICE


def test_when_the_lms_refuses_after_the_order_the_order_is_cancelled_and_nothing_charged(
    demo, superuser, lms_backend, fake_geag
):
    lms_backend.known_user_ids = set()  # the LMS has no account for the learner

    record = _force_exec_ed(superuser)

    assert record.state == ForcedState.ERRORED
    [order] = fake_geag.orders.values()
    assert order["cancelled"] is True
    assert Transaction.objects.get(pk=record.transaction_uuid).state == TransactionState.FAILED
    assert balance_cents(demo_data.SUBSIDY_UUID) == demo_data.DEPOSIT_CENTS
    assert not Enrollment.objects.exists()


def test_reversing_an_exec_ed_redemption_cancels_the_order_and_the_lms_enrollment(
    demo, superuser, lms_backend, fake_geag
):
    record = _force_exec_ed(superuser)

    reversed_record = reverse_forced_redemption(record=record, actor=superuser, reason="ticket undo")

    assert reversed_record.state == ForcedState.REVERSED
    [order] = fake_geag.orders.values()
    assert order["cancelled"] is True
    [lms_enrollment] = lms_backend.enrollments_of(1004)
    assert not lms_enrollment.active
    assert balance_cents(demo_data.SUBSIDY_UUID) == demo_data.DEPOSIT_CENTS
