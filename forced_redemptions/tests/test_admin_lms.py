"""The issue's "done when", from the admin: staff force learner 1003 into the demo's closed run with the LMS
backend; the LMS receives one enrollment with force_enrollment and our transaction uuid, and when it is
down the record stays pending and commits once after it is back."""

from __future__ import annotations

import pytest

from catalog.models import CourseRun
from demo import data as demo_data
from forced_redemptions.models import ForcedPolicyRedemption, ForcedState
from forced_redemptions.tests.helpers import add_url, admin_messages, change_url, changelist_url, confirmed, form_data
from policies import settlement
from subsidies.models import Transaction, TransactionState
from subsidies.selectors import balance_cents

pytestmark = pytest.mark.django_db(transaction=True)


def test_forcing_1003_into_the_closed_run_from_the_admin_enrolls_once_in_the_lms(demo, admin_client, lms_backend):
    lms_backend.closed_runs.add(demo_data.CLOSED_RUN)

    response = confirmed(admin_client, add_url(), form_data(lms_user_id=1003))

    record = ForcedPolicyRedemption.objects.get()
    assert response.status_code == 302
    assert record.state == ForcedState.REDEEMED
    [enroll] = lms_backend.calls_to("enroll")
    assert enroll["body"]["enrollments_info"] == [
        {
            "user_id": 1003,
            "course_run_key": demo_data.CLOSED_RUN,
            "transaction_id": str(record.transaction_uuid),
            "force_enrollment": True,
        }
    ]
    assert [level for level, _ in admin_messages(response)] == ["success"]


def test_with_the_lms_down_the_admin_shows_pending_and_it_commits_once_when_back(demo, admin_client, lms_backend):
    lms_backend.stop()

    response = confirmed(admin_client, add_url(), form_data(lms_user_id=1003))

    record = ForcedPolicyRedemption.objects.get()
    assert record.state == ForcedState.PENDING
    [(level, text)] = admin_messages(response)
    assert level == "warning" and text.startswith("Pending.")
    price = CourseRun.objects.get(key=demo_data.CLOSED_RUN).price_cents
    assert balance_cents(demo_data.SUBSIDY_UUID) == demo_data.DEPOSIT_CENTS - price  # reserved while pending
    pending_list = admin_client.get(changelist_url(), {"state": "pending"})
    assert change_url(record) in pending_list.content.decode()

    lms_backend.start()
    settlement.reconcile(whenever=True)
    settlement.reconcile(whenever=True)

    record.refresh_from_db()
    assert record.state == ForcedState.REDEEMED
    assert Transaction.objects.get(pk=record.transaction_uuid).state == TransactionState.COMMITTED
    assert len(lms_backend.calls_to("enroll")) == 1
    assert len(lms_backend.enrollments_of(1003)) == 1
    assert balance_cents(demo_data.SUBSIDY_UUID) == demo_data.DEPOSIT_CENTS - price
